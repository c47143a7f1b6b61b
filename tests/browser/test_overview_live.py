"""The overview and annotators pages in Chromium: cards follow finished jobs without a reload, a double click starts
one job, the charts' SVG geometry is right for one hour and for negative agreement, and thin evidence reads as such."""
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Annotation, Item, Job, JobKind, JobStatus, ModelVersion, QualityRun
from annotate.models import Role
from annotate.services.jobs import job_run_here
from annotate.services.projects import membership_set
from tests.annotate.audit_seed import seed_audit
from tests.annotate.quality_support import answer, confident, model_version_make, predictions_make
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LABELS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]


def wait_ready(page):
    page.wait_for_selector("body[data-ready='1']")


def _crowd(make_project, make_items, *, faces=24):
    project, lead, people = make_project(annotators=3)
    items = make_items(project, faces)
    seed_audit(project, people, items, runs=0)
    predictions_make(model_version_make(), items, [confident(i % 8) for i in range(faces)])
    return project, lead, people, items


def _overview(page, live_server, login, project, lead):
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    wait_ready(page)
    page.wait_for_function("() => Number(document.body.dataset.polled || 0) >= 1")
    page.evaluate("() => { window.notReloaded = true; }")


def test_a_job_finishing_elsewhere_updates_the_cards_without_a_reload(page, live_server, login, make_project, make_items):
    project, lead, people, items = _crowd(make_project, make_items)
    _overview(page, live_server, login, project, lead)
    answers = int(page.inner_text("#stat-answers"))
    assert page.inner_text("#stat-run") == "no quality run yet" and page.inner_text("#stat-alpha") == "–"

    extra = make_items(project, 1)[0]  # three more answers on a new face, then a quality run started by someone else
    predictions_make(ModelVersion.objects.get(is_active=True), [extra], [confident(2)])
    for person in people:
        answer(extra, person, "surprise")
    Item.objects.filter(pk=extra.pk).update(answer_count=3)
    job = job_run_here(kind=JobKind.ANALYSE, project=project)
    assert job.status == JobStatus.SUCCEEDED, job.error
    run = QualityRun.objects.get(project=project)

    page.wait_for_function("() => document.getElementById('stat-run').textContent === 'run #1'", timeout=15_000)
    assert float(page.inner_text("#stat-alpha")) == pytest.approx(run.summary["krippendorff_alpha"], abs=1e-3)
    assert int(page.inner_text("#stat-answers")) == answers + 3
    assert page.inner_text("#last-analysis") == f"Latest quality-run job #{job.pk}: made run #1."
    assert page.locator(f"#job-list li[data-job='{job.pk}'] .job-output").inner_text() == "run #1"
    page.wait_for_selector("#chart-balance svg")

    again = job_run_here(kind=JobKind.ANALYSE, project=project)  # nothing changed: it hands back run #1
    assert again.result["reused"] is True
    page.wait_for_function(f"() => document.getElementById('last-analysis').textContent.includes('job #{again.pk}')", timeout=15_000)
    assert page.inner_text("#last-analysis") == f"Latest quality-run job #{again.pk}: reused run #1's result (nothing changed since)."
    assert page.inner_text("#stat-run") == "run #1"
    assert page.evaluate("() => window.notReloaded === true")  # the same document all along
    screenshot(page, "overview-live")


def test_double_clicking_start_starts_one_job(page, live_server, login, make_project, make_items):
    project, lead, people, items = _crowd(make_project, make_items)
    _overview(page, live_server, login, project, lead)
    page.dblclick("button[data-start='quality-runs']")
    page.wait_for_selector("#job-list li.job.succeeded", timeout=60_000)
    page.wait_for_function("() => document.getElementById('stat-run').textContent === 'run #1'")
    assert Job.objects.filter(project=project, kind=JobKind.ANALYSE).count() == 1
    assert page.locator("#job-list li.job").count() == 1


def test_start_while_the_same_job_is_queued_follows_that_job_instead(page, live_server, login, make_project, make_items):
    project, lead, people, items = _crowd(make_project, make_items, faces=8)
    _overview(page, live_server, login, project, lead)
    queued = Job.objects.create(kind=JobKind.ANALYSE, project=project, params={}, created_by=lead, queue="ml")  # another tab's
    page.click("button[data-start='quality-runs']")
    page.wait_for_selector(".toast")
    assert f"already queued (job #{queued.pk})" in page.inner_text("#toasts")
    page.wait_for_selector(f"#job-list li.job.queued[data-job='{queued.pk}']")
    assert Job.objects.filter(project=project).count() == 1
    assert page.locator("button[data-start='quality-runs']").is_enabled()


