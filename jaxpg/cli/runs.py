"""A train command's run: a new one from the options, or one loaded from its checkpoint (checked
against its config.json) to resume."""

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

from jaxpg.cli.host import HostSeeds
from jaxpg.cli.options import (
    TARGET_CHUNKS,
    CLIError,
    algorithm_entry,
    algorithm_registry,
    build_config,
    check_count,
    make_environment,
    parse_assignments,
    runs_on_host,
)
from jaxpg.cli.outputs import CHECKPOINT_FILE, CONFIG_FILE
from jaxpg.cli.sweep import Sweep, parse_sweeps


@dataclasses.dataclass
class Run:
    """What a train command works on (a new run, or one loaded to resume)."""

    algorithm: str
    config: Any
    env_id: str
    env_kwargs: dict[str, Any]
    env: Any
    env_params: Any
    trainer: Any
    seeds: list[int]
    out_dir: str
    chunk_size: int
    state: Any = None
    history: dict[str, Any] = dataclasses.field(default_factory=dict)
    iterations_done: int = 0
    sweep: Sweep | None = None

    @property
    def on_host(self) -> bool:
        """A gymnasium environment: rollouts on the host, seeds in turn (`HostSeeds`)."""
        return runs_on_host(self.env)

    @property
    def member_seeds(self) -> list[int]:
        """The seed of every vmapped member: the seeds, or grid points x seeds in a sweep."""
        points = len(self.sweep.points) if self.sweep is not None else 1
        return self.seeds * points

    def program_inputs(self) -> tuple[Any, ...]:
        """The inputs the compiled programs take besides states, seeds and counts."""
        if self.sweep is None:
            return ()
        return (self.sweep.member_values(len(self.seeds)),)


def make_run_trainer(config: Any, env: Any, env_params: Any, num_seeds: int) -> Any:
    """`make_trainer` for a JAX environment; `HostSeeds` for a gymnasium one."""
    from jaxpg.train import make_trainer

    try:
        if runs_on_host(env):
            return HostSeeds(config, env, env_params, num_seeds)
        return make_trainer(config, env, env_params)
    except ValueError as error:
        raise CLIError(str(error)) from None


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
        raise CLIError(f"give ALGO (one of {', '.join(algorithm_registry())}) or --resume DIR")
    algorithm_entry(args.algorithm)
    if args.env is None:
        raise CLIError("--env is required, e.g. --env CartPole-v1")
    seed = 0 if args.seed is None else args.seed
    num_seeds = 1 if args.seeds is None else args.seeds
    check_count("--seeds", num_seeds, 1)
    if not 0 <= seed or seed + num_seeds > 2**31:
        raise CLIError(f"--seed must be in [0, 2**31 - K); got {seed}")
    check_count("--chunk-size", args.chunk_size, 1)
    env_kwargs = parse_assignments(args.env_set, "--env-set")
    sets = parse_assignments(args.sets, "--set")
    config = build_config(args.algorithm, sets, args.total_timesteps, args.num_envs)
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
    trainer = make_run_trainer(config, env, env_params, num_seeds)
    return Run(
        algorithm=args.algorithm,
        config=config,
        env_id=args.env,
        env_kwargs=env_kwargs,
        env=env,
        env_params=env_params,
        trainer=trainer,
        seeds=list(range(seed, seed + num_seeds)),
        out_dir=out_dir,
        chunk_size=args.chunk_size or default_chunk_size(config.num_iterations),
        sweep=sweep,
    )


def _checkpoint_location(path: str) -> tuple[str, str]:
    """(checkpoint file, run directory) for a run directory or a checkpoint file."""
    if os.path.isdir(path):
        file = os.path.join(path, CHECKPOINT_FILE)
        if not os.path.exists(file):
            raise CLIError(f"{path} has no {CHECKPOINT_FILE}; is it a jaxpg run directory?")
        return file, path
    if not os.path.exists(path):
        raise CLIError(f"{path} does not exist")
    return path, os.path.dirname(path) or "."


