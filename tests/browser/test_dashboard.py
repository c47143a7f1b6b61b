"""The lead's audit dashboard in Chromium: keyboard review of ten issues, lead-only pages, screenshots."""
import io
import os
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from annotate.models import Annotation, Assignment, Item, Job, JobKind, JobStatus, Review
from tests.annotate.audit_seed import seed_audit
from tests.annotate.quality_support import confident, model_version_make, predictions_make
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FERPLUS = Path("/work/shared/datasets/fer2013_ferplus_trainval.npz")
DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["", "issues/", "annotators/", "agreement/", "jobs/", "versions/"]


def wait_ready(page):
    page.wait_for_selector("body[data-ready='1']")


def test_lead_settles_ten_issues_with_the_keyboard(page, live_server, login, make_project, make_items):
    project, lead, people = make_project(annotators=4)
    items = make_items(project, 14)
    run = seed_audit(project, people, items, noise={0: 0.5})
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/issues/")
    wait_ready(page)
    rows = page.locator("#issues tbody tr")
    assert rows.count() == 14
    order = [int(rows.nth(i).get_attribute("data-item")) for i in range(10)]
    consensus = dict(run.item_results.values_list("item_id", "consensus_label"))
    labels = project.labels

    def press(key, item, state):
        page.keyboard.press(key)
        page.wait_for_selector(f"#issues tr[data-item='{item}'][data-state='{state}']")

    press("a", order[0], "accepted")
    press("7", order[1], "relabelled")                       # 7 = fear
    press("x", order[2], "excluded")
    page.keyboard.press("k")                                  # back up to the excluded face ...
    assert page.locator("#issues tr.selected").get_attribute("data-item") == str(order[2])
    page.keyboard.press("ArrowDown")                          # ... and on again
    press("m", order[3], "more_requested")
    press("a", order[4], "accepted")
    press("3", order[5], "relabelled")                       # 3 = surprise
    press("x", order[6], "excluded")
    press("u", order[6], "reopened")                          # undo: a later review restores "no decision"
    press("2", order[6], "relabelled")                       # 2 = happiness
    press("1", order[7], "relabelled")                       # 1 = neutral
    press("a", order[8], "accepted")
    press("x", order[9], "excluded")
    assert "excluded" in rows.nth(9).inner_text()

    expected = {
        order[0]: ("accept", consensus[order[0]]), order[1]: ("relabel", labels[6]), order[2]: ("exclude", ""),
        order[3]: ("request_more", ""), order[4]: ("accept", consensus[order[4]]), order[5]: ("relabel", labels[2]),
        order[6]: ("relabel", labels[1]), order[7]: ("relabel", labels[0]), order[8]: ("accept", consensus[order[8]]),
        order[9]: ("exclude", ""),
    }
    for item_id, (action, label) in expected.items():
        latest = Review.objects.filter(item_id=item_id).order_by("-created_at", "-id").first()
        assert (latest.action, latest.label, latest.reviewer_id) == (action, label, lead.pk), item_id
        assert Item.objects.get(pk=item_id).excluded == (action == "exclude")
    assert [r.action for r in Review.objects.filter(item_id=order[6]).order_by("id")] == ["exclude", "include", "relabel"]
    assert Review.objects.count() == 12 and Review.objects.exclude(item_id__in=order).count() == 0
    more = Item.objects.get(pk=order[3])
    assert more.extra_answers == 1 and more.priority >= 10
    page.reload()
    wait_ready(page)
    assert page.locator(f"#issues tr[data-item='{order[1]}'] td.final").inner_text().startswith("fear")


