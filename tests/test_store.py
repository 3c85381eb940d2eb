import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from robolearn.data import SCHEMA_VERSION, EpisodeStore, Feature, StoreError

FRAMES = {"rgb": Feature((8, 8, 3), "uint8"), "state": Feature((7,), "float32")}
VALUES = {"success": Feature((), "bool"), "seed": Feature((), "int64"), "object_ids": Feature((5,), "int32")}


def make_episode(k: int) -> tuple[dict, dict]:
    """Episode k's content depends on k alone, so any store can be checked against it."""
    rng = np.random.default_rng(k)
    t = 2 + k % 4
    frames = {
        "rgb": rng.integers(0, 256, (t, 8, 8, 3), dtype=np.uint8),
        "state": rng.normal(size=(t, 7)).astype(np.float32),
    }
    values = {"success": bool(k % 3 == 0), "seed": 1000 + k, "object_ids": np.arange(5, dtype=np.int32) * 10 + k}
    return frames, values


def assert_episode(store: EpisodeStore, k: int) -> None:
    frames, values = make_episode(k)
    got = store.episode(k)
    np.testing.assert_array_equal(got["rgb"], frames["rgb"])
    np.testing.assert_array_equal(got["state"], frames["state"])
    assert bool(got["success"]) == values["success"] and int(got["seed"]) == values["seed"]
    np.testing.assert_array_equal(got["object_ids"], values["object_ids"])


def test_round_trip_and_layout(tmp_path):
    path = tmp_path / "s.zarr"
    store = EpisodeStore.create(path, frame_features=FRAMES, episode_features=VALUES, attrs={"env": "kuka"})
    for k in range(5):
        assert store.add_episode(*make_episode(k)) == k
    again = EpisodeStore.open(path)
    assert again.n_episodes == 5 and again.n_frames == sum(2 + k % 4 for k in range(5))
    assert list(np.diff(np.r_[0, again.episode_ends])) == [2 + k % 4 for k in range(5)]
    for k in range(5):
        assert_episode(again, k)
    assert again.attrs == {"env": "kuka"}
    group = zarr.open_group(str(path), mode="r")  # time-first layout others can read
    assert group["data/rgb"].shape == (again.n_frames, 8, 8, 3) and group["meta/episode_ends"].shape == (5,)
    assert group.attrs["robolearn"]["schema_version"] == SCHEMA_VERSION
    with pytest.raises(StoreError, match="read-only"):
        again.add_episode(*make_episode(5))


def test_uncommitted_tail_is_invisible_and_cut_on_append(tmp_path):
    path = tmp_path / "s.zarr"
    store = EpisodeStore.create(path, frame_features=FRAMES, episode_features=VALUES)
    for k in range(2):
        store.add_episode(*make_episode(k))
    # A writer killed mid-episode: frames and values appended, episode_ends grown but its value unwritten.
    g = zarr.open_group(str(path), mode="r+")
    n = g["data/rgb"].shape[0]
    g["data/rgb"].resize((n + 3, 8, 8, 3))
    g["data/rgb"][n:] = 9
    g["meta/seed"].resize((3,))
    g["meta/episode_ends"].resize((3,))
    reader = EpisodeStore.open(path)
    assert reader.n_episodes == 2 and reader.n_frames == n
    writer = EpisodeStore.open(path, "a")
    assert g["data/rgb"].shape[0] == n and g["meta/episode_ends"].shape == (2,)
    writer.add_episode(*make_episode(2))
    final = EpisodeStore.open(path)
    assert final.n_episodes == 3
    for k in range(3):
        assert_episode(final, k)


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from test_store import FRAMES, VALUES, make_episode
from robolearn.data import EpisodeStore
path, total = sys.argv[1], int(sys.argv[2])
try:
    store = EpisodeStore.open(path, "a")
except Exception:
    store = EpisodeStore.create(path, frame_features=FRAMES, episode_features=VALUES)
print("ready", flush=True)
for k in range(store.n_episodes, total):
    store.add_episode(*make_episode(k))
