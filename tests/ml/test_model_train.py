"""Model shapes, training determinism, resume and the checkpoint round trip."""
import copy
import dataclasses

import numpy as np
import pytest
import torch

from ml.config import CLASSES, TrainConfig
from ml.labels import soft_labels
from ml.model import FerNet, build_model, fuse_conv_bn
from ml.predict import Predictor, load_predictor
from ml.train import train


def test_model_shapes():
    model = FerNet(widths=(4, 8), depths=(1, 1)).eval()
    logits, logits7 = model.heads(torch.rand(3, 1, 48, 48))
    assert logits.shape == (3, len(CLASSES)) and logits7.shape == (3, 7)
    assert FerNet(widths=(4, 8), depths=(1, 1), fer2013_head=False).heads(torch.rand(2, 1, 64, 64))[1] is None


def test_fused_model_matches():
    model = build_model(TrainConfig(widths=(4, 8), depths=(1, 1))).eval()
    for m in model.modules():  # non-trivial BN statistics, so the fold is really exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = torch.rand(5, 1, 48, 48)
    before = model(x)
    after = fuse_conv_bn(model)(x)
    torch.testing.assert_close(before, after, atol=1e-4, rtol=1e-4)


def _train(faces, config, **kw):
    images, votes, fer = faces
    targets, keep = soft_labels(votes)
    return train(images, targets, keep=keep, fer2013=fer, config=config, progress=False, log=lambda s: None, **kw)


def test_same_seed_same_weights(faces, tiny_config):
    a = _train(faces, dataclasses.replace(tiny_config, out=""))
    b = _train(faces, dataclasses.replace(tiny_config, out=""))
    for k in a["weights"]:
        torch.testing.assert_close(a["weights"][k], b["weights"][k], rtol=0, atol=0)
    c = _train(faces, dataclasses.replace(tiny_config, out="", seed=1))
    assert any(not torch.equal(a["weights"][k], c["weights"][k]) for k in a["weights"])


def test_resume_matches_uninterrupted(faces, tiny_config, tmp_path):
    full = _train(faces, dataclasses.replace(tiny_config, out=""))
    cfg = dataclasses.replace(tiny_config, out=str(tmp_path / "run.pt"))
    first = _train(faces, cfg)
    # Fake an interruption after epoch 1 by replaying epoch 1's saved state.
    cfg1 = dataclasses.replace(cfg, epochs=2)
    state = _run_one_epoch(faces, cfg1)
    resumed = _train(faces, cfg1, resume=state)
    assert first["training_state"] is None and resumed["epoch"] == 2
    for k in full["weights"]:
        torch.testing.assert_close(full["weights"][k], resumed["weights"][k], rtol=0, atol=0)


def _run_one_epoch(faces, cfg):
    """The checkpoint a 2-epoch run writes after its first epoch."""
    saved = []
    import ml.train as mt

    real = mt.save_checkpoint
    mt.save_checkpoint = lambda ckpt, path: saved.append(copy.deepcopy(ckpt))  # tensors change in place
    try:
        _train(faces, cfg)
    finally:
        mt.save_checkpoint = real
    assert saved[0]["epoch"] == 1 and saved[0]["training_state"] is not None
    return saved[0]


def test_checkpoint_round_trip(faces, tiny_config):
    ckpt = _train(faces, dataclasses.replace(tiny_config, epochs=3))
    saved = torch.load(tiny_config.out, weights_only=False)
    assert saved["classes"] == list(CLASSES)
    assert TrainConfig.from_dict(saved["config"]) == dataclasses.replace(tiny_config, epochs=3)
    assert set(saved) >= {"weights", "config", "classes", "metrics", "data_sha256"}
    predictor = Predictor(tiny_config.out, tta=False, precision="fp32")
    images = faces[0]
    probs = predictor.predict_proba(images)
    assert probs.dtype == np.float32 and probs.shape == (len(images), len(CLASSES))
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    model = build_model(predictor.config).eval()
    model.load_state_dict(ckpt["weights"])
    with torch.no_grad():
        direct = model(torch.from_numpy(images).unsqueeze(1).float() / 255).softmax(1).numpy()
    np.testing.assert_allclose(probs, direct, atol=1e-4)
    # bfloat16 (traced, oneDNN-fused) where the CPU has it natively: the same to ~2 decimals
    fast = Predictor(tiny_config.out, tta=False, precision="bf16")
    np.testing.assert_allclose(fast.predict_proba(images), direct, atol=0.02)
    assert fast.predict_proba(images[:3]).shape == (3, len(CLASSES))  # another batch size


