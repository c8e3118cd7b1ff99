"""Metric loggers for training runs: CSV, TensorBoard (tensorboardX) and Weights & Biases.

Each logger takes the metrics of one chunk of training, as ``trainer.run(state, n)`` returns
them (`jaxpg.make_trainer`): a dict of arrays whose last axis is the iterations, ``[n]`` for
one seed or ``[K, n]`` for ``K`` vmapped seeds (jax or numpy arrays; each is copied to the
host once per call). ``env_steps`` (cumulative environment steps) is the x-axis everywhere:
TensorBoard's ``global_step``, W&B's step metric, a column of the CSV file. TensorBoard and
W&B skip non-finite values: ``episode_return`` is NaN until an episode has finished and the
``eval_*`` metrics are NaN on iterations without an evaluation, and neither is a point of the
curve; the CSV file writes them as ``nan``, like the CLI's ``metrics.csv``.

Several seeds (``seeds=[0, 1, 2]``, rows of the metrics in that order):

* `TensorBoardLogger`: one run per seed, ``<log_dir>/seed_<s>/``, so TensorBoard overlays them
  (with one seed, or ``seeds=None`` and ``[n]`` metrics, the events go to ``<log_dir>``
  itself);
* `WandbLogger`: one W&B run with the keys prefixed ``seed_<s>/`` (``seed_0/episode_return``),
  all against the one ``env_steps`` (equal for every seed of a run); with one seed the keys are
  the metric names;
* `CSVLogger`: a ``seed`` column, one row per iteration and seed.

``members=[...]`` names the rows instead of ``seed_<s>`` (the CLI names a sweep's grid points x
seeds ``point_<g>_seed_<s>``).

The config goes in as hyperparameters: W&B's run config, TensorBoard's HParams (one session per
run directory, the seed included) and a ``config`` text summary with the whole JSON.

Only numpy and the standard library are imported here; tensorboardX and wandb are imported when
a logger that needs them is created (``pip install tensorboardX``, ``pip install wandb``, or
the extras ``jaxpg[tensorboard]``, ``jaxpg[wandb]``).

Example (chunked training, outside the CLI)::

    import jax
    import jaxpg
    import jaxpg.loggers

    env, env_params = jaxpg.make_env("CartPole-v1")
    config = jaxpg.PPOConfig(total_timesteps=100_000)
    trainer = jaxpg.make_trainer(config, env, env_params)
    state = jax.jit(trainer.init)(jax.random.key(0))
    run = jax.jit(trainer.run, static_argnums=1)
    loggers = [
        jaxpg.loggers.TensorBoardLogger("runs/x/tensorboard", config=config.to_dict()),
        jaxpg.loggers.WandbLogger(project="jaxpg", config=config.to_dict()),
        jaxpg.loggers.CSVLogger("runs/x/metrics.csv"),
    ]
    try:
        for _ in range(10):
            state, metrics = run(state, 20)
            jaxpg.loggers.log_chunk(loggers, metrics)
    finally:
        jaxpg.loggers.close_loggers(loggers)

The command line: ``jaxpg train ... --logger csv,tensorboard,wandb`` (`make_loggers`).
"""

from __future__ import annotations

import csv
import difflib
import importlib
import importlib.util
import itertools
import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: Logger names of ``jaxpg train --logger``.
LOGGER_NAMES = ("csv", "tensorboard", "wandb")

#: The x-axis metric: cumulative environment steps.
STEP_METRIC = "env_steps"

#: The W&B project of the CLI when ``WANDB_PROJECT`` is not set.
DEFAULT_WANDB_PROJECT = "jaxpg"

#: library module -> (the logger needing it, how to install it)
_LIBRARIES = {
    "tensorboardX": (
        "TensorBoardLogger",
        "pip install tensorboardX (or pip install 'jaxpg[tensorboard]')",
    ),
    "wandb": ("WandbLogger", "pip install wandb (or pip install 'jaxpg[wandb]')"),
}

#: numbers the event files of this process (`TensorBoardLogger`)
_EVENT_FILES = itertools.count()

#: logger name -> the library it needs (None: the standard library)
_NEEDS = {"csv": None, "tensorboard": "tensorboardX", "wandb": "wandb"}


