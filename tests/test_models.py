import json

import pytest
import torch

from robolearn.models import GraspCNN, GraspCNNConfig
from robolearn.models.checkpoint import CheckpointError, load_model, save
from robolearn.models.grasp_cnn import segmentation_targets, sliced_max_pool, tent_sample


def batch(size: int, n: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "rgb": torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g),
        "motor_command": torch.randn(n, 5, generator=g),
        "success": torch.tensor([1.0, 0.0, 1.0])[:n],
    }


@pytest.mark.parametrize("size", [48, 64, 128, 472])
def test_grasp_cnn_shapes_for_each_input_size(size):
    model = GraspCNN(GraspCNNConfig.for_size(size)).eval()
    b = batch(size, n=2)
    feats = model.features(b["rgb"])
    assert feats.shape[:2] == (2, model.config.channels) and min(feats.shape[2:]) >= 8
    logits, losses = model(b)
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    assert losses["bce"].ndim == 0 and losses["bce"] > 0
    # scoring many commands against one image: the tower's features expanded give the same logits
    many = model.score(feats[:1].expand(2, -1, -1, -1), b["motor_command"])
    torch.testing.assert_close(many[0], model({"rgb": b["rgb"][:1], "motor_command": b["motor_command"][:1]})[0][0])


def test_grasp_cnn_uses_the_motor_command_and_refuses_other_image_sizes():
    model = GraspCNN(GraspCNNConfig.for_size(64)).eval()
    b = batch(64)
    moved = {**b, "motor_command": b["motor_command"] + 1.0}
    assert not torch.allclose(model(b)[0], model(moved)[0])
    with pytest.raises(ValueError, match="64x64x3 images got a batch of shape"):
        model(batch(48))


def test_depth_input_is_a_fourth_channel_the_output_depends_on_and_must_be_given():
    model = GraspCNN(GraspCNNConfig.for_size(48, depth_input=True, depth_center=1.8, depth_scale=0.3)).eval()
    b = batch(48)
    b["depth"] = torch.full((3, 48, 48), 1.8)
    closer = {**b, "depth": b["depth"].clone()}
    closer["depth"][:, 20:28, 20:28] = 1.6
    assert not torch.allclose(model(b)[0], model(closer)[0])
    with pytest.raises(ValueError, match="takes a depth image.*depth = true"):
        model({k: v for k, v in b.items() if k != "depth"})
    with pytest.raises(ValueError, match="depth of shape"):
        model({**b, "depth": b["depth"][:, :32]})
    with pytest.raises(ValueError, match="no depth_center"):
        GraspCNN(GraspCNNConfig.for_size(48, depth_input=True)).eval()(b)


def test_checkpoint_round_trip_rebuilds_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    model = GraspCNN(GraspCNNConfig.for_size(48, channels=8)).eval()
    with torch.no_grad():  # make the BatchNorm statistics non-trivial, so they must round-trip too
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    path = save(tmp_path / "ck", model=model, model_name="GraspCNN", model_config=model.config.model_dump(), step=7)
    rebuilt, meta = load_model(path, expect="GraspCNN")
    assert meta["step"] == 7 and rebuilt.config == model.config
    b = batch(48)
    torch.testing.assert_close(rebuilt(b)[0], model(b)[0], rtol=0, atol=0)
    assert not any(p.name.endswith((".pt", ".pkl", ".bin")) for p in path.iterdir())


def test_bad_checkpoints_are_refused_in_one_line(tmp_path):
    model = GraspCNN(GraspCNNConfig.for_size(48, channels=8))
    path = save(tmp_path / "ck", model=model, model_name="GraspCNN", model_config=model.config.model_dump(), step=1)
    with pytest.raises(CheckpointError, match="holds a GraspCNN model, expected TCN"):
        load_model(path, expect="TCN")
    other = json.loads((path / "config.json").read_text())
    other["config"]["channels"] = 16  # a checkpoint of another GraspCNN: its weights do not fit
    (path / "config.json").write_text(json.dumps(other))
    with pytest.raises(CheckpointError, match="has shape"):
        load_model(path)
    other["config"]["channels"] = 8
    (path / "config.json").write_text(json.dumps(other))
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors: cannot be read"):
        load_model(path)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_model(tmp_path)


def test_state_input_variant_takes_the_gripper_pose():
    model = GraspCNN(GraspCNNConfig.for_size(48, channels=8, state_input=True)).eval()
    b = batch(48)
    with pytest.raises(ValueError, match="takes the gripper state"):
        model(b)
    state = torch.randn(3, 7)
    out = model({**b, "state": state})[0]
    assert out.shape == (3,)
    assert not torch.allclose(out, model({**b, "state": state + 1.0})[0])


