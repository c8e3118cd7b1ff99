"""The environment base class: gymnax 1.0's `Environment` API with a cheaper auto-reset.

jaxpg environments subclass :class:`gymnax.environments.environment.Environment`, so every
gymnax tool and wrapper accepts them and every gymnax environment runs in every jaxpg
algorithm. The API is gymnax 1.0's, unchanged::

    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

`step` auto-resets: when the episode ends (terminated or truncated) it returns the first
observation of the next episode, and ``info["final_observation"]`` holds the real last
observation of the finished one (needed to bootstrap on truncation).

Two differences from gymnax's base class, both invisible to callers:

* `step` and `reset` are not jitted methods with ``self`` as a static argument; the caller
  jits once, at the top (jit of a method keyed on ``self`` retraces per instance).
* Environments whose transition uses no randomness (`DETERMINISTIC_TRANSITIONS = True`, as for
  CartPole and GridWorld) give the whole step key to the reset instead of splitting it; a key
  is still used exactly once.

`step_batch` steps a whole batch with one key (`jaxpg.rollout` calls it). For deterministic
transitions it draws new episodes only for the environments whose episode ended: none on most
steps, a few spare ones usually, the whole batch only when more than ``B // 8`` ended at once.
The random numbers of the reset (a threefry hash per environment per step to split the key,
and the reset's own draws) are otherwise most of the cost of a batched CartPole step. New
episodes come from `reset_batch`: by default each from its own key split from the batch's;
an environment whose initial state is a single draw overrides it with one draw for the whole
batch (CartPole: one threefry hash instead of two, and fewer kernels for XLA to compile). The
initial states have the same distribution either way; only the random stream differs from
``vmap(step)`` over split keys.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import environment

EnvState = environment.EnvState
EnvParams = environment.EnvParams

#: `step_batch` keeps ``max(1, B // RESET_SPARE_FRACTION)`` spare new episodes per step.
RESET_SPARE_FRACTION = 8


class Environment(environment.Environment):
    """Base class of jaxpg's JAX environments (gymnax 1.0 API).

    Subclasses implement `step_env`, `reset_env`, `observe`/`get_obs`, `is_terminated`, the
    spaces and `default_params`; truncation is `state.time >= params.max_steps_in_episode`.
    """

    #: True when `step_env` ignores its key, so `step` may give the key to the reset alone.
    DETERMINISTIC_TRANSITIONS: bool = False
    #: True when an environment state can be copied and stepped from again (vine sampling).
    STATE_COPYABLE: bool = True

    def step(
        self,
        key: jax.Array,
        state: Any,
        action: int | float | jax.Array,
        params: Any = None,
    ) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """Steps one environment and auto-resets it when the episode ends.

        Args:
            key: a PRNG key, used once.
            state: the environment state.
            action: a scalar action (Discrete) or an array (Box).
            params: environment parameters; `default_params` when None.

        Returns:
            ``(obs, state, reward, terminated, truncated, info)``; after an episode end `obs`
            and `state` are the reset ones and ``info["final_observation"]`` is the real last
            observation. ``info`` also repeats ``terminated`` and ``truncated``.
        """
        if params is None:
            params = self.default_params
        if self.DETERMINISTIC_TRANSITIONS:
            key_step = key_reset = key
        else:
            key_step, key_reset = jax.random.split(key)
        obs_step, state_step, reward, terminated, info = self.step_env(
            key_step, state, action, params
        )
        truncated = self.is_truncated(state_step, params)
        done = jnp.logical_or(terminated, truncated)
        obs_reset, state_reset = self.reset_env(key_reset, params)
        state = jax.tree.map(
            lambda reset_leaf, step_leaf: jax.lax.select(done, reset_leaf, step_leaf),
            state_reset,
            state_step,
        )
        obs = jax.tree.map(
            lambda reset_leaf, step_leaf: jax.lax.select(done, reset_leaf, step_leaf),
            obs_reset,
            obs_step,
        )
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_step,
        }
        return obs, state, reward, terminated, truncated, info

    def step_batch(
        self, key: jax.Array, state: Any, action: jax.Array, params: Any = None
    ) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """Steps ``B`` environments with one key and auto-resets those whose episode ended.

        Args:
            key: a PRNG key, used once for the whole batch.
            state: batched state, leaves ``[B, ...]``.
            action: ``[B, *action_shape]`` actions.
            params: environment parameters (shared); `default_params` when None.

        Returns:
            ``(obs, state, reward, terminated, truncated, info)`` batched over ``[B]``, as
            ``vmap(step)`` returns them (``info["final_observation"]`` included). With
            deterministic transitions only the finished environments draw a new episode (see
            the module docstring); otherwise this is ``vmap(step)`` over ``split(key, B)``.
        """
        if params is None:
            params = self.default_params
        num_envs = action.shape[0]
        if not self.DETERMINISTIC_TRANSITIONS:
            return jax.vmap(self.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key, num_envs), state, action, params
            )
        # The transition ignores its key (DETERMINISTIC_TRANSITIONS), so `key` serves the reset.
        obs_step, state_step, reward, terminated, info = jax.vmap(
            self.step_env, in_axes=(None, 0, 0, None)
        )(key, state, action, params)
        truncated = jax.vmap(self.is_truncated, in_axes=(0, None))(state_step, params)
        done = jnp.logical_or(terminated, truncated)
        obs_reset, state_reset = self.reset_finished(key, done, params)
        state = jax.tree.map(partial(_select_rows, done), state_reset, state_step)
        obs = jax.tree.map(partial(_select_rows, done), obs_reset, obs_step)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_step,
        }
        return obs, state, reward, terminated, truncated, info

    def reset_finished(self, key: jax.Array, done: jax.Array, params: Any) -> tuple[Any, Any]:
        """New episodes ``(obs, state)`` for the rows where ``done [B]`` is True.

        Draws none when no episode ended, ``max(1, B // RESET_SPARE_FRACTION)`` when at most
        that many did (the k-th finished environment takes the k-th), all ``B`` otherwise; each
        from its own key split from ``key``. Rows where ``done`` is False are unspecified.
        """
        num_envs = done.shape[0]
        spare = max(1, num_envs // RESET_SPARE_FRACTION)

        def no_reset(key):
            shapes = jax.eval_shape(self.reset_env, key, params)
            return jax.tree.map(lambda s: jnp.zeros((num_envs, *s.shape), s.dtype), shapes)

        def spare_resets(key):
            new = self.reset_batch(key, spare, params)
            row = jnp.clip(jnp.cumsum(done) - 1, 0, spare - 1)
            return jax.tree.map(lambda leaf: leaf[row], new)

        def all_resets(key):
            return self.reset_batch(key, num_envs, params)

        count = jnp.sum(done)
        branch = jnp.where(count == 0, 0, jnp.where(count <= spare, 1, 2))
        return jax.lax.switch(branch, (no_reset, spare_resets, all_resets), key)

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, Any]:
        """Returns ``(obs, state)`` of a new episode."""
        if params is None:
            params = self.default_params
        return self.reset_env(key, params)

    def reset_batch(self, key: jax.Array, num_envs: int, params: Any = None) -> tuple[Any, Any]:
        """``(obs, state)`` of ``num_envs`` new episodes, batched over ``[num_envs]``.

        The default resets each from its own key split from ``key``; subclasses may draw the
        whole batch at once (same distribution, another random stream).
        """
        if params is None:
            params = self.default_params
        keys = jax.random.split(key, num_envs)
        return jax.vmap(self.reset_env, in_axes=(0, None))(keys, params)


def _select_rows(done: jax.Array, new: jax.Array, old: jax.Array) -> jax.Array:
    """``new`` in the rows where ``done [B]`` is True, ``old`` elsewhere."""
    return jnp.where(jnp.reshape(done, done.shape + (1,) * (old.ndim - 1)), new, old)
