from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.data.augment import random_shift
from robolearn.data.grasp import check_store, select
from robolearn.data.store import EpisodeStore, Feature, StoreError
from robolearn.data.stream import StreamingLoader, _Buffer, _emit_counts, _Stream, iterate_all
from robolearn.envs.grasp import mirror, mirror_plane
from robolearn.sim.objects import TEST_IDS

KEYS = ("rgb", "motor_command")  # what grasp training reads of each frame (and its episode's success)

SIZE = 8


def id_store(path, episodes: int = 40, seed: int = 0, test_object_every: int = 0) -> EpisodeStore:
    """A store whose frames carry their global frame number in motor_command[0] and their episode's
    success in every pixel, so a batch can be checked frame by frame."""
    rng = np.random.default_rng(seed)
    store = EpisodeStore.create(
        path,
        frame_features={"rgb": Feature((SIZE, SIZE, 3), "uint8"), "motor_command": Feature((5,), "float32")},
        episode_features={"success": Feature((), "bool"), "seed": Feature((), "int64"),
                          "object_ids": Feature((2,), "int32")},
        chunk_bytes=16 * SIZE * SIZE * 3,  # 16 frames per rgb chunk: many units
    )  # fmt: skip
    frame = 0
    for k in range(episodes):
        t = int(rng.integers(3, 9))
        success = bool(rng.random() < 0.4)
        command = np.zeros((t, 5), np.float32)
        command[:, 0] = np.arange(frame, frame + t)
        rgb = np.full((t, SIZE, SIZE, 3), 200 if success else 10, np.uint8)
        objects = [10, 3] if test_object_every and k % test_object_every == 0 else [1, 3]
        store.add_episode({"rgb": rgb, "motor_command": command}, {"success": success, "seed": 1000 + k,
                                                                   "object_ids": objects})  # fmt: skip
        frame += t
    return store


def frames_of(batches) -> list[int]:
    return [int(f) for b in batches for f in b["motor_command"][:, 0].numpy()]


def check_labels(batch):
    assert ((batch["rgb"].numpy() > 100).all(axis=(1, 2, 3)) == batch["success"].numpy().astype(bool)).all()


def test_split_by_episode_is_disjoint_and_training_drops_test_objects(tmp_path):
    store = id_store(tmp_path / "s.zarr", episodes=200, test_object_every=7)
    train = select([store], holdout=0.25, split_seed=3, part="train", exclude_objects=TEST_IDS)[0].chosen
    held = select([store], holdout=0.25, split_seed=3, part="holdout")[0].chosen
    tests = np.isin(store.values("object_ids"), [10]).any(axis=1)
    assert not (train & held).any()
    assert not (train & tests).any()  # no episode with a test-set object is trained on
    assert ((train | held) == (~tests | held)).all()
    assert 0.15 < held.mean() < 0.35
    again = select([store], holdout=0.25, split_seed=3, part="holdout")[0].chosen
    assert (again == held).all()


@pytest.mark.parametrize("workers", [0, 2])
def test_stream_covers_each_frame_once_per_epoch_with_its_label(tmp_path, workers):
    store = id_store(tmp_path / "s.zarr", episodes=120)
    sel = select([store], holdout=0, split_seed=0, part="all")
    loader = StreamingLoader(sel, keys=KEYS, batch_size=8, buffer_frames=48, workers=workers, seed=1, pad=2)
    assert len(loader.units) > 10
    # batch g comes from stream g % streams; each stream runs its own epochs over its share of chunks
    counts = [sum(_emit_counts([loader.sizes[u] for u in _Stream(loader, w).units(0)], loader.buffer, 8))
              for w in range(loader.streams)]  # fmt: skip
    stream = loader.batches(0)
    every = [next(stream) for _ in range(loader.streams * max(counts))]
    first_epoch = [b for w, n in enumerate(counts) for b in every[w :: loader.streams][:n]]
    seen = frames_of(first_epoch)
    assert len(seen) == len(set(seen)), "a frame came twice within one epoch"
    assert len(seen) >= store.n_frames - loader.streams * 8  # at most a partial batch per stream is left over
    for b in first_epoch:
        assert b["rgb"].shape == (8, SIZE, SIZE, 3) and b["rgb"].dtype.is_floating_point is False
        check_labels(b)
    assert seen != sorted(seen), "frames came in store order: no shuffling"


@pytest.mark.parametrize("mode", ["stream", "memory"])
def test_batches_resume_at_any_step_exactly(tmp_path, mode):
    store = id_store(tmp_path / "s.zarr", episodes=60)
    sel = select([store], holdout=0, split_seed=0, part="all")
    loader = StreamingLoader(sel, keys=KEYS, batch_size=8, buffer_frames=24, workers=0, seed=5, pad=2,
                             in_memory=mode == "memory")  # fmt: skip
    stream = loader.batches(0)
    reference = [next(stream) for _ in range(90)]  # several epochs
    for start in (0, 17, 55, 89):
        resumed = loader.batches(start)
        for ref in reference[start : start + 3]:
            got = next(resumed)
            for key in ref:
                np.testing.assert_array_equal(got[key].numpy(), ref[key].numpy())


