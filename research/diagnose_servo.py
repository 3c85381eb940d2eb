"""Diagnostics for a CEM grasp servo and its scorer, with privileged knowledge of the simulator.

    # does a trained scorer know where the objects are? ROC AUC of its score for grasp targets on an
    # object (within --radius of an object's centre) against targets elsewhere, on held-out scenes
    python research/diagnose_servo.py localise --checkpoint out/grasp_cnn/best --scenes 30

    # does the servo work when its scorer does? The CEM servo over a scorer that reads object poses
    # from the simulator (high where a command ends on an object's centre, turned across its narrow side)
    python research/diagnose_servo.py privileged --episodes 40

    # where does CEM's best command land? Distance from the nearest object at the first step, and its
    # score against the best score at the objects' grasp points
    python research/diagnose_servo.py argmax --checkpoint out/grasp_cnn/best --scenes 40

    # how repeatable is CEM's best command? The first step's search run --repeats times on each scene's
    # first image: how far its optima lie from their mean, and how far apart their scores are
    python research/diagnose_servo.py repeat --checkpoint out/grasp_cnn/best --samples 64 --samples 512

    # the scorer as a chooser, without CEM: candidates are the probe's aims (each object's grasp point,
    # and 7 random offsets of it); play the best-scored one, or one at random, in each scene
    python research/diagnose_servo.py choose --checkpoint out/grasp_cnn/best --episodes 150

    # with the height hack: the servo's grasps that close an action late (the end effector not yet at the grasp
    # height when the target got there), whether the gripper touched an object then, and how they end
    python research/diagnose_servo.py late --checkpoint out/grasp_cnn/best --episodes 120

    # where the servo's grasps close: distance to the nearest object's grasp point, the yaw's error against
    # that object's narrow side, whether the object fits between the fingers; success in each bin
    python research/diagnose_servo.py aim --checkpoint out/grasp_cnn/best --episodes 80

    # the same count for the grasps of a dataset (its scenes replayed from their seeds): what the
    # successful grasps had in common, whoever made them
    python research/diagnose_servo.py outcomes --store out/probe_repeats

    # within-scene ranking on a dataset collected with repeats > 1: how often a successful grasp
    # scores above a failed one from the same first image (--steps K: at each of the first K steps)
    python research/diagnose_servo.py rank --checkpoint out/grasp_cnn/best --store out/probe_repeats
    # the same on a dataset of branches (`robolearn branch`): from one image, the source episode's grasp and its
    # branches; only the episodes training held out (--holdout, --split-seed as the training run's data settings)
    python research/diagnose_servo.py rank-branches --checkpoint out/grasp_cnn/best --store out/branches

    # from `robolearn eval` reports (a policy's runs on different seeds pooled): how many actions each episode
    # took before its grasp, and the success at each count (KukaDiverse-v0: 7 on time, 8 an action late)
    python research/diagnose_servo.py steps out/eval_a/report.json out/eval_b/report.json

All but `rank`, `rank-branches`, `outcomes` and `steps` use KukaDiverse-v0 (or --env) on held-out objects and evaluation seeds from --seed on, the
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
from robolearn.envs.grasp import motor_command  # noqa: E402
from robolearn.envs.task import grasp_frame  # noqa: E402
from robolearn.evaluation.rollout import rollout, wilson_interval  # noqa: E402
from robolearn.models.checkpoint import CheckpointError  # noqa: E402
from robolearn.policies.cem import CEMServo, load_servo, model_scorer  # noqa: E402
from robolearn.train.metrics import roc_auc  # noqa: E402


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


def argmax(args) -> None:
    env = make_env(args.env, objects={"split": "test"})
    servo = load_servo(args.checkpoint, env.config)
    far, off, p_best, p_objects = [], [], [], []
    for k in range(args.scenes):
        obs, _ = env.reset(seed=args.seed + k)
        pos, _, steps_left = servo._pose(obs)
        lo, hi = servo._bounds(pos, steps_left)
        v, p = servo.search(obs, lo, hi)
        centres = object_centres(env)
        to = pos[:2] + v[:2] - centres  # from each object's centre to where the best command lands
        far.append(np.linalg.norm(to, axis=1).min())
        off.append(to[np.argmin(np.linalg.norm(to, axis=1))])
        at = [[c[0] - pos[0], c[1] - pos[1], v[2], a] for c in centres for a in np.linspace(-1.5, 1.5, 8)]
        p_best.append(p)
        p_objects.append(servo.scorer(obs, motor_command(np.asarray(at))).max())
    env.close()
    far, p_best, p_objects = map(np.asarray, (far, p_best, p_objects))
    print(f"{args.checkpoint}, {args.scenes} held-out scenes: CEM's best lands {np.median(far) * 100:.1f} cm (median) "
          f"from the nearest object centre, within 2 cm in {np.mean(far < 0.02):.0%}; its score {np.median(p_best):.3f} "
          f"(median) against {np.median(p_objects):.3f} at the best object grasp point, higher in "
          f"{np.mean(p_best > p_objects):.0%} of scenes")  # fmt: skip
    off = np.asarray(off) * 100
    print(f"  from that centre: x {off[:, 0].mean():+.1f} cm, y {off[:, 1].mean():+.1f} cm on average (a bias), "
          f"spread {off[:, 0].std():.1f} and {off[:, 1].std():.1f} cm")  # fmt: skip


def repeat(args) -> None:
    from robolearn.policies.cem import CEMConfig

    samples_asked = args.samples or [64]
    if args.scenes < 1 or args.repeats < 2 or min(samples_asked) < 2:
        raise ConfigError(f"repeat: --scenes must be at least 1, --repeats and --samples at least 2; got "
                          f"{args.scenes}, {args.repeats}, {samples_asked}")  # fmt: skip
    env = make_env(args.env, objects={"split": "test"})
    servo = load_servo(args.checkpoint, env.config)  # the model once; each setting only changes servo.cem
    for samples in samples_asked:
        cem = servo.cem = CEMConfig(samples=samples, elites=max(1, round(samples * 6 / 64)))  # Levine's elite fraction
        spread, gap, best = [], [], []
        for k in range(args.scenes):
            obs, _ = env.reset(seed=args.seed + k)
            pos, _, steps_left = servo._pose(obs)
            lo, hi = servo._bounds(pos, steps_left)
            found = []
            for r in range(args.repeats):
                servo.rng = np.random.default_rng(r)
                found.append(servo.search(obs, lo, hi))
            xy = np.array([v[:2] for v, _ in found])
            scores = np.array([p for _, p in found])
            spread.append(np.median(np.linalg.norm(xy - xy.mean(axis=0), axis=1)))
            gap.append(np.ptp(scores))
            best.append(scores.mean())
        spread = np.asarray(spread)
        print(f"{args.checkpoint}, CEM {cem.iterations}x{samples} samples, {cem.elites} elites, {args.scenes} held-out "
              f"scenes x {args.repeats} searches: optima {np.median(spread) * 100:.1f} cm (median) from their mean in "
              f"x, y, over 2 cm in {np.mean(spread > 0.02):.0%} of scenes; best score {np.mean(best):.3f} (mean), "
              f"{np.mean(gap):.3f} between the highest and lowest search of a scene")  # fmt: skip
    env.close()


def choose(args) -> None:
    from robolearn.envs.task import ProbePolicy

    env = make_env(args.env, objects={"split": "test"})
    servo = load_servo(args.checkpoint, env.config)
    rng = np.random.default_rng(0)
    wins = {"scorer": 0, "random": 0}
    for k in range(args.episodes):
        for how in wins:
            obs, _ = env.reset(seed=args.seed + k)
            arm = env.world.arm
            pos, yaw, steps_left = servo._pose(obs)
            z = servo._bounds(pos, steps_left)[0][2]  # the height the servo assumes the grasp ends at
            aims = []  # (object, offset (dx, dy, dyaw))
            for i in range(len(env.world.objects)):
                aims += [(i, np.zeros(3))] + [(i, rng.normal(0.0, [0.03, 0.03, 0.6])) for _ in range(7)]
            if how == "random":
                pick = aims[rng.integers(len(aims))]
            else:
                v = []
                for i, off in aims:
                    centre, axis_yaw, _, _ = grasp_frame(env.world, i)
                    turn = (arm.yaw_for_axis(axis_yaw + off[2]) - yaw + math.pi / 2) % math.pi - math.pi / 2
                    v.append([centre[0] + off[0] - pos[0], centre[1] + off[1] - pos[1], z, turn])
                pick = aims[int(np.argmax(servo.scorer(obs, motor_command(np.asarray(v)))))]
            probe = ProbePolicy(env)
            probe.target, probe.offset = pick
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step(probe.act(obs))
                done = terminated or truncated
            wins[how] += bool(info["is_success"])
    env.close()
    for how, n in wins.items():
        lo, hi = wilson_interval(n, args.episodes)
        print(f"grasp chosen by {how:6s} among each scene's probe aims: {n}/{args.episodes} = {n / args.episodes:.3f} "
              f"[95% CI {lo:.3f}-{hi:.3f}]")  # fmt: skip


def late(args) -> None:
    import pybullet as p

    env = make_env(args.env, objects={"split": "test"})
    tc = env.config.task
    if not tc.height_hack:
        raise ConfigError(f"late: {args.env} has no height hack, so its grasps have no time to be late for")
    servo = load_servo(args.checkpoint, env.config)
    late_touching, late_free = [], []  # success of each late episode, by whether the gripper touched an object
    for k in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + k)
        servo.reset()
        on_time = servo._pose(obs)[2]  # the actions the servo expects before the grasp
        touching, done, info = None, False, {}
        while not done:
            obs, _, terminated, truncated, info = env.step(servo.act(obs))
            done = terminated or truncated
            if env.t == on_time and not done:
                w = env.world
                touching = any(
                    p.getContactPoints(bodyA=w.arm.uid, bodyB=o, physicsClientId=w.client) for o in w.objects
                )
        if touching is not None:
            (late_touching if touching else late_free).append(bool(info["is_success"]))
    env.close()
    n_late = len(late_touching) + len(late_free)
    print(f"{args.checkpoint}: {n_late} of {args.episodes} held-out grasps closed late", end="")
    for name, ok in (("touching an object", late_touching), ("touching none", late_free)):
        print(f"; {len(ok)} {name} when on time, {sum(ok)} of them successful", end="")
    print()


def grasp_facts(world, frames: list, x: float, y: float, yaw: float) -> dict:
    """The grasp at (x, y, yaw) against the objects' grasp `frames` (grasp_frame of each): the nearest one's
    distance, the yaw's error against its narrow side, whether it fits between the fingers, the nearest
    other object's distance from it."""
    arm = world.arm
    centres = np.array([f[0] for f in frames])
    dist = np.hypot(*(centres - [x, y]).T)
    i = int(np.argmin(dist))
    turn = (yaw - arm.yaw_for_axis(frames[i][1]) + math.pi / 2) % math.pi - math.pi / 2
    gap = np.delete(np.hypot(*(centres - centres[i]).T), i).min() if len(centres) > 1 else math.inf
    return {"dist": float(dist[i]), "yaw_err": abs(turn), "fits": frames[i][2] < arm.finger_gap - 0.005,
            "gap": float(gap)}  # fmt: skip


