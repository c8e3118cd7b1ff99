"""The ``jaxpg`` command line: train an algorithm on an environment, evaluate a saved run.

    jaxpg train trpo --env CartPole-v1
    jaxpg train trpo --env CartPole-v1 --seeds 4 --set sampling=vine --set hidden_sizes=32,32
    jaxpg train maxent --env GridWorld-v0 --set num_steps=300 --env-set observation=one_hot
    jaxpg train trpo --env gymnasium:LunarLander-v3 --total-timesteps 1000000
    jaxpg train ppo --env CartPole-v1 --sweep lr=1e-3,3e-3,1e-2 --sweep gamma=0.95,0.99 --seeds 4
    jaxpg train --resume runs/trpo-CartPole-v1-20250101-120000 --total-timesteps 200000
    jaxpg eval runs/trpo-CartPole-v1-20250101-120000 --greedy --render cartpole.gif

A thin layer over the library: ``make_env``, ``make_trainer`` and ``evaluate``. Training runs
in chunks of ``--chunk-size`` iterations, each one call of a single compiled program,
``jit(vmap(run_chunk))`` over seeds (`make_chunk_runner`). The program takes the number of
iterations to run as a traced argument and skips the rest of its fixed-length scan with
`lax.cond`, so the last, partial chunk reuses it. A new run compiles three programs (the
initial states, the chunk, the final evaluation), a resumed run two (no initial states), in
parallel threads, and never one per chunk; the number of seeds does not change that (they are
vmapped). Within one process, programs are also reused across `main` calls when their config
and environment, or their lowered module, are the same.

After every chunk the run's checkpoint is saved atomically, so Ctrl-C leaves the last completed
chunk on disk (and the metrics, curve and config are written before exiting); ``--resume DIR``
continues it. ``--total-timesteps`` on a resume is the new total for the whole run (default:
the total the run was started with). All randomness comes from the PRNG key carried in the
checkpointed state, so N iterations, then a resume to 2N, give bit for bit the metrics and
parameters of 2N iterations in one go (on the same machine), whatever the chunk sizes. Seed S
trains from ``jax.random.key(S)``: a run with seeds S..S+K-1 equals
``jax.vmap(make_train(config, env, env_params))`` over those keys, bit for bit (one seed alone
unvmapped sees the same episodes; its floats may differ in the last bits). An algorithm whose
schedule depends on the run's length (PPO's ``anneal_lr``) follows the total in force when
each iteration is trained.

Gymnasium environments (``--env gymnasium:LunarLander-v3``) have no JAX ``step``, so their runs
go through `jaxpg.host_train`: rollouts on the host from a gymnasium vector environment, the
same jitted update as the JAX path (compiled on first use, during training). ``--seeds K``
then trains the seeds in turn, chunk by chunk, one vector environment each, sharing the
compiled functions. Seed S of such a run equals `train_host` with ``jax.random.key(S)`` in one
go, bit for bit, whatever the chunk sizes; a resumed run restarts its episodes (fresh resets
seeded from the checkpointed key), so it is reproducible but not the run in one go. Files,
progress bar, summary and ``jaxpg eval`` are the same (evaluation with `evaluate_host`).

``--sweep FIELD=V1,V2,...`` (repeatable: the cartesian product) trains a grid of values of
traced config fields (`sweepable_fields`; ``lr`` and the other `SWEEP_ALIASES` are short
names) in one compiled program: ``jit(vmap(sweep_chunk))`` over grid points x seeds flattened
to one leading axis (`make_sweep_chunk_runner`), each member training with
``dataclasses.replace(config, **its values)`` from the key of its seed (the grid points of a
seed start from the same parameters and first rollout, unless the swept field changes them,
like ``init_log_std``). A static field is refused before anything is traced. The
run directory then holds ``sweep.csv`` and ``sweep.md`` (per grid point the final return,
and the evaluation return, as mean ± std over seeds, and the best point), ``sweep.png``
(return against env steps per grid point, mean and ± std band over seeds) and a
``metrics.csv`` with ``grid_point`` and the swept fields as columns; ``--resume`` and
``jaxpg eval`` work on it as on any run.

Run directory (default ``runs/<algo>-<env>-<timestamp>``): ``config.json`` (algorithm, env id and
options, every config field, seeds, jaxpg version, summary), ``metrics.csv`` (one row per
iteration and seed), ``learning_curve.png`` and ``checkpoint.msgpack`` (`jaxpg.checkpoint`).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import difflib
import hashlib
import json
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

ALGORITHM_NAMES = ("vpg", "maxent", "a2c", "trpo", "npg", "ppo")
CHECKPOINT_FILE = "checkpoint.msgpack"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CURVE_FILE = "learning_curve.png"
SWEEP_CSV = "sweep.csv"
SWEEP_TABLE = "sweep.md"
SWEEP_PLOT = "sweep.png"
#: Default number of chunks (progress updates and checkpoints) in a run.
TARGET_CHUNKS = 20
#: GIF frame rates: CartPole in real time (tau = 0.02 s), GridWorld slow enough to follow.
RENDER_FPS = {"cartpole": 50.0, "gridworld": 8.0}
TRAJECTORY_STEPS = 25
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A user error: printed as ``jaxpg: error: ...`` with exit status 2, no traceback."""


def algorithm_registry() -> dict[str, tuple[type, dict[str, Any]]]:
    """CLI algorithm name to (config class, defaults that differ from the class's)."""
    from jaxpg.algorithms import ActorCriticConfig, TRPOConfig, VPGConfig

    registry: dict[str, tuple[type, dict[str, Any]]] = {
        "vpg": (VPGConfig, {}),
        # Seed 001: entropy-augmented rewards and its decaying epsilon-random exploration.
        "maxent": (VPGConfig, {"entropy_alpha": 1.0, "exploration": "seed"}),
        "a2c": (ActorCriticConfig, {}),
        "trpo": (TRPOConfig, {}),
        "npg": (TRPOConfig, {"line_search": False}),
    }
    try:
        from jaxpg.algorithms.ppo import PPOConfig
    except ImportError:  # pragma: no cover - PPO is optional while it is being written
        pass
    else:
        registry["ppo"] = (PPOConfig, {})
    return registry


def _algorithm(name: str) -> tuple[type, dict[str, Any]]:
    registry = algorithm_registry()
    if name not in registry:
        raise CLIError(f"unknown algorithm {name!r}; choose one of {', '.join(registry)}")
    return registry[name]


def parse_value(text: str) -> Any:
    """Parses a ``--set`` value: ints, floats (``1e-3``, ``inf``), bools, ``none``, strings,
    comma-separated tuples (``64,64``; ``()`` is empty) and JSON (``[[1, 2], [3, 4]]``)."""
    text = text.strip()
    if text in ("", "()", "[]"):
        return ()
    if text[0] in "[{":
        try:
            return _lists_to_tuples(json.loads(text))
        except json.JSONDecodeError as error:
            raise CLIError(f"cannot parse {text!r} as JSON: {error}") from None
    if text[0] == "(" and text[-1] == ")":
        return tuple(parse_value(part) for part in text[1:-1].split(",") if part.strip())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if "," in text:
        return tuple(parse_value(part) for part in text.split(",") if part.strip())
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def _lists_to_tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_lists_to_tuples(item) for item in value)
    if isinstance(value, dict):
        return {key: _lists_to_tuples(item) for key, item in value.items()}
    return value


