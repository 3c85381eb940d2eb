"""KukaDiverse-v1 against pybullet_envs' own KukaDiverseObjectEnv: the same seeds and actions give the same episodes."""

import multiprocessing as mp
import queue as queue_module
import sys

import numpy as np
import pytest

from robolearn.envs import ORIGINAL_ID, make_env

# With these actions: grasps that lift an object, grasps that do not, and no grasp (test objects); a grasp of the
# training objects, whose files the original lists in another order
SEEDS = {"test": [0, 1, 2, 3], "train": [1]}


def play(spec: str, seeds, split: str = "test") -> list[dict]:
    """Each seed's episode under actions drawn from its own generator: every image, state, pose and outcome."""
    env = make_env(spec, objects={"split": split})
    episodes = []
    for seed in seeds:
        actions = np.random.default_rng(1000 + seed)
        substeps = env.world.substeps
        obs, info = env.reset(seed=seed)
        ep = {"object_ids": info["object_ids"], "rgb": [obs["rgb"]], "state": [obs["state"]], "pose": []}
        done = False
        while not done:
            obs, reward, terminated, truncated, step = env.step(actions.uniform(-1, 1, 4))
            ep["rgb"].append(obs["rgb"])
            ep["state"].append(obs["state"])
            ep["pose"].append(step["gripper_pose"])
            done = terminated or truncated
        poses = env.object_poses() if hasattr(env, "object_poses") else env.world.object_poses()
        ep.update(reward=reward, terminated=terminated, success=step["is_success"], lifted=step["lifted_object_ids"],
                  substeps=env.world.substeps - substeps,
                  objects=np.array([[*pos, *orn] for pos, orn in poses]))  # fmt: skip
        episodes.append({k: np.asarray(v) if k in ("rgb", "state", "pose") else v for k, v in ep.items()})
    env.close()
    return episodes


def _play_original(queue) -> None:
    queue.put({split: play(ORIGINAL_ID, seeds, split) for split, seeds in SEEDS.items()})


def original_episodes() -> dict[str, list[dict]]:
    """`play` in a process of its own: the original drives pybullet's default client, so it must connect first."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_play_original, args=(queue,))
    proc.start()
    while True:
        try:
            out = queue.get(timeout=2)
            break
        except queue_module.Empty:
            assert proc.is_alive(), f"the original's process ended with exit code {proc.exitcode}"
    proc.join()
    return out


def test_v1_plays_the_original_episode_for_episode():
    pytest.importorskip("gym", reason="the 'original' extra (make install has it)")
    original = original_episodes()
    replica = {split: play("robolearn/KukaDiverse-v1", seeds, split) for split, seeds in SEEDS.items()}
    pairs = [(f"{split} seed {seed}", a, b) for split, seeds in SEEDS.items()
             for seed, a, b in zip(seeds, original[split], replica[split])]  # fmt: skip
    for seed, a, b in pairs:
        assert a["object_ids"] == b["object_ids"], seed
        assert a["rgb"].shape == b["rgb"].shape and (a["rgb"] == b["rgb"]).all(), f"seed {seed}: images differ"
        np.testing.assert_array_equal(a["state"], b["state"], err_msg=f"seed {seed}")
        np.testing.assert_array_equal(a["pose"], b["pose"], err_msg=f"seed {seed}")
        np.testing.assert_array_equal(a["objects"], b["objects"], err_msg=f"seed {seed}")
        assert (a["reward"], a["terminated"], a["success"], a["lifted"]) == \
            (b["reward"], b["terminated"], b["success"], b["lifted"]), seed  # fmt: skip
    outcomes = {(len(a["pose"]), bool(a["terminated"]), bool(a["success"])) for _, a, _ in pairs}
    assert {(7, True, True), (7, True, False), (8, False, False)} <= outcomes, outcomes  # each kind of episode tried


def test_the_original_without_its_extra_is_one_line(run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "gym", None)  # as if gym were not installed
    r = run_cli("eval", "--env", ORIGINAL_ID, "--policy", "random", "-n", "1")
    assert r.returncode == 2 and "'original' extra" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli("eval", "--env", "robolearn/KukaDiverse-v1", "--policy", "random", "-n", "1")
    assert r.returncode == 0, r.stderr  # the replica needs nothing more


def test_the_original_is_for_evaluation_only(run_cli, tmp_path):
    campaign = tmp_path / "c.toml"
    campaign.write_text(f'env = "{ORIGINAL_ID}"\nepisodes = 2\nstore = "{tmp_path / "data"}"\n[policy]\nname = "random"\n')
    r = run_cli("collect", str(campaign))
    assert r.returncode == 2 and "collect in robolearn/KukaDiverse-v1" in r.stderr and not (tmp_path / "data").exists()
    r = run_cli("eval", "--env", ORIGINAL_ID, "--policy", "oracle", "-n", "1", subprocess=True)  # first connection
    assert r.returncode == 2 and "reads robolearn's simulator state" in r.stderr, r.stderr


def test_the_fast_mode_plays_v1s_episodes_and_cuts_only_a_decided_lift():
    """KukaDiverseFast-v1 keeps the lift's exit alone: every frame before the grasp, and every outcome, as v1's."""
    seeds = SEEDS["test"][:2]  # a grasp that lifts an object, one that does not
    exact, fast = play("robolearn/KukaDiverse-v1", seeds), play("robolearn/KukaDiverseFast-v1", seeds)
    for seed, a, b in zip(seeds, exact, fast):
        np.testing.assert_array_equal(a["rgb"][:-1], b["rgb"][:-1], err_msg=f"seed {seed}")
        np.testing.assert_array_equal(a["pose"], b["pose"], err_msg=f"seed {seed}")
        assert (a["success"], a["lifted"]) == (b["success"], b["lifted"]), seed
    assert [e["success"] for e in exact] == [True, False]
    assert fast[0]["substeps"] == exact[0]["substeps"] and fast[1]["substeps"] < exact[1]["substeps"]  # the cut