def print_bins(rows: list[dict]) -> None:
    print(f"  median distance {np.median([r['dist'] for r in rows]):.3f} m from the nearest object's grasp point, "
          f"median yaw error {np.median([r['yaw_err'] for r in rows]):.2f} rad against its narrow side "
          "(a random yaw: 0.79)")  # fmt: skip
    near = "near (< 2 cm) and "
    bins = [("all", lambda r: True), ("closer than 2 cm", lambda r: r["dist"] < 0.02),
            ("2-4 cm", lambda r: 0.02 <= r["dist"] < 0.04), ("4 cm or more", lambda r: r["dist"] >= 0.04),
            ("yaw off < 0.3 rad", lambda r: r["yaw_err"] < 0.3), ("yaw off 0.3-0.8", lambda r: 0.3 <= r["yaw_err"] < 0.8),
            ("yaw off >= 0.8", lambda r: r["yaw_err"] >= 0.8), ("the object fits the fingers", lambda r: r["fits"]),
            ("the object is too wide", lambda r: not r["fits"]), ("closed late", lambda r: r["late"]),
            (near + "yaw off < 0.3", lambda r: r["dist"] < 0.02 and r["yaw_err"] < 0.3),
            (near + "yaw off >= 0.8", lambda r: r["dist"] < 0.02 and r["yaw_err"] >= 0.8),
            (near + "a neighbour < 8 cm", lambda r: r["dist"] < 0.02 and r["gap"] < 0.08),
            (near + "on time", lambda r: r["dist"] < 0.02 and not r["late"]),
            (near + "late", lambda r: r["dist"] < 0.02 and r["late"])]  # fmt: skip
    for name, keep in bins:
        sel = [r["success"] for r in rows if keep(r)]
        if sel:
            print(f"  {name:36s} {len(sel):5d} grasps, {np.mean(sel):.2f} successful")


