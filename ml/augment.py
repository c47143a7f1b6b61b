"""Batch augmentation in torch: flip, shift/crop, rotation and scale (affine_grid), light, erasing."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(x: "torch.Tensor", *, generator: "torch.Generator", max_shift: float = 0.1,
            max_rotate_deg: float = 15.0, scale: tuple[float, float] = (0.9, 1.1),
            brightness: float = 0.2, contrast: float = 0.25, erase_p: float = 0.25) -> "torch.Tensor":
    """x: float (N, 1, H, W) in [0, 1] -> augmented float (N, 1, H, W) in [0, 1].

    One random affine per face (flip, rotation, scale, shift as a fraction of the side) applied
    with a single grid_sample, which is cheaper than chaining crops; border padding keeps the
    edges grey-ish instead of black frames the test faces never have.
    """
    n = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = u(-max_rotate_deg, max_rotate_deg) * (math.pi / 180)
    s = u(*scale)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([
        torch.stack([cos * flip, -sin, u(-max_shift, max_shift) * 2], 1),
        torch.stack([sin * flip, cos, u(-max_shift, max_shift) * 2], 1),
    ], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * u(1 - contrast, 1 + contrast).view(n, 1, 1, 1) + mean
    x = x + u(-brightness, brightness).view(n, 1, 1, 1) * 0.5
    if erase_p > 0:  # cutout: forces the net to use more than one facial region
        h, w = x.shape[-2:]
        side = (u(0.15, 0.35) * h).long().view(n, 1, 1)
        cy = (torch.rand(n, generator=generator) * h).long().view(n, 1, 1)
        cx = (torch.rand(n, generator=generator) * w).long().view(n, 1, 1)
        yy = torch.arange(h).view(1, h, 1)
        xx = torch.arange(w).view(1, 1, w)
        box = ((yy - cy).abs() <= side // 2) & ((xx - cx).abs() <= side // 2)
        box &= (torch.rand(n, generator=generator) < erase_p).view(n, 1, 1)
        x = torch.where(box.unsqueeze(1), mean, x)
    return x.clamp_(0.0, 1.0)
