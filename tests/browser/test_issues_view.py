"""The issues view in Chromium: label-source badges, the new filters with their counts, gold marked from the inspector,
and the inspector beside the list at laptop widths (1024, 1152, 1280 px)."""
import pytest

from annotate.models import AuditEvent, Item, QualityItemResult, Review
from tests.annotate.audit_seed import seed_audit
from tests.browser.conftest import SCREENSHOTS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue(make_project, make_items):
    """30 crowd-answered faces (a few with an imported reference, one with FER+ votes, one relabelled by the lead),
    3 faces only the model has seen and 2 with only an imported reference, all in one run."""
    project, lead, people = make_project(annotators=4)
    answered = make_items(project, 30)
    unanswered = make_items(project, 5)
    for item, label in zip(answered[:6], ["happiness", "fear", "neutral", "anger", "sadness", "surprise"]):
        Item.objects.filter(pk=item.pk).update(reference_label=label)
    Item.objects.filter(pk=answered[1].pk).update(reference_votes={"fear": 5, "surprise": 4, "neutral": 1})
    run = seed_audit(project, people, answered, noise={0: 0.5})
    for n, item in enumerate(unanswered):
        if n >= 3:
            Item.objects.filter(pk=item.pk).update(reference_label="neutral")
        QualityItemResult.objects.create(
            run=run, item=item, num_answers=0, votes={}, consensus_label="neutral" if n >= 3 else "",
            consensus_quality=0.4 if n >= 3 else None, model_label="happiness", model_confidence=0.5 + n / 20)
    worst = run.item_results.filter(num_answers__gt=0).order_by("consensus_quality", "item_id").first()
    Review.objects.create(item_id=worst.item_id, reviewer=lead, action="relabel", label="contempt")
    return project, lead, answered, unanswered, worst.item_id


