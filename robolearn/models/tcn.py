"""Time-contrastive networks (Sermanet et al. 2017, arXiv 1704.06888): an image -> a pose embedding, self-supervised.

The network: a convolutional tower, a spatial softmax (each channel's feature map turned into the expected image
position of its activation, as in Levine et al.'s visuomotor policies), fully connected layers, and an embedding of
`embedding` numbers (32 by default), L2-normalised. The paper started from an ImageNet Inception; nothing is
downloaded here, so it trains from scratch: `TCNConfig.preset("cpu")` is small enough to train on a laptop core,
`preset("gpu")` is wider and takes 128 px images.

The losses are functions of embeddings, so a training loop, a test or a user can call them on any network:

- multi-view (`npairs_loss`, the official code's best): the same moment seen from two views is a positive pair; every
  other moment in the batch, of any episode, is a negative. Moments are told apart by labels, one per (episode,
  time), never by the time index alone: the original sampler's labels collided when a batch held several sequences,
  making frames of different episodes positives of each other.
- multi-view semi-hard triplet (`triplet_semihard_loss`, margin 0.2, FaceNet's mining);
- single-view (`triplet_loss` on triplets a sampler draws: a positive within a radius in time of the anchor, a
  negative beyond a larger one, both from the anchor's own video).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from robolearn.config import Config

PRESETS = {
    "cpu": {"image_size": 64, "channels": (32, 32, 64, 64), "strides": (2, 1, 2, 1), "fc": 128},
    "gpu": {"image_size": 128, "channels": (64, 64, 128, 128, 128), "strides": (2, 1, 2, 1, 1), "fc": 256},
}


class TCNConfig(Config):
    image_size: int = Field(64, ge=16, le=1024, description="input images are image_size x image_size RGB")
    channels: tuple[int, ...] = Field((32, 32, 64, 64), description="the tower's convolutions, 3x3 (5x5 the first)")
    strides: tuple[int, ...] = Field((2, 1, 2, 1), description="each convolution's stride")
    fc: int = Field(128, ge=8, le=4096, description="the fully connected layer after the spatial softmax")
    embedding: int = Field(32, ge=2, le=1024, description="numbers in the embedding")
    normalize: bool = Field(True, description="L2-normalise the embedding (the losses' distances assume it)")
    pose_outputs: int = Field(
        0, ge=0, le=1024,
        description="> 0: a linear head from the embedding to this many pose labels (the supervised baseline's)",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_stride_a_convolution(self) -> TCNConfig:
        if not self.channels or len(self.channels) != len(self.strides):
            raise ValueError(f"channels ({len(self.channels)}) and strides ({len(self.strides)}): one stride each")
        return self

    @classmethod
    def preset(cls, name: Literal["cpu", "gpu"], **overrides) -> TCNConfig:
        """The CPU size (64 px, four convolutions) or the GPU size (128 px, wider and deeper)."""
        return cls(**{**PRESETS[name], **overrides})


class SpatialSoftmax(nn.Module):
    """(B, C, H, W) feature maps -> (B, 2C): each channel's softmax over the image, as the expected (x, y) in [-1, 1]
    of where it fires; a learned temperature sharpens or flattens the softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        attention = F.softmax(x.reshape(b, c, h * w) / self.log_temperature.exp(), dim=-1).reshape(b, c, h, w)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=attention.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=attention.dtype)
        ex = (attention.sum(dim=2) * xs).sum(dim=-1)  # (B, C)
        ey = (attention.sum(dim=3) * ys).sum(dim=-1)
        return torch.cat([ex, ey], dim=1)