def test_lead_starts_a_quality_run_and_watches_it_finish(page, live_server, login, make_project, make_items):
    """The overview's button goes through the quality engine's API; the progress bar follows the job."""
    from annotate.models import QualityRun

    project, lead, people = make_project(annotators=4)
    items = make_items(project, 30)
    seed_audit(project, people, items, runs=0, noise={0: 0.5})
    # The active model's predictions exist already (pre-labelling is the quality engineer's to test).
    predictions_make(model_version_make(), items, [confident(i % 8) for i in range(len(items))])
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("button[data-start='quality-runs']")
    page.wait_for_selector("#job-list li.job.succeeded", timeout=60_000)
    assert page.locator("#job-list li.job.succeeded .progress").get_attribute("aria-valuenow") == "100"
    run = QualityRun.objects.get(project=project)
    assert run.item_results.count() == 30
    page.reload()  # the headline figures now come from the engine's own summary
    assert float(page.locator("#stat-alpha").inner_text()) == pytest.approx(run.summary["krippendorff_alpha"], abs=1e-3)
    page.wait_for_selector("#chart-balance svg")
    page.goto(f"{live_server.url}/projects/{project.pk}/issues/")
    wait_ready(page)
    assert page.locator("#issues tbody tr").count() == 30
    for path in ("annotators/", "agreement/"):
        page.goto(f"{live_server.url}/projects/{project.pk}/{path}")
        wait_ready(page)
    assert page.locator("#heat-annotators svg").count() == 1 and page.locator("#pairs tbody tr").count() >= 1


def test_lead_pauses_excludes_and_messages_an_annotator(page, browser, live_server, login, make_project, make_items):
    from annotate.models import Membership

    project, lead, people = make_project(annotators=3)
    items = make_items(project, 8)
    seed_audit(project, people, items, noise={1: 0.6})
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotators/")
    wait_ready(page)
    row = page.locator(f"#annotators tr[data-user='{people[1].pk}']")
    row.locator("button[data-action='pause']").click()
    row.locator(".badge", has_text="paused").wait_for()
    row.locator("button[data-action='exclude']").click()
    row.locator(".badge", has_text="excluded").wait_for()
    row.locator("button[data-action='message']").click()
    page.fill("#message-dialog textarea", "Fear and surprise: look at the mouth.")
    page.click("#message-dialog button[value='save']")
    row.locator(".badge", has_text="message").wait_for()
    m = Membership.objects.get(project=project, user=people[1])
    assert (m.paused, m.excluded_from_consensus, m.message) == (True, True, "Fear and surprise: look at the mouth.")
    row.locator("button[data-action='exclude']").click()  # reversible
    row.locator("button[data-action='exclude']", has_text="Exclude").wait_for()
    m.refresh_from_db()
    assert not m.excluded_from_consensus
    row.click()
    page.wait_for_selector("#confusion svg")
    assert people[1].username in page.locator("#confusion-title").inner_text()
    # The annotator sees the message on their labelling page.
    other = browser.new_context().new_page()
    login(other, people[1].username)
    other.goto(f"{live_server.url}/projects/{project.pk}/label/")
    assert "look at the mouth" in other.locator("#lead-message").inner_text()
    other.context.close()


def test_the_annotators_table_finds_a_name(page, live_server, login, make_project, make_items):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, 8)
    seed_audit(project, people, items)
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotators/")
    wait_ready(page)
    assert page.locator("#annotators tbody tr").count() == 3
    assert page.locator("#annotators-page-info").inner_text() == "1–3 of 3"
    assert page.locator("#annotators-next").is_disabled() and page.locator("#annotators-prev").is_disabled()
    page.fill("#annotators-search input[name='q']", people[1].username)
    page.wait_for_function("document.querySelectorAll('#annotators tbody tr').length === 1")
    assert page.locator(f"#annotators tr[data-user='{people[1].pk}']").count() == 1
    page.fill("#annotators-search input[name='q']", "nobody-by-this-name")
    page.locator("#annotators tbody", has_text="No annotator's name contains").wait_for()


