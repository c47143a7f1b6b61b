"""Load test of the labelling loop over HTTP: simulated annotators doing next -> submit -> image.

Self-contained by default: creates a fresh PostgreSQL database (`ferlab_bench_load` on DATABASE_URL's
server, or postgres://postgres@127.0.0.1:5432), migrates it, seeds a k=3 project of 10,000 faces
(rows sharing a few stored crops) and the annotator accounts, starts gunicorn on a free loopback
port, signs every annotator in (a session row per annotator, as the login form would write; one
real form login is checked), runs, and tears everything down.

    bench/annotate_load.py                                   # closed loop at 1, 20 and 50 annotators
    bench/annotate_load.py --annotators 50 --seconds 30      # one closed-loop run
    bench/annotate_load.py --rate 1                          # open loop: each annotator answers once a
                                                             # second; finds the largest N with p99 < 50 ms
    bench/annotate_load.py --ladder                          # 50 annotators, closed loop, on 10,000, 100,000 and
                                                             # 1,000,000 faces: does the loop hold at size?
    bench/annotate_load.py --url http://host:8000 --project 3 --annotators 20
        # against a running server whose users bench-annotator-0.. (password --password) are members

Prints progress, then ONE JSON line with labels/s and p50/p95/p99 (ms) of next, submit and image.
The load generator runs in several processes of threads over keep-alive http.client connections,
on the same machine as the server (it takes its share of the CPU).
"""
import argparse
import http.client
import json
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._setup import recreate_database  # noqa: E402  (after the path is set)
from server.settings.probe import reachable as env_reachable  # noqa: E402
DB_NAME = "ferlab_bench_load"
USER_PREFIX = "bench-annotator-"
PASSWORD = "bench-pw-123"
LABELS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "not_a_face"]
P99_LIMIT_MS = 50.0


def log(message: str) -> None:
    print(message, flush=True)


# ----- the simulated annotators -----