"""


def test_sigkill_at_random_moments_then_resume_gives_exactly_the_episodes(tmp_path):
    path, total = tmp_path / "s.zarr", 40
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=os.path.dirname(__file__)))
    rng = np.random.default_rng(0)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(total)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.4)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        EpisodeStore.open(path)  # readable after every kill
    subprocess.run([sys.executable, str(script), str(path), str(total)], check=True, capture_output=True)
    store = EpisodeStore.open(path)
    assert kills >= 1
    assert store.n_episodes == total
    for k in range(total):
        assert_episode(store, k)
    assert store.n_frames == sum(2 + k % 4 for k in range(total))


def test_bad_input_is_one_clear_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        EpisodeStore.open(tmp_path / "file")
    with pytest.raises(StoreError, match="no such store"):
        EpisodeStore.open(tmp_path / "missing.zarr")
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    with pytest.raises(StoreError, match="not a robolearn store"):
        EpisodeStore.open(tmp_path / "other.zarr")
    path = tmp_path / "s.zarr"
    store = EpisodeStore.create(path, frame_features=FRAMES, episode_features=VALUES)
    with pytest.raises(StoreError, match="already exists"):
        EpisodeStore.create(path, frame_features=FRAMES, episode_features=VALUES)
    frames, values = make_episode(0)
    with pytest.raises(StoreError, match="missing \\['state'\\]"):
        store.add_episode({"rgb": frames["rgb"]}, values)
    with pytest.raises(StoreError, match="shape"):
        store.add_episode({**frames, "rgb": frames["rgb"][:, :4]}, values)
    with pytest.raises(StoreError, match="same, non-zero number of frames"):
        store.add_episode({**frames, "state": frames["state"][:1]}, values)
    assert EpisodeStore.open(path).n_episodes == 0  # refused episodes left nothing behind
    g = zarr.open_group(str(path), mode="r+")
    g.attrs["robolearn"] = {**g.attrs["robolearn"], "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        EpisodeStore.open(path)


def test_store_whose_creation_was_cut_short_is_recognised(tmp_path):
    from robolearn.data.store import IncompleteStoreError

    path = tmp_path / "s.zarr"
    g = zarr.open_group(str(path), mode="w-")  # as a writer killed before writing its attributes leaves it
    g.create_array("data/rgb", shape=(0, 8, 8, 3), chunks=(8, 8, 8, 3), dtype="uint8")
    with pytest.raises(IncompleteStoreError, match="creation was cut short"):
        EpisodeStore.open(path)


def test_a_shard_being_created_is_passed_over_by_readers(tmp_path):
    # a collector makes the shard's folder before its zarr.json: `robolearn info` or training on a dataset
    # still being collected must read the complete shards, not fail on that one
    from robolearn.data.info import dataset_stores

    (tmp_path / "ds").mkdir()
    store = EpisodeStore.create(tmp_path / "ds" / "shard-000.zarr", frame_features=FRAMES, episode_features=VALUES)
    store.add_episode(*make_episode(0))
    (tmp_path / "ds" / "shard-001.zarr").mkdir()
    assert [s.n_episodes for s in dataset_stores(tmp_path / "ds")] == [1]


def test_store_on_object_storage_round_trips_and_appends(s3_options):
    url = "s3://robolearn-test/grasps.zarr"
    store = EpisodeStore.create(url, frame_features=FRAMES, episode_features=VALUES, storage_options=s3_options)
    for k in range(3):
        store.add_episode(*make_episode(k))
    writer = EpisodeStore.open(url, "a", storage_options=s3_options)
    writer.add_episode(*make_episode(3))
    reader = EpisodeStore.open(url, storage_options=s3_options)
    assert reader.n_episodes == 4
    for k in range(4):
        assert_episode(reader, k)


def test_open_dataset_reads_every_shard_as_one_dataset_and_frames_as_a_torch_dataset(tmp_path):
    import torch

    from robolearn.data import open_dataset

    (tmp_path / "ds").mkdir()
    for k, n in enumerate((3, 2)):  # a dataset of two shards: episodes 0-2, then 3-4
        store = EpisodeStore.create(tmp_path / "ds" / f"shard-{k:03d}.zarr",
                                    frame_features={"x": Feature((2,), "float32")},
                                    episode_features={"success": Feature((), "bool")}, chunk_bytes=16)  # fmt: skip
        for e in range(n):
            t = 2 + e
            store.add_episode({"x": np.full((t, 2), 10 * k + e, np.float32)}, {"success": e % 2 == 0})
    ds = open_dataset(tmp_path / "ds")
    assert len(ds) == 5 and ds.n_frames == 2 + 3 + 4 + 2 + 3 and list(ds.frame_features) == ["x"]
    assert ds[3]["x"][0, 0] == 10 and ds[-1]["x"].shape == (3, 2) and bool(ds[2]["success"])
    assert [float(e["x"][0, 0]) for e in ds] == [0, 1, 2, 10, 11]
    frames = ds.frames(values=("success",))
    assert len(frames) == 14
    batches = list(torch.utils.data.DataLoader(frames, batch_size=4))
    x = torch.cat([b["x"][:, 0] for b in batches]).tolist()
    assert x == [0] * 2 + [1] * 3 + [2] * 4 + [10] * 2 + [11] * 3
    success = [True] * 2 + [False] * 3 + [True] * 4 + [True] * 2 + [False] * 3
    assert torch.cat([b["success"] for b in batches]).tolist() == success
    with pytest.raises(StoreError, match="no frame key 'rgb'"):
        ds.frames(keys=("rgb",))
    with pytest.raises(IndexError, match="has 5 episodes"):
        ds[5]
    with pytest.raises(StoreError, match="a dataset of shard stores, not one store"):
        EpisodeStore.open(tmp_path / "ds")
