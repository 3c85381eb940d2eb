"""Writing frames: PNG pictures, animated GIFs and H.264 videos; several views of a moment side by side."""

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
    iio.imwrite(
        path, np.stack([upscale(side_by_side(np.asarray(f)), min_size) for f in frames]), duration=1000 / fps, loop=0
    )


def side_by_side(frame: np.ndarray) -> np.ndarray:
    """A frame of several views (V, H, W, 3) as one picture, the views left to right; a single view as it is."""
    return np.concatenate(list(frame), axis=1) if frame.ndim == 4 else frame


def write_mp4(path: str | Path, frames: Sequence[np.ndarray], *, fps: float = 4.0, min_size: int = 192) -> None:
    """An H.264 MP4 (yuv420p: what browsers and GitHub play) of RGB frames, upscaled so small observations stay
    visible; a frame of several views shows them side by side."""
    import imageio_ffmpeg

    if not len(frames):
        raise ValueError("no frames to write")
    big = [upscale(side_by_side(np.asarray(f)), min_size) for f in frames]
    h, w = big[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))  # yuv420p wants even sides
    writer = imageio_ffmpeg.write_frames(str(path), (w + w % 2, h + h % 2), fps=fps, codec="libx264",
                                         pix_fmt_out="yuv420p", macro_block_size=1, quality=8,
                                         output_params=["-movflags", "+faststart"], ffmpeg_log_level="error")  # fmt: skip
    writer.send(None)
    for f in big:
        writer.send(np.ascontiguousarray(np.pad(f, pad)))
    writer.close()


def contact_sheet(frames: Sequence[np.ndarray], *, columns: int = 8, min_size: int = 96) -> np.ndarray:
    """All frames in a grid, left to right, top to bottom."""
    big = [upscale(side_by_side(np.asarray(f)), min_size) for f in frames]
    h, w = big[0].shape[:2]
    rows = -(-len(big) // columns)
    sheet = np.zeros((rows * h, min(columns, len(big)) * w, 3), dtype=np.uint8)
    for i, f in enumerate(big):
        r, c = divmod(i, columns)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = f
    return sheet
