"""The two implementations of `jaxpg.cli.run.Runner`: `JaxRunner` (a JAX environment: compiled
programs, every member vmapped in one call) and `jaxpg.cli.host.HostRunner` (a gymnasium
environment: rollouts on the host, seeds in turn). `make_runner` picks one; the train and eval
commands use only the interface."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from jaxpg.cli import stored
from jaxpg.cli.host import HostRunner
from jaxpg.cli.options import CLIError, run_keys, runs_on_host
from jaxpg.cli.programs import (
    cached_compile,
    eval_lowering,
    make_chunk_runner,
    make_sweep_chunk_runner,
    program_identity,
    wait,
)
from jaxpg.cli.run import ProgressCallback, Run, Runner


class JaxRunner:
    """A JAX environment's run: three compiled programs, the members vmapped in each.

    ``init`` (the initial states), ``train chunk`` (``jit(vmap(run_chunk))`` of
    `make_chunk_runner`, or of `make_sweep_chunk_runner` with a sweep: one program for every
    chunk and grid point) and ``eval`` (`jaxpg.evaluate` with the trained policy). Each is
    compiled once per process (`cached_compile`); `compile` compiles them together, in
    parallel threads, and returns once ``init`` and ``train chunk`` are ready (``eval`` goes
    on compiling while training runs).
    """

    progress_per_iteration = 1

    def __init__(self, run: Run) -> None:
        from jaxpg.train import make_trainer

        self.trainer = make_trainer(run.config, run.env, run.env_params)
        self.algorithm = self.trainer.algorithm
        self.config, self.env, self.env_params = run.config, run.env, run.env_params
        self.name = run.algorithm
        self.sweep = run.sweep
        self.num_seeds = len(run.seeds)
        self.num_members = len(run.member_seeds)
        self.chunk_size = run.chunk_size
        self.identity = program_identity(run.config, run.env_id, run.env_kwargs, self.num_members)
        if run.sweep is not None:
            self.identity = (*self.identity, "sweep", run.sweep.fields)

    def template(self, batch_shape: tuple[int, ...] = ()) -> Any:
        return self.trainer.template(batch_shape)

    def _member_seeds(self, seeds: Sequence[int]) -> Any:
        """int32 ``[M]``: the seeds repeated for every grid point."""
        import numpy as np

        return np.asarray(list(seeds) * (self.num_members // self.num_seeds), np.int32)

    def _inputs(self) -> tuple[Any, ...]:
        """What the programs take besides states, seeds and counts: the sweep's values."""
        if self.sweep is None:
            return ()
        return (self.sweep.member_values(self.num_seeds),)

    def _init_member(self, seed: Any, *values: dict[str, Any]) -> Any:
        from jaxpg.train import make_trainer

        trainer = self.trainer
        if values:  # a grid point: its own config, the seed's key
            config = dataclasses.replace(self.config, **values[0])
            trainer = make_trainer(config, self.env, self.env_params)
        return trainer.init(run_keys(seed).train)

    def _init_lowering(self) -> tuple[tuple, Any]:
        import jax

        from jaxpg.train import COMPILER_OPTIONS

        def build():
            seeds = jax.ShapeDtypeStruct((self.num_members,), "int32")
            inputs = jax.tree.map(
                lambda value: jax.ShapeDtypeStruct(value.shape, "float32"), self._inputs()
            )
            return jax.vmap(self._init_member), (seeds, *inputs)

        key = ("init", *self.identity)
        return key, lambda: stored.lower(key, build, COMPILER_OPTIONS)

    def _chunk_lowering(self, state: Callable[[], Any]) -> tuple[tuple, Any]:
        """``state()``: the states (or their shapes) the chunk takes, when it is traced."""
        import jax

        from jaxpg.train import COMPILER_OPTIONS, batched_template

        def build():
            if self.sweep is None:
                program = make_chunk_runner(self.trainer, self.chunk_size)
            else:
                program = make_sweep_chunk_runner(
                    self.config, self.env, self.env_params, self.chunk_size
                )
            count = jax.ShapeDtypeStruct((), "int32")
            return program, (batched_template(state()), *self._inputs(), count, count, count)

        key = ("train chunk", self.chunk_size, *self.identity)
        return key, lambda: stored.lower(key, build, COMPILER_OPTIONS)

    def _eval_lowering(
        self, params: Callable[[], Any], episodes: int, greedy: bool
    ) -> tuple[tuple, Any]:
        return eval_lowering(
            self.identity,
            self.num_members,
            self.config,
            self.env,
            self.env_params,
            self.algorithm.policy,
            params,
            episodes,
            greedy,
        )

    @contextlib.contextmanager
    def _traceable(self) -> Iterator[None]:
        """Says in the CLI's words when a swept field cannot be traced."""
        import jax

        untraceable = (
            jax.errors.ConcretizationTypeError,
            jax.errors.TracerIntegerConversionError,
            jax.errors.TracerArrayConversionError,
        )
        try:
            yield
        except untraceable as error:
            if self.sweep is None:
                raise
            first_line = str(error).strip().splitlines()[0]
            raise CLIError(
                f"--sweep {', '.join(self.sweep.fields)}: {self.name} needs a concrete value "
                "of a swept field (it is used in Python control flow), so it cannot be traced; "
                f"train the values in separate runs with --set ({first_line})"
            ) from None

    def _compile(
        self, lowerings: dict[str, tuple[tuple, Any]], background: Sequence[str] = ()
    ) -> tuple[dict[str, Any], list[str]]:
        """`cached_compile` of ``lowerings``: the programs by name, and the names compiled now."""
        with self._traceable():
            return cached_compile(lowerings, background)

    def compile(self, state: Any, eval_episodes: int) -> list[str]:
        import jax

        @functools.cache
        def states() -> Any:  # traced only when a program is not stored (`stored.lower`)
            if state is not None:
                return state
            seeds = jax.ShapeDtypeStruct((self.num_members,), "int32")
            return jax.eval_shape(jax.vmap(self._init_member), seeds, *self._inputs())

        lowerings = {}
        if state is None:
            lowerings["init"] = self._init_lowering()
        lowerings["train chunk"] = self._chunk_lowering(states)
        if eval_episodes:
            # The whole parameter dict: evaluate applies observation statistics if any.
            params = lambda: states().agent.params  # noqa: E731
            lowerings["eval"] = self._eval_lowering(params, eval_episodes, greedy=False)
        # The evaluation after training finishes compiling while training runs.
        return self._compile(lowerings, background=("eval",))[1]

    def init(self, seeds: Sequence[int]) -> Any:
        program = self._compile({"init": self._init_lowering()})[0]["init"]
        return wait(program(self._member_seeds(seeds), *self._inputs()))

    def run_chunk(
        self, state: Any, count: int, progress: ProgressCallback
    ) -> tuple[Any, dict[str, Any]]:
        import jax
        import numpy as np

        lowering = self._chunk_lowering(lambda: state)
        program = self._compile({"train chunk": lowering})[0]["train chunk"]
        # The iterations done so far (the same for every member): where the chunk stands in
        # the run's evaluation schedule (`BaseConfig.eval_every`).
        first = np.asarray(jax.device_get(state.progress.iteration)).reshape(-1)[0]
        last = np.int32(self.config.num_iterations)
        state, metrics = wait(
            program(state, *self._inputs(), np.int32(first), last, np.int32(count))
        )
        metrics = {
            name: np.asarray(value)[:, :count] for name, value in jax.device_get(metrics).items()
        }
        progress(count, metrics["episode_return"][:, -1], None)
        return state, metrics

    def evaluate(self, state: Any, seeds: Sequence[int], episodes: int, greedy: bool) -> Any:
        import numpy as np

        params = state.agent.params
        lowering = self._eval_lowering(lambda: params, episodes, greedy)
        program = self._compile({"eval": lowering})[0]["eval"]
        return np.asarray(wait(program(params, self._member_seeds(seeds))))

    def report(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


def make_runner(run: Run) -> Runner:
    """The run's `Runner`: `HostRunner` for a gymnasium environment, else `JaxRunner`.

    Raises:
        CLIError: the trainer refuses the config or environment (its message).
    """
    try:
        if runs_on_host(run.env):
            return HostRunner(run)
        return JaxRunner(run)
    except ValueError as error:
        raise CLIError(str(error)) from None
