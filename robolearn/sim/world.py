"""A pybullet world per instance: its own DIRECT client, a table with a tray, an arm, objects, a camera.

Never touches pybullet's module-global default client: every call names `self.client`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Literal

import numpy as np
import pybullet as p
from pydantic import Field

from robolearn.config import Config
from robolearn.sim.arms import ARMS, DATA, ArmName, IKName
from robolearn.sim.camera import CameraConfig, CameraPose, depth_to_metres, load_renderer
from robolearn.sim.objects import object_urdf

TRAY_POS = (0.64, 0.075, -0.19)
TRAY_ORN = (0.0, 0.0, 1.0, 0.0)


class PhysicsConfig(Config):
    """Simulation settings. Defaults: KukaDiverseObjectEnv's physics (time step, solver, gains,
    substeps per action, grasp schedule) with substeps cut where that leaves success rates as they
    were (docs/BENCHMARKS.md lists each cut and compares the two).

    `PhysicsConfig.faithful()` runs every substep of the original schedule instead.
    """

    time_step: float = Field(1.0 / 240.0, gt=0, le=0.05)
    solver_iterations: int = Field(150, ge=1, le=1000)
    solver_residual: float = Field(
        0.0, ge=0, description="the solver stops iterating once its residual is below this (0: pybullet's 1e-7)"
    )
    action_substeps: int = Field(80, ge=1, description="substeps per action (motion of the arm)")
    free_space_stride: int = Field(
        2,
        ge=1,
        le=8,
        description="substeps merged into one (time step x stride) while the gripper cannot touch anything",
    )
    settle_substeps: int = Field(500, ge=0, description="at most this many substeps for each dropped object to settle")
    grasp_close_substeps: int = Field(500, ge=1)
    grasp_lift_substeps: int = Field(500, ge=1)
    lift_per_substep: float = Field(0.001, gt=0, description="metres the end-effector target rises per lift substep")
    early_exit: bool | Literal["lift"] = Field(
        True,
        description="stop settling once objects rest, closing once nothing moves, lifting once the gripper "
        "holds nothing and is clear of every object; 'lift': that last exit alone, which cannot change an outcome "
        "(an object rises only if the gripper holds it)",
    )
    sleeping: bool = Field(True, description="resting objects sleep (Bullet deactivation) until something touches them")
    scene: Literal["robolearn", "original"] = Field(
        "robolearn",
        description="robolearn: plane, table and tray as maximal-coordinate bodies, which the multibody solver does not "
        "carry; original: KukaDiverseObjectEnv's scene, body for body in its order (plane, table, arm, tray, one "
        "substep), at pybullet's default engine settings",
    )

    @classmethod
    def faithful(cls) -> PhysicsConfig:
        """Every substep of KukaDiverseObjectEnv's schedule, no shortcuts."""
        return cls(free_space_stride=1, early_exit=False, sleeping=False)

    @classmethod
    def original(cls) -> PhysicsConfig:
        """KukaDiverseObjectEnv's physics exactly: its schedule and its scene."""
        return cls(free_space_stride=1, early_exit=False, sleeping=False, scene="original")


