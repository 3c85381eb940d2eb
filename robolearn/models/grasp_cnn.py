"""The grasp-success CNN of Levine et al. 2016 (arXiv 1603.02199): g(I_t, v_t) -> P(success).

The image goes through a convolutional stem and a first stack of convolutions; the motor command
v_t = (dx, dy, dz, sin, cos) goes through a fully connected layer to one vector per channel, which
is tiled over the feature map and added to it; more convolutions follow, then fully connected
layers and one logit. Levine's network at 472 px: 6x6 stride-2 stem, 3x3 pool, six 5x5 convolutions,
3x3 pool, the merge, six 3x3 convolutions, 2x2 pool, three 3x3 convolutions, two fully connected
layers of 64; `GraspCNNConfig.for_size` gives that at 472 and scaled-down towers at 48, 64, 128.

`readout = "spatial"` is a departure for a fixed, calibrated camera: the convolutions run over the
image alone (so CEM runs them once per image), and the command is read out where it ends: the
gripper's target p_t + v_t is projected into the image with the camera matrix, the feature map is
sampled there (bilinear), and a small MLP turns that local feature and the grasp's yaw and height
into the logit: the pose where the gripper will close, not how it gets there. Every grasp in the
data then trains the same local detector wherever it happened, instead of the network having to
learn where in the picture a command lands. `readout_height` also samples the map below that pose,
where the grasp's x, y appear at the objects' height (KukaDiverse: the gripper's target closes 0.08 m
up, the objects lie around -0.17 m, 11 px lower in the 48 px image, at the edge of what the tower sees).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from robolearn.config import Config
from robolearn.envs.grasp import MOTOR_DIM, POSE_DIM


class GraspCNNConfig(Config):
    image_size: int = Field(64, ge=16, le=1024, description="input images are image_size x image_size RGB")
    channels: int = Field(32, ge=4, le=512)
    stem_kernel: int = Field(5, ge=1, le=11)
    stem_stride: int = Field(1, ge=1, le=4)
    stem_pool: int = Field(2, ge=1, le=4, description="max-pool size (and stride) after the stem; 1: none")
    pre_merge: int = Field(2, ge=0, le=12, description="convolutions before the motor command is added")
    pre_kernel: int = Field(3, ge=1, le=7)
    merge_pool: int = Field(2, ge=1, le=4, description="max-pool before the merge; 1: none")
    post_merge: int = Field(2, ge=0, le=12, description="3x3 convolutions after the merge, in each of two blocks")
    head_grid: int = Field(3, ge=1, le=8, description="the last feature map is max-pooled to head_grid^2 cells")
    fc: int = Field(64, ge=8, le=2048)
    state_input: bool = Field(False, description="also give the gripper pose p_t (state: x y z sin cos) beside v_t")
    readout: Literal["merge", "spatial"] = Field(
        "merge",
        description="merge: Levine's (command tiled and added midway); spatial: sample the feature map "
        "where the command ends (needs state_input and camera)",
    )
    readout_height: float | None = Field(
        None,
        description="spatial readout: also sample the map where the grasp's x, y appear at this world height (m), "
        "where the objects under the gripper lie",
    )
    depth_input: bool = Field(
        False,
        description="also take the depth image (metres from the camera; collect with [camera] depth = true) as a "
        "fourth input channel, (depth - depth_center) / depth_scale",
    )
    depth_center: float | None = Field(None, description="depth_input: metres; training fills in its data's mean")
    depth_scale: float | None = Field(
        None, gt=0, description="depth_input: metres; training fills in its data's standard deviation"
    )
    aux_segmentation: float = Field(
        0.0,
        ge=0,
        description="spatial readout: weight of an auxiliary loss in which the feature map also predicts, cell by "
        "cell, what the simulator's segmentation mask shows there: object or not, how deep inside its object "
        "(1 at the object's innermost pixels) and the object's elongation axis in the image; 0: none. Needs "
        "stores collected with [camera] segmentation = true",
    )
    camera: tuple[float, ...] | None = Field(
        None,
        description="spatial readout: the 4x4 world-to-clip matrix of the camera, row-major (16 numbers); "
        "training fills it in from the dataset's campaign.json",
    )

    @model_validator(mode="after")
    def _spatial_needs_pose_and_camera(self) -> GraspCNNConfig:
        if self.readout == "spatial":
            if not self.state_input:
                raise ValueError("readout 'spatial' needs state_input = true (the command ends at p_t + v_t)")
            if self.camera is not None and len(self.camera) != 16:
                raise ValueError(f"camera: 16 numbers (a 4x4 matrix), got {len(self.camera)}")
        elif self.aux_segmentation:
            raise ValueError("aux_segmentation needs readout 'spatial': it trains the feature map the readout samples")
        return self

    @classmethod
    def for_size(cls, size: int, **overrides) -> GraspCNNConfig:
        """The tower for square inputs of `size` px: Levine's at 472, scaled down below."""
        presets = {
            48: {"stem_stride": 1, "stem_pool": 2},
            64: {"stem_stride": 2, "stem_pool": 1},
            128: {"stem_stride": 2, "stem_pool": 2},
            472: {
                "channels": 64,
                "stem_kernel": 6,
                "stem_stride": 2,
                "stem_pool": 3,
                "pre_merge": 6,
                "pre_kernel": 5,
                "merge_pool": 3,
                "post_merge": 3,
            },  # fmt: skip
        }
        return cls(image_size=size, **{**presets.get(size, {}), **overrides})


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))  # fmt: skip


