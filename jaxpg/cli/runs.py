"""A train command's run: a new one from the options, or one loaded from its checkpoint (checked
against its config.json) to resume or evaluate.

A checkpoint is rebuilt from its header (`jaxpg.checkpoint.read_metadata`): the config from the
CLI's config classes (`config_from_record`), the environment from its id and options, then the
run's `Runner`, whose ``template`` is the structure `jaxpg.checkpoint.restore` fills.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import time
from typing import Any

from jaxpg.cli.options import (
    ALGORITHM_NAMES,
    TARGET_CHUNKS,
    CLIError,
    build_config,
    check_count,
    check_fields,
    coerce_sets,
    config_from_record,
    make_environment,
    parse_assignments,
    resolve_compile_mode,
    runs_on_host,
)
from jaxpg.cli.programs import enable_compilation_cache
from jaxpg.cli.run import CHECKPOINT_FILE, CONFIG_FILE, Run
from jaxpg.cli.runners import make_runner
from jaxpg.cli.sweep import Sweep, parse_sweeps


def default_run_dir(algorithm: str, env_id: str) -> str:
    safe_env = re.sub(r"[^A-Za-z0-9._-]+", "_", env_id)
    base = os.path.join("runs", f"{algorithm}-{safe_env}-{time.strftime('%Y%m%d-%H%M%S')}")
    path, suffix = base, 2
    while os.path.exists(path):
        path, suffix = f"{base}-{suffix}", suffix + 1
    return path


def default_chunk_size(num_iterations: int) -> int:
    return max(1, math.ceil(num_iterations / TARGET_CHUNKS))


def setup_new_run(args: argparse.Namespace) -> Run:
    if args.algorithm is None:
        raise CLIError(f"give ALGO (one of {', '.join(ALGORITHM_NAMES)}) or --resume DIR")
    # Argument errors before anything imports jax (`check_fields` reads the config sources).
    sets = parse_assignments(args.sets, "--set")
    check_fields(args.algorithm, list(sets))
    enable_compilation_cache()  # before jax runs anything: JAX checks it once per process
    if args.env is None:
        raise CLIError("--env is required, e.g. --env CartPole-v1")
    seed = 0 if args.seed is None else args.seed
    num_seeds = 1 if args.seeds is None else args.seeds
    check_count("--seeds", num_seeds, 1)
    if not 0 <= seed or seed + num_seeds > 2**31:
        raise CLIError(f"--seed must be in [0, 2**31 - K); got {seed}")
    check_count("--chunk-size", args.chunk_size, 1)
    from jaxpg import presets

    preset = presets.get(args.algorithm, args.env)
    env_kwargs = {
        **(preset.env_kwargs if preset else {}),
        **parse_assignments(args.env_set, "--env-set"),
    }
    config = build_config(
        args.algorithm,
        sets,
        args.total_timesteps,
        args.num_envs,
        preset.fields if preset else None,
        getattr(args, "eval_every", None),
    )
    if preset is not None:
        shown = ", ".join(f"{k}={v}" for k, v in {**preset.fields, **preset.env_kwargs}.items())
        print(
            f"jaxpg: preset for {args.algorithm} on {args.env}: {shown} (from {preset.source}; "
            "--set / --env-set override)",
            file=sys.stderr,
        )
    sweep = parse_sweeps(args.algorithm, args.sweep, sets, args.total_timesteps, args.num_envs)
    env, env_params = make_environment(args.env, env_kwargs)
    if sweep is not None and runs_on_host(env):
        raise CLIError(
            f"--sweep vmaps the grid in one compiled program, which needs a JAX environment; "
            f"{args.env} runs on the host (train its grid points one by one with --set)"
        )
    name = args.algorithm if sweep is None else f"{args.algorithm}-sweep"
    out_dir = args.out or default_run_dir(name, args.env)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise CLIError(f"--out {out_dir} is a file; give a directory")
    if os.path.exists(os.path.join(out_dir, CHECKPOINT_FILE)):
        raise CLIError(
            f"{out_dir} already holds a run; continue it with --resume {out_dir} "
            "or choose another --out"
        )
    run = Run(
        algorithm=args.algorithm,
        config=config,
        env_id=args.env,
        env_kwargs=env_kwargs,
        env=env,
        env_params=env_params,
        runner=None,
        seeds=list(range(seed, seed + num_seeds)),
        out_dir=out_dir,
        chunk_size=args.chunk_size or default_chunk_size(config.num_iterations),
        sweep=sweep,
    )
    run.compile_mode = _compile_mode(args, run)
    run.runner = make_runner(run)
    return run


def _checkpoint_location(path: str) -> tuple[str, str]:
    """(checkpoint file, run directory) for a run directory or a checkpoint file."""
    if os.path.isdir(path):
        file = os.path.join(path, CHECKPOINT_FILE)
        if not os.path.exists(file):
            if os.path.exists(os.path.join(path, CONFIG_FILE)):
                raise CLIError(
                    f"{path} holds a run that stopped before its first checkpoint (interrupted "
                    "while compiling?), so there is nothing to resume: start it again with "
                    "`jaxpg train` (and remove the directory)"
                )
            raise CLIError(f"{path} has no {CHECKPOINT_FILE}; is it a jaxpg run directory?")
        return file, path
    if not os.path.exists(path):
        raise CLIError(f"{path} does not exist")
    return path, os.path.dirname(path) or "."


def _check_config_json(file: str, run_dir: str, header: dict[str, Any]) -> None:
    """Refuses a checkpoint that is not the run of the config.json beside it (if there is one)."""
    config_path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(config_path):
        return
    with open(config_path) as handle:
        try:
            recorded = json.load(handle)
        except json.JSONDecodeError as error:
            raise CLIError(f"{config_path} is not valid JSON: {error}") from None
    metadata, config = header["metadata"], header["config"] or {}
    stored = {
        "algorithm": metadata.get("algorithm", recorded.get("algorithm")),
        "config_class": config.get("class"),
        "env_id": metadata.get("env_id"),
        "env_kwargs": metadata.get("env_kwargs", {}),
        "seeds": metadata.get("seeds", recorded.get("seeds")),
        "sweep": metadata.get("sweep"),
    }
    differences = [
        f"{key} ({recorded.get(key)!r} there, {value!r} in the checkpoint)"
        for key, value in stored.items()
        if recorded.get(key) != value
    ]
    stored_fields = config.get("fields", {})
    recorded_fields = recorded.get("config", {})
    for name in sorted(set(stored_fields) | set(recorded_fields)):
        # A resume may raise total_timesteps; config.json is rewritten when it does.
        if name != "total_timesteps" and stored_fields.get(name) != recorded_fields.get(name):
            differences.append(
                f"{name} ({recorded_fields.get(name)!r} there, "
                f"{stored_fields.get(name)!r} in the checkpoint)"
            )
    if differences:
        raise CLIError(
            f"{file} does not match {config_path}: it differs in "
            + "; ".join(differences)
            + ". The checkpoint is not this run's"
        )


def _compile_mode(args: argparse.Namespace, run: Run) -> str:
    """``--compile`` resolved for ``run`` (``auto`` when not given)."""
    steps = run.config.total_timesteps * len(run.member_seeds)
    return resolve_compile_mode(getattr(args, "compile", None) or "auto", steps)


def _read_run(path: str) -> tuple[Run, str]:
    """The run a checkpoint's header describes (no runner, no state yet) and its file."""
    from jaxpg import checkpoint

    file, run_dir = _checkpoint_location(path)
    enable_compilation_cache()
    try:
        header = checkpoint.read_metadata(file)
    except ValueError as error:
        raise CLIError(f"cannot use {file}: {error}") from None
    metadata = header["metadata"]
    if "env_id" not in metadata:
        raise CLIError(
            f"{file} does not name its environment (no env_id in its metadata); "
            "`jaxpg train` did not write it"
        )
    _check_config_json(file, run_dir, header)
    config = config_from_record(header["config"], file)
    batch_shape = tuple(header["batch_shape"])
    if len(batch_shape) > 1:
        raise CLIError(
            f"the checkpoint's state is batched over {batch_shape}; the CLI handles one seed axis"
        )
    members = batch_shape[0] if batch_shape else 1
    record = metadata.get("sweep")
    sweep = Sweep.from_dict(record) if record else None
    points = len(sweep.points) if sweep is not None else 1
    seeds = list(metadata.get("seeds") or range(members // points))
    if len(seeds) * points != members:
        raise CLIError(
            f"the checkpoint holds {members} states, not {points} grid point(s) x "
            f"{len(seeds)} seed(s); it is damaged or not a jaxpg run"
        )
    env_kwargs = metadata.get("env_kwargs") or {}
    env, env_params = make_environment(metadata["env_id"], env_kwargs)
    run = Run(
        algorithm=metadata.get("algorithm", config.algorithm_name),
        config=config,
        env_id=metadata["env_id"],
        env_kwargs=env_kwargs,
        env=env,
        env_params=env_params,
        runner=None,
        seeds=seeds,
        out_dir=run_dir,
        chunk_size=int(metadata.get("chunk_size") or default_chunk_size(config.num_iterations)),
        sweep=sweep,
        compile_mode=metadata.get("compile", "optimized"),
    )
    return run, file


def _restore(run: Run, file: str) -> None:
    """Builds the run's runner and fills its state and history from the checkpoint."""
    import warnings

    import jax
    import numpy as np

    from jaxpg import checkpoint

    run.runner = make_runner(run)
    try:
        with warnings.catch_warnings(record=True) as caught:
            # jaxpg's own (a checkpoint from another version), not other packages' notices.
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", UserWarning)
            restored = checkpoint.restore(file, run.runner.template)
    except ValueError as error:
        run.runner.close()
        raise CLIError(f"cannot use {file}: {error}") from None
    for warning in caught:
        print(f"jaxpg: warning: {warning.message}", file=sys.stderr)
    state, metrics = restored.state, restored.metrics
    if restored.batch_shape == ():  # one unbatched state: give it the seed axis
        state = jax.tree.map(lambda leaf: leaf[None], state)
        metrics = {name: np.asarray(value)[None] for name, value in metrics.items()}
    run.state, run.history = state, metrics
    run.iterations_done = int(np.asarray(state.iteration).reshape(-1)[0])


def load_run_checkpoint(path: str) -> Run:
    """The run saved at ``path`` (a run directory or its checkpoint file), checked against its
    config.json, with its runner (close it), state and history."""
    run, file = _read_run(path)
    _restore(run, file)
    return run


def _resume_changes(args: argparse.Namespace, run: Run) -> list[str]:
    """The options of ``args`` that a resume cannot change and that differ from the run's own,
    each with the run's value and the given one."""
    from jaxpg.checkpoint import _json_ready

    changes = []

    def compare(option: str, own: Any, given: Any) -> None:
        if given is not None and _json_ready(given) != _json_ready(own):
            changes.append(f"{option} (the run's is {own!r}, given {given!r})")

    compare("ALGO", run.algorithm, args.algorithm)
    compare("--env", run.env_id, args.env)
    for name, value in parse_assignments(args.env_set, "--env-set").items():
        if name in run.env_kwargs:
            compare(f"--env-set {name}", run.env_kwargs[name], value)
        else:
            changes.append(f"--env-set {name} (the run does not set it, given {value!r})")
    sets = coerce_sets(run.algorithm, parse_assignments(args.sets, "--set"))
    for name, value in sets.items():
        compare(f"--set {name}", getattr(run.config, name), value)
    compare("--num-envs", run.config.num_envs, args.num_envs)
    compare("--eval-every", run.config.eval_every, getattr(args, "eval_every", None))
    compare("--seed", run.seeds[0], args.seed)
    compare("--seeds", len(run.seeds), args.seeds)
    if args.sweep is not None:
        sweep = parse_sweeps(run.algorithm, args.sweep, {})
        if sweep != run.sweep:
            own = " ".join(run.sweep.options()) if run.sweep is not None else "none"
            changes.append(f"--sweep (the run's is {own}, given {' '.join(sweep.options())})")
    if args.out is not None and os.path.realpath(args.out) != os.path.realpath(run.out_dir):
        changes.append(f"--out (the run's is {run.out_dir!r}, given {args.out!r})")
    return changes


def setup_resume(args: argparse.Namespace) -> Run:
    import numpy as np

    check_count("--chunk-size", args.chunk_size, 1)
    run, file = _read_run(args.resume)
    changes = _resume_changes(args, run)
    if changes:
        raise CLIError(
            f"--resume continues {run.out_dir} as it was configured; "
            + "; ".join(changes)
            + ". Only --total-timesteps, --chunk-size, --eval-episodes, --compile and "
            "--no-progress can change; give the other options as the run has them, or not at all"
        )
    if args.total_timesteps is not None:
        run.config = dataclasses.replace(run.config, total_timesteps=args.total_timesteps)
        try:
            run.config.validate()
        except ValueError as error:
            raise CLIError(f"invalid --total-timesteps: {error}") from None
    if args.chunk_size is not None:
        run.chunk_size = args.chunk_size
    if getattr(args, "compile", None) is not None:
        run.compile_mode = _compile_mode(args, run)
    _restore(run, file)
    if run.iterations_done >= run.config.num_iterations:
        run.runner.close()
        done = run.iterations_done
        env_steps = int(np.asarray(run.state.env_steps.value()).reshape(-1)[0])
        raise CLIError(
            f"{run.out_dir} has already trained {done} iterations ({env_steps} env steps per "
            f"seed), all of total_timesteps={run.config.total_timesteps}; pass a larger "
            "--total-timesteps (the new total) to train more"
        )
    return run
