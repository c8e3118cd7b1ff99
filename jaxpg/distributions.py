"""Action distributions for policy-gradient methods.

Each distribution is a `NamedTuple` of arrays, so it is a pytree: it can be returned from a
jitted function, vmapped over, and differentiated through. All methods are pure.

The interface a policy's distribution provides (what every algorithm calls; a user's own
distribution needs exactly these, batched over the observation's leading axes ``[...]``):

* ``sample(key) -> actions [..., *action_shape]``;
* ``mode() -> actions``: the most probable action (greedy evaluation);
* ``log_prob(actions) -> [...]``: log-density of actions of that shape;
* ``entropy() -> [...]``;
* ``kl(other) -> [...]``: KL(self || other) against a distribution of the same kind;
* be a pytree of arrays (a `NamedTuple` or a flax ``struct.dataclass``), so that the old policy
  can be held under `jax.lax.stop_gradient` and passed through `jit`, `vmap` and `scan`.

`kl` is the analytic KL divergence KL(self || other); with `self` the (stop-gradient) old
policy it is the trust-region constraint of TRPO (Schulman et al., 2015), whose Hessian at the
old parameters is the Fisher information matrix of the natural policy gradient (Kakade, 2002).

Example:
    >>> import jax, jax.numpy as jnp
    >>> dist = Categorical(logits=jnp.zeros((8, 4)))
    >>> dist.sample(jax.random.key(0)).shape
    (8,)
    >>> bool(jnp.allclose(dist.entropy(), jnp.log(4.0)))
    True
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

_LOG_2PI = math.log(2.0 * math.pi)


class Categorical(NamedTuple):
    """A categorical distribution over `A` actions, batched over leading dimensions.

    Attributes:
        logits: `[..., A]` unnormalised log-probabilities. `-inf` masks an action out.
    """

    logits: jax.Array

    def log_probs(self) -> jax.Array:
        """Returns the normalised log-probabilities of every action, `[..., A]`."""
        return jax.nn.log_softmax(self.logits, axis=-1)

    def probs(self) -> jax.Array:
        """Returns the probabilities of every action, `[..., A]`."""
        return jax.nn.softmax(self.logits, axis=-1)

    def sample(self, key: jax.Array) -> jax.Array:
        """Draws one action per batch element.

        Args:
            key: a PRNG key.

        Returns:
            `[...]` int32 actions in `[0, A)`.
        """
        return jax.random.categorical(key, self.logits, axis=-1).astype(jnp.int32)

    def mode(self) -> jax.Array:
        """Returns the most probable action, `[...]` int32."""
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        """Log-probability of `action`.

        Args:
            action: `[...]` integer actions.

        Returns:
            `[...]` log-probabilities.
        """
        log_probs = self.log_probs()
        action = jnp.asarray(action, jnp.int32)[..., None]
        return jnp.take_along_axis(log_probs, action, axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        """Returns the entropy `-sum_a p(a) log p(a)`, `[...]`."""
        log_probs = self.log_probs()
        probs = jnp.exp(log_probs)
        # A masked action has p = 0 and log p = -inf; its term is 0, not 0 * -inf = nan.
        return -jnp.sum(probs * jnp.where(probs > 0, log_probs, 0.0), axis=-1)

    def kl(self, other: Categorical) -> jax.Array:
        """KL divergence `KL(self || other) = sum_a p(a) (log p(a) - log q(a))`.

        Args:
            other: a `Categorical` whose logits broadcast against `self.logits`.

        Returns:
            `[...]` non-negative divergences.
        """
        log_p = self.log_probs()
        log_q = other.log_probs()
        probs = jnp.exp(log_p)
        return jnp.sum(probs * jnp.where(probs > 0, log_p - log_q, 0.0), axis=-1)


class DiagGaussian(NamedTuple):
    """A Gaussian with diagonal covariance over `D`-dimensional actions.

    Attributes:
        mean: `[..., D]` means.
        log_std: log standard deviations, broadcastable to `mean`; a state-independent
            log-std is a parameter vector of shape `[D]`.
    """

    mean: jax.Array
    log_std: jax.Array

    def _log_std(self) -> jax.Array:
        """Returns the log-std broadcast to the shape of the mean."""
        return jnp.broadcast_to(self.log_std, jnp.shape(self.mean))

    def sample(self, key: jax.Array) -> jax.Array:
        """Draws one action per batch element.

        Args:
            key: a PRNG key.

        Returns:
            `[..., D]` actions.
        """
        noise = jax.random.normal(key, jnp.shape(self.mean), jnp.result_type(self.mean))
        return self.mean + jnp.exp(self._log_std()) * noise

    def mode(self) -> jax.Array:
        """Returns the mean, `[..., D]`."""
        return self.mean

    def log_prob(self, action: jax.Array) -> jax.Array:
        """Log-density of `action`, summed over the action dimensions.

        Args:
            action: `[..., D]` actions.

        Returns:
            `[...]` log-densities.
        """
        log_std = self._log_std()
        z = (action - self.mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * jnp.square(z) - log_std - 0.5 * _LOG_2PI, axis=-1)

    def entropy(self) -> jax.Array:
        """Returns the differential entropy `sum_d log std_d + 0.5 log(2 pi e)`, `[...]`."""
        return jnp.sum(self._log_std() + 0.5 * (_LOG_2PI + 1.0), axis=-1)

    def kl(self, other: DiagGaussian) -> jax.Array:
        """KL divergence `KL(self || other)`, summed over the action dimensions.

        Args:
            other: a `DiagGaussian` whose parameters broadcast against `self`'s.

        Returns:
            `[...]` non-negative divergences.
        """
        log_std_p = self._log_std()
        log_std_q = other._log_std()
        # Ratios are formed in log space so that a tiny std does not overflow a variance.
        variance_ratio = jnp.exp(2.0 * (log_std_p - log_std_q))
        scaled_mean_diff = (self.mean - other.mean) * jnp.exp(-log_std_q)
        per_dim = (
            log_std_q - log_std_p + 0.5 * (variance_ratio + jnp.square(scaled_mean_diff) - 1.0)
        )
        return jnp.sum(per_dim, axis=-1)


#: Squashed actions are kept this far inside the bounds before `atanh`, so that a log-density
#: stays finite where float32 `tanh` rounds to exactly +-1 (pre-squash values beyond about 7.6).
TANH_MARGIN = 1e-6


class TanhGaussian(NamedTuple):
    """A diagonal Gaussian squashed by `tanh` into the box ``[low, high]`` (Haarnoja et al. 2018;
    Brax's trainers), with the change-of-variables correction in `log_prob`.

    ``a = low + (tanh(u) + 1) (high - low) / 2`` with ``u ~ N(mean, std^2)``; actions, as sampled
    and as stored in trajectories, are the squashed ``a`` (within the bounds, so the rollout's
    clipping never changes them). ``log p(a) = log N(u) - sum log(1 - tanh(u)^2) -
    sum log((high - low) / 2)``, with ``u = atanh`` of ``a`` kept `TANH_MARGIN` inside the box.

    `kl` is the Gaussians' KL, exact because the squash is the same invertible map for both.
    `entropy` is the pre-squash Gaussian's (the squashed entropy has no closed form; this is the
    quantity an entropy bonus regularises, as in Brax's PPO up to its sampled correction).

    Attributes:
        mean: ``[..., D]`` pre-squash means.
        log_std: pre-squash log standard deviations, broadcastable to ``mean``.
        low: ``[D]`` lower bounds (finite).
        high: ``[D]`` upper bounds (finite).
    """

    mean: jax.Array
    log_std: jax.Array
    low: jax.Array
    high: jax.Array

    def _gaussian(self) -> DiagGaussian:
        return DiagGaussian(self.mean, self.log_std)

    def _squash(self, u: jax.Array) -> jax.Array:
        return self.low + (jnp.tanh(u) + 1.0) * (0.5 * (self.high - self.low))

    def _unsquash(self, action: jax.Array) -> jax.Array:
        unit = 2.0 * (action - self.low) / (self.high - self.low) - 1.0
        return jnp.arctanh(jnp.clip(unit, -1.0 + TANH_MARGIN, 1.0 - TANH_MARGIN))

    def sample(self, key: jax.Array) -> jax.Array:
        """Draws one squashed action per batch element, ``[..., D]`` within the bounds."""
        return self._squash(self._gaussian().sample(key))

    def mode(self) -> jax.Array:
        """The squashed mean (the greedy action)."""
        return self._squash(self.mean)

    def log_prob(self, action: jax.Array) -> jax.Array:
        """Log-density of squashed ``action [..., D]``, ``[...]``."""
        u = self._unsquash(action)
        # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|.
        log_det = 2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))
        log_scale = jnp.log(0.5 * (self.high - self.low))
        return self._gaussian().log_prob(u) - jnp.sum(
            jnp.broadcast_to(log_det + log_scale, jnp.shape(u)), axis=-1
        )

    def entropy(self) -> jax.Array:
        """The pre-squash Gaussian's entropy, ``[...]`` (see the class docstring)."""
        return self._gaussian().entropy()

    def kl(self, other: TanhGaussian) -> jax.Array:
        """``KL(self || other)``: the pre-squash Gaussians' (same squash), ``[...]``."""
        return self._gaussian().kl(other._gaussian())
