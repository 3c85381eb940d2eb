"""Image augmentation for training: random shifts (offsets drawn by the loader, applied on the device) and
colour jitter on the device."""

from __future__ import annotations

import numpy as np
import torch


def shift_offsets(rng: np.random.Generator, n: int, pad: int) -> np.ndarray:
    """(2, n) random (dy, dx) crop offsets for `random_shift`."""
    return rng.integers(0, 2 * pad + 1, size=(2, n))


def random_shift(rgb: torch.Tensor, pad: int, shift: torch.Tensor) -> torch.Tensor:
    """(B,H,W,C) images, each padded by `pad` (edge pixels repeated) and cropped back at its (dy, dx) in
    `shift` (B,2), in [0, 2 pad]. Done by the trainer on its device: at 472 px, the two copies of the
    batch that padding and cropping take on the CPU cost a loader worker more than reading it."""
    if pad <= 0:
        return rgb
    b, h, w = rgb.shape[:3]
    shift = shift.to(rgb.device, torch.long) - pad
    rows = (torch.arange(h, device=rgb.device) + shift[:, :1]).clamp_(0, h - 1)  # (B,H)
    cols = (torch.arange(w, device=rgb.device) + shift[:, 1:]).clamp_(0, w - 1)  # (B,W)
    return rgb[torch.arange(b, device=rgb.device)[:, None, None], rows[:, :, None], cols[:, None, :]]


def color_jitter(rgb: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """(B,H,W,3) uint8 -> float in [0,1] with random brightness, contrast and per-channel gain."""
    x = rgb.float() / 255
    if strength <= 0:
        return x
    b = x.shape[0]

    def u(*shape):
        return (torch.rand(*shape, generator=generator) * 2 - 1).to(x.device) * strength

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + u(b, 1, 1, 1)) + mean + u(b, 1, 1, 1)
    return (x * (1 + u(b, 1, 1, 3))).clamp(0, 1)
