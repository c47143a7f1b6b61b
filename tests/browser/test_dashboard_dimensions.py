"""#18 item 4 in Chromium: the agreement page's valence-arousal scatter (hover a face, see its answers), AU heatmap
and tables, the issue queue's dimension-check filter, the annotators page's dimension figures; none of it on a
project that asks for neither; no Content-Security-Policy violation anywhere."""
import pytest

from annotate.models import Annotation, DimensionCheck, Project, QualityItemResult
from tests.annotate.dimension_seed import seed_dimensions
from tests.annotate.test_quality_dimensions import NO_SMILE, analyse, crowd  # noqa: F401  (fixtures: a real run on crafted answers)
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AUS = [1, 2, 4, 5, 6, 12, 15, 17, 26]  # AU17 is in no EMFACS prototype: rare, its alpha unstable


def wait_ready(page):
    page.wait_for_selector("body[data-ready='1']")


def csp_watch(page) -> list[str]:
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))
    return messages


def test_lead_reads_valence_arousal_and_action_units(page, live_server, login, make_project, make_items):
    project, lead, people = make_project(annotators=4, valence_arousal=True)
    Project.objects.filter(pk=project.pk).update(action_units=AUS)
    items = make_items(project, 60)
    labels = ["happiness", "sadness", "anger", "surprise", "neutral"]
    truth = {item.pk: labels[0] if n < 26 else labels[1] if n < 40 else labels[2] if n < 48 else labels[3] if n < 56 else labels[4]
             for n, item in enumerate(items)}
    run = seed_dimensions(Project.objects.get(pk=project.pk), people, items, truth=truth, noise={k: 0.0 for k in range(4)},
                          va_offset={0: 0.4}, misses={1: 12}, spread_items={items[30].pk, items[31].pk},
                          no_smile={items[0].pk, items[1].pk}, sad_happy={items[2].pk}, scatter_limit=45)
    messages = csp_watch(page)
    login(page, lead.username)

    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    wait_ready(page)
    page.wait_for_selector("#dimensions[data-ready='1']")
    points = page.locator("#va-scatter circle.point")
    assert points.count() == 45
    assert "Sampled 45 of 60 faces" in page.inner_text("#va-sampled")
    assert "valence α" in page.inner_text("#agreement-run")
    legend = page.locator("#va-scatter svg").text_content()
    assert all(label in legend for label in labels) and "valence →" in legend and "arousal →" in legend
    # The last point drawn is on top: the pointer reaches it.
    point = points.nth(44)
    item = int(point.get_attribute("data-item"))
    point.hover()
    page.wait_for_selector(f"#va-hover[data-item='{item}'][data-ready='1']")
    given = Annotation.objects.filter(item_id=item, replaced_by__isnull=True).select_related("annotator")
    shown = page.locator("#va-hover .va-answers li")
    assert shown.count() == len(given) == 3
    hover_text = page.inner_text("#va-hover")
    for answer in given:
        assert answer.annotator.username in hover_text and f"v {answer.valence:+.2f}" in hover_text
    assert page.locator("#va-scatter .overlay rect.answer-mark").count() == 3
    heat = page.locator("#au-heatmap rect.cell")
    assert heat.count() == len(labels) * len(AUS)
    assert page.locator("#au-heatmap rect.cell.thin").count() == 4 * len(AUS)  # every class but happiness: under 20 faces
    assert "too few to read" in page.inner_text("#au-heatmap-note")
    assert page.locator("#au-agreement tbody tr").count() == len(AUS)
    assert "not stable" in page.inner_text("#au-agreement")
    assert page.locator("#va-agreement tbody tr.thin").count() >= 1
    screenshot(page, "dimensions-agreement")

    page.goto(f"{live_server.url}/projects/{project.pk}/issues/")
    wait_ready(page)
    page.wait_for_selector("#filters[data-facets='1']")
    flagged = {r.item_id for r in QualityItemResult.objects.filter(run=run) if r.checks & DimensionCheck.EXPRESSION_VS_AU}
    option = page.locator("select[name=check] option[value='expression_vs_au']")
    assert f"({len(flagged)})" in option.inner_text()
    page.select_option("select[name=check]", "expression_vs_au")
    page.wait_for_function(f"document.querySelectorAll('#issues tbody tr').length === {len(flagged)}")
    page.wait_for_url("**check=expression_vs_au**")
    rows = page.locator("#issues tbody tr")
    assert {int(rows.nth(i).get_attribute("data-item")) for i in range(rows.count())} == flagged
    first = page.locator(f"#issues tr[data-item='{items[0].pk}'] .dimension-lines")
    assert "expression_vs_au" in first.get_attribute("data-checks") and "AU12" in first.inner_text() and "v +" in first.inner_text()
    page.wait_for_selector(f"#inspector[data-item='{rows.nth(0).get_attribute('data-item')}']")  # the inspector follows
    screenshot(page, "dimensions-issues")

    page.goto(f"{live_server.url}/projects/{project.pk}/annotators/")
    wait_ready(page)
    page.wait_for_selector("#annotator-dimensions-card[data-ready='1']")
    biased = page.locator(f"#annotator-dimensions tr[data-user='{people[0].pk}'] td").nth(1)
    assert "finding" in biased.get_attribute("class") and biased.inner_text().startswith("+0.")
    misses = page.locator(f"#annotator-dimensions tr[data-user='{people[1].pk}'] td[class~=finding] [data-au='12']")
    assert "lip corner puller" in misses.inner_text()
    screenshot(page, "dimensions-annotators")
    violations = [text for text in messages if "Content Security Policy" in text or "Refused to" in text]
    assert violations == [], violations
    assert not [text for text in messages if "Error" in text], messages


