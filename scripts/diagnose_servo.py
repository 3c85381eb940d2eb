"""Two diagnostics for a CEM grasp servo, with privileged knowledge of the simulator.

    # does a trained scorer know where the objects are? ROC AUC of its score for grasp targets on an
    # object (within --radius of an object's centre) against targets elsewhere, on held-out scenes
    python scripts/diagnose_servo.py localise --checkpoint out/grasp_cnn/best --scenes 30

    # does the servo work when its scorer does? The CEM servo over a scorer that reads object poses
    # from the simulator (high where a command ends on an object's centre, turned across its narrow side)
    python scripts/diagnose_servo.py privileged --episodes 40

Both use KukaDiverse-v0 (or --env) on held-out objects and evaluation seeds from --seed on, the
seeds `robolearn eval` uses by default. docs/RESULTS.md reports what they found.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robolearn.config import ConfigError  # noqa: E402
from robolearn.envs import make_env  # noqa: E402
from robolearn.envs.task import grasp_frame  # noqa: E402
from robolearn.evaluation.metrics import roc_auc  # noqa: E402
from robolearn.evaluation.rollout import rollout, wilson_interval  # noqa: E402
from robolearn.policies.cem import CEMServo, load_servo, motor_command  # noqa: E402
from robolearn.train import CheckpointError  # noqa: E402


def object_centres(env) -> np.ndarray:
    return np.array([grasp_frame(env.world, i)[0] for i in range(len(env.world.objects))])


def localise(args) -> None:
    env = make_env(args.env, objects={"split": "test"})
    score = load_servo(args.checkpoint, env.config).scorer  # refuses a model that does not fit the env
    tc = env.config.task
    rng = np.random.default_rng(0)
    scores, on_object = [], []
    for k in range(args.scenes):
        obs, _ = env.reset(seed=args.seed + k)
        pos = obs["state"][:3]
        targets = rng.uniform(tc.workspace_low[:2], tc.workspace_high[:2], size=(args.targets, 2))
        v = np.zeros((args.targets, 4))
        v[:, :2] = targets - pos[None, :2]
        v[:, 2] = tc.grasp_height - pos[2]  # a grasp at the env's grasp height
        v[:, 3] = rng.uniform(-1.0, 1.0, args.targets)
        dist = np.linalg.norm(targets[:, None] - object_centres(env)[None], axis=2).min(axis=1)
        scores.append(score(obs, motor_command(v)))
        on_object.append(dist < args.radius)
    s, y = np.concatenate(scores), np.concatenate(on_object)
    env.close()
    print(f"{args.checkpoint}: {y.mean():.1%} of {len(y)} targets on an object; "
          f"on-object vs elsewhere ROC AUC {roc_auc(s, y):.3f} (0.5: the score ignores where objects are)")  # fmt: skip


def privileged(args) -> None:
    env = make_env(args.env, objects={"split": "test"})

    def scorer(obs: dict, commands: np.ndarray) -> np.ndarray:
        s = obs["state"]
        targets = s[None, :2] + commands[:, :2]
        yaw = math.atan2(s[3], s[4]) + np.arctan2(commands[:, 3], commands[:, 4])
        best = np.zeros(len(commands))
        for i in range(len(env.world.objects)):
            centre, axis_yaw, width, _ = grasp_frame(env.world, i)
            near = np.exp(-((np.linalg.norm(targets - centre[None], axis=1) / args.sigma) ** 2))
            turn = (yaw - env.world.arm.yaw_for_axis(axis_yaw) + math.pi / 2) % math.pi - math.pi / 2
            fits = 1.0 if width < env.world.arm.finger_gap - 0.005 else 0.3
            best = np.maximum(best, near * (0.5 + 0.5 * np.cos(2 * turn)) * fits)
        return 0.05 + 0.9 * best

    servo = CEMServo(scorer, env.config)
    report = rollout(env, servo, range(args.seed, args.seed + args.episodes), progress=True, desc="privileged")
    env.close()
    lo, hi = wilson_interval(report.successes, report.n)
    print(f"CEM servo over a privileged scorer: success {report.successes / report.n:.3f} [95% CI {lo:.3f}-{hi:.3f}] "
          f"over {report.n} held-out scenes")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="robolearn/KukaDiverse-v0", help="registered env id or env TOML")
    ap.add_argument("--seed", type=int, default=1_000_000, help="first evaluation seed (below 2^31)")
    sub = ap.add_subparsers(dest="what", required=True)
    loc = sub.add_parser("localise", help="does a trained scorer know where the objects are?")
    loc.add_argument("--checkpoint", required=True, help="GraspCNN checkpoint folder")
    loc.add_argument("--scenes", type=int, default=30)
    loc.add_argument("--targets", type=int, default=300, help="random grasp targets per scene")
    loc.add_argument("--radius", type=float, default=0.025, help="metres from an object's centre that count as on it")
    priv = sub.add_parser("privileged", help="the CEM servo over a scorer that reads object poses from the simulator")
    priv.add_argument("--episodes", type=int, default=40)
    priv.add_argument("--sigma", type=float, default=0.02, help="metres: how fast the score falls off an object")
    args = ap.parse_args()
    try:
        (localise if args.what == "localise" else privileged)(args)
    except (ConfigError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
