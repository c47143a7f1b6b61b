"""ml.checkpoint: the shipped file still loads, saves are atomic, and train and ensemble share it instead of each other."""
import ast
from pathlib import Path

import numpy as np
import torch

from ml.checkpoint import ENSEMBLE_FORMAT, MEMBER_KEYS, MODEL_FORMAT, load_checkpoint, members_of, save_checkpoint
from ml.config import CLASSES, DEFAULT_WEIGHTS, TrainConfig
from ml.predict import Predictor

ML = Path(__file__).resolve().parents[2] / "ml"


def test_the_shipped_ensemble_loads_with_its_three_members():
    ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    assert ckpt["format"] == ENSEMBLE_FORMAT and tuple(ckpt["classes"]) == CLASSES
    members = members_of(ckpt)
    assert len(members) == 3 == ckpt["metrics"]["members"]
    for seed, member in enumerate(members):
        assert member["format"] == MODEL_FORMAT and set(member) <= set(MEMBER_KEYS)
        assert TrainConfig.from_dict(member["config"]) == TrainConfig(seed=seed, out=member["config"]["out"])
    probs = Predictor(DEFAULT_WEIGHTS, precision="fp32", members=3, tta=False).predict_proba(np.zeros((2, 48, 48), np.uint8))
    assert probs.shape == (2, len(CLASSES)) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_save_is_atomic_and_load_gives_back_the_dict(tmp_path):
    path = tmp_path / "deep" / "run.pt"
    ckpt = {"format": MODEL_FORMAT, "weights": {"w": torch.arange(4.0)}, "config": {"seed": 3}, "classes": list(CLASSES)}
    save_checkpoint(ckpt, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.pt"]  # no .tmp left behind
    loaded = load_checkpoint(path)
    torch.testing.assert_close(loaded["weights"]["w"], ckpt["weights"]["w"])
    assert members_of(loaded) == [loaded]  # a single model is its own only member
    assert members_of({"classes": []}) == [{"classes": []}]  # files without a format are single models


def _ml_imports(name: str) -> set[str]:
    tree = ast.parse((ML / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_train_and_ensemble_do_not_import_each_other():
    assert "ml.ensemble" not in _ml_imports("train")
    assert "ml.train" not in _ml_imports("ensemble")
    for name in ("train", "ensemble", "predict"):
        assert "ml.checkpoint" in _ml_imports(name)
