"""Class names, label maps, default paths and the frozen training config."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

# The label vocabulary, defined once for ml/ and annotate/ (which imports it; this module stays free of torch).
# The FER+ eight, in the order of the FER+ vote columns; model outputs follow it.
FERPLUS_CLASSES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
CLASSES = FERPLUS_CLASSES
# The two non-emotion answers a project offers besides the eight (FER+'s "unknown" and "NF" votes).
EXTRA_ANSWERS = ("unknown", "not_a_face")
# The FER+ vote columns: the eight emotions, then the two non-emotion answers as FER+ names them.
VOTE_NAMES = CLASSES + ("unknown", "NF")
UNKNOWN, NOT_A_FACE = 8, 9
# The original FER2013 labels 0..6 (its csv's Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral): where
# each lands among CLASSES, and so its name in the FER+ vocabulary.
FER2013_TO_FERPLUS = (4, 5, 6, 1, 3, 2, 0)
FER2013_CLASSES = tuple(CLASSES[i] for i in FER2013_TO_FERPLUS)
# Contempt has no FER2013 class; on the Training split the FER2013 label most often given
# to FER+ contempt faces is Angry (52 of 132), so contempt's probability goes there.
CONTEMPT_TO_FER2013 = 0

IMAGE_SIZE = 48
LABEL_MODES = ("soft", "majority", "fer2013")
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "ferlab-cnn.pt"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; stored in the checkpoint to reproduce it."""

    label_mode: str = "soft"  # soft: FER+ vote distribution; majority: FER+ hard; fer2013
    fer2013_weight: float = 2.0  # weight of the auxiliary FER2013 head's loss (0 = no head)
    epochs: int = 60
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd (Nesterov) or adamw
    lr: float = 0.05  # peak learning rate of the one-cycle schedule
    schedule: str = "onecycle"  # onecycle or cosine
    warmup_frac: float = 0.15
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    widths: tuple[int, ...] = (16, 32, 64, 128)
    depths: tuple[int, ...] = (1, 2, 2, 3)
    dropout: float = 0.1
    augment: bool = True
    seed: int = 0
    threads: int = 2
    # auto: bfloat16 mixed precision (autocast; weights and optimiser stay float32) where the
    # CPU runs bf16 natively, ~1.7x faster per epoch on two EPYC cores; fp32 elsewhere.
    precision: str = "auto"
    max_seconds: float = 0.0  # > 0: shorten the run (fewer epochs) to fit this budget
    # > 0: hold out this share of the Training rows (ml.calibration.validation_split, the same faces for every
    # seed), score them every epoch and fit the predictor's calibration (ml.calibration) on them at the end.
    val_frac: float = 0.0
    init: str = ""  # warm start: a checkpoint whose weights (same architecture) start this run
    # Knowledge distillation (Hinton et al. 2015): a checkpoint (typically an ensemble) whose probabilities, averaged
    # over all its members, are mixed into both heads' targets with this weight: FER+ head (1 - w) x crowd votes +
    # w x teacher, FER2013 head likewise with the FER2013 label.
    teacher: str = ""
    teacher_weight: float = 0.5
    # online: the teacher scores each augmented batch as the student sees it (a consistent teacher, Beyer et al.
    # 2022), at the run's precision, uncalibrated; offline: once, on the un-augmented faces, before training.
    teacher_online: bool = False
    # online: the teacher also scores each augmented face mirrored and gives the mean (the shipped ensemble scores
    # 0.876 FER+ on PublicTest so, 0.870 without), for twice its forward rows; the offline teacher always mirrors.
    teacher_mirror: bool = False
    # > 0: mixup (Zhang et al. 2018) with mixing shares drawn from Beta(mixup, mixup): each batch is blended with a
    # shuffled copy of itself and the loss is taken against both faces' targets by their shares; an online teacher
    # scores the blended faces ("function matching", Beyer et al. 2022). 0: off.
    mixup: float = 0.0
    # > 0: logit-adjusted loss (Menon et al. 2021) on the FER+ head: the softmax is taken over logits + this x the log
    # of the class shares of the training targets, so the raw logits, which inference uses, learn the rarer classes
    # (contempt: about 0.6% of FER+ faces) as if the classes were balanced at 1. 0: off (plain cross-entropy).
    logit_adjust: float = 0.0
    out: str = str(DEFAULT_WEIGHTS)

    def __post_init__(self) -> None:
        if self.label_mode not in LABEL_MODES:
            raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {self.label_mode!r}")
        if self.optimizer not in ("sgd", "adamw") or self.schedule not in ("onecycle", "cosine"):
            raise ValueError("optimizer must be sgd|adamw and schedule onecycle|cosine")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto|fp32|bf16, got {self.precision!r}")
        if not 0.0 <= self.teacher_weight <= 1.0:
            raise ValueError(f"teacher_weight must lie in [0, 1], got {self.teacher_weight}")
        if self.mixup < 0:
            raise ValueError(f"mixup must be >= 0 (0 = off), got {self.mixup}")
        if self.logit_adjust < 0:
            raise ValueError(f"logit_adjust must be >= 0 (0 = off), got {self.logit_adjust}")
        if len(self.widths) != len(self.depths):
            raise ValueError("widths and depths must have the same length")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**d)
