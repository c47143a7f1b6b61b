"""The labelling page with valence-arousal and action units (#18), in Chromium, by keyboard only: one submit per
face carries the class, the pad's point and every AU on screen; undo corrects the whole answer."""
import pytest

from annotate.models import Annotation
from ml.action_units import AU_NAMES, PRESETS
from tests.browser.conftest import screenshot
from tests.browser.test_labelling import face_id, faces, wait_saved

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DISFA = list(PRESETS["disfa"])


def press(page, key: str, times: int = 1):
    for _ in range(times):
        page.keyboard.press(key)


def test_five_faces_by_keyboard_with_valence_arousal_and_three_action_units(page, login, live_server, make_project,
                                                                             make_items):
    project, _, (alice,) = make_project(annotators=1, gold_rate=0, valence_arousal=True, action_units=DISFA,
                                        au_intensity=True)
    faces(project, 7, make_items)
    login(page, alice.username)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#label-app[data-state=labelling]")
    chips = page.locator(".au-chip")
    assert chips.count() == len(DISFA)
    chip12 = page.locator('.au-chip[data-au="12"]')
    assert "AU12" in chip12.inner_text() and AU_NAMES[12] in chip12.inner_text()
    assert "pulls the lip corners up and back" in chip12.inner_text()  # the movement, from AU_CATALOGUE
    keys = {n: page.locator(f'.au-chip[data-au="{n}"]').get_attribute("data-key") for n in DISFA}
    assert all(keys.values()) and len(set(keys.values())) == len(DISFA)
    assert not set(keys.values()) & set("1234567890zsvho?fq")  # no clash with classes, undo, skip, help, flags

    seen = []
    for n in range(5):
        before = face_id(page)
        seen.append(int(before))
        press(page, "ArrowRight", n + 1)  # valence 0.1 (n + 1)
        press(page, "ArrowUp", 2)
        press(page, "Shift+ArrowDown")  # arousal 0.2 - 0.25
        press(page, keys[6])  # AU6 at A
        press(page, keys[12], n + 1)  # AU12 at A..E
        press(page, keys[25], 3)
        press(page, f"Shift+{keys[25]}")  # AU25 C, then back to B
        assert page.locator('.au-chip[data-au="12"] .au-value').inner_text() == "ABCDE"[n]
        assert page.locator("#va-readout").inner_text() == f"valence {0.1 * (n + 1):.2f} · arousal -0.05"
        if n == 4:
            screenshot(page, "labelling-action-units")
        press(page, "12345"[n])
        page.wait_for_function(f"document.getElementById('face').dataset.item !== '{before}'")
    # Undo the fifth: the face comes back with nothing marked, and the new answer replaces the whole old one.
    press(page, "z")
    page.wait_for_function(f"document.getElementById('face').dataset.item === '{seen[4]}'")
    assert page.locator('.au-chip[aria-pressed="true"]').count() == 0
    press(page, keys[26])
    press(page, "ArrowLeft")
    press(page, "5")
    page.wait_for_function(f"document.getElementById('face').dataset.item !== '{seen[4]}'")
    wait_saved(page)

    answers = {a.item_id: a for a in Annotation.objects.filter(project=project, annotator=alice, replaces__isnull=True)}
    assert sorted(answers) == sorted(seen)
    for n, item in enumerate(seen):
        answer = answers[item]
        assert answer.label == project.labels[n]
        assert (answer.valence, answer.arousal) == (pytest.approx(0.1 * (n + 1)), pytest.approx(-0.05))
        expected = {str(au): 0 for au in DISFA} | {"6": 1, "12": n + 1, "25": 2}
        assert answer.action_units == expected
    fix = Annotation.objects.get(project=project, annotator=alice, replaces__isnull=False)
    assert fix.replaces_id == answers[seen[4]].pk and fix.label == project.labels[4]
    assert fix.action_units == {str(au): 0 for au in DISFA} | {"26": 1}
    assert (fix.valence, fix.arousal) == (pytest.approx(-0.1), 0.0)
    assert answers[seen[4]].action_units["12"] == 5  # the old answer is kept as given

    press(page, "?")
    legend = page.locator("#help").inner_text()
    assert f"AU12 {AU_NAMES[12]}" in legend and "arousal (up, down)" in legend
