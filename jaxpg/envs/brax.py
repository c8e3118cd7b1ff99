"""Brax and MuJoCo Playground environments with gymnax 1.0's API (optional extras).

``jaxpg.make_env("brax:hopper", backend="spring")`` wraps a Brax environment (Freeman et al.
2021, "Brax: a differentiable physics engine for large scale rigid body simulation") and
``jaxpg.make_env("playground:CheetahRun")`` a MuJoCo Playground one (Zakka et al. 2025, "MuJoCo
Playground"); both return ``(env, env_params)`` that every jaxpg algorithm trains unchanged::

    env, env_params = jaxpg.make_env("brax:hopper", backend="spring", max_steps=1000)
    obs, state = env.reset(key, env_params)                     # obs [11]
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, env_params)

The adapter wraps the *raw* environment (``brax.envs.get_environment``, ``mujoco_playground.
registry.load``), not ``brax.envs.create``: Brax's training wrappers fold the time limit into
``done``, overwrite the last observation of a finished episode and restart every episode from
one cached initial state. Here, as in every jaxpg environment (`jaxpg.envs.base.Environment`):

* ``terminated`` is the raw environment's ``done`` (a fall, NaN physics), ``truncated`` is the
  time limit ``state.time >= params.max_steps_in_episode``, kept apart;
* `step` auto-resets, and ``info["final_observation"]`` is the raw environment's observation of
  the step that ended the episode;
* every new episode is reset with its own key, so it gets fresh reset noise;
* the state is a pytree (the raw state plus a step counter), so it can be indexed, copied and
  stepped again: ``STATE_COPYABLE`` is True and TRPO's vine sampling works.

Keys: jaxpg passes typed keys (`jax.random.key`); Brax and Playground want raw ``uint32[2]``
keys, so `reset_env` converts with `jax.random.key_data`. The physics is deterministic given the
state, so the whole step key goes to the reset (``DETERMINISTIC_TRANSITIONS``), and the batched
`step_batch` that `jaxpg.rollout` calls resets only the environments whose episode ended. A
single `step` (or ``vmap(step)``) computes a reset on every step and selects it where the episode
ended; this costs little for Brax, but a Playground reset can run many physics steps
(CheetahRun: 200), so prefer `step_batch` there.

Installation: ``pip install -e ".[brax]"`` (Brax, MuJoCo, MJX) or ``pip install -e
".[playground]"`` in the jaxpg checkout; Brax needs Python >= 3.11. Known limits:

* ``brax:swimmer`` fails inside Brax 0.14.2 with current JAX (``brax/fluid.py`` calls
  ``jnp.clip(a_min=...)``, which JAX removed); the other Brax environments work.
* Playground's dm_control-suite tasks (``CheetahRun``, ``WalkerWalk``, ``HopperHop``, ...) ship
  their model files and work offline. Its robot tasks (locomotion and manipulation: ``Go1...``,
  ``PandaPickCube``, ...) fetch the MuJoCo Menagerie models with ``git clone`` from GitHub at
  first use, so they cannot work offline; `make_playground_env` says so when the fetch fails.
"""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from jaxpg.envs.base import Environment
from jaxpg.envs.registry import did_you_mean

#: How the README installs the extras: editable, from the root of the jaxpg checkout.
BRAX_HINT = 'run `pip install -e ".[brax]"` in the jaxpg checkout'
PLAYGROUND_HINT = 'run `pip install -e ".[playground]"` in the jaxpg checkout'

#: Brax environments whose `step` maps actions from [-1, 1] onto the actuators' control range.
#: The others pass actions to the actuators, which clip them to that range.
UNIT_ACTION_ENVS = frozenset({"humanoid", "humanoidstandup", "inverted_pendulum", "pusher"})

#: Brax's physics pipelines (``backend=``).
BRAX_BACKENDS = ("generalized", "positional", "spring", "mjx")


