"""A bridge to gymnasium environments that have no JAX version (LunarLander, seed 002's).

``jaxpg.make_env("gymnasium:LunarLander-v3")`` returns a `GymnasiumEnv`: a *description* of a
gymnasium environment with the gymnax spaces API (``observation_space(params)``,
``action_space(params)``), so every jaxpg algorithm builds its networks and jitted update
functions for it unchanged. The environment itself runs on the host: `jaxpg.host_train` steps
a gymnasium vector environment (`make_vector_env`) with one jitted policy call per step for the
whole batch and hands the collected `jaxpg.rollout.Trajectory` to the same jitted ``update`` as
the JAX path. The JAX ``reset``/``step`` raise an error that says so.

Auto-reset follows the JAX path: the vector environment resets a finished sub-environment in
the same step (gymnasium's ``AutoresetMode.SAME_STEP``), the returned observation is the first
one of the new episode, and the real last observation is in ``info["final_obs"]`` (masked by
``info["_final_obs"]``). Termination and truncation (gymnasium's ``TimeLimit``) stay separate.

Observations are float32 arrays (a `Discrete` observation becomes a one-hot vector); Discrete
and Box action spaces are supported, as in the JAX path. Environment states live in gymnasium
objects and cannot be copied into a pytree, so ``STATE_COPYABLE`` is False (no vine sampling).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from flax import struct
from gymnax.environments import spaces

#: How the README installs the Box2D extra: editable, from the root of the jaxpg checkout.
BOX2D_HINT = 'run `pip install -e ".[box2d]"` in the jaxpg checkout'


@struct.dataclass
class GymnasiumParams:
    """Parameters of a `GymnasiumEnv` (fixed when it was made; informational for the host).

    Attributes:
        max_steps_in_episode: the time limit of the gymnasium spec (``max_episode_steps``), or
            None when the environment has none.
    """

    max_steps_in_episode: int | None = struct.field(pytree_node=False, default=None)


class HostEnvironmentError(RuntimeError):
    """A JAX-side operation was asked of an environment that runs on the host."""


class GymnasiumEnv:
    """A gymnasium environment described with the gymnax spaces API; it runs on the host.

    Attributes:
        env_id: the gymnasium id, e.g. ``"LunarLander-v3"``.
        make_kwargs: keyword arguments given to `gymnasium.make` (e.g. ``continuous=True``,
            ``max_episode_steps=200``).
        name: ``"gymnasium:<env_id>"``.
    """

    #: Vine sampling needs to copy environment states; gymnasium's cannot be.
    STATE_COPYABLE: bool = False
    #: Trained by `jaxpg.host_train`, not by `jaxpg.make_train`.
    RUNS_ON_HOST: bool = True

    def __init__(self, env_id: str, **make_kwargs: Any) -> None:
        self.env_id = env_id
        self.make_kwargs = dict(make_kwargs)
        probe = _make_single(env_id, self.make_kwargs)
        try:
            self._gym_observation_space = probe.observation_space
            self._gym_action_space = probe.action_space
            self._observation_space = _observation_space(env_id, probe.observation_space)
            self._action_space = _action_space(env_id, probe.action_space)
            self._max_steps = probe.spec.max_episode_steps if probe.spec is not None else None
        finally:
            probe.close()

    @property
    def name(self) -> str:
        return f"gymnasium:{self.env_id}"

    @property
    def default_params(self) -> GymnasiumParams:
        return GymnasiumParams(max_steps_in_episode=self._max_steps)

    @property
    def num_actions(self) -> int:
        """Number of actions (Discrete), or the action dimension (Box)."""
        if isinstance(self._action_space, spaces.Discrete):
            return int(self._action_space.n)
        return int(np.prod(self._action_space.shape))

    def observation_space(self, params: Any = None) -> spaces.Box:
        """The observation space as a gymnax `Box` (float32; one-hot for Discrete)."""
        del params
        return self._observation_space

    def action_space(self, params: Any = None) -> spaces.Discrete | spaces.Box:
        """The action space as a gymnax `Discrete` (from 0) or `Box`."""
        del params
        return self._action_space

    def make_vector_env(self, num_envs: int) -> gymnasium.vector.SyncVectorEnv:
        """A gymnasium vector environment of ``num_envs`` copies, auto-resetting in the same step.

        Args:
            num_envs: batch size ``B``.

        Returns:
            A `gymnasium.vector.SyncVectorEnv` with ``autoreset_mode=SAME_STEP``; reset it
            with ``reset(seed=...)`` before stepping.
        """

        def make_one() -> gymnasium.Env:
            return _make_single(self.env_id, self.make_kwargs)

        return gymnasium.vector.SyncVectorEnv(
            [make_one] * num_envs, autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP
        )

    def host_observation(self, obs: Any) -> np.ndarray:
        """Batched gymnasium observations ``[B, ...]`` as the float32 array the policy reads."""
        if isinstance(self._gym_observation_space, gymnasium.spaces.Discrete):
            index = np.asarray(obs, np.int64) - int(self._gym_observation_space.start)
            return np.eye(int(self._gym_observation_space.n), dtype=np.float32)[index]
        return np.asarray(obs, np.float32)

    def host_action(self, action: np.ndarray) -> np.ndarray:
        """Policy actions ``[B, ...]`` as gymnasium takes them (Box: clipped; Discrete: offset)."""
        if isinstance(self._gym_action_space, gymnasium.spaces.Box):
            space = self._gym_action_space
            return np.clip(action, space.low, space.high).astype(space.dtype, copy=False)
        return np.asarray(action, np.int64) + int(self._gym_action_space.start)

    def reset(self, key: Any, params: Any = None) -> Any:
        raise HostEnvironmentError(_host_message(self.name))

    def step(self, key: Any, state: Any, action: Any, params: Any = None) -> Any:
        raise HostEnvironmentError(_host_message(self.name))

    def __repr__(self) -> str:
        options = "".join(f", {key}={value!r}" for key, value in self.make_kwargs.items())
        return f"GymnasiumEnv({self.env_id!r}{options})"


def make_gymnasium_env(env_id: str, **kwargs: Any) -> tuple[GymnasiumEnv, GymnasiumParams]:
    """Describes a gymnasium environment for jaxpg (``make_env("gymnasium:<id>")`` calls this).

    Args:
        env_id: a registered gymnasium id, e.g. ``"LunarLander-v3"``.
        **kwargs: options for `gymnasium.make` (e.g. ``continuous=True``,
            ``max_episode_steps=...``).

    Returns:
        ``(env, env_params)``: a `GymnasiumEnv` and its `GymnasiumParams`.

    Raises:
        ValueError: unknown or deprecated id, bad options, or unsupported spaces.
        ImportError: a missing optional dependency (Box2D: ``pip install -e ".[box2d]"`` in the
            jaxpg checkout).

    Example:
        >>> env, env_params = make_gymnasium_env("CartPole-v1")
        >>> env.action_space(env_params).n
        2
    """
    env = GymnasiumEnv(env_id, **kwargs)
    return env, env.default_params


def _host_message(name: str) -> str:
    return (
        f"{name} is a gymnasium environment: it runs on the host, not inside JAX, so it has no "
        "JAX reset/step and jaxpg.make_train cannot trace it. Train it with "
        "jaxpg.host_train.train_host(config, env, env_params, key) (or `jaxpg train ALGO "
        f"--env {name}`), and evaluate it with jaxpg.evaluate"
    )


def _make_single(env_id: str, make_kwargs: dict[str, Any]) -> gymnasium.Env:
    """`gymnasium.make` raising ValueError for bad ids or options, ImportError for dependencies."""
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"a gymnasium env id must be a non-empty string; got {env_id!r}")
    try:
        gymnasium.spec(env_id)
    except gymnasium.error.Error as error:
        raise ValueError(f"unknown gymnasium env id {env_id!r}: {error}") from error
    try:
        return gymnasium.make(env_id, **make_kwargs)
    except gymnasium.error.DependencyNotInstalled as error:
        hint = BOX2D_HINT if "box2d" in str(error).lower() else "install the missing package"
        raise ImportError(
            f"gymnasium:{env_id} needs an optional dependency that is not installed ({error}); "
            f"{hint}"
        ) from error
    except TypeError as error:
        raise ValueError(f"bad options for gymnasium:{env_id}: {error}") from error


def _box(space: gymnasium.spaces.Box) -> spaces.Box:
    """A gymnasium Box as a float32 gymnax Box with the same bounds and shape."""
    return spaces.Box(
        low=np.asarray(space.low, np.float32),
        high=np.asarray(space.high, np.float32),
        shape=tuple(space.shape),
        dtype=np.float32,
    )


def _observation_space(env_id: str, space: gymnasium.Space) -> spaces.Box:
    if isinstance(space, gymnasium.spaces.Discrete):
        n = int(space.n)
        return spaces.Box(low=0.0, high=1.0, shape=(n,), dtype=np.float32)
    if isinstance(space, gymnasium.spaces.Box):
        return _box(space)
    raise ValueError(
        f"gymnasium:{env_id} has a {type(space).__name__} observation space; the bridge supports "
        "Box and Discrete observations (flatten others with a gymnasium wrapper)"
    )


def _action_space(env_id: str, space: gymnasium.Space) -> spaces.Discrete | spaces.Box:
    if isinstance(space, gymnasium.spaces.Discrete):
        return spaces.Discrete(int(space.n))
    if isinstance(space, gymnasium.spaces.Box):
        return _box(space)
    raise ValueError(
        f"gymnasium:{env_id} has a {type(space).__name__} action space; jaxpg supports Discrete "
        "and Box action spaces"
    )