def _svg_geometry(page, selector):
    return page.evaluate("""(sel) => {
      const svg = document.querySelector(sel + ' svg');
      const num = (n, a) => Number(n.getAttribute(a));
      return {
        html: svg.outerHTML, data: { ...svg.dataset },
        rects: [...svg.querySelectorAll('rect.bar')].map((r) => ({ x: num(r, 'x'), y: num(r, 'y'), w: num(r, 'width'), h: num(r, 'height'),
          value: num(r, 'data-value'), at: num(r, 'data-x') })),
        circles: [...svg.querySelectorAll('circle')].map((c) => ({ cy: num(c, 'cy'), cx: num(c, 'cx'), y: num(c, 'data-y'), series: c.dataset.series })),
        grid: [...svg.querySelectorAll('line.grid')].map((l) => ({ y: num(l, 'y1'), zero: l.classList.contains('zero-axis') })),
        ticks: [...svg.querySelectorAll('text.tick')].map((t) => t.textContent),
        xticks: [...svg.querySelectorAll('text.x-tick')].map((t) => t.textContent),
      };
    }""", selector)


def test_answers_per_hour_one_hour_alone_and_empty_hours_as_zero_bars(page, live_server, login, make_project, make_items):
    project, lead, people = make_project(annotators=1)
    items = make_items(project, 3)
    Annotation.objects.create(project=project, item=items[0], annotator=people[0], label="fear", client_id=uuid.uuid4())
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_selector("#chart-per-hour svg")
    one = _svg_geometry(page, "#chart-per-hour")
    assert "NaN" not in one["html"] and "Infinity" not in one["html"]
    assert float(one["data"]["x1"]) - float(one["data"]["x0"]) == 3600e3  # a one-hour domain
    assert len(one["rects"]) == 1 and one["rects"][0]["value"] == 1
    bar = one["rects"][0]
    assert bar["w"] > 500 and bar["h"] > 100  # the one hour fills the plot and reaches the top tick
    assert len(one["xticks"]) == 1 and one["xticks"][0].endswith("h")

    # Another project (finished hours are cached per project, and answers are never backdated): an answer now
    # and one three hours ago, nothing in between.
    other, other_lead, others = make_project(annotators=1)
    faces = make_items(other, 2)
    this_hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    for face, at in ((faces[0], None), (faces[1], this_hour - timedelta(hours=3, minutes=-10))):
        made = Annotation.objects.create(project=other, item=face, annotator=others[0], label="fear", client_id=uuid.uuid4())
        if at:
            Annotation.objects.filter(pk=made.pk).update(created_at=at)
    membership_set(project=other, user=lead, role=Role.LEAD)
    page.goto(f"{live_server.url}/projects/{other.pk}/")
    page.wait_for_selector("#chart-per-hour svg")
    four = _svg_geometry(page, "#chart-per-hour")
    assert [r["value"] for r in four["rects"]] == [1, 0, 0, 1]  # the two quiet hours are zero bars, not a bridge
    assert float(four["data"]["x1"]) - float(four["data"]["x0"]) == 4 * 3600e3
    widths = {round(r["w"], 3) for r in four["rects"]}
    assert len(widths) == 1  # every hour as wide as the others
    xs = [r["x"] for r in four["rects"]]
    assert xs == sorted(xs) and all(b - a == pytest.approx(xs[1] - xs[0]) for a, b in zip(xs, xs[1:]))
    zero = four["rects"][1]
    assert zero["h"] <= 1 and zero["y"] + zero["h"] == pytest.approx(four["rects"][0]["y"] + four["rects"][0]["h"])


def test_agreement_across_runs_draws_negative_values_below_the_zero_axis(page, live_server, login, make_project, make_items):
    project, lead, _ = make_project(annotators=1)
    values = [(-0.25, -0.1), (0.4, 0.35), (0.8, 0.75)]
    for alpha, kappa in values:
        QualityRun.objects.create(project=project, summary={"krippendorff_alpha": alpha, "fleiss_kappa": kappa}, finished_at=timezone.now())
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_selector("#chart-trend svg")
    g = _svg_geometry(page, "#chart-trend")
    assert "NaN" not in g["html"]
    zero = [line for line in g["grid"] if line["zero"]]
    assert len(zero) == 1
    zero_y = zero[0]["y"]
    tops = [line["y"] for line in g["grid"]]
    alpha = sorted((c for c in g["circles"] if c["series"] == "Krippendorff's α"), key=lambda c: c["cx"])
    assert [c["y"] for c in alpha] == [-0.25, 0.4, 0.8]
    assert alpha[0]["cy"] > zero_y > alpha[1]["cy"] > alpha[2]["cy"]  # below the axis, then above it
    assert min(tops) <= min(c["cy"] for c in g["circles"]) and max(c["cy"] for c in g["circles"]) <= max(tops)  # nothing clipped
    assert "-0.50" in g["ticks"] and "0.00" in g["ticks"] and "1.00" in g["ticks"]
    assert g["xticks"] == ["#1", "#2", "#3"]
    # The value -0.25 sits halfway between the 0 and -0.5 grid lines.
    minus_half = next(line["y"] for line in g["grid"] if line["y"] > zero_y)
    assert alpha[0]["cy"] == pytest.approx((zero_y + minus_half) / 2, abs=0.6)
    screenshot(page, "overview-negative-agreement")


