"""The `robolearn` command line: `robolearn --help` lists the jobs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from robolearn.config import CheckpointError, ConfigError
from robolearn.data.store import StoreError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # paragraphs reflow to the terminal, as the docstrings are written at 120 columns
    help="robolearn: grasping data and multi-view video, grasp CNNs and time-contrastive networks, evaluation in "
    "headless pybullet.\n\n"
    "ENV is a registered id (`robolearn envs` lists them: robolearn/KukaDiverse-v0, GraspKuka-v0, GraspPanda-v0, "
    "MotionKuka-v0, MotionPanda-v0) or an env TOML file such as envs/kuka_diverse.toml.",
)


def _version(value: bool) -> None:
    if value:
        import robolearn

        typer.echo(f"robolearn {robolearn.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """robolearn: grasping data and multi-view video, models and evaluation in headless pybullet."""


class UsageError(Exception):
    """Bad input found by a command: reported as one line, exit code 2."""


EnvArg = Annotated[str, typer.Option("--env", "-e", help="registered env id or env TOML file")]


@app.command("envs")
def envs_cmd() -> None:
    """List the registered env ids and the preset each is built from."""
    from robolearn.envs import ENV_IDS, MOTION_ENV_IDS, ORIGINAL_ID

    for env_id, preset in {**ENV_IDS, **MOTION_ENV_IDS}.items():
        typer.echo(f"{env_id:36s} preset '{preset}'")
    typer.echo(f"{ORIGINAL_ID:36s} pybullet_envs' own code, seen as KukaDiverse-v1 (the 'original' extra)")


@app.command("eval")
def eval_cmd(
    env: EnvArg = "robolearn/KukaDiverse-v0",
    policy: Annotated[
        list[str] | None,
        typer.Option(help="policy name (random, oracle, cem, open_loop, sb3) or policy TOML; repeat to compare"),
    ] = None,
    checkpoint: Annotated[str | None, typer.Option(help="checkpoint for cem / open_loop (a grasp CNN) or sb3 (an RL agent)")] = None,
    episodes: Annotated[int, typer.Option("--episodes", "-n", help="episodes per policy")] = 20,
    seed: Annotated[int, typer.Option(help="first episode seed; episode i uses seed + i (below 2^31)")] = 1_000_000,
    objects: Annotated[str, typer.Option(help="object split: test (held out) | train | all")] = "test",
    out: Annotated[Path | None, typer.Option(help="folder for report.json, comparison.md, success.png, videos")] = None,
    videos: Annotated[int, typer.Option(help="with --out: MP4s of the first K episodes of each policy")] = 0,
    gif: Annotated[Path | None, typer.Option(help="write the first episode (first policy) as an animated GIF")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the JSON report here")] = None,
    workers: Annotated[int, typer.Option(help="processes running episodes (results do not depend on it)")] = 1,
    force: Annotated[
        bool, typer.Option(help="--out may hold an earlier evaluation: its report, plot and videos are replaced")
    ] = False,
    resume: Annotated[
        bool, typer.Option(help="--out holds this evaluation, interrupted: play only the episodes it lacks")
    ] = False,
    allow_pickle: Annotated[
        bool, typer.Option(help="sb3: --checkpoint may be an SB3 .zip (pickled objects that run code: trusted files only)")
    ] = False,
) -> None:
    """Evaluate policies side by side on the same episode seeds: success with a 95% Wilson interval,
    per-object success, speed; a comparison table, a plot and videos with --out.

    With --out, every 10 finished episodes are kept in `<out>/episodes.jsonl` as they end, so an interrupted
    evaluation continues with the same command and --resume. Evaluation seeds lie below 2^31 and collected ones at
    or above, so no evaluation scene was trained on."""
    from robolearn.collection.campaign import EVAL_SEED_LIMIT
    from robolearn.evaluation.compare import JOURNAL, eval_report, evaluate_policies, write_eval_folder, write_videos
    from robolearn.policies.registry import policy_config

    if episodes < 1:
        raise UsageError(f"--episodes: got {episodes}, must be at least 1")
    if not 0 <= seed <= EVAL_SEED_LIMIT - episodes:
        raise UsageError(f"--seed: got {seed}; evaluation seeds lie in 0..2^31-1 (collection uses the rest)")
    if objects not in ("test", "train", "all"):
        raise UsageError(f"--objects: got '{objects}', allowed: test, train, all")
    if workers < 1:
        raise UsageError(f"--workers: got {workers}, must be at least 1")
    _check_writable(gif, "--gif")
    _check_writable(json_out, "--json")
    if resume and force:
        raise UsageError("--resume and --force: choose one (continue the evaluation in --out, or start it again)")
    if resume and (out is None or not (out / JOURNAL).is_file()):
        raise UsageError(f"--resume: {'no --out given' if out is None else f'{out} holds no {JOURNAL}'}; nothing "
                         "to resume")  # fmt: skip
    _check_new_folder(out, "--out", force or resume)
    if videos and out is None:
        raise UsageError(f"--videos {videos}: the videos go in the --out folder; give --out too")
    if videos < 0:
        raise UsageError(f"--videos: got {videos}, must be at least 0")
    specs = policy or ["oracle"]
    configs = {}
    for spec in specs:
        cfg = policy_config(spec)
        if checkpoint is not None and cfg.name in ("cem", "open_loop", "sb3"):  # a policy that loads a model
            cfg = policy_config(spec, checkpoint=checkpoint)
        if allow_pickle and cfg.name == "sb3":
            cfg = cfg.model_copy(update={"allow_pickle": True})
        configs[Path(spec).stem if spec.endswith(".toml") else spec] = cfg
    seeds = range(seed, seed + episodes)
    record = {name: max(videos if out else 0, 1 if gif and k == 0 else 0) for k, name in enumerate(configs)}
    if out and not resume:
        for old in [*out.glob("*_episode*.mp4"), *(out / name for name in (JOURNAL, "report.json", "comparison.md",
                                                                          "success.png"))]:  # fmt: skip
            old.unlink(missing_ok=True)  # --force: nothing of the earlier run stays beside this one
    mp4 = write_videos(out) if out else None
    first = next(iter(configs))

    def on_frames(name: str, k: int, frames: list) -> None:
        if mp4 is not None and k < videos:
            mp4(name, k, frames)
        if gif and name == first and k == 0:
            from robolearn.evaluation.media import write_gif

            write_gif(gif, frames)

    try:
        results, _ = evaluate_policies(env, configs, seeds, objects=objects, workers=workers, record=record,
                                       journal=out / JOURNAL if out else None, resume=resume, on_frames=on_frames)  # fmt: skip
    except KeyboardInterrupt as exc:
        from robolearn.signals import interrupted

        if out is None:
            message = "no report written: without --out no episode is kept; run it again (with --out to be resumable)"
        else:
            message = (f"finished episodes kept in {out / JOURNAL}; add --resume to the same command to play only "
                       "the rest")  # fmt: skip
        raise interrupted(message, exc) from None
    report_json = eval_report(env, objects, seeds, results)
    # Files first, printing after: a closed stdout (`| head`) must not cost the evaluation's results.
    written = []
    if gif and gif.exists():
        written.append(gif)
    if json_out:
        json_out.write_text(json.dumps(report_json, indent=2))
        written.append(json_out)
    if out:
        write_eval_folder(out, report_json)
        written.append(f"{out}/report.json, comparison.md, success.png" + (", videos" if videos else ""))
    for name, r in results.items():
        (lo, hi), ms = r["success_ci95"], r["ms_per_episode"]
        typer.echo(f"{name} on {env} ({objects} objects): success {r['success_rate']:.3f} [95% CI {lo:.3f}-{hi:.3f}] "
                   f"over {r['episodes']} episodes, {r['episodes_per_s']:.2f} episodes/s")  # fmt: skip
        typer.echo(f"  per episode: physics {ms['physics']:.1f} ms, rendering {ms['rendering']:.1f} ms, "
                   f"python {ms['python']:.1f} ms, {r['substeps_per_episode']:.0f} substeps")  # fmt: skip
    if len(results) > 1:
        from robolearn.evaluation.report import comparison_table

        typer.echo(comparison_table(results))
    for path in written:
        typer.echo(f"wrote {path}")


@app.command("collect")
def collect_cmd(
    campaign: Annotated[Path, typer.Argument(help="campaign TOML, e.g. collection/grasp_kuka_random.toml")],
    episodes: Annotated[int | None, typer.Option(help="override: number of episodes in the dataset")] = None,
    workers: Annotated[int | None, typer.Option(help="override: worker processes")] = None,
    store: Annotated[str | None, typer.Option(help="override: dataset directory, a path or an fsspec URL")] = None,
    seed: Annotated[
        int | None, typer.Option(help="override: the campaign seed (episode i's seed derives from it)")
    ] = None,
    objects: Annotated[str | None, typer.Option(help="override: object split, train | test | all")] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the dataset in --store: collect only missing episodes")
    ] = False,
    backend: Annotated[str, typer.Option(help="local (process pool) | ray")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="join this Ray cluster (default: start a local one)")] = None,
) -> None:
    """Collect episodes of a policy into a dataset of shard stores (one per worker), resumable."""
    from robolearn.collection.campaign import CampaignConfig, check_policy, prepare, run_local, run_ray
    from robolearn.config import load_toml
    from robolearn.data.info import join, location
    from robolearn.envs import load_env_config

    overrides = {k: v for k, v in {"episodes": episodes, "workers": workers, "store": store, "seed": seed,
                                   "objects": objects}.items() if v is not None}  # fmt: skip
    for key in ("episodes", "workers"):
        if key in overrides and overrides[key] < 1:
            raise UsageError(f"--{key}: got {overrides[key]}, must be at least 1")
    if seed is not None and seed < 0:
        raise UsageError(f"--seed: got {seed}, must be at least 0")
    if objects is not None and objects not in ("train", "test", "all"):
        raise UsageError(f"--objects: got '{objects}', allowed: train, test, all")
    if backend not in ("local", "ray"):
        raise UsageError(f"--backend: got '{backend}', allowed: local, ray")
    cfg = load_toml(campaign, CampaignConfig, overrides=overrides)
    env_config = load_env_config(cfg.env, objects={"split": cfg.objects}).model_dump(mode="json")
    check_policy(cfg, env_config)
    todo = prepare(cfg, env_config, resume=resume)
    if not todo:
        typer.echo(f"{cfg.store}: all {cfg.episodes} episodes are already collected")
        return
    try:
        summary = (run_ray(cfg, env_config, todo, address=ray_address) if backend == "ray"
                   else run_local(cfg, env_config, todo))  # fmt: skip
    except KeyboardInterrupt as exc:
        from robolearn.collection.campaign import committed_indices
        from robolearn.signals import interrupted

        kept = len(committed_indices(cfg.store))
        raise interrupted(f"{kept} of {cfg.episodes} episodes are kept in {cfg.store}; run the same command with "
                          "--resume to collect the rest", exc) from None  # fmt: skip
    fs, root = location(cfg.store)
    fs.pipe_file(join(root, "summary.json"), json.dumps(summary, indent=2).encode())
    typer.echo(json.dumps(summary))
    if summary["worker_failures"] or summary["collected"] < summary["requested"]:
        typer.echo("error: a worker failed; run again with --resume to collect the missing episodes", err=True)
        sys.exit(1)


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Argument(help="training TOML, e.g. policies/grasp_cnn.toml")],
    store: Annotated[list[str] | None, typer.Option(help="training dataset (repeatable); replaces data.stores")] = None,
    val_store: Annotated[
        list[str] | None, typer.Option(help="validation dataset, e.g. on test objects (repeatable)")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="override: training steps")] = None,
    out: Annotated[str | None, typer.Option(help="override: run folder (checkpoints/, tb/, summary.json)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="override: data.batch_size")] = None,
    workers: Annotated[int | None, typer.Option(help="override: data.workers (loader processes)")] = None,
    precision: Annotated[str | None, typer.Option(help="override: no | bf16 | fp16")] = None,
    device: Annotated[str | None, typer.Option(help="override: auto | cpu")] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --out from its latest checkpoint")] = False,
    init_from: Annotated[str | None, typer.Option(help="warm start from this checkpoint's weights")] = None,
    seed: Annotated[
        int | None, typer.Option(help="override: seed (initial weights, data order; not the holdout)")
    ] = None,
) -> None:
    """Train a model on stored episodes: checkpoints, TensorBoard logs, validation metrics.

    The TOML's `kind` names the loop: grasp_cnn (the default: the grasp-success CNN, policies/grasp_cnn.toml), tcn
    (a time-contrastive network on multi-view video, policies/tcn.toml), rl (a stable-baselines3 agent learning in
    an env, policies/ppo_grasp.toml; --steps counts env steps) or sequence (an action sequence imitating one video,
    policies/imitate_sequence.toml). Data-parallel: `torchrun --nproc_per_node N -m
    robolearn.cli train ...` or `accelerate launch`."""
    from robolearn.config import load_toml
    from robolearn.train import training_loop

    for option, value, least in (("--steps", steps, 1), ("--batch-size", batch_size, 1), ("--workers", workers, 0)):
        if value is not None and value < least:
            raise UsageError(f"{option}: got {value}, must be at least {least}")
    overrides: dict = {k: v for k, v in {"steps": steps, "out": out, "precision": precision, "device": device,
                                         "init_from": init_from, "seed": seed}.items() if v is not None}  # fmt: skip
    data = {k: v for k, v in {"stores": store, "val_stores": val_store, "batch_size": batch_size,
                              "workers": workers}.items() if v is not None}  # fmt: skip
    if data:
        overrides["data"] = data
    kind, config_cls, train = training_loop(config)
    if kind in ("rl", "sequence") and data:
        raise UsageError(f"--store / --val-store / --batch-size / --workers: {config} trains an agent, which "
                         "learns in its env, not from a dataset")  # fmt: skip
    if kind != "grasp_cnn" and (batch_size is not None or workers is not None):
        raise UsageError(f"--batch-size / --workers: options of grasp CNN training; {config} trains a {kind} (set "
                         "its [data] in the TOML)")  # fmt: skip
    cfg = load_toml(config, config_cls, overrides=overrides)
    try:
        summary = train(cfg, resume=resume, source=str(config))
    except KeyboardInterrupt as exc:
        from robolearn.models.checkpoint import latest
        from robolearn.signals import interrupted

        last = latest(Path(cfg.out) / "checkpoints")
        kept = f"the checkpoints up to {last.name} are kept in {cfg.out}" if last else f"no checkpoint yet in {cfg.out}"
        raise interrupted(f"{kept}; run the same command with --resume to continue", exc) from None
    if summary["main_process"]:
        shown = ("checkpoint", "best_checkpoint", "best_val_auc", "best_alignment_error", "best_success",
                 "best_return", "samples_per_s", "images_per_s", "env_steps_per_s", "loader_wait_fraction")  # fmt: skip
        typer.echo(json.dumps({k: summary[k] for k in shown if k in summary}
                              | {"val_" + k: v for k, v in summary["val"].items()}))  # fmt: skip


def _field_help(model, name: str) -> str:
    """The help of option `name`: the description of the config field it sets (one place for both)."""
    field = model.model_fields[name]
    return f"{field.description} (default: {field.default})"


def _reproduce_help(name: str) -> str:
    from robolearn.workflows.reproduce import ReproduceConfig

    return _field_help(ReproduceConfig, name)


@app.command("reproduce")
def reproduce_cmd(
    env: Annotated[str | None, typer.Option(help=_reproduce_help("env"))] = None,
    model: Annotated[str | None, typer.Option(help=_reproduce_help("model"))] = None,
    scale: Annotated[float | None, typer.Option(help=_reproduce_help("scale"))] = None,
    first: Annotated[int | None, typer.Option(help=_reproduce_help("first"))] = None,
    per_round: Annotated[int | None, typer.Option(help=_reproduce_help("per_round"))] = None,
    rounds: Annotated[int | None, typer.Option(help=_reproduce_help("rounds"))] = None,
    ensemble: Annotated[int | None, typer.Option(help=_reproduce_help("ensemble"))] = None,
    samples: Annotated[int | None, typer.Option(help=_reproduce_help("samples"))] = None,
    elites: Annotated[int | None, typer.Option(help=_reproduce_help("elites"))] = None,
    workers: Annotated[int | None, typer.Option(help=_reproduce_help("workers"))] = None,
    epsilon: Annotated[float | None, typer.Option(help=_reproduce_help("epsilon"))] = None,
    explore: Annotated[float | None, typer.Option(help=_reproduce_help("explore"))] = None,
    descend: Annotated[str | None, typer.Option(help=_reproduce_help("descend"))] = None,
    commit_steps: Annotated[int | None, typer.Option(help=_reproduce_help("commit_steps"))] = None,
    eval_episodes: Annotated[int | None, typer.Option(help=_reproduce_help("eval_episodes"))] = None,
    out: Annotated[str | None, typer.Option(help=_reproduce_help("out"))] = None,
) -> None:
    """The grasp recipe in one command, from nothing to a success table and a learning curve.

    Collect with the oracle mix, train grasp CNNs, collect with their CEM servo, train again, ..., then one
    evaluation of random, open loop, the servo and the oracle on held-out objects. Defaults: the recipe behind the
    KukaDiverse-v0 figures (hours on 2 cores); `--scale 0.02 --ensemble 2 --eval-episodes 20` is a smoke run of
    minutes. A rerun continues where it stopped. The final servo is written as `<out>/servo.toml`: `robolearn eval
    --policy <out>/servo.toml` runs it on any env and seeds."""
    from robolearn.config import validate
    from robolearn.workflows.reproduce import ReproduceConfig, run

    given = {k: v for k, v in locals().items() if v is not None and k in ReproduceConfig.model_fields}
    run(validate(ReproduceConfig, given, source="robolearn reproduce options"))


def _tcn_help(name: str) -> str:
    from robolearn.workflows.tcn import TCNExperimentConfig

    return _field_help(TCNExperimentConfig, name)


@app.command("reproduce-tcn")
def reproduce_tcn_cmd(
    scale: Annotated[float | None, typer.Option(help=_tcn_help("scale"))] = None,
    seeds: Annotated[int | None, typer.Option(help=_tcn_help("seeds"))] = None,
    train_episodes: Annotated[int | None, typer.Option(help=_tcn_help("train_episodes"))] = None,
    panda_episodes: Annotated[int | None, typer.Option(help=_tcn_help("panda_episodes"))] = None,
    test_episodes: Annotated[int | None, typer.Option(help=_tcn_help("test_episodes"))] = None,
    steps: Annotated[int | None, typer.Option(help=_tcn_help("steps"))] = None,
    workers: Annotated[int | None, typer.Option(help=_tcn_help("workers"))] = None,
    out: Annotated[str | None, typer.Option(help=_tcn_help("out"))] = None,
) -> None:
    """Time-contrastive networks in one command, from nothing to their comparison table.

    Collect multi-view motion video of the KUKA and the Panda, train the multi-view TCN, the single-view TCN, the
    same network on pose labels and the TCN on both arms for each seed, evaluate them beside the untrained network
    and raw pixels (robolearn eval-embedding), and judge the means over seeds. `--scale 0.05 --seeds 1` is a smoke
    run of minutes. A rerun continues where it stopped."""
    from robolearn.config import validate
    from robolearn.workflows.tcn import TCNExperimentConfig, run

    given = {k: v for k, v in locals().items() if v is not None and k in TCNExperimentConfig.model_fields}
    run(validate(TCNExperimentConfig, given, source="robolearn reproduce-tcn options"))


def _imitation_help(name: str) -> str:
    from robolearn.workflows.imitation import ImitationExperimentConfig

    return _field_help(ImitationExperimentConfig, name)


@app.command("reproduce-imitation")
def reproduce_imitation_cmd(
    tcn_experiment: Annotated[str | None, typer.Option(help=_imitation_help("tcn_experiment"))] = None,
    rewards: Annotated[list[str] | None, typer.Option("--reward", help=_imitation_help("rewards"))] = None,
    learner: Annotated[str | None, typer.Option(help=_imitation_help("learner"))] = None,
    seeds: Annotated[int | None, typer.Option(help=_imitation_help("seeds"))] = None,
    steps: Annotated[int | None, typer.Option(help=_imitation_help("steps"))] = None,
    scale: Annotated[float | None, typer.Option(help=_imitation_help("scale"))] = None,
    workers: Annotated[int | None, typer.Option(help=_imitation_help("workers"))] = None,
    out: Annotated[str | None, typer.Option(help=_imitation_help("out"))] = None,
) -> None:
    """Imitation from one video with every reward side by side, on a reproduce-tcn folder's data and TCNs.

    For each seed, a learner (the action sequence refined by CEM, or PPO) acts in a held-out KUKA episode's scene,
    seen from another camera, rewarded by the true pose, the true state (pose and objects), sparse success, the
    multi-view TCN (time-indexed and goal forms), the single-view TCN, the untrained network and pixels, and the
    Panda learns from the KUKA's video. Success at the pose and the object task with 95% intervals, learning curves,
    the issue's bars and a video of the demonstration beside the imitation. A rerun continues where it stopped."""
    from robolearn.config import validate
    from robolearn.workflows.imitation import ImitationExperimentConfig, run

    given = {k: v for k, v in locals().items() if v is not None and k in ImitationExperimentConfig.model_fields}
    run(validate(ImitationExperimentConfig, given, source="robolearn reproduce-imitation options"))