def aim(args) -> None:
    env = make_env(args.env, objects={"split": "test"})
    servo = load_servo(args.checkpoint, env.config)
    rows = []
    for k in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + k)
        servo.reset()
        done, info = False, {}
        while not done:
            frames = [grasp_frame(env.world, i) for i in range(len(env.world.objects))]  # as the grasp begins
            obs, _, terminated, truncated, info = env.step(servo.act(obs))
            done = terminated or truncated
        x, y, _, yaw = info["gripper_pose"]
        rows.append({**grasp_facts(env.world, frames, x, y, yaw), "late": env.t > env.config.task.max_steps - 1,
                     "success": bool(info["is_success"])})  # fmt: skip
    env.close()
    print(f"{args.checkpoint}, the servo's grasps in {args.episodes} held-out scenes:")
    print_bins(rows)


def outcomes(args) -> None:
    from robolearn.data.info import campaign_manifest, dataset_stores
    from robolearn.envs.config import EnvConfig
    from robolearn.envs.grasp import yaw_of
    from robolearn.envs.grasp_env import GraspEnv

    if not Path(args.store).is_dir():
        raise ConfigError(f"{args.store}: no such dataset directory")
    manifest = campaign_manifest(args.store)
    if manifest is None:
        raise ConfigError(f"{args.store}: no campaign.json, so the scenes cannot be replayed")
    env = GraspEnv(EnvConfig.model_validate(manifest["env_config"]))
    rows, frames_of = [], {}
    for store in dataset_stores(args.store):
        seeds, success, steps = store.values("seed"), store.values("success"), store.values("steps")
        # the frame columns read once, as the loader does: indexing the zarr arrays per episode decodes a chunk each time
        state, command = (store.group[f"data/{key}"][: store.n_frames] for key in ("state", "motor_command"))
        starts = np.concatenate([[0], store.episode_ends[:-1]])
        for k in range(min(store.n_episodes, args.episodes - len(rows))):
            seed = int(seeds[k])
            if seed not in frames_of:  # the scene as it lies at the first step (repeats share it)
                env.reset(seed=seed)
                frames_of[seed] = [grasp_frame(env.world, i) for i in range(len(env.world.objects))]
            s, v = state[starts[k]], command[starts[k]]  # the grasp closed at p_0 + v_0
            yaw = math.atan2(s[3], s[4]) + yaw_of(v)
            late = steps[k] > env.config.task.max_steps - 1
            rows.append({**grasp_facts(env.world, frames_of[seed], s[0] + v[0], s[1] + v[1], yaw), "late": late,
                         "success": bool(success[k])})  # fmt: skip
    env.close()
    print(f"{args.store}: {len(rows)} grasps in {len(frames_of)} scenes, against the objects as they lay at the "
          "first step:")  # fmt: skip
    print_bins(rows)