def test_one_run_is_one_labelled_point_in_the_middle(page, live_server, login, make_project):
    project, lead, _ = make_project(annotators=1)
    QualityRun.objects.create(project=project, summary={"krippendorff_alpha": 0.5, "fleiss_kappa": 0.45}, finished_at=timezone.now())
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_selector("#chart-trend svg")
    g = _svg_geometry(page, "#chart-trend")
    assert "NaN" not in g["html"] and g["xticks"] == ["#1"]
    assert {round(c["cx"]) for c in g["circles"]} == {round((46 + 640 - 12) / 2)}


def test_annotators_show_evidence_gold_and_not_enough_evidence_for_a_lone_key_presser(page, live_server, login, make_project, make_items):
    project, lead, people = make_project(annotators=5)
    items = make_items(project, 46)
    truth = [i % 4 for i in range(46)]
    predictions_make(model_version_make(), items, [confident(t if i < 30 else (i + 3) % 8) for i, t in enumerate(truth)])
    for item, t in zip(items[:3], truth):
        Item.objects.filter(pk=item.pk).update(is_gold=True, gold_label=LABELS[t])
    for i, item in enumerate(items[:24]):
        for person in people[:3]:
            answer(item, person, LABELS[truth[i]] if (i, person) != (1, people[2]) else "fear")
    for item in items[20:30]:  # four faces shared with the crowd: thin evidence
        answer(item, people[3], LABELS[truth[items.index(item)]])
    for i, item in enumerate(items[30:]):  # alone, keys in turn, the model disagreeing every time
        answer(item, people[4], LABELS[i % 8])
    job = job_run_here(kind=JobKind.ANALYSE, project=project)
    assert job.status == JobStatus.SUCCEEDED, job.error
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotators/")
    wait_ready(page)
    lone = page.locator(f"#annotators tr[data-user='{people[4].pk}']")
    assert lone.locator("td").nth(1).inner_text().split("\n") == ["not enough evidence", "0 of 16 faces co-annotated"]
    assert "1.000" not in lone.inner_text() and "100%" not in lone.inner_text()
    assert lone.locator("td.model-agreement").inner_text() == "0% of 16"
    assert lone.locator("td.gold").inner_text() == "no gold answers"
    thin = page.locator(f"#annotators tr[data-user='{people[3].pk}']")
    assert "thin evidence" in thin.locator("td.quality-thin").inner_text()
    assert thin.locator("td.evidence").inner_text() == "4 of 10"
    honest = page.locator(f"#annotators tr[data-user='{people[2].pk}']")
    assert honest.locator("td.gold").inner_text() == "67% (2/3)"
    assert honest.locator("td.evidence").inner_text() == "24 of 24"
    table = page.evaluate("() => { const t = document.getElementById('annotators'); return [t.scrollWidth, t.parentElement.clientWidth]; }")
    assert table[0] <= table[1]  # every column, Actions included, fits at 1280 px
    assert "run #1" in page.inner_text("#annotators-run")
    lone.click()
    page.wait_for_function("() => document.getElementById('confusion-facts').textContent.includes('not enough evidence')")
    screenshot(page, "annotators-evidence")


def test_many_runs_are_labelled_by_whole_run_numbers(page, live_server, login, make_project):
    project, lead, _ = make_project(annotators=1)
    for i in range(12):
        QualityRun.objects.create(project=project, summary={"krippendorff_alpha": 0.05 * i - 0.1, "fleiss_kappa": 0.04 * i}, finished_at=timezone.now())
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_selector("#chart-trend svg")
    g = _svg_geometry(page, "#chart-trend")
    assert "NaN" not in g["html"] and len(g["circles"]) == 24
    assert g["xticks"][0] == "#1" and g["xticks"][-1] == "#12" and 4 <= len(g["xticks"]) <= 6
    assert all(t[1:].isdigit() for t in g["xticks"])