@struct.dataclass
class BraxParams:
    """Parameters of a `BraxEnv` (traced, so vmappable).

    Attributes:
        max_steps_in_episode: the time limit; the step that reaches it is truncated.
    """

    max_steps_in_episode: int = 1000


@struct.dataclass
class BraxEnvState:
    """The raw environment's state and the step count of the running episode.

    Attributes:
        inner: Brax's ``brax.envs.base.State`` or Playground's ``mjx_env.State`` (a pytree
            holding the physics state, ``obs``, ``reward``, ``done``, ``metrics``, ``info``).
        time: int32 steps taken in this episode.
    """

    inner: Any
    time: jax.Array


class BraxEnv(Environment):
    """A raw Brax or MuJoCo Playground environment with gymnax 1.0's API and auto-reset.

    Made by `make_brax_env` and `make_playground_env` (through `jaxpg.make_env`); the raw
    environment needs ``reset(raw_key) -> state`` and ``step(state, action) -> state`` with
    ``state.obs``, ``state.reward``, ``state.done`` and ``state.metrics``.

    Args:
        raw_env: the raw environment (not wrapped by ``brax.envs.create``).
        name: the jaxpg id, e.g. ``"brax:hopper"``.
        action_low: ``[action_size]`` lower action bounds.
        action_high: ``[action_size]`` upper action bounds.
        max_steps_in_episode: the default time limit.
        observation_key: for raw environments whose observation is a dict, the entry to use.
    """

    DETERMINISTIC_TRANSITIONS = True
    STATE_COPYABLE = True

    def __init__(
        self,
        raw_env: Any,
        name: str,
        action_low: Any,
        action_high: Any,
        max_steps_in_episode: int = 1000,
        observation_key: str | None = None,
    ):
        super().__init__()
        self.raw_env = raw_env
        self._name = name
        self._max_steps = int(max_steps_in_episode)
        if self._max_steps < 1:
            raise ValueError(f"{name}: max_steps_in_episode must be >= 1; got {self._max_steps}")
        self._observation_key = observation_key
        # Traced, never run: the shapes and dtypes every raw state must keep.
        self._template = jax.eval_shape(raw_env.reset, jax.random.key_data(jax.random.key(0)))
        obs = self._template.obs
        if isinstance(obs, Mapping) and observation_key is None:
            raise ValueError(
                f"{name} observes a dict with entries {sorted(obs)}; choose one with "
                "observation_key=..."
            )
        obs = self._observe(self._template)
        if len(obs.shape) != 1:
            raise ValueError(f"{name} observes shape {obs.shape}; jaxpg needs a vector")
        self.obs_shape = tuple(obs.shape)
        self._action_low = np.asarray(action_low, np.float32)
        self._action_high = np.asarray(action_high, np.float32)

    @property
    def default_params(self) -> BraxParams:
        return BraxParams(max_steps_in_episode=self._max_steps)

    @property
    def name(self) -> str:
        return self._name

    @property
    def num_actions(self) -> int:
        return int(self._action_low.shape[0])

    def step_env(
        self, key: jax.Array, state: BraxEnvState, action: jax.Array, params: BraxParams
    ) -> tuple[jax.Array, BraxEnvState, jax.Array, jax.Array, dict[str, Any]]:
        del key  # the physics is deterministic given the state
        inner = _cast_like(self._template, self.raw_env.step(state.inner, action))
        state = BraxEnvState(inner=inner, time=state.time + 1)
        terminated = self.is_terminated(state, params)
        return self._observe(inner), state, inner.reward, terminated, {"metrics": inner.metrics}

    def reset_env(self, key: jax.Array, params: BraxParams) -> tuple[jax.Array, BraxEnvState]:
        inner = _cast_like(self._template, self.raw_env.reset(_raw_key(key)))
        return self._observe(inner), BraxEnvState(inner=inner, time=jnp.zeros((), jnp.int32))

    def get_obs(self, state: BraxEnvState, params: Any = None, key: Any = None) -> jax.Array:
        return self._observe(state.inner)

    def is_terminated(self, state: BraxEnvState, params: BraxParams) -> jax.Array:
        return jnp.asarray(state.inner.done) != 0

    def observation_space(self, params: BraxParams | None = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, self.obs_shape, jnp.float32)

    def action_space(self, params: BraxParams | None = None) -> spaces.Box:
        # NumPy bounds: constants even when the space is built under a trace.
        return spaces.Box(
            self._action_low,
            self._action_high,
            self._action_low.shape,
            jnp.float32,
        )

    def _observe(self, inner: Any) -> Any:
        """The observation vector of a raw state."""
        if self._observation_key is None:
            return inner.obs
        return inner.obs[self._observation_key]