class TCN(nn.Module):
    """An image (B, H, W, 3), uint8 or float in [0, 1] -> an embedding (B, embedding)."""

    def __init__(self, config: TCNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or TCNConfig()
        layers, c_in = [], 3
        for i, (c_out, stride) in enumerate(zip(c.channels, c.strides)):
            k = 5 if i == 0 else 3
            layers += [nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True)]  # fmt: skip
            c_in = c_out
        self.tower = nn.Sequential(*layers)
        self.keypoints = SpatialSoftmax()
        self.head = nn.Sequential(nn.Linear(2 * c_in, c.fc), nn.ReLU(inplace=True), nn.Linear(c.fc, c.embedding))
        self.pose_head = nn.Linear(c.embedding, c.pose_outputs) if c.pose_outputs else None

    def embed(self, rgb: torch.Tensor) -> torch.Tensor:
        x = rgb.float() / 255 if rgb.dtype == torch.uint8 else rgb
        x = (x.permute(0, 3, 1, 2) - 0.5) / 0.25  # (B, 3, H, W), roughly zero-mean
        e = self.head(self.keypoints(self.tower(x)))
        return F.normalize(e, dim=1) if self.config.normalize else e

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """batch["rgb"]: (B, H, W, 3) or (B, V, H, W, 3) (V views of each moment) -> embeddings (B, [V,] D), and
        with a pose head its predictions {"pose": (B, [V,] pose_outputs)}; no losses of its own: the training
        objective chooses them (the functions below)."""
        rgb = batch["rgb"]
        lead = rgb.shape[:-3]
        e = self.embed(rgb.reshape(-1, *rgb.shape[-3:]))
        out = {"pose": self.pose_head(e).reshape(*lead, -1)} if self.pose_head is not None else {}
        return e.reshape(*lead, -1), out


# -- losses ----------------------------------------------------------------------------------------------------
def npairs_loss(anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor,
                reg_lambda: float = 0.002) -> torch.Tensor:  # fmt: skip
    """Multi-class N-pair loss (Sohn 2016), as TCN's official code used it: row i of `anchors` (N, D) should score
    highest against the positives of its own label (`labels` (N,), one per moment: (episode, time)), every other
    row being a negative; plus an L2 penalty on the embeddings (`reg_lambda`/4 times their mean squared norm)."""
    logits = anchors @ positives.T
    same = (labels[:, None] == labels[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    xent = torch.sum(-targets * F.log_softmax(logits, dim=1), dim=1).mean()
    reg = 0.25 * reg_lambda * (anchors.pow(2).sum(1).mean() + positives.pow(2).sum(1).mean())
    return xent + reg


def triplet_semihard_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Triplet loss with semi-hard negatives (Schroff et al. 2015): for each pair (a, p) of one label, the closest
    negative farther from a than p is (where none is, the farthest negative); mean of max(d(a,p) - d(a,n) + margin,
    0) over the pairs, d the squared euclidean distance. Zero when each label's embeddings coincide and every other
    label lies more than `margin` away."""
    d = torch.cdist(embeddings, embeddings).pow(2)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pairs = same & ~eye  # (a, p)
    if not pairs.any():
        raise ValueError("triplet_semihard_loss: no two embeddings share a label, so there is no positive pair")
    negatives = ~same  # (a, n)
    if not negatives.any(dim=1).all():
        raise ValueError("triplet_semihard_loss: every label needs a negative: a batch of one moment has none")
    big = torch.finfo(d.dtype).max
    d_ap = d[:, :, None]  # (a, p, 1)
    d_an = d[:, None, :]  # (a, 1, n)
    semihard = negatives[:, None, :] & (d_an > d_ap)  # (a, p, n)
    closest_outside = torch.where(semihard, d_an.expand_as(semihard), torch.full_like(semihard, big, dtype=d.dtype))
    closest_outside = closest_outside.min(dim=2).values  # (a, p)
    farthest = torch.where(negatives, d, torch.full_like(d, -big)).max(dim=1).values  # (a,)
    chosen = torch.where(semihard.any(dim=2), closest_outside, farthest[:, None].expand_as(closest_outside))
    losses = F.relu(d - chosen + margin)
    return losses[pairs].mean()


def triplet_loss(anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
                 margin: float = 0.2) -> torch.Tensor:  # fmt: skip
    """mean of max(d(a,p) - d(a,n) + margin, 0) over given triplets (rows), d the squared euclidean distance: the
    single-view TCN, whose sampler draws p near a in time and n far from it in the same video."""
    d_ap = (anchors - positives).pow(2).sum(1)
    d_an = (anchors - negatives).pow(2).sum(1)
    return F.relu(d_ap - d_an + margin).mean()
