"""Policy and value networks as ``init``/``apply`` pairs over plain parameter pytrees.

Networks are the user's choice. jaxpg trains any `Policy` (``init(key) -> params`` and
``apply(params, obs [..., *obs_shape]) -> distribution`` batched over ``[...]``) and any
`Critic` (``init(key) -> params`` and ``apply(params, obs) -> values [...]``). A distribution is
anything with the methods of `jaxpg.distributions` (``sample``, ``mode``, ``log_prob``,
``entropy``, ``kl``; see that module). A flax module becomes one in a line::

    policy = jaxpg.networks.policy_from_module(MyTorso(), obs_shape, env.action_space(env_params))
    critic = jaxpg.networks.critic_from_module(MyValueNet(), obs_shape)
    train = jaxpg.make_train(config, env, env_params, policy=policy, critic=critic)

When none is given, `default_policy` and `default_critic` build multilayer perceptrons from the
config's ``hidden_sizes``, ``activation``, ``init_log_std`` and ``value_hidden_sizes``; they are
the only place where a network is made from a config. For a `Box` action space the policy is a
diagonal Gaussian with a state-independent log standard deviation (TRPO's); for a `Discrete`
one a categorical. With ``hidden_sizes=()`` the default policy is linear in the observation:
seed 001's linear softmax policy.

Hidden layers use orthogonal initialisation with gain sqrt(2); the policy's output layer uses a
gain of 0.01 so that every policy starts close to uniform (Andrychowicz et al. 2021), and the
value output a gain of 1. The default networks draw the Gaussian matrices behind the orthogonal
weights of all their layers with one random call (`orthogonal_layers`), not one key per layer as
``MLP.init`` (flax) does: the same distribution, fewer random-number kernels for XLA to compile
(one threefry hash per network instead of two per layer); the values differ from flax's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpg.distributions import Categorical, DiagGaussian, TanhGaussian
from jaxpg.spaces import describe, is_box, is_discrete

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "elu": jax.nn.elu,
    "gelu": jax.nn.gelu,
}

Params = Any


class Policy(NamedTuple):
    """``init(key) -> params`` and ``apply(params, obs [..., *obs_shape]) -> distribution``.

    The distribution is batched over ``[...]`` and has the methods of `jaxpg.distributions`.
    """

    init: Callable[[jax.Array], Params]
    apply: Callable[[Params, jax.Array], Any]


class Critic(NamedTuple):
    """``init(key) -> params`` and ``apply(params, obs [..., *obs_shape]) -> values [...]``."""

    init: Callable[[jax.Array], Params]
    apply: Callable[[Params, jax.Array], jax.Array]


#: The earlier name of `Critic`.
ValueNetwork = Critic


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


def orthogonal_layers(
    key: jax.Array, shapes: Sequence[tuple[int, int]], gains: Sequence[float]
) -> list[jax.Array]:
    """Orthogonal weight matrices ``[fan_in, fan_out]`` for several layers from one key.

    One normal draw holds the Gaussian matrices of every layer; each is orthogonalised by QR
    with the signs of R's diagonal folded in (Mezzadri 2007), as `jax.random.orthogonal` does,
    and scaled by its gain. The QRs run one matrix at a time under `vmap` (see `orthogonal`).

    Args:
        key: a PRNG key.
        shapes: ``(fan_in, fan_out)`` of each layer.
        gains: the gain of each layer.

    Returns:
        One ``[fan_in, fan_out]`` float32 matrix per layer, with orthonormal columns (scaled by
        the gain) where ``fan_in >= fan_out``, orthonormal rows otherwise.
    """
    if len(gains) != len(shapes):
        raise ValueError(f"gains: {len(gains)} given for {len(shapes)} layer shapes; give one each")
    sizes = [rows * cols for rows, cols in shapes]
    normal = jax.random.normal(key, (sum(sizes),), jnp.float32)

    def orthogonalise(normal: jax.Array) -> list[jax.Array]:
        matrices, start = [], 0
        for (rows, cols), size, gain in zip(shapes, sizes, gains, strict=True):
            z = normal[start : start + size].reshape(max(rows, cols), min(rows, cols))
            start += size
            q, r = jnp.linalg.qr(z)
            q = q * jnp.sign(jnp.diagonal(r))[None, :]
            matrices.append(gain * (q.T if rows < cols else q))
        return matrices

    return jax.custom_batching.sequential_vmap(orthogonalise)(normal)


class MLP(nn.Module):
    """A multilayer perceptron with an output of ``out_size`` (no output activation).

    Attributes:
        hidden_sizes: hidden layer widths (``()``: linear).
        out_size: output width.
        activation: a name in `ACTIVATIONS`.
        out_gain: orthogonal gain of the output layer.
        obs_ndim: trailing input dimensions flattened into one (1: none).
    """

    hidden_sizes: Sequence[int]
    out_size: int
    activation: str = "tanh"
    out_gain: float = 1.0
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        batch_shape = x.shape[: x.ndim - self.obs_ndim]
        x = x.reshape(*batch_shape, -1).astype(jnp.float32)
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(nn.Dense(size, kernel_init=orthogonal(math.sqrt(2.0)))(x))
        return nn.Dense(self.out_size, kernel_init=orthogonal(self.out_gain))(x)

    def init_params(self, key: jax.Array, in_size: int) -> dict[str, Any]:
        """The ``"params"`` collection of this MLP for inputs of ``in_size`` features, as
        ``self.init`` makes it, but with the weights of all layers from one normal draw
        (`orthogonal_layers`) and zero biases."""
        sizes = (in_size, *self.hidden_sizes, self.out_size)
        gains = [math.sqrt(2.0)] * len(self.hidden_sizes) + [self.out_gain]
        kernels = orthogonal_layers(key, list(zip(sizes[:-1], sizes[1:], strict=True)), gains)
        return {
            f"Dense_{i}": {"kernel": kernel, "bias": jnp.zeros(kernel.shape[1], jnp.float32)}
            for i, kernel in enumerate(kernels)
        }


class _GaussianHead(nn.Module):
    """A torso giving the mean, and a state-independent log-std parameter."""

    torso: nn.Module
    action_size: int
    init_log_std: float

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = self.torso(x)
        log_std = self.param(
            "log_std", nn.initializers.constant(self.init_log_std), (self.action_size,)
        )
        return mean, log_std


def _example(obs_shape: Sequence[int]) -> jax.Array:
    return jnp.zeros((1, *tuple(obs_shape)), jnp.float32)


def _bounds(action_space: Any, action_shape: tuple[int, ...]) -> tuple[Any, Any]:
    """A Box's bounds broadcast to the action shape, checked finite (what ``squash="tanh"``
    maps onto). NumPy where they are constants; bounds built under a trace (an environment
    whose space is computed from traced ``env_params``) stay traced and go unchecked."""
    bounds = (action_space.low, action_space.high)
    if any(isinstance(bound, jax.core.Tracer) for bound in bounds):
        return tuple(jnp.broadcast_to(jnp.asarray(b, jnp.float32), action_shape) for b in bounds)
    low, high = (np.broadcast_to(np.asarray(b, np.float32), action_shape) for b in bounds)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError(
            f"squash='tanh' needs finite action bounds; the action space is "
            f"{describe(action_space)}"
        )
    return low, high


def policy_from_module(
    module: nn.Module,
    obs_shape: Sequence[int],
    action_space: Any,
    init_log_std: float = 0.0,
    squash: str = "clip",
) -> Policy:
    """Wraps a flax module as a `Policy` for a `Discrete` or `Box` action space.

    Args:
        module: maps observations ``[..., *obs_shape]`` to the logits ``[..., n]`` of a
            `Discrete` space, or to the Gaussian mean ``[..., prod(action_shape)]`` of a `Box`
            space (a state-independent log-std parameter is added beside it).
        obs_shape: the shape of one observation.
        action_space: the environment's action space.
        init_log_std: initial log standard deviation (Box only).
        squash: Box only: ``"clip"``, a `DiagGaussian` whose samples the rollout clips to the
            bounds (log-probabilities of the unclipped sample; TRPO's); or ``"tanh"``, a
            `TanhGaussian` squashed into the bounds (they must be finite).

    Returns:
        A `Policy` giving a `Categorical`, a `DiagGaussian` or a `TanhGaussian`.
    """
    if squash not in ("clip", "tanh"):
        raise ValueError(f"squash={squash!r} is not allowed; choose 'clip' or 'tanh'")
    example = _example(obs_shape)
    if is_discrete(action_space):

        def apply(params: Params, obs: jax.Array) -> Categorical:
            return Categorical(logits=module.apply(params, obs))

        return Policy(lambda key: module.init(key, example), apply)
    if is_box(action_space):
        action_shape = tuple(action_space.shape)
        head = _GaussianHead(module, math.prod(action_shape), init_log_std)

        if squash == "tanh":
            low, high = _bounds(action_space, action_shape)

        def apply(params: Params, obs: jax.Array) -> Any:
            mean, log_std = head.apply(params, obs)
            mean = mean.reshape(*mean.shape[:-1], *action_shape)
            log_std = jnp.broadcast_to(log_std.reshape(action_shape), mean.shape)
            if squash == "tanh":
                return TanhGaussian(mean, log_std, low, high)
            return DiagGaussian(mean=mean, log_std=log_std)

        return Policy(lambda key: head.init(key, example), apply)
    raise ValueError(
        f"action space {describe(action_space)} is not supported; jaxpg policies need a "
        "Discrete (with n) or Box (with low, high, shape) action space"
    )


def critic_from_module(module: nn.Module, obs_shape: Sequence[int]) -> Critic:
    """Wraps a flax module mapping ``[..., *obs_shape]`` to ``[..., 1]`` (or ``[...]``) values."""
    example = _example(obs_shape)
    obs_ndim = len(tuple(obs_shape))

    def apply(params: Params, obs: jax.Array) -> jax.Array:
        return module.apply(params, obs).reshape(obs.shape[: obs.ndim - obs_ndim])

    return Critic(lambda key: module.init(key, example), apply)


def make_policy(
    action_space: Any,
    obs_shape: Sequence[int],
    hidden_sizes: Sequence[int] = (64, 64),
    activation: str = "tanh",
    init_log_std: float = 0.0,
    squash: str = "clip",
) -> Policy:
    """The default multilayer-perceptron policy for a `Discrete` or `Box` action space.

    Args:
        action_space: a `Discrete` or `Box` space.
        obs_shape: the shape of one observation (flattened inside the network).
        hidden_sizes: hidden layer widths; ``()`` gives a linear (softmax) policy.
        activation: one of ``"tanh"``, ``"relu"``, ``"elu"``, ``"gelu"``.
        init_log_std: initial log standard deviation of a Gaussian policy.
        squash: how a Gaussian policy meets the bounds: ``"clip"`` or ``"tanh"``
            (`policy_from_module`).

    Returns:
        A `Policy`; ``apply(params, obs)`` with ``obs [..., *obs_shape]`` gives a distribution
        batched over ``[...]``.
    """
    if is_discrete(action_space):
        out_size = int(action_space.n)
    elif is_box(action_space):
        out_size = math.prod(tuple(action_space.shape))
    else:
        out_size = 0  # policy_from_module raises the error
    torso = MLP(tuple(hidden_sizes), out_size, activation, out_gain=0.01, obs_ndim=len(obs_shape))
    policy = policy_from_module(torso, obs_shape, action_space, init_log_std, squash)
    in_size = math.prod(tuple(obs_shape))

    def init(key: jax.Array) -> Params:
        params = torso.init_params(key, in_size)
        if is_discrete(action_space):
            return {"params": params}
        log_std = jnp.full((out_size,), init_log_std, jnp.float32)
        return {"params": {"torso": params, "log_std": log_std}}

    return Policy(init, policy.apply)


def make_critic(
    obs_shape: Sequence[int], hidden_sizes: Sequence[int] = (64, 64), activation: str = "tanh"
) -> Critic:
    """The default multilayer-perceptron state-value network ``V(obs)``.

    Args:
        obs_shape: the shape of one observation (flattened inside the network).
        hidden_sizes: hidden layer widths (``()``: linear in the observation).
        activation: one of ``"tanh"``, ``"relu"``, ``"elu"``, ``"gelu"``.

    Returns:
        A `Critic`; ``apply(params, obs [..., *obs_shape]) -> [...]``.
    """
    module = MLP(tuple(hidden_sizes), 1, activation, out_gain=1.0, obs_ndim=len(obs_shape))
    critic = critic_from_module(module, obs_shape)
    in_size = math.prod(tuple(obs_shape))
    return Critic(lambda key: {"params": module.init_params(key, in_size)}, critic.apply)


#: The earlier name of `make_critic`.
make_value_network = make_critic


def observation_shape(env: Any, env_params: Any) -> tuple[int, ...]:
    """Shape of one observation of ``env``."""
    return tuple(env.observation_space(env_params).shape)


def default_policy(config: Any, env: Any, env_params: Any) -> Policy:
    """The policy a config asks for when none is passed (``hidden_sizes``, ``activation``,
    ``init_log_std``, ``action_squash``), for this environment's spaces."""
    return make_policy(
        env.action_space(env_params),
        observation_shape(env, env_params),
        hidden_sizes=config.hidden_sizes,
        activation=config.activation,
        init_log_std=config.init_log_std,
        squash=config.action_squash,
    )


def default_critic(config: Any, env: Any, env_params: Any) -> Critic:
    """The critic a config asks for when none is passed: ``value_hidden_sizes`` (None: the
    policy's ``hidden_sizes``; ``()``: linear) and ``activation``."""
    hidden = config.value_hidden_sizes
    if hidden is None:
        hidden = config.hidden_sizes
    return make_critic(
        observation_shape(env, env_params), hidden_sizes=hidden, activation=config.activation
    )
