"""Policy and value networks as ``init``/``apply`` pairs over plain parameter pytrees.

A `Policy` maps observations ``[..., *obs_shape]`` to an action distribution batched over
``[...]``: `Categorical` for a `Discrete` action space, `DiagGaussian` with a state-independent
log standard deviation for a `Box` one. A `ValueNetwork` maps them to values ``[...]``.
Observations are flattened, so any gymnax observation shape works. With
``hidden_sizes=()`` the policy is linear in the observation: seed 001's linear softmax policy.

Hidden layers use orthogonal initialisation with gain sqrt(2); the policy's output layer uses a
gain of 0.01 so that every policy starts close to uniform (Andrychowicz et al. 2021), and the
value output a gain of 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from jaxpg.distributions import Categorical, DiagGaussian

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,
}

Params = Any


class Policy(NamedTuple):
    """``init(key) -> params`` and ``apply(params, obs [..., *obs_shape]) -> distribution``."""

    init: Callable[[jax.Array], Params]
    apply: Callable[[Params, jax.Array], Categorical | DiagGaussian]
    discrete: bool
    action_shape: tuple[int, ...]


class ValueNetwork(NamedTuple):
    """``init(key) -> params`` and ``apply(params, obs [..., *obs_shape]) -> values [...]``."""

    init: Callable[[jax.Array], Params]
    apply: Callable[[Params, jax.Array], jax.Array]


def orthogonal(scale: float) -> Callable[..., jax.Array]:
    """Orthogonal initialiser whose QR runs one matrix at a time under `vmap`.

    jaxlib's batched QR on CPU can deadlock its thread pool when several run at once (as when
    ``init`` is vmapped over seeds on a 2-core machine); `sequential_vmap` avoids the batched
    kernel and gives the same values.
    """
    base = nn.initializers.orthogonal(scale)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.custom_batching.sequential_vmap(lambda k: base(k, shape, dtype))(key)

    return init


class MLP(nn.Module):
    """A multilayer perceptron with an output of ``out_size`` (no output activation)."""

    hidden_sizes: Sequence[int]
    out_size: int
    activation: str = "tanh"
    out_gain: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(nn.Dense(size, kernel_init=orthogonal(np.sqrt(2.0)))(x))
        return nn.Dense(self.out_size, kernel_init=orthogonal(self.out_gain))(x)


class _GaussianHead(nn.Module):
    hidden_sizes: Sequence[int]
    action_size: int
    activation: str
    init_log_std: float

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = MLP(self.hidden_sizes, self.action_size, self.activation, out_gain=0.01)(x)
        log_std = self.param(
            "log_std", nn.initializers.constant(self.init_log_std), (self.action_size,)
        )
        return mean, log_std


def _flatten(obs: jax.Array, obs_ndim: int) -> jax.Array:
    batch_shape = obs.shape[: obs.ndim - obs_ndim]
    return obs.reshape(*batch_shape, -1).astype(jnp.float32)


def make_policy(
    action_space: Any,
    obs_shape: Sequence[int],
    hidden_sizes: Sequence[int] = (64, 64),
    activation: str = "tanh",
    init_log_std: float = 0.0,
) -> Policy:
    """Builds a policy for a `Discrete` or `Box` action space.

    Args:
        action_space: a gymnax `Discrete` or `Box` space.
        obs_shape: the shape of one observation (flattened inside the network).
        hidden_sizes: hidden layer widths; ``()`` gives a linear (softmax) policy.
        activation: one of ``"tanh"``, ``"relu"``, ``"elu"``, ``"gelu"``.
        init_log_std: initial log standard deviation of a Gaussian policy.

    Returns:
        A `Policy`; ``apply(params, obs)`` with ``obs [..., *obs_shape]`` gives a distribution
        batched over ``[...]``.
    """
    obs_ndim = len(tuple(obs_shape))
    dummy = jnp.zeros((1, int(np.prod(obs_shape))), jnp.float32)
    if isinstance(action_space, spaces.Discrete):
        module = MLP(tuple(hidden_sizes), int(action_space.n), activation, out_gain=0.01)

        def apply(params: Params, obs: jax.Array) -> Categorical:
            return Categorical(logits=module.apply(params, _flatten(obs, obs_ndim)))

        return Policy(lambda key: module.init(key, dummy), apply, True, ())
    if isinstance(action_space, spaces.Box):
        action_shape = tuple(action_space.shape)
        size = int(np.prod(action_shape))
        head = _GaussianHead(tuple(hidden_sizes), size, activation, init_log_std)

        def apply(params: Params, obs: jax.Array) -> DiagGaussian:
            mean, log_std = head.apply(params, _flatten(obs, obs_ndim))
            mean = mean.reshape(*mean.shape[:-1], *action_shape)
            return DiagGaussian(mean=mean, log_std=jnp.broadcast_to(log_std, mean.shape))

        return Policy(lambda key: head.init(key, dummy), apply, False, action_shape)
    raise ValueError(
        f"action space {type(action_space).__name__} is not supported; jaxpg policies need a "
        "gymnax Discrete or Box action space"
    )


def make_value_network(
    obs_shape: Sequence[int], hidden_sizes: Sequence[int] = (64, 64), activation: str = "tanh"
) -> ValueNetwork:
    """Builds a state-value network ``V(obs)``.

    Args:
        obs_shape: the shape of one observation (flattened inside the network).
        hidden_sizes: hidden layer widths.
        activation: one of ``"tanh"``, ``"relu"``, ``"elu"``, ``"gelu"``.

    Returns:
        A `ValueNetwork`; ``apply(params, obs [..., *obs_shape]) -> [...]``.
    """
    obs_ndim = len(tuple(obs_shape))
    module = MLP(tuple(hidden_sizes), 1, activation, out_gain=1.0)
    dummy = jnp.zeros((1, int(np.prod(obs_shape))), jnp.float32)

    def apply(params: Params, obs: jax.Array) -> jax.Array:
        return module.apply(params, _flatten(obs, obs_ndim))[..., 0]

    return ValueNetwork(lambda key: module.init(key, dummy), apply)