@app.command("compare")
def compare_cmd(
    reports: Annotated[list[str], typer.Argument(help="robolearn eval report.json files")],
    earlier: Annotated[
        list[str] | None, typer.Option(help="FILE.csv:COLUMN (or FILE.csv) of per-seed outcomes (repeatable)")
    ] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="write the reports' per-seed outcomes here")] = None,
    md: Annotated[Path | None, typer.Option(help="write the tables here instead of printing them")] = None,
    pool: Annotated[bool, typer.Option(help="join the runs of a policy (or column) on different seeds")] = False,
) -> None:
    """Paired success differences between policies evaluated on the same episode seeds.

    Each policy's success and its difference from every other (mean per-scene difference, 95% interval), from `robolearn eval` reports and,
    with --earlier, per-seed CSV columns of earlier results folders. --pool joins runs on different seeds."""
    from robolearn.evaluation.report import paired_tables, read_columns, read_outcomes, write_outcomes_csv

    _check_writable(csv_out, "--csv")
    _check_writable(md, "--md")
    try:
        new, old = read_outcomes(reports, pool), read_columns(earlier or [], pool)
        text = paired_tables(new, old)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if csv_out:
        write_outcomes_csv(csv_out, new)
    if md:
        md.write_text(text)
    else:
        typer.echo(text, nl=False)


