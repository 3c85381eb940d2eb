"""Multi-view motion: the env, plans shared by both arms, recording, collection into (N, V, H, W, 3) stores, view."""

import json
import subprocess
import sys

import numpy as np
import pytest

from robolearn.collection.record import record_episode
from robolearn.config import ConfigError
from robolearn.data.info import dataset_stores
from robolearn.envs import load_env_config, make_env
from robolearn.envs.motion import MOTIONS, make_motion_config, plan_motion
from robolearn.envs.motion_env import MotionEnv

# 2 views of 16 px, 8 frames at 4 frames/s: small enough for many episodes in a test
TINY = {"rig": {"views": 2, "width": 16, "height": 16}, "fps": 4.0, "duration": 2.0, "objects": {"count": 2}}


def tiny_env(arm="kuka", **over):
    return MotionEnv(make_motion_config(f"motion_{arm}", **{**TINY, **over}))


def test_an_episode_holds_every_feature_with_its_shape():
    env = tiny_env()
    frames, values = record_episode(env, env.task.oracle(env), seed=3)
    schema = env.task.features()
    assert set(frames) == set(schema.frames)
    for key, feature in schema.frames.items():
        assert frames[key].shape == (8, *feature.shape), key
        assert frames[key].dtype == np.dtype(feature.dtype), key
    assert frames["rgb"].shape == (8, 2, 16, 16, 3)
    assert set(values) == set(schema.values) and 0 <= values["motion"] < len(MOTIONS)
    assert np.all(np.diff(frames["phase"]) >= 0)  # a motion's phases come in order
    assert frames["rgb"][:, 0].std() > 0 and not np.array_equal(frames["rgb"][:, 0], frames["rgb"][:, 1])
    env.close()


def test_same_seed_same_episode_and_a_different_seed_a_different_one():
    env = tiny_env()
    a, _ = record_episode(env, env.task.oracle(env), seed=5)
    b, _ = record_episode(env, env.task.oracle(env), seed=5)
    c, _ = record_episode(env, env.task.oracle(env), seed=6)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["cameras"], c["cameras"])
    env.close()


def test_both_arms_play_the_same_path_seen_by_the_same_cameras():
    kuka, panda = tiny_env("kuka"), tiny_env("panda")
    for seed in range(3):
        fk, vk = record_episode(kuka, kuka.task.oracle(kuka), seed)
        fp, vp = record_episode(panda, panda.task.oracle(panda), seed)
        assert vk["motion"] == vp["motion"]
        np.testing.assert_allclose(kuka.plan.path, panda.plan.path, atol=0.02)  # objects settle a little differently
        np.testing.assert_array_equal(fk["cameras"], fp["cameras"])
        gap = np.linalg.norm(fk["tip"][:, :3] - fp["tip"][:, :3], axis=1)
        assert gap.mean() < 0.05, gap  # measured 2-3 cm: the arms lag their targets differently
        assert not np.array_equal(fk["rgb"], fp["rgb"])  # a different arm in the picture
    kuka.close()
    panda.close()


def test_the_oracle_follows_its_plan():
    env = tiny_env(fps=8.0, duration=4.0)
    errors = []
    for seed in range(4):
        frames, _ = record_episode(env, env.task.oracle(env), seed)
        errors.append(np.linalg.norm(frames["tip"][:, :3] - env.plan.path[:, :3], axis=1).mean())
    assert np.mean(errors) < 0.05, errors  # measured about 0.025 m on the KUKA
    env.close()


def test_plans_draw_the_same_numbers_whatever_the_motion():
    env = tiny_env()
    env.reset(seed=0)
    states = []
    for motion in MOTIONS:
        rng = np.random.default_rng(1)
        cfg = env.config.model_copy(update={"motions": [motion]})
        assert plan_motion(cfg, env.world, np.array([0.55, 0, 0.25, 0, 1]), rng).motion == motion
        states.append(rng.random())
    assert len(set(states)) == 1
    env.close()


def test_registered_ids_and_env_tomls_build_motion_envs(tmp_path):
    env = make_env("robolearn/MotionPanda-v0", rig={"views": 3, "width": 8, "height": 8})
    obs, info = env.reset(seed=0)
    assert obs["rgb"].shape == (3, 8, 8, 3) and obs in env.observation_space and "labels" in info
    env.close()
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "motion"\nfps = 1.0\nduration = 1.0\n')
    with pytest.raises(ConfigError, match="at least 2 frames"):
        load_env_config(bad)
    bad.write_text('kind = "motion"\nmotions = ["dance"]\n')
    with pytest.raises(ConfigError, match="motions"):
        load_env_config(bad)


def test_collect_resume_and_view_a_multiview_dataset(tmp_path):
    env = tmp_path / "motion.toml"
    env.write_text(
        'kind = "motion"\narm = "kuka"\nfps = 4.0\nduration = 2.0\n[rig]\nviews = 2\nwidth = 16\n'
        "height = 16\n[objects]\ncount = 2\n"
    )
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        f'env = "{env}"\nepisodes = 3\nworkers = 1\nstore = "{tmp_path / "data"}"\n[policy]\nname = "oracle"\n'
    )
    cli = [sys.executable, "-m", "robolearn.cli"]
    held_out = ["--seed", "3", "--objects", "test"]
    run = subprocess.run([*cli, "collect", str(campaign), "--episodes", "2", *held_out], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([*cli, "collect", str(campaign), "--resume"], capture_output=True, text=True)
    assert run.returncode == 2 and "objects.split: 'test' before, 'train' now" in run.stderr  # only as it began
    run = subprocess.run([*cli, "collect", str(campaign), "--resume", *held_out], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    stores = dataset_stores(tmp_path / "data")
    assert sorted(int(i) for s in stores for i in s.values("index")) == [0, 1, 2]
    from robolearn.sim.objects import TEST_IDS

    assert all(int(i) in TEST_IDS for s in stores for ids in s.values("object_ids") for i in ids)
    assert stores[0].frame_features["rgb"].shape == (2, 16, 16, 3)
    ep = stores[0].episode(0)
    assert ep["rgb"].shape == (8, 2, 16, 16, 3) and ep["cameras"].shape == (8, 2, 6)
    direct = MotionEnv(load_env_config(env, objects={"split": "test"}))  # the episode its seed makes
    frames, _ = record_episode(direct, direct.task.oracle(direct), int(ep["seed"]))
    np.testing.assert_array_equal(frames["rgb"], ep["rgb"])
    direct.close()
    run = subprocess.run([*cli, "view", str(tmp_path / "data"), "-k", "0", "-o", str(tmp_path / "view")],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1])["frames"] == 8
    import cv2

    sheet = cv2.imread(str(tmp_path / "view" / "episode_0.png"))
    assert sheet.shape[1] == 8 * 2 * 96  # 8 frames a row, each its 2 views side by side, 16 px upscaled to 96
    assert (tmp_path / "view" / "episode_0.mp4").stat().st_size > 0
