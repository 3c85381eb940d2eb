"""Cameras: pose, intrinsics, optional randomization, and rendering with TinyRenderer or EGL."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pybullet as p
from pydantic import Field, model_validator

from robolearn.config import Config


class CameraConfig(Config):
    """A pinhole camera looking at `target` from `distance`, oriented by yaw/pitch/roll in degrees."""

    width: int = Field(64, ge=8, le=2048)
    height: int = Field(64, ge=8, le=2048)
    target: tuple[float, float, float] = (0.23, 0.2, 0.54)
    distance: float = Field(1.0, gt=0)
    yaw: float = 245.0
    pitch: float = -56.0
    roll: float = 0.0
    fov: float = Field(20.0, gt=0, lt=180)
    near: float = Field(0.01, gt=0)
    far: float = Field(10.0, gt=0)
    depth: bool = False
    segmentation: bool = False
    randomize: float = Field(0.0, ge=0.0, le=1.0, description="0: fixed pose; 1: yaw/pitch +-3 deg, fov +-2 deg")


@dataclass(frozen=True)
class CameraPose:
    view: tuple[float, ...]
    proj: tuple[float, ...]


def sample_pose(cfg: CameraConfig, rng: np.random.Generator | None) -> CameraPose:
    """The camera's matrices; with `cfg.randomize` > 0 the pose is jittered using `rng`."""
    jitter = (
        (lambda scale: cfg.randomize * rng.uniform(-scale, scale))
        if (rng is not None and cfg.randomize)
        else (lambda scale: 0.0)
    )
    yaw, pitch, fov = cfg.yaw + jitter(3.0), cfg.pitch + jitter(3.0), cfg.fov + jitter(2.0)
    view = p.computeViewMatrixFromYawPitchRoll(cfg.target, cfg.distance, yaw, pitch, cfg.roll, 2)
    proj = p.computeProjectionMatrixFOV(fov, cfg.width / cfg.height, cfg.near, cfg.far)
    return CameraPose(view=tuple(view), proj=tuple(proj))


def clip_matrix(pose: CameraPose) -> np.ndarray:
    """The 4x4 matrix (row-major) taking world points [x, y, z, 1] to clip coordinates; divide x, y by w for
    normalised device coordinates in [-1, 1] (x right, y up)."""
    view = np.asarray(pose.view, dtype=np.float64).reshape(4, 4).T  # pybullet's matrices are column-major
    proj = np.asarray(pose.proj, dtype=np.float64).reshape(4, 4).T
    return proj @ view


def fixed_clip_matrix(cfg: CameraConfig) -> np.ndarray | None:
    """The world-to-clip matrix of a camera that does not move between episodes; None if `cfg` randomizes it."""
    return None if cfg.randomize else clip_matrix(sample_pose(cfg, None))


def load_renderer(name: str, client: int) -> int:
    """The pybullet renderer flag for `name`; 'egl' loads the EGL plugin and falls back to 'tiny' if it does not load."""
    if name == "egl":
        try:
            from importlib.util import find_spec

            egl = find_spec("eglRenderer")
            plugin = p.loadPlugin(egl.origin, "_eglRendererPlugin", physicsClientId=client) if egl else -1
        except Exception:  # the plugin's loader raises a variety of errors where no GPU driver exists
            plugin = -1
        if plugin >= 0:
            return p.ER_BULLET_HARDWARE_OPENGL
        warnings.warn("EGL renderer plugin did not load; using TinyRenderer (CPU)", RuntimeWarning, stacklevel=2)
    return p.ER_TINY_RENDERER


def depth_to_metres(zbuffer: np.ndarray, near: float, far: float) -> np.ndarray:
    """Linear depth in metres from pybullet's non-linear z-buffer in [0, 1]."""
    return far * near / (far - (far - near) * zbuffer)


