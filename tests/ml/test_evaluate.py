"""ml.evaluate on a tiny synthetic npz in the shared format, via ml.train's npz entry point."""
import json

import numpy as np
import pytest

from ml.config import CLASSES
from ml.evaluate import expected_calibration_error, main, metrics
from ml.train import main as train_main


@pytest.fixture
def npz(tmp_path, faces):
    images, votes, fer = faces
    usage = np.array(["Training"] * 40 + ["PublicTest"] * 12 + ["PrivateTest"] * 12)
    path = tmp_path / "tiny.npz"
    np.savez(path, images=images, usage=usage, usage_code=np.zeros(len(usage), np.int8),
             fer2013_label=fer.astype(np.int8), ferplus_votes=votes)
    return path


@pytest.fixture
def model(npz, tmp_path):
    out = tmp_path / "m.pt"
    train_main(["--npz", str(npz), "--epochs", "2", "--batch-size", "16", "--widths", "4,8", "--depths", "1,1",
                "--threads", "1", "--out", str(out), "--no-progress"])
    return out


@pytest.mark.parametrize("split", [None, "PublicTest", "PrivateTest"])
def test_evaluate_prints_one_json_line(npz, model, capsys, split):
    capsys.readouterr()
    main(["--npz", str(npz), "--model", str(model), "--threads", "1"] + (["--split", split] if split else []))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert {"n", "accuracy_ferplus_majority", "accuracy_fer2013", "macro_f1", "per_class_recall", "ece",
            "faces_per_s"} <= set(out)
    assert out["n"] == (24 if split is None else 12)
    assert set(out["per_class_recall"]) == set(CLASSES)
    assert 0 <= out["accuracy_ferplus_majority"] <= 1 and out["faces_per_s"] > 0


def test_plot_is_written(npz, model, tmp_path, capsys):
    png = tmp_path / "cm.png"
    main(["--npz", str(npz), "--model", str(model), "--split", "PublicTest", "--plot", str(png), "--threads", "1"])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_resume_of_a_finished_run_is_refused(npz, model):
    with pytest.raises(SystemExit):
        train_main(["--npz", str(npz), "--epochs", "2", "--batch-size", "16", "--widths", "4,8", "--depths", "1,1",
                    "--threads", "1", "--out", str(model), "--no-progress", "--resume"])


def test_metrics_by_hand():
    votes = np.zeros((4, 10), np.uint8)
    votes[[0, 1, 2, 3], [0, 1, 1, 9]] = 10  # the last face is not a face: left out
    probs = np.eye(8, dtype=np.float32)[[0, 1, 0, 0]]
    out = metrics(probs, probs[:, [4, 5, 6, 1, 3, 2, 0]], votes=votes, fer2013=np.array([6, 3, 3, 0]))
    assert out["n"] == 4 and out["n_ferplus_majority"] == 3
    assert out["accuracy_ferplus_majority"] == pytest.approx(2 / 3, abs=1e-4)
    assert out["per_class_recall"]["happiness"] == 0.5 and out["per_class_recall"]["fear"] is None
    assert out["accuracy_fer2013"] == 0.5
    assert expected_calibration_error(probs[:3], np.array([0, 1, 1])) == pytest.approx(1 / 3)


def test_auroc_is_the_mann_whitney_statistic_with_ties_counting_half():
    from sklearn.metrics import roc_auc_score

    from ml.evaluate import auroc

    rng = np.random.default_rng(0)
    positive = rng.random(400) < 0.3
    score = np.round(rng.random(400) + positive * 0.4, 1)  # rounded: many ties
    assert auroc(positive, score) == pytest.approx(roc_auc_score(positive, score), abs=1e-12)
    assert auroc([True, False], [1.0, 0.0]) == 1.0 and auroc([True, False], [0.5, 0.5]) == 0.5
    assert np.isnan(auroc([True, True], [0.1, 0.2]))


def test_ranking_difference_tells_a_better_ranking_from_noise():
    from ml.evaluate import ranking_difference

    rng = np.random.default_rng(1)
    positive = rng.random(3000) < 0.3
    weak = positive * 0.5 + rng.normal(size=3000)
    strong = positive * 1.5 + rng.normal(size=3000)
    better = ranking_difference(positive, weak, strong, n_boot=300)
    assert better["n"] == 3000 and better["auroc"]["b"] > better["auroc"]["a"]
    lo, hi = better["auroc"]["ci95"]
    assert 0 < lo <= better["auroc"]["difference"] <= hi  # clearly better: the interval leaves 0 out
    assert better["precision_at_500"]["ci95"][0] > 0
    # Two equally good rankings (the same signal, each with its own noise): the interval holds 0.
    signal = positive * 1.5 + rng.normal(size=3000)
    same = ranking_difference(positive, signal + rng.normal(scale=0.3, size=3000),
                              signal + rng.normal(scale=0.3, size=3000), n_boot=300)
    lo, hi = same["auroc"]["ci95"]
    assert lo < 0 < hi and hi - lo < 0.02
    with pytest.raises(ValueError):
        ranking_difference(positive, weak, strong[:10])


def test_label_difference_sees_a_paired_gain_that_two_separate_errors_would_call_noise():
    from ml.evaluate import label_difference

    rng = np.random.default_rng(2)
    y = rng.integers(0, 8, 3000)
    a = np.where(rng.random(3000) < 0.85, y, (y + 1) % 8)
    b = a.copy()
    fixed = np.flatnonzero(a != y)[:30]  # b gets 30 more faces right (1 point), and nothing else changes
    b[fixed] = y[fixed]
    out = label_difference(y, a, b, n_boot=500)
    assert out["accuracy"]["difference"] == pytest.approx(0.01, abs=1e-4)
    assert out["accuracy"]["ci95"][0] > 0  # one standard error of each accuracy is 0.65 point, yet this is clear
    assert out["macro_f1"]["difference"] > 0


def test_evaluate_compares_with_saved_predictions(npz, model, tmp_path, capsys):
    saved = tmp_path / "a.npz"
    main(["--npz", str(npz), "--model", str(model), "--threads", "1", "--save-predictions", str(saved)])
    capsys.readouterr()
    main(["--npz", str(npz), "--model", str(model), "--threads", "1", "--compare", str(saved)])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    compare = out["compare"]
    assert compare["baseline_model"] == model.name and compare["baseline_inference"]["members"] == 1
    same = compare["ferplus_majority"]["accuracy"]
    assert same["a"] == same["b"] == out["accuracy_ferplus_majority"] and same["ci95"] == [0.0, 0.0]
    assert compare["fer2013"]["accuracy"]["difference"] == 0
    with pytest.raises(SystemExit, match="rows of"):  # another split's rows are not the same faces
        main(["--npz", str(npz), "--model", str(model), "--threads", "1", "--split", "PublicTest",
              "--compare", str(saved)])