@runtime_checkable
class Logger(Protocol):
    """What a metric logger does: take each chunk's metrics, then close."""

    def log(self, metrics: Mapping[str, Any]) -> None:
        """Writes one chunk of metrics (arrays ``[n]`` or ``[K, n]``, iterations last)."""
        ...

    def close(self) -> None:
        """Flushes and releases what the logger holds; it logs nothing afterwards."""
        ...


# --------------------------------------------------------------------------- helpers


def _import_library(module: str) -> Any:
    """Imports ``tensorboardX`` or ``wandb``, or says how to install it.

    Raises:
        ImportError: the library is not installed (names the pip command).
    """
    logger, install = _LIBRARIES[module]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        message = f"{logger} needs the {module} package, which is missing: {install}"
        raise ImportError(message) from error


def missing_library(name: str) -> str | None:
    """The install hint of the library logger ``name`` needs if it is missing, else None.

    Looks the package up without importing it (cheap, before training starts).
    """
    module = _NEEDS.get(name)
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    logger, install = _LIBRARIES[module]
    return f"--logger {name} needs the {module} package, which is missing: {install}"


def parse_logger_names(names: str | Sequence[str]) -> list[str]:
    """``"csv,tensorboard"`` (or a list of names) to ``["csv", "tensorboard"]``, checked.

    Blanks around names are ignored, repeats kept once, in order.

    Args:
        names: comma-separated logger names, or a sequence of them.

    Returns:
        The names, each one of `LOGGER_NAMES`.

    Raises:
        ValueError: an unknown name (with the closest known one) or no name at all.
    """
    if isinstance(names, str):
        names = names.split(",")
    parsed: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in LOGGER_NAMES:
            close = difflib.get_close_matches(name, LOGGER_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"--logger: unknown logger {raw.strip()!r}{hint}; choose from "
                f"{', '.join(LOGGER_NAMES)} (comma-separated, e.g. csv,tensorboard)"
            )
        if name not in parsed:
            parsed.append(name)
    if not parsed:
        raise ValueError(
            f"--logger: no logger named; choose from {', '.join(LOGGER_NAMES)} (comma-separated)"
        )
    return parsed


def check_logger_names(names: str | Sequence[str]) -> list[str]:
    """`parse_logger_names`, and the libraries of the chosen loggers installed; imports none.

    Raises:
        ValueError: an unknown logger name, or a missing library (with the pip command).
    """
    parsed = parse_logger_names(names)
    for name in parsed:
        hint = missing_library(name)
        if hint:
            raise ValueError(hint)
    return parsed


