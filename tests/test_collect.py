import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from robolearn.data.info import open_shards, shard_paths

ROOT = Path(__file__).resolve().parents[1]


def write_campaign(tmp_path: Path, **kw) -> Path:
    env = tmp_path / "tiny.toml"
    env.write_text('arm = "kuka"\n[camera]\nwidth = 16\nheight = 16\n')
    cfg = {"env": str(env), "episodes": 6, "workers": 2, "seed": 3, "store": str(tmp_path / "ds")}
    cfg.update(kw)
    text = "\n".join(f"{k} = {json.dumps(v)}" for k, v in cfg.items() if k != "policy")
    text += f'\n[policy]\nname = "{cfg.get("policy", "random")}"\ndown_bias = 0.5\n'  # the [policy] table
    path = tmp_path / "campaign.toml"
    path.write_text(text + "\n")
    return path


def episodes_by_index(store_dir: Path) -> dict[int, dict]:
    """Every committed episode of a dataset by its index (shards being created are passed over)."""
    out = {}
    for store in open_shards(shard_paths(store_dir)):
        for k in range(store.n_episodes):
            ep = store.episode(k)
            assert int(ep["index"]) not in out, "an episode index is stored twice"
            out[int(ep["index"])] = ep
    return out


def collect(run_cli, campaign, *extra):
    return run_cli("collect", str(campaign), *extra, timeout=600)


