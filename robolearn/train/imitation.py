"""Imitation from one video (Sermanet et al. 2017): a learner is rewarded for looking, through its own camera, like
a demonstration looked through another. `ImitationEnv` wraps a motion env for `robolearn train` of an rl TOML with
an `[imitation]` table.

The demonstration is one episode of a multi-view motion dataset seen from one camera (`demo_view`): its frames
alone, never its labels, feed the reward. The learner plays the same scene (the episode's seed: its objects, its
cameras), with the demonstrator's arm or the other one (`arm`), and sees it from another camera (`agent_view`).
Each step its image is embedded and compared with the demonstration's embedding:

- time-indexed (`form = "time"`, the paper's): r_t = -alpha * |e_t - d_t|^2 - beta * sqrt(gamma + |e_t - d_t|^2),
  d_t the demonstration's frame at the same time;
- goal (`form = "goal"`): r_t = -goal_scale * |e_t - d_T|, d_T the demonstration's last frame.

Embedders (`reward`): a TCN checkpoint (`tcn`), the same network untrained (`untrained`), raw 16x16 pixels
(`pixels`); and, as bounds, `true_pose` (minus the distance between the learner's grasp point and the demonstration's
at the same time, in metres: the simulator's state), `true_state` (the same, plus the wrist's yaw and the gripper's
opening at 10 cm a unit, plus every object's distance from where it was in the demonstration at that time: the
object task's bound) and `sparse` (at the end, 1 for each task that succeeded, pose and objects; else 0).

Success, measured with the simulator's state (never shown to the learner), at the episode's end:
- the pose: the grasp point ends within `success_cm` of the demonstration's last grasp point; info["pose_error_cm"]
  is the mean distance between the two paths, moment by moment;
- the objects (info["objects_success"]): every object ends within `object_cm` of where the demonstration left it
  (a lifted object lifted, a pushed one pushed there, the others left alone).
`task` chooses which of the two is_success reports.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field

from robolearn.config import Config, ConfigError
from robolearn.data.dataset import open_dataset
from robolearn.data.info import campaign_manifest
from robolearn.data.store import StoreError
from robolearn.envs import build_env
from robolearn.models.embedders import pixel_embedder, tcn_embedder

HAND_M = 0.1  # true_state: metres of reward a unit of the wrist's sin / cos yaw or the gripper's opening is worth


class ImitationConfig(Config):
    """The `[imitation]` table of an rl TOML: which demonstration, which camera, which reward."""

    demo: str = Field(description="a multi-view motion dataset holding the demonstration (collection/multiview_*)")
    episode: int = Field(0, ge=0, description="the demonstration: this episode of the dataset")
    demo_view: int = Field(0, ge=0, description="the camera the demonstration is seen from")
    agent_view: int = Field(1, ge=0, description="the learner's camera (not the demonstration's)")
    arm: Literal["kuka", "panda"] | None = Field(None, description="the learner's arm (default: the demonstrator's)")
    reward: Literal["tcn", "untrained", "pixels", "true_pose", "true_state", "sparse"] = "tcn"
    checkpoint: str | None = Field(None, description="tcn: the TCN checkpoint (untrained: its architecture)")
    form: Literal["time", "goal"] = Field("time", description="time: the paper's time-indexed reward; goal: the "
                                          "distance to the demonstration's last frame")  # fmt: skip
    alpha: float = Field(1.0, ge=0)
    beta: float = Field(1.0, ge=0)
    gamma: float = Field(1e-3, gt=0)
    goal_scale: float = Field(1.0, gt=0)
    task: Literal["pose", "objects"] = Field("pose", description="what is_success reports")
    success_cm: float = Field(3.0, gt=0, description="pose: the grasp point's last position within this of the demo's")
    object_cm: float = Field(5.0, gt=0, description="objects: each object within this of where the demo left it")


class Demonstration:
    """One episode of a multi-view motion dataset: its frames from one camera, and the labels that only the success
    test and the true-pose bound read."""

    def __init__(self, cfg: ImitationConfig) -> None:
        try:
            dataset = open_dataset(cfg.demo)
        except StoreError as exc:
            raise StoreError(f"imitation.demo: {exc} (policies/imitate_*.toml read the data of `robolearn "
                             "reproduce-tcn --out out/tcn_experiment`: run it first, or name a multi-view dataset)"
                             ) from None  # fmt: skip
        if cfg.episode >= len(dataset):
            raise ConfigError(f"imitation.episode: {cfg.episode}, and {cfg.demo} holds {len(dataset)} episodes")
        ep = dataset[cfg.episode]
        rgb = ep.get("rgb")
        if rgb is None or rgb.ndim != 5 or "tip" not in ep or "objects" not in ep:
            raise StoreError(f"{cfg.demo}: not a multi-view motion dataset (collect one with collection/multiview_*)")
        views = rgb.shape[1]
        for name, v in (("demo_view", cfg.demo_view), ("agent_view", cfg.agent_view)):
            if v >= views:
                raise ConfigError(f"imitation.{name}: view {v}, and {cfg.demo} holds views 0-{views - 1}")
        if cfg.agent_view == cfg.demo_view:
            raise ConfigError(f"imitation.agent_view = demo_view = {cfg.demo_view}: the learner must see the scene "
                              "from another camera than the demonstration's")  # fmt: skip
        manifest = campaign_manifest(cfg.demo)
        if manifest is None or manifest["env_config"].get("kind") != "motion":
            raise StoreError(f"{cfg.demo}: no campaign.json of a motion env beside it: the scene cannot be rebuilt")
        self.frames = rgb[:, cfg.demo_view]  # (T, H, W, 3): all the reward sees of it
        self.tip = ep["tip"][:, :3].astype(np.float64)
        self.objects = ep["objects"][:, :, :3].astype(np.float64)  # (T, K, 3)
        self.hand = ep["state"][:, 3:6].astype(np.float64)  # (T, 3): sin and cos of the wrist's yaw, gripper opening
        self.seed = int(ep["seed"])
        self.env_config = manifest["env_config"]


class ImitationEnv(gym.Env):
    """A motion env that plays the demonstration's scene, observed through `agent_view` alone (rgb (H, W, 3), state)
    and rewarded as `cfg` says."""

    metadata = {"render_modes": []}

    def __init__(self, cfg: ImitationConfig) -> None:
        self.cfg, self.demo = cfg, Demonstration(cfg)
        config = dict(self.demo.env_config)
        if cfg.arm is not None:
            config["arm"] = cfg.arm
        self.env = build_env(config)
        self.env.render_views = [cfg.agent_view]  # the learner's camera alone: a quarter of the rendering
        inner = self.env.observation_space
        self.observation_space = gym.spaces.Dict({"rgb": gym.spaces.Box(0, 255, inner["rgb"].shape[1:], np.uint8),
                                                  "state": inner["state"]})  # fmt: skip
        self.action_space = self.env.action_space
        self.embed = self._embedder()
        self.demo_emb = self.embed(self.demo.frames) if self.embed is not None else None
        self.path: list[np.ndarray] = []
        self.embed_s = 0.0  # seconds spent embedding the learner's images (scripts/bench_imitation.py)

    def _embedder(self):
        cfg = self.cfg
        if cfg.reward == "pixels":
            return pixel_embedder()
        if cfg.reward in ("tcn", "untrained"):
            if not cfg.checkpoint:
                raise ConfigError(f"imitation.reward = {cfg.reward} needs imitation.checkpoint (a TCN checkpoint)")
            from robolearn.models.checkpoint import read_config

            meta = read_config(cfg.checkpoint)
            if meta["model"] != "TCN":
                raise ConfigError(f"imitation.checkpoint: {cfg.checkpoint} holds a {meta['model']} model, not a TCN")
            size = meta["config"].get("image_size")
            if size is not None and size != self.demo.frames.shape[1]:
                raise ConfigError(f"imitation.checkpoint: the TCN takes {size}x{size} images, the demonstration's are "
                                  f"{self.demo.frames.shape[1]}x{self.demo.frames.shape[2]}")  # fmt: skip
            if cfg.reward == "tcn":
                return tcn_embedder(cfg.checkpoint)
            return tcn_embedder(config={**meta["config"], "pose_outputs": 0})
        return None

    def _obs(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"rgb": obs["rgb"][0], "state": obs["state"]}  # the inner env renders the agent's view alone

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=self.demo.seed)  # the demonstration's scene, every episode
        self.path = [info["labels"]["tip"][:3].astype(np.float64)]
        return self._obs(obs), info

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        tip, objects = info["labels"]["tip"][:3].astype(np.float64), info["labels"]["objects"][:, :3].astype(np.float64)
        self.path.append(tip)
        t = min(self.env.t, len(self.demo.tip) - 1)
        seen = self._obs(obs)
        end = terminated or truncated
        if end:
            info.update(self.judge(objects))
        hand = obs["state"][3:6].astype(np.float64)
        done = int(info["pose_success"]) + int(info["objects_success"]) if end else 0
        reward = self.reward(seen["rgb"], tip, hand, objects, t, done)
        return seen, reward, terminated, truncated, info

    def reward(self, rgb: np.ndarray, tip: np.ndarray, hand: np.ndarray, objects: np.ndarray, t: int,
               done: int) -> float:
        """The reward of a step that left the grasp point at `tip`, the objects at `objects` and the wrist and gripper
        at `hand` (the state's sin yaw, cos yaw, opening), seen as `rgb`, at time `t`, with `done` tasks succeeded
        (at the episode's end; else 0)."""
        cfg = self.cfg
        if cfg.reward == "sparse":
            return float(done)
        if cfg.reward in ("true_pose", "true_state"):
            k = t if cfg.form == "time" else -1
            r = -float(np.linalg.norm(tip - self.demo.tip[k]))
            if cfg.reward == "true_state":
                r -= float(np.linalg.norm(objects - self.demo.objects[k], axis=1).sum())
                r -= HAND_M * float(np.abs(hand - self.demo.hand[k]).sum())
            return r
        t0 = time.perf_counter()
        e = self.embed(rgb[None])[0]
        self.embed_s += time.perf_counter() - t0
        if cfg.form == "goal":
            return -cfg.goal_scale * float(np.linalg.norm(e - self.demo_emb[-1]))
        d2 = float(np.sum((e - self.demo_emb[t]) ** 2))
        return -cfg.alpha * d2 - cfg.beta * math.sqrt(cfg.gamma + d2)

    def judge(self, objects: np.ndarray) -> dict[str, Any]:
        """Success and errors at the episode's end, from the simulator's state."""
        path = np.asarray(self.path)
        n = min(len(path), len(self.demo.tip))
        pose_error = float(np.linalg.norm(path[:n] - self.demo.tip[:n], axis=1).mean())
        final = float(np.linalg.norm(path[-1] - self.demo.tip[-1]))
        moved = float(np.linalg.norm(objects - self.demo.objects[-1], axis=1).max())
        pose_ok, objects_ok = final * 100 <= self.cfg.success_cm, moved * 100 <= self.cfg.object_cm
        return {"pose_error_cm": 100 * pose_error, "final_error_cm": 100 * final, "object_error_cm": 100 * moved,
                "pose_success": pose_ok, "objects_success": objects_ok,
                "is_success": pose_ok if self.cfg.task == "pose" else objects_ok}  # fmt: skip

    def close(self) -> None:
        self.env.close()