def _host_metrics(metrics: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Every metric as a numpy array: one device-to-host copy per metric."""
    if STEP_METRIC not in metrics:
        raise ValueError(
            f"metrics: no {STEP_METRIC!r} (the x-axis of every logger); got "
            f"{', '.join(sorted(metrics)) or 'nothing'}: pass what trainer.run returns"
        )
    return {name: np.asarray(value) for name, value in metrics.items()}


def _rows(arrays: Mapping[str, np.ndarray], num_rows: int) -> dict[str, np.ndarray]:
    """The metrics as ``[num_rows, n]`` arrays (``[n]`` is one row). A metric with more than
    a number per iteration (``[num_rows, n, ...]``) is left out, with a warning: training goes
    on, the loggers draw scalars only.

    Raises:
        ValueError: a metric of another shape, naming it and its shape.
    """
    steps = arrays[STEP_METRIC]
    iterations = steps.shape[-1] if steps.ndim else 0
    rows = {}
    for name, array in arrays.items():
        if array.ndim == 1 and num_rows == 1:
            array = array[None]
        if array.ndim > 2 and array.shape[:2] == (num_rows, iterations) and name != STEP_METRIC:
            warnings.warn(
                f"metrics[{name!r}] has shape {list(array.shape)}, more than a number per "
                "iteration: the loggers leave it out",
                stacklevel=3,
            )
            continue
        if array.shape != (num_rows, iterations):
            expected = f"[{num_rows}, {iterations}]"
            if num_rows == 1:
                expected += f" or [{iterations}]"
            raise ValueError(
                f"metrics[{name!r}] has shape {list(array.shape)}; expected {expected} "
                f"({num_rows} row{'s' if num_rows != 1 else ''} of seeds or members, the "
                f"{iterations} iterations of {STEP_METRIC!r} last)"
            )
        rows[name] = array
    return rows


def _count_rows(arrays: Mapping[str, np.ndarray]) -> int:
    """Rows of the metrics: 1 for ``[n]``, ``K`` for ``[K, n]``."""
    steps = arrays[STEP_METRIC]
    if steps.ndim not in (1, 2):
        raise ValueError(
            f"metrics[{STEP_METRIC!r}] has shape {list(steps.shape)}; expected [n] or "
            "[seeds, n] (iterations last)"
        )
    return 1 if steps.ndim == 1 else steps.shape[0]


#: Names of the rows of the metrics, or names -> hyperparameters of that row (a sweep's swept
#: values and seed), instead of ``seed_<s>``.
Members = Sequence[str] | Mapping[str, Mapping[str, Any]]


class _Members:
    """The rows of the metrics: their names (``seed_<s>``, or given) and seeds, if known.

    With neither seeds nor names, they are settled by the first metrics: ``[n]`` is one
    unnamed row, ``[K, n]`` rows ``seed_0 .. seed_<K-1>`` (the row index; ``seeds`` stays None:
    no seed is claimed where none was given).
    """

    def __init__(self, seeds: Sequence[int] | None, members: Members | None) -> None:
        if members is not None and seeds is not None and len(members) != len(seeds):
            raise ValueError(
                f"members: {len(members)} names for {len(seeds)} seeds; give one per row"
            )
        self.seeds = None if seeds is None else [int(seed) for seed in seeds]
        self.names: list[str] | None = None
        #: per row, hyperparameters of its own (`members` given as a mapping)
        self.extras: list[dict[str, Any]] | None = None
        if members is not None:
            self.names = [str(name) for name in members]
            if isinstance(members, Mapping):
                self.extras = [dict(values or {}) for values in members.values()]
            if not self.names or len(set(self.names)) != len(self.names):
                raise ValueError(f"members: give distinct names, one per row; got {self.names}")
        elif self.seeds is not None:
            if not self.seeds:
                raise ValueError("seeds: give at least one seed, or None")
            self.names = [f"seed_{seed}" for seed in self.seeds]

    @property
    def known(self) -> bool:
        return self.names is not None

    @property
    def several(self) -> bool:
        """Whether the rows get their own prefix or directory (more than one row)."""
        return self.names is not None and len(self.names) > 1

    def settle(self, num_rows: int) -> None:
        """Fixes unnamed rows from the first metrics; checks the count of named ones.

        Raises:
            ValueError: metrics with another number of rows than seeds or members given.
        """
        if self.names is None:
            self.names = [f"seed_{row}" for row in range(num_rows)]
        elif len(self.names) != num_rows:
            raise ValueError(
                f"metrics have {num_rows} row{'s' if num_rows != 1 else ''} (seeds or members, "
                f"the first axis), the logger was made for {len(self.names)}: {self.names}"
            )

    def seed(self, index: int) -> int | None:
        return None if self.seeds is None else self.seeds[index]


def _env_steps(row: np.ndarray) -> list[int]:
    """Environment steps as whole numbers (float32 in the metrics; exact below 2**24)."""
    return np.rint(row.astype(np.float64)).astype(np.int64).tolist()


def _finite_values(rows: Mapping[str, np.ndarray], row: int) -> dict[str, list[float | None]]:
    """Per metric (``env_steps`` excluded, names sorted), the row's values as floats, None where
    not finite."""
    values: dict[str, list[float | None]] = {}
    for name in sorted(rows):
        if name == STEP_METRIC:
            continue
        series = rows[name][row].astype(np.float64).tolist()
        values[name] = [value if math.isfinite(value) else None for value in series]
    return values


def _json_ready(value: Any) -> Any:
    """A config value for JSON (tuples as lists, numpy scalars as numbers, others as text)."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _hparam(value: Any) -> bool | int | float | str:
    """A TensorBoard HParams value: numbers, booleans and text as they are, others as JSON."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(_json_ready(value), sort_keys=True)


# --------------------------------------------------------------------------- loggers


class _Closing:
    """``with logger: ...`` closes it."""

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class CSVLogger(_Closing):
    """Appends each chunk's rows to a CSV file, in the format of the CLI's ``metrics.csv``.

    Columns: ``iteration, seed, env_steps, episode_return, episode_length``, then every other
    metric sorted by name; one row per iteration and seed (seeds in the order of the metrics'
    rows). ``env_steps`` is written as a whole number, other values as their shortest float32
    text, non-finite ones as ``nan``/``inf``. The header is written once, with the first chunk;
    the file is written and closed at every `log`, so it is complete after each chunk.

    Args:
        path: the CSV file.
        seeds: the seed of each row of the metrics (default: ``0..K-1``, the row index).
        first_iteration: the number of the first iteration logged (1).
        append: add to an existing file with the same columns (a resumed run) instead of
            replacing it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        seeds: Sequence[int] | None = None,
        first_iteration: int = 1,
        append: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self._members = _Members(seeds, None)
        self._iteration = int(first_iteration)
        self._columns: list[str] | None = None
        self._append = append and os.path.exists(self.path) and os.path.getsize(self.path) > 0
        self._closed = False

    def log(self, metrics: Mapping[str, Any]) -> None:
        """Appends one row per iteration and seed of ``metrics``.

        Raises:
            ValueError: metrics without ``env_steps``, of the wrong shape, with other metrics
                than earlier chunks (or than the header of the file appended to).
        """
        if self._closed:
            raise ValueError(f"CSVLogger({self.path!r}) is closed")
        arrays = _host_metrics(metrics)
        self._members.settle(_count_rows(arrays))
        assert self._members.names is not None
        seeds = self._members.seeds or list(range(len(self._members.names)))
        rows = _rows(arrays, len(seeds))
        columns = _metric_columns(rows)
        header = ["iteration", "seed", *columns]
        write_header = False
        if self._columns is None:
            if self._append:
                self._check_header(header)
            else:
                directory = os.path.dirname(self.path)
                if directory:
                    os.makedirs(directory, exist_ok=True)
                write_header = True
            self._columns = columns
        elif columns != self._columns:
            raise ValueError(
                f"metrics of this chunk ({', '.join(columns)}) are not those of the earlier "
                f"ones ({', '.join(self._columns)}) written to {self.path}"
            )
        cells = {name: [_format_cell(name, v) for v in rows[name].ravel()] for name in columns}
        iterations = rows[STEP_METRIC].shape[1]
        with open(self.path, "w" if write_header else "a", newline="") as file:
            writer = csv.writer(file)
            if write_header:
                writer.writerow(header)
            for index in range(iterations):
                for row, seed in enumerate(seeds):
                    flat = row * iterations + index
                    writer.writerow(
                        [self._iteration + index, seed, *(cells[name][flat] for name in columns)]
                    )
        self._iteration += iterations

    def _check_header(self, header: list[str]) -> None:
        with open(self.path, newline="") as file:
            existing = next(csv.reader(file), [])
        if existing != header:
            raise ValueError(
                f"append: {self.path} has the columns {', '.join(existing)}, these metrics "
                f"{', '.join(header)}; write them to another file"
            )

    def close(self) -> None:
        """Nothing stays open between chunks; later `log` calls are refused."""
        self._closed = True


def _metric_columns(metrics: Mapping[str, Any]) -> list[str]:
    """The column order of ``metrics.csv``: steps, return and length first, then sorted."""
    first = [name for name in (STEP_METRIC, "episode_return", "episode_length") if name in metrics]
    return first + sorted(name for name in metrics if name not in first)


def _format_cell(name: str, value: Any) -> str:
    """A cell as ``metrics.csv`` writes it: ``env_steps`` whole, floats as float32 text."""
    if name == STEP_METRIC:
        return str(round(float(value)))
    value = np.asarray(value)
    if np.issubdtype(value.dtype, np.integer) or value.dtype == bool:
        return str(int(value))
    return str(value.item() if value.dtype == np.float64 else np.float32(value))


class TensorBoardLogger(_Closing):
    """TensorBoard event files, written with tensorboardX.

    Each iteration is one event at ``step = env_steps`` holding a scalar per finite metric,
    under the metric's name (``env_steps`` itself is the step, not a scalar). Several seeds
    (or members) get one run directory each, ``<log_dir>/seed_<s>/`` (or
    ``<log_dir>/<member>/``), which TensorBoard overlays; one seed writes to ``<log_dir>``.
    ``config`` is written to every run as HParams (a session whose hyperparameters are the
    config, nested values as JSON text, and ``seed``; TensorBoard's HParams tab lists the
    run's scalars as its metrics) and as a ``config`` text summary (the JSON).

    The events go through tensorboardX's synchronous ``EventsWriter`` (the file writer under
    its ``SummaryWriter``) and are flushed at the end of every `log`: ``SummaryWriter.flush``
    does not wait for the events still queued for its background thread, so the last chunk
    could reach the file only ``flush_secs`` later. Here a running TensorBoard, or a reader,
    sees every chunk as soon as `log` returns. A new logger on the same directory (a resumed
    run) writes a new event file beside the earlier ones; TensorBoard reads them together.

    Args:
        log_dir: the directory of the event files (created).
        config: hyperparameters, e.g. ``config.to_dict()`` (JSON-like values).
        seeds: the seed of each row of the metrics (default: the row index).
        members: names of the rows instead of ``seed_<s>``, or a mapping of those names to
            the row's own hyperparameters (e.g. ``{"point_0_seed_0": {"learning_rate": 1e-3,
            "seed": 0}, ...}``), which override ``config``'s in its HParams session.

    Raises:
        ImportError: tensorboardX is not installed (with the pip command).
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        config: Mapping[str, Any] | None = None,
        seeds: Sequence[int] | None = None,
        *,
        members: Members | None = None,
    ) -> None:
        _import_library("tensorboardX")
        self.log_dir = os.fspath(log_dir)
        self.config = _json_ready(dict(config or {}))
        self._members = _Members(seeds, members)
        self._writers: list[Any] = []
        #: the run directory of each row (empty until the rows are known)
        self.run_dirs: list[str] = []
        self._sessions = False  # HParams sessions started (ended by `close`)
        self._closed = False
        if self._members.known:
            self._open()

    def _write(self, writer: Any, summary: Any, step: int = 0) -> None:
        from tensorboardX.proto.event_pb2 import Event

        writer.write_event(Event(wall_time=time.time(), step=step, summary=summary))

    def _open(self) -> None:
        """One event file per row, starting with the config as HParams and text."""
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.summary import hparams, text

        assert self._members.names is not None
        for index, name in enumerate(self._members.names):
            path = os.path.join(self.log_dir, name) if self._members.several else self.log_dir
            os.makedirs(path, exist_ok=True)
            # EventsWriter names its file by the second and the host: the process id and a
            # count keep two loggers of one second (a quick resume) from sharing it.
            suffix = f".{os.getpid()}.{next(_EVENT_FILES)}"
            writer = EventsWriter(os.path.join(path, "events"), filename_suffix=suffix)
            values = {key: _hparam(value) for key, value in self.config.items()}
            seed = self._members.seed(index)
            if self._members.extras is not None:
                extra = self._members.extras[index]
                values.update({key: _hparam(value) for key, value in _json_ready(extra).items()})
            elif seed is not None:
                values["seed"] = seed
            if self._members.several and "seed" not in values:
                values["member"] = name
            if values:
                _, session_start, _ = hparams(values, {})
                self._write(writer, session_start)
                self._sessions = True
            if self.config:
                config_json = json.dumps(self.config, indent=2, sort_keys=True)
                self._write(writer, text("config", f"```\n{config_json}\n```"))
            writer.flush()
            self._writers.append(writer)
            self.run_dirs.append(path)

    def log(self, metrics: Mapping[str, Any]) -> None:
        """Writes each iteration's finite metrics at its ``env_steps``; then flushes.

        Raises:
            ValueError: metrics without ``env_steps``, of the wrong shape, or with another
                number of rows than the seeds given.
        """
        if self._closed:
            raise ValueError(f"TensorBoardLogger({self.log_dir!r}) is closed")
        from tensorboardX.proto.summary_pb2 import Summary

        arrays = _host_metrics(metrics)
        self._members.settle(_count_rows(arrays))
        if not self._writers:
            self._open()
        rows = _rows(arrays, len(self._writers))
        for row, writer in enumerate(self._writers):
            steps = _env_steps(rows[STEP_METRIC][row])
            values = _finite_values(rows, row)
            for index, step in enumerate(steps):
                scalars = [
                    Summary.Value(tag=name, simple_value=series[index])
                    for name, series in values.items()
                    if series[index] is not None
                ]
                if scalars:
                    self._write(writer, Summary(value=scalars), step)
            writer.flush()

    def close(self) -> None:
        """Marks each HParams session finished and closes the event files."""
        if self._closed:
            return
        self._closed = True
        from tensorboardX.summary import hparams

        _, _, session_end = hparams({}, {})
        for writer in self._writers:
            if self._sessions:
                self._write(writer, session_end)
            writer.close()


class WandbLogger(_Closing):
    """A Weights & Biases run through the ``wandb`` client.

    ``wandb.init`` gets ``config``; ``env_steps`` is declared the step metric of every key
    (``define_metric("*", step_metric="env_steps")``), and each iteration is one ``run.log``
    of ``env_steps`` and the finite metrics. Several seeds (or members) share the one run,
    their keys prefixed ``seed_<s>/`` (or ``<member>/``), with ``env_steps`` once (it is the
    same for every seed; iterations where it differs are logged once per value). `close`
    finishes the run.

    Args:
        project: the W&B project (None: ``WANDB_PROJECT`` or wandb's default).
        config: the run's config, e.g. ``config.to_dict()``.
        seeds: the seed of each row of the metrics (default: the row index); with several,
            the config gets ``seeds``.
        dir: where wandb writes its files (``<dir>/wandb/``); None: wandb's default.
        mode: ``"online"``, ``"offline"`` or ``"disabled"``; None: wandb's default
            (``WANDB_MODE``, else online).
        name: the run's display name.
        members: names of the rows instead of ``seed_<s>`` (a mapping: its keys).
        **init_kwargs: more arguments of ``wandb.init`` (``group``, ``tags``, ...).

    Raises:
        ImportError: wandb is not installed (with the pip command).
    """

    def __init__(
        self,
        project: str | None = None,
        config: Mapping[str, Any] | None = None,
        seeds: Sequence[int] | None = None,
        dir: str | os.PathLike[str] | None = None,
        mode: str | None = None,
        name: str | None = None,
        *,
        members: Members | None = None,
        **init_kwargs: Any,
    ) -> None:
        wandb = _import_library("wandb")
        self._members = _Members(seeds, members)
        self.config = _json_ready(dict(config or {}))
        if seeds is not None and len(seeds) > 1 and "seeds" not in self.config:
            self.config["seeds"] = [int(seed) for seed in seeds]
        arguments: dict[str, Any] = {"config": self.config, **init_kwargs}
        for key, value in (("project", project), ("mode", mode), ("name", name)):
            if value is not None:
                arguments[key] = value
        if dir is not None:
            os.makedirs(dir, exist_ok=True)
            arguments["dir"] = os.fspath(dir)
        self.run = wandb.init(**arguments)
        self.run.define_metric(STEP_METRIC)
        self.run.define_metric("*", step_metric=STEP_METRIC)
        self._closed = False

    def log(self, metrics: Mapping[str, Any]) -> None:
        """One ``run.log`` per iteration (per distinct ``env_steps`` value among the rows).

        Raises:
            ValueError: metrics without ``env_steps``, of the wrong shape, or with another
                number of rows than the seeds given.
        """
        if self._closed:
            raise ValueError("WandbLogger is closed")
        arrays = _host_metrics(metrics)
        self._members.settle(_count_rows(arrays))
        names = self._members.names
        assert names is not None
        rows = _rows(arrays, len(names))
        prefixes = [f"{name}/" if self._members.several else "" for name in names]
        steps = [_env_steps(rows[STEP_METRIC][row]) for row in range(len(names))]
        values = [_finite_values(rows, row) for row in range(len(names))]
        for index in range(rows[STEP_METRIC].shape[1]):
            entries: dict[int, dict[str, Any]] = {}
            for row, prefix in enumerate(prefixes):
                step = steps[row][index]
                entry = entries.setdefault(step, {STEP_METRIC: step})
                for metric, series in values[row].items():
                    if series[index] is not None:
                        entry[prefix + metric] = series[index]
            for entry in entries.values():
                self.run.log(entry)

    def close(self) -> None:
        """Finishes the W&B run (uploads, or completes the offline files)."""
        if self._closed:
            return
        self._closed = True
        self.run.finish()


# --------------------------------------------------------------------------- several


def log_chunk(loggers: Iterable[Logger], metrics: Mapping[str, Any]) -> None:
    """Gives one chunk's metrics to every logger, copied to the host once for all of them.

    Args:
        loggers: the loggers (e.g. from `make_loggers`).
        metrics: what ``trainer.run(state, n)`` returned: arrays ``[n]`` or ``[K, n]``.
    """
    loggers = list(loggers)
    if not loggers:
        return
    arrays = {name: np.asarray(value) for name, value in metrics.items()}
    for logger in loggers:
        logger.log(arrays)


def close_loggers(loggers: Iterable[Logger]) -> None:
    """Closes every logger, even when one fails; then raises the first failure."""
    failure: BaseException | None = None
    for logger in loggers:
        try:
            logger.close()
        except Exception as error:  # noqa: BLE001 - close the others first
            failure = failure or error
    if failure is not None:
        raise failure


def make_loggers(
    names: str | Sequence[str],
    run_dir: str | os.PathLike[str],
    config: Mapping[str, Any] | None,
    seeds: Sequence[int],
    *,
    members: Members | None = None,
) -> list[Logger]:
    """The loggers of ``jaxpg train --logger NAMES`` for a run directory.

    ``csv`` adds none: the CLI writes ``metrics.csv`` itself, from the whole history.
    ``tensorboard`` writes to ``<run_dir>/tensorboard/`` (a run per seed when there are
    several); ``wandb`` makes a W&B run named after the run directory, in the project
    ``WANDB_PROJECT`` (default ``jaxpg``), with its files in ``<run_dir>/wandb/`` (``mode``
    from ``WANDB_MODE``).

    Args:
        names: comma-separated logger names, or a sequence of them (`LOGGER_NAMES`).
        run_dir: the run directory.
        config: the run's config and identity (algorithm, environment, ...).
        seeds: the run's seeds, one per row of the metrics.
        members: names of the rows instead of ``seed_<s>`` (a sweep's grid points x seeds),
            or names -> the row's own hyperparameters (TensorBoard's HParams); ``seeds``
            then only go into the config.

    Returns:
        The loggers, to be given every chunk (`log_chunk`) and closed (`close_loggers`).

    Raises:
        ValueError: an unknown name, or a missing library (with the pip command).
    """
    run_dir = os.fspath(run_dir)
    row_seeds = None if members is not None else seeds
    loggers: list[Logger] = []
    try:
        for name in check_logger_names(names):
            if name == "tensorboard":
                loggers.append(
                    TensorBoardLogger(
                        os.path.join(run_dir, "tensorboard"), config, row_seeds, members=members
                    )
                )
            elif name == "wandb":
                label = os.path.basename(os.path.normpath(os.path.abspath(run_dir)))
                loggers.append(
                    WandbLogger(
                        project=os.environ.get("WANDB_PROJECT") or DEFAULT_WANDB_PROJECT,
                        config=config,
                        seeds=row_seeds,
                        dir=run_dir,
                        name=label,
                        members=members,
                    )
                )
    except BaseException:
        close_loggers(loggers)
        raise
    return loggers


__all__ = [
    "LOGGER_NAMES",
    "STEP_METRIC",
    "CSVLogger",
    "Logger",
    "TensorBoardLogger",
    "WandbLogger",
    "check_logger_names",
    "close_loggers",
    "log_chunk",
    "make_loggers",
    "missing_library",
    "parse_logger_names",
]