def ordered_pairs(groups) -> tuple[int, np.ndarray | float]:
    """Over groups of (score, success): the pairs of a successful and a failed grasp of one group, and how many of
    them the successful one scores above (ties count half); scores may be arrays (one per step)."""
    pairs, right = 0, 0.0
    for grasps in groups:
        for p_ok, ok in grasps:
            for p_bad, bad_ok in grasps:
                if ok and not bad_ok:
                    pairs += 1
                    right = right + (p_ok > p_bad) + 0.5 * (p_ok == p_bad)
    return pairs, right


def rank(args) -> None:
    from collections import defaultdict

    from robolearn.data.info import dataset_stores
    from robolearn.models.checkpoint import load_model

    model, _ = load_model(args.checkpoint, expect="GraspCNN")
    score = model_scorer(model)
    scenes = defaultdict(list)  # seed -> [(the executed grasp's score at steps 0..K-1, success)]
    for store in dataset_stores(args.store):
        for k in range(store.n_episodes):
            e = store.episode(k)
            if len(e["rgb"]) < args.steps:
                continue  # ended early: no frame at some step asked for
            scores = [score({"rgb": e["rgb"][t], "state": e["state"][t]}, e["motor_command"][t : t + 1])[0]
                      for t in range(args.steps)]  # fmt: skip
            scenes[int(e["seed"])].append((np.array(scores), bool(e["success"])))
    pairs, right = ordered_pairs(scenes.values())
    if not pairs:
        raise ConfigError(
            f"{args.store}: no scene with both a successful and a failed episode (collect with repeats > 1)"
        )
    for t in range(args.steps):
        print(f"{args.checkpoint}, step {t}: a successful grasp scores above a failed one of the same scene in "
              f"{right[t] / pairs:.3f} of {pairs} pairs ({len(scenes)} scenes of {args.store})")  # fmt: skip