@app.command("eval-embedding")
def eval_embedding_cmd(
    store: Annotated[
        str, typer.Argument(help="held-out episodes: a multi-view motion dataset (collection/multiview_*)")
    ],
    checkpoint: Annotated[
        list[str] | None, typer.Option("--checkpoint", "-c", help="NAME=DIR of a TCN checkpoint (repeatable)")
    ] = None,
    train_store: Annotated[
        str | None, typer.Option(help="labelled training episodes for the pose probe (else no probe)")
    ] = None,
    cross_store: Annotated[
        str | None, typer.Option(help="the other arm's episodes of the same seeds: alignment and tau across arms")
    ] = None,
    held_out_view: Annotated[
        list[int] | None, typer.Option(help="a view no model trained on (repeatable); reported apart")
    ] = None,
    baselines: Annotated[bool, typer.Option(help="add the untrained network and raw pixels")] = True,
    episodes: Annotated[int, typer.Option(help="at most this many held-out episodes")] = 100,
    train_episodes: Annotated[int, typer.Option(help="at most this many training episodes for the probe")] = 200,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for report.json, table.md, pictures")] = Path(
        "out/eval_embedding"
    ),
    force: Annotated[bool, typer.Option(help="write into a folder that already holds files")] = False,
) -> None:
    """How much pose TCN embeddings hold: cross-view alignment, Kendall's tau, a linear pose probe, across arms.

    Every checkpoint and baseline on the same held-out frames; writes report.json, table.md, an embedding picture
    (`pca_<name>.png`) and an alignment video per checkpoint, and prints the table."""
    from robolearn.evaluation import embedding as em
    from robolearn.models.checkpoint import read_config

    _check_new_folder(out, "--out", force)
    for name, value in (("--episodes", episodes), ("--train-episodes", train_episodes)):
        if value < 1:
            raise UsageError(f"{name}: got {value}, must be at least 1")
    models = {}
    for spec in checkpoint or []:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--checkpoint: got '{spec}', expected NAME=DIR")
        models[name] = path
    test = em.MotionEpisodes.read(store, episodes)
    held = tuple(held_out_view or ())
    if any(not 0 <= v < test.views for v in held):
        raise UsageError(f"--held-out-view: got {list(held)}, the store holds views 0-{test.views - 1}")
    if len(held) > test.views - 2:
        raise UsageError(f"--held-out-view: {len(held)} of {test.views} views held out leaves fewer than 2 seen")
    train = em.MotionEpisodes.read(train_store, train_episodes) if train_store else None
    cross = em.MotionEpisodes.read(cross_store, episodes) if cross_store else None
    embedders = {name: em.tcn_embedder(path) for name, path in models.items()}
    if baselines:
        config = read_config(next(iter(models.values())))["config"] if models else {
            "image_size": test.rgb[0].shape[2]}  # fmt: skip
        embedders["untrained"] = em.tcn_embedder(config={**config, "pose_outputs": 0})
        embedders["pixels"] = em.pixel_embedder()
    if not embedders:
        raise UsageError("nothing to evaluate: pass --checkpoint NAME=DIR or leave --baselines on")
    reports = {}
    for name, embed in embedders.items():
        typer.echo(f"evaluating {name} ...", err=True)
        feats = em.embed_episodes(embed, test)
        reports[name] = em.evaluate(embed, test, feats=feats, train=train, cross=cross, held_out_views=held)
        if name in models:
            out.mkdir(parents=True, exist_ok=True)
            em.pca_picture(out / f"pca_{name}.png", feats, f"{name}: held-out episodes, view 0")
            em.alignment_video(out / f"alignment_{name}.mp4", feats, test)
    meta = {"store": store, "train_store": train_store, "cross_store": cross_store, "held_out_views": list(held),
            "checkpoints": models}  # fmt: skip
    em.write_report(out, reports, meta)
    typer.echo(em.markdown_table(reports))
    typer.echo(f"wrote {out / 'report.json'}, {out / 'table.md'}")