def test_annotators_get_403_on_every_lead_page_and_endpoint(page, live_server, login, make_project, make_items):
    project, lead, people = make_project(annotators=2)
    items = make_items(project, 3)
    seed_audit(project, people, items)
    login(page, people[0].username)
    for path in PAGES:
        response = page.goto(f"{live_server.url}/projects/{project.pk}/{path}")
        assert response.status == 403, path
        assert "Not allowed" in page.locator("h1").inner_text()
    api = f"{live_server.url}/api/projects/{project.pk}/"
    for path in ["overview/", "answers-per-hour/", "issues/", "annotators/", "agreement/", "jobs/", "versions/",
                 f"annotators/{people[0].pk}/confusion/", f"items/{items[0].pk}/reviews/", f"items/{items[0].pk}/answers/"]:
        assert page.request.get(api + path).status == 403, path
    token = page.context.cookies()
    csrf = next(c["value"] for c in token if c["name"] == "csrftoken")
    headers = {"X-CSRFToken": csrf, "Referer": live_server.url + "/"}
    assert page.request.post(api + "reviews/", data={"item": items[0].pk, "action": "exclude"}, headers=headers).status == 403
    assert page.request.patch(api + f"members/{people[1].pk}/", data={"paused": True}, headers=headers).status == 403
    assert Review.objects.count() == 0


def _real_faces(project, n: int, rng, offset: int = 0) -> tuple[list[Item], dict, dict]:
    """n FER2013 faces with their FER+ crowd votes (or random pixels where the dataset is absent)."""
    names = list(project.labels)
    if FERPLUS.exists():
        with np.load(FERPLUS) as data:  # an NpzFile decompresses on every key access: read each array once
            images, votes_all = data["images"], data["ferplus_votes"]
            usage = data["usage_names"][data["usage_code"]]
    else:  # without the archive: noise faces with crowd-like vote spreads, so the pages are still exercised
        size = 2000
        images = rng.integers(0, 256, size=(size, 48, 48), dtype=np.uint8)
        votes_all = rng.multinomial(10, [0.3, 0.25, 0.12, 0.11, 0.09, 0.03, 0.05, 0.03, 0.015, 0.005], size=size)
        usage = np.array(["Training", "PublicTest", "PrivateTest"])[rng.integers(0, 3, size=size)]
    # Mostly contested faces (what an audit is for), the rest the clearest ones.
    contested = np.where(votes_all.max(axis=1) <= 6)[0]
    picked = rng.choice(contested, min(int(n * 0.7), len(contested)), replace=False)
    rest = np.setdiff1d(np.arange(len(votes_all)), picked)
    clearest = rest[np.argsort(-votes_all[rest].max(axis=1), kind="stable")[: n * 3]]
    picks = np.concatenate([picked, rng.choice(clearest, n - len(picked), replace=False)])
    items, votes, truth = [], {}, {}
    for i, index in enumerate(picks):
        buffer = io.BytesIO()
        Image.fromarray(images[index], "L").save(buffer, format="PNG")
        item = Item(project=project, content_hash=f"{index + offset:064x}", width=48, height=48, source=f"fer2013.csv:{index}",
                    split=str(usage[index]), is_gold=i % 25 == 0, gold_label=names[int(votes_all[index].argmax())] if i % 25 == 0 else "")
        item.crop.save(f"fer-{index + offset}.png", ContentFile(buffer.getvalue()), save=False)
        items.append(item)
    items = Item.objects.bulk_create(items)
    for item, index in zip(items, picks):
        votes[item.pk] = votes_all[index]
        truth[item.pk] = names[int(votes_all[index].argmax())]
    return items, votes, truth


