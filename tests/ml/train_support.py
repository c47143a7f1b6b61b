"""Tiny training runs for the ml tests: the conftest faces as a shared-format npz, and ml.train on them in seconds."""
import numpy as np

from ml.train import main as train_main


def write_npz(path, faces, usage):
    """faces: the conftest ``faces`` triple; usage: one usage value per face -> the npz path."""
    images, votes, fer = faces
    np.savez(path, images=images, usage=np.asarray(usage), fer2013_label=fer.astype(np.int8), ferplus_votes=votes)
    return path


def train_tiny(npz, out, *extra):
    """Two epochs of a 4/8-wide net on one thread; extra: more ml.train flags."""
    train_main(["--npz", str(npz), "--epochs", "2", "--batch-size", "16", "--widths", "4,8", "--depths", "1,1",
                "--threads", "1", "--out", str(out), "--no-progress", *extra])