@app.command("check-env")
def check_env_cmd(
    env: Annotated[str, typer.Argument(help="registered env id or env TOML file")],
    steps: Annotated[int, typer.Option(help="random steps taken after the checkers")] = 20,
) -> None:
    """Check an env with gymnasium's and stable-baselines3's env checkers, then some random steps.

    The checkers test the spaces, the reset and step contract and seeding; the first problem found is named."""
    from robolearn.envs.check import check_env

    if steps < 0:
        raise UsageError(f"--steps: got {steps}, must be at least 0")
    for line in check_env(env, steps=steps):
        typer.echo(line)


@app.command("info")
def info_cmd(
    store: Annotated[str, typer.Argument(help="dataset directory (shard-*.zarr inside) or one store; path or URL")],
    check: Annotated[
        bool, typer.Option("--check", help="decode every chunk; name each lost or damaged one and its episodes")
    ] = False,
    repair: Annotated[
        bool, typer.Option("--repair", help="collect the episodes of lost or damaged chunks again and write them back")
    ] = False,
) -> None:
    """Episodes, frames, success rate, shards, size on disk and compression ratio of a dataset; --check finds lost
    or damaged chunks (exit 1), --repair restores them from the campaign's seeds."""
    from robolearn.data import info

    if repair:
        from robolearn.collection.repair import repair as repair_dataset

        for line in repair_dataset(store):
            typer.echo(f"repaired: {line}")
    summary = info.summarize(store)
    for key, value in summary.items():
        typer.echo(f"{key:18s} {value:.4g}" if isinstance(value, float) else f"{key:18s} {value}")
    if check or repair:
        problems = info.check(store)
        for line in problems:
            typer.echo(f"broken: {line}", err=True)
        if problems:
            typer.echo(f"check: {len(problems)} problem(s); `robolearn info {store} --repair` collects the episodes "
                       "of lost or damaged chunks again", err=True)  # fmt: skip
            sys.exit(1)
        typer.echo(f"check: every chunk present and decoded, {summary['episodes']} episodes finite")


