"""Distillation (TrainConfig.teacher): the teacher's probabilities join both heads' targets, and the run records which teacher."""
import hashlib
import json

import numpy as np
import pytest

from ml.checkpoint import load_checkpoint
from ml.train import teacher_targets
from tests.ml.train_support import train_tiny as _train
from tests.ml.train_support import write_npz


@pytest.fixture
def npz(tmp_path, faces):
    return write_npz(tmp_path / "tiny.npz", faces, ["Training"] * 64)


def _record_teacher_batches(monkeypatch) -> list:
    """Make every online teacher record the batches it scores; -> the list they are appended to."""
    from ml import train as train_module

    real, seen = train_module.online_teacher, []

    def recording(path, *, config):
        fn, info = real(path, config=config)

        def wrapped(x):
            seen.append(x.clone())
            return fn(x)
        return wrapped, info

    monkeypatch.setattr(train_module, "online_teacher", recording)
    return seen


def test_a_student_learns_from_the_teacher_and_names_it(npz, tmp_path, capsys):
    teacher = tmp_path / "teacher.pt"
    _train(npz, teacher, "--seed", "1")
    images = np.load(npz)["images"]
    p8, p7, info = teacher_targets(str(teacher), images, threads=1)
    assert p8.shape == (64, 8) and p7.shape == (64, 7)
    assert np.allclose(p8.sum(1), 1, atol=1e-5) and np.allclose(p7.sum(1), 1, atol=1e-5)
    assert info["teacher"]["sha256"] == hashlib.sha256(teacher.read_bytes()).hexdigest()
    assert info["teacher"]["members"] == 1

    runs = {}
    for w in ("0.0", "1.0"):
        out = tmp_path / f"student{w}.pt"
        _train(npz, out, "--teacher", str(teacher), "--teacher-weight", w)
        runs[w] = load_checkpoint(out)
    capsys.readouterr()
    for w, ckpt in runs.items():
        assert ckpt["config"]["teacher"] == str(teacher) and ckpt["config"]["teacher_weight"] == float(w)
        assert ckpt["metrics"]["teacher"]["sha256"] == info["teacher"]["sha256"]
    # The targets differ, so the runs do: with weight 1 the loss is against the teacher alone.
    assert runs["0.0"]["metrics"]["history"][-1]["loss"] != runs["1.0"]["metrics"]["history"][-1]["loss"]
    plain = tmp_path / "plain.pt"
    _train(npz, plain)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["out"] == str(plain) and "teacher" not in load_checkpoint(plain)["metrics"]
    # Weight 0 is the plain recipe exactly: the teacher only ever enters through the mix.
    assert load_checkpoint(plain)["metrics"]["history"][-1]["loss"] == runs["0.0"]["metrics"]["history"][-1]["loss"]


def test_a_teacher_weight_outside_zero_to_one_is_refused():
    from ml.config import TrainConfig

    with pytest.raises(ValueError, match="teacher_weight"):
        TrainConfig(teacher_weight=1.5)


def test_an_online_teacher_scores_the_augmented_batches(npz, tmp_path, monkeypatch):
    teacher = tmp_path / "teacher.pt"
    _train(npz, teacher, "--seed", "1")
    batches = _record_teacher_batches(monkeypatch)
    out = tmp_path / "online.pt"
    _train(npz, out, "--teacher", str(teacher), "--teacher-online", "true")
    ckpt = load_checkpoint(out)
    assert ckpt["config"]["teacher_online"] is True and ckpt["metrics"]["teacher"]["online"] is True
    seen = [tuple(x.shape) for x in batches]
    assert seen == [(16, 1, 48, 48)] * 8  # every optimiser step of both epochs: 64 faces / 16 per batch x 2


def test_a_mirrored_online_teacher_gives_the_mean_of_each_face_and_its_mirror(npz, tmp_path):
    import torch

    from ml.config import TrainConfig
    from ml.train import online_teacher

    teacher = tmp_path / "teacher.pt"
    _train(npz, teacher, "--seed", "1")
    config = TrainConfig(teacher=str(teacher), teacher_online=True, precision="fp32", threads=1)
    plain, _ = online_teacher(str(teacher), config=config)
    mirrored, info = online_teacher(str(teacher), config=TrainConfig(**{**config.to_dict(), "teacher_mirror": True}))
    assert info["teacher"]["mirrored"] is True
    x = torch.from_numpy(np.load(npz)["images"][:16]).float().div(255)[:, None].contiguous(
        memory_format=torch.channels_last)
    a8, a7 = plain(x)
    b8, b7 = plain(x.flip(-1).contiguous(memory_format=torch.channels_last))
    m8, m7 = mirrored(x)
    assert m8.shape == (16, 8) and m7.shape == (16, 7)
    assert torch.allclose(m8, (a8 + b8) / 2, atol=1e-5) and torch.allclose(m7, (a7 + b7) / 2, atol=1e-5)
    assert not torch.allclose(m8, a8, atol=1e-4)  # the mirrored faces moved the targets
    assert torch.allclose(m8.sum(1), torch.ones(16), atol=1e-5)


def test_mixup_blends_the_faces_the_teacher_and_the_student_see_and_is_reproducible(npz, tmp_path, monkeypatch):
    teacher = tmp_path / "teacher.pt"
    _train(npz, teacher, "--seed", "1")
    seen = _record_teacher_batches(monkeypatch)
    plain, runs = tmp_path / "plain.pt", []
    _train(npz, plain, "--teacher", str(teacher), "--teacher-online", "true")
    plain_batches = list(seen)
    for k in range(2):
        seen.clear()
        out = tmp_path / f"mixup{k}.pt"
        _train(npz, out, "--teacher", str(teacher), "--teacher-online", "true", "--mixup", "0.5")
        runs.append((load_checkpoint(out), list(seen)))
    (first, first_batches), (second, second_batches) = runs
    assert first["config"]["mixup"] == 0.5
    # The teacher sees blends of the same augmented faces: every pixel lies between two of that batch's faces.
    for mixed, faces in zip(first_batches, plain_batches):
        assert not np.allclose(mixed.numpy(), faces.numpy())
        lo, hi = faces.amin(0, keepdim=True), faces.amax(0, keepdim=True)
        assert bool(((mixed >= lo - 1e-6) & (mixed <= hi + 1e-6)).all())
    # Seeded per step: the same run twice gives the same blends and the same weights.
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first_batches, second_batches))
    assert all(np.array_equal(first["weights"][k].numpy(), second["weights"][k].numpy()) for k in first["weights"])
    assert first["metrics"]["history"][-1]["loss"] != load_checkpoint(plain)["metrics"]["history"][-1]["loss"]


def test_a_negative_mixup_is_refused():
    from ml.config import TrainConfig

    with pytest.raises(ValueError, match="mixup"):
        TrainConfig(mixup=-0.1)