def test_dashboard_screenshots(page, live_server, login, make_project, make_user):
    """Realistic data (FER2013 faces, FER+ vote distributions, one careless annotator) on every page.

    FERLAB_UPDATE_DOCS=1 also refreshes the README pictures docs/dashboard-*.png.
    """
    from annotate.models import Membership, Role
    from annotate.services.projects import membership_set, project_create

    lead = make_user("maria.lead")
    project = project_create(name="FER+ relabel 2026", created_by=lead, overlap_target=5)
    people = []
    for name in ["amara.okafor", "ben.keller", "chen.wei", "diego.ruiz", "elif.demir", "farah.haddad", "goran.novak", "hana.sato"]:
        people.append(make_user(name))
        membership_set(project=project, user=people[-1], role=Role.ANNOTATOR)
    rng = np.random.default_rng(7)
    items, votes, truth = _real_faces(project, 240, rng)
    names = list(project.labels)

    def labels_for(item, rnd, n):
        pool = [names[j] for j, count in enumerate(votes[item.pk]) for _ in range(int(count))]
        return [rnd.choice(pool) for _ in range(n)]

    seed_audit(project, people, items, answers_per_item=5, noise={5: 0.45, 2: 0.12}, runs=4, truth=truth, labels_for=labels_for, hours=72,
               bias={3: ("sadness", "neutral")})
    # Collection goes on: newer faces with 0-4 answers so far, a few of them leased right now.
    fresh, _, _ = _real_faces(project, 90, np.random.default_rng(8), offset=10**6)
    answers, leases, now = [], [], timezone.now()
    counts = np.random.default_rng(9).choice(5, size=len(fresh), p=[0.12, 0.16, 0.22, 0.28, 0.22])
    for n, item in enumerate(fresh):
        item.answer_count = int(counts[n])
        for m, person in enumerate(people[: item.answer_count]):
            answers.append(Annotation(project=project, item=item, annotator=person, label="neutral", client_id=uuid.uuid4(), seconds=3.0,
                                      created_at=now - timedelta(minutes=(n * 7 + m * 13) % 300)))
        if n % 5 == 4:
            leases.append(Assignment(project=project, item=item, annotator=people[7], expires_at=now + timedelta(minutes=8)))
    stamps = [a.created_at for a in answers]
    Annotation.objects.bulk_create(answers)
    for a, stamp in zip(answers, stamps):
        a.created_at = stamp
    Annotation.objects.bulk_update(answers, ["created_at"])  # auto_now_add overwrote the spread on insert
    Assignment.objects.bulk_create(leases)
    Item.objects.bulk_update(fresh, ["answer_count"])
    Membership.objects.filter(project=project, user=people[5]).update(paused=True, message="Please re-read the guide on fear vs surprise.")
    Job.objects.create(project=project, kind=JobKind.PRELABEL, status=JobStatus.SUCCEEDED, progress_done=240, progress_total=240, stage="done")
    Job.objects.create(project=project, kind=JobKind.ANALYSE, status=JobStatus.SUCCEEDED, progress_done=240, progress_total=240, stage="done")
    login(page, lead.username)
    page.set_viewport_size({"width": 1360, "height": 900})
    for path, name in zip(PAGES, ["overview", "issues", "annotators", "agreement"]):
        page.goto(f"{live_server.url}/projects/{project.pk}/{path}")
        if name == "overview":
            page.wait_for_selector("#chart-trend svg")
            page.wait_for_selector("#chart-per-hour svg")
        else:
            wait_ready(page)
        if name == "issues":
            page.wait_for_function("[...document.querySelectorAll('img.face')].every(i => i.complete && i.naturalWidth > 0)")
            page.keyboard.press("a")
            page.wait_for_selector("#issues tr[data-state='accepted']")
            page.keyboard.press("7")
            page.wait_for_selector("#issues tr[data-state='relabelled']")
        shot = screenshot(page, f"dashboard-{name}")
        if name == "annotators":  # the annotator who calls sad faces neutral is named with that confusion
            assert "sadness → neutral" in page.locator(f"#annotators tr[data-user='{people[3].pk}'] td.bias").inner_text()
        assert shot.stat().st_size > 10_000
        if os.environ.get("FERLAB_UPDATE_DOCS") and FERPLUS.exists():  # README pictures: only on request, real faces only
            if name == "issues":  # the first twenty rows tell the story; the full queue is a long page
                page.screenshot(path=str(DOCS / f"dashboard-{name}.png"), clip={"x": 0, "y": 0, "width": 1360, "height": 1400}, full_page=True)
            else:
                shutil.copy(shot, DOCS / f"dashboard-{name}.png")
