"""Chromium labels faces while the test's Redis (broker, cache and session copies) is SIGKILLed and brought back."""
import json
import time
import urllib.error
import urllib.request

import pytest
from django.db import transaction

from annotate.models import Annotation, JobKind, JobStatus
from annotate.services.jobs import job_enqueue
from tests.browser.conftest import screenshot
from tests.browser.test_labelling import face_id, faces, wait_saved
from tests.faults.conftest import CACHE_DB, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.worker]

# Collects what the toast said (it clears itself after 4 s, so a poll could miss it); run through
# page.evaluate, which the page's CSP does not govern.
WATCH_TOAST = """() => {
  window.faultToasts = window.faultToasts || [];
  const toast = document.getElementById('toast');
  new MutationObserver(() => { if (toast.textContent) window.faultToasts.push(toast.textContent); })
    .observe(toast, { childList: true, characterData: true, subtree: true });
}"""


def health(base_url: str) -> dict:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # 503 still carries the report
        return json.load(error)


class Traffic:
    """Every API answer the page received: the answers it acknowledged, any server error at all, and the
    slowest lease and answer round trips in each phase (before, during and after the outage)."""

    def __init__(self, page):
        self.acknowledged: list[str] = []  # client ids the server said it saved
        self.server_errors: list[str] = []
        self.phase = "before"
        self.slowest: dict[str, dict[str, float]] = {}
        page.on("response", self._response)
        page.on("requestfinished", self._finished)

    @staticmethod
    def _kind(request) -> str | None:
        if request.method != "POST":
            return None
        if request.url.endswith("/api/annotations/"):
            return "answer"
        return "lease" if request.url.endswith("/next/") else None

    def _response(self, response):
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")
        if self._kind(response.request) == "answer" and response.ok:
            self.acknowledged.append(response.request.post_data_json["client_id"])

    def _finished(self, request):
        kind, timing = self._kind(request), request.timing
        if kind and timing["responseEnd"] >= 0:
            phase = self.slowest.setdefault(self.phase, {"lease": 0.0, "answer": 0.0})
            phase[kind] = max(phase[kind], (timing["responseEnd"] - timing["requestStart"]) / 1000)


def label(page, count: int, keys: str = "12345678") -> None:
    """Answer `count` faces by keyboard, each time waiting for the next face to be on screen."""
    for n in range(count):
        before = face_id(page)
        page.keyboard.press(keys[n % len(keys)])
        page.wait_for_function(f"document.getElementById('face').dataset.item !== '{before}'", timeout=15_000)


def open_labelling(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#label-app[data-state=labelling]")
    page.evaluate(WATCH_TOAST)


def test_labelling_goes_on_through_a_redis_outage_and_loses_no_answer(fault_stack, page, login, fault_live_server,
                                                                       make_project, make_items):
    live_server = fault_live_server
    worker = fault_stack.start_worker()
    project, lead, (alice,) = make_project(annotators=1, gold_rate=0)
    faces(project, 40, make_items)
    traffic = Traffic(page)
    console_errors = []
    page.on("console", lambda message: message.type == "error" and not message.location.get("url", "").endswith(
        "/favicon.ico") and console_errors.append(f"{message.text} ({message.location.get('url')})"))
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    labelling_url = f"{live_server.url}/projects/{project.pk}/label/"

    login(page, alice.username)
    open_labelling(page, labelling_url)
    assert fault_stack.redis.dbsize(CACHE_DB) > 0  # the signed-in session is cached in this Redis
    label(page, 6)
    wait_saved(page)
    assert health(live_server.url) == {"status": "ok", "database": "ok", "broker": "ok", "cache": "ok"}

    fault_stack.redis.kill()
    traffic.phase = "outage"
    assert health(live_server.url) == {"status": "degraded", "database": "ok", "broker": "down", "cache": "down"}
    label(page, 8)  # new faces keep coming: leases and answers need only the database
    wait_saved(page)  # and the answers are saved during the outage, not just queued in the page
    open_labelling(page, labelling_url)  # a full page load: the session is read from the database
    label(page, 7)
    wait_saved(page)
    outage_answers = Annotation.objects.filter(annotator=alice).count()
    assert outage_answers == 21
    assert health(live_server.url)["cache"] == "down"

    fault_stack.redis.start()  # same port, empty
    traffic.phase = "after"
    wait_until(lambda: health(live_server.url)["status"] == "ok", timeout=10, what="/healthz to say ok again")
    label(page, 5)
    wait_saved(page)
    assert fault_stack.redis.dbsize(CACHE_DB) > 0  # the session is cached again
    screenshot(page, "faults-labelling-after-redis-outage")

    saved = {str(c) for c in Annotation.objects.filter(annotator=alice).values_list("client_id", flat=True)}
    assert len(traffic.acknowledged) == len(set(traffic.acknowledged)) == 26  # every key press, acknowledged once
    assert set(traffic.acknowledged) == saved and len(saved) == 26  # 0 lost: each acknowledged answer is stored
    assert Annotation.objects.filter(annotator=alice).values("item").distinct().count() == 26  # 26 different faces
    assert traffic.server_errors == []
    toasts = page.evaluate("window.faultToasts")
    assert not [t for t in toasts if "Cannot reach" in t or "Not saved" in t], toasts
    assert console_errors == []
    assert page.locator("#session-count").inner_text() == "12"  # this page load's answers (7 + 5)

    # The worker lost its broker too; once Redis is back it takes jobs again.
    with transaction.atomic():
        job = job_enqueue(kind=JobKind.PING, project=project, created_by=lead)
    wait_until(lambda: (job.refresh_from_db(), job.status == JobStatus.SUCCEEDED)[1], timeout=60,
               what="a job to run on the worker after the outage", log=worker.log_path.read_text)
    assert max(traffic.slowest["outage"].values()) < 10, traffic.slowest  # no hang waiting for the dead Redis
    print(f"\nslowest round trips (s): {traffic.slowest}")
