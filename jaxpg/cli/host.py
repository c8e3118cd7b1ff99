"""Gymnasium environments in the CLI: seeds trained in turn on the host (`jaxpg.host_train`),
their states stacked for checkpoints, and their evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class HostSeeds:
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
        self._stacked = stack_states(self._states)
        return self._stacked

    def run_chunk(self, state: Any, count: int, callback: Any) -> tuple[Any, dict[str, Any]]:
        """``count`` iterations of every seed in turn: ``(states, metrics [num_seeds, count])``.

        ``callback(seed_index, iteration, metrics)`` follows every iteration.
        """
        import numpy as np

        if state is not self._stacked:  # a resumed state: its episodes restart from resets
            self._states = [take_entry(state, index) for index in range(len(self.trainers))]
        states, metrics = [], []
        for index, (trainer, seed_state) in enumerate(
            zip(self.trainers, self._states, strict=True)
        ):
            seed_state, seed_metrics = trainer.run(
                seed_state, count, callback=lambda i, m, index=index: callback(index, i, m)
            )
            states.append(seed_state)
            metrics.append(seed_metrics)
        self._states, self._stacked = states, stack_states(states)
        return self._stacked, {
            name: np.stack([np.asarray(m[name]) for m in metrics]) for name in metrics[0]
        }

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


def evaluate_on_host(
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
                    take_entry(params, index),
                    jax.random.fold_in(jax.random.key(int(seed)), 1),
                    episodes,
                    greedy,
                )
            )
            for index, seed in enumerate(eval_seeds)
        ]
    )