def test_data_parallel_ranks_read_disjoint_frames(tmp_path):
    store = id_store(tmp_path / "s.zarr", episodes=300)
    sel = select([store], holdout=0, split_seed=0, part="all")
    a, b = (
        StreamingLoader(sel, keys=KEYS, batch_size=4, buffer_frames=8, workers=0, seed=0, rank=r, world=2)
        for r in (0, 1)
    )
    sa = a.batches(0)
    sb = b.batches(0)
    fa = set(frames_of([next(sa) for _ in range(20)]))
    fb = set(frames_of([next(sb) for _ in range(20)]))
    assert fa and fb and not fa & fb


def test_validation_iterates_every_chosen_frame_once(tmp_path):
    store = id_store(tmp_path / "s.zarr", episodes=50)
    sel = select([store], holdout=0.3, split_seed=1, part="holdout")
    batches = list(iterate_all(sel, batch_size=16, keys=KEYS))
    frames = frames_of(batches)
    ends = store.episode_ends
    starts = np.concatenate([[0], ends[:-1]])
    expected = [f for k in np.flatnonzero(sel[0].chosen) for f in range(starts[k], ends[k])]
    assert frames == expected
    for b in batches:
        check_labels(b)


def test_stores_without_grasp_keys_or_of_another_size_are_refused(tmp_path):
    store = EpisodeStore.create(tmp_path / "bare.zarr", frame_features={"rgb": Feature((SIZE, SIZE, 3), "uint8")},
                                episode_features={"success": Feature((), "bool")})  # fmt: skip
    with pytest.raises(StoreError, match="needs data/motor_command"):
        check_store(store)
    good = id_store(tmp_path / "s.zarr", episodes=3)
    with pytest.raises(StoreError, match="rgb frames are 8x8, the model takes 64x64"):
        check_store(good, 64)
    odd = EpisodeStore.create(tmp_path / "odd.zarr", frame_features={"rgb": Feature((SIZE, SIZE, 3), "uint8"),
                              "motor_command": Feature((4,), "float32")},
                              episode_features={"success": Feature((), "bool")})  # fmt: skip
    with pytest.raises(StoreError, match=r"data/motor_command holds \(4,\) per frame, the grasp task's is \(5,\)"):
        check_store(odd)


def test_extra_frame_keys_are_read_and_checked(tmp_path):
    with pytest.raises(StoreError, match="needs data/state"):
        check_store(id_store(tmp_path / "s.zarr", episodes=2), extra=("state",))
    store = EpisodeStore.create(
        tmp_path / "state.zarr",
        frame_features={"rgb": Feature((SIZE, SIZE, 3), "uint8"), "motor_command": Feature((5,), "float32"),
                        "state": Feature((7,), "float32")},
        episode_features={"success": Feature((), "bool"), "seed": Feature((), "int64")},
    )  # fmt: skip
    for k in range(10):
        ids = np.arange(4 * k, 4 * k + 4, dtype=np.float32)
        store.add_episode({"rgb": np.zeros((4, SIZE, SIZE, 3), np.uint8), "motor_command": np.tile(ids[:, None], 5),
                           "state": np.tile(-ids[:, None], 7)}, {"success": k % 2 == 0, "seed": k})  # fmt: skip
    sel = select([store], holdout=0, split_seed=0, part="all")
    batch = next(StreamingLoader(sel, keys=(*KEYS, "state"), batch_size=8, workers=0).batches(0))
    assert batch["state"].shape == (8, 7)
    np.testing.assert_array_equal(batch["state"][:, 0].numpy(), -batch["motor_command"][:, 0].numpy())


