"""CartPole-v0 and CartPole-v1: the classic cart-pole of Barto, Sutton and Anderson (1983).

A line-by-line transcription of gymnasium's ``CartPoleEnv`` (Euler integration, tau 0.02,
failure at |x| > 2.4 or |theta| > 12 degrees, reward 1 on every step including the failing one,
reset state drawn from U(-0.05, 0.05)^4). v1 truncates at 500 steps, v0 at 200. Tested step by
step against gymnasium with the same state injected into both (tests/test_cartpole_parity.py).

All physical constants and the time limit live in `CartPoleParams`, so they can be vmapped
(e.g. a batch of pole masses). ``total_mass`` and ``polemass_length`` are derived inside the
step, so changing a mass keeps the dynamics consistent.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxpg.envs.base import Environment


@struct.dataclass
class CartPoleState:
    """Cart position and velocity, pole angle and angular velocity, step count."""

    x: jax.Array
    x_dot: jax.Array
    theta: jax.Array
    theta_dot: jax.Array
    time: jax.Array


@struct.dataclass
class CartPoleParams:
    """Physical constants and time limit (all traced, so all vmappable)."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_steps_in_episode: int = 500


class CartPole(Environment):
    """CartPole with two actions: 0 pushes the cart left, 1 pushes it right.

    Args:
        max_steps_in_episode: the default time limit (500 for v1, 200 for v0).
    """

    DETERMINISTIC_TRANSITIONS = True

    def __init__(self, max_steps_in_episode: int = 500):
        super().__init__()
        self._max_steps = int(max_steps_in_episode)
        self.obs_shape = (4,)

    @property
    def default_params(self) -> CartPoleParams:
        return CartPoleParams(max_steps_in_episode=self._max_steps)

    @property
    def name(self) -> str:
        return "CartPole-v0" if self._max_steps == 200 else "CartPole-v1"

    @property
    def num_actions(self) -> int:
        return 2

    def step_env(
        self, key: jax.Array, state: CartPoleState, action: Any, params: CartPoleParams
    ) -> tuple[jax.Array, CartPoleState, jax.Array, jax.Array, dict[str, Any]]:
        del key  # the dynamics are deterministic
        total_mass = params.masspole + params.masscart
        polemass_length = params.masspole * params.length
        force = jnp.where(action == 1, params.force_mag, -params.force_mag)
        costheta = jnp.cos(state.theta)
        sintheta = jnp.sin(state.theta)
        temp = (force + polemass_length * jnp.square(state.theta_dot) * sintheta) / total_mass
        thetaacc = (params.gravity * sintheta - costheta * temp) / (
            params.length * (4.0 / 3.0 - params.masspole * jnp.square(costheta) / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        state = CartPoleState(
            x=state.x + params.tau * state.x_dot,
            x_dot=state.x_dot + params.tau * xacc,
            theta=state.theta + params.tau * state.theta_dot,
            theta_dot=state.theta_dot + params.tau * thetaacc,
            time=state.time + 1,
        )
        terminated = self.is_terminated(state, params)
        reward = jnp.ones((), jnp.float32)  # 1 on every step, the failing one included
        return self.get_obs(state), state, reward, terminated, {}

    def reset_env(self, key: jax.Array, params: CartPoleParams) -> tuple[jax.Array, CartPoleState]:
        x, x_dot, theta, theta_dot = jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)
        state = CartPoleState(
            x=x, x_dot=x_dot, theta=theta, theta_dot=theta_dot, time=jnp.zeros((), jnp.int32)
        )
        return self.get_obs(state), state

    def reset_batch(
        self, key: jax.Array, num_envs: int, params: CartPoleParams | None = None
    ) -> tuple[jax.Array, CartPoleState]:
        """``num_envs`` new episodes from one draw of ``U(-0.05, 0.05)^(num_envs x 4)``."""
        # Batch-major like every other batched array, so that a mesh splits it along the batch.
        draw = jax.random.uniform(key, (num_envs, 4), minval=-0.05, maxval=0.05)
        x, x_dot, theta, theta_dot = draw.T
        time = jnp.zeros((num_envs,), jnp.int32)
        state = CartPoleState(x=x, x_dot=x_dot, theta=theta, theta_dot=theta_dot, time=time)
        return jax.vmap(self.get_obs)(state), state

    def get_obs(self, state: CartPoleState, params: Any = None, key: Any = None) -> jax.Array:
        return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot]).astype(jnp.float32)

    def is_terminated(self, state: CartPoleState, params: CartPoleParams) -> jax.Array:
        out_x = jnp.logical_or(state.x < -params.x_threshold, state.x > params.x_threshold)
        out_theta = jnp.logical_or(
            state.theta < -params.theta_threshold_radians,
            state.theta > params.theta_threshold_radians,
        )
        return jnp.logical_or(out_x, out_theta)

    def action_space(self, params: CartPoleParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params: CartPoleParams) -> spaces.Box:
        # The failing observation may exceed the thresholds, hence twice them (as gymnasium).
        high = jnp.array(
            [
                params.x_threshold * 2,
                jnp.finfo(jnp.float32).max,
                params.theta_threshold_radians * 2,
                jnp.finfo(jnp.float32).max,
            ],
            dtype=jnp.float32,
        )
        return spaces.Box(-high, high, (4,), jnp.float32)

    def state_space(self, params: CartPoleParams) -> spaces.Dict:
        big = jnp.finfo(jnp.float32).max
        return spaces.Dict(
            {
                "x": spaces.Box(-2 * params.x_threshold, 2 * params.x_threshold, (), jnp.float32),
                "x_dot": spaces.Box(-big, big, (), jnp.float32),
                "theta": spaces.Box(
                    -2 * params.theta_threshold_radians,
                    2 * params.theta_threshold_radians,
                    (),
                    jnp.float32,
                ),
                "theta_dot": spaces.Box(-big, big, (), jnp.float32),
                "time": spaces.Discrete(params.max_steps_in_episode),
            }
        )
