"""The closed-loop grasp servo of Levine et al. 2016 over a grasp-success scorer g(I_t, v_t).

At each step the servo searches motor commands v = (dx, dy, dz, dyaw) — the move from the current
gripper pose to the pose where the grasp will close — by the cross-entropy method (3 iterations,
64 samples, 6 elites: Levine's numbers), scores each with g, and moves toward the best v* by at
most one step's reach. Levine's heuristics, configurable: when the score of not moving, g(I_t, 0),
is at least `close_ratio` (90%) of g(I_t, v*), grasp here (descend straight down, which makes
the env close the gripper); when it is below `raise_ratio` (50%), move up as well as across.

With the height hack (KukaDiverse) the gripper descends on its own and grasps at a fixed height, so
the servo never stops early and never raises: it moves toward v* every step. Stopping "because not
moving scores within 90% of the best" cost most of the servo's grasps there, as a learned scorer's
probabilities sit close to 1 across much of the tray (docs/RESULTS.md).

Without the height hack, `descend = "full_speed"` does what the height hack does for the policy: the
gripper heads down at full speed to the env's grasp height (as the oracle does), every command ends
there, and the close and raise rules are off. On GraspPanda-v0 Levine's planned descent raised the
gripper at nearly every step, since a grasp from high up scores near 0, and never got down in 8
actions (docs/RESULTS.md).

`commit_steps = K` stops re-planning for the last K actions before the grasp: the gripper goes to the grasp pose
of the last search without looking, as the open loop does from the first image. On GraspPanda-v0 the best
command jumped 2-5 cm sideways at the 7th action, with the gripper low among the objects (docs/RESULTS.md).

Commands are sampled inside what the episode can still reach: the workspace, and `dv` metres /
`da` radians per action left before the grasp. With the height hack the grasp closes at the first
target height at or below the grasp height (`steps_to_grasp`), and every command ends there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from robolearn.config import Config
from robolearn.envs.config import EnvConfig
from robolearn.envs.grasp import actions_left, mirror, mirror_plane, motor_command, planned_drop

# A scorer maps (an observation: rgb (H,W,3) uint8, state and maybe depth (H,W), motor commands (N,5)) to success
# probabilities (N,).
Scorer = Callable[[dict, np.ndarray], np.ndarray]


class CEMConfig(Config):
    iterations: int = Field(3, ge=1, le=20)
    samples: int = Field(64, ge=2, le=4096)
    elites: int = Field(6, ge=1)
    close_ratio: float = Field(0.9, ge=0, le=1, description="grasp when g(I,0) >= close_ratio * g(I,v*)")
    raise_ratio: float = Field(0.5, ge=0, le=1, description="also move up when g(I,0) < raise_ratio * g(I,v*)")
    init_std: tuple[float, float, float, float] = Field((0.08, 0.08, 0.1, 0.5), description="dx dy dz (m), dyaw (rad)")
    descend: Literal["planned", "full_speed"] = Field(
        "planned",
        description="envs without the height hack: planned, the grasp's height is searched with x, y and yaw and the "
        "descent spread over the actions left (Levine); full_speed, descend at full speed to the env's grasp height, "
        "as the height hack and the oracle do, and search x, y and yaw there (no close or raise heuristics)",
    )
    commit_steps: int = Field(
        0,
        ge=0,
        description="for the last commit_steps actions before the grasp, stop re-planning and go to the last plan's "
        "grasp pose without looking (0: re-plan at every step, Levine; open loop commits from the first step)",
    )


def model_scorer(model, device: str = "cpu", mirror_camera: Sequence[float] | None = None) -> Scorer:
    """Score commands with a GraspCNN: the image tower runs once an image, however many batches of commands CEM
    scores against it (the latest image's feature map is kept). With `mirror_camera` (the env's world-to-clip
    matrix), the mean of the score and the score in the mirror world (`robolearn.envs.grasp.mirror`): the image
    flipped left to right, the pose and commands reflected."""
    import torch

    model = model.to(device).eval()
    flip = torch.ones(1, dtype=torch.bool)  # broadcasts over the commands
    latest: dict = {}  # "key": the image and state seen last; "views": their (feature map, state) in each world

    def views(obs: dict) -> list:
        inputs = {"rgb": torch.from_numpy(np.ascontiguousarray(obs["rgb"]))[None].to(device),
                  "state": torch.from_numpy(np.asarray(obs["state"], np.float32))[None].to(device)}  # fmt: skip
        if "depth" in obs:
            inputs["depth"] = torch.from_numpy(np.asarray(obs["depth"], np.float32))[None].to(device)
        worlds = [inputs] if mirror_camera is None else [inputs, mirror(inputs, mirror_camera, flip)]
        return [(model.features(w["rgb"], w.get("depth")), w["state"]) for w in worlds]

    @torch.no_grad()
    def score(obs: dict, commands: np.ndarray) -> np.ndarray:
        key = [np.asarray(obs[k]).tobytes() for k in ("rgb", "state", "depth") if k in obs]
        if latest.get("key") != key:
            latest.update(key=key, views=views(obs))
        c = torch.from_numpy(commands).to(device)
        p = 0
        for i, (feats, state) in enumerate(latest["views"]):
            ci = c if i == 0 else mirror({"motor_command": c}, mirror_camera, flip)["motor_command"]
            p = p + torch.sigmoid(model.score(feats.expand(len(c), -1, -1, -1), ci, state.expand(len(c), -1)))
        return (p / len(latest["views"])).float().cpu().numpy()

    return score


class CEMServo:
    """Policy: `reset()`, `act(obs)`. `scorer` gives P(success | image, command)."""

    def __init__(self, scorer: Scorer, env_config: EnvConfig, cem: CEMConfig | None = None, *,
                 open_loop: bool = False, seed: int = 0) -> None:  # fmt: skip
        self.scorer, self.env_config, self.cem = scorer, env_config, cem or CEMConfig()
        self.open_loop = open_loop
        self.rng = np.random.default_rng(seed)
        self.plan: np.ndarray | None = None  # the grasp pose [x, y, z, yaw] of the latest search
        self.last: dict[str, float] = {}

    def reset(self) -> None:
        self.plan = None

    # -- geometry --------------------------------------------------------------------------------
    def _pose(self, obs) -> tuple[np.ndarray, float, int]:
        """The gripper target's position and yaw, and the actions left before the grasp closes."""
        s = obs["state"]
        return np.asarray(s[:3], np.float64), float(np.arctan2(s[3], s[4])), int(actions_left(s, self.env_config.task))

    def _bounds(self, pos: np.ndarray, steps_left: int) -> tuple[np.ndarray, np.ndarray]:
        tc = self.env_config.task
        reach = tc.dv * steps_left
        lo = np.maximum(np.asarray(tc.workspace_low) - pos, -reach)
        hi = np.minimum(np.asarray(tc.workspace_high) - pos, reach)
        if tc.height_hack:  # the height is not the policy's: it descends dv a step
            lo[2] = hi[2] = planned_drop(pos[2], steps_left, tc)
        elif self.cem.descend == "full_speed":  # every command ends at the grasp height, or as low as it can reach
            lo[2] = hi[2] = max(tc.workspace_low[2], tc.grasp_height, pos[2] - reach) - pos[2]
        turn = tc.da * steps_left
        return np.append(lo, -turn), np.append(hi, turn)

    # -- search ----------------------------------------------------------------------------------
    def search(self, obs: dict, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, float]:
        """The best command found by CEM within [lo, hi], and its score."""
        c = self.cem
        mean = np.clip(np.zeros(4), lo, hi)
        std = np.asarray(c.init_std, np.float64)
        best_v, best_p = mean, -1.0
        for _ in range(c.iterations):
            v = np.clip(mean + std * self.rng.standard_normal((c.samples, 4)), lo, hi)
            p = self.scorer(obs, motor_command(v))
            elite = v[np.argsort(-p)[: c.elites]]
            if p.max() > best_p:
                best_p, best_v = float(p.max()), v[int(np.argmax(p))]
            mean, std = elite.mean(axis=0), elite.std(axis=0) + 1e-4
        return best_v, best_p

    def act(self, obs) -> np.ndarray:
        tc = self.env_config.task
        pos, yaw, steps_left = self._pose(obs)
        lo, hi = self._bounds(pos, steps_left)
        if self.plan is not None and (self.open_loop or steps_left <= self.cem.commit_steps):
            # committed: go to the planned grasp pose without looking (open loop: planned from the first image)
            self.last = {"decision": "commit"}
            return self._to_action(np.clip(np.append(self.plan[:3] - pos, self.plan[3] - yaw), lo, hi), steps_left)
        v, p_best = self.search(obs, lo, hi)
        self.plan = np.append(pos + v[:3], yaw + v[3])
        if self.open_loop:
            self.last = {"decision": "plan"}
            return self._to_action(v, steps_left)
        stay = np.clip(np.zeros(4), lo, hi)
        p_stay = float(self.scorer(obs, motor_command(stay[None]))[0])
        self.last = {"p_best": p_best, "p_stay": p_stay}
        # With the height hack the env, not the policy, decides when to grasp: stopping early would only
        # give up the corrections still possible (staying put is among the commands searched anyway).
        # Descending at full speed, likewise: the gripper is on its way down to the grasp height anyway.
        heuristics = not tc.height_hack and self.cem.descend == "planned"
        if p_stay >= self.cem.close_ratio * p_best and heuristics:
            self.last["decision"] = "close"
            return np.array([0.0, 0.0, -1.0, 0.0], np.float32)  # straight down: the env grasps at grasp_height
        action = self._to_action(v, steps_left)
        if p_stay < self.cem.raise_ratio * p_best and heuristics:
            self.last["decision"] = "raise"
            action[2] = 1.0
        else:
            self.last["decision"] = "move"
        return action

    def _to_action(self, v: np.ndarray, steps_left: int) -> np.ndarray:
        """One step toward the command: xy and yaw at most a step's reach; height spread over the steps left, or
        (descend = "full_speed") at most a step's reach too."""
        tc = self.env_config.task
        z_steps = steps_left if self.cem.descend == "planned" else 1
        a = np.array([v[0] / tc.dv, v[1] / tc.dv, v[2] / (tc.dv * z_steps), v[3] / tc.da])
        return np.clip(a, -1.0, 1.0).astype(np.float32)