def test_collect_then_resume_after_sigkill_gives_the_same_episodes(tmp_path, run_cli):
    n = 12  # enough that the kill below lands well before the end
    ref_campaign = write_campaign(tmp_path, store=str(tmp_path / "ref"), episodes=n)
    result = collect(run_cli, ref_campaign)
    assert result.returncode == 0, result.stderr
    reference = episodes_by_index(tmp_path / "ref")
    assert sorted(reference) == list(range(n))
    summary = json.loads((tmp_path / "ref" / "summary.json").read_text())
    assert summary["collected"] == n and 0 <= summary["success_rate"] <= 1

    campaign = write_campaign(tmp_path, workers=1, episodes=n)
    rng = np.random.default_rng(1)
    counts = []
    for attempt in range(3):  # kill the collector (and its worker) at a random moment, three times over
        args = ["collect", str(campaign)] + (["--resume"] if attempt else [])
        proc = subprocess.Popen([sys.executable, "-m", "robolearn.cli", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        deadline = time.time() + 120
        while time.time() < deadline and len(episodes_by_index(tmp_path / "ds")) < 2 * attempt + 1:
            time.sleep(0.1)
        time.sleep(float(rng.uniform(0.0, 0.4)))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        counts.append(len(episodes_by_index(tmp_path / "ds")))
    assert counts == sorted(counts) and 1 <= counts[0] and counts[-1] < n  # each run added some, none finished
    result = collect(run_cli, campaign, "--resume", "--workers", "2")
    assert result.returncode == 0, result.stderr
    resumed = episodes_by_index(tmp_path / "ds")
    assert sorted(resumed) == list(range(n))
    for i in range(n):
        np.testing.assert_array_equal(resumed[i]["rgb"], reference[i]["rgb"])
        np.testing.assert_array_equal(resumed[i]["motor_command"], reference[i]["motor_command"])
        assert int(resumed[i]["seed"]) == int(reference[i]["seed"])
    again = collect(run_cli, campaign, "--resume")
    assert again.returncode == 0 and "already collected" in again.stdout


@pytest.mark.parametrize(
    "setup,args,message",
    [
        ("file", [], "is a file"),
        ("exists", [], "pass --resume"),
        ("other_env", ["--resume"], "different env config: camera.width: 16 before, 24 now"),
        ("other_schema", ["--resume", "--episodes", "2"], "store schema version 99"),
        (None, ["--episodes", "0"], "--episodes: got 0"),
        (None, ["--episodes", "-3"], "--episodes: got -3"),
        ("bad_policy", [], "key 'policy.name'"),
    ],
)
def test_collect_bad_input_is_one_line_exit_2_and_keeps_data(tmp_path, run_cli, setup, args, message):
    campaign = write_campaign(tmp_path, episodes=1, workers=1)
    store = tmp_path / "ds"
    if setup == "file":
        store.write_text("not a dataset")
    if setup in ("exists", "other_env", "other_schema"):
        assert collect(run_cli, campaign).returncode == 0
    if setup == "other_env":
        (tmp_path / "tiny.toml").write_text('arm = "kuka"\n[camera]\nwidth = 24\nheight = 16\n')
    if setup == "other_schema":  # a shard written by another robolearn's schema
        group = zarr.open_group(str(shard_paths(store)[0]), mode="r+")
        group.attrs["robolearn"] = {**group.attrs["robolearn"], "schema_version": 99}
    if setup == "bad_policy":
        campaign.write_text(campaign.read_text().replace('"random"', '"greedy"'))
    result = collect(run_cli, campaign, *args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    if setup in ("exists", "other_env"):
        assert len(episodes_by_index(store)) == 1  # nothing committed was lost
    if setup == "other_schema":
        assert zarr.open_group(str(shard_paths(store)[0]), mode="r")["meta/episode_ends"].shape == (1,)


def test_resume_reads_a_store_written_before_a_config_field_existed(tmp_path, run_cli):
    """A field added to the env config since a store was written takes its default on --resume (the behaviour
    before the field), so the store continues; a value other than the default is still a different config."""
    campaign = write_campaign(tmp_path, episodes=1, workers=1)
    assert collect(run_cli, campaign).returncode == 0
    manifest_path = tmp_path / "ds" / "campaign.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["env_config"]["objects"].pop("draw") == "robolearn"  # as an older robolearn wrote it
    manifest_path.write_text(json.dumps(manifest))
    result = collect(run_cli, campaign, "--resume", "--episodes", "2")
    assert result.returncode == 0, result.stderr
    assert sorted(episodes_by_index(tmp_path / "ds")) == [0, 1]
    (tmp_path / "tiny.toml").write_text('arm = "kuka"\n[camera]\nwidth = 16\nheight = 16\n[objects]\ndraw = "original"\n')
    refused = collect(run_cli, campaign, "--resume", "--episodes", "3")
    assert refused.returncode == 2 and "objects.draw: 'robolearn' before, 'original' now" in refused.stderr


def test_info_reports_the_dataset(tmp_path, run_cli):
    campaign = write_campaign(tmp_path, episodes=4, workers=2)
    assert collect(run_cli, campaign).returncode == 0
    result = run_cli("info", str(tmp_path / "ds"), "--check")
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines() if line and not line.startswith("check"))
    assert fields["episodes"] == "4" and fields["shards"] == "2" and float(fields["compression_ratio"]) > 1
    assert "every chunk present and decoded, 4 episodes finite" in result.stdout
    missing = run_cli("info", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such dataset" in missing.stderr


def test_view_writes_video_and_contact_sheet(tmp_path, run_cli):
    campaign = write_campaign(tmp_path, episodes=3, workers=1)
    assert collect(run_cli, campaign).returncode == 0
    result = run_cli("view", str(tmp_path / "ds"), "--episode", "2", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["episode"] == 2 and info["frames"] >= 1 and "success" in info and len(info["object_ids"]) == 5
    assert (tmp_path / "episode_2.mp4").stat().st_size > 1000 and (tmp_path / "episode_2.png").stat().st_size > 500
    bad = run_cli("view", str(tmp_path / "ds"), "--episode", "3", "--out", str(tmp_path))
    assert bad.returncode == 2 and "the dataset has episodes 0-2" in bad.stderr


def test_collect_into_an_unwritable_place_is_one_line(tmp_path, run_cli):
    (tmp_path / "afile").write_text("x")
    campaign = write_campaign(tmp_path, episodes=1, workers=1, store=str(tmp_path / "afile" / "ds"))
    result = collect(run_cli, campaign)
    assert result.returncode == 2 and "cannot write there" in result.stderr and "Traceback" not in result.stderr


def test_ray_backend_collects_the_same_episodes_as_the_local_one(tmp_path, run_cli):
    pytest.importorskip("ray")  # installed with the 'ray' extra, which `make test` installs
    campaign = write_campaign(tmp_path, episodes=4, workers=2, store=str(tmp_path / "local"))
    assert collect(run_cli, campaign).returncode == 0
    result = collect(run_cli, campaign, "--backend", "ray", "--store", str(tmp_path / "ray"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["backend"] == "ray"
    a, b = episodes_by_index(tmp_path / "local"), episodes_by_index(tmp_path / "ray")
    assert sorted(a) == sorted(b) == [0, 1, 2, 3]
    for i in a:
        np.testing.assert_array_equal(a[i]["rgb"], b[i]["rgb"])
        np.testing.assert_array_equal(a[i]["motor_command"], b[i]["motor_command"])


def test_collect_into_object_storage_then_resume_and_read_back(tmp_path, run_cli, s3_options):
    url = "s3://robolearn-test/grasps"
    campaign = write_campaign(tmp_path, store=url, episodes=3)
    result = collect(run_cli, campaign)
    assert result.returncode == 0, result.stderr
    result = collect(run_cli, campaign, "--resume", "--episodes", "5", "--workers", "1")
    assert result.returncode == 0, result.stderr
    stored = episodes_by_index(url)
    assert sorted(stored) == list(range(5))
    local = write_campaign(tmp_path, store=str(tmp_path / "local"), episodes=5)
    assert collect(run_cli, local).returncode == 0
    for i, ep in episodes_by_index(tmp_path / "local").items():  # the same seeds give the same data, wherever stored
        np.testing.assert_array_equal(ep["rgb"], stored[i]["rgb"])
    info = run_cli("info", url, "--check")
    assert info.returncode == 0, info.stderr
    assert "every chunk present and decoded, 5 episodes finite" in info.stdout


def test_workers_stop_when_the_collector_is_killed(tmp_path):
    campaign = write_campaign(tmp_path, episodes=200, workers=2)
    proc = subprocess.Popen([sys.executable, "-m", "robolearn.cli", "collect", str(campaign)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(episodes_by_index(tmp_path / "ds")) < 1:
        time.sleep(0.1)
    workers = [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    assert workers, "no worker processes found"
    os.kill(proc.pid, signal.SIGKILL)  # the collector alone: its workers are orphaned
    proc.wait()
    deadline = time.time() + 60
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.2)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, "workers kept collecting after the collector died"
    assert len(episodes_by_index(tmp_path / "ds")) < 200


def test_scene_repeats_share_a_scene_but_not_the_grasp(tmp_path, run_cli):
    """repeats = 3 with the probe: episodes 0-2 and 3-5 are two scenes (same seed, same first image), each
    played three times with a different aim, so the grasp poses differ within a scene."""
    campaign = write_campaign(tmp_path, policy="probe", repeats=3, episodes=6)
    result = collect(run_cli, campaign)
    assert result.returncode == 0, result.stderr
    eps = episodes_by_index(tmp_path / "ds")
    assert sorted(eps) == list(range(6))
    for scene in ((0, 1, 2), (3, 4, 5)):
        first = [eps[i] for i in scene]
        assert len({int(e["seed"]) for e in first}) == 1
        for e in first[1:]:
            np.testing.assert_array_equal(e["rgb"][0], first[0]["rgb"][0])
        grasps = [e["state"][0, :3] + e["motor_command"][0, :3] for e in first]  # p_T = p_0 + v_0
        assert min(np.linalg.norm(a - b) for a, b in [(grasps[0], grasps[1]), (grasps[0], grasps[2]),
                                                       (grasps[1], grasps[2])]) > 1e-3  # fmt: skip
    assert int(eps[0]["seed"]) != int(eps[3]["seed"])
