"""Tasks: what is in the scene, what counts as success, the reward, a scripted oracle, and what episodes hold.

The env (robolearn.envs.grasp_env) owns physics: arm motion and the grasp primitive. A task, handed to the env,
owns the rest (`Task`). `GraspTask` is grasping from a tray; its oracle grasps with privileged state.
"""

from __future__ import annotations

import math
import random
import weakref
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pybullet as p

from robolearn.envs import grasp
from robolearn.envs.config import EnvConfig
from robolearn.features import Feature, Schema
from robolearn.sim.objects import listing_order, object_vertices, split_ids
from robolearn.sim.world import World


def original_placements(split: str, count: int, seed: int) -> list[tuple[int, float, float, float]]:
    """(object id, x, y, yaw) of `count` objects as KukaDiverseObjectEnv draws them once `random.seed(seed)` and
    `np.random.seed(seed)` have run: three draws of numpy's for the camera's jitter (used even at zero jitter), a
    choice with replacement among the split's files in listing order, then three of Python's for each object."""
    legacy, py = np.random.RandomState(seed), random.Random(seed)
    legacy.uniform(-3, 3), legacy.uniform(-3, 3), legacy.uniform(-2, 2)
    listing = listing_order(split)
    chosen = legacy.choice(np.arange(len(listing)), count)
    block = 0.3  # its blockRandom
    out = []
    for index in chosen:
        x = 0.4 + block * py.random()
        y = block * (py.random() - 0.5)
        out.append((listing[index], x, y, np.pi / 2 + block * np.pi * py.random()))
    return out


@runtime_checkable
class Task(Protocol):
    """What an env delegates: `layout` the scene of an episode, judge `success`, give the `reward`, build an
    `oracle` policy, and declare the `features()` of its episodes (the env's observation space, the store's arrays
    and the loaders' checks all come from that one declaration)."""

    config: EnvConfig

    def features(self) -> Schema: ...

    def layout(self, world: World, rng: np.random.Generator) -> None: ...

    def success(self, world: World) -> bool: ...

    def reward(self, world: World, *, attempted: bool) -> float: ...

    def oracle(self, env: Any, **options: Any) -> Any: ...


class GraspTask:
    """Pick up any object from a tray of `objects.count` objects."""

    def __init__(self, config: EnvConfig) -> None:
        self.config = config
        oc = config.objects
        self.pool = np.asarray(oc.ids if oc.ids is not None else split_ids(oc.split), dtype=np.int64)

    def features(self) -> Schema:
        """Observations: rgb, [depth (m)], [segmentation: 0, or 1 + the object's index], state (`grasp.STATE_DIM`).
        Stored frames: those (depth as float16), the action and Levine's motor command. Values: success, seed,
        steps, the procedural ids of the tray's objects."""
        cfg = self.config
        cam, tc, ph = cfg.camera, cfg.task, cfg.physics
        image = (cam.height, cam.width)
        top = tc.workspace_high[2] + ph.grasp_lift_substeps * ph.lift_per_substep  # the lift raises the target
        observation = {"rgb": Feature((*image, 3), "uint8", 0, 255)}
        frames = {"rgb": observation["rgb"]}
        if cam.depth:
            observation["depth"] = Feature(image, "float32", 0.0, np.float32(cam.far))
            frames["depth"] = Feature(image, "float16")
        if cam.segmentation:
            observation["segmentation"] = frames["segmentation"] = Feature(image, "uint8", 0, cfg.objects.count)
        low = np.array([*tc.workspace_low, -1, -1, 0, 0], dtype=np.float32)
        high = np.array([*tc.workspace_high[:2], top, 1, 1, 1, 1], dtype=np.float32)
        observation["state"] = Feature((grasp.STATE_DIM,), "float32", low, high)
        frames |= grasp.LABEL_FEATURES
        values = {"success": Feature((), "bool"), "seed": Feature((), "int64"), "steps": Feature((), "int32"),
                  "object_ids": Feature((cfg.objects.count,), "int32")}  # fmt: skip
        return Schema(observation=observation, frames=frames, values=values)

    def layout(self, world: World, rng: np.random.Generator) -> None:
        """Drop `count` objects of the pool at random places in the tray, one after another."""
        oc = self.config.objects
        if oc.draw == "original":
            world.place_objects(original_placements(oc.split, oc.count, int(rng.integers(2**32))), oc.drop_height)
            return
        chosen = rng.choice(self.pool, oc.count, replace=len(self.pool) < oc.count)
        xy = rng.uniform(oc.spawn_low, oc.spawn_high, size=(oc.count, 2))
        yaw = rng.uniform(oc.yaw_low, oc.yaw_high, size=oc.count)
        world.place_objects(
            [(int(i), float(x), float(y), float(a)) for i, (x, y), a in zip(chosen, xy, yaw)], oc.drop_height
        )

    def success(self, world: World) -> bool:
        """True when an object's base is above `task.success_height`."""
        return bool(self.lifted(world))

    def lifted(self, world: World) -> list[int]:
        """Ids (among the 1000 procedural objects) of the objects whose base is above `task.success_height`."""
        h = self.config.task.success_height
        return [oid for oid, (pos, _) in zip(world.object_ids, world.object_poses()) if pos[2] > h]

    def reward(self, world: World, *, attempted: bool) -> float:
        """1 for a successful grasp, else 0 (sparse, as KukaDiverseObjectEnv)."""
        return float(attempted and self.success(world))

    def oracle(self, env: Any, *, rehearse: bool = True) -> OraclePolicy:
        """A scripted policy with privileged state that grasps well."""
        return OraclePolicy(env, rehearse=rehearse)


