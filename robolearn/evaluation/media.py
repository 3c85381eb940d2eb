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


def write_mp4(path: str | Path, frames: Sequence[np.ndarray], *, fps: float = 4.0, min_size: int = 192) -> None:
    """An MP4 (mp4v) of RGB frames, upscaled so small observations stay visible."""
    if not frames:
        raise ValueError("no frames to write")
    big = [upscale(f, min_size) for f in frames]
    h, w = big[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write video {path}")
    for f in big:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


def contact_sheet(frames: Sequence[np.ndarray], *, columns: int = 8, min_size: int = 96) -> np.ndarray:
    """All frames in a grid, left to right, top to bottom."""
    big = [upscale(f, min_size) for f in frames]
    h, w = big[0].shape[:2]
    rows = -(-len(big) // columns)
    sheet = np.zeros((rows * h, min(columns, len(big)) * w, 3), dtype=np.uint8)
    for i, f in enumerate(big):
        r, c = divmod(i, columns)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = f
    return sheet
