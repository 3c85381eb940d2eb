"""Benchmark env steps per second of imitation from one video, per core; writes a section of docs/BENCHMARKS.md.

A demonstration recorded here (one KUKA oracle episode of robolearn/MotionKuka-v0: 64 px, 4 cameras, 32 moments) and
a TCN of the CPU preset (untrained: the same arithmetic as a trained one) are the inputs. ImitationEnv then plays
`--episodes` episodes of random actions in the demonstration's scene, in this process on one thread, as one env
worker of `robolearn train` does, once per reward. Reported: env steps per second and where the time goes: physics,
rendering the learner's camera (TinyRenderer, CPU), embedding its image, the rest.

    python scripts/bench_imitation.py [--episodes 4]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from benchdoc import publish  # noqa: E402

from robolearn.collection.record import record_episode  # noqa: E402
from robolearn.data.store import EpisodeStore  # noqa: E402
from robolearn.envs.motion import make_motion_config  # noqa: E402
from robolearn.envs.motion_env import MotionEnv  # noqa: E402
from robolearn.models import checkpoint  # noqa: E402
from robolearn.models.tcn import TCN, TCNConfig  # noqa: E402
from robolearn.train.imitation import ImitationConfig, ImitationEnv  # noqa: E402


def inputs(tmp: Path) -> tuple[Path, Path]:
    config = make_motion_config("motion_kuka")
    env = MotionEnv(config)
    schema = env.task.features()
    demo = tmp / "demo"
    demo.mkdir()
    store = EpisodeStore.create(demo / "shard-000.zarr", frame_features=schema.frames, episode_features=schema.values)
    store.add_episode(*record_episode(env, env.task.oracle(env), 3))
    env.close()
    (demo / "campaign.json").write_text(json.dumps({"campaign": {}, "env_config": config.model_dump(mode="json")}))
    tcn_cfg = TCNConfig.preset("cpu", image_size=config.rig.width)
    ck = checkpoint.save(tmp / "tcn", model=TCN(tcn_cfg), model_name="TCN", model_config=tcn_cfg.model_dump(), step=0)
    return demo, ck


def measure(demo: Path, ck: Path, reward: str, episodes: int) -> dict:
    env = ImitationEnv(ImitationConfig(demo=str(demo), reward=reward, checkpoint=str(ck)))
    rng = np.random.default_rng(0)
    env.reset()
    env.env.world.timers.clear()
    env.embed_s, steps, t = 0.0, 0, time.perf_counter()
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 5).astype(np.float32))
            steps, done = steps + 1, terminated or truncated
    total = time.perf_counter() - t
    timers = env.env.world.timers
    env.close()
    return {"reward": reward, "steps_per_s": steps / total, "physics": timers["physics"] / total,
            "render": timers["render"] / total, "embed": env.embed_s / total}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=4, help="episodes per reward")
    ap.add_argument("--no-write", action="store_true", help="print the section without writing docs/BENCHMARKS.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        demo, ck = inputs(Path(tmp))
        rows = [measure(demo, ck, reward, args.episodes) for reward in ("tcn", "pixels", "true_pose")]
    cmd = " ".join(["python scripts/bench_imitation.py", *sys.argv[1:]])
    lines = [
        f"## Imitation env steps, one core (`{cmd}`, {time.strftime('%Y-%m-%d')})",
        "",
        f"{platform.machine()}, one process, one torch thread, TinyRenderer (CPU), torch {torch.__version__}. "
        f"{args.episodes} episodes of random actions per row in the scene of a KUKA demonstration of "
        "robolearn/MotionKuka-v0 (64 px, 31 steps an episode); the learner's camera alone is rendered. The TCN is the "
        "CPU preset (64 px).",
        "",
        "| reward | env steps/s | physics | rendering | embedding | other |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        other = 1 - r["physics"] - r["render"] - r["embed"]
        lines.append(f"| {r['reward']} | {r['steps_per_s']:.1f} | {r['physics']:.0%} | {r['render']:.0%} | "
                     f"{r['embed']:.0%} | {other:.0%} |")  # fmt: skip
    publish("\n".join(lines) + "\n", write=not args.no_write)


if __name__ == "__main__":
    main()