class RigConfig(Config):
    """`views` cameras around the workspace, drawn per episode: camera v's azimuth comes from the v-th of `views`
    equal sectors of `azimuth` (so holding out view v holds out a range of viewpoints), its elevation, distance
    and look-at point at random; with `drift` > 0 each camera sways slowly during the episode like a hand-held one."""

    views: int = Field(4, ge=1, le=16)
    width: int = Field(64, ge=8, le=2048)
    height: int = Field(64, ge=8, le=2048)
    fov: float = Field(40.0, gt=0, lt=180)
    azimuth: tuple[float, float] = Field((0.0, 360.0), description="degrees about the vertical, split into sectors")
    sector_fill: float = Field(0.5, ge=0, le=1, description="share of its sector a camera's azimuth is drawn from")
    elevation: tuple[float, float] = Field((20.0, 45.0), description="degrees above the horizontal")
    distance: tuple[float, float] = Field((1.6, 2.0), description="metres from the look-at point")
    look_at: tuple[float, float, float] = (0.3, 0.0, 0.15)
    look_at_jitter: float = Field(0.05, ge=0, description="metres, uniform in each axis")
    drift: float = Field(
        0.0, ge=0, le=4,
        description="hand-held sway: 1 = up to +-6 deg azimuth, +-3 deg elevation, +-5 cm distance, +-2 cm look-at, "
        "at 0.1-0.4 Hz",
    )  # fmt: skip
    near: float = Field(0.01, gt=0)
    far: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _ranges_ordered(self) -> RigConfig:
        for name in ("azimuth", "elevation", "distance"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name}: low {lo} above high {hi}")
        return self


class Rig:
    """One episode's cameras: drawn from `rng` (always the same count of numbers, whatever the config says, so the
    rest of an episode's draws do not depend on the rig), posed at a time in seconds by `poses`."""

    def __init__(self, cfg: RigConfig, rng: np.random.Generator) -> None:
        self.cfg = cfg
        v = cfg.views
        u = rng.random((v, 3))
        sector = (cfg.azimuth[1] - cfg.azimuth[0]) / v
        self.azimuth = cfg.azimuth[0] + sector * (np.arange(v) + 0.5 + cfg.sector_fill * (u[:, 0] - 0.5))
        self.elevation = cfg.elevation[0] + (cfg.elevation[1] - cfg.elevation[0]) * u[:, 1]
        self.distance = cfg.distance[0] + (cfg.distance[1] - cfg.distance[0]) * u[:, 2]
        self.look_at = np.asarray(cfg.look_at) + rng.uniform(-cfg.look_at_jitter, cfg.look_at_jitter, (v, 3))
        self.freq = rng.uniform(0.1, 0.4, (v, 6))
        self.phase = rng.uniform(0, 2 * np.pi, (v, 6))
        self.proj = tuple(p.computeProjectionMatrixFOV(cfg.fov, cfg.width / cfg.height, cfg.near, cfg.far))

    def eyes(self, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        """(eye, look-at) positions (views, 3) each at time `seconds`."""
        sway = self.cfg.drift * np.sin(2 * np.pi * self.freq * seconds + self.phase)  # (views, 6) in [-drift, drift]
        az = np.radians(self.azimuth + 6.0 * sway[:, 0])
        el = np.radians(self.elevation + 3.0 * sway[:, 1])
        dist = self.distance + 0.05 * sway[:, 2]
        target = self.look_at + 0.02 * sway[:, 3:]
        eye = target + dist[:, None] * np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 1)
        return eye, target

    def poses(self, seconds: float) -> list[CameraPose]:
        eye, target = self.eyes(seconds)
        return [CameraPose(tuple(p.computeViewMatrix(e.tolist(), t.tolist(), [0, 0, 1])), self.proj)
                for e, t in zip(eye, target)]  # fmt: skip

    def camera(self) -> CameraConfig:
        """The CameraConfig that renders each view (its pose comes from `poses`)."""
        cfg = self.cfg
        return CameraConfig(width=cfg.width, height=cfg.height, fov=cfg.fov, near=cfg.near, far=cfg.far)
