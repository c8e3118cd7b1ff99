"""Vanilla policy gradient (REINFORCE) and maximum-entropy policy gradient.

Williams 1992; seed 003 (whole-return and reward-to-go weightings); seed 001 and Levine 2018
(maximum entropy). One iteration collects ``num_envs * num_steps`` steps with the current
policy and takes one Adam step on ``-mean(log pi(a|s) * weight)``, where the weight is

* ``weighting="return"``: the return of the whole episode, R(tau), for every step of it;
* ``weighting="reward_to_go"``: the rewards from step t on.

With ``baseline=True`` a value network, fit by Adam to the reward-to-go, is subtracted (and
bootstraps truncated and batch-cut episodes; without it they keep only their observed rewards).

Maximum entropy (``entropy_alpha > 0``): the rewards become ``r - alpha * log pi(a|s)``, so the
objective is the return plus alpha times the policy's entropy. Seed 001 adds
``+alpha * log pi`` instead, which penalises entropy (the opposite of maximum-entropy RL); that
sign is fixed here.

Exploration (``exploration="seed"``, Discrete actions only): seed 001 takes a uniformly random
action with probability ``eps_k = min(1, (10 + k) / (1 + k)^2)`` at iteration k. The data then
come from the mixture ``mu = (1 - eps) * pi + eps / |A|``, not from ``pi``; the seed ignored
this. Here the log-probability that is differentiated (and used in the soft reward) is that of
the mixture, ``log mu_theta(a|s)``: the estimator is then the exact on-policy gradient of the
return of the policy that acted, whose gradient with respect to theta flows through pi's share
``(1 - eps) * pi``; as ``eps -> 0`` it becomes the ordinary gradient of pi.

Defaults for maximum entropy. Without a temperature the class defaults are seed 003's (plain
REINFORCE on CartPole); with ``entropy_alpha > 0`` three of them change (fields left at None):
a learned value baseline, normalised advantages and a policy step size of 0.08.
Seed 001's own settings (no baseline, 10 rollouts of 500 steps so 50 Adam steps in 250k steps,
a linear softmax policy on raw ``(row, col)`` coordinates) reach a median 38% of the way from
the uniform policy to the soft optimum on random 5x5 to 8x8 gridworlds. The causes, measured:
without a baseline the reward-to-go near a goal worth 1000 per step is huge and positive for
every action (high variance); 50 updates are too few to make the softmax decisive; and a linear
policy on coordinates can only tilt its logits linearly in row and column, which cannot route
around hazards (the seed's grid, with its goal in a corner, is the exception). So the CLI's
``maxent`` (`jaxpg.presets.algorithms`) adds a value baseline and normalised advantages, and
its GridWorld preset (``jaxpg.presets.config("maxent", "GridWorld-v0")``) one-hot cells (the
linear policy becomes tabular) and 16 x 32-step rollouts (about 195 updates; the baseline
bootstraps the episodes that the batch cuts): at least 96% of the way on every grid measured.
A bare ``VPGConfig(entropy_alpha=1.0)`` (seed 003's 10 x 500-step rollouts and 32-unit MLP) on
``make_env("GridWorld-v0", ...)`` (one-hot cells by default) reached at least 97.7% on 56
random grids with the maximum-entropy defaults above; with seed 003's (no baseline, 1e-2)
86-97% on 6.
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
from jaxpg.config import (
    BaseConfig,
    _concrete_number,
    integer,
    interval,
    one_of,
    optional,
    static,
    traced,
)
from jaxpg.distributions import Categorical
from jaxpg.networks import Critic, Policy
from jaxpg.rollout import PolicyFn, Trajectory
from jaxpg.spaces import is_discrete


@struct.dataclass
class VPGConfig(BaseConfig):
    """Vanilla / maximum-entropy policy gradient. Defaults follow seed 003; for maximum entropy
    start from ``jaxpg.presets.config("maxent", env_id)`` (a baseline and normalised advantages,
    and on GridWorld one-hot cells and short rollouts; see the module docstring for why).

    Attributes:
        learning_rate: Adam step size of the policy. None (the default): seed 003's 1e-2, or
            0.08 with maximum entropy (`policy_learning_rate`).
        weighting: ``"reward_to_go"`` or ``"return"`` (R(tau) for every step).
        baseline: subtract a learned value baseline. None (the default): with maximum
            entropy (``entropy_alpha > 0``) yes, else no (seed 003's plain REINFORCE).
        value_learning_rate: Adam step size of the baseline.
        value_steps: full-batch Adam steps on the baseline per iteration.
        entropy_alpha: maximum-entropy temperature (0: plain policy gradient).
        exploration: ``"none"`` or ``"seed"`` (seed 001's random-action schedule).
        normalize_advantages: standardise the weights over the batch. None (the default):
            with maximum entropy yes, else no.
        max_grad_norm: global gradient-norm clip (``inf``: none).
    """

    num_envs: int = static(10)
    num_steps: int = static(500)
    total_timesteps: int = static(250_000)
    hidden_sizes: tuple[int, ...] = static((32,))
    learning_rate: float | None = traced(None, optional(interval(0.0, low_open=True)))
    weighting: str = static("reward_to_go", one_of("reward_to_go", "return"))
    baseline: bool | None = static(None, one_of(None, True, False))
    value_learning_rate: float = traced(1e-2, interval(0.0, low_open=True))
    value_steps: int = static(10, integer(1))
    entropy_alpha: float = traced(0.0, interval(0.0))
    exploration: str = static("none", one_of("none", "seed"))
    normalize_advantages: bool | None = static(None, one_of(None, True, False))
    max_grad_norm: float = traced(float("inf"), interval(0.0, low_open=True))

    @property
    def algorithm_name(self) -> str:
        return "vpg"

    @property
    def maximum_entropy(self) -> Any:
        """``entropy_alpha > 0``: a Python bool, or a traced bool when the temperature is
        traced (a sweep over it), so that a sweep member with ``alpha = 0`` trains exactly as
        a separate run with ``alpha = 0`` would."""
        alpha = _concrete_number(self.entropy_alpha)
        if alpha is not None:
            return alpha > 0
        return jnp.asarray(self.entropy_alpha) > 0

    @property
    def policy_learning_rate(self) -> Any:
        """``learning_rate``, or by default 0.08 with maximum entropy and 1e-2 (seed 003's)
        without. Seed 003's rollouts give 50 updates in 250k steps, too few at 1e-2 for a
        maximum-entropy softmax to become decisive. Measured 2026-12-02 on random 5x5 to 8x8
        gridworlds (one-hot cells, baseline, normalised advantages): 93-99% of the way to the
        soft optimum on 6 grids at 1e-2; on 56 grids at least 93.6% at 0.05 (one grid under
        95%), 97.7% at 0.08 and 97.2% at 0.1, median 99.9% for all three."""
        if self.learning_rate is not None:
            return self.learning_rate
        return _choose(self.maximum_entropy, 0.08, 1e-2)

    @property
    def uses_baseline(self) -> bool:
        """Whether the algorithm has a value baseline network: ``baseline``, or by default
        `maximum_entropy` (True when that is traced: the baseline is then applied only where
        the temperature is positive)."""
        if self.baseline is not None:
            return self.baseline
        maximum_entropy = self.maximum_entropy
        return maximum_entropy if isinstance(maximum_entropy, bool) else True

    @property
    def uses_normalized_advantages(self) -> Any:
        """``normalize_advantages``, or by default `maximum_entropy` (possibly traced)."""
        if self.normalize_advantages is None:
            return self.maximum_entropy
        return self.normalize_advantages

    def make_algorithm(
        self, env: Any, env_params: Any, policy: Any = None, critic: Any = None
    ) -> base.Algorithm:
        return make_vpg(self, env, env_params, policy, critic)


class VPGState(NamedTuple):
    """Parameters (``"policy"``, and ``"value"`` with a baseline) and Adam states."""

    params: dict[str, Any]
    opt_states: dict[str, Any]


def exploration_epsilon(iteration: jax.Array) -> jax.Array:
    """Seed 001's random-action probability ``min(1, (10 + k) / (1 + k)^2)`` at iteration k."""
    k = iteration.astype(jnp.float32)
    return jnp.minimum(1.0, (10.0 + k) / jnp.square(1.0 + k))


def mixture_log_probs(log_probs: jax.Array, epsilon: jax.Array) -> jax.Array:
    """``log((1 - eps) * pi(.|s) + eps / A)``, ``[..., A]``, from ``log_probs [..., A]``."""
    num_actions = log_probs.shape[-1]
    return jnp.logaddexp(jnp.log1p(-epsilon) + log_probs, jnp.log(epsilon / num_actions))


def mixture_log_prob(log_probs: jax.Array, action: jax.Array, epsilon: jax.Array) -> jax.Array:
    """``log((1 - eps) * pi(a|s) + eps / A)`` from ``log_probs [..., A]`` and actions ``[...]``."""
    mixture = mixture_log_probs(log_probs, epsilon)
    return jnp.take_along_axis(mixture, action[..., None], axis=-1)[..., 0]


def _choose(flag: Any, when_true: Any, when_false: Any) -> Any:
    """``when_true if flag else when_false`` for a Python bool; a select for a traced one."""
    if isinstance(flag, bool):
        return when_true if flag else when_false
    return jnp.where(flag, when_true, when_false)


def make_vpg(
    config: VPGConfig,
    env: Any,
    env_params: Any,
    policy: Policy | None = None,
    critic: Critic | None = None,
) -> base.Algorithm:
    """Builds the VPG `Algorithm` for an environment (see the module docstring)."""
    policy, value_net = base.resolve_networks(
        config, env, env_params, policy, critic, needs_critic=config.uses_baseline
    )
    explore = config.exploration == "seed"
    if explore and not is_discrete(env.action_space(env_params)):
        raise ValueError(
            "exploration='seed' needs a Discrete action space (it mixes in uniformly random "
            f"actions); {getattr(env, 'name', env)} has a Box action space"
        )

    policy_optimizer = base.clipped_adam(config.max_grad_norm, config.policy_learning_rate)
    value_optimizer = base.clipped_adam(config.max_grad_norm, config.value_learning_rate)

    def init(key: jax.Array) -> VPGState:
        policy_key, value_key = jax.random.split(key)
        params = {"policy": policy.init(policy_key)}
        opt_states = {"policy": policy_optimizer.init(params["policy"])}
        if value_net is not None:
            params["value"] = value_net.init(value_key)
            opt_states["value"] = value_optimizer.init(params["value"])
        return VPGState(params, opt_states)

    def log_prob_fn(policy_params, obs, action, iteration):
        dist = policy.apply(policy_params, obs)
        if not explore:
            return dist.log_prob(action)
        return mixture_log_prob(dist.log_probs(), action, exploration_epsilon(iteration))

    def behaviour(agent: VPGState, iteration: jax.Array) -> PolicyFn:
        def policy_fn(key, obs):
            dist = policy.apply(agent.params["policy"], obs)
            if not explore:
                action = dist.sample(key)
                return action, dist.log_prob(action)
            # One draw from mu = (1 - eps) * pi + eps / A: the distribution of "uniformly random
            # with probability eps, else from pi", with one random call instead of four.
            mixture = Categorical(
                mixture_log_probs(dist.log_probs(), exploration_epsilon(iteration))
            )
            action = mixture.sample(key)
            return action, mixture.log_prob(action)

        return policy_fn

    def update(key: jax.Array, agent: VPGState, trajectory: Trajectory, iteration: jax.Array):
        del key
        rewards = adv.soft_rewards(trajectory.reward, trajectory.log_prob, config.entropy_alpha)
        params, opt_states = dict(agent.params), dict(agent.opt_states)
        metrics = {}
        if value_net is not None:
            value, next_value = base.trajectory_values(value_net.apply, params["value"], trajectory)
            if config.baseline is None and not isinstance(config.maximum_entropy, bool):
                # A default baseline under a traced temperature: used where alpha > 0 only.
                value = jnp.where(config.maximum_entropy, value, 0.0)
                next_value = jnp.where(config.maximum_entropy, next_value, 0.0)
        else:
            value = next_value = jnp.zeros_like(rewards)
        to_go = adv.reward_to_go(
            rewards, trajectory.terminated, trajectory.truncated, next_value, config.gamma
        )
        if config.weighting == "return":
            weights = adv.episode_returns(
                rewards, trajectory.terminated, trajectory.truncated, next_value, config.gamma
            )
        else:
            weights = to_go
        weights = weights - value
        weights = _choose(config.uses_normalized_advantages, adv.normalize(weights), weights)

        def policy_loss_fn(policy_params):
            log_prob = log_prob_fn(policy_params, trajectory.obs, trajectory.action, iteration)
            return losses.policy_gradient_loss(log_prob, weights)

        policy_loss, grads = jax.value_and_grad(policy_loss_fn)(params["policy"])
        updates, opt_states["policy"] = policy_optimizer.update(
            grads, opt_states["policy"], params["policy"]
        )
        params["policy"] = optax.apply_updates(params["policy"], updates)
        metrics["policy_loss"] = policy_loss
        metrics["entropy"] = policy.apply(agent.params["policy"], trajectory.obs).entropy().mean()
        if explore:
            metrics["exploration_epsilon"] = exploration_epsilon(iteration)

        if value_net is not None:
            params["value"], opt_states["value"], metrics["value_loss"] = base.fit_value_full_batch(
                value_optimizer,
                value_net.apply,
                params["value"],
                opt_states["value"],
                trajectory.obs,
                to_go,
                config.value_steps,
            )
        return base.Update(VPGState(params, opt_states), metrics)

    algorithm = base.Algorithm(
        init=init,
        behaviour=behaviour,
        update=update,
        policy=policy,
        critic=value_net,
    )
    return base.finish(config, env, env_params, algorithm)
