"""Proximal policy optimisation with a clipped surrogate (Schulman et al. 2017).

One iteration collects ``num_envs * num_steps`` steps with the current policy, computes
GAE(gamma, lambda) advantages and lambda-return targets with the value network as it was before
the update (bootstrapping on truncation, not on termination: the trajectory's ``next_obs`` is the
real next observation, see `jaxpg.advantages`), then runs ``num_epochs`` passes over the batch,
each split into ``num_minibatches`` shuffled minibatches. Every minibatch takes one Adam step on

    L = L_clip - ent_coef * entropy + vf_coef * L_value

where ``L_clip`` is PPO's clipped surrogate (`jaxpg.losses.clipped_surrogate_loss`) and
``L_value`` the squared error to the lambda-returns, optionally clipped around the old values
(``clip_value``; the clip range is ``clip_eps``, as in the reference implementations).

Choices, each with its reason:

* Advantages are standardised per *minibatch* (``normalize_advantages``), as in OpenAI baselines,
  CleanRL and rejax (whose tuned CartPole setting the defaults start from).
* The policy and the value network have separate Adam states and separate global-norm clips
  (``max_grad_norm`` applies to each network's gradient on its own), as in rejax; a joint clip
  would let the value gradient, large while the returns grow, shrink the policy's step.
* ``anneal_lr`` decays the step size linearly to 0 over
  ``num_iterations * num_epochs * num_minibatches`` Adam steps (the run's length as the config
  fixes it; a `jaxpg.make_trainer` run continued beyond it keeps a step size of 0).
* Box actions: the log-probability is that of the unclipped sampled action; the rollout clips
  the action only where it enters the environment (`jaxpg.rollout.env_action`).

Metrics per iteration (means over every minibatch step): ``policy_loss`` (clipped surrogate),
``value_loss``, ``entropy``, ``approx_kl`` (the ``(r - 1) - log r`` estimator of
KL(pi_old || pi), Schulman 2020) and ``clip_fraction``.

Example:
    >>> env, env_params = jaxpg.make_env("CartPole-v1")
    >>> train = jaxpg.make_train(jaxpg.PPOConfig(), env, env_params)
    >>> results = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 10))
    >>> results.metrics["approx_kl"].shape
    (10, 200)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxpg import advantages as adv
from jaxpg import losses
from jaxpg.algorithms import base
from jaxpg.config import BaseConfig, integer, interval, one_of, static, traced
from jaxpg.networks import Critic, Policy
from jaxpg.rollout import Trajectory


@struct.dataclass
class PPOConfig(BaseConfig):
    """PPO with a clipped surrogate. Defaults: rejax's tuned CartPole-v1 setting, two changed.

    rejax uses ``learning_rate=7.5e-4`` and always clips the value loss at ``clip_eps``. Here
    ``clip_value=False``: a value step clipped to 0.2 is tiny next to returns of order 100 (or
    -1000 on Pendulum-v1, where the clipped loss left PPO near -1050 after 100k steps against
    about -190 unclipped), and Andrychowicz et al. 2021 found value clipping does not help; and
    ``learning_rate=1e-3``, which did slightly better on CartPole-v1 (within seed noise).

    Attributes:
        num_epochs: passes over each batch.
        num_minibatches: minibatches per pass; must divide ``num_envs * num_steps``.
        learning_rate: Adam step size (both networks).
        anneal_lr: decay the step size linearly to 0 over the run.
        clip_eps: clip range of the probability ratio (and of the value change, with
            ``clip_value``).
        gae_lambda: GAE's lambda.
        vf_coef: weight of the value loss.
        ent_coef: weight of the entropy bonus.
        clip_value: clip the value loss around the pre-update values.
        normalize_advantages: standardise advantages per minibatch.
        max_grad_norm: global gradient-norm clip, applied to each network separately.
    """

    num_envs: int = static(5)
    num_steps: int = static(100)
    num_epochs: int = static(5, integer(1))
    num_minibatches: int = static(5, integer(1))
    learning_rate: float = traced(1e-3, interval(0.0, low_open=True))
    anneal_lr: bool = static(False, one_of(True, False))
    clip_eps: float = traced(0.2, interval(0.0, low_open=True))
    gae_lambda: float = traced(0.95, interval(0.0, 1.0))
    vf_coef: float = traced(0.5, interval(0.0))
    ent_coef: float = traced(0.01, interval(0.0))
    clip_value: bool = static(False, one_of(True, False))
    normalize_advantages: bool = static(True, one_of(True, False))
    max_grad_norm: float = traced(0.5, interval(0.0, low_open=True))

    @property
    def algorithm_name(self) -> str:
        return "ppo"

    @property
    def minibatch_size(self) -> int:
        """Samples per minibatch, ``num_envs * num_steps // num_minibatches``."""
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        """Adam steps in the run, ``num_iterations * num_epochs * num_minibatches``."""
        return self.num_iterations * self.num_epochs * self.num_minibatches

    def validate(self) -> None:
        super().validate()
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} must divide the batch "
                f"num_envs * num_steps = {self.num_envs} * {self.num_steps} = {self.batch_size}"
            )

    def make_algorithm(
        self, env: Any, env_params: Any, policy: Any = None, critic: Any = None
    ) -> base.Algorithm:
        return make_ppo(self, env, env_params, policy, critic)


class PPOState(NamedTuple):
    """Parameters ``{"policy", "value"}`` and their Adam states."""

    params: dict[str, Any]
    opt_states: dict[str, Any]