def parse_assignments(items: Sequence[str] | None, option: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` to ``{"a": 1, "b": "x"}`` with `parse_value`."""
    values: dict[str, Any] = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise CLIError(f"{option} expects name=value; got {item!r}")
        values[name.strip()] = parse_value(text)
    return values


def _coerce(default: Any, value: Any) -> Any:
    """Adapts a parsed value to the type of a field's default (``1`` for a float is ``1.0``)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return value
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(default, tuple) and isinstance(value, int):
        return (value,)
    return value


def build_config(
    algorithm: str,
    sets: dict[str, Any] | None = None,
    total_timesteps: int | None = None,
    num_envs: int | None = None,
) -> Any:
    """The validated config for a CLI algorithm name, ``--set`` values and flags.

    Raises:
        CLIError: unknown algorithm (lists the valid ones), unknown field (lists the known
            ones), or an invalid value (names the field).
    """
    config_class, defaults = _algorithm(algorithm)
    fields = {field.name: field for field in dataclasses.fields(config_class)}
    sets = dict(sets or {})
    for name in sets:
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CLIError(
                f"unknown field {name!r} for {algorithm} ({config_class.__name__}){hint}; "
                f"known fields: {', '.join(sorted(fields))}"
            )
    for flag, name, value in (
        ("--total-timesteps", "total_timesteps", total_timesteps),
        ("--num-envs", "num_envs", num_envs),
    ):
        if value is not None:
            if name in sets:
                raise CLIError(f"{name} is given twice (--set {name}=... and {flag})")
            sets[name] = value
    if algorithm in ("trpo", "npg") and "line_search" in sets:
        wanted = "trpo" if sets["line_search"] is True else "npg"
        if wanted != algorithm:
            raise CLIError(
                f"{algorithm} with line_search={sets['line_search']!r} is {wanted}; "
                f"run `jaxpg train {wanted}` instead"
            )
    values = {**defaults, **{name: _coerce(fields[name].default, v) for name, v in sets.items()}}
    try:
        config = config_class(**values)
        config.validate()
    except (ValueError, TypeError) as error:
        raise CLIError(f"invalid {algorithm} config: {error}") from None
    return config


#: Short names ``--sweep`` accepts: each stands for the first of its fields the config has.
SWEEP_ALIASES: dict[str, tuple[str, ...]] = {
    "lr": ("learning_rate",),
    "value_lr": ("value_learning_rate",),
    "vf_lr": ("value_learning_rate",),
    "lambda": ("gae_lambda",),
    "lam": ("gae_lambda",),
    "alpha": ("entropy_alpha",),
    "ent_coef": ("ent_coef", "entropy_coef"),
    "entropy_coef": ("entropy_coef", "ent_coef"),
    "kl": ("max_kl",),
    "clip": ("clip_eps",),
}


def sweepable_fields(algorithm: str) -> list[str]:
    """The traced (float) config fields of a CLI algorithm: those ``--sweep`` accepts."""
    config_class, _ = _algorithm(algorithm)
    return [
        field.name
        for field in dataclasses.fields(config_class)
        if field.metadata.get("pytree_node", True)
    ]


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A grid of traced config values: the cartesian product of each field's values.

    Attributes:
        fields: config field names, in ``--sweep`` order.
        points: the grid points, one value per field; the last field varies fastest.
    """

    fields: tuple[str, ...]
    points: tuple[tuple[float, ...], ...]

    def values(self, index: int) -> dict[str, float]:
        """Grid point ``index`` as ``{field: value}``."""
        return dict(zip(self.fields, self.points[index], strict=True))

    def label(self, index: int) -> str:
        """Grid point ``index`` as ``field=value, ...``."""
        return ", ".join(f"{name}={value:g}" for name, value in self.values(index).items())

    def member_values(self, num_seeds: int) -> dict[str, Any]:
        """``{field: float32 [num_points * num_seeds]}``: member ``g * num_seeds + k`` is grid
        point ``g`` with the ``k``-th seed."""
        import numpy as np

        return {
            name: np.repeat(np.asarray([point[i] for point in self.points], np.float32), num_seeds)
            for i, name in enumerate(self.fields)
        }

    def to_dict(self) -> dict[str, Any]:
        return {"fields": list(self.fields), "points": [list(point) for point in self.points]}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Sweep:
        return cls(tuple(record["fields"]), tuple(tuple(point) for point in record["points"]))


def _sweep_field(algorithm: str, name: str) -> str:
    """The config field ``--sweep NAME=...`` means: the field itself or an alias's target."""
    config_class, _ = _algorithm(algorithm)
    fields = [field.name for field in dataclasses.fields(config_class)]
    sweepable = sweepable_fields(algorithm)
    listing = f"sweepable (traced) fields of {algorithm}: {', '.join(sweepable)}"
    if name not in fields and name in SWEEP_ALIASES:
        matches = [field for field in SWEEP_ALIASES[name] if field in fields]
        if not matches:
            raise CLIError(
                f"--sweep {name}: {name} is short for {' or '.join(SWEEP_ALIASES[name])}, which "
                f"{algorithm} ({config_class.__name__}) does not have; {listing}"
            )
        name = matches[0]
    if name not in fields:
        close = difflib.get_close_matches(name, sweepable, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CLIError(f"--sweep {name}: unknown field for {algorithm}{hint}; {listing}")
    if name not in sweepable:
        raise CLIError(
            f"--sweep {name}: {name} is a static field of {config_class.__name__} (it fixes "
            "shapes or loop lengths, so each value would need its own compiled program); only "
            f"traced fields can be swept in one compile; {listing}"
        )
    return name


def parse_sweeps(
    algorithm: str,
    items: Sequence[str] | None,
    sets: dict[str, Any],
    total_timesteps: int | None = None,
    num_envs: int | None = None,
) -> Sweep | None:
    """The grid of ``--sweep FIELD=V1,V2,...`` options (None without any), every grid point's
    config validated with ``--set`` and the flags (`build_config`).

    Raises:
        CLIError: a malformed option, an unknown or static field (lists the sweepable ones),
            a field given twice or also in ``--set``, a value that is not a number, or a grid
            point whose config is invalid (names the field and value).
    """
    import itertools

    if not items:
        return None
    grid: dict[str, tuple[float, ...]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise CLIError(f"--sweep expects FIELD=V1,V2,...; got {item!r}")
        field = _sweep_field(algorithm, name.strip())
        if field in grid:
            raise CLIError(f"--sweep {field} is given twice; give all its values in one option")
        if field in sets:
            raise CLIError(f"{field} is given twice (--set {field}=... and --sweep {field}=...)")
        parsed = parse_value(text)
        values = parsed if isinstance(parsed, tuple) else (parsed,)
        if not values:
            raise CLIError(f"--sweep {item!r} gives no values; e.g. --sweep {field}=0.1,0.2")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CLIError(
                    f"--sweep {field}: {value!r} is not a number; give numbers such as "
                    f"{field}=0.001,0.003"
                )
        for value in values:  # each value alone first: the clearest message
            try:
                build_config(algorithm, {**sets, field: value}, total_timesteps, num_envs)
            except CLIError as error:
                raise CLIError(f"--sweep {field}={value:g}: {error}") from None
        grid[field] = tuple(float(value) for value in values)
    points = tuple(itertools.product(*grid.values()))
    sweep = Sweep(tuple(grid), points)
    for index in range(len(points)):
        try:
            build_config(algorithm, {**sets, **sweep.values(index)}, total_timesteps, num_envs)
        except CLIError as error:
            raise CLIError(f"--sweep grid point {sweep.label(index)}: {error}") from None
    return sweep


def sweep_results(
    sweep: Sweep, num_seeds: int, final_returns: Any, eval_returns: Any = None
) -> list[dict[str, Any]]:
    """One record per grid point: its values, the final training return (last iteration) and,
    with ``eval_returns``, the evaluation return, each as mean, std, min and max over seeds, and
    ``best`` (the highest eval mean, else the highest final mean).

    Args:
        sweep: the grid.
        num_seeds: seeds per grid point ``K``.
        final_returns: ``[G * K]``, member ``g * K + k``.
        eval_returns: ``[G * K, episodes]`` or None.
    """
    import numpy as np

    final = np.asarray(final_returns, np.float64).reshape(len(sweep.points), num_seeds)
    per_seed_eval = None
    if eval_returns is not None:
        per_seed_eval = np.asarray(eval_returns, np.float64).mean(axis=-1)
        per_seed_eval = per_seed_eval.reshape(len(sweep.points), num_seeds)
    records = []
    for index in range(len(sweep.points)):
        record: dict[str, Any] = {"grid_point": index, **sweep.values(index)}
        for name, table in (("final_return", final), ("eval_return", per_seed_eval)):
            if table is not None:
                row = table[index]
                record.update(
                    {
                        f"{name}_mean": float(row.mean()),
                        f"{name}_std": float(row.std()),
                        f"{name}_min": float(row.min()),
                        f"{name}_max": float(row.max()),
                    }
                )
        records.append(record)
    score = "eval_return_mean" if per_seed_eval is not None else "final_return_mean"
    best = max(range(len(records)), key=lambda index: records[index][score])
    for index, record in enumerate(records):
        record["best"] = index == best
    return records


def format_sweep_table(
    sweep: Sweep, records: list[dict[str, Any]], num_seeds: int, eval_episodes: int = 0
) -> str:
    """A markdown table of `sweep_results`: one row per grid point, mean ± std over seeds."""
    seeds = f"{num_seeds} seed{'s' if num_seeds > 1 else ''}"
    header = ["#", *sweep.fields, f"final return (mean ± std over {seeds})"]
    with_eval = "eval_return_mean" in records[0]
    if with_eval:
        header.append(f"eval return ({eval_episodes} episodes per seed)")
    header.append("best")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in records:
        cells = [str(record["grid_point"])]
        cells += [f"{record[name]:g}" for name in sweep.fields]
        cells.append(f"{record['final_return_mean']:.4g} ± {record['final_return_std']:.3g}")
        if with_eval:
            cells.append(f"{record['eval_return_mean']:.4g} ± {record['eval_return_std']:.3g}")
        cells.append("best" if record["best"] else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_sweep_csv(path: str, sweep: Sweep, records: list[dict[str, Any]]) -> None:
    """`sweep_results` as CSV: ``grid_point, <fields>, final_return_mean, ..., best``."""
    import csv

    columns = list(records[0])
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for record in records:
            writer.writerow([_format_cell(record[name]) for name in columns])
    os.replace(temporary, path)


def _format_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.7g}"
    return str(value)


def make_chunk_runner(trainer: Any, chunk_size: int) -> Any:
    """``run_chunk(states, num_iterations) -> (states, metrics)``, vmapped over seeds.

    ``states`` is a `TrainState` batched over seeds; ``num_iterations`` (a traced int32 scalar,
    shared by the seeds, at most ``chunk_size``) iterations run and the rest of the
    ``chunk_size``-long scan is skipped by `lax.cond`, so one compiled program serves every
    chunk. ``metrics`` leaves are ``[num_seeds, chunk_size]``; entries past ``num_iterations``
    are zeros.
    """
    import jax

    def run_chunk(state, num_iterations):
        return _run_chunk(trainer, chunk_size, state, num_iterations)

    return jax.vmap(run_chunk, in_axes=(0, None))


def make_sweep_chunk_runner(config: Any, env: Any, env_params: Any, chunk_size: int) -> Any:
    """``sweep_chunk(states, values, num_iterations) -> (states, metrics)``, vmapped over
    grid points x seeds flattened to one leading axis of size ``M``.

    ``values`` maps traced config fields to ``[M]`` arrays: each member trains with
    ``dataclasses.replace(config, **its values)``, so one compiled program serves every grid
    point (and every chunk, as in `make_chunk_runner`). ``metrics`` leaves are
    ``[M, chunk_size]``.
    """
    import jax

    from jaxpg.train import make_trainer

    def sweep_chunk(state, values, num_iterations):
        trainer = make_trainer(dataclasses.replace(config, **values), env, env_params)
        return _run_chunk(trainer, chunk_size, state, num_iterations)

    return jax.vmap(sweep_chunk, in_axes=(0, 0, None))


def _run_chunk(trainer: Any, chunk_size: int, state: Any, num_iterations: Any) -> Any:
    """One member's chunk: ``num_iterations`` of a ``chunk_size``-long scan, the rest skipped."""
    import jax
    import jax.numpy as jnp

    def one_iteration(state):
        state, metrics = trainer.run(state, 1)
        return state, jax.tree.map(lambda metric: metric[0], metrics)

    metric_shapes = jax.eval_shape(one_iteration, state)[1]

    def skip(state):
        return state, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metric_shapes)

    def body(state, index):
        return jax.lax.cond(index < num_iterations, one_iteration, skip, state)

    return jax.lax.scan(body, state, jnp.arange(chunk_size))


def _make_env(env_id: str, env_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from jaxpg.envs import make_env

    try:
        return make_env(env_id, **env_kwargs)
    except (ValueError, ImportError) as error:
        raise CLIError(str(error)) from None


def _runs_on_host(env: Any) -> bool:
    """Whether ``env`` is a gymnasium environment, trained on the host (`jaxpg.host_train`)."""
    return bool(getattr(env, "RUNS_ON_HOST", False))


class _HostSeeds:
    """Host-side training of several seeds in turn (`jaxpg.host_train`), chunk by chunk.

    One `HostTrainer` per seed, each with its own gymnasium vector environment, forked from
    the first so that all share one compiled policy step and one compiled update. Each
    trainer is handed back the state it returned last, so its episodes run on across chunks.
    """

    def __init__(self, config: Any, env: Any, env_params: Any, num_seeds: int) -> None:
        from jaxpg.host_train import make_host_trainer

        first = make_host_trainer(config, env, env_params)
        self.trainers = [first] + [first.fork() for _ in range(num_seeds - 1)]
        self.timings = first.timings
        self._states: list[Any] = []
        self._stacked: Any = None

    def init(self, seeds: Sequence[int]) -> Any:
        """The seeds' initial states, stacked: every leaf ``[num_seeds, ...]``."""
        import jax

        self._states = [
            trainer.init(jax.random.key(int(seed)))
            for trainer, seed in zip(self.trainers, seeds, strict=True)
        ]
        self._stacked = _stack(self._states)
        return self._stacked

    def run_chunk(self, state: Any, count: int, callback: Any) -> tuple[Any, dict[str, Any]]:
        """``count`` iterations of every seed in turn: ``(states, metrics [num_seeds, count])``.

        ``callback(seed_index, iteration, metrics)`` follows every iteration.
        """
        import numpy as np

        if state is not self._stacked:  # a resumed state: its episodes restart from resets
            self._states = [_take(state, index) for index in range(len(self.trainers))]
        states, metrics = [], []
        for index, (trainer, seed_state) in enumerate(
            zip(self.trainers, self._states, strict=True)
        ):
            seed_state, seed_metrics = trainer.run(
                seed_state, count, callback=lambda i, m, index=index: callback(index, i, m)
            )
            states.append(seed_state)
            metrics.append(seed_metrics)
        self._states, self._stacked = states, _stack(states)
        return self._stacked, {
            name: np.stack([np.asarray(m[name]) for m in metrics]) for name in metrics[0]
        }

    def close(self) -> None:
        for trainer in self.trainers:
            trainer.close()


# Stacking and slicing in numpy: eager jax.numpy would compile a small program per leaf shape.
def _stack(states: Sequence[Any]) -> Any:
    """Per-seed states to one state with a leading seed axis (numpy leaves, PRNG keys kept)."""
    import jax
    import numpy as np

    def stack(*leaves: Any) -> Any:
        if jax.dtypes.issubdtype(leaves[0].dtype, jax.dtypes.prng_key):
            data = np.stack([np.asarray(jax.random.key_data(leaf)) for leaf in leaves])
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaves[0]))
        return np.stack([np.asarray(leaf) for leaf in leaves])

    return jax.tree.map(stack, *states)


def _take(tree: Any, index: int) -> Any:
    """Entry ``index`` of the leading axis of every leaf (numpy leaves, PRNG keys kept)."""
    import jax
    import numpy as np

    def take(leaf: Any) -> Any:
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            data = np.asarray(jax.random.key_data(leaf))[index]
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        return np.asarray(leaf)[index]

    return jax.tree.map(take, tree)


def _evaluate_on_host(
    config: Any,
    env: Any,
    env_params: Any,
    params: Any,
    eval_seeds: Sequence[int],
    episodes: int,
    greedy: bool,
) -> Any:
    """Returns ``[num_seeds, episodes]`` of each seed's policy (``params`` stacked over seeds)
    on the host (`evaluate_host`), with the key ``fold_in(key(eval_seed), 1)`` as in JAX."""
    import jax
    import numpy as np

    from jaxpg.host_train import evaluate_host

    return np.stack(
        [
            np.asarray(
                evaluate_host(
                    config,
                    env,
                    env_params,
                    _take(params, index),
                    jax.random.fold_in(jax.random.key(int(seed)), 1),
                    episodes,
                    greedy,
                )
            )
            for index, seed in enumerate(eval_seeds)
        ]
    )


def _default_run_dir(algorithm: str, env_id: str) -> str:
    safe_env = re.sub(r"[^A-Za-z0-9._-]+", "_", env_id)
    base = os.path.join("runs", f"{algorithm}-{safe_env}-{time.strftime('%Y%m%d-%H%M%S')}")
    path, suffix = base, 2
    while os.path.exists(path):
        path, suffix = f"{base}-{suffix}", suffix + 1
    return path


def _config_record(
    algorithm: str, config: Any, env_id: str, env_kwargs: dict[str, Any], seeds: list[int]
) -> dict[str, Any]:
    from jaxpg import __version__
    from jaxpg.checkpoint import _json_ready

    return {
        "algorithm": algorithm,
        "config_class": type(config).__name__,
        "env_id": env_id,
        "env_kwargs": _json_ready(env_kwargs),
        "config": config.to_dict(),
        "seeds": list(seeds),
        "jaxpg_version": __version__,
    }


def _write_json(path: str, record: dict[str, Any]) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(record, file, indent=2)
        file.write("\n")
    os.replace(temporary, path)


def _metric_columns(metrics: dict[str, Any]) -> list[str]:
    first = [name for name in ("env_steps", "episode_return", "episode_length") if name in metrics]
    return first + sorted(name for name in metrics if name not in first)


def _format_number(value: Any) -> str:
    import numpy as np

    value = np.asarray(value)
    if np.issubdtype(value.dtype, np.integer) or value.dtype == bool:
        return str(int(value))
    return str(value.item() if value.dtype == np.float64 else np.float32(value))


def write_metrics_csv(
    path: str,
    metrics: dict[str, Any],
    seeds: Sequence[int],
    first_iteration: int = 1,
    sweep: Sweep | None = None,
) -> None:
    """One row per iteration and seed: ``iteration, seed, env_steps, <every metric>``.

    With ``sweep``, one row per iteration, grid point and seed: ``iteration, grid_point,
    <swept fields>, seed, env_steps, ...``; metric rows are members ``g * len(seeds) + k``.
    """
    import csv

    labels: list[list[Any]] = [[seed] for seed in seeds]
    head = ["seed"]
    if sweep is not None:
        labels = [
            [index, *(f"{value:g}" for value in point), seed]
            for index, point in enumerate(sweep.points)
            for seed in seeds
        ]
        head = ["grid_point", *sweep.fields, "seed"]
    columns = _metric_columns(metrics)
    num_iterations = next(iter(metrics.values())).shape[1] if metrics else 0
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["iteration", *head, *columns])
        for index in range(num_iterations):
            for row, label in enumerate(labels):
                writer.writerow(
                    [first_iteration + index, *label]
                    + [_format_number(metrics[name][row, index]) for name in columns]
                )
    os.replace(temporary, path)


def _add_train_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train an algorithm on an environment",
        description="Train ALGO on an environment; writes config.json, metrics.csv, "
        "learning_curve.png and checkpoint.msgpack to the run directory.",
        epilog="examples:\n  jaxpg train trpo --env CartPole-v1\n"
        "  jaxpg train npg --env CartPole-v1 --seeds 4 --set hidden_sizes=32,32\n"
        "  jaxpg train trpo --env CartPole-v1 --set sampling=vine\n"
        "  jaxpg train maxent --env GridWorld-v0 --env-set observation=one_hot\n"
        "  jaxpg train ppo --env gymnasium:LunarLander-v3 --total-timesteps 1000000\n"
        "  jaxpg train ppo --env CartPole-v1 --sweep lr=1e-3,3e-3,1e-2 --seeds 4\n"
        "  jaxpg train a2c --env CartPole-v1 --sweep lr=1e-3,1e-2 --sweep gamma=0.95,0.99\n"
        "  jaxpg train --resume runs/trpo-CartPole-v1-... --total-timesteps 200000\n\n"
        "Set JAX_COMPILATION_CACHE_DIR (e.g. ~/.cache/jax) to keep compiled programs between "
        "runs;\na repeated command then skips most of its compile time.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "algorithm",
        nargs="?",
        metavar="ALGO",
        help=f"one of {', '.join(ALGORITHM_NAMES)} (omit with --resume)",
    )
    parser.add_argument(
        "--env",
        help="environment id, e.g. CartPole-v1, GridWorld-v0, a "
        "gymnax id, or gymnasium:ID (e.g. gymnasium:LunarLander-v3; rollouts "
        "on the host, updates jitted)",
    )
    parser.add_argument(
        "--env-set",
        action="append",
        metavar="NAME=VALUE",
        help="an environment option, e.g. max_steps=50 (repeatable)",
    )
    parser.add_argument(
        "--total-timesteps",
        type=int,
        metavar="N",
        help="environment steps per seed; with --resume the new total",
    )
    parser.add_argument("--num-envs", type=int, metavar="N", help="parallel environments")
    parser.add_argument("--seed", type=int, metavar="S", help="first seed (0)")
    parser.add_argument(
        "--seeds",
        type=int,
        metavar="K",
        help="train seeds S..S+K-1 together, vmapped (1); on a gymnasium: env "
        "they take turns on the host, chunk by chunk",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        dest="sets",
        help="a config field, e.g. max_kl=0.02, hidden_sizes=64,64, sampling=vine (repeatable)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="run directory (default runs/<algo>-<env>-<timestamp>)"
    )
    parser.add_argument(
        "--sweep",
        action="append",
        metavar="FIELD=V1,V2,...",
        help="train a grid of values of a traced (float) config field, e.g. lr=1e-3,3e-3,1e-2; "
        "repeat for the cartesian product; grid points x seeds run vmapped in one compiled "
        "program, and sweep.csv, sweep.md and sweep.png report the mean and std over seeds "
        "per grid point. Aliases: "
        + ", ".join(f"{alias}={'/'.join(fields)}" for alias, fields in SWEEP_ALIASES.items()),
    )
    parser.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR")
    parser.add_argument(
        "--chunk-size",
        type=int,
        metavar="N",
        help="iterations per compiled call and checkpoint (default: about "
        f"1/{TARGET_CHUNKS} of the run)",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=100,
        metavar="N",
        help="episodes per seed for the final evaluation; 0 skips it (100)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_eval_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a saved run",
        description="Load DIR's checkpoint and print the mean and std of episode returns; for "
        "GridWorld also the action in every cell and one trajectory.",
    )
    parser.add_argument("dir", metavar="DIR", help="a run directory (or its checkpoint file)")
    parser.add_argument(
        "--episodes", type=int, default=100, metavar="N", help="episodes per trained seed (100)"
    )
    parser.add_argument(
        "--greedy", action="store_true", help="take the most probable action instead of sampling"
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help="evaluation seeds S..S+K-1, one per trained seed (default: the "
        "run's seeds, which repeats the evaluation printed after training)",
    )
    parser.add_argument(
        "--which-seed",
        type=int,
        metavar="S",
        help="the trained seed shown in the action map, trajectory and GIF "
        "(default: the run's first)",
    )
    parser.add_argument("--render", metavar="FILE.gif", help="write a GIF of one episode")
    parser.add_argument(
        "--fps", type=float, metavar="F", help="GIF frames per second (CartPole 50, GridWorld 8)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxpg`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="jaxpg",
        description="Vectorized policy-gradient reinforcement learning in JAX.",
        epilog="run `jaxpg train --help` or `jaxpg eval --help` for a command's options",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_parser(subparsers)
    _add_eval_parser(subparsers)
    return parser


@dataclasses.dataclass
class _Run:
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
        """A gymnasium environment: rollouts on the host, seeds in turn (`_HostSeeds`)."""
        return _runs_on_host(self.env)

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


def _make_trainer(config: Any, env: Any, env_params: Any, num_seeds: int) -> Any:
    """`make_trainer` for a JAX environment; `_HostSeeds` for a gymnasium one."""
    from jaxpg.train import make_trainer

    try:
        if _runs_on_host(env):
            return _HostSeeds(config, env, env_params, num_seeds)
        return make_trainer(config, env, env_params)
    except ValueError as error:
        raise CLIError(str(error)) from None


def _default_chunk_size(num_iterations: int) -> int:
    return max(1, math.ceil(num_iterations / TARGET_CHUNKS))


def _check_count(name: str, value: int | None, low: int) -> None:
    if value is not None and value < low:
        raise CLIError(f"{name} must be >= {low}; got {value}")


def _setup_new_run(args: argparse.Namespace) -> _Run:
    if args.algorithm is None:
        raise CLIError(f"give ALGO (one of {', '.join(algorithm_registry())}) or --resume DIR")
    _algorithm(args.algorithm)
    if args.env is None:
        raise CLIError("--env is required, e.g. --env CartPole-v1")
    seed = 0 if args.seed is None else args.seed
    num_seeds = 1 if args.seeds is None else args.seeds
    _check_count("--seeds", num_seeds, 1)
    if not 0 <= seed or seed + num_seeds > 2**31:
        raise CLIError(f"--seed must be in [0, 2**31 - K); got {seed}")
    _check_count("--chunk-size", args.chunk_size, 1)
    env_kwargs = parse_assignments(args.env_set, "--env-set")
    sets = parse_assignments(args.sets, "--set")
    config = build_config(args.algorithm, sets, args.total_timesteps, args.num_envs)
    sweep = parse_sweeps(args.algorithm, args.sweep, sets, args.total_timesteps, args.num_envs)
    env, env_params = _make_env(args.env, env_kwargs)
    if sweep is not None and _runs_on_host(env):
        raise CLIError(
            f"--sweep vmaps the grid in one compiled program, which needs a JAX environment; "
            f"{args.env} runs on the host (train its grid points one by one with --set)"
        )
    name = args.algorithm if sweep is None else f"{args.algorithm}-sweep"
    out_dir = args.out or _default_run_dir(name, args.env)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise CLIError(f"--out {out_dir} is a file; give a directory")
    if os.path.exists(os.path.join(out_dir, CHECKPOINT_FILE)):
        raise CLIError(
            f"{out_dir} already holds a run; continue it with --resume {out_dir} "
            "or choose another --out"
        )
    trainer = _make_trainer(config, env, env_params, num_seeds)
    return _Run(
        algorithm=args.algorithm,
        config=config,
        env_id=args.env,
        env_kwargs=env_kwargs,
        env=env,
        env_params=env_params,
        trainer=trainer,
        seeds=list(range(seed, seed + num_seeds)),
        out_dir=out_dir,
        chunk_size=args.chunk_size or _default_chunk_size(config.num_iterations),
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


def _load_run_checkpoint(path: str) -> tuple[Any, str]:
    """Loads a run's checkpoint and checks it against the run's config.json (if there is one)."""
    import warnings

    from jaxpg import checkpoint

    file, run_dir = _checkpoint_location(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if checkpoint.read_metadata(file)["env_id"].startswith("gymnasium:"):
                loaded = _load_host_checkpoint(file)
            else:
                loaded = checkpoint.load_checkpoint(file)
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


def _load_host_checkpoint(file: str) -> Any:
    """`checkpoint.load_checkpoint` for a gymnasium run: its state has the host trainer's
    structure (`host_state_template`), which `checkpoint.state_template` cannot build (it
    traces the environment's JAX ``reset``, which a gymnasium environment does not have)."""
    import warnings

    import numpy as np

    from jaxpg import checkpoint
    from jaxpg.envs import make_env
    from jaxpg.host_train import host_state_template

    payload, meta = checkpoint._read(file)
    if meta["jaxpg_version"] != checkpoint._version():
        warnings.warn(
            f"{file} was written by jaxpg {meta['jaxpg_version']}; this is "
            f"{checkpoint._version()} (the arrays are checked against the config)",
            stacklevel=2,
        )
    config = checkpoint.config_from_dict(meta["config_class"], meta["config"])
    env, env_params = make_env(meta["env_id"], **meta["env_kwargs"])
    template = host_state_template(config, env, env_params, tuple(meta["batch_shape"]))
    state = checkpoint._restore_state(
        template, payload["state"], meta["key_impls"], config, meta["env_id"]
    )
    return checkpoint.Checkpoint(
        config=config,
        env_id=meta["env_id"],
        env_kwargs=meta["env_kwargs"],
        state=state,
        metrics={name: np.asarray(value) for name, value in payload.get("metrics", {}).items()},
        metadata=meta["metadata"],
        jaxpg_version=meta["jaxpg_version"],
    )


def _with_seed_axis(loaded: Any) -> tuple[Any, dict[str, Any]]:
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


def _run_seeds(loaded: Any, state: Any) -> tuple[list[int], Sweep | None]:
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


def _setup_resume(args: argparse.Namespace) -> _Run:
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
    _check_count("--chunk-size", args.chunk_size, 1)
    loaded, run_dir = _load_run_checkpoint(args.resume)
    state, history = _with_seed_axis(loaded)
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
    env, env_params = _make_env(loaded.env_id, loaded.env_kwargs)
    seeds, sweep = _run_seeds(loaded, state)
    chunk_size = (
        args.chunk_size
        or loaded.metadata.get("chunk_size")
        or _default_chunk_size(config.num_iterations)
    )
    return _Run(
        algorithm=loaded.metadata.get("algorithm", config.algorithm_name),
        config=config,
        env_id=loaded.env_id,
        env_kwargs=loaded.env_kwargs,
        env=env,
        env_params=env_params,
        trainer=_make_trainer(config, env, env_params, len(seeds)),
        seeds=seeds,
        sweep=sweep,
        out_dir=run_dir,
        chunk_size=int(chunk_size),
        state=state,
        history=history,
        iterations_done=done,
    )


#: Compiled programs of this process, by what fixes them (config, env, sizes) and by the text
#: of their lowered module, so repeated `main` calls in one process (a resume right after a
#: run, a run whose config differs only in ``total_timesteps``, tests) compile once.
_PROGRAM_CACHE: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
_PROGRAM_CACHE_SIZE = 16


def _cached_compile(lowerings: dict[str, tuple[tuple, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Programs by name from ``{name: (key, lower)}``, with the names compiled now.

    ``key`` identifies a program by its inputs; ``lower()`` traces it. Programs missing from
    the cache are lowered, looked up again by module text (constants are printed in full), and
    the rest compiled in parallel threads (XLA releases the GIL while it compiles).
    """
    from concurrent.futures import ThreadPoolExecutor

    programs = {
        name: _PROGRAM_CACHE[key] for name, (key, _) in lowerings.items() if key in _PROGRAM_CACHE
    }
    to_compile = {}
    for name, (key, lower) in lowerings.items():
        if name in programs:
            continue
        lowered = lower()
        text_key = (
            "module",
            hashlib.sha256(lowered.as_text().encode()).hexdigest(),
            str(lowered.in_tree),
            str(lowered.out_tree),
        )
        if text_key in _PROGRAM_CACHE:
            programs[name] = _PROGRAM_CACHE[key] = _PROGRAM_CACHE[text_key]
        else:
            to_compile[name] = (lowered, (key, text_key))
    if to_compile:
        with ThreadPoolExecutor(len(to_compile)) as pool:
            futures = {
                name: pool.submit(lowered.compile) for name, (lowered, _) in to_compile.items()
            }
            for name, future in futures.items():
                programs[name] = future.result()
                for key in to_compile[name][1]:
                    _PROGRAM_CACHE[key] = programs[name]
    for key, _ in lowerings.values():
        _PROGRAM_CACHE.move_to_end(key)
    while len(_PROGRAM_CACHE) > _PROGRAM_CACHE_SIZE:
        _PROGRAM_CACHE.popitem(last=False)
    return programs, list(to_compile)


def _identity(config: Any, env_id: str, env_kwargs: dict[str, Any], num_seeds: int) -> tuple:
    return (
        type(config).__name__,
        config,
        env_id,
        json.dumps(env_kwargs, sort_keys=True),
        num_seeds,
    )


def _eval_lowering(
    config: Any,
    env_id: str,
    env_kwargs: dict[str, Any],
    env: Any,
    env_params: Any,
    params: Any,
    num_seeds: int,
    episodes: int,
    greedy: bool,
) -> tuple[tuple, Any]:
    """``program(params [K, ...], eval_seeds int32 [K]) -> returns [K, episodes]``: each seed's
    policy evaluated with the key ``fold_in(key(eval_seed), 1)`` (training never folds)."""
    import jax
    import jax.numpy as jnp

    from jaxpg.evaluation import evaluate

    def evaluate_seed(policy_params, seed):
        key = jax.random.fold_in(jax.random.key(seed), 1)
        return evaluate(config, env, env_params, policy_params, key, episodes, greedy)

    key = ("eval", episodes, greedy, *_identity(config, env_id, env_kwargs, num_seeds))
    seeds = jax.ShapeDtypeStruct((num_seeds,), jnp.int32)
    return key, lambda: jax.jit(jax.vmap(evaluate_seed)).lower(params, seeds)


def _compile(run: _Run, eval_episodes: int) -> tuple[dict[str, Any], list[str]]:
    """The run's programs (``init`` for a new run, ``train chunk``, ``eval``), and the names of
    those compiled now (see `_cached_compile`)."""
    import jax
    import jax.numpy as jnp

    from jaxpg.train import make_trainer

    if run.on_host:  # its policy step and update compile on first use, during training
        return {}, []
    members = len(run.member_seeds)
    identity = _identity(run.config, run.env_id, run.env_kwargs, members)
    seeds = jax.ShapeDtypeStruct((members,), jnp.int32)
    inputs: tuple[Any, ...] = ()
    if run.sweep is None:

        def init(seed):
            return run.trainer.init(jax.random.key(seed))

        def chunk_runner():
            return make_chunk_runner(run.trainer, run.chunk_size)

    else:
        identity = (*identity, "sweep", run.sweep.fields)
        inputs = (
            {name: jax.ShapeDtypeStruct((members,), jnp.float32) for name in run.sweep.fields},
        )

        def init(seed, values):
            config = dataclasses.replace(run.config, **values)
            return make_trainer(config, run.env, run.env_params).init(jax.random.key(seed))

        def chunk_runner():
            return make_sweep_chunk_runner(run.config, run.env, run.env_params, run.chunk_size)

    state = run.state
    if state is None:
        state = jax.eval_shape(jax.vmap(init), seeds, *inputs)
    count = jax.ShapeDtypeStruct((), jnp.int32)
    lowerings = {}
    if run.state is None:
        lowerings["init"] = (
            ("init", *identity),
            lambda: jax.jit(jax.vmap(init)).lower(seeds, *inputs),
        )
    lowerings["train chunk"] = (
        ("train chunk", run.chunk_size, *identity),
        lambda: jax.jit(chunk_runner()).lower(state, *inputs, count),
    )
    if eval_episodes:
        lowerings["eval"] = _eval_lowering(
            run.config,
            run.env_id,
            run.env_kwargs,
            run.env,
            run.env_params,
            state.agent.params["policy"],
            members,
            eval_episodes,
            greedy=False,
        )
    return _cached_compile(lowerings)


@contextlib.contextmanager
def _deferred_interrupt() -> Any:
    """Holds Ctrl-C until the block ends, so that a checkpoint save and the bookkeeping that
    follows it happen together; then raises the KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _append(history: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    if not history:
        return dict(metrics)
    return {name: np.concatenate([history[name], metrics[name]], axis=1) for name in metrics}


def _save_checkpoint(run: _Run, state: Any, history: dict[str, Any]) -> None:
    from jaxpg import checkpoint

    checkpoint.save(
        os.path.join(run.out_dir, CHECKPOINT_FILE),
        run.config,
        run.env_id,
        run.env_kwargs,
        state,
        metrics=history,
        metadata={
            "algorithm": run.algorithm,
            "seeds": run.seeds,
            "chunk_size": run.chunk_size,
            **({"sweep": run.sweep.to_dict()} if run.sweep is not None else {}),
        },
    )


def _write_outputs(run: _Run, summary: dict[str, Any], metrics: bool = True) -> None:
    """config.json, and with ``metrics`` metrics.csv and learning_curve.png."""
    from jaxpg.plotting import plot_learning_curve

    record = _config_record(run.algorithm, run.config, run.env_id, run.env_kwargs, run.seeds)
    if run.sweep is not None:
        record["sweep"] = run.sweep.to_dict()
    record["chunk_size"] = run.chunk_size
    record["summary"] = summary
    _write_json(os.path.join(run.out_dir, CONFIG_FILE), record)
    if metrics and run.history:
        first = run.iterations_done - next(iter(run.history.values())).shape[1] + 1
        write_metrics_csv(
            os.path.join(run.out_dir, METRICS_FILE), run.history, run.seeds, first, run.sweep
        )
        seeds = f"{len(run.seeds)} seeds" if len(run.seeds) > 1 else f"seed {run.seeds[0]}"
        if run.sweep is not None:
            _write_sweep_outputs(run, summary, seeds)
            return
        plot_learning_curve(
            run.history,
            os.path.join(run.out_dir, CURVE_FILE),
            title=f"{run.algorithm} on {run.env_id} ({seeds})",
        )


def _sweep_text(run: _Run, summary: dict[str, Any]) -> str:
    """The sweep's table (markdown) and its best grid point."""
    assert run.sweep is not None
    records = summary["sweep"]
    best = records[summary["best_grid_point"]]
    by = "eval" if "eval_return_mean" in best else "final"
    table = format_sweep_table(
        run.sweep, records, len(run.seeds), summary.get("eval_episodes_per_seed", 0)
    )
    return (
        f"{table}\nbest ({by} return, mean over seeds): grid point {best['grid_point']}, "
        f"{run.sweep.label(best['grid_point'])}: {best[f'{by}_return_mean']:.4g} "
        f"± {best[f'{by}_return_std']:.3g}"
    )


def _write_sweep_outputs(run: _Run, summary: dict[str, Any], seeds: str) -> None:
    """sweep.csv, sweep.md and sweep.png (return per grid point, mean and band over seeds)."""
    from jaxpg.plotting import plot_sweep

    assert run.sweep is not None
    if "sweep" not in summary:
        return
    write_sweep_csv(os.path.join(run.out_dir, SWEEP_CSV), run.sweep, summary["sweep"])
    title = f"{run.algorithm} on {run.env_id}: sweep over {', '.join(run.sweep.fields)} ({seeds})"
    with open(os.path.join(run.out_dir, SWEEP_TABLE), "w") as file:
        file.write(f"# {title}\n\n{_sweep_text(run, summary)}\n")
    points = len(run.sweep.points)
    returns = run.history["episode_return"]
    plot_sweep(
        returns.reshape(points, len(run.seeds), returns.shape[-1]),
        run.history["env_steps"][0],
        [run.sweep.label(index) for index in range(points)],
        os.path.join(run.out_dir, SWEEP_PLOT),
        title=title,
        best=summary["best_grid_point"],
    )


def train(args: argparse.Namespace) -> int:
    """``jaxpg train``: see the module docstring."""
    started = time.perf_counter()
    _check_count("--eval-episodes", args.eval_episodes, 0)
    run = _setup_resume(args) if args.resume else _setup_new_run(args)

    import jax
    import numpy as np
    from tqdm import tqdm

    os.makedirs(run.out_dir, exist_ok=True)
    target = run.config.num_iterations
    grid = ""
    if run.sweep is not None:
        grid = (
            f", {len(run.sweep.points)} grid points of {', '.join(run.sweep.fields)} "
            "(vmapped with the seeds)"
        )
    print(
        f"{'resuming' if run.state is not None else 'training'} {run.algorithm} on "
        f"{run.env_id}: iterations {run.iterations_done + 1}..{target} of "
        f"{run.config.batch_size} env steps, seeds {run.seeds}{grid}, into {run.out_dir}",
        file=sys.stderr,
    )
    _write_outputs(run, {"status": "running"}, metrics=False)
    compile_start = time.perf_counter()
    programs, compiled = _compile(run, args.eval_episodes)
    compile_seconds = time.perf_counter() - compile_start
    seeds = np.asarray(run.member_seeds, np.int32)
    inputs = run.program_inputs()
    if run.state is None:
        if run.on_host:
            run.state = run.trainer.init(run.seeds)
        else:
            run.state = programs["init"](seeds, *inputs)
        _save_checkpoint(run, run.state, run.history)

    start_steps = int(run.history["env_steps"][0, -1]) if run.history else 0
    train_start = time.perf_counter()
    interrupted = False
    # On the host the seeds take turns, so the bar counts iterations of every seed.
    per_iteration = len(run.seeds) if run.on_host else 1
    bar = tqdm(
        total=target * per_iteration,
        initial=run.iterations_done * per_iteration,
        unit="it",
        file=sys.stderr,
        desc=f"{run.algorithm} {run.env_id}",
        disable=args.no_progress,
        dynamic_ncols=True,
    )

    def host_progress(index: int, iteration: int, metrics: dict[str, Any]) -> None:
        bar.update(1)
        postfix = {"return": f"{float(metrics['episode_return']):.4g}"}
        if len(run.seeds) > 1:
            postfix["seed"] = run.seeds[index]
        bar.set_postfix(postfix)

    try:
        while run.iterations_done < target:
            count = min(run.chunk_size, target - run.iterations_done)
            if run.on_host:
                state, metrics = run.trainer.run_chunk(run.state, count, host_progress)
            else:
                state, metrics = programs["train chunk"](run.state, *inputs, np.int32(count))
                metrics = {
                    name: np.asarray(value)[:, :count]
                    for name, value in jax.device_get(metrics).items()
                }
            history = _append(run.history, metrics)
            # The checkpoint and the run's record change together: after Ctrl-C the metrics
            # and curve written below describe exactly the checkpoint on disk.
            with _deferred_interrupt():
                _save_checkpoint(run, state, history)
                run.state, run.history = state, history
                run.iterations_done += count
            if not run.on_host:
                bar.update(count)
                bar.set_postfix(_progress_postfix(run, metrics["episode_return"][:, -1]))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        if run.on_host:
            run.trainer.close()
    train_seconds = time.perf_counter() - train_start

    returns = None
    eval_seconds = 0.0
    if args.eval_episodes and not interrupted:
        eval_start = time.perf_counter()
        policy_params = run.state.agent.params["policy"]
        if run.on_host:
            returns = _evaluate_on_host(
                run.config,
                run.env,
                run.env_params,
                policy_params,
                run.seeds,
                args.eval_episodes,
                greedy=False,
            )
        else:
            returns = np.asarray(programs["eval"](policy_params, seeds))
        eval_seconds = time.perf_counter() - eval_start
    summary = _summary(
        run,
        returns,
        compiled,
        interrupted,
        {
            "wall_clock_s": time.perf_counter() - started,
            "compile_s": compile_seconds,
            "train_s": train_seconds,
            "eval_s": eval_seconds,
        },
    )
    if run.history and train_seconds > 0:
        steps_now = (summary["env_steps_per_seed"] - start_steps) * len(seeds)
        summary["env_steps_per_second"] = round(steps_now / train_seconds)
    if run.on_host:
        summary["host_seconds"] = {
            name: round(value, 3) for name, value in run.trainer.timings.items()
        }
    _write_outputs(run, summary)
    _print_summary(run, summary)
    if interrupted:
        print(
            f"interrupted: {run.out_dir} holds the first {run.iterations_done} iterations; "
            f"continue with `jaxpg train --resume {run.out_dir}`",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0


def _progress_postfix(run: _Run, returns: Any) -> dict[str, str]:
    """The bar's postfix: the latest return, mean over seeds (and the best grid point's)."""
    if run.sweep is None:
        return {"return": f"{returns.mean():.4g}"}
    per_point = returns.reshape(len(run.sweep.points), len(run.seeds)).mean(axis=1)
    return {"return": f"{returns.mean():.4g}", "best": f"{per_point.max():.4g}"}


def _summary(
    run: _Run, returns: Any, compiled: list[str], interrupted: bool, seconds: dict[str, float]
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "status": "interrupted" if interrupted else "finished",
        "iterations": run.iterations_done,
        "num_iterations": run.config.num_iterations,
        "chunk_size": run.chunk_size,
        "compiled_programs": list(compiled),
    }
    if run.sweep is not None:
        summary["grid_points"] = len(run.sweep.points)
        if returns is not None:
            summary["eval_episodes_per_seed"] = int(returns.shape[1])
        if run.history:
            summary["env_steps_per_seed"] = int(run.history["env_steps"][0, -1])
            records = sweep_results(
                run.sweep, len(run.seeds), run.history["episode_return"][:, -1], returns
            )
            summary["best_grid_point"] = next(r["grid_point"] for r in records if r["best"])
            summary["sweep"] = records
        summary.update({name: round(value, 3) for name, value in seconds.items()})
        return summary
    if run.history:
        final = run.history["episode_return"][:, -1]
        summary["env_steps_per_seed"] = int(run.history["env_steps"][0, -1])
        summary["final_return_mean"] = float(final.mean())
        summary["final_return_per_seed"] = [float(value) for value in final]
    if returns is not None:
        summary["eval_episodes_per_seed"] = int(returns.shape[1])
        summary["eval_return_mean"] = float(returns.mean())
        summary["eval_return_std"] = float(returns.std())
        summary["eval_return_per_seed"] = [float(value) for value in returns.mean(axis=1)]
    summary.update({name: round(value, 3) for name, value in seconds.items()})
    return summary


def _print_summary(run: _Run, summary: dict[str, Any]) -> None:
    seeds = len(run.seeds)
    grid = ""
    if run.sweep is not None:
        points = len(run.sweep.points)
        grid = f" x {points} grid points ({seeds * points} runs vmapped in one program)"
    lines = [
        f"{run.algorithm} on {run.env_id}: {summary['iterations']} iterations"
        + (
            f", {summary['env_steps_per_seed']:,} env steps per seed"
            if "env_steps_per_seed" in summary
            else ""
        )
        + f", {seeds} seed{'s' if seeds > 1 else ''}{grid}"
    ]
    if "sweep" in summary:
        lines.append(_sweep_text(run, summary))
    if "final_return_mean" in summary:
        spread = ""
        if seeds > 1:
            per_seed = summary["final_return_per_seed"]
            spread = f" (seeds from {min(per_seed):.4g} to {max(per_seed):.4g})"
        lines.append(
            f"final return (last iteration, mean over seeds): "
            f"{summary['final_return_mean']:.4g}{spread}"
        )
    if "eval_return_mean" in summary:
        lines.append(
            f"eval return ({summary['eval_episodes_per_seed']} episodes per seed, "
            f"sampled actions): {summary['eval_return_mean']:.4g} "
            f"± {summary['eval_return_std']:.3g}"
        )
    rate = (
        f", {summary['env_steps_per_second'] / 1e3:.3g}k env steps/s"
        if summary.get("env_steps_per_second")
        else ""
    )
    eval_time = f", eval {_seconds(summary['eval_s'])}" if summary["eval_s"] else ""
    if "host_seconds" in summary:
        host = summary["host_seconds"]
        in_turn = ", seeds in turn" if seeds > 1 else ""
        lines.append(
            f"wall-clock {_seconds(summary['wall_clock_s'])}: training "
            f"{_seconds(summary['train_s'])}{rate} (gymnasium on the host{in_turn}: env "
            f"{_seconds(host['env'])}, policy {_seconds(host['policy'])}, update "
            f"{_seconds(host['update'])} with its compilation){eval_time}"
        )
    else:
        compiled = summary["compiled_programs"]
        what = (
            f"{len(compiled)} program{'s' if len(compiled) != 1 else ''}: {', '.join(compiled)}"
            if compiled
            else "none: this process had compiled them"
        )
        chunk = summary["chunk_size"]
        lines.append(
            f"wall-clock {_seconds(summary['wall_clock_s'])}: compile "
            f"{_seconds(summary['compile_s'])} ({what}; one chunk program of {chunk} "
            f"iteration{'s' if chunk != 1 else ''} serves every chunk), training "
            f"{_seconds(summary['train_s'])}{rate}{eval_time}"
        )
    files = [CONFIG_FILE, METRICS_FILE, CURVE_FILE, CHECKPOINT_FILE]
    if run.sweep is not None:
        files = [CONFIG_FILE, METRICS_FILE, SWEEP_CSV, SWEEP_TABLE, SWEEP_PLOT, CHECKPOINT_FILE]
    lines.append(f"wrote {run.out_dir}: {' '.join(files)}")
    print("\n".join(lines))


def _arrows_printable() -> bool:
    try:
        "↑→·".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def evaluate_run(args: argparse.Namespace) -> int:
    """``jaxpg eval``: returns of a saved run's policies; GridWorld action map; a GIF."""
    _check_count("--episodes", args.episodes, 1)
    _check_count("--seed", args.seed, 0)
    if args.render is not None and not args.render.lower().endswith(".gif"):
        raise CLIError(f"--render writes a GIF; give a FILE.gif, not {args.render!r}")
    if args.fps is not None and args.fps <= 0:
        raise CLIError(f"--fps must be positive; got {args.fps}")
    loaded, _ = _load_run_checkpoint(args.dir)
    state, history = _with_seed_axis(loaded)
    seeds, sweep = _run_seeds(loaded, state)
    if sweep is not None:
        return _evaluate_sweep(args, loaded, state, history, seeds, sweep)

    import jax
    import numpy as np

    from jaxpg import render
    from jaxpg.algorithms.base import build_policy
    from jaxpg.envs import GridWorld

    config = loaded.config
    env, env_params = _make_env(loaded.env_id, loaded.env_kwargs)
    num_seeds = len(seeds)
    which = seeds[0] if args.which_seed is None else args.which_seed
    if which not in seeds:
        raise CLIError(f"--which-seed {which} is not one of the run's seeds {seeds}")
    host = _runs_on_host(env)
    if args.render is not None and (host or not render.can_render(env, env_params)):
        raise CLIError(f"--render supports CartPole and GridWorld, not {loaded.env_id}")

    eval_seeds = seeds if args.seed is None else list(range(args.seed, args.seed + num_seeds))
    if host:
        returns = _evaluate_on_host(
            config,
            env,
            env_params,
            state.agent.params["policy"],
            eval_seeds,
            args.episodes,
            args.greedy,
        )
    else:
        program = _cached_compile(
            {
                "eval": _eval_lowering(
                    config,
                    loaded.env_id,
                    loaded.env_kwargs,
                    env,
                    env_params,
                    state.agent.params["policy"],
                    num_seeds,
                    args.episodes,
                    args.greedy,
                )
            }
        )[0]["eval"]
        returns = np.asarray(
            program(state.agent.params["policy"], np.asarray(eval_seeds, np.int32))
        )
    iterations = int(np.asarray(state.iteration).reshape(-1)[0])
    env_steps = int(np.asarray(state.env_steps).reshape(-1)[0])
    mode = "greedy" if args.greedy else "sampled"
    print(
        f"{loaded.metadata.get('algorithm', config.algorithm_name)} on {loaded.env_id}: "
        f"{iterations} iterations ({env_steps:,} env steps per seed), seeds {seeds}"
    )
    print(
        f"returns over {args.episodes} episodes per seed ({mode} actions): "
        f"mean {returns.mean():.4g}, std {returns.std():.4g}"
    )
    if num_seeds > 1:
        for seed, row in zip(seeds, returns, strict=True):
            print(f"  seed {seed}: mean {row.mean():.4g}, std {row.std():.4g}")

    policy = build_policy(config, env, env_params)
    index = seeds.index(which)
    policy_params = jax.tree.map(lambda leaf: leaf[index], state.agent.params["policy"])
    episode_key = jax.random.fold_in(jax.random.key(eval_seeds[index]), 2)
    episode = None
    arrows = _arrows_printable()
    if isinstance(env, GridWorld):
        actions = render.gridworld_action_map(env, policy.apply, policy_params)
        print(
            f"\nmost probable action in every cell (seed {which}; 0 stay, 1 up, 2 down, "
            "3 right, 4 left):"
        )
        print(render.format_action_map(actions, arrows=arrows))
        episode = render.play_episode(
            env, env_params, policy.apply, policy_params, episode_key, args.greedy
        )
        print(f"\none episode (seed {which}, {mode} actions):")
        print(render.format_trajectory(episode, TRAJECTORY_STEPS, arrows=arrows))
    if args.render is not None:
        if episode is None:
            episode = render.play_episode(
                env, env_params, policy.apply, policy_params, episode_key, args.greedy
            )
        frames = render.episode_frames(env, env_params, episode)
        kind = "gridworld" if isinstance(env, GridWorld) else "cartpole"
        render.write_gif(frames, args.render, args.fps or RENDER_FPS[kind])
        height, width = frames[0].shape[:2]
        print(
            f"\nwrote {args.render}: {len(frames)} frames of {width}x{height} (seed {which}, "
            f"{mode} actions, episode return {float(np.sum(episode.rewards)):g})"
        )
    return 0


def _evaluate_sweep(
    args: argparse.Namespace,
    loaded: Any,
    state: Any,
    history: dict[str, Any],
    seeds: list[int],
    sweep: Sweep,
) -> int:
    """``jaxpg eval`` of a sweep: the table of every grid point, evaluated vmapped."""
    import numpy as np

    for option, value in (("--which-seed", args.which_seed), ("--render", args.render)):
        if value is not None:
            raise CLIError(
                f"{option} shows one policy, and {args.dir} is a sweep of {len(sweep.points)} "
                "grid points; train the grid point you want alone (--set) to look at it"
            )
    env, env_params = _make_env(loaded.env_id, loaded.env_kwargs)
    eval_seeds = seeds if args.seed is None else list(range(args.seed, args.seed + len(seeds)))
    members = len(seeds) * len(sweep.points)
    params = state.agent.params["policy"]
    program = _cached_compile(
        {
            "eval": _eval_lowering(
                loaded.config,
                loaded.env_id,
                loaded.env_kwargs,
                env,
                env_params,
                params,
                members,
                args.episodes,
                args.greedy,
            )
        }
    )[0]["eval"]
    returns = np.asarray(program(params, np.asarray(eval_seeds * len(sweep.points), np.int32)))
    final = history["episode_return"][:, -1] if history else np.full(members, np.nan, np.float32)
    records = sweep_results(sweep, len(seeds), final, returns)
    iterations = int(np.asarray(state.iteration).reshape(-1)[0])
    env_steps = int(np.asarray(state.env_steps).reshape(-1)[0])
    mode = "greedy" if args.greedy else "sampled"
    best = next(record for record in records if record["best"])
    print(
        f"{loaded.metadata.get('algorithm', loaded.config.algorithm_name)} on "
        f"{loaded.env_id}: sweep of {len(sweep.points)} grid points, {iterations} iterations "
        f"({env_steps:,} env steps per seed), seeds {seeds}; eval with {mode} actions"
    )
    print(format_sweep_table(sweep, records, len(seeds), args.episodes))
    print(
        f"best (eval return, mean over seeds): grid point {best['grid_point']}, "
        f"{sweep.label(best['grid_point'])}: {best['eval_return_mean']:.4g} "
        f"± {best['eval_return_std']:.3g}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0; 2 for usage errors; 130 on Ctrl-C)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return train(args)
        return evaluate_run(args)
    except CLIError as error:
        print(f"jaxpg: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outside the training loop, which handles its own
        print("jaxpg: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 100 else f"{value / 60:.1f} min"
