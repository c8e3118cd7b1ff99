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
  CartPole and GridWorld) give the whole step key to the reset instead of splitting it. The
  split is a threefry hash per environment per step and, with the reset's own random numbers,
  is most of the cost of a CartPole step; a key is still used exactly once.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import environment

EnvState = environment.EnvState
EnvParams = environment.EnvParams


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

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, Any]:
        """Returns ``(obs, state)`` of a new episode."""
        if params is None:
            params = self.default_params
        return self.reset_env(key, params)