def test_a_project_without_va_or_aus_shows_none_of_it(page, live_server, login, make_project, make_items):
    project, lead, people = make_project(annotators=3)
    seed_dimensions(project, people, make_items(project, 8))
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    wait_ready(page)
    assert page.locator("#dimensions, #va-scatter, #au-heatmap").count() == 0
    assert "valence" not in page.inner_text("#agreement-run")
    page.goto(f"{live_server.url}/projects/{project.pk}/issues/")
    wait_ready(page)
    assert page.locator("select[name=check], .dimension-lines").count() == 0
    page.goto(f"{live_server.url}/projects/{project.pk}/annotators/")
    wait_ready(page)
    assert page.locator("#annotator-dimensions-card").count() == 0


def test_a_real_quality_run_renders_on_the_pages(page, live_server, login, crowd, analyse):
    """The quality run's own VA / AU figures (annotate.services.quality_dimensions) on crafted answers, read by the pages."""
    project, people, items = crowd
    analyse(project)
    lead = project.memberships.get(role="lead").user
    messages = csp_watch(page)
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    wait_ready(page)
    assert page.locator("#va-scatter circle.point").count() == len(items)
    page.locator("#va-scatter circle.point").last.hover()
    page.wait_for_selector("#va-hover[data-ready='1']")
    assert page.locator("#va-hover .va-answers li").count() == len(people)
    # Ten faces a class: every class row is greyed as too few to read, and classes nobody chose get no row.
    assert page.locator("#au-heatmap rect.cell").count() == 3 * 6 and page.locator("#au-heatmap rect.cell.thin").count() == 3 * 6
    assert page.locator("#va-agreement tbody tr").count() == 1 + 3
    screenshot(page, "dimensions-agreement-real-run")
    page.goto(f"{live_server.url}/projects/{project.pk}/issues/?check=expression_vs_au")
    wait_ready(page)
    assert [page.locator("#issues tbody tr").first.get_attribute("data-item")] == [str(items[NO_SMILE].pk)]
    assert "AU12 (lip corner puller)" in page.inner_text("#issues tbody tr .dimension-lines")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotators/")
    wait_ready(page)
    page.wait_for_selector("#annotator-dimensions-card[data-ready='1']")
    offset = page.locator(f"#annotator-dimensions tr[data-user='{people[3].pk}'] td").nth(1)
    assert "finding" in offset.get_attribute("class") and offset.inner_text().startswith("+0.")
    blind = page.locator(f"#annotator-dimensions tr[data-user='{people[2].pk}']")
    assert "AU12" in blind.inner_text() and "finding" in blind.locator("td").last.get_attribute("class")
    screenshot(page, "dimensions-annotators-real-run")
    assert [t for t in messages if "Content Security Policy" in t or "Refused to" in t] == []
