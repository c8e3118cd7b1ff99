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
    compiler_options,
    evaluation_lowering,
    evaluation_size,
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
    chunk and grid point) and ``eval`` (`evaluation_lowering`: every evaluation of the run,
    during training, after it and by ``jaxpg eval``). The chunk program does not evaluate: a
    chunk stops at each iteration the schedule evaluates after (``config.eval_every``), and
    the evaluation program runs there, on the same keys as `jaxpg.train.make_trainer`'s
    in-program schedule. Each program is compiled once per process (`cached_compile`);
    `compile` compiles them together, in parallel threads (``eval`` goes on compiling while
    training runs when only the final evaluation needs it).
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
        self.identity = program_identity(
            run.config, run.env_id, run.env_kwargs, self.num_members, run.compile_mode
        )
        self.options = compiler_options(run.compile_mode)
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

        def build():
            seeds = jax.ShapeDtypeStruct((self.num_members,), "int32")
            inputs = jax.tree.map(
                lambda value: jax.ShapeDtypeStruct(value.shape, "float32"), self._inputs()
            )
            return jax.vmap(self._init_member), (seeds, *inputs)

        key = ("init", *self.identity)
        return key, lambda: stored.lower(key, build, self.options)

    def _chunk_lowering(self, state: Callable[[], Any]) -> tuple[tuple, Any]:
        """``state()``: the states (or their shapes) the chunk takes, when it is traced."""
        import jax

        from jaxpg.train import batched_template, make_trainer

        def build():
            # The evaluations run in their own program (`evaluation_lowering`).
            config = dataclasses.replace(self.config, eval_every=0)
            if self.sweep is None:
                trainer = make_trainer(config, self.env, self.env_params)
                program = make_chunk_runner(trainer, self.chunk_size)
            else:
                program = make_sweep_chunk_runner(
                    config, self.env, self.env_params, self.chunk_size
                )
            count = jax.ShapeDtypeStruct((), "int32")
            return program, (batched_template(state()), *self._inputs(), count, count, count)

        key = ("train chunk", self.chunk_size, *self.identity)
        return key, lambda: stored.lower(key, build, self.options)

    def _eval_lowering(self, states: Callable[[], Any]) -> tuple[tuple, Any]:
        return evaluation_lowering(
            self.identity,
            self.num_members,
            self.config,
            self.env,
            self.env_params,
            self.algorithm.policy,
            states,
            self.options,
        )

    def _evaluation(self, state: Any) -> Any:
        return self._compile({"eval": self._eval_lowering(lambda: state)})[0]["eval"]

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
        if eval_episodes or self.config.eval_every:
            lowerings["eval"] = self._eval_lowering(states)
        # Needed only after training, the evaluation program compiles while training runs.
        background = () if self.config.eval_every else ("eval",)
        return self._compile(lowerings, background=background)[1]

    def init(self, seeds: Sequence[int]) -> Any:
        program = self._compile({"init": self._init_lowering()})[0]["init"]
        return wait(program(self._member_seeds(seeds), *self._inputs()))

    def run_chunk(
        self, state: Any, count: int, progress: ProgressCallback
    ) -> tuple[Any, dict[str, Any]]:
        """``count`` iterations in calls of the chunk program that end where the schedule
        evaluates, each followed by the evaluation there: the metrics of
        `jaxpg.train.Trainer.run` with ``config.eval_every``."""
        import jax
        import numpy as np

        from jaxpg.evaluation import EVAL_METRICS, evaluation_due

        lowering = self._chunk_lowering(lambda: state)
        program = self._compile({"train chunk": lowering})[0]["train chunk"]
        every, last = self.config.eval_every, self.config.num_iterations
        # The iterations done so far (the same for every member).
        done = int(np.asarray(jax.device_get(state.progress.iteration)).reshape(-1)[0])
        end, pieces = done + count, []
        while done < end:
            stop = min(end, (done // every + 1) * every, last) if every else end
            stop = max(stop, done + 1)  # at least one iteration per call
            state, metrics = wait(
                program(
                    state, *self._inputs(), np.int32(done), np.int32(last), np.int32(stop - done)
                )
            )
            metrics = {
                name: np.asarray(value)[:, : stop - done]
                for name, value in jax.device_get(metrics).items()
            }
            if every:
                nan = np.full_like(metrics["episode_return"], np.nan, dtype=np.float32)
                metrics.update({name: nan.copy() for name in EVAL_METRICS})
                if evaluation_due(stop, self.config, last):
                    for name, value in self._evaluate_during_training(state).items():
                        metrics[name][:, -1] = value
            pieces.append(metrics)
            progress(stop - done, metrics["episode_return"][:, -1], None)
            done = stop
        return state, {
            name: np.concatenate([p[name] for p in pieces], axis=1) for name in pieces[0]
        }

    def _evaluate_during_training(self, state: Any) -> dict[str, Any]:
        """The `jaxpg.evaluation.EVAL_METRICS` of every member (``[M]`` each) after the
        iterations ``state`` holds: `jaxpg.evaluation.make_periodic_evaluation`'s."""
        import jax
        import numpy as np

        program = self._evaluation(state)
        seeds = np.zeros(self.num_members, np.int32)  # not used by an evaluation in training
        _, metrics = wait(
            program(state.agent.params, state.key, seeds, np.False_, np.False_, np.int32(0))
        )
        return {name: np.asarray(value) for name, value in jax.device_get(metrics).items()}

    def evaluate(self, state: Any, seeds: Sequence[int], episodes: int, greedy: bool) -> Any:
        """``episodes`` per member in batches of `evaluation_size` (batch ``b`` on
        ``fold_in(run_keys(seed).evaluate, b)``), the calls queued before the wait."""
        import numpy as np

        program = self._evaluation(state)
        size = evaluation_size(self.config)
        member_seeds = self._member_seeds(seeds)
        batches = [
            program(
                state.agent.params, state.key, member_seeds, np.True_, np.bool_(greedy), np.int32(b)
            )
            for b in range(-(-episodes // size))
        ]
        returns = np.concatenate([np.asarray(r) for r, _ in wait(batches)], axis=1)
        return returns[:, :episodes]

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