def load_servo(checkpoint: str | Path, env_config: EnvConfig, cem: CEMConfig | None = None, *,
               open_loop: bool = False, device: str = "cpu", ensemble: Sequence[str | Path] = (),
               mirror_average: bool | None = None) -> CEMServo:  # fmt: skip
    """A servo over the GraspCNN at `checkpoint` (with `ensemble`: the mean success probability of it and those
    checkpoints' models; with `mirror_average`, each model's mean over the scene and its mirror image; None: as
    `checkpoint` was trained, with data.mirror or not); refuses a model whose image size, renderer (where the
    checkpoint records its data's), depth input or, for the spatial readout, camera is not the env's."""
    camera = None
    if mirror_average is None:
        mirror_average = trained_with_mirror(checkpoint)
    if mirror_average:
        from robolearn.config import ConfigError
        from robolearn.sim.camera import fixed_clip_matrix

        matrix = fixed_clip_matrix(env_config.camera)
        if matrix is None:
            raise ConfigError("mirror_average needs a fixed camera; this env randomizes its pose")
        camera = tuple(matrix.ravel())
        mirror_plane(camera, "mirror_average")
    scorers = [model_scorer(fitting_model(c, env_config), device, camera) for c in (checkpoint, *ensemble)]

    def mean_score(obs: dict, commands: np.ndarray) -> np.ndarray:
        return np.mean([score(obs, commands) for score in scorers], axis=0)

    return CEMServo(scorers[0] if len(scorers) == 1 else mean_score, env_config, cem, open_loop=open_loop)