class Minibatch(NamedTuple):
    """Flat samples for the PPO loss; every leaf has leading shape ``[N]``.

    Attributes:
        obs: ``[N, *obs_shape]``.
        action: ``[N, *action_shape]`` as sampled (unclipped).
        log_prob: ``[N]`` log-probability under the behaviour policy.
        value: ``[N]`` value before the update (the centre of the value clip).
        advantage: ``[N]`` GAE advantages (not yet standardised).
        target: ``[N]`` lambda-return targets of the value network.
    """

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array


def shuffle_minibatches(key: jax.Array, batch: Any, num_minibatches: int) -> Any:
    """Shuffles a flat batch and splits it into equal minibatches.

    Args:
        key: a PRNG key for the permutation.
        batch: a pytree whose leaves have leading shape ``[N]``.
        num_minibatches: ``M``, which must divide ``N`` (static).

    Returns:
        The same pytree with leaves ``[M, N // M, ...]``; every sample appears exactly once.
    """
    size = jax.tree.leaves(batch)[0].shape[0]
    permutation = jax.random.permutation(key, size)
    return jax.tree.map(
        lambda x: x[permutation].reshape(num_minibatches, size // num_minibatches, *x.shape[1:]),
        batch,
    )


def ppo_loss(
    params: dict[str, Any],
    minibatch: Minibatch,
    config: PPOConfig,
    policy: Policy,
    value_net: Critic,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO's loss on one minibatch: ``L_clip - ent_coef * entropy + vf_coef * L_value``.

    Args:
        params: ``{"policy": ..., "value": ...}``.
        minibatch: a `Minibatch` with leaves ``[N, ...]``.
        config: supplies ``clip_eps``, ``ent_coef``, ``vf_coef``, ``clip_value`` and
            ``normalize_advantages``.
        policy: the policy network.
        value_net: the value network.

    Returns:
        ``(loss, metrics)``: a scalar and the scalars ``policy_loss``, ``value_loss``,
        ``entropy``, ``approx_kl``, ``clip_fraction``.
    """
    dist = policy.apply(params["policy"], minibatch.obs)
    log_prob = dist.log_prob(minibatch.action)
    advantage = minibatch.advantage
    if config.normalize_advantages:
        advantage = adv.normalize(advantage)
    policy_loss, clip_fraction = losses.clipped_surrogate_loss(
        log_prob, minibatch.log_prob, advantage, config.clip_eps
    )
    entropy = dist.entropy().mean()
    value = value_net.apply(params["value"], minibatch.obs)
    if config.clip_value:
        value_loss = losses.value_loss(value, minibatch.target, minibatch.value, config.clip_eps)
    else:
        value_loss = losses.value_loss(value, minibatch.target)
    log_ratio = jax.lax.stop_gradient(log_prob - minibatch.log_prob)
    approx_kl = jnp.mean(jnp.expm1(log_ratio) - log_ratio)
    loss = policy_loss - config.ent_coef * entropy + config.vf_coef * value_loss
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": approx_kl,
        "clip_fraction": clip_fraction,
    }
    return loss, metrics


def make_optimizer(config: PPOConfig) -> optax.GradientTransformation:
    """Global-norm clip then Adam, with the step size annealed linearly to 0 if asked."""
    learning_rate = config.learning_rate
    if config.anneal_lr:
        learning_rate = optax.linear_schedule(config.learning_rate, 0.0, config.num_updates)
    return base.clipped_adam(config.max_grad_norm, learning_rate)


def make_ppo(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    policy: Policy | None = None,
    critic: Critic | None = None,
) -> base.Algorithm:
    """Builds the PPO `Algorithm` for an environment (see the module docstring)."""
    policy, value_net = base.resolve_networks(config, env, env_params, policy, critic)
    optimizer = make_optimizer(config)

    def init(key: jax.Array) -> PPOState:
        policy_key, value_key = jax.random.split(key)
        params = {"policy": policy.init(policy_key), "value": value_net.init(value_key)}
        return PPOState(params, {name: optimizer.init(p) for name, p in params.items()})

    def minibatch_step(agent: PPOState, minibatch: Minibatch):
        trained = {name: agent.params[name] for name in ("policy", "value")}
        grads, metrics = jax.grad(
            lambda params: ppo_loss(params, minibatch, config, policy, value_net), has_aux=True
        )(trained)
        params, opt_states = dict(agent.params), {}
        for name in trained:
            updates, opt_states[name] = optimizer.update(
                grads[name], agent.opt_states[name], agent.params[name]
            )
            params[name] = optax.apply_updates(agent.params[name], updates)
        return PPOState(params, opt_states), metrics

    def update(key: jax.Array, agent: PPOState, trajectory: Trajectory, iteration: jax.Array):
        del iteration
        value, next_value = base.trajectory_values(
            value_net.apply, agent.params["value"], trajectory
        )
        advantage, target = adv.gae(
            trajectory.reward,
            value,
            next_value,
            trajectory.terminated,
            trajectory.truncated,
            config.gamma,
            config.gae_lambda,
        )
        batch = base.flatten_batch(
            Minibatch(
                trajectory.obs, trajectory.action, trajectory.log_prob, value, advantage, target
            )
        )

        def epoch(agent, epoch_key):
            minibatches = shuffle_minibatches(epoch_key, batch, config.num_minibatches)
            return jax.lax.scan(minibatch_step, agent, minibatches)

        agent, metrics = jax.lax.scan(epoch, agent, jax.random.split(key, config.num_epochs))
        return base.Update(agent, jax.tree.map(jnp.mean, metrics))

    algorithm = base.Algorithm(
        init=init,
        behaviour=base.on_policy_behaviour(policy),
        update=update,
        policy=policy,
        critic=value_net,
    )
    return base.finish(config, env, env_params, algorithm)