def test_predictor_resizes_and_caches(faces, tiny_config):
    _train(faces, tiny_config)
    p = load_predictor(tiny_config.out)
    assert load_predictor(tiny_config.out) is p
    big = np.repeat(np.repeat(faces[0][:4], 2, axis=1), 2, axis=2)  # (4, 96, 96)
    assert p.predict_proba(big).shape == (4, len(CLASSES))
    rgb = np.stack([faces[0][:3]] * 3, axis=-1)
    assert p.predict_proba(rgb).shape == (3, len(CLASSES))
    assert p.predict_fer2013(faces[0][:2]).shape == (2, 7)
    assert p.predict_proba(faces[0][:0]).shape == (0, len(CLASSES))
    _train(faces, dataclasses.replace(tiny_config, seed=1))  # new weights under the same name
    fresh = load_predictor(tiny_config.out)
    assert fresh is not p and not np.allclose(fresh.predict_proba(faces[0][:4]), p.predict_proba(faces[0][:4]))


def test_warm_start_from_a_checkpoint(faces, tiny_config, tmp_path):
    first = _train(faces, tiny_config)
    warm = _train(faces, dataclasses.replace(tiny_config, init=tiny_config.out, epochs=1, lr=1e-9,
                                             out=str(tmp_path / "warm.pt")))
    assert warm["config"]["init"] == tiny_config.out
    key = "features.0.weight"  # a learning rate of ~0 leaves the warm-started weights in place
    torch.testing.assert_close(first["weights"][key], warm["weights"][key], atol=1e-6, rtol=0)


def test_time_budget_stops_mid_epoch(faces, tiny_config):
    cfg = dataclasses.replace(tiny_config, out="", epochs=1000, max_seconds=0.5)
    ckpt = _train(faces, cfg)
    assert ckpt["epoch"] < 1000 and ckpt["training_state"] is None


def test_tta_auto_follows_native_bf16(faces, tiny_config):
    """Mirroring halves throughput; auto keeps it only where bfloat16 leaves room for it."""
    from ml.model import native_bf16

    _train(faces, tiny_config)
    assert Predictor(tiny_config.out, precision="fp32").tta is False
    assert Predictor(tiny_config.out, precision="bf16").tta is native_bf16()
    assert Predictor(tiny_config.out, precision="fp32", tta=True).tta is True
    mirrored = Predictor(tiny_config.out, precision="fp32", tta=True).predict_proba(faces[0][:4])
    plain = Predictor(tiny_config.out, precision="fp32", tta=False).predict_proba(faces[0][:4])
    assert mirrored.shape == plain.shape and not np.allclose(mirrored, plain)
    # With TTA each forward holds batch_size rows (half faces, half mirrors); any size gives the same.
    for batch_size in (1, 3):
        chunked = Predictor(tiny_config.out, precision="fp32", tta=True).predict_proba(faces[0][:4], batch_size=batch_size)
        np.testing.assert_allclose(chunked, mirrored, atol=1e-5)


def _rare_class_share(ckpt, images: np.ndarray) -> float:
    """Mean raw (uncalibrated) probability of happiness against neutral, the two classes trained on, over images."""
    model = build_model(TrainConfig.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["weights"])
    with torch.no_grad():
        x = torch.from_numpy(images).unsqueeze(1).float().div(255)
        return float(model.eval()(x)[:, :2].softmax(1)[:, 1].mean())


def test_the_logit_adjusted_loss_gives_a_rare_class_more_of_the_raw_probability(tiny_config):
    """56 neutral faces and 8 happy ones: trained with logit_adjust 1, the raw logits (what inference uses) lean
    towards the rare class, on its faces and on the others; plain cross-entropy learns the 1-in-8 prior."""
    rng = np.random.default_rng(3)
    labels = (np.arange(64) % 8 == 0).astype(int)  # 1 = happiness, one face in eight
    images = rng.integers(0, 60, size=(64, 48, 48)).astype(np.uint8)
    images[labels == 1, 10:38, 10:38] += 150
    votes = np.zeros((64, 10), dtype=np.uint8)
    votes[np.arange(64), labels] = 10
    faces = (images, votes, np.where(labels == 1, 3, 6))
    config = dataclasses.replace(tiny_config, out="", epochs=4, fer2013_weight=0.0)
    plain = _train(faces, config)
    adjusted = _train(faces, dataclasses.replace(config, logit_adjust=1.0))
    assert adjusted["config"]["logit_adjust"] == 1.0
    for rows in (labels == 1, labels == 0):
        assert _rare_class_share(adjusted, images[rows]) > _rare_class_share(plain, images[rows]) + 0.2
    with pytest.raises(ValueError, match="logit_adjust"):
        TrainConfig(logit_adjust=-0.5)