class Client:
    """One annotator's keep-alive connection, with their session and CSRF cookies."""

    def __init__(self, host: str, port: int, session: str, csrf: str):
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.headers = {"Cookie": f"sessionid={session}; csrftoken={csrf}", "X-CSRFToken": csrf, "Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        payload = None if body is None else json.dumps(body)
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=payload, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                if attempt == 2:
                    return 599, b""
                time.sleep(0.05)
        return 599, b""


def warm_up(client: Client, project: int) -> None:
    """One unmeasured round (the page's first request asks for leases left open earlier), as mid-session."""
    status, body = client.call("POST", f"/api/projects/{project}/next/", {"count": 1, "resume": True})
    if status == 200:
        for lease in json.loads(body)["assignments"]:
            client.call("POST", f"/api/assignments/{lease['assignment']}/skip/", {})


def annotator_loop(client: Client, project: int, deadline: float, period: float | None, out: dict, rng: random.Random) -> None:
    """next -> submit -> image until the deadline; with a period, start one loop per period (open loop)."""
    next_tick = time.perf_counter() + (rng.random() * period if period else 0)
    while True:
        if period:
            delay = next_tick - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -period:
                out["late"] += 1
            next_tick += period
        if time.perf_counter() >= deadline:
            return
        t0 = time.perf_counter()
        status, body = client.call("POST", f"/api/projects/{project}/next/", {"count": 1, "resume": False})
        t1 = time.perf_counter()
        out["next"].append(t1 - t0)
        if status != 200:
            out["errors"] += 1
            continue
        leases = json.loads(body)["assignments"]
        if not leases:
            out["no_work"] += 1
            time.sleep(0.2)
            continue
        lease = leases[0]
        answer = {"assignment": lease["assignment"], "client_id": str(uuid.uuid4()), "label": rng.choice(LABELS),
                  "seconds": round(rng.uniform(0.5, 3), 2)}
        status, _ = client.call("POST", "/api/annotations/", answer)
        t2 = time.perf_counter()
        out["submit"].append(t2 - t1)
        if status == 201:
            out["labels"] += 1
        else:
            out["errors"] += 1
        status, _ = client.call("GET", lease["image"])
        out["image"].append(time.perf_counter() - t2)
        if status != 200:
            out["errors"] += 1


def generator_process(host, port, project, sessions, start_at, seconds, period, queue) -> None:
    outs = []
    threads = []
    for n, (session, csrf) in enumerate(sessions):
        out = {"next": [], "submit": [], "image": [], "labels": 0, "errors": 0, "no_work": 0, "late": 0}
        outs.append(out)
        client = Client(host, port, session, csrf)
        rng = random.Random(hash((session, n)))
        threads.append(threading.Thread(target=lambda c=client, o=out, r=rng: (
            warm_up(c, project),
            time.sleep(max(0.0, start_at - time.time())),
            annotator_loop(c, project, time.perf_counter() + seconds, period, o, r),
        ), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = {"next": [], "submit": [], "image": [], "labels": 0, "errors": 0, "no_work": 0, "late": 0}
    for out in outs:
        for key, value in out.items():
            merged[key] += value
    merged["cpu"] = time.process_time()
    queue.put(merged)


def percentiles(samples: list[float]) -> dict:
    if not samples:
        return {"p50": None, "p95": None, "p99": None, "n": 0}
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1), "n": len(ms)}


def peak_rss_mb(pids: list[int]) -> float:
    """The sum of these processes' peak resident memory (VmHWM, from /proc; 0 for those gone), in MB."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return round(total / 1024, 1)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes (from /proc; 0 for those gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def server_pids(server) -> list[int]:
    if server is None:
        return []
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    return [server.pid] + [int(pid) for pid in children.read_text().split()] if children.exists() else [server.pid]


def database_pids(db_url: str | None) -> list[int]:
    if not db_url:
        return []
    import psycopg

    with psycopg.connect(urlparse(db_url)._replace(path="/postgres").geturl(), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [urlparse(db_url).path.lstrip("/")]).fetchall()
    return [row[0] for row in rows]


def run_load(*, host, port, project, sessions, seconds, rate, processes, server=None, db_url=None) -> dict:
    """N = len(sessions) annotators spread over processes of threads; returns the figures."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    chunks = [sessions[i::processes] for i in range(processes)]
    start_at = time.time() + 2.0 + len(sessions) / 50
    period = 1.0 / rate if rate else None
    workers = [ctx.Process(target=generator_process, args=(host, port, project, chunk, start_at, seconds, period, queue))
               for chunk in chunks if chunk]
    web_pids = server_pids(server)
    web_before = cpu_seconds(web_pids)
    db_before = {pid: cpu_seconds([pid]) for pid in database_pids(db_url)}
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    web_cpu = cpu_seconds(web_pids) - web_before
    web_peak_mb = peak_rss_mb(web_pids)
    db_cpu = sum(cpu_seconds([pid]) - db_before.get(pid, 0.0) for pid in database_pids(db_url))
    for worker in workers:
        worker.join()
    merged = {"next": [], "submit": [], "image": [], "labels": 0, "errors": 0, "no_work": 0, "late": 0, "cpu": 0.0}
    for result in results:
        for key, value in result.items():
            merged[key] += value
    return {
        "annotators": len(sessions), "seconds": seconds, "rate": rate, "labels": merged["labels"],
        "labels_per_s": round(merged["labels"] / seconds, 1),
        "next": percentiles(merged["next"]), "submit": percentiles(merged["submit"]), "image": percentiles(merged["image"]),
        "errors": merged["errors"], "no_work": merged["no_work"], "late_ticks": merged["late"],
        # The web tier's peak memory (its gunicorn processes together), for the ladder's "does memory hold at size".
        "web_peak_memory_mb": web_peak_mb if server else None,
        # CPU time per label (ms) spent by the web tier, the database backends and the load generator:
        # figures that do not depend on what else the machine is running.
        "cpu_ms_per_label": {
            "web": round(web_cpu / labels * 1000, 2) if (labels := merged["labels"]) and server else None,
            "db": round(db_cpu / labels * 1000, 2) if labels and db_url else None,
            "load_generator": round(merged["cpu"] / labels * 1000, 2) if labels else None,
        },
    }


def report(run: dict) -> None:
    def f(p):
        return f"p50 {p['p50']} / p95 {p['p95']} / p99 {p['p99']} ms"
    log(f"  {run['annotators']:>4} annotators{' @ %g/s' % run['rate'] if run['rate'] else ''}: "
        f"{run['labels_per_s']} labels/s ({run['labels']} in {run['seconds']} s), errors {run['errors']}, late {run['late_ticks']}, "
        f"CPU ms/label {run['cpu_ms_per_label']}")
    for name in ("next", "submit", "image"):
        log(f"       {name:<7}{f(run[name])}")


# ----- the self-contained server -----


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parsed = urlparse(base)
    if not parsed.scheme.startswith("postgres"):
        base = "postgres://postgres@127.0.0.1:5432/postgres"
        parsed = urlparse(base)
    return parsed._replace(path=f"/{name}").geturl()


def admin_sql(url: str, sql: str) -> None:
    import psycopg

    parsed = urlparse(url)
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(sql)


def seed(*, items: int, annotators: int, media: Path) -> tuple[int, list[tuple[str, str]]]:
    """The project, its faces and annotators, and a signed-in session per annotator."""
    import django

    django.setup()
    import numpy as np
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from importlib import import_module

    from django.conf import settings
    from django.db import DatabaseError, connections
    from PIL import Image

    from annotate.models import Item, Membership, Role
    from annotate.services.projects import project_create

    project = project_create(name="Load test", slug=f"load-{uuid.uuid4().hex[:6]}", overlap_target=3, gold_rate=0.05)
    crops = media / "bench"
    crops.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for n in range(32):
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8), "L").save(crops / f"face-{n:02}.png")
        names.append(f"bench/face-{n:02}.png")
    gold_every = 100  # 1% gold items, served at the project's 5% gold rate
    for start in range(0, items, 50_000):  # in slices: a million model instances at once would take gigabytes
        Item.objects.bulk_create(
            [Item(project=project, crop=names[n % len(names)], content_hash=f"{n:064x}", width=48, height=48,
                  source=f"bench {n}", is_gold=n % gold_every == 0, gold_label="happiness" if n % gold_every == 0 else "")
             for n in range(start, min(items, start + 50_000))],
            batch_size=2000,
        )
    User = get_user_model()
    password = make_password(PASSWORD)
    users = User.objects.bulk_create([User(username=f"{USER_PREFIX}{n}", password=password) for n in range(annotators)])
    users = list(User.objects.filter(username__startswith=USER_PREFIX).order_by("pk"))
    Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users])
    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore  # whichever engine the server uses
    sessions = []
    for user in users:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]  # the one that loads users (axes comes first)
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.save(must_create=True)
        sessions.append((store.session_key, uuid.uuid4().hex))
    # The project at rest, as autovacuum leaves it after an import (this machine's server may run without it):
    # fresh statistics, which the queue query's plan depends on, and the new rows vacuumed. The checkpoint
    # writes out what seeding dirtied, so the measured loop does not pay for the seed's writes: a million
    # faces are about a gigabyte of WAL, which would otherwise force checkpoints in the middle of the run.
    with connections["default"].cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
        try:
            cursor.execute("CHECKPOINT")
        except DatabaseError as error:  # needs superuser or pg_checkpoint
            log(f"no checkpoint after seeding ({error}): the run may pay for the seed's writes")
    connections.close_all()
    return project.pk, sessions


