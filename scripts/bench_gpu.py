"""GPU figures, measured on a machine with CUDA; writes a section of docs/BENCHMARKS.md.

1. Rendering: frames/s of the EGL plugin against TinyRenderer on the KukaDiverse-v0 scene (48-472 px),
   whether EGL loaded at all, and how far its pixels are from TinyRenderer's over several resets (the
   plugin must follow the scene through `resetSimulation`); random-policy episodes/s with each.
2. Training step: frames/s of forward + backward + AdamW on CUDA, fp32 against bf16 autocast, for
   Levine's network at 64 and 472 px and the spatial-readout network at 48 px.
3. End to end: `robolearn train` on CUDA (streaming loader, 2 and 8 worker processes, fp32 and bf16):
   samples/s and the fraction of time the loop waited on data, on a collected 64 px store and a
   synthetic 472 px one.
4. The CEM servo: milliseconds per `act()` (3 CEM iterations x 64 samples + the stay score) on CPU and CUDA.
5. Determinism (`determinism --json F`, its own process: cuBLAS reads its workspace setting once): each
   model trained twice for a few AdamW steps on the same data, with CUDA's default kernels and with
   `torch.use_deterministic_algorithms` (what `deterministic = true` sets); are the weights equal?

    python scripts/bench_gpu.py measure --store DATASET --json gpu.json   # on the GPU machine
    python scripts/bench_gpu.py publish gpu.json                          # writes the docs section
    python scripts/bench_gpu.py determinism --json det.json               # on the GPU machine (part 5)

Each part is recorded in the JSON as soon as it ends; a part that fails records its error and the
others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

SIZES = (48, 64, 128, 472)


def render_part(frames: int, episodes: int) -> dict:
    import pybullet as p
    from bench_env import render_speed

    from robolearn.envs.grasp_env import GraspEnv

    envs = {r: GraspEnv(preset="kuka_diverse", renderer=r) for r in ("tiny", "egl")}
    out: dict = {"egl_loaded": envs["egl"].world.renderer == p.ER_BULLET_HARDWARE_OPENGL}
    # pixels: the same scenes through both renderers, after resets that rebuild the world
    diffs, tiny, egl = [], [], []
    for seed in range(5):
        a, _ = envs["tiny"].reset(seed=seed)
        b, _ = envs["egl"].reset(seed=seed)
        tiny.append(a["rgb"].astype(np.int16))
        egl.append(b["rgb"].astype(np.int16))
        d = np.abs(tiny[-1] - egl[-1])
        diffs.append({"seed": seed, "mean_abs": float(d.mean()), "frac_gt_32": float((d.max(-1) > 32).mean())})
    out["pixels"] = diffs
    # a renderer that kept an old scene after a reset would not be nearest to TinyRenderer's same scene
    cross = np.array([[np.abs(e - t).mean() for t in tiny] for e in egl])
    out["same_scene_nearest"] = bool((cross.argmin(axis=1) == np.arange(len(egl))).all())
    out["fps"] = {r: render_speed(frames, r) for r in envs}
    out["episodes_per_s"] = {}
    for r, env in envs.items():
        rng = np.random.default_rng(0)
        t = time.perf_counter()
        for i in range(episodes):
            env.reset(seed=1_000_000 + i)
            done = False
            while not done:
                _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
                done = term or trunc
        out["episodes_per_s"][r] = episodes / (time.perf_counter() - t)
    for env in envs.values():
        env.close()
    return out


def _models():
    from robolearn.envs.config import make_config
    from robolearn.models import GraspCNNConfig
    from robolearn.sim.camera import fixed_clip_matrix

    spatial = tomllib.loads((ROOT / "policies" / "grasp_cnn_spatial.toml").read_text())["model"]
    camera = fixed_clip_matrix(make_config("kuka_diverse").camera).reshape(-1).tolist()
    return {
        "levine 64 px": GraspCNNConfig.for_size(64),
        "levine 472 px": GraspCNNConfig.for_size(472),
        "spatial 48 px": GraspCNNConfig(**{**spatial, "image_size": 48, "camera": camera}),
    }


def step_part(steps: int, batches: tuple[int, ...]) -> list[dict]:
    import torch

    from robolearn.models import GraspCNN

    rows = []
    for name, cfg in _models().items():
        for batch_size in batches:
            for precision in ("fp32", "bf16"):
                torch.manual_seed(0)
                model = GraspCNN(cfg).cuda()
                opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
                s = cfg.image_size
                batch = {"rgb": torch.randint(0, 256, (batch_size, s, s, 3), dtype=torch.uint8, device="cuda"),
                         "motor_command": torch.randn(batch_size, 5, device="cuda"),
                         "state": torch.randn(batch_size, 7, device="cuda"),
                         "success": (torch.rand(batch_size, device="cuda") < 0.3).float()}  # fmt: skip
                for i in range(steps + 5):
                    if i == 5:
                        torch.cuda.synchronize()
                        t = time.perf_counter()
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
                        _, losses = model(batch)
                    losses["bce"].backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                torch.cuda.synchronize()
                fps = steps * batch_size / (time.perf_counter() - t)
                rows.append({"model": name, "batch": batch_size, "precision": precision, "frames_per_s": fps,
                             "peak_mib": torch.cuda.max_memory_allocated() / 2**20})  # fmt: skip
                torch.cuda.reset_peak_memory_stats()
                print(f"  {name} batch {batch_size} {precision}: {fps:.0f} frames/s", flush=True)
    return rows


def train_part(store: str, label: str, steps: int, workers: tuple[int, ...], batch: int, buffer: int) -> list[dict]:
    rows = []
    for w in workers:
        for precision in ("no", "bf16"):
            with tempfile.TemporaryDirectory() as tmp:
                cfg = Path(tmp) / "train.toml"
                cfg.write_text(f'steps = {steps}\neval_every = {steps}\ncheckpoint_every = {steps}\nlog_every = 50\n'
                               f'precision = "{precision}"\n[data]\nstores = ["{store}"]\nholdout = 0.02\n'
                               f'workers = {w}\nin_memory = "no"\nbatch_size = {batch}\nbuffer_frames = {buffer}\n')  # fmt: skip
                cmd = [sys.executable, "-m", "robolearn.cli", "train", str(cfg), "--out", f"{tmp}/run"]
                t = time.perf_counter()
                proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                wall = time.perf_counter() - t
                if proc.returncode:
                    rows.append({"store": label, "workers": w, "precision": precision, "error": proc.stderr[-2000:]})
                    continue
                s = json.loads((Path(tmp) / "run" / "summary.json").read_text())
            rows.append({"store": label, "workers": w, "precision": precision, "batch": batch, "steps": steps,
                         "device": s.get("device"), "samples_per_s": s["samples_per_s"],
                         "loader_wait_fraction": s["loader_wait_fraction"], "startup_s": s["loader_startup_s"],
                         "wall_s": wall, "buffer": buffer})  # fmt: skip
            print(f"  {label} workers {w} {precision}: {s['samples_per_s']:.0f} samples/s, "
                  f"wait {s['loader_wait_fraction']:.2f} on {s.get('device')}", flush=True)  # fmt: skip
    return rows


def servo_part(steps: int) -> dict:
    import torch

    from robolearn.envs.grasp_env import GraspEnv
    from robolearn.models import GraspCNN
    from robolearn.policies.cem import CEMServo, model_scorer

    cfg = _models()["spatial 48 px"]
    env = GraspEnv(preset="kuka_diverse")
    obs, _ = env.reset(seed=0)
    out = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        servo = CEMServo(model_scorer(GraspCNN(cfg), device), env.config)
        for i in range(3):
            servo.act({**obs, "rgb": np.roll(obs["rgb"], i, axis=1)})
        t = time.perf_counter()
        for i in range(steps):  # a new image each act, as in an episode (the scorer keeps one image's features)
            servo.act({**obs, "rgb": np.roll(obs["rgb"], 3 + i, axis=1)})
        out[device] = 1000 * (time.perf_counter() - t) / steps
        print(f"  servo on {device}: {out[device]:.1f} ms/act", flush=True)
    env.close()
    return out


def measure(args) -> None:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu: no CUDA device here; this benchmark needs one")
    res: dict = {"date": time.strftime("%Y-%m-%d"), "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
                 "cpus": os.cpu_count(), "machine": platform.machine()}  # fmt: skip
    out = Path(args.json)

    def part(name, fn, *a):
        print(f"{name}:", flush=True)
        t = time.perf_counter()
        try:
            res[name] = fn(*a)
        except Exception:  # one broken part must not cost the others' figures (device time is scarce)
            res[name] = {"error": traceback.format_exc()[-3000:]}
            print(res[name]["error"], flush=True)
        res.setdefault("part_s", {})[name] = time.perf_counter() - t
        out.write_text(json.dumps(res, indent=1))

    part("render", render_part, 30, 10)
    part("step", step_part, 30, (64, 256))
    part("servo", servo_part, 20)
    if args.store:
        part("train_64", train_part, str(Path(args.store).resolve()), "collected 64 px", 800, (2, 8), 256, 4096)
    if args.synthetic_472:
        from robolearn.data.synthetic import write_blob_store

        path = Path(tempfile.mkdtemp()) / "blob472.zarr"
        write_blob_store(path, episodes=args.synthetic_472, size=472, frames=8)
        part("train_472", train_part, str(path), "synthetic 472 px", 120, (8,), 64, 512)


def determinism(args) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts
    import torch

    from robolearn.models import GraspCNN

    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu: no CUDA device here; this benchmark needs one")
    torch.backends.cudnn.benchmark = False

    def weights_after(cfg, steps: int = 15, b: int = 64) -> dict:
        torch.manual_seed(0)
        model = GraspCNN(cfg).cuda()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        g = torch.Generator(device="cuda").manual_seed(1)
        s = cfg.image_size
        for _ in range(steps):
            batch = {"rgb": torch.randint(0, 256, (b, s, s, 3), generator=g, device="cuda", dtype=torch.uint8),
                     "motor_command": torch.randn(b, 5, generator=g, device="cuda") * 0.05,
                     "state": torch.randn(b, 7, generator=g, device="cuda") * 0.2,
                     "success": (torch.rand(b, generator=g, device="cuda") < 0.3).float()}  # fmt: skip
            _, losses = model(batch)
            opt.zero_grad(set_to_none=True)
            losses["bce"].backward()
            opt.step()
        return {k: v.detach().float().cpu() for k, v in model.state_dict().items()}

    rows = []
    for name, cfg in _models().items():
        for det in (False, True):
            torch.use_deterministic_algorithms(det)
            try:
                a, b = weights_after(cfg), weights_after(cfg)
                diff = max(float((a[k] - b[k]).abs().max()) for k in a)
                rows.append({"model": name, "deterministic": det, "equal": diff == 0, "max_abs_diff": diff})
            except Exception as e:  # an op without a deterministic kernel raises here
                rows.append({"model": name, "deterministic": det, "error": str(e).splitlines()[0][:300]})
            print(rows[-1], flush=True)
    res = {"date": time.strftime("%Y-%m-%d"), "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "runs": rows}  # fmt: skip
    Path(args.json).write_text(json.dumps(res, indent=1))


def publish(args) -> None:
    from benchdoc import publish as write

    r = json.loads(Path(args.json).read_text())
    head = f"Measured {r['date']} on one {r['gpu']} ({r['cpus']} CPU cores), torch {r['torch']}; command: " \
           f"`python scripts/bench_gpu.py measure --store DATASET --synthetic-472 128 --json {Path(args.json).name}` " \
           f"there, then `python scripts/bench_gpu.py publish docs/{Path(args.json).name}` here."  # fmt: skip
    lines = ["## GPU: EGL rendering, training and the servo on CUDA (`python scripts/bench_gpu.py`)", "", head, ""]
    rd = r.get("render", {})
    if "error" in rd or not rd:
        lines += ["Rendering: failed: `" + rd.get("error", "not run").strip().splitlines()[-1] + "`", ""]
    else:
        lines += [f"Rendering, KukaDiverse-v0 scene. EGL plugin loaded: **{'yes' if rd['egl_loaded'] else 'no'}**.", "",
                  "| size | TinyRenderer frames/s | EGL frames/s |", "|---|---|---|",
                  *(f"| {s}x{s} | {rd['fps']['tiny'][str(s)]:.1f} | {rd['fps']['egl'][str(s)]:.1f} |" for s in SIZES),
                  "", "EGL against TinyRenderer, the same scene after each reset (48x48 RGB): "
                  + "; ".join(f"seed {d['seed']}: mean |diff| {d['mean_abs']:.1f}, {100 * d['frac_gt_32']:.0f}% of "
                              "pixels off by > 32" for d in rd["pixels"]) + "."
                  + ("" if "same_scene_nearest" not in rd else " Each EGL image is nearest to TinyRenderer's image of "
                     f"the same scene among the 5: **{'yes' if rd['same_scene_nearest'] else 'no'}**."),
                  "", "Random-policy episodes/s on one core: TinyRenderer "
                  f"{rd['episodes_per_s']['tiny']:.2f}, EGL {rd['episodes_per_s']['egl']:.2f}.", ""]  # fmt: skip
    st = r.get("step")
    if isinstance(st, list):
        lines += ["Training step (forward + backward + AdamW), CUDA:", "",
                  "| model | batch | fp32 frames/s | bf16 frames/s | bf16 / fp32 | peak GPU MiB (fp32) |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for i in range(0, len(st), 2):
            a, b = st[i], st[i + 1]
            lines.append(f"| {a['model']} | {a['batch']} | {a['frames_per_s']:.0f} | {b['frames_per_s']:.0f} | "
                         f"{b['frames_per_s'] / a['frames_per_s']:.2f}x | {a['peak_mib']:.0f} |")  # fmt: skip
        lines.append("")
    for key in ("train_64", "train_472"):
        rows = r.get(key)
        if not isinstance(rows, list):
            continue
        lines += [
            f"End to end, `robolearn train` on the {rows[0]['store']} store (shuffle buffer "
            f"{rows[0].get('buffer')} frames per worker; samples/s and waiting counted from the first batch on):",
            "",
            "| loader workers | precision | batch | steps | samples/s | loop waited on data | first batch after |",
            "|---|---|---|---|---|---|---|",
        ]
        for x in rows:
            if "error" in x:
                lines.append(f"| {x['workers']} | {x['precision']} | | | failed | | |")
            else:
                lines.append(f"| {x['workers']} | {x['precision']} | {x['batch']} | {x['steps']} | "
                             f"{x['samples_per_s']:.0f} | {100 * x['loader_wait_fraction']:.0f}% | "
                             f"{x['startup_s']:.1f} s |")  # fmt: skip
        lines.append("")
    sv = r.get("servo")
    if isinstance(sv, dict) and "error" not in sv:
        lines += [f"CEM servo (spatial readout, 48 px, 3 x 64 samples + the stay score): {sv['cpu']:.1f} ms per "
                  f"`act()` on the CPU, {sv['cuda']:.1f} ms on CUDA.", ""]  # fmt: skip
    write("\n".join(lines), write=not args.no_write)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="run the measurements (needs CUDA) and write JSON")
    m.add_argument("--json", required=True, help="where the figures go")
    m.add_argument("--store", help="a collected 64x64 dataset for the end-to-end training figures")
    m.add_argument(
        "--synthetic-472",
        type=int,
        default=0,
        metavar="EPISODES",
        help="also train end to end on a synthetic 472 px store of this many 8-frame episodes",
    )
    d = sub.add_parser("determinism", help="train each model twice on CUDA, default and deterministic kernels")
    d.add_argument("--json", required=True, help="where the results go")
    pb = sub.add_parser("publish", help="write the docs/BENCHMARKS.md section from a measured JSON")
    pb.add_argument("json")
    pb.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    {"measure": measure, "determinism": determinism, "publish": publish}[args.cmd](args)


if __name__ == "__main__":
    main()
