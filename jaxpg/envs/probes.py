"""Probe environments with known answers, for debugging learning code (Jones 2021).

Each probe isolates one piece of an agent. Observations are ``[1]`` floats, actions are
``Discrete(2)``.

=================== ========================================== =============================
kind                dynamics                                    what a correct agent learns
=================== ========================================== =============================
constant            obs 0, reward 1, every step terminates      V = 1
observation_reward  obs +-1 at random, reward = obs, terminates V(obs) = obs
action_reward       obs 0, reward +1 for action 0, -1 for 1     always action 0
observation_action  obs +-1, reward +1 if the action matches    action 1 if obs > 0 else 0
                    (1 for obs = +1, 0 for obs = -1), else -1
truncation          obs 0, reward 1, never terminates; the      V = 1 / (1 - gamma): the value
                    time limit truncates                        bootstraps on truncation
=================== ========================================== =============================
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxpg.envs.base import Environment

PROBES = ("constant", "observation_reward", "action_reward", "observation_action", "truncation")


@struct.dataclass
class ProbeState:
    """The current observation value and step count."""

    obs: jax.Array
    time: jax.Array


@struct.dataclass
class ProbeParams:
    """Only the time limit."""

    max_steps_in_episode: int = 10


class Probe(Environment):
    """A probe environment (see the module docstring).

    Args:
        kind: one of `PROBES`.
        max_steps: the time limit (only reached by ``"truncation"``).
    """

    def __init__(self, kind: str, max_steps: int = 10):
        super().__init__()
        if kind not in PROBES:
            raise ValueError(f"kind must be one of {PROBES}; got {kind!r}")
        self.kind = kind
        self._max_steps = max_steps
        self.DETERMINISTIC_TRANSITIONS = kind not in ("observation_reward", "observation_action")

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams(max_steps_in_episode=self._max_steps)

    @property
    def name(self) -> str:
        return f"Probe-{self.kind}"

    @property
    def num_actions(self) -> int:
        return 2

    def _draw_obs(self, key: jax.Array) -> jax.Array:
        if self.kind in ("observation_reward", "observation_action"):
            return jnp.where(jax.random.bernoulli(key), 1.0, -1.0)
        return jnp.zeros(())

    def step_env(self, key: jax.Array, state: ProbeState, action: Any, params: ProbeParams):
        obs = state.obs
        if self.kind in ("constant", "truncation"):
            reward = jnp.ones(())
        elif self.kind == "observation_reward":
            reward = obs
        elif self.kind == "action_reward":
            reward = jnp.where(action == 0, 1.0, -1.0)
        else:
            reward = jnp.where(action == (obs > 0).astype(jnp.int32), 1.0, -1.0)
        terminated = jnp.asarray(self.kind != "truncation")
        state = ProbeState(obs=self._draw_obs(key), time=state.time + 1)
        return self.get_obs(state), state, reward.astype(jnp.float32), terminated, {}

    def reset_env(self, key: jax.Array, params: ProbeParams):
        state = ProbeState(obs=self._draw_obs(key), time=jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def get_obs(self, state: ProbeState, params: Any = None, key: Any = None) -> jax.Array:
        return state.obs.reshape(1).astype(jnp.float32)

    def is_terminated(self, state: ProbeState, params: ProbeParams) -> jax.Array:
        return jnp.asarray(self.kind != "truncation")

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)