def trained_with_mirror(checkpoint: str | Path) -> bool:
    """Whether the training run that wrote `checkpoint` showed the model the mirror world (data.mirror)."""
    from robolearn.models.checkpoint import read_config

    return bool(read_config(checkpoint).get("train", {}).get("data", {}).get("mirror", False))


def fitting_model(checkpoint: str | Path, env_config: EnvConfig):
    """The GraspCNN at `checkpoint`, refused (CheckpointError) where it does not fit the env."""
    from robolearn.models.checkpoint import CheckpointError, load_model

    model, meta = load_model(checkpoint, expect="GraspCNN")
    if meta.get("renderers") and env_config.renderer not in meta["renderers"]:
        raise CheckpointError(f"{checkpoint}: trained on images drawn by the {' and '.join(meta['renderers'])} renderer, "
                              f"this env draws with {env_config.renderer}, which shades differently; set renderer = "
                              f"\"{meta['renderers'][0]}\" in the env TOML")  # fmt: skip
    cam = env_config.camera
    if (model.config.image_size, model.config.image_size) != (cam.height, cam.width):
        raise CheckpointError(f"{checkpoint}: the model takes {model.config.image_size}x{model.config.image_size} "
                              f"images, the env renders {cam.width}x{cam.height}")  # fmt: skip
    if model.config.depth_input and not cam.depth:
        raise CheckpointError(f"{checkpoint}: the model takes a depth image too, and this env renders none; set "
                              "[camera] depth = true in the env TOML")  # fmt: skip
    if model.config.readout == "spatial":
        from robolearn.sim.camera import fixed_clip_matrix

        env_matrix = fixed_clip_matrix(cam)
        if env_matrix is None or not np.allclose(env_matrix.ravel(), model.config.camera, atol=1e-6):
            raise CheckpointError(f"{checkpoint}: the model reads commands out where they land in the image of the "
                                  "camera it was trained with; this env's camera differs")  # fmt: skip
    return model
