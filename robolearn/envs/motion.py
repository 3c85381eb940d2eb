"""Motions of an arm seen by several cameras at once: the multi-view video that time-contrastive networks learn from.

An episode is one motion, planned from its seed as a path of the grasp point between the fingertips (x, y, z, the
yaw of the fingers' closing axis, the gripper opening) sampled at `fps` frames per second of simulated time:
- grasp: over a tray object, turn the fingers across its narrow side, descend, close, lift;
- reach: smooth moves through three random points, the gripper opening and closing on the way;
- push: close the gripper, lower it beside an object and push through it, then rise.
The path is in the world, not in an arm's joints, so the KUKA and the Panda play the same path for the same seed
(each arm's IK turns it into joint targets). Each moment is rendered by a `RigConfig` of cameras.

Frames hold what training never reads: joint positions, the grasp point's pose, the gripper opening, every object's
pose, the motion's phase and each camera's eye and look-at point.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from robolearn.config import Config, deep_merge, validate
from robolearn.envs.config import ObjectsConfig
from robolearn.features import Feature, Schema
from robolearn.sim.arms import ArmName
from robolearn.sim.camera import RigConfig
from robolearn.sim.world import PhysicsConfig, World

MotionName = Literal["grasp", "reach", "push"]
MOTIONS: tuple[str, ...] = ("grasp", "reach", "push")  # a motion's code in a store is its index here
PHASES: dict[str, tuple[str, ...]] = {
    "grasp": ("approach", "descend", "close", "lift"),
    "reach": ("first", "second", "third"),
    "push": ("approach", "lower", "push", "rise"),
}
Vec3 = tuple[float, float, float]
FLOOR = -0.15  # the grasp point's lowest height: just above the tray's floor


class MotionObjectsConfig(ObjectsConfig):
    """A few objects, dropped where either arm reaches them."""

    count: int = Field(3, ge=1, le=20)
    spawn_low: tuple[float, float] = (0.45, -0.12)
    spawn_high: tuple[float, float] = (0.65, 0.12)


class MotionConfig(Config):
    """Everything a MotionEnv is built from: `envs/motion_kuka.toml`."""

    kind: Literal["motion"] = Field("motion", description="marks a motion env's config (a grasp env's has none)")
    arm: ArmName = "kuka"
    renderer: Literal["tiny", "egl"] = "tiny"
    rig: RigConfig = RigConfig()
    objects: MotionObjectsConfig = MotionObjectsConfig()
    physics: PhysicsConfig = PhysicsConfig()
    motions: list[MotionName] = Field(list(MOTIONS), description="each episode plays one of these, drawn at random")
    fps: float = Field(8.0, gt=0, le=60, description="frames per second of simulated time")
    duration: float = Field(4.0, gt=0, le=60, description="seconds of simulated time an episode lasts")
    speed: float = Field(0.5, gt=0, description="m/s of the grasp point at full action (an action's scale)")
    turn: float = Field(3.0, gt=0, description="rad/s of the wrist at full action")
    joint_speed: float = Field(1.0, gt=0, description="the arm joints' speed limit (rad/s), either arm")
    workspace_low: Vec3 = (0.35, -0.25, FLOOR)
    workspace_high: Vec3 = (0.75, 0.25, 0.35)

    @model_validator(mode="after")
    def _check(self) -> MotionConfig:
        if not self.motions:
            raise ValueError("motions: list at least one of " + ", ".join(MOTIONS))
        if self.frames < 2:
            raise ValueError(f"fps x duration = {self.fps * self.duration:g}: an episode needs at least 2 frames")
        if any(lo > hi for lo, hi in zip(self.workspace_low, self.workspace_high)):
            raise ValueError("workspace_low must not exceed workspace_high")
        return self

    @property
    def frames(self) -> int:
        """Frames an episode holds."""
        return int(round(self.fps * self.duration))

    @property
    def substeps(self) -> int:
        """Physics substeps between two frames."""
        return max(1, int(round(1.0 / (self.fps * self.physics.time_step))))


# Both presets sway their cameras like hand-held ones (RigConfig.drift).
MOTION_PRESETS: dict[str, dict[str, Any]] = {
    "motion_kuka": {"arm": "kuka", "rig": {"drift": 1.0}},
    "motion_panda": {"arm": "panda", "rig": {"drift": 1.0}},
}


def make_motion_config(preset: str | None = None, config: MotionConfig | dict[str, Any] | None = None,
                       **overrides: Any) -> MotionConfig:  # fmt: skip
    base: dict[str, Any] = MOTION_PRESETS[preset] if preset else {}
    if isinstance(config, MotionConfig):
        config = config.model_dump()
    data = deep_merge(deep_merge(base, config or {}), overrides)
    return validate(MotionConfig, data, source=f"motion env config{f' ({preset})' if preset else ''}")


# -- plans -------------------------------------------------------------------------------------
class Plan:
    """A motion's path: `path` (frames, 5) = grasp point x, y, z, closing-axis yaw, gripper opening at each frame;
    `phase` (frames,) the index of the motion's phase (PHASES) each frame is in; `motion` the motion's name."""

    def __init__(self, motion: str, path: np.ndarray, phase: np.ndarray, target: int | None = None) -> None:
        self.motion, self.path, self.phase, self.target = motion, path, phase, target


def min_jerk(a: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Minimum-jerk interpolation from `a` to `b` at fractions `s` in [0, 1] (starts and stops at rest)."""
    s = np.clip(s, 0.0, 1.0)[:, None]
    return a + (b - a) * (10 * s**3 - 15 * s**4 + 6 * s**5)


