"""gunicorn settings for FERLab's web tier: docker-compose runs it and bench/annotate_load.py measures it.

Sizing, measured on two cores with bench/annotate_load.py (PostgreSQL and Redis on the same machine):
three gthread workers of three threads kept p99 of next / submit lowest in the open loop (at 100
annotators answering once a second, 2x4: 70 ms, 4x2: 80 ms, 6x2: 106 ms, 3x3: 41 ms); more processes
or threads add scheduling and GIL waits to the tail. FERLAB_WEB_WORKERS / FERLAB_WEB_THREADS size it
for bigger machines.
"""
import gc
import os
import sys

bind = os.environ.get("FERLAB_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("FERLAB_WEB_WORKERS", "3"))
threads = int(os.environ.get("FERLAB_WEB_THREADS", "3"))
keepalive = 30  # annotators' pages keep one connection open between answers
backlog = 2048
SWITCH_INTERVAL = 0.001  # measured at 100 annotators: p99 of next 29.9 ms against 34.8 ms at Python's 5 ms


def post_worker_init(worker):
    # A thread whose database reply has arrived waits for the GIL at most this long (default 5 ms),
    # which otherwise adds up over the three or four round trips of a request.
    sys.setswitchinterval(SWITCH_INTERVAL)
    # Everything loaded so far (Django, the URL conf, models) lives for the process: keep it out of
    # the collector's generations so full collections stay short.
    gc.freeze()
