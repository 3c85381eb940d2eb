"""Image embedders: images (N, H, W, 3) uint8 -> vectors (N, D). What eval-embedding measures and what a TCN
reward compares: a TCN checkpoint's embedding, the same network untrained, and raw downsampled pixels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Embedder = Callable[[np.ndarray], np.ndarray]  # images (N, H, W, 3) uint8 -> (N, D)


def tcn_embedder(checkpoint: str | Path | None = None, *, config: dict | None = None, seed: int = 0,
                 device: str = "cpu") -> Embedder:  # fmt: skip
    """A TCN checkpoint's embedding; or, with `config` (a TCNConfig's fields) instead, the same network untrained
    (initialised from `seed`)."""
    import torch

    from robolearn.models.checkpoint import load_model
    from robolearn.models.tcn import TCN, TCNConfig

    if checkpoint is not None:
        model, _ = load_model(checkpoint, expect="TCN")
    else:
        torch.manual_seed(seed)
        model = TCN(TCNConfig.model_validate(config or {})).eval()
    model.to(device)

    @torch.no_grad()
    def embed(images: np.ndarray) -> np.ndarray:
        out = [model({"rgb": torch.from_numpy(images[i : i + 256]).to(device)})[0].float().cpu().numpy()
               for i in range(0, len(images), 256)]  # fmt: skip
        return np.concatenate(out)

    return embed


def pixel_embedder(size: int = 16) -> Embedder:
    """Raw pixels, area-downsampled to `size` x `size`, as one vector (the losses' and metrics' distances then
    compare images directly)."""
    import cv2

    def embed(images: np.ndarray) -> np.ndarray:
        small = [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images]
        return np.asarray(small, np.float32).reshape(len(images), -1) / 255.0

    return embed
