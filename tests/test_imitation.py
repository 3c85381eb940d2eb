"""Imitation from one video: the TCN-reward wrapper's reward peaks on the demonstration and falls as the frame drifts
from it; the success tests read the simulator; the scripted replay of the demonstration succeeds and random actions
do not; the wrapped env passes gymnasium's and SB3's checkers; bad input is one line."""

import json

import numpy as np
import pytest

from robolearn.train.imitation import HAND_M, ImitationConfig, ImitationEnv
from tests.test_embedding import write_motion_store

SIZE = 36  # the smallest image SB3's CNN takes


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A dataset as `robolearn collect` leaves one: a shard and campaign.json with the env config."""
    from robolearn.envs.motion import make_motion_config

    root = tmp_path_factory.mktemp("demo") / "kuka"
    root.mkdir()
    write_motion_store(root / "shard-000.zarr", "kuka", [7, 8, 9], views=3, size=SIZE)
    config = make_motion_config("motion_kuka", rig={"views": 3, "width": SIZE, "height": SIZE}, fps=4.0, duration=3.0,
                                objects={"count": 2})  # fmt: skip (write_motion_store's)
    (root / "campaign.json").write_text(json.dumps({"campaign": {}, "env_config": config.model_dump(mode="json")}))
    return root


def test_the_reward_is_highest_on_the_demonstration_and_falls_as_the_frame_drifts(demo):
    for form in ("time", "goal"):
        env = ImitationEnv(ImitationConfig(demo=str(demo), reward="pixels", form=form))
        frames, last = env.demo.frames, len(env.demo.frames) - 1
        tip, hand, objects = env.demo.tip[0], env.demo.hand[0], env.demo.objects[0]
        if form == "time":  # the demonstration's own frame at each time, then frames 1, 2, 4 moments off
            drift = [np.mean([env.reward(frames[min(t + k, last)], tip, hand, objects, t, 0) for t in range(last + 1)])
                     for k in (0, 1, 2, 4)]  # fmt: skip
            assert drift[0] == pytest.approx(-np.sqrt(env.cfg.gamma))  # the best a frame can score
        else:  # the goal: the last frame scores best, frames further back in time less
            drift = [env.reward(frames[last - k], tip, hand, objects, last, 0) for k in (0, 2, 4, 8)]
            assert drift[0] == 0.0
        assert all(a > b for a, b in zip(drift, drift[1:])), (form, drift)
        env.close()


def test_the_true_state_reward_is_zero_on_the_demonstration_and_counts_each_part_of_the_state_off(demo):
    env = ImitationEnv(ImitationConfig(demo=str(demo), reward="true_state"))
    d, t = env.demo, 3
    assert env.reward(d.frames[t], d.tip[t], d.hand[t], d.objects[t], t, 0) == 0.0
    off = d.objects[t].copy()
    off[0, 2] += 0.1  # one object 10 cm above where the demonstration had it
    assert env.reward(d.frames[t], d.tip[t], d.hand[t], off, t, 0) == pytest.approx(-0.1)
    tip = d.tip[t] + [0.0, 0.05, 0.0]
    assert env.reward(d.frames[t], tip, d.hand[t], off, t, 0) == pytest.approx(-0.15)
    shut = d.hand[t] - [0.0, 0.0, 0.5]  # the gripper half closed where the demonstration's was not
    assert env.reward(d.frames[t], tip, shut, off, t, 0) == pytest.approx(-0.15 - 0.5 * HAND_M)
    pose = ImitationEnv(ImitationConfig(demo=str(demo), reward="true_pose"))  # the pose bound: the grasp point alone
    assert pose.reward(d.frames[t], tip, shut, off, t, 0) == pytest.approx(-0.05)
    sparse = ImitationEnv(ImitationConfig(demo=str(demo), reward="sparse"))  # one for each task done, at the end
    assert [sparse.reward(d.frames[t], tip, shut, off, t, n) for n in (0, 1, 2)] == [0.0, 1.0, 2.0]
    env.close(), pose.close(), sparse.close()


def test_replaying_the_demonstration_succeeds_and_random_actions_do_not(demo):
    env = ImitationEnv(ImitationConfig(demo=str(demo), reward="true_pose", agent_view=2, task="objects"))
    results = {}
    for name in ("replay", "random"):
        obs, _ = env.reset()
        assert obs["rgb"].shape == (SIZE, SIZE, 3)
        inner = env.env
        oracle = inner.task.oracle(inner)  # plays the planned path: the demonstration itself, seen from view 2
        rng = np.random.default_rng(0)
        done, total, info = False, 0.0, {}
        while not done:
            action = oracle.act(inner._last_obs) if name == "replay" else rng.uniform(-1, 1, 5).astype(np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
            total, done = total + reward, terminated or truncated
        results[name] = (total, info)
    (replayed, ok), (randomly, bad) = results["replay"], results["random"]
    assert ok["is_success"] and ok["pose_success"] and ok["objects_success"] and ok["pose_error_cm"] < 1.0
    assert not bad["pose_success"] and bad["pose_error_cm"] > 5 * ok["pose_error_cm"] and replayed > randomly
    env.close()


def test_the_wrapped_env_passes_the_checkers(demo):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check

    env = ImitationEnv(ImitationConfig(demo=str(demo), reward="pixels"))
    check_env(env, skip_render_check=True)
    sb3_check(env, warn=False)
    env.close()


def test_bad_imitation_settings_are_one_line(demo, tmp_path, run_cli):
    cases = {
        "agent_view = 0": "from another camera",
        "agent_view = 5": "holds views 0-2",
        'reward = "tcn"': "needs imitation.checkpoint",
        "episode = 9": "holds 3 episodes",
        f'demo = "{tmp_path / "nowhere"}"': "run it first, or name a multi-view dataset",
    }
    for line, needle in cases.items():
        toml = tmp_path / "imitate.toml"
        demo_line = "" if line.startswith("demo") else f'demo = "{demo}"\n'
        toml.write_text(f'kind = "rl"\nsteps = 8\nn_envs = 1\n[imitation]\n{demo_line}{line}\n')
        bad = run_cli("train", str(toml), "--out", str(tmp_path / "run"))
        lines = [x for x in bad.stderr.splitlines() if x.strip()]
        assert bad.returncode == 2 and len(lines) == 1 and needle in lines[0], (line, bad.stderr[-1500:])


@pytest.mark.parametrize("learner", ["sequence", "ppo"])
def test_reproduce_imitation_runs_each_reward_and_judges_the_bars(demo, tmp_path, run_cli, learner):
    """A reproduce-tcn folder in miniature (the demonstration dataset, a 30-step TCN), a few steps a reward: one
    iteration of the sequence learner, or 16 of PPO."""
    import shutil

    first = tmp_path / "tcn_first"
    shutil.copytree(demo, first / "data" / "kuka_test")
    toml = tmp_path / "tcn.toml"
    toml.write_text(f'kind = "tcn"\nsteps = 20\neval_every = 20\ncheckpoint_every = 20\n[model]\nimage_size = {SIZE}\n'
                    'channels = [8, 8]\nstrides = [2, 2]\nfc = 16\nembedding = 8\n[data]\nepisodes = 3\nwindow = 4\n'
                    "holdout = 0.0\nviews = [0, 1]\n")  # fmt: skip
    trained = run_cli("train", str(toml), "--store", str(demo), "--out", str(first / "runs" / "tcn-s0"))
    assert trained.returncode == 0, trained.stderr[-2000:]
    src = tmp_path / "tcn_experiment"  # moved since: the TCN's summary names its old place
    first.rename(src)
    out = tmp_path / "imitation"
    args = ["reproduce-imitation", "--tcn-experiment", str(src), "--seeds", "1", "--steps", "16", "--out", str(out),
            "--reward", "true_pose", "--reward", "true_state", "--reward", "tcn", "--learner", learner]  # fmt: skip
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert list(results["table"]) == ["still", "true_pose", "true_state", "tcn"]
    assert results["config"]["learner"] == learner and results["table"]["still"]["pose_success"] == 0.0
    bars = [b["bar"] for b in results["bars"]]  # the bars these rewards can judge: each task against its bound
    assert len(bars) == 2 and "pose success >= 0.8x the true_pose" in bars[0] and "objects success" in bars[1], bars
    for row in results["table"].values():
        assert row["runs"] == 1 and row["pose_error_cm"] > 0
    assert (out / "learning_curves.png").stat().st_size > 1000
    assert (out / "demo_beside_tcn_imitation.mp4").stat().st_size > 0
    again = run_cli(*args)  # a rerun keeps the finished runs
    assert again.returncode == 0 and "training" not in again.stdout
    bad = run_cli("reproduce-imitation", "--tcn-experiment", str(tmp_path / "nothing"), "--out", str(out))
    assert bad.returncode == 2 and "run `robolearn reproduce-tcn" in bad.stderr


def test_the_bars_hold_on_constructed_tables_and_a_bound_that_never_succeeded_judges_nothing():
    from robolearn.workflows.imitation import judge

    def row(pose, objects, half_pose=0.0, half_objects=0.0):
        return {"pose_success": pose, "objects_success": objects, "half_pose_success": half_pose,
                "half_objects_success": half_objects}  # fmt: skip

    table = {"true_pose": row(1.0, 0.0), "true_state": row(1.0, 1.0), "tcn": row(0.9, 0.8, 0.7, 0.5),
             "untrained": row(0.3, 0.0), "sparse": row(0.3, 0.3), "panda_tcn": row(0.5, 0.0)}  # fmt: skip
    bars = {b["bar"]: b for b in judge(table)}
    assert len(bars) == 7 and all(b["holds"] for b in bars.values()), bars
    table["tcn"] = row(0.6, 0.8, 0.2, 0.5)  # under 0.8x the bound's pose success; half budget under sparse
    failed = [b["bar"] for b in judge(table) if not b["holds"]]
    assert failed == ["TCN reward's pose success >= 0.8x the true_pose reward's",
                      "TCN reward's pose success at half the budget beats sparse success at the whole"], failed
    table["true_state"], table["tcn"] = row(1.0, 0.0), row(0.9, 0.0, 0.7, 0.0)  # neither lifts: 0 >= 0.8 x 0
    objects = next(b for b in judge(table) if "objects success >= 0.8x" in b["bar"])
    assert not objects["holds"] and "no working bound" in objects["note"]


def _sequence_config(demo, out, **kw):
    from robolearn.train.sequence import SequenceTrainConfig

    return SequenceTrainConfig.model_validate({
        "imitation": {"demo": str(demo), "reward": "true_pose"}, "learner": {"samples": 8, "elites": 2},
        "eval_every": 1, "checkpoint_every": 1, "out": str(out), **kw})  # fmt: skip


def test_the_sequence_learner_learns_the_path_from_the_true_pose_and_resumes_bit_for_bit(demo, tmp_path):
    import torch

    from robolearn.train.rl import evaluate
    from robolearn.train.sequence import ActionSequence, SequenceAgent, load_sequence, train

    iteration = 8 * 11  # samples x the horizon (12 frames: 4 fps x 3 s)
    whole = train(_sequence_config(demo, tmp_path / "whole", steps=6 * iteration), progress=False)
    curve = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in curve] == [iteration * (i + 1) for i in range(6)]
    env = ImitationEnv(ImitationConfig(demo=str(demo), reward="true_pose"))
    still = evaluate(SequenceAgent(ActionSequence(11, 5)), env, 1)["pose_error_cm"]  # before learning: no action
    env.close()
    assert curve[-1]["pose_error_cm"] < 0.6 * still, (still, [r["pose_error_cm"] for r in curve])
    # stopped after 4 iterations, then resumed to 6: the same sequence, bit for bit
    train(_sequence_config(demo, tmp_path / "split", steps=4 * iteration), progress=False)
    split = train(_sequence_config(demo, tmp_path / "split", steps=6 * iteration), resume=True, progress=False)
    assert split["resumed_from"] == 4 * iteration and split["steps"] == whole["steps"]
    a, b = load_sequence(whole["checkpoint"]), load_sequence(split["checkpoint"])
    assert torch.equal(a.mean, b.mean) and torch.equal(a.std, b.std)
    assert split["val"]["pose_error_cm"] == whole["val"]["pose_error_cm"]


def test_the_reward_to_go_weights_each_later_step_by_the_discount():
    from robolearn.train.sequence import reward_to_go

    rewards = np.array([[1.0, 2.0, 4.0], [0.0, -1.0, 3.0]])
    assert np.array_equal(reward_to_go(rewards), [[7.0, 6.0, 4.0], [2.0, 2.0, 3.0]])  # the plain sum
    assert np.allclose(reward_to_go(rewards, 0.5), [[1 + 1 + 1, 2 + 2, 4], [0 - 0.5 + 0.75, -1 + 1.5, 3]])
    assert np.array_equal(rewards, [[1.0, 2.0, 4.0], [0.0, -1.0, 3.0]])  # left as it was


def test_a_sequence_toml_with_more_elites_than_samples_is_one_line(demo, tmp_path, run_cli):
    toml = tmp_path / "seq.toml"
    toml.write_text(f'kind = "sequence"\n[learner]\nsamples = 4\nelites = 4\n[imitation]\ndemo = "{demo}"\n')
    r = run_cli("train", str(toml), "--out", str(tmp_path / "run"))
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "elites (4) must be fewer than samples (4)" in lines[0], r.stderr


def test_the_shipped_sequence_toml_validates():
    from pathlib import Path

    from robolearn.config import load_toml
    from robolearn.train import training_loop

    path = Path(__file__).resolve().parents[1] / "policies" / "imitate_sequence.toml"
    kind, config_cls, _ = training_loop(path)
    cfg = load_toml(path, config_cls)
    assert kind == "sequence" and cfg.imitation.reward == "tcn" and cfg.learner.elites < cfg.learner.samples


def test_reproduce_imitation_stopped_says_so_and_stops_its_runs(demo, tmp_path):
    """SIGTERM reaches the parent alone; it stops its training processes and exits 143 with one line (typer returns
    a KeyboardInterrupt as exit code 0 unless the CLI says otherwise)."""
    import shutil
    import signal

    from tests.test_interrupts import last_line, start, stop, wait_for

    src = tmp_path / "tcn_experiment"
    shutil.copytree(demo, src / "data" / "kuka_test")
    run = tmp_path / "imitation" / "runs" / "true_pose-s0"
    proc = start("reproduce-imitation", "--tcn-experiment", str(src), "--seeds", "1", "--steps", "1000000",
                 "--reward", "true_pose", "--out", str(tmp_path / "imitation"))  # fmt: skip
    wait_for(lambda: (run / "train_config.json").exists())
    rc, err = stop(proc, signal.SIGTERM)
    assert rc == 143 and last_line(err).startswith("interrupted: finished runs and the others' checkpoints are kept")
    assert "leaked" not in err  # the run unwound: nothing it held is left to the resource tracker