def rank_branches(args) -> None:
    from collections import defaultdict

    from robolearn.data.grasp import select
    from robolearn.data.info import campaign_manifest, dataset_stores
    from robolearn.models.checkpoint import load_model

    model, _ = load_model(args.checkpoint, expect="GraspCNN")
    score = model_scorer(model)
    manifest = campaign_manifest(args.store)
    if manifest is None or "branch" not in manifest:
        raise ConfigError(f"{args.store}: not a dataset of branches (robolearn branch writes one)")
    sources = dataset_stores(manifest["branch"]["source"])
    stores = dataset_stores(args.store)
    images = defaultdict(list)  # (source shard, episode) -> [(score of a grasp from the branch step's image, success)]
    for store, sel in zip(stores, select(stores, holdout=args.holdout, split_seed=args.split_seed, part="holdout")):
        for k in map(int, np.flatnonzero(sel.chosen)):
            b = store.episode(k)
            key, t = (int(b["source_shard"]), int(b["source_episode"])), int(b["step"])
            if key not in images:
                src = sources[key[0]].episode(key[1])
                p = score({"rgb": src["rgb"][t], "state": src["state"][t]}, src["motor_command"][t : t + 1])[0]
                images[key].append((p, bool(src["success"])))
            p = score({"rgb": b["rgb"][t], "state": b["state"][t]}, b["motor_command"][t : t + 1])[0]
            images[key].append((p, bool(b["success"])))
    pairs, right = ordered_pairs(images.values())
    if not pairs:
        raise ConfigError(f"{args.store}: no held-out image with both a successful and a failed grasp")
    print(f"{args.checkpoint}: a successful grasp scores above a failed one from the same image in {right / pairs:.3f} "
          f"of {pairs} pairs ({len(images)} held-out images of {args.store})")  # fmt: skip