def test_spatial_readout_samples_the_feature_map_where_the_command_lands():
    """With an identity camera, a command ending at (x, y) reads the map at normalised image point (x, -y); the
    map is computed once per image (features) and does not depend on the command."""
    eye = tuple(float(v) for v in torch.eye(4).flatten())
    model = GraspCNN(GraspCNNConfig.for_size(48, channels=8, state_input=True, readout="spatial", camera=eye)).eval()
    state = torch.zeros(3, 7)
    state[:, 4] = 1.0  # yaw 0
    command = torch.tensor([[0.5, -0.25, 0.0, 0.0, 1.0]] * 3)
    torch.testing.assert_close(model.image_point(command, state), torch.tensor([[[0.5, 0.25]]] * 3))
    b = batch(48)
    feats = model.features(b["rgb"])
    assert feats.shape == (3, 8, 12, 12)
    # the score changes when the command ends elsewhere on the same image
    elsewhere = command.clone()
    elsewhere[:, :2] = torch.tensor([-0.6, 0.6])
    assert not torch.allclose(model.score(feats, command, state), model.score(feats, elsewhere, state))
    torch.testing.assert_close(
        model({**b, "motor_command": command, "state": state})[0], model.score(feats, command, state)
    )


def test_spatial_readout_height_also_reads_the_map_where_the_objects_lie():
    """readout_height: the map is also sampled where the grasp's x, y appear at that world height, whatever
    the grasp's own height. A camera whose clip w is the world z: the image point is (x / z, -y / z)."""
    m = torch.zeros(4, 4)
    m[0, 0] = m[1, 1] = m[2, 2] = m[3, 2] = 1.0
    camera = tuple(float(v) for v in m.flatten())
    state = torch.zeros(2, 7)
    state[:, 4] = 1.0
    command = torch.tensor([[0.5, -0.25, 4.0, 0.0, 1.0], [0.5, -0.25, 1.0, 0.0, 1.0]])  # two heights
    at_grasp = GraspCNN(GraspCNNConfig.for_size(48, channels=8, state_input=True, readout="spatial", camera=camera))
    torch.testing.assert_close(at_grasp.image_point(command, state)[:, 0], torch.tensor([[0.125, 0.0625], [0.5, 0.25]]))
    low = GraspCNN(GraspCNNConfig.for_size(48, channels=8, state_input=True, readout="spatial", camera=camera,
                                           readout_height=2.0))  # fmt: skip
    points = low.image_point(command, state)
    torch.testing.assert_close(points[:, 0], at_grasp.image_point(command, state)[:, 0])
    torch.testing.assert_close(points[:, 1], torch.tensor([[0.25, 0.125]] * 2))
    feats = low.features(batch(48, n=2)["rgb"])
    assert low.score(feats, command, state).shape == (2,)


def test_spatial_readout_config_is_checked():
    with pytest.raises(ValueError, match="needs state_input"):
        GraspCNNConfig(readout="spatial")
    with pytest.raises(ValueError, match="16 numbers"):
        GraspCNNConfig(readout="spatial", state_input=True, camera=(1.0, 2.0))
    model = GraspCNN(GraspCNNConfig(image_size=32, channels=8, state_input=True, readout="spatial")).eval()
    with pytest.raises(ValueError, match="no camera matrix"):
        model({**batch(32), "state": torch.zeros(3, 7)})


def test_segmentation_targets_mark_objects_their_centres_and_their_axes():
    seg = torch.zeros(2, 48, 48, dtype=torch.uint8)
    seg[0, 10:14, 4:24] = 1  # 4 px tall, 20 px wide
    seg[1, 4:24, 30:34] = 2  # 20 px tall, 4 px wide
    seg[1, 30:40, 30:40] = 1  # a square
    target, weight = segmentation_targets(seg, (24, 24))
    assert target.shape == (2, 4, 24, 24) and weight.shape == (2, 1, 24, 24)
    torch.testing.assert_close(target[:, 0].sum(dim=(1, 2)), torch.tensor([80.0, 180.0]) / 4)  # object pixels / cell
    assert target[0, 0, 0, 0] == 0 and target[0, 1:, 0, 0].abs().max() == 0  # background: nothing asked
    centre = target[0, 1, 5:7, 2:12]
    assert centre.max() <= 1 and centre[:, 4:7].min() > centre[:, 0].max()  # deeper inside the middle than at the ends
    square = target[1, 1, 15:20, 15:20]
    assert square[2, 2] == square.max() and square[0, 0] < square[2, 2]
    wide, tall, even = target[0, 2:, 6, 7], target[1, 2:, 8, 16], target[1, 2:, 17, 17]
    assert wide[0] > 0.8 and tall[0] < -0.8 and abs(wide[1]) < 1e-6 and abs(tall[1]) < 1e-6  # cos 2a: +1 along x
    assert even.abs().max() < 1e-6  # a square has no axis
    diagonal = torch.zeros(1, 48, 48, dtype=torch.uint8)
    for k in range(20):
        diagonal[0, 10 + k, 10 + k : 12 + k] = 1  # along x = y, image rows down: sin 2a > 0
    assert segmentation_targets(diagonal, (48, 48))[0][0, 3, 20, 20] > 0.8