def test_random_shift_is_edge_padding_then_crop():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 9, 7, 3), dtype=np.uint8)
    pad = 3
    shift = rng.integers(0, 2 * pad + 1, (6, 2))
    padded = np.pad(rgb, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    expected = np.stack([padded[i, dy : dy + 9, dx : dx + 7] for i, (dy, dx) in enumerate(shift)])
    got = random_shift(torch.from_numpy(rgb), pad, torch.from_numpy(shift))
    np.testing.assert_array_equal(got.numpy(), expected)
    assert (
        random_shift(torch.from_numpy(rgb), 0, torch.from_numpy(shift)).data_ptr() == torch.from_numpy(rgb).data_ptr()
    )


def test_shuffle_buffer_keeps_exactly_the_frames_not_taken():
    buf = _Buffer(64)
    buf.add({"success": np.arange(50.0), "x": np.arange(50)})
    rng = np.random.default_rng(1)
    for count in (10, 7, 20, 13):
        before = set(buf.arrays["x"][: buf.n].tolist())
        out = buf.take(rng.permutation(buf.n), count)
        after = buf.arrays["x"][: buf.n].tolist()
        assert len(after) == len(before) - count and set(after) | set(out["x"].tolist()) == before
        assert not set(after) & set(out["x"].tolist())
        np.testing.assert_array_equal(buf.arrays["success"][: buf.n], buf.arrays["x"][: buf.n])  # rows stay whole


def test_more_workers_than_the_data_can_feed_are_cut_to_what_it_can(tmp_path):
    # 60 episodes, ~350 frames, ~11 reads of 32 frames: 8 streams of batch 64 would leave most with none
    store = id_store(tmp_path / "s.zarr", episodes=60)
    sel = select([store], holdout=0, split_seed=0, part="all")
    loader = StreamingLoader(sel, keys=KEYS, batch_size=64, buffer_frames=64, workers=8, seed=0, pad=2)
    assert 1 <= loader.workers == loader.streams < 8
    for w in range(loader.streams):  # every stream emits a batch in every epoch
        for epoch in range(20):
            assert sum(_emit_counts([loader.sizes[u] for u in _Stream(loader, w).units(epoch)], loader.buffer, 64))
    stream = loader.batches(0)
    for _ in range(3 * loader.streams):
        b = next(stream)
        assert b["rgb"].shape[0] == 64 and b["shift"].shape == (64, 2)
    with pytest.raises(StoreError, match="too few for one batch of 4096"):
        StreamingLoader(sel, keys=KEYS, batch_size=4096, workers=2)


def kuka_diverse_camera(**changes) -> tuple[float, ...]:
    import tomllib

    from robolearn.sim.camera import CameraConfig, fixed_clip_matrix

    cam = tomllib.loads((Path(__file__).resolve().parents[1] / "envs/kuka_diverse.toml").read_text())["camera"]
    return tuple(fixed_clip_matrix(CameraConfig(**{**cam, **changes})).ravel())


def test_mirror_is_the_mirror_world_seen_by_the_same_camera():
    """A mirrored frame's gripper target and the point below it land where the flipped image shows them
    (x negated, y kept), the finger axis is the reflected one, unflipped frames are untouched, and
    mirroring twice gives the frame back."""
    from robolearn.models import GraspCNN, GraspCNNConfig

    camera = kuka_diverse_camera()
    model = GraspCNN(GraspCNNConfig.for_size(48, state_input=True, readout="spatial", readout_height=-0.17,
                                             camera=camera))  # fmt: skip
    g = torch.Generator().manual_seed(0)
    b = 16
    state = torch.zeros(b, 7)
    state[:, :3] = torch.rand(b, 3, generator=g) * torch.tensor([0.15, 0.39, 0.3]) + torch.tensor([0.5, -0.17, -0.1])
    yaw, dyaw = torch.rand(b, generator=g) * 6, torch.rand(b, generator=g) - 0.5
    state[:, 3], state[:, 4], state[:, 5:] = yaw.sin(), yaw.cos(), torch.rand(b, 2, generator=g)
    command = torch.cat([(torch.rand(b, 3, generator=g) - 0.5) * 0.1, dyaw.sin()[:, None], dyaw.cos()[:, None]], 1)
    batch = {"rgb": torch.rand(b, 48, 48, 3, generator=g), "depth": torch.rand(b, 48, 48, generator=g),
             "segmentation": torch.randint(0, 6, (b, 48, 48), dtype=torch.uint8, generator=g),
             "state": state, "motor_command": command}  # fmt: skip
    flip = torch.arange(b) % 2 == 0
    out = mirror(batch, camera, flip)

    before, after = model.image_point(command, state), model.image_point(out["motor_command"], out["state"])
    assert torch.allclose(after[flip, :, 0], -before[flip, :, 0], atol=1e-5)
    assert torch.allclose(after[..., 1], before[..., 1], atol=1e-5)
    assert torch.equal(out["rgb"][flip], batch["rgb"][flip].flip(2))
    assert torch.equal(out["depth"][flip], batch["depth"][flip].flip(2))
    assert torch.equal(out["segmentation"][flip], batch["segmentation"][flip].flip(2))
    for key in batch:
        assert torch.equal(out[key][~flip], batch[key][~flip]), key
    assert torch.equal(out["state"][:, 5:], state[:, 5:])  # gripper opening and time are not geometry

    normal, _ = mirror_plane(camera)
    n = torch.tensor(normal, dtype=torch.float32)
    axis = torch.stack([(yaw + dyaw).cos(), (yaw + dyaw).sin(), torch.zeros(b)], 1)
    reflected = axis - 2 * (axis @ n)[:, None] * n
    new = torch.atan2(out["state"][:, 3], out["state"][:, 4]) + torch.atan2(out["motor_command"][:, 3],
                                                                          out["motor_command"][:, 4])  # fmt: skip
    assert torch.allclose(torch.stack([new.cos(), new.sin()], 1)[flip], reflected[flip, :2], atol=1e-5)

    back = mirror(out, camera, flip)
    for key in batch:
        assert torch.allclose(back[key], batch[key], atol=1e-5), key


def test_mirror_refuses_a_rolled_camera():
    mirror_plane(kuka_diverse_camera())
    with pytest.raises(ValueError, match="roll 0"):
        mirror_plane(kuka_diverse_camera(roll=10.0))
