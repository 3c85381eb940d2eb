"""Cameras: pose, intrinsics, optional randomization, and rendering with TinyRenderer or EGL."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pybullet as p
from pydantic import Field

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