@app.command("view")
def view_cmd(
    store: Annotated[str, typer.Argument(help="dataset directory or one store; path or URL")],
    episode: Annotated[
        int, typer.Option("--episode", "-k", help="episode number, counted over the dataset's shards")
    ] = 0,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="folder for `episode_<k>.mp4` and `episode_<k>.png` (made if missing)")
    ] = Path("."),
) -> None:
    """Write one stored episode as an MP4 and a contact-sheet PNG (several views side by side), and print its
    values."""
    from robolearn.data.info import campaign_manifest, dataset_stores
    from robolearn.evaluation.media import contact_sheet, write_mp4, write_png

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is a file; give a folder")
    k = episode
    for s in dataset_stores(store):
        if 0 <= k < s.n_episodes:
            ep = s.episode(k)
            break
        k -= s.n_episodes
    else:
        raise UsageError(f"--episode: got {episode}, the dataset has episodes 0-{episode - k - 1}")
    out.mkdir(parents=True, exist_ok=True)
    fps = ((campaign_manifest(store) or {}).get("env_config") or {}).get("fps", 4.0)  # a motion's frame rate; grasps: 4
    write_mp4(out / f"episode_{episode}.mp4", list(ep["rgb"]), fps=fps)
    write_png(out / f"episode_{episode}.png", contact_sheet(list(ep["rgb"])), min_size=1)
    values = {key: np.asarray(v).tolist() for key, v in ep.items() if np.ndim(v) <= 1 and key not in s.frame_features}
    typer.echo(json.dumps({"episode": episode, "shard": s.source, "frames": len(ep["rgb"]), **values}))