def _pool(k: int) -> nn.Module:
    return nn.MaxPool2d(k, ceil_mode=True) if k > 1 else nn.Identity()


def sliced_max_pool(x: torch.Tensor, grid: int) -> torch.Tensor:
    """F.adaptive_max_pool2d(x, grid): the same windows and values, taken as a max over slices. Its backward
    is deterministic on CUDA; adaptive_max_pool2d's adds gradients atomically (two identical training runs
    on an H100 ended with different weights). 3x slower on CPU, so used only in deterministic mode."""
    h, w = x.shape[-2:]

    def cut(n: int, i: int) -> slice:  # adaptive pooling's window i of `grid` over n cells
        return slice(i * n // grid, -(-(i + 1) * n // grid))

    rows = [torch.stack([x[..., cut(h, i), cut(w, j)].amax(dim=(-2, -1)) for j in range(grid)], -1)
            for i in range(grid)]  # fmt: skip
    return torch.stack(rows, -2)


class GridMaxPool(nn.Module):
    """Max-pools a feature map to grid x grid cells; deterministic when torch.use_deterministic_algorithms."""

    def __init__(self, grid: int) -> None:
        super().__init__()
        self.grid = grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.are_deterministic_algorithms_enabled():
            return sliced_max_pool(x, self.grid)
        return F.adaptive_max_pool2d(x, self.grid)


def tent_sample(feats: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(B,C,h,w) feature maps sampled at P points each, (B,P,2) in [-1, 1] (x right, y down) -> (B,P,C): what
    F.grid_sample(bilinear, border, align_corners=False) gives, written as two products with tent
    weights so that its backward is deterministic on CUDA (grid_sample's adds gradients atomically)."""
    h, w = feats.shape[-2:]

    def tent(coord: torch.Tensor, n: int) -> torch.Tensor:  # (B,P) -> (B,P,n) bilinear weights of the n cells
        pixel = (((coord + 1) * n - 1) / 2).clamp(0, n - 1)
        cells = torch.arange(n, device=coord.device, dtype=pixel.dtype)
        return (1 - (cells - pixel[..., None]).abs()).clamp_min(0)

    wx, wy = tent(points[..., 0].float(), w).to(feats.dtype), tent(points[..., 1].float(), h).to(feats.dtype)
    return torch.einsum("bchw,bph,bpw->bpc", feats, wy, wx)


def bilinear_at(feats: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """tent_sample in deterministic mode, else grid_sample (17x faster on CPU for CEM's expanded maps)."""
    if torch.are_deterministic_algorithms_enabled():
        return tent_sample(feats, points)
    grid = points.to(feats.dtype)[:, None]  # (B,1,P,2)
    out = F.grid_sample(feats, grid, mode="bilinear", padding_mode="border", align_corners=False)  # (B,C,1,P)
    return out[:, :, 0].transpose(1, 2)


class GraspCNN(nn.Module):
    """forward(batch) -> (logits (B,), losses). batch: rgb (B,H,W,3) uint8 or float in [0,1],
    motor_command (B,5) float, state (B,7) with `state_input`, depth (B,H,W) metres with `depth_input`;
    with success (B,) the losses hold the binary cross-entropy `bce`."""

    def __init__(self, config: GraspCNNConfig) -> None:
        super().__init__()
        self.config = c = config
        ch = c.channels
        self.tower = nn.Sequential(
            _conv(3 + c.depth_input, ch, c.stem_kernel, c.stem_stride),
            _pool(c.stem_pool),
            *[_conv(ch, ch, c.pre_kernel) for _ in range(c.pre_merge)],
            _pool(c.merge_pool),
        )
        if c.readout == "spatial":
            # more convolutions at the tower's resolution; the map does not depend on the command
            self.tower.append(nn.Sequential(*[_conv(ch, ch, 3) for _ in range(2 * c.post_merge)]))
            self.head = nn.Sequential(
                nn.Linear(ch * (1 + (c.readout_height is not None)) + 3, c.fc), nn.ReLU(inplace=True),
                nn.Linear(c.fc, c.fc), nn.ReLU(inplace=True),
                nn.Linear(c.fc, 1),
            )  # fmt: skip
            if c.aux_segmentation:  # object, centre, elongation axis (2) per cell of the map
                self.aux = nn.Conv2d(ch, AUX_CHANNELS, 1)
            return
        n_in = MOTOR_DIM + (POSE_DIM if c.state_input else 0)
        self.command = nn.Sequential(nn.Linear(n_in, ch), nn.ReLU(inplace=True), nn.Linear(ch, ch))
        self.post = nn.Sequential(
            *[_conv(ch, ch, 3) for _ in range(c.post_merge)],
            nn.MaxPool2d(2, ceil_mode=True),
            *[_conv(ch, ch, 3) for _ in range(c.post_merge)],
            GridMaxPool(c.head_grid),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(ch * c.head_grid**2, c.fc), nn.ReLU(inplace=True),
            nn.Linear(c.fc, c.fc), nn.ReLU(inplace=True),
            nn.Linear(c.fc, 1),
        )  # fmt: skip

    def features(self, rgb: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """(B,H,W,3) uint8 or [0,1] float and, with `depth_input`, (B,H,W) depth in metres -> the feature map
        before the merge (B,C,h,w)."""
        c = self.config
        if rgb.shape[1:] != (c.image_size, c.image_size, 3):
            raise ValueError(f"GraspCNN for {c.image_size}x{c.image_size}x3 images got a batch "
                             f"of shape {tuple(rgb.shape)}")  # fmt: skip
        x = rgb.permute(0, 3, 1, 2)
        x = (x.float() / 255 if x.dtype == torch.uint8 else x.float()) - 0.5
        if c.depth_input:
            if depth is None:
                raise ValueError("this GraspCNN takes a depth image (depth_input) and got none; render it with "
                                 "[camera] depth = true")  # fmt: skip
            if depth.shape != rgb.shape[:3]:
                raise ValueError(f"GraspCNN: depth of shape {tuple(depth.shape)} for images {tuple(rgb.shape)}")
            if c.depth_center is None or c.depth_scale is None:
                raise ValueError("this GraspCNN takes depth but has no depth_center and depth_scale")
            d = ((depth.float() - c.depth_center) / c.depth_scale).clamp(-4, 4)
            x = torch.cat([x, d[:, None]], dim=1)
        return self.tower(x.to(next(self.parameters()).dtype))

    def score(self, feats: torch.Tensor, command: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B,) for feature maps (B,C,h,w), motor commands (B,5) and, with `state_input`, gripper
        states (B,>=5). CEM scores many commands against one image by expanding its feature map, so the
        tower runs once."""
        if self.config.state_input:
            if state is None:
                raise ValueError("this GraspCNN takes the gripper state (state_input) and got none")
            if self.config.readout == "spatial":
                return self._spatial_score(feats, command, state)
            command = torch.cat([command, state[:, :POSE_DIM].to(command.dtype)], dim=1)
        z = self.command(command.to(feats.dtype))[:, :, None, None]  # (B,C,1,1) tiled over the map
        return self.head(self.post(F.relu(feats + z))).squeeze(1)

    def image_point(self, command: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """(B,P,2) where the gripper target p_t + v_t appears in the image (P = 1), then (readout_height, P = 2)
        the point below it at that height; in grid_sample's [-1, 1] coordinates (x right, y down)."""
        c = self.config
        if c.camera is None:
            raise ValueError("this spatial GraspCNN has no camera matrix (model.camera)")
        target = state[:, :3].float() + command[:, :3].float()
        points = target[:, None]  # (B,1,3)
        if c.readout_height is not None:  # and below it, at the objects' height
            below = torch.cat([target[:, :2], torch.full_like(target[:, 2:], c.readout_height)], dim=1)
            points = torch.cat([points, below[:, None]], dim=1)
        m = torch.tensor(c.camera, dtype=torch.float32, device=command.device).view(4, 4)
        clip = torch.cat([points, torch.ones_like(points[..., :1])], dim=2) @ m.T
        ndc = clip[..., :2] / clip[..., 3:4]
        return torch.stack([ndc[..., 0], -ndc[..., 1]], dim=2)

    def _spatial_score(self, feats: torch.Tensor, command: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        local = bilinear_at(feats, self.image_point(command, state)).flatten(1)  # (B, P*C)
        yaw = torch.atan2(state[:, 3], state[:, 4]).float() + torch.atan2(command[:, 3], command[:, 4]).float()
        grip = torch.stack([torch.sin(2 * yaw), torch.cos(2 * yaw)], dim=1)  # the two-finger gripper is symmetric
        height = state[:, 2:3].float() + command[:, 2:3].float()  # the grasp's height
        x = torch.cat([local, grip.to(feats.dtype), height.to(feats.dtype)], dim=1)
        return self.head(x).squeeze(1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = self.features(batch["rgb"], batch.get("depth"))
        logits = self.score(feats, batch["motor_command"], batch.get("state"))
        losses = {}
        if "success" in batch:
            losses["bce"] = F.binary_cross_entropy_with_logits(logits.float(), batch["success"].float())
            if self.config.aux_segmentation and "segmentation" in batch:
                losses["aux_segmentation"] = self.config.aux_segmentation * segmentation_loss(
                    self.aux(feats).float(), batch["segmentation"]
                )
        return logits, losses


AUX_CHANNELS = 4
ERODE_STEPS = 8  # pixels: centre-ness saturates this deep inside an object (the 48 px objects are 3-12 px across)


def segmentation_targets(seg: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense targets from instance masks (B,H,W) (0: no object, i: object i) at the feature map's `size` (h, w):
    (B,4,h,w) = fraction of object pixels; centre-ness, each object pixel's depth inside its object (erosions it
    survives) over the object's deepest, in [0, 1]; the object's elongation axis in the image as
    (e cos 2a, e sin 2a), e = (l1 - l2) / (l1 + l2) of its pixels' covariance, a the major axis' angle. And (B,1,h,w)
    the weight of the axis targets: the fraction of object pixels, so that the background asks nothing of them."""
    b, h, w = seg.shape
    seg = seg.long()
    ys, xs = torch.meshgrid(torch.arange(h, device=seg.device, dtype=torch.float32),
                            torch.arange(w, device=seg.device, dtype=torch.float32), indexing="ij")  # fmt: skip
    centre = torch.zeros(b, 1, h, w, device=seg.device)
    axis = torch.zeros(b, 2, h, w, device=seg.device)
    for i in range(1, int(seg.max()) + 1):
        m = (seg == i).float()[:, None]  # (B,1,H,W)
        depth, eroded = torch.zeros_like(m), m
        for _ in range(ERODE_STEPS):
            depth += eroded
            eroded = -F.max_pool2d(-eroded, 3, 1, 1)  # erosion; the image border counts as inside
        centre += depth / depth.amax(dim=(2, 3), keepdim=True).clamp_min(1)
        n = m.sum(dim=(2, 3)).clamp_min(1)  # (B,1)
        mx, my = (m * xs).sum(dim=(2, 3)) / n, (m * ys).sum(dim=(2, 3)) / n
        dx, dy = xs - mx[..., None, None], ys - my[..., None, None]
        cxx, cyy, cxy = [(m * v).sum(dim=(2, 3)) / n for v in (dx * dx, dy * dy, dx * dy)]
        # for a covariance [[a, c], [c, b]]: (l1 - l2) (cos 2a, sin 2a) = (a - b, 2c), l1 + l2 = a + b
        trace = (cxx + cyy).clamp_min(1e-6)
        axis += m * torch.cat([(cxx - cyy) / trace, 2 * cxy / trace], dim=1)[..., None, None]
    fg = (seg > 0).float()[:, None]
    full = torch.cat([fg, centre, axis], dim=1)  # (B,4,H,W)
    return F.adaptive_avg_pool2d(full, size), F.adaptive_avg_pool2d(fg, size)


def segmentation_loss(pred: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    """pred (B,4,h,w) logits for object and centre-ness, values for the axis; seg (B,H,W) instance masks."""
    target, weight = segmentation_targets(seg, pred.shape[-2:])
    bce = F.binary_cross_entropy_with_logits(pred[:, :2], target[:, :2])
    axis = (weight * (pred[:, 2:] - target[:, 2:]) ** 2).sum() / weight.sum().clamp_min(1) / 2
    return bce + axis