class World:
    """Physics client, static scene, one arm, the objects of the current episode, and timing counters."""

    def __init__(self, *, arm: ArmName, physics: PhysicsConfig, renderer: str = "tiny", ik: IKName = "null_space") -> None:
        self.physics = physics
        self.arm_name, self.ik = arm, ik
        self.client = p.connect(p.DIRECT)
        self.renderer = load_renderer(renderer, self.client)
        self.timers: dict[str, float] = defaultdict(float)
        self.substeps = 0
        self.reset()

    def reset(self) -> None:
        """Rebuild the scene from nothing: table, tray and arm at home, no objects.

        A fresh simulation each episode makes an episode depend on its seed only: restoring a
        saved state leaves solver and contact caches behind that differ with what ran before.
        """
        t = time.perf_counter()
        c, physics = self.client, self.physics
        p.resetSimulation(physicsClientId=c)
        if physics.scene == "original":  # pybullet's defaults otherwise, as the original leaves them
            p.setPhysicsEngineParameter(numSolverIterations=physics.solver_iterations, physicsClientId=c)
        else:
            p.setPhysicsEngineParameter(
                numSolverIterations=physics.solver_iterations,
                solverResidualThreshold=physics.solver_residual or 1e-7,
                deterministicOverlappingPairs=1,
                physicsClientId=c,
            )
        p.setTimeStep(physics.time_step, physicsClientId=c)
        p.setGravity(0, 0, -10, physicsClientId=c)
        # robolearn's scene: static bodies as maximal-coordinate rigid bodies, the same geometry, but not fixed-base
        # multibodies that the multibody solver would carry through every substep.
        maximal = physics.scene != "original"
        p.loadURDF(str(DATA / "plane.urdf"), [0, 0, -1], useMaximalCoordinates=maximal, physicsClientId=c)
        p.loadURDF(str(DATA / "table" / "table.urdf"), [0.5, 0.0, -0.82], useMaximalCoordinates=maximal, physicsClientId=c)

        def tray() -> int:
            return p.loadURDF(str(DATA / "tray" / "tray.urdf"), TRAY_POS, TRAY_ORN, useMaximalCoordinates=maximal,
                              physicsClientId=c)  # fmt: skip

        if maximal:
            self.tray = tray()
        self.arm = ARMS[self.arm_name](client=c, ik=self.ik)
        self.arm.reset()
        if not maximal:
            self.tray = tray()
            p.stepSimulation(physicsClientId=c)
            self.substeps += 1
        self.objects: list[int] = []  # pybullet body ids of the objects in the tray
        self.object_ids: list[int] = []  # their ids among the 1000 procedural objects
        self._touched = False  # the gripper may have touched something since the objects were placed
        self.timers["physics"] += time.perf_counter() - t

    def close(self) -> None:
        if self.client >= 0:
            p.disconnect(self.client)
            self.client = -1

    # -- physics -----------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        t = time.perf_counter()
        for _ in range(n):
            p.stepSimulation(physicsClientId=self.client)
        self.substeps += n
        self.timers["physics"] += time.perf_counter() - t

    def place_objects(self, placements: list[tuple[int, float, float, float]], drop_height: float) -> None:
        """Drop objects (object_id, x, y, yaw) one after another from `drop_height` into the tray.

        Each settles alone for up to `settle_substeps` (KukaDiverseObjectEnv), less with
        `early_exit` once it rests; with `sleeping`, the objects then sleep until touched.
        """
        ph, c = self.physics, self.client
        self._touched = False
        for object_id, x, y, yaw in placements:
            t = time.perf_counter()
            orn = p.getQuaternionFromEuler([0, 0, yaw])
            uid = p.loadURDF(object_urdf(object_id), (x, y, drop_height), orn, physicsClientId=c)
            self.objects.append(uid)
            self.object_ids.append(object_id)
            self.timers["physics"] += time.perf_counter() - t
            for i in range(ph.settle_substeps):
                self.step()
                if ph.early_exit is True and i >= 60 and i % 10 == 0 and self.at_rest(uid):
                    break
        if ph.sleeping:
            for uid in self.objects:
                p.changeDynamics(uid, -1, activationState=p.ACTIVATION_STATE_ENABLE_SLEEPING, physicsClientId=c)
                p.changeDynamics(uid, -1, activationState=p.ACTIVATION_STATE_SLEEP, physicsClientId=c)

    def move_arm(self, n: int) -> None:
        """`n` substeps of arm motion, merged `free_space_stride` at a time while nothing can be touched.

        Free space: the wrist and gripper, grown by a margin, overlap no other body's bounding box,
        and have not since the objects were placed (a touched object may still be moving).
        """
        stride, dt = self.physics.free_space_stride, self.physics.time_step
        done = 0
        while done < n:
            k = min(stride, n - done)
            if k > 1 and not self._touched and self._gripper_free():
                p.setTimeStep(k * dt, physicsClientId=self.client)
                self.step()
                p.setTimeStep(dt, physicsClientId=self.client)
                self.substeps += k - 1
            else:
                self._touched = True
                k = 1
                self.step()
            done += k

    def _wrist_overlaps(self, margin: float) -> set[int]:
        """Bodies whose bounding boxes overlap the wrist and gripper's, grown by `margin`."""
        arm, c = self.arm, self.client
        boxes = [p.getAABB(arm.uid, link, physicsClientId=c) for link in arm.wrist_links]
        lo = np.min([b[0] for b in boxes], axis=0) - margin
        hi = np.max([b[1] for b in boxes], axis=0) + margin
        hits = p.getOverlappingObjects(lo.tolist(), hi.tolist(), physicsClientId=c) or ()
        return {uid for uid, _ in hits} - {arm.uid}

    def _gripper_free(self, margin: float = 0.03) -> bool:
        return not self._wrist_overlaps(margin)

    def gripper_clear_of_objects(self, margin: float = 0.01) -> bool:
        """True when no object's bounding box comes within `margin` of the wrist and gripper's."""
        return not (self._wrist_overlaps(margin) & set(self.objects))

    def at_rest(self, uid: int, *, linear: float = 1e-2, angular: float = 0.1) -> bool:
        lin, ang = p.getBaseVelocity(uid, physicsClientId=self.client)
        return max(map(abs, lin)) < linear and max(map(abs, ang)) < angular

    def object_poses(self) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
        return [p.getBasePositionAndOrientation(uid, physicsClientId=self.client) for uid in self.objects]

    def held_objects(self) -> list[int]:
        """Objects in contact with a gripper link."""
        held = []
        for uid in self.objects:
            contacts = p.getContactPoints(self.arm.uid, uid, physicsClientId=self.client)
            if any(c[3] in self.arm.gripper_links for c in contacts):
                held.append(uid)
        return held

    # -- rendering ---------------------------------------------------------------------------
    def render(self, cfg: CameraConfig, pose: CameraPose) -> dict[str, np.ndarray]:
        """rgb (H,W,3) uint8, and depth (H,W) float32 metres / segmentation (H,W) int32 when `cfg` asks."""
        t = time.perf_counter()
        c = self.client
        flags = 0 if cfg.segmentation else p.ER_NO_SEGMENTATION_MASK
        _, _, rgba, zbuf, seg = p.getCameraImage(cfg.width, cfg.height, pose.view, pose.proj, renderer=self.renderer,
                                                 flags=flags, physicsClientId=c)  # fmt: skip
        out = {"rgb": np.asarray(rgba, dtype=np.uint8).reshape(cfg.height, cfg.width, 4)[..., :3].copy()}
        if cfg.depth:
            z = np.asarray(zbuf, dtype=np.float64).reshape(cfg.height, cfg.width)
            out["depth"] = depth_to_metres(z, cfg.near, cfg.far).astype(np.float32)
        if cfg.segmentation:
            out["segmentation"] = np.asarray(seg, dtype=np.int32).reshape(cfg.height, cfg.width)
        self.timers["render"] += time.perf_counter() - t
        return out