def form_login(base: str, username: str, password: str) -> tuple[str, str]:
    """Sign in through the real login form; returns (session id, CSRF token)."""
    import requests

    with requests.Session() as browser:
        browser.get(f"{base}/accounts/login/", timeout=30).raise_for_status()
        csrf = browser.cookies["csrftoken"]
        response = browser.post(f"{base}/accounts/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
                                headers={"Referer": f"{base}/accounts/login/"}, timeout=30, allow_redirects=False)
        if response.status_code != 302 or "sessionid" not in browser.cookies:
            raise SystemExit(f"login as {username} failed: HTTP {response.status_code}")
        return browser.cookies["sessionid"], browser.cookies["csrftoken"]


def start_gunicorn(*, env: dict, port: int, workers: int, threads: int, log_path: Path) -> subprocess.Popen:
    # gthread keeps connections alive (sync workers close each one); threads overlap database waits.
    # The deployment's own settings (server/gunicorn.conf.py), on a loopback port, with the sizes asked for.
    command = [sys.executable, "-m", "gunicorn", "server.wsgi", "-c", "server/gunicorn.conf.py", "-b", f"127.0.0.1:{port}",
               "-w", str(workers), "-k", "gthread" if threads > 1 else "sync", "--threads", str(threads), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log_path.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotators", default=None, help="N, or a comma list run in turn (closed loop: 1,20,50)")
    parser.add_argument("--seconds", type=float, default=None, help="length of each run (closed 20, open 15)")
    parser.add_argument("--rate", type=float, default=None, help="open loop: answers per second per annotator")
    parser.add_argument("--url", help="a running server instead of a self-contained one")
    parser.add_argument("--project", type=int, help="with --url: the project id")
    parser.add_argument("--password", default=PASSWORD, help=f"with --url: the password of {USER_PREFIX}N")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=3, help="gunicorn threads per worker")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--settings", default="server.settings.base", help="DJANGO_SETTINGS_MODULE of the server")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/9",
                        help="Redis for the server's cache and cached sessions, used when reachable ('' for none)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--database", default=DB_NAME, help="name of the database created (and dropped) on the server")
    parser.add_argument("--ladder", action="store_true",
                        help="closed loop at --annotators (default 50) on each of --ladder-items faces, each a fresh run")
    parser.add_argument("--ladder-items", default="10000,100000,1000000", help="with --ladder: the project sizes, in turn")
    args = parser.parse_args()
    if args.ladder:
        size_ladder(annotators=int(args.annotators or 50), seconds=args.seconds or 20.0, database=args.database,
                    sizes=[int(n) for n in args.ladder_items.split(",")])
        return

    open_loop = args.rate is not None
    default_ladder = "10,25,50,100,150,200,250,300,400" if open_loop else "1,20,50"
    ladder = [int(n) for n in (args.annotators or default_ladder).split(",")]
    seconds = args.seconds or (15.0 if open_loop else 20.0)
    needed = max(ladder)

    server, tmp, env = None, None, None
    # Other work on the machine shares the CPU with server and load generator: say how busy it was.
    load_at_start = os.getloadavg()[0]
    log(f"load average before the run: {load_at_start:.2f} on {os.cpu_count()} CPUs")
    try:
        if args.url:
            if not args.project:
                raise SystemExit("--url needs --project")
            base = args.url.rstrip("/")
            project = args.project
            log(f"signing {needed} annotators in at {base}")
            sessions = [form_login(base, f"{USER_PREFIX}{n}", args.password) for n in range(needed)]
        else:
            tmp = Path(tempfile.mkdtemp(prefix="ferlab-bench-"))
            db_url = server_url(args.database)
            env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": args.settings,
                   "FERLAB_VAR_DIR": str(tmp / "var"), "FERLAB_MEDIA_ROOT": str(tmp / "media"), "DJANGO_DEBUG": "false",
                   "FERLAB_LOG_LEVEL": "WARNING"}
            env.pop("CELERY_BROKER_URL", None)
            env.pop("FERLAB_CACHE_URL", None)
            if args.cache_url and env_reachable(args.cache_url):
                env["FERLAB_CACHE_URL"] = args.cache_url  # sessions read from Redis, as in the compose deployment
            os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "FERLAB_VAR_DIR", "FERLAB_MEDIA_ROOT")})
            log(f"creating database {args.database}")
            recreate_database(db_url)
            subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            t0 = time.time()
            project, sessions = seed(items=args.items, annotators=needed, media=tmp / "media")
            log(f"seeded {args.items} faces (k=3) and {needed} annotators in {time.time() - t0:.1f} s")
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_gunicorn(env=env, port=port, workers=args.workers, threads=args.threads, log_path=tmp / "gunicorn.log")
            log(f"gunicorn: {args.workers} workers x {args.threads} threads on {base}")
            form_login(base, f"{USER_PREFIX}0", PASSWORD)  # the real form works too
        parsed = urlparse(base)
        host, port = parsed.hostname, parsed.port or 80

        runs = []
        best = None
        for n in ladder:
            processes = max(1, min(args.processes if n < 100 else args.processes + 1, n))
            log(f"{'open' if open_loop else 'closed'} loop, {n} annotators, {seconds:g} s ...")
            run = run_load(host=host, port=port, project=project, sessions=sessions[:n], seconds=seconds, rate=args.rate,
                           processes=processes, server=server, db_url=env["DATABASE_URL"] if env else None)
            report(run)
            runs.append(run)
            if open_loop:
                ok = (run["next"]["p99"] or 1e9) < P99_LIMIT_MS and (run["submit"]["p99"] or 1e9) < P99_LIMIT_MS and run["errors"] == 0
                run["p99_under_50ms"] = ok
                if not ok:
                    break
                best = n
        result = {"bench": "annotate_load", "mode": "open" if open_loop else "closed", "items": args.items, "k": 3,
                  "loadavg_at_start": load_at_start, "loadavg_at_end": os.getloadavg()[0],
                  "server": "external" if args.url else f"gunicorn gthread {args.workers}x{args.threads}, PostgreSQL"
                  + (", Redis sessions" if env and env.get("FERLAB_CACHE_URL") else ""),
                  "cpus": os.cpu_count(), "runs": runs}
        if open_loop:
            result["max_annotators_p99_under_50ms"] = best
        print(json.dumps(result), flush=True)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if env is not None and not args.keep:
            admin_sql(env["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def size_ladder(*, annotators: int, seconds: float, database: str, sizes: list[int]) -> None:
    """The same closed loop on ever larger projects, each in a fresh process and database; labels/s against the first."""
    rows = []
    for items in sizes:
        out = subprocess.run([sys.executable, __file__, "--items", str(items), "--annotators", str(annotators),
                              "--seconds", str(seconds), "--database", database], check=True, capture_output=True, text=True, cwd=ROOT)
        run = json.loads(out.stdout.strip().splitlines()[-1])
        loop = run["runs"][0]
        rows.append({"items": items, "labels_per_s": loop["labels_per_s"], "next_p99_ms": loop["next"]["p99"],
                     "submit_p99_ms": loop["submit"]["p99"], "image_p99_ms": loop["image"]["p99"],
                     "cpu_ms_per_label": loop["cpu_ms_per_label"], "web_peak_memory_mb": loop.get("web_peak_memory_mb"),
                     "loadavg_at_start": run["loadavg_at_start"]})
        r = rows[-1]
        print(f"{items:>9,} faces, {annotators} annotators: {r['labels_per_s']:.1f} labels/s "
              f"({r['labels_per_s'] / rows[0]['labels_per_s']:.0%} of the first), p99 next {r['next_p99_ms']} ms, "
              f"submit {r['submit_p99_ms']} ms, image {r['image_p99_ms']} ms; CPU ms/label {r['cpu_ms_per_label']}, "
              f"web tier peak {r['web_peak_memory_mb']} MB, load {r['loadavg_at_start']:.2f}", flush=True)
    print(json.dumps({"bench": "annotate_load_ladder", "annotators": annotators, "rows": rows}))


if __name__ == "__main__":
    main()
