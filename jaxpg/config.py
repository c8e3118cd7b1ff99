"""Configuration dataclasses: static fields apart from traced hyperparameters.

A config is a frozen `flax.struct` dataclass. Fields declared with `static` fix shapes or loop
lengths (numbers of environments, steps, iterations, layer sizes, option strings) and are part
of the compiled program; fields declared with `traced` are floats that become traced values
inside `jit`, so a sweep over them compiles once::

    def train_with_lr(key, lr):
        return jaxpg.make_train(dataclasses.replace(config, learning_rate=lr), env, params)(key)

    jax.jit(jax.vmap(train_with_lr))(keys, jnp.array([1e-3, 3e-3, 1e-2]))

Every field carries its allowed values; `validate` checks them (and the cross-field rules of
each config) with errors that name the field, the value and what is allowed. It runs in
`make_train` before anything is traced; traced values (in a sweep) cannot be checked and are
skipped.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from flax import struct

Check = Callable[[str, Any], None]


def _concrete_number(value: Any) -> float | None:
    """The value as a Python number, or None when it is traced or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Number):
        return value  # type: ignore[return-value]
    if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0:
        return value.item()
    if isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer):
        if value.ndim == 0:
            return value.item()
    return None


def interval(low: float, high: float = math.inf, *, low_open: bool = False) -> Check:
    """A check that a number lies in ``[low, high]`` (or ``(low, high]`` with ``low_open``)."""

    def check(name: str, value: Any) -> None:
        if isinstance(value, jax.core.Tracer):
            return
        number = _concrete_number(value)
        if number is None:
            raise ValueError(f"{name} must be a number; got {value!r}")
        ok = (number > low if low_open else number >= low) and number <= high
        if not ok or math.isnan(number):
            left = "(" if low_open else "["
            right = "]" if high != math.inf else ")"
            raise ValueError(
                f"{name}={value!r} is out of range; allowed: {left}{low}, {high}{right}"
            )

    return check


def optional(check: Check) -> Check:
    """``check``, or None (a default resolved from other fields)."""

    def check_optional(name: str, value: Any) -> None:
        if value is not None:
            check(name, value)

    return check_optional


def integer(low: int, high: float = math.inf) -> Check:
    """A check that a value is an integer in ``[low, high]``."""

    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an integer; got {value!r}")
        if not low <= value <= high:
            raise ValueError(
                f"{name}={value} is out of range; allowed: integers >= {low}"
                + (f" and <= {high}" if high != math.inf else "")
            )

    return check


def one_of(*choices: Any) -> Check:
    """A check that a value is one of ``choices``."""

    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise ValueError(f"{name}={value!r} is not allowed; choose one of {list(choices)}")

    return check


def layer_sizes(name: str, value: Any) -> None:
    """A check that a value is a tuple of positive integers (hidden layer widths)."""
    if not isinstance(value, tuple | list) or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in value
    ):
        raise ValueError(f"{name} must be a tuple of positive integers; got {value!r}")


def optional_layer_sizes(name: str, value: Any) -> None:
    """A check that a value is None or a tuple of positive integers."""
    if value is not None:
        layer_sizes(name, value)


def static(default: Any, check: Check | None = None) -> Any:
    """A field that fixes shapes or loop lengths (compiled in; not traced)."""
    return struct.field(pytree_node=False, default=default, metadata={"check": check})


def traced(default: Any, check: Check | None = None) -> Any:
    """A float hyperparameter that is traced inside `jit` (vmappable)."""
    return struct.field(pytree_node=True, default=default, metadata={"check": check})


def _field_check(cls: type, name: str) -> Check | None:
    """The check of field ``name``: the subclass's, or an ancestor's when it only sets a default."""
    for klass in cls.__mro__:
        fields = getattr(klass, "__dataclass_fields__", {})
        if name in fields and fields[name].metadata.get("check") is not None:
            return fields[name].metadata["check"]
    return None