def make_brax_env(
    name: str, backend: str | None = None, max_steps: int = 1000, **kwargs: Any
) -> BraxEnv:
    """A Brax environment by name, with gymnax 1.0's API (``jaxpg.make_env("brax:<name>")``).

    Args:
        name: a Brax environment: ``"ant"``, ``"halfcheetah"``, ``"hopper"``, ``"humanoid"``,
            ``"humanoidstandup"``, ``"inverted_pendulum"``, ``"inverted_double_pendulum"``,
            ``"pusher"``, ``"reacher"``, ``"walker2d"`` (``"swimmer"`` is broken in Brax
            0.14.2 with current JAX), or one registered with ``brax.envs.register_environment``.
        backend: the physics pipeline, one of ``"generalized"``, ``"positional"``,
            ``"spring"``, ``"mjx"``; None: the environment's own default (``"generalized"``
            for the built-in ones).
        max_steps: the default ``max_steps_in_episode`` (the time limit).
        **kwargs: passed to the Brax environment (e.g. ``reset_noise_scale``, ``n_frames``).

    Returns:
        A `BraxEnv`; its action space is [-1, 1] per actuator for the environments in
        `UNIT_ACTION_ENVS` (which rescale actions themselves) and the actuators' control range
        otherwise ([-1, 1] for all built-in ones).

    Raises:
        ImportError: brax is not installed (the message names the extra).
        ValueError: an unknown name or backend, or bad options.
    """
    brax_envs = _import("brax.envs", BRAX_HINT)
    known = sorted(getattr(brax_envs, "_envs", {}))  # Brax has no public list
    if known and name not in known:
        raise ValueError(
            f"unknown Brax environment {name!r}{did_you_mean(name, known)}; known: "
            f"{', '.join(known)}"
        )
    if backend is not None:
        if backend not in BRAX_BACKENDS:
            raise ValueError(
                f"unknown Brax backend {backend!r}; choose one of {', '.join(BRAX_BACKENDS)}"
            )
        kwargs["backend"] = backend
    try:
        raw_env = brax_envs.get_environment(name, **kwargs)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"cannot make brax:{name} with {kwargs}: {error}") from error
    ctrl_range = np.asarray(raw_env.sys.actuator.ctrl_range, np.float32)
    if name in UNIT_ACTION_ENVS:
        ctrl_range = np.tile(np.array([-1.0, 1.0], np.float32), (raw_env.action_size, 1))
    return BraxEnv(raw_env, f"brax:{name}", ctrl_range[:, 0], ctrl_range[:, 1], max_steps)