def open_issues(page, live_server, login, project, lead, query=""):
    login(page, lead.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/issues/{query}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#filters[data-facets='1']")


def test_badges_filters_counts_and_gold_from_the_inspector(page, live_server, login, queue):
    project, lead, answered, unanswered, reviewed = queue
    open_issues(page, live_server, login, project, lead)
    rows = page.locator("#issues tbody tr")
    assert rows.count() == 30  # faces with no answers are not ranked among the crowd's disagreements
    assert "5 faces with no answers are not ranked here" in page.locator("#unanswered-note").inner_text()
    first = page.locator("#issues tbody tr").first
    assert first.get_attribute("data-source") == "review" and first.get_attribute("data-item") == str(reviewed)
    assert first.locator("td.final").inner_text().startswith("contempt")
    assert "lead review" in first.locator(".badge.source").inner_text()
    crowd_row = page.locator(f"#issues tr[data-item='{answered[2].pk}']")
    assert crowd_row.locator(".badge.source").inner_text().startswith("crowd · ")
    assert crowd_row.locator("td.reference").inner_text().startswith("neutral")
    assert page.locator(f"#issues tr[data-item='{answered[1].pk}'] td.reference .ref-votes svg").count() == 1
    # The count beside each choice is what picking it shows.
    assert page.locator("select[name=source] option[value=model]").inner_text() == "model only (3)"
    assert page.locator("select[name=source] option[value=reference]").inner_text() == "imported reference (2)"
    assert page.locator("select[name=answers] option[value='0']").inner_text() == "0 (5)"
    page.select_option("select[name=source]", "model")
    page.wait_for_function("document.querySelectorAll('#issues tbody tr').length === 3")
    assert {rows.nth(i).get_attribute("data-source") for i in range(3)} == {"model"}
    assert "least confident model first" in page.locator("#issue-count").inner_text()
    assert [int(rows.nth(i).get_attribute("data-item")) for i in range(3)] == [u.pk for u in unanswered[:3]]
    assert "model only" in rows.first.locator(".badge.source").inner_text()

    # Mark the selected model-only face gold with a chosen class, then take it back.
    inspector = page.locator("#inspector")
    # The inspector follows the selection to the first model-only face (it showed the reviewed one before).
    page.wait_for_function("(text) => document.querySelector('#inspector')?.innerText.includes(text)",
                           arg="Only the model's prediction")
    assert f"#{unanswered[0].pk}" in inspector.inner_text()
    assert "evaluation set" not in inspector.inner_text()  # this project scores models on a split, not on gold
    assert inspector.locator("select[name=gold_label]").input_value() == "happiness"  # its current label by default
    inspector.locator("select[name=gold_label]").select_option("surprise")
    inspector.locator("button[data-action=gold-set]").click()
    target = unanswered[0].pk
    page.wait_for_selector(f"#issues tr[data-item='{target}'][data-gold='1']")
    assert "gold surprise" in page.locator(f"#issues tr[data-item='{target}'] .badge.gold").inner_text()
    page.wait_for_selector("#inspector button[data-action=gold-remove]")
    item = Item.objects.get(pk=target)
    assert (item.is_gold, item.gold_label) == (True, "surprise")
    assert AuditEvent.objects.filter(project=project, action="item.gold_set", target=f"item:{target}", actor=lead).count() == 1
    page.wait_for_function("document.querySelector(\"select[name=gold] option[value=gold]\").textContent === 'gold (1)'")
    screenshot(page, "issues-view-gold")
    page.click("#inspector button[data-action=gold-remove]")
    page.wait_for_selector(f"#issues tr[data-item='{target}'][data-gold='0']")
    assert not Item.objects.get(pk=target).is_gold
    assert AuditEvent.objects.filter(project=project, action="item.gold_removed", target=f"item:{target}").count() == 1

    # "Show them too" brings the unanswered faces into the queue, each with its source.
    page.select_option("select[name=source]", "")
    page.wait_for_selector("#unanswered-note button")
    page.click("#unanswered-note button")
    page.wait_for_function("document.querySelectorAll('#issues tbody tr').length === 35")
    assert page.locator("#issues tr[data-source='reference']").count() == 2


@pytest.mark.parametrize("width", [1024, 1152, 1280])
def test_inspector_stays_beside_the_list_at_laptop_widths(browser, live_server, login, queue, width):
    project, lead, *_ = queue
    context = browser.new_context(viewport={"width": width, "height": 760})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        open_issues(page, live_server, login, project, lead, "?answers=any")
        page.locator("#inspector .gold-panel").wait_for()
        table = page.locator(".issues-layout .table-card").bounding_box()
        panel = page.locator("#inspector").bounding_box()
        assert panel["x"] >= table["x"] + table["width"], (width, table, panel)  # beside the list, not under it
        assert panel["x"] + panel["width"] <= width and panel["y"] < table["y"] + 40
        sizes = page.evaluate("""() => ({doc: document.documentElement.scrollWidth, view: window.innerWidth,
            card: document.querySelector('.issues-layout .table-card').clientWidth,
            table: document.querySelector('#issues').scrollWidth})""")
        assert sizes["doc"] <= sizes["view"], sizes  # no horizontal scrollbar on the page
        assert sizes["table"] <= sizes["card"], sizes  # nor inside the list
        screenshot(page, f"issues-view-{width}")
        # Deep in the list, the inspector is still on screen beside it, and scrolls on its own.
        picked = page.locator("#issues tbody tr").nth(20)
        picked.click()
        page.wait_for_selector(f"#inspector[data-item='{picked.get_attribute('data-item')}'] .gold-panel")
        page.evaluate("window.scrollTo(0, document.querySelector('#issues tbody tr:nth-child(18)').getBoundingClientRect().top + window.scrollY)")
        page.wait_for_function("window.scrollY > 600")
        page.wait_for_function("(() => { const r = document.getElementById('inspector').getBoundingClientRect();"
                               " return r.top >= 0 && r.top < 40; })()")
        box = page.locator("#inspector").bounding_box()
        assert box["y"] + box["height"] <= 760 + 1
        assert page.evaluate("getComputedStyle(document.getElementById('inspector')).overflowY") == "auto"
        page.screenshot(path=str(SCREENSHOTS / f"issues-view-{width}-scrolled.png"))  # the window, as the lead sees it
    finally:
        context.close()
