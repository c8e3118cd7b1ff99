"""Gymnasium environments in the CLI: `HostRunner`, the `jaxpg.cli.run.Runner` whose seeds
train in turn on the host (`jaxpg.host_train`), their states stacked for checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jaxpg.cli.options import run_keys
from jaxpg.cli.run import ProgressCallback, Run


class HostRunner:
    """A gymnasium environment's run (`jaxpg.host_train`): the seeds train in turn, chunk by
    chunk, on the host.

    One `HostTrainer` per seed, each with its own gymnasium vector environment, forked from
    the first so that all share one algorithm, one compiled policy step and one compiled
    update (compiled on first use, during training). Each trainer is handed back the state it
    returned last, so its episodes run on across chunks; a state from elsewhere (a checkpoint)
    restarts them from resets seeded by its key.
    """

    def __init__(self, run: Run) -> None:
        from jaxpg.host_train import HostTrainer

        first = HostTrainer(run.config, run.env, run.env_params)
        self.trainers = [first] + [first.fork() for _ in range(len(run.seeds) - 1)]
        self.algorithm = first.algorithm
        self.config, self.env, self.env_params = run.config, run.env, run.env_params
        self.progress_per_iteration = len(run.seeds)
        self._states: list[Any] = []
        self._stacked: Any = None

    def template(self, batch_shape: tuple[int, ...] = ()) -> Any:
        return self.trainers[0].template(batch_shape)

    def compile(self, state: Any, eval_episodes: int) -> list[str]:
        return []  # the policy step and the update compile on first use, during training

    def init(self, seeds: Sequence[int]) -> Any:
        self._states = [
            trainer.init(run_keys(int(seed)).train)
            for trainer, seed in zip(self.trainers, seeds, strict=True)
        ]
        self._stacked = stack_states(self._states)
        return self._stacked

    def run_chunk(
        self, state: Any, count: int, progress: ProgressCallback
    ) -> tuple[Any, dict[str, Any]]:
        import numpy as np

        if state is not self._stacked:  # a resumed state: its episodes restart from resets
            self._states = [take_entry(state, index) for index in range(len(self.trainers))]
        states, metrics = [], []
        for index, (trainer, seed_state) in enumerate(
            zip(self.trainers, self._states, strict=True)
        ):
            seed_state, seed_metrics = trainer.run(
                seed_state,
                count,
                callback=lambda _, m, index=index: progress(1, m["episode_return"], index),
            )
            states.append(seed_state)
            metrics.append(seed_metrics)
        self._states, self._stacked = states, stack_states(states)
        return self._stacked, {
            name: np.stack([np.asarray(m[name]) for m in metrics]) for name in metrics[0]
        }

    def evaluate(self, state: Any, seeds: Sequence[int], episodes: int, greedy: bool) -> Any:
        """Each seed's policy on the host (`jaxpg.evaluate`), one seed after the other."""
        import numpy as np

        from jaxpg.evaluation import evaluate

        params = state.agent.params  # evaluate applies observation statistics if any
        return np.stack(
            [
                np.asarray(
                    evaluate(
                        self.config,
                        self.env,
                        self.env_params,
                        take_entry(params, index),
                        run_keys(int(seed)).evaluate,
                        episodes,
                        greedy,
                        policy=self.algorithm.policy,
                    )
                )
                for index, seed in enumerate(seeds)
            ]
        )

    def report(self) -> dict[str, Any]:
        timings = self.trainers[0].timings  # shared by the forks
        return {"host_seconds": {name: round(value, 3) for name, value in timings.items()}}

    def close(self) -> None:
        for trainer in self.trainers:
            trainer.close()


# Stacking and slicing in numpy: eager jax.numpy would compile a small program per leaf shape.
def stack_states(states: Sequence[Any]) -> Any:
    """Per-seed states to one state with a leading seed axis (numpy leaves, PRNG keys kept)."""
    import jax
    import numpy as np

    def stack(*leaves: Any) -> Any:
        if jax.dtypes.issubdtype(leaves[0].dtype, jax.dtypes.prng_key):
            data = np.stack([np.asarray(jax.random.key_data(leaf)) for leaf in leaves])
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaves[0]))
        return np.stack([np.asarray(leaf) for leaf in leaves])

    return jax.tree.map(stack, *states)


def take_entry(tree: Any, index: int) -> Any:
    """Entry ``index`` of the leading axis of every leaf (numpy leaves, PRNG keys kept)."""
    import jax
    import numpy as np

    def take(leaf: Any) -> Any:
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            data = np.asarray(jax.random.key_data(leaf))[index]
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        return np.asarray(leaf)[index]

    return jax.tree.map(take, tree)