@struct.dataclass
class BaseConfig:
    """Fields shared by every algorithm.

    Attributes:
        total_timesteps: environment steps to train for; rounded down to whole iterations.
        num_envs: environments stepped in parallel (``B``).
        num_steps: steps per environment per iteration (``T``); one iteration is ``B * T``
            environment steps.
        gamma: discount factor.
        hidden_sizes: hidden layer widths of the default networks (``()``: linear).
        activation: hidden activation of the default networks.
        init_log_std: initial log standard deviation of the default Gaussian policy (Box
            actions; ignored for Discrete ones).
        action_squash: how the default Gaussian policy meets the action bounds: ``"clip"``
            (the rollout clips the sample; log-probabilities of the unclipped sample, as in
            the TRPO paper) or ``"tanh"`` (a `jaxpg.distributions.TanhGaussian`, as Brax's
            trainers use).
        value_hidden_sizes: hidden widths of the default critic (None: the policy's
            ``hidden_sizes``; ``()``: linear), for the algorithms that have one.
        normalize_observations: normalise observations by their running mean and standard
            deviation (`jaxpg.normalization`), for the policy and the critic alike; the
            statistics live in ``params["obs_norm"]``, frozen in evaluation.
        normalize_rewards: divide rewards by the running standard deviation of the discounted
            return (reward scaling; ``params["reward_norm"]``).
        obs_clip: normalised observations are clipped to ``[-obs_clip, obs_clip]``.
        reward_clip: scaled rewards are clipped to ``[-reward_clip, reward_clip]``.
        eval_every: evaluate the policy during training after every ``eval_every``-th
            iteration and after the last one, inside the compiled program, on environments of
            its own with a key stream of its own (training is the same with it on or off);
            recorded as the metrics ``eval_return``, ``eval_return_std`` (sampled actions),
            ``eval_greedy_return``, ``eval_greedy_return_std`` (the greedy action), NaN on
            the other iterations (`jaxpg.evaluation.EVAL_METRICS`). 0: no evaluation.
        eval_episodes: episodes per evaluation, each for sampled and for greedy actions
            (played to termination or the environment's time limit).
    """

    total_timesteps: int = static(100_000, integer(1))
    num_envs: int = static(8, integer(1))
    num_steps: int = static(128, integer(1))
    gamma: float = traced(0.99, interval(0.0, 1.0))
    hidden_sizes: tuple[int, ...] = static((64, 64), layer_sizes)
    activation: str = static("tanh", one_of("tanh", "relu", "elu", "gelu"))
    init_log_std: float = traced(0.0, interval(-math.inf))
    action_squash: str = static("clip", one_of("clip", "tanh"))
    value_hidden_sizes: tuple[int, ...] | None = static(None, optional_layer_sizes)
    normalize_observations: bool = static(False, one_of(False, True))
    normalize_rewards: bool = static(False, one_of(False, True))
    obs_clip: float = traced(10.0, interval(0.0, low_open=True))
    reward_clip: float = traced(10.0, interval(0.0, low_open=True))
    eval_every: int = static(0, integer(0))
    eval_episodes: int = static(10, integer(1))

    @property
    def batch_size(self) -> int:
        """Environment steps per iteration, ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def num_iterations(self) -> int:
        """Training iterations: ``total_timesteps // batch_size``."""
        return self.total_timesteps // self.batch_size

    @property
    def algorithm_name(self) -> str:
        """Short name of the algorithm (used by the CLI and checkpoints)."""
        raise NotImplementedError

    def validate(self) -> None:
        """Checks every field; raises ValueError naming the field, value and allowed range."""
        for field in dataclasses.fields(self):
            check = _field_check(type(self), field.name)
            if check is not None:
                check(field.name, getattr(self, field.name))
        if self.total_timesteps < self.batch_size:
            raise ValueError(
                f"total_timesteps={self.total_timesteps} is less than one iteration "
                f"(num_envs * num_steps = {self.num_envs} * {self.num_steps} = {self.batch_size})"
            )

    def to_dict(self) -> dict[str, Any]:
        """Fields as plain Python values (JSON-ready); traced values must be concrete."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, jax.Array | np.ndarray | np.generic):
                value = value.item()
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BaseConfig:
        """Inverse of `to_dict`; unknown keys raise ValueError listing the known fields."""
        names = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {unknown}; known: {sorted(names)}")
        kwargs = {
            key: tuple(value) if isinstance(value, list) else value for key, value in values.items()
        }
        return cls(**kwargs)
