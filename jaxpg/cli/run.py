"""A train or eval command's run, the `Runner` interface it trains through, and the names of
its files.

A leaf of the package: it imports no other ``jaxpg.cli`` module, so every module that writes,
reads or runs a run (`runs`, `outputs`, `runners`, `host`, `train`, `evaluate`) can depend on
it without a cycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

CHECKPOINT_FILE = "checkpoint.msgpack"


CONFIG_FILE = "config.json"


METRICS_FILE = "metrics.csv"


CURVE_FILE = "learning_curve.png"


SWEEP_CSV = "sweep.csv"


SWEEP_TABLE = "sweep.md"


SWEEP_PLOT = "sweep.png"


#: ``progress(units, returns, seed_index)`` while a chunk runs: ``units`` more of the progress
#: bar are done; ``returns`` is the latest episode return of the members that moved (``[M]``,
#: or a scalar for one seed; NaN before any episode has finished); ``seed_index`` is the seed
#: that moved when seeds take turns, else None.
ProgressCallback = Callable[[int, Any, int | None], None]


class Runner(Protocol):
    """What the train and eval commands need of a run's backend.

    A run has ``M`` members: its seeds, or grid points x seeds in a sweep (member
    ``g * num_seeds + k`` is grid point ``g`` with the ``k``-th seed). States are `TrainState`
    pytrees batched over members, metrics ``[M, iterations]`` numpy arrays.

    Attributes:
        algorithm: the trained `jaxpg.algorithms.Algorithm`; its ``policy`` is the network
            every evaluation and rendering uses.
        progress_per_iteration: progress-bar units per iteration: 1 when the members train
            together, the number of seeds when they take turns.
    """

    algorithm: Any
    progress_per_iteration: int

    def template(self, batch_shape: tuple[int, ...] = ()) -> Any:
        """The `TrainState` of shape structs, for `jaxpg.checkpoint.restore`."""
        ...

    def compile(self, state: Any, eval_episodes: int) -> list[str]:
        """Prepares the programs of a train command (``state``: the state it continues, None
        for a new run; ``eval_episodes``: 0 for no final evaluation); returns the names of
        the programs compiled now."""
        ...

    def init(self, seeds: Sequence[int]) -> Any:
        """Every member's initial state, each from ``run_keys(seed).train``."""
        ...

    def run_chunk(
        self, state: Any, count: int, progress: ProgressCallback
    ) -> tuple[Any, dict[str, Any]]:
        """``count`` iterations of every member: ``(state, metrics [M, count])``."""
        ...

    def evaluate(self, state: Any, seeds: Sequence[int], episodes: int, greedy: bool) -> Any:
        """``[M, episodes]`` returns of every member's policy; ``seeds`` (one per trained seed)
        give the keys, ``run_keys(seed).evaluate``."""
        ...

    def report(self) -> dict[str, Any]:
        """Entries of this backend for the run's summary."""
        ...

    def close(self) -> None:
        """Releases what the runner holds (host environments)."""
        ...


@dataclasses.dataclass
class Run:
    """What a command works on: a new run, or one loaded from its checkpoint.

    Attributes:
        algorithm: the CLI algorithm name (``npg``, ``maxent``, ...).
        config: the validated config.
        env_id: the environment id given to `jaxpg.make_env`.
        env_kwargs: its options (``--env-set``).
        env: the environment.
        env_params: its parameters.
        runner: the `Runner` that trains and evaluates it (None until
            `jaxpg.cli.runners.make_runner` has built it from the other fields).
        seeds: the trained seeds.
        out_dir: the run directory.
        chunk_size: iterations per chunk (one compiled call, one checkpoint).
        state: the `TrainState` batched over members ``[M, ...]`` (None before `init`).
        history: metric name to ``[M, iterations]`` arrays recorded so far.
        iterations_done: completed iterations.
        sweep: the `jaxpg.cli.sweep.Sweep` grid, or None for a plain run.
        compile_mode: ``fast`` or ``optimized``: the compiler options of a JAX environment's
            programs (`jaxpg.cli.options.resolve_compile_mode`); runs written before the
            option existed compiled ``optimized``.
    """

    algorithm: str
    config: Any
    env_id: str
    env_kwargs: dict[str, Any]
    env: Any
    env_params: Any
    runner: Runner | None
    seeds: list[int]
    out_dir: str
    chunk_size: int
    state: Any = None
    history: dict[str, Any] = dataclasses.field(default_factory=dict)
    iterations_done: int = 0
    sweep: Any = None
    compile_mode: str = "optimized"

    @property
    def member_seeds(self) -> list[int]:
        """The seed of every member: the seeds, or grid points x seeds in a sweep."""
        points = len(self.sweep.points) if self.sweep is not None else 1
        return self.seeds * points

    def metadata(self) -> dict[str, Any]:
        """What the checkpoint keeps beside the state to rebuild the run (`jaxpg.cli.runs`)."""
        record: dict[str, Any] = {
            "algorithm": self.algorithm,
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "seeds": list(self.seeds),
            "chunk_size": self.chunk_size,
            "compile": self.compile_mode,
        }
        if self.sweep is not None:
            record["sweep"] = self.sweep.to_dict()
        return record
