"""A compact VGG-style CNN for 48x48 grey faces, with an optional FER2013 head."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# Global pixel statistics of FER2013 (0..1 scale); a fixed affine keeps brightness and
# contrast augmentation meaningful, which per-image standardisation would undo.
PIXEL_MEAN, PIXEL_STD = 0.5077, 0.2550


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class FerNet(nn.Module):
    """Stages of 3x3 conv-BN-ReLU blocks with 2x2 max-pooling between them, global average
    pooling, dropout and linear heads. Input float (N, 1, H, W) in [0, 1]; forward returns
    logits (N, 8) over ml.config.CLASSES; ``heads`` also returns FER2013 logits (N, 7) or None.

    One conv at full 48x48 resolution, where a conv costs most, and the rest at 24/12/6 px: the
    trade of speed for accuracy that ml/MODEL_CARD.md ("Why this size") measured.
    """

    def __init__(self, *, widths=(16, 32, 64, 128), depths=(1, 2, 2, 3), num_classes: int = 8,
                 fer2013_head: bool = True, dropout: float = 0.1):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for i, (w, d) in enumerate(zip(widths, depths)):
            if i:
                layers.append(nn.MaxPool2d(2))
            for _ in range(d):
                layers += _conv_bn(cin, w)
                cin = w
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(cin, num_classes)
        self.fer2013 = nn.Linear(cin, 7) if fer2013_head else None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, H, W) in [0, 1] -> pooled features (N, C)."""
        x = (x - PIXEL_MEAN) / PIXEL_STD
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = self.dropout(self.embed(x))
        return self.head(z), (self.fer2013(z) if self.fer2013 is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads(x)[0]


def native_bf16() -> bool:
    """True when oneDNN runs bfloat16 convolutions natively on this CPU (not emulated)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def native_amx() -> bool:
    """True when the CPU also has AMX tiles (Intel Sapphire Rapids and later), where oneDNN's
    bfloat16 convolutions run several times faster than on AVX512-BF16 alone, so ml.predict can
    afford more forward passes per face there."""
    try:
        return native_bf16() and bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def build_model(config) -> FerNet:
    """config: ml.config.TrainConfig (or anything with widths, depths, dropout, fer2013_weight)."""
    return FerNet(widths=tuple(config.widths), depths=tuple(config.depths), dropout=config.dropout,
                  fer2013_head=config.fer2013_weight > 0 and config.label_mode != "fer2013")


@torch.no_grad()
def fuse_conv_bn(model: FerNet) -> FerNet:
    """Fold each BatchNorm into the conv before it (eval only): one op instead of two per layer, with
    the same outputs up to float rounding."""
    layers = list(model.features)
    out: list[nn.Module] = []
    i = 0
    while i < len(layers):
        m = layers[i]
        if isinstance(m, nn.Conv2d) and i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d):
            bn = layers[i + 1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=True)
            conv.weight.copy_(m.weight * scale.view(-1, 1, 1, 1))
            bias = m.bias if m.bias is not None else torch.zeros_like(bn.running_mean)
            conv.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
            out.append(conv)
            i += 2
        else:
            out.append(m)
            i += 1
    model.features = nn.Sequential(*out)
    return model
