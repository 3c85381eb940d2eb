"""Writing frames: PNG pictures and animated GIFs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np


def upscale(frame: np.ndarray, min_size: int = 192) -> np.ndarray:
    """Nearest-neighbour upscale so that small observations stay visible."""
    k = max(1, -(-min_size // frame.shape[0]))
    return (
        cv2.resize(frame, (frame.shape[1] * k, frame.shape[0] * k), interpolation=cv2.INTER_NEAREST) if k > 1 else frame
    )


def write_png(path: str | Path, rgb: np.ndarray, *, min_size: int = 192) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(upscale(rgb, min_size), cv2.COLOR_RGB2BGR))


def write_gif(path: str | Path, frames: Sequence[np.ndarray], *, fps: float = 4.0, min_size: int = 192) -> None:
    if not frames:
        raise ValueError("no frames to write")
    iio.imwrite(path, np.stack([upscale(f, min_size) for f in frames]), duration=1000 / fps, loop=0)