def through(waypoints: list[np.ndarray], times: list[float], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A path through `waypoints` (each (5,)) reached at `times` (fractions of the episode, increasing from 0),
    resting at the last; and each frame's segment index."""
    t = np.linspace(0.0, 1.0, frames)
    path = np.repeat(waypoints[-1][None], frames, 0).astype(np.float64)
    phase = np.full(frames, len(waypoints) - 2, np.int64)
    for k in range(len(waypoints) - 1):
        inside = (t >= times[k]) & (t < times[k + 1])
        path[inside] = min_jerk(waypoints[k], waypoints[k + 1], (t[inside] - times[k]) / (times[k + 1] - times[k]))
        phase[inside] = k
    return path, phase


def plan_motion(cfg: MotionConfig, world: World, start: np.ndarray, rng: np.random.Generator) -> Plan:
    """The episode's motion from `start` (the grasp point's [x, y, z, yaw, gripper]). Draws the same count of
    numbers from `rng` whatever the motion and the scene, so either arm plays the same path for the same seed."""
    from robolearn.envs.task import grasp_frame

    u = rng.random(16)
    motion = cfg.motions[min(int(u[0] * len(cfg.motions)), len(cfg.motions) - 1)]
    lo, hi = np.asarray(cfg.workspace_low), np.asarray(cfg.workspace_high)
    jitter = 0.06 * (u[1:5] - 0.5)  # the phases' timing varies from episode to episode
    n = cfg.frames
    if motion == "reach":
        points = [lo[:3] + (hi[:3] - lo[:3]) * np.array([u[5 + 3 * i], u[6 + 3 * i], 0.3 + 0.7 * u[7 + 3 * i]])
                  for i in range(3)]  # fmt: skip
        yaws = math.pi * (u[14:16] - 0.5)
        wps = [start] + [np.array([*pt, yaw, float(i % 2 == 0)]) for i, (pt, yaw) in enumerate(
            zip(points, [yaws[0], yaws[1], yaws[0]]))]  # fmt: skip
        path, phase = through(wps, [0.0, 0.3 + jitter[0], 0.6 + jitter[1], 0.9 + jitter[2]], n)
        return Plan(motion, path, phase)
    index = min(int(u[5] * len(world.objects)), len(world.objects) - 1)
    centre, axis_yaw, _, top = grasp_frame(world, index)
    centre = np.clip(centre, lo[:2], hi[:2])
    if motion == "grasp":
        above = np.array([*centre, min(hi[2], top + 0.1), axis_yaw, 1.0])
        low = np.array([*centre, max(FLOOR, top - 0.04), axis_yaw, 1.0])
        closed = np.array([*low[:4], 0.0])
        lifted = np.array([*centre + 0.04 * (u[6:8] - 0.5), 0.2 + 0.1 * u[8], axis_yaw, 0.0])
        path, phase = through([start, above, low, closed, lifted],
                              [0.0, 0.35 + jitter[0], 0.6 + jitter[1], 0.72 + jitter[2], 0.95 + jitter[3]], n)  # fmt: skip
        return Plan(motion, path, phase, target=index)
    angle = 2 * math.pi * u[6]
    direction = np.array([math.cos(angle), math.sin(angle)])
    across = angle + math.pi / 2  # fingers side by side across the push: a paddle
    before, after = (
        np.clip(centre - 0.1 * direction, lo[:2], hi[:2]),
        np.clip(centre + 0.06 * direction, lo[:2], hi[:2]),
    )
    wps = [start, np.array([*before, max(top + 0.05, -0.05), across, 0.0]),
           np.array([*before, FLOOR + 0.02, across, 0.0]), np.array([*after, FLOOR + 0.02, across, 0.0]),
           np.array([*after, 0.15 + 0.1 * u[7], across, 0.0])]  # fmt: skip
    path, phase = through(wps, [0.0, 0.3 + jitter[0], 0.45 + jitter[1], 0.75 + jitter[2], 0.95 + jitter[3]], n)
    return Plan(motion, path, phase, target=index)


# -- the task ----------------------------------------------------------------------------------
class MotionTask:
    """Lay out a few tray objects, plan a motion (`plan_motion`), judge whether it did what it meant to."""

    def __init__(self, config: MotionConfig) -> None:
        from robolearn.envs.task import GraspTask

        self.config = config
        self._objects = GraspTask(config)  # type: ignore[arg-type] - the tray layout reads only config.objects

    def features(self) -> Schema:
        """Observations: rgb (views, H, W, 3), state (grasp point x, y, z, sin/cos yaw, gripper, progress). Frames:
        those, the action, and labels: joints (7,), tip (7,) = grasp point and end-effector orientation (x, y, z,
        quaternion), gripper, objects (count, 7) poses, phase, cameras (views, 6) = eye and look-at points. Values:
        success, seed, motion (index into MOTIONS), object_ids."""
        cfg = self.config
        rig, k = cfg.rig, cfg.objects.count
        rgb = Feature((rig.views, rig.height, rig.width, 3), "uint8", 0, 255)
        state = Feature((7,), "float32", np.array([*cfg.workspace_low, -1, -1, 0, 0], np.float32),
                        np.array([*cfg.workspace_high, 1, 1, 1, 1], np.float32))  # fmt: skip
        observation = {"rgb": rgb, "state": state}
        frames = {"rgb": rgb, "state": state, "action": Feature((5,), "float32"), "joints": Feature((7,), "float32"),
                  "tip": Feature((7,), "float32"), "gripper": Feature((), "float32"),
                  "objects": Feature((k, 7), "float32"), "phase": Feature((), "int8"),
                  "cameras": Feature((rig.views, 6), "float32")}  # fmt: skip
        values = {"success": Feature((), "bool"), "seed": Feature((), "int64"), "motion": Feature((), "int8"),
                  "object_ids": Feature((k,), "int32")}  # fmt: skip
        return Schema(observation=observation, frames=frames, values=values)

    def layout(self, world: World, rng: np.random.Generator) -> None:
        """The tray's objects (as the grasp task's), then the motion from the arm's start (`plan`)."""
        self._objects.layout(world, rng)
        arm = world.arm
        start = np.array([*(arm.target - [0, 0, arm.tip_offset]), 0.0, arm.gripper])
        self.plan = plan_motion(self.config, world, start, rng)
        self._start_poses = world.object_poses()

    def success(self, world: World) -> bool:
        """grasp: the object rose 5 cm; push: it moved 3 cm across the tray; reach: the grasp point ended within
        3 cm of the path's end."""
        plan, start_poses = self.plan, self._start_poses
        if plan.motion == "reach":
            return bool(np.linalg.norm(world.arm.tip_pose()[:3] - plan.path[-1, :3]) < 0.03)
        before, after = np.asarray(start_poses[plan.target][0]), np.asarray(world.object_poses()[plan.target][0])
        if plan.motion == "grasp":
            return bool(after[2] - before[2] > 0.05)
        return bool(np.linalg.norm(after[:2] - before[:2]) > 0.03)

    def reward(self, world: World, *, attempted: bool) -> float:
        return 0.0  # no reward of its own: imitation gives one (a TCN's distance to a demonstration)

    def oracle(self, env: Any, **_: Any) -> MotionOracle:
        return MotionOracle(env)


class MotionOracle:
    """Follows the episode's plan: each action moves the grasp point to the plan's next frame."""

    def __init__(self, env: Any) -> None:
        self.env = env

    def reset(self) -> None:
        pass

    def act(self, obs: object) -> np.ndarray:
        env = self.env.unwrapped
        nxt = env.plan.path[min(env.t + 1, len(env.plan.path) - 1)]
        return env.action_toward(nxt)
