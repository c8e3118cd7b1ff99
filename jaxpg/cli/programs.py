"""The compiled programs of a JAX run (`jaxpg.cli.runners.JaxRunner`): the chunk runner
(vmapped over seeds, or over grid points x seeds in a sweep) and the evaluation, and the cache
that compiles them in parallel, once per process."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
from typing import Any

from jaxpg.cli.options import run_keys


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


#: Compiled programs of this process, by what fixes them (config, env, sizes) and by the text
#: of their lowered module, so repeated `main` calls in one process (a resume right after a
#: run, a run whose config differs only in ``total_timesteps``, tests) compile once.
_PROGRAM_CACHE: collections.OrderedDict[tuple, Any] = collections.OrderedDict()


_PROGRAM_CACHE_SIZE = 16


def cached_compile(lowerings: dict[str, tuple[tuple, Any]]) -> tuple[dict[str, Any], list[str]]:
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


def program_identity(
    config: Any, env_id: str, env_kwargs: dict[str, Any], num_members: int
) -> tuple:
    """What fixes a run's programs besides their own sizes: the cache key's common part."""
    return (
        type(config).__name__,
        config,
        env_id,
        json.dumps(env_kwargs, sort_keys=True),
        num_members,
    )


def eval_lowering(
    identity: tuple,
    num_members: int,
    config: Any,
    env: Any,
    env_params: Any,
    policy: Any,
    params: Any,
    episodes: int,
    greedy: bool,
) -> tuple[tuple, Any]:
    """``program(params [M, ...], eval_seeds int32 [M]) -> returns [M, episodes]``: each
    member's ``policy`` evaluated with its seed's ``run_keys(eval_seed).evaluate``; ``params``
    is the agents' whole parameter dict (observation statistics included, applied frozen)."""
    import jax
    import jax.numpy as jnp

    from jaxpg.evaluation import evaluate

    def evaluate_seed(member_params, seed):
        key = run_keys(seed).evaluate
        return evaluate(
            config, env, env_params, member_params, key, episodes, greedy, policy=policy
        )

    key = ("eval", episodes, greedy, *identity)
    seeds = jax.ShapeDtypeStruct((num_members,), jnp.int32)
    return key, lambda: jax.jit(jax.vmap(evaluate_seed)).lower(params, seeds)