def test_aux_segmentation_adds_a_loss_only_when_asked_and_only_with_the_spatial_readout():
    eye = tuple(float(v) for v in torch.eye(4).flatten())
    spatial = {"channels": 8, "state_input": True, "readout": "spatial", "camera": eye}
    b = {**batch(48), "state": torch.zeros(3, 7), "segmentation": torch.zeros(3, 48, 48, dtype=torch.uint8)}
    b["segmentation"][:, 20:30, 10:14] = 1
    plain = GraspCNN(GraspCNNConfig.for_size(48, **spatial))
    assert set(plain(b)[1]) == {"bce"} and not hasattr(plain, "aux")
    aux = GraspCNN(GraspCNNConfig.for_size(48, **spatial, aux_segmentation=0.5))
    logits, losses = aux(b)
    assert set(losses) == {"bce", "aux_segmentation"} and losses["aux_segmentation"] > 0
    losses["aux_segmentation"].backward()
    assert aux.tower[0][0].weight.grad.abs().sum() > 0  # it trains the tower the readout samples
    torch.testing.assert_close(logits, aux({k: v for k, v in b.items() if k != "segmentation"})[0])
    with pytest.raises(ValueError, match="aux_segmentation needs readout 'spatial'"):
        GraspCNNConfig.for_size(48, aux_segmentation=1.0)


def test_camera_matrix_projects_objects_onto_their_pixels():
    """clip_matrix + the spatial readout's projection put each object's centre on its own segmentation mask,
    drawn with the other objects moved out of view (a neighbour hiding part of it would move the mask's
    centroid, not the projection)."""
    import numpy as np
    import pybullet as p

    from robolearn.envs.grasp_env import GraspEnv
    from robolearn.sim.camera import clip_matrix

    env = GraspEnv(preset="kuka_diverse", camera={"segmentation": True})
    try:
        env.reset(seed=3)
        client = env.world.client
        camera = tuple(float(v) for v in clip_matrix(env._pose).ravel())
        model = GraspCNN(GraspCNNConfig.for_size(48, channels=8, state_input=True, readout="spatial", camera=camera))
        poses = {uid: p.getBasePositionAndOrientation(uid, physicsClientId=client) for uid in env.world.objects}
        errors = []
        for uid in env.world.objects:
            for other, (pos, orn) in poses.items():  # only `uid` in the tray
                away = pos if other == uid else (pos[0], pos[1], pos[2] - 10.0)
                p.resetBasePositionAndOrientation(other, away, orn, physicsClientId=client)
            seg = env.world.render(env.config.camera, env._pose)["segmentation"]
            lo, hi = p.getAABB(uid, physicsClientId=client)
            centre = (np.asarray(lo) + np.asarray(hi)) / 2
            command = torch.tensor([[*centre, 0.0, 1.0]], dtype=torch.float32)
            col, row = ((model.image_point(command, torch.zeros(1, 7))[0, 0].numpy() + 1) / 2 * 48 - 0.5).tolist()
            ys, xs = np.nonzero(seg == uid)
            if len(ys) >= 5:  # visible: the projected centre lies within 2 px of the mask's centroid
                errors.append(np.hypot(row - ys.mean(), col - xs.mean()))
        assert len(errors) >= 3 and max(errors) < 2.0, errors
    finally:
        env.close()


@pytest.mark.parametrize("h,w,grid", [(12, 12, 3), (7, 5, 3), (6, 6, 4), (2, 3, 1)])
def test_grid_max_pool_equals_adaptive_max_pool(h, w, grid):
    # what the model pools with in deterministic mode (a deterministic CUDA backward): the same function
    x = torch.randn(4, 8, h, w)
    assert torch.equal(sliced_max_pool(x, grid), torch.nn.functional.adaptive_max_pool2d(x, grid))


def test_tent_sample_equals_grid_sample_with_border_padding():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(64, 8, 12, 10, generator=g)
    point = torch.rand(64, 3, 2, generator=g) * 2.6 - 1.3  # some beyond the border, where grid_sample clamps
    point[0] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]])
    ref = torch.nn.functional.grid_sample(feats, point[:, None], mode="bilinear", padding_mode="border",
                                          align_corners=False)[:, :, 0].transpose(1, 2)  # (B,P,C)  # fmt: skip
    assert torch.allclose(tent_sample(feats, point), ref, atol=1e-5)