def grasp_frame(world: World, index: int) -> tuple[np.ndarray, float, float, float]:
    """Privileged grasp of object `index`: xy centre, yaw and size of its narrowest horizontal width, top height."""
    uid = world.objects[index]
    pos, orn = p.getBasePositionAndOrientation(uid, physicsClientId=world.client)
    rot = np.asarray(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
    v = object_vertices(world.object_ids[index]) @ rot.T + np.asarray(pos)
    xy = v[:, :2]
    best_yaw, best_width = 0.0, math.inf
    for yaw in np.linspace(0.0, math.pi, 24, endpoint=False):
        axis = np.array([math.cos(yaw), math.sin(yaw)])
        proj = xy @ axis
        width = proj.max() - proj.min()
        if width < best_width:
            best_yaw, best_width = yaw, width
    axis = np.array([math.cos(best_yaw), math.sin(best_yaw)])
    perp = np.array([-axis[1], axis[0]])
    pa, pp = xy @ axis, xy @ perp
    centre = axis * (pa.max() + pa.min()) / 2 + perp * (pp.max() + pp.min()) / 2
    return centre, best_yaw, best_width, float(v[:, 2].max())


# An object with a neighbour closer than CROWD_RADIUS (m) costs CROWD_WEIGHT per metre of overlap in the
# oracle's choice: the neighbour gets between the fingers (85% vs 75% on 40 layouts, 83% vs 82% on 60 others).
CROWD_RADIUS = 0.1
CROWD_WEIGHT = 5.0
DESCEND_BELOW = 0.05  # the oracle aims the end effector this far below the grasp height


class OraclePolicy:
    """Servo the gripper over an object, turn its fingers across the object's narrow side, descend.

    Reads the simulator (object poses and meshes, the arm's commanded target): a reference and a data
    collector, not a learner. The objects are ranked by a heuristic (reachable, near the gripper, no
    neighbour within reach of the fingers, narrower than the open fingers). With `rehearse`, at the
    first step the oracle rebuilds the episode's scene in a simulation of its own (the layout is a
    function of the env's RNG state at reset) and plays its grasp of each object there in turn, best
    ranked first; it goes for the first one whose rehearsal lifts an object, else the best ranked. The
    env's physics is deterministic, so a rehearsal's outcome is the episode's (tested).
    """

    def __init__(self, env: Any, *, rehearse: bool = True) -> None:
        self.env = env
        self.rehearse = rehearse
        self.target: int | None = None
        self.rehearsals = 0  # this episode's
        self.predicted: bool | None = None  # the chosen grasp's rehearsed outcome; None when not rehearsed
        self._sim: Any = None  # an env of the same kind and config as `env`, which never renders

    def reset(self) -> None:
        self.target, self.rehearsals, self.predicted = None, 0, None

    def ranking(self) -> list[int]:
        """Object indices, best first: near the gripper (the less the arm moves sideways, the faster it
        descends), inside the workspace, without a close neighbour, narrower than the open fingers."""
        world, tc = self.env.world, self.env.config.task
        lo, hi = np.asarray(tc.workspace_low[:2]), np.asarray(tc.workspace_high[:2])
        here = world.arm.target[:2]
        frames = [grasp_frame(world, i) for i in range(len(world.objects))]
        centres = np.array([f[0] for f in frames])
        scores = []
        for i, (centre, (_, _, width, _)) in enumerate(zip(centres, frames)):
            outside = np.maximum(lo - centre, 0).sum() + np.maximum(centre - hi, 0).sum()
            others = np.delete(centres, i, axis=0)
            gap = np.linalg.norm(others - centre, axis=1).min() if len(others) else 1.0
            crowding = max(0.0, CROWD_RADIUS - gap)  # a neighbour in the way of the fingers
            too_wide = width > world.arm.finger_gap - 0.005  # fingers would land on it, not around it
            scores.append(10.0 * outside + np.linalg.norm(centre - here) + CROWD_WEIGHT * crowding + 1.0 * too_wide)
        return [int(i) for i in np.argsort(scores, kind="stable")]

    def _choose(self) -> int:
        ranking = self.ranking()
        if not self.rehearse or self.env.t != 0 or self.env.layout_rng_state is None:
            return ranking[0]
        for i in ranking:
            self.rehearsals += 1
            if self.rehearsal_succeeds(i):
                self.predicted = True
                return i
        self.predicted = False
        return ranking[0]

    def rehearsal_succeeds(self, index: int) -> bool:
        """Play this episode from its start in the oracle's own simulation, going for object `index`."""
        env = self.env.unwrapped
        if self._sim is None:
            self._sim = type(env)(env.config.model_copy(update={"renderer": "tiny"}))
            weakref.finalize(self, self._sim.close)
        sim = self._sim
        sim.replay_start(env.layout_rng_state)
        ghost = OraclePolicy(sim, rehearse=False)
        ghost.target = index
        while not sim.attempted and sim.t < sim.config.task.max_steps:
            sim.advance(ghost.act(None))
        return sim.attempted and sim.task.success(sim.world)

    def aim(self) -> tuple[np.ndarray, float]:
        """Where the grasp goes: the target object's centre, and the yaw of its narrow side."""
        centre, yaw, _, _ = grasp_frame(self.env.world, self.target)
        return centre, yaw

    def act(self, obs: object) -> np.ndarray:
        if self.target is None:
            self.target = self._choose()
        centre, yaw = self.aim()
        return steer(self.env, centre, self.env.world.arm.yaw_for_axis(yaw))


def steer(env: Any, xy: np.ndarray, yaw: float) -> np.ndarray:
    """The action that moves the gripper straight toward `xy` and the arm's wrist toward `yaw` (either way
    round: the gripper is symmetric) as far as one step goes, descending at full speed: the arm lags its
    target, and the grasp must happen within max_steps; the sideways correction happens on the way down."""
    tc, arm = env.config.task, env.world.arm
    dyaw = (yaw - arm.yaw + math.pi / 2) % math.pi - math.pi / 2
    dxy = np.asarray(xy) - arm.target[:2]
    dz = 0.0 if tc.height_hack else (tc.grasp_height - DESCEND_BELOW - arm.target[2]) / tc.dv
    a = np.array([dxy[0] / tc.dv, dxy[1] / tc.dv, dz, dyaw / tc.da], dtype=np.float64)
    return np.clip(a, -1.0, 1.0).astype(np.float32)


class ProbePolicy(OraclePolicy):
    """The oracle's straight grasp, aimed at a random object and missed on purpose: the aim moves by
    a per-episode offset (normal, `aim_std` metres in x and y, `yaw_std` radians in yaw). A data
    collector whose grasps land on, beside and across objects alike, so a scorer trained on them sees
    what makes one place better than another in the same scene (collection's `repeats`)."""

    def __init__(self, env: Any, *, aim_std: float = 0.03, yaw_std: float = 0.6, seed: int | None = None) -> None:
        super().__init__(env, rehearse=False)
        self.aim_std, self.yaw_std = aim_std, yaw_std
        self.rng = np.random.default_rng(seed)
        self.offset = np.zeros(3)

    def _choose(self) -> int:
        self.offset = self.rng.normal(0.0, [self.aim_std, self.aim_std, self.yaw_std])
        return int(self.rng.integers(len(self.env.world.objects)))

    def aim(self) -> tuple[np.ndarray, float]:
        centre, yaw = super().aim()
        return centre + self.offset[:2], yaw + float(self.offset[2])