def make_playground_env(
    name: str,
    max_steps: int | None = None,
    impl: str = "jax",
    config_overrides: dict[str, Any] | None = None,
    observation_key: str | None = None,
) -> BraxEnv:
    """A MuJoCo Playground environment by name (``jaxpg.make_env("playground:<name>")``).

    The dm_control-suite tasks (``AcrobotSwingup``, ``BallInCup``, ``CartpoleBalance``,
    ``CheetahRun``, ``FingerSpin``, ``FishSwim``, ``HopperHop``, ``HumanoidWalk``,
    ``PendulumSwingup``, ``PointMass``, ``ReacherEasy``, ``SwimmerSwimmer6``, ``WalkerWalk``,
    ...) ship their model files and work offline. The robot tasks (locomotion and manipulation)
    download the MuJoCo Menagerie with ``git clone`` from GitHub at first use and cannot work
    offline; their observations are dicts, so pass ``observation_key="state"`` for them.

    Args:
        name: a Playground environment name.
        max_steps: the default ``max_steps_in_episode``; None: the task's ``episode_length``
            (1000 for the dm_control suite).
        impl: MJX's implementation: ``"jax"`` (pure JAX, runs on CPU and GPU, a plain pytree
            state) or ``"warp"`` (Playground's own default, NVIDIA Warp kernels, for GPUs).
        config_overrides: more overrides of the task's config (``ctrl_dt``, ``sim_dt``, ...).
        observation_key: the entry to observe when the observation is a dict.

    Returns:
        A `BraxEnv` whose action space is the actuators' control range for dm_control-suite
        tasks and [-1, 1] (Playground's convention: the task scales actions itself) otherwise.

    Raises:
        ImportError: mujoco_playground is not installed (the message names the extra).
        ValueError: an unknown name or a config Playground's raw environments do not support.
        RuntimeError: a robot task whose models could not be downloaded (offline).
    """
    playground = _import("mujoco_playground", PLAYGROUND_HINT)
    registry, suite = playground.registry, playground.dm_control_suite
    if name not in registry.ALL_ENVS:
        raise ValueError(
            f"unknown MuJoCo Playground environment {name!r}"
            f"{did_you_mean(name, registry.ALL_ENVS)}; known: {', '.join(registry.ALL_ENVS)}"
        )
    config = registry.get_default_config(name)
    overrides = {"impl": impl} if "impl" in config else {}
    overrides.update(config_overrides or {})
    try:
        config.update_from_flattened_dict(overrides)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"bad config_overrides for playground:{name}: {error}") from error
    if int(config.get("action_repeat", 1)) != 1:
        raise ValueError(f"playground:{name}: action_repeat != 1 is not supported")
    try:
        raw_env = registry.load(name, config=config)
    except (OSError, subprocess.SubprocessError) as error:
        if name in suite.ALL_ENVS:
            raise
        raise RuntimeError(
            f"playground:{name} is a robot task: MuJoCo Playground downloads its models (the "
            "MuJoCo Menagerie, with `git clone` from GitHub) at first use, and that failed "
            f"({type(error).__name__}: {error}). Robot tasks cannot work offline; the "
            f"dm_control-suite tasks ship their models: {', '.join(suite.ALL_ENVS)}"
        ) from error
    if name in suite.ALL_ENVS:
        model = raw_env.mj_model
        limited = np.asarray(model.actuator_ctrllimited, bool)[:, None]
        bounds = np.where(limited, model.actuator_ctrlrange, [-np.inf, np.inf])
    else:
        bounds = np.tile(np.array([-1.0, 1.0]), (raw_env.action_size, 1))
    if max_steps is None:
        max_steps = int(config.get("episode_length", 1000))
    return BraxEnv(
        raw_env, f"playground:{name}", bounds[:, 0], bounds[:, 1], max_steps, observation_key
    )


def _import(module: str, hint: str) -> Any:
    """Imports an optional dependency, or raises ImportError naming the extra to install."""
    package = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if error.name is not None and error.name.split(".")[0] == package:
            raise ImportError(f"{package} is not installed: {hint}") from error
        raise ImportError(f"{package} could not be imported ({error}): {hint}") from error


def _raw_key(key: jax.Array) -> jax.Array:
    """A raw ``uint32`` key for Brax and Playground, which do not take typed keys."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


def _cast_like(template: Any, tree: Any) -> Any:
    """``tree`` with the template's dtypes (a Brax `step` may return a Python float reward)."""
    return jax.tree.map(lambda spec, leaf: jnp.asarray(leaf, spec.dtype), template, tree)