def load_run_checkpoint(path: str) -> tuple[Any, str]:
    """Loads a run's checkpoint and checks it against the run's config.json (if there is one)."""
    import warnings

    from jaxpg import checkpoint

    file, run_dir = _checkpoint_location(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            # jaxpg's (a checkpoint from another version); not the deprecation notices of
            # packages imported on the way (Box2D's SWIG types).
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", UserWarning)
            loaded = checkpoint.load_checkpoint(file)  # host-side (gymnasium) runs too
    except (ValueError, ImportError) as error:
        raise CLIError(f"cannot use {file}: {error}") from None
    for warning in caught:
        print(f"jaxpg: warning: {warning.message}", file=sys.stderr)
    config_path = os.path.join(run_dir, CONFIG_FILE)
    if os.path.exists(config_path):
        with open(config_path) as handle:
            try:
                recorded = json.load(handle)
            except json.JSONDecodeError as error:
                raise CLIError(f"{config_path} is not valid JSON: {error}") from None
        stored = {
            "algorithm": loaded.metadata.get("algorithm", recorded.get("algorithm")),
            "config_class": type(loaded.config).__name__,
            "env_id": loaded.env_id,
            "env_kwargs": loaded.env_kwargs,
            "seeds": loaded.metadata.get("seeds", recorded.get("seeds")),
            "sweep": loaded.metadata.get("sweep"),
        }
        differences = [
            f"{key} ({recorded.get(key)!r} there, {value!r} in the checkpoint)"
            for key, value in stored.items()
            if recorded.get(key) != value
        ]
        stored_fields = loaded.config.to_dict()
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
    return loaded, run_dir


def with_seed_axis(loaded: Any) -> tuple[Any, dict[str, Any]]:
    """The checkpoint's state and metrics with a leading seed axis (added if it had none)."""
    import jax
    import numpy as np

    state, metrics = loaded.state, loaded.metrics
    batch_shape = np.shape(state.iteration)
    if batch_shape == ():
        state = jax.tree.map(lambda leaf: leaf[None], state)
        metrics = {name: np.asarray(value)[None] for name, value in metrics.items()}
    elif len(batch_shape) != 1:
        raise CLIError(
            f"the checkpoint's state is batched over {batch_shape}; the CLI handles one seed axis"
        )
    return state, metrics


def run_seeds(loaded: Any, state: Any) -> tuple[list[int], Sweep | None]:
    """A checkpoint's seeds and sweep grid (None for a plain run), checked against its state
    (batched over grid points x seeds)."""
    import numpy as np

    members = int(np.shape(state.iteration)[0])
    record = loaded.metadata.get("sweep")
    sweep = Sweep.from_dict(record) if record else None
    points = len(sweep.points) if sweep is not None else 1
    seeds = list(loaded.metadata.get("seeds") or range(members // points))
    if len(seeds) * points != members:
        raise CLIError(
            f"the checkpoint holds {members} states, not {points} grid point(s) x "
            f"{len(seeds)} seed(s); it is damaged or not a jaxpg run"
        )
    return seeds, sweep


def setup_resume(args: argparse.Namespace) -> Run:
    import numpy as np

    fixed = {
        "ALGO": args.algorithm,
        "--env": args.env,
        "--env-set": args.env_set,
        "--set": args.sets,
        "--num-envs": args.num_envs,
        "--seed": args.seed,
        "--seeds": args.seeds,
        "--sweep": args.sweep,
        "--out": args.out,
    }
    given = [name for name, value in fixed.items() if value is not None]
    if given:
        raise CLIError(
            f"--resume continues a run as it was configured; {', '.join(given)} "
            "cannot change it (only --total-timesteps, --chunk-size, "
            "--eval-episodes and --no-progress apply)"
        )
    check_count("--chunk-size", args.chunk_size, 1)
    loaded, run_dir = load_run_checkpoint(args.resume)
    state, history = with_seed_axis(loaded)
    config = loaded.config
    if args.total_timesteps is not None:
        config = dataclasses.replace(config, total_timesteps=args.total_timesteps)
        try:
            config.validate()
        except ValueError as error:
            raise CLIError(f"invalid --total-timesteps: {error}") from None
    done = int(np.asarray(state.iteration).reshape(-1)[0])
    if done >= config.num_iterations:
        raise CLIError(
            f"{run_dir} has already trained {done} iterations ({done * config.batch_size} env "
            f"steps per seed), all of total_timesteps={config.total_timesteps}; pass a larger "
            "--total-timesteps (the new total) to train more"
        )
    env, env_params = make_environment(loaded.env_id, loaded.env_kwargs)
    seeds, sweep = run_seeds(loaded, state)
    chunk_size = (
        args.chunk_size
        or loaded.metadata.get("chunk_size")
        or default_chunk_size(config.num_iterations)
    )
    return Run(
        algorithm=loaded.metadata.get("algorithm", config.algorithm_name),
        config=config,
        env_id=loaded.env_id,
        env_kwargs=loaded.env_kwargs,
        env=env,
        env_params=env_params,
        trainer=make_run_trainer(config, env, env_params, len(seeds)),
        seeds=seeds,
        sweep=sweep,
        out_dir=run_dir,
        chunk_size=int(chunk_size),
        state=state,
        history=history,
        iterations_done=done,
    )