@app.command("render")
def render_cmd(
    env: EnvArg = "robolearn/KukaDiverse-v0",
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write")] = Path("view.png"),
    seed: Annotated[int, typer.Option(help="episode seed of the scene")] = 0,
    size: Annotated[
        int | None, typer.Option(help="render at this many pixels square instead of the env's size")
    ] = None,
) -> None:
    """Write the env's camera view after reset as a PNG."""
    from robolearn.envs import make_env
    from robolearn.evaluation.media import write_png

    if size is not None and not 8 <= size <= 2048:
        raise UsageError(f"--size: got {size}, allowed: 8-2048")
    _check_writable(out, "--out")
    overrides = {"camera": {"width": size, "height": size}} if size else {}
    e = make_env(env, **overrides)
    try:
        obs, _ = e.reset(seed=seed)
    finally:
        e.close()
    write_png(out, obs["rgb"])
    typer.echo(f"wrote {out}")


def _check_writable(path: Path | None, option: str) -> None:
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a directory; give a file path")
    if not parent.is_dir():
        raise UsageError(f"{option}: directory {parent} does not exist")


def _check_new_folder(path: Path | None, option: str, force: bool) -> None:
    """A folder for a command's results: refuse a file, and a folder that already holds files unless `force`."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option}: {path} is a file; give a folder")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise UsageError(f"{option}: {path} already holds files; choose another folder or pass --force")


def _close_progress_bars() -> None:
    """Close the progress bars a signal cut short, so the last line a user sees is the one that says what to do."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        for bar in list(getattr(tqdm, "_instances", ())):
            bar.close()


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input becomes one line on stderr and exit code 2, never a traceback."""
    import signal

    from robolearn import signals
    from robolearn.signals import Interrupted, Terminated, raise_on_sigterm

    raise_on_sigterm()
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code != 0:  # typer turns a KeyboardInterrupt into a returned 130, and an Exit(n)
            if signals.received is not None:  # into n: a stopped job must not look like a finished one
                raise Terminated() if signals.received == signal.SIGTERM else KeyboardInterrupt()
            sys.exit(code)
    except Interrupted as exc:
        _close_progress_bars()
        typer.echo(f"interrupted: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:  # a job with nothing of its own to report
        _close_progress_bars()
        typer.echo("interrupted", err=True)
        sys.exit(143 if isinstance(exc, Terminated) else 130)
    except (ConfigError, UsageError, StoreError, CheckpointError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.TyperException as exc:  # typer's own usage errors: a missing argument, an unknown option
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `robolearn`: the help is what was asked for
            sys.exit(0)
        typer.echo(f"error: {exc.format_message()} (see --help)", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