def steps(args) -> None:
    from collections import Counter

    from robolearn.evaluation.report import read_outcomes

    try:
        outcomes = read_outcomes(args.reports, pool=True)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    counts = {name: Counter((e["steps"], bool(e["success"])) for e in v) for name, v in outcomes.items()}
    actions = sorted({n for c in counts.values() for n, _ in c})
    print("| policy | episodes | " + " | ".join(f"{n} actions: share, success" for n in actions) + " |")
    print("|---" * (len(actions) + 2) + "|")
    for name, c in counts.items():
        total = sum(c.values())
        cells = []
        for n in actions:
            k = c[(n, True)] + c[(n, False)]
            cells.append(f"{k / total:.1%}, {c[(n, True)] / k:.1%}" if k else "")
        print(f"| {name} | {total} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="robolearn/KukaDiverse-v0", help="registered env id or env TOML")
    ap.add_argument("--seed", type=int, default=1_000_000, help="first evaluation seed (below 2^31)")
    sub = ap.add_subparsers(dest="what", required=True)

    def over_a_model(name: str, what: str, run, count: str, default: int) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("--checkpoint", required=True, help="GraspCNN checkpoint folder")
        cmd.add_argument(f"--{count}", type=int, default=default)
        cmd.set_defaults(run=run)
        return cmd

    loc = over_a_model("localise", "does a trained scorer know where the objects are?", localise, "scenes", 30)
    loc.add_argument("--targets", type=int, default=300, help="random grasp targets per scene")
    loc.add_argument("--radius", type=float, default=0.025, help="metres from an object's centre that count as on it")
    priv = sub.add_parser("privileged", help="the CEM servo over a scorer that reads object poses from the simulator")
    priv.add_argument("--episodes", type=int, default=40)
    priv.add_argument("--sigma", type=float, default=0.02, help="metres: how fast the score falls off an object")
    priv.set_defaults(run=privileged)
    over_a_model("argmax", "where CEM's best command lands, against the objects", argmax, "scenes", 40)
    rep = over_a_model("repeat", "how far apart repeated CEM searches from the same first image land", repeat,
                       "scenes", 40)  # fmt: skip
    rep.add_argument("--repeats", type=int, default=8, help="searches per scene, each with its own random seed")
    rep.add_argument("--samples", type=int, action="append", help="CEM samples per iteration; repeat to compare")
    over_a_model(
        "choose", "the scorer choosing among the probe's aims, against a random choice", choose, "episodes", 150
    )
    over_a_model("late", "with the height hack: grasps that close late, and why", late, "episodes", 120)
    over_a_model("aim", "where the servo's grasps close against the objects, and how that ends", aim, "episodes", 80)
    out_ = sub.add_parser("outcomes", help="what the grasps of a dataset had in common when they succeeded")
    out_.add_argument("--store", required=True, help="dataset directory (with its campaign.json)")
    out_.add_argument("--episodes", type=int, default=4000, help="at most this many in all")
    out_.set_defaults(run=outcomes)
    rnk = sub.add_parser("rank", help="within-scene ranking on a dataset collected with repeats > 1")
    rnk.add_argument("--checkpoint", required=True, help="GraspCNN checkpoint folder")
    rnk.add_argument("--store", required=True, help="dataset directory (collected with repeats > 1)")
    rnk.add_argument("--steps", type=int, default=1,
                     help="rank at each of the first K steps (the image and command the policy had then)")  # fmt: skip
    rnk.set_defaults(run=rank)
    rkb = sub.add_parser("rank-branches", help="within-image ranking on the held-out episodes of a dataset of branches")
    rkb.add_argument("--checkpoint", required=True, help="GraspCNN checkpoint folder")
    rkb.add_argument("--store", required=True, help="dataset of branches (robolearn branch)")
    rkb.add_argument("--holdout", type=float, default=0.1, help="the training run's data.holdout")
    rkb.add_argument("--split-seed", type=int, default=0, help="the training run's data.split_seed")
    rkb.set_defaults(run=rank_branches)
    stp = sub.add_parser("steps", help="from eval reports: actions before the grasp, and success at each count")
    stp.add_argument("reports", nargs="+", help="robolearn eval report.json files (a policy's runs are pooled)")
    stp.set_defaults(run=steps)
    args = ap.parse_args()
    try:
        args.run(args)
    except (ConfigError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
