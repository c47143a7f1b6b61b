"""Ensemble checkpoints: combining runs, averaging members, and how many members auto runs."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from ml.ensemble import ENSEMBLE_FORMAT, combine, main
from ml.labels import soft_labels
from ml.model import native_amx, native_bf16
from ml.predict import Predictor
from ml.train import train


def _run(faces, config, *, seed, out):
    images, votes, fer = faces
    targets, keep = soft_labels(votes)
    cfg = dataclasses.replace(config, seed=seed, out=str(out))
    return train(images, targets, keep=keep, fer2013=fer, config=cfg, progress=False, log=lambda s: None)


@pytest.fixture
def two_runs(faces, tiny_config, tmp_path):
    return [_run(faces, tiny_config, seed=s, out=tmp_path / f"seed{s}.pt") for s in (0, 1)], tmp_path


def test_ensemble_averages_its_members(faces, two_runs, capsys):
    (a, b), tmp = two_runs
    main(["--out", str(tmp / "ens.pt"), str(tmp / "seed0.pt"), str(tmp / "seed1.pt")])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["members"] == 2
    assert line["train_seconds"] == pytest.approx(a["metrics"]["train_seconds"] + b["metrics"]["train_seconds"], abs=0.2)
    saved = torch.load(tmp / "ens.pt", weights_only=False)
    assert saved["format"] == ENSEMBLE_FORMAT and len(saved["members"]) == 2
    assert all(m.get("training_state") is None for m in saved["members"])

    images = faces[0][:10]
    one = [Predictor(tmp / f"seed{s}.pt", tta=False, precision="fp32").predict_both(images) for s in (0, 1)]
    both = Predictor(tmp / "ens.pt", tta=False, precision="fp32", members=2).predict_both(images)
    np.testing.assert_allclose(both[0], (one[0][0] + one[1][0]) / 2, atol=1e-5)
    np.testing.assert_allclose(both[1], (one[0][1] + one[1][1]) / 2, atol=1e-5)
    first = Predictor(tmp / "ens.pt", tta=False, precision="fp32", members=1).predict_proba(images)
    np.testing.assert_allclose(first, one[0][0], atol=1e-6)
    assert not np.allclose(one[0][0], one[1][0])  # different seeds, so averaging really mixes two models


def test_auto_runs_every_member_only_where_bf16_is_native(two_runs):
    _, tmp = two_runs
    combine_path = tmp / "ens.pt"
    main(["--out", str(combine_path), str(tmp / "seed0.pt"), str(tmp / "seed1.pt")])
    fp32 = Predictor(combine_path, precision="fp32")
    assert (fp32.members, fp32.n_stored, fp32.tta) == (1, 2, False)
    bf16 = Predictor(combine_path, precision="bf16")
    assert bf16.members == (2 if native_bf16() else 1)
    assert bf16.tta is native_amx()  # without AMX a second member replaces the mirrored pass
    assert Predictor(combine_path, precision="fp32", members=2, tta=True).tta is True
    with pytest.raises(ValueError, match="holds 2 member"):
        Predictor(combine_path, precision="fp32", members=3)


@pytest.mark.parametrize("cpu, precision, members, tta", [
    ("avx2", "fp32", 1, False),  # float32: one pass per face, the first member alone
    ("avx512_bf16", "bf16", 2, False),  # two passes: two members, and a member beats a mirror
    ("amx", "bf16", 3, True),  # six passes: every member, mirrored
])
def test_auto_spends_the_pass_budget_each_cpu_has(two_runs, monkeypatch, cpu, precision, members, tta):
    _, tmp = two_runs
    runs = [str(tmp / f"seed{s}.pt") for s in (0, 1, 0)]
    main(["--out", str(tmp / "ens3.pt"), *runs])
    monkeypatch.setattr("ml.model.native_bf16", lambda: cpu != "avx2")
    monkeypatch.setattr("ml.model.native_amx", lambda: cpu == "amx")
    auto = Predictor(tmp / "ens3.pt")
    assert (auto.precision, auto.members, auto.tta) == (precision, members, tta)
    assert auto.cpu_tier == {"avx2": "fp32", "avx512_bf16": "bf16", "amx": "amx"}[cpu]
    assert Predictor(tmp / "ens3.pt", members=2).tta is (cpu == "amx")  # explicit members: mirrors if they fit
    single = Predictor(tmp / "seed0.pt")  # one network: one float32 pass on every CPU, the same figures everywhere
    assert (single.precision, single.members, single.tta, single.cpu_tier) == ("fp32", 1, False, "fp32")
    assert Predictor(tmp / "seed0.pt", precision="bf16").precision == "bf16"  # still there when asked for


def test_combine_refuses_what_it_cannot_average(faces, tiny_config, two_runs, tmp_path):
    (a, b), _ = two_runs
    with pytest.raises(ValueError, match="at least two"):
        combine([a])
    with pytest.raises(ValueError, match="unfinished"):
        combine([a, dict(b, training_state={"epochs": 9})])
    with pytest.raises(ValueError, match="different data"):
        combine([a, dict(b, data_sha256="0" * 64)])
    with pytest.raises(SystemExit, match="unfinished"):
        torch.save(dict(b, training_state={"epochs": 9}), tmp_path / "half.pt")
        main(["--out", str(tmp_path / "x.pt"), str(tmp_path / "seed0.pt"), str(tmp_path / "half.pt")])
    assert not (tmp_path / "x.pt").exists()


def test_warm_start_from_an_ensemble_takes_its_first_member(faces, tiny_config, two_runs):
    (a, _), tmp = two_runs
    main(["--out", str(tmp / "ens.pt"), str(tmp / "seed0.pt"), str(tmp / "seed1.pt")])
    warm = _run(faces, dataclasses.replace(tiny_config, init=str(tmp / "ens.pt"), epochs=1, lr=1e-9),
                seed=5, out=tmp / "warm.pt")
    key = "features.0.weight"
    torch.testing.assert_close(a["weights"][key], warm["weights"][key], atol=1e-6, rtol=0)
