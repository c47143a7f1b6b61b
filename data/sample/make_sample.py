"""Draw the committed demo sample (~300 real FER2013 faces with their FER+ votes) from the shared npz.

Usage: python data/sample/make_sample.py [--npz PATH] [--out DIR]   (deterministic: fixed seed)
"""
import argparse
import csv
from pathlib import Path

import numpy as np

SEED = 2013
TOTAL = 300
FLOOR = 15  # every FER+ majority class gets at least this many faces, however rare
VOTE_COLUMNS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]
HERE = Path(__file__).resolve().parent
DEFAULT_NPZ = HERE.parents[1] / ".." / "shared" / "datasets" / "fer2013_ferplus_trainval.npz"


def draw(usage: np.ndarray, majority: np.ndarray, unique: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices stratified by FER+ majority class: a floor per class plus a share proportional to its size;
    PublicTest rows first, Training rows only where PublicTest runs short; no two identical images."""
    classes = np.arange(len(VOTE_COLUMNS))
    sizes = np.array([(majority == k).sum() for k in classes])
    extra = np.floor((TOTAL - FLOOR * len(classes)) * sizes / sizes.sum()).astype(int)
    quota = FLOOR + extra
    quota[np.argmax(sizes)] += TOTAL - quota.sum()
    chosen = []
    for k in classes:
        public = rng.permutation(np.flatnonzero((majority == k) & unique & (usage == "PublicTest")))
        training = rng.permutation(np.flatnonzero((majority == k) & unique & (usage == "Training")))
        chosen.extend(np.concatenate([public, training])[: quota[k]])
    return np.sort(np.array(chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--npz", default=str(DEFAULT_NPZ))
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args()
    with np.load(args.npz, allow_pickle=False) as z:
        images, usage, fer, votes = z["images"], z["usage"].astype(str), z["fer2013_label"], z["ferplus_votes"]
        names, rows = z["ferplus_image_name"].astype(str), z["row"]
    majority = votes.argmax(axis=1)  # ties go to the first column in FER+ order
    # FER2013 holds some byte-identical images; the importer would store each once, so draw each once.
    _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)
    unique = np.zeros(len(images), dtype=bool)
    unique[first] = True
    index = draw(usage, majority, unique, np.random.default_rng(SEED))
    out = Path(args.out)
    with open(out / "fer2013_sample.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["emotion", "pixels", "Usage"])
        for i in index:
            writer.writerow([int(fer[i]), " ".join(map(str, images[i].ravel())), usage[i]])
    with open(out / "fer2013new_sample.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["Usage", "Image name"] + VOTE_COLUMNS)
        for i in index:
            writer.writerow([usage[i], names[i]] + [int(v) for v in votes[i]])
    with open(out / "rows.txt", "w") as fh:
        fh.write("# sample row -> row in the original fer2013.csv / fer2013new.csv\n")
        fh.writelines(f"{n} {int(rows[i])}\n" for n, i in enumerate(index))
    counts = {VOTE_COLUMNS[k]: int((majority[index] == k).sum()) for k in range(len(VOTE_COLUMNS))}
    print(f"{len(index)} faces ({int((usage[index] == 'PublicTest').sum())} PublicTest); majority classes: {counts}")


if __name__ == "__main__":
    main()
