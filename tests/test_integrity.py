"""Every chunk accounted for: a lost or damaged chunk (or shard) is named by `info --check`, refused by the jobs that
read data, and restored bit for bit by `info --repair`."""

import shutil

import numpy as np
import pytest

from tests.test_collect import episodes_by_index, write_campaign


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """6 episodes in 2 shards, and their contents by index."""
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("integrity")
    campaign = write_campaign(tmp, episodes=6, workers=2)
    subprocess.run([sys.executable, "-m", "robolearn.cli", "collect", str(campaign)], check=True, capture_output=True)
    return tmp / "ds", episodes_by_index(tmp / "ds")


def chunk_file(shard, key, first=True):
    files = sorted(p for p in (shard / key / "c").rglob("*") if p.is_file())
    return files[0] if first else files[-1]


def lose_chunk(ds, key):
    chunk_file(ds / "shard-000.zarr", key).unlink()


def damage_chunk(ds, key):
    f = chunk_file(ds / "shard-000.zarr", key)
    f.write_bytes(f.read_bytes()[:10])


CASES = [
    ("data/rgb", lose_chunk, "data/rgb chunk 0 (frames 0-", "is missing: episodes 0-2"),
    ("data/action", lose_chunk, "data/action chunk 0", "is missing: episodes 0-2"),
    ("meta/success", lose_chunk, "meta/success chunk 0 (entries 0-2) is missing", "episodes 0-2"),
    ("meta/episode_ends", lose_chunk, "meta/episode_ends chunk 0 (entries 0-2) is missing", "episodes 0-2"),
    ("data/rgb", damage_chunk, "data/rgb chunk 0", "is damaged: episodes 0-2"),
]


def one_line(result, fragment):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and fragment in lines[0], result.stderr[-2000:]


@pytest.mark.parametrize("key,harm,named,episodes", CASES, ids=[f"{c[1].__name__}-{c[0]}" for c in CASES])
def test_a_lost_or_damaged_chunk_is_named_refused_and_repaired(dataset, tmp_path, run_cli, key, harm, named,
                                                               episodes):  # fmt: skip
    original, reference = dataset
    ds = tmp_path / "ds"
    shutil.copytree(original, ds)
    harm(ds, key)
    check = run_cli("info", str(ds), "--check")
    assert check.returncode == 1 and "Traceback" not in check.stderr, check.stderr[-2000:]
    broken = [line for line in check.stderr.splitlines() if line.startswith("broken:")]
    assert len(broken) == 1 and "shard-000.zarr" in broken[0] and named in broken[0] and episodes in broken[0]
    if harm is lose_chunk:  # found without reading a byte of data: the jobs refuse the dataset up front
        one_line(run_cli("view", str(ds), "-o", str(tmp_path / "v")), named)
        one_line(run_cli("train", "policies/grasp_cnn.toml", "--store", str(ds), "--steps", "1", "--out",
                         str(tmp_path / "run")), named)  # fmt: skip
        assert not (tmp_path / "run").exists()
    else:  # found where it is read: one line naming the store, the array and the episodes
        one_line(run_cli("view", str(ds), "-o", str(tmp_path / "v")), "data/rgb frames")
    fixed = run_cli("info", str(ds), "--repair")
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert "repaired: " in fixed.stdout and "every chunk present and decoded" in fixed.stdout
    restored = episodes_by_index(ds)
    assert sorted(restored) == sorted(reference)
    for i, ep in reference.items():
        for k, v in ep.items():
            np.testing.assert_array_equal(restored[i][k], v)


def test_a_shard_whose_metadata_is_lost_is_named_refused_and_collected_again(dataset, tmp_path, run_cli):
    original, reference = dataset
    ds = tmp_path / "ds"
    shutil.copytree(original, ds)
    (ds / "shard-001.zarr" / "zarr.json").unlink()
    check = run_cli("info", str(ds), "--check")
    assert check.returncode == 1 and "shard-001.zarr: holds chunks but no zarr.json" in check.stderr
    one_line(run_cli("view", str(ds), "-o", str(tmp_path / "v")), "its metadata is lost")
    fixed = run_cli("info", str(ds), "--repair")
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert (ds / "shard-001.zarr.lost").is_dir()
    restored = episodes_by_index(ds)
    assert sorted(restored) == sorted(reference)
    for i, ep in reference.items():
        np.testing.assert_array_equal(restored[i]["rgb"], ep["rgb"])
        assert bool(restored[i]["success"]) == bool(ep["success"])


def test_every_chunk_is_written_even_one_of_zeros(tmp_path):
    from robolearn.data.integrity import chunk_problems
    from robolearn.data.store import EpisodeStore, Feature

    store = EpisodeStore.create(tmp_path / "s.zarr", frame_features={"x": Feature((2,), "float32")},
                                episode_features={"success": Feature((), "bool")})  # fmt: skip
    store.add_episode({"x": np.zeros((3, 2), np.float32)}, {"success": False})  # all fill values
    store = EpisodeStore.open(tmp_path / "s.zarr", "a")  # and after reopening to append
    store.add_episode({"x": np.zeros((3, 2), np.float32)}, {"success": False})
    assert chunk_problems(str(tmp_path / "s.zarr"), read=True) == []
    assert (tmp_path / "s.zarr" / "meta" / "success" / "c" / "0").is_file()
