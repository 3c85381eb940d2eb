"""Branches: replay a collected episode to step t, grasp from there toward another aim, store frames 0..t
relabelled with the branch's outcome (`robolearn branch`)."""

import json

import numpy as np

from robolearn.collection.branch import final_pose, play_branch
from robolearn.collection.record import record_episode
from robolearn.data.info import open_dataset
from robolearn.envs.grasp import pose_of
from robolearn.envs.grasp_env import GraspEnv
from robolearn.envs.task import OraclePolicy, grasp_frame

TINY = {"arm": "kuka", "camera": {"width": 16, "height": 16}}


def test_a_branch_that_aims_where_the_episode_went_reproduces_its_outcome_and_pose():
    """The oracle steers toward one object's grasp frame; a branch from its last step, aimed at the same frame,
    takes the same action, so it must end in the same pose with the same outcome. A branch aimed elsewhere
    from the same step must end elsewhere."""
    env, sim = GraspEnv(TINY), GraspEnv(TINY)
    try:
        outcomes = []
        for seed in range(4):
            policy = OraclePolicy(env, rehearse=False)
            frames, values = record_episode(env, policy, seed)
            t = len(frames["action"]) - 1
            final = final_pose(frames["state"], frames["motor_command"])

            def aim(e, target=policy.target):
                centre, axis, _, _ = grasp_frame(e.world, target)
                return centre, e.world.arm.yaw_for_axis(axis)

            success, pose, first = play_branch(sim, seed, frames["action"], t, aim)
            assert success == values["success"]
            np.testing.assert_allclose(pose[:3], final[:3], atol=1e-5)
            np.testing.assert_allclose(first, frames["action"][t], atol=1e-6)
            _, elsewhere, _ = play_branch(sim, seed, frames["action"], t, lambda e: (np.array([0.5, 0.2]), 1.0))
            assert np.linalg.norm(np.subtract(elsewhere[:2], pose[:2])) > 0.01
            outcomes.append(success)
        assert any(outcomes), "no oracle grasp succeeded: the test shows nothing"
    finally:
        env.close()
        sim.close()


def test_branch_cli_stores_prefixes_of_the_source_relabelled_and_trains_with_them(tmp_path, run_cli):
    (tmp_path / "tiny.toml").write_text('arm = "kuka"\n[camera]\nwidth = 16\nheight = 16\n')
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(f'env = "{tmp_path / "tiny.toml"}"\nepisodes = 4\nworkers = 2\nseed = 3\n'
                        f'store = "{tmp_path / "ds"}"\n[policy]\nname = "oracle"\nepsilon = 0.3\ndown_bias = 0.5\n')  # fmt: skip
    assert run_cli("collect", str(campaign)).returncode == 0
    out = tmp_path / "branches"
    result = run_cli("branch", str(tmp_path / "ds"), "--store", str(out), "--branches", "2", "--workers", "2")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["source_episodes"] == 4 and summary["branches"] == 8 - 2 * summary["skipped_episodes"]

    sources = open_dataset(tmp_path / "ds")
    branches = [s.episode(k) for s in open_dataset(out) for k in range(s.n_episodes)]
    assert len(branches) == summary["branches"] > 0
    for b in branches:
        src = sources[int(b["source_shard"])].episode(int(b["source_episode"]))
        t = int(b["step"])
        assert len(b["rgb"]) == int(b["steps"]) == t + 1 <= len(src["rgb"])
        assert int(b["seed"]) == int(src["seed"])
        for key in ("rgb", "state"):
            np.testing.assert_array_equal(b[key], src[key][: t + 1])
        np.testing.assert_array_equal(b["action"][:t], src["action"][:t])
        # every frame's command points at one final pose, the branch's: p'_T = p_s + v_s
        ends = pose_of(b["state"].astype(np.float64))[:, :3] + b["motor_command"][:, :3]
        np.testing.assert_allclose(ends, np.broadcast_to(ends[0], ends.shape), atol=1e-5)
    again = run_cli("branch", str(tmp_path / "ds"), "--store", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr and len(again.stderr.splitlines()) == 1
    assert sum(s.n_episodes for s in open_dataset(out)) == len(branches)  # what was there is kept
    manifest = json.loads((out / "campaign.json").read_text())
    assert manifest["branch"]["branches"] == 2 and manifest["env_config"]["camera"]["width"] == 16

    train = tmp_path / "train.toml"
    train.write_text("steps = 4\neval_every = 4\ncheckpoint_every = 4\n[data]\nbatch_size = 8\nworkers = 0\n")
    result = run_cli(
        "train", str(train), "--store", str(tmp_path / "ds"), "--store", str(out), "--out", str(tmp_path / "run")
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_branch_bad_input_is_one_line_exit_2(tmp_path, run_cli):
    for args, message in [
        ((str(tmp_path / "nothing"), "--store", str(tmp_path / "b")), "no such dataset"),
        ((str(tmp_path), "--store", str(tmp_path / "b")), "not a zarr store"),
        ((str(tmp_path), "--store", str(tmp_path / "b"), "--branches", "0"), "greater than or equal to 1"),
    ]:
        result = run_cli("branch", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "b").exists()
