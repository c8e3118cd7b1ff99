"""Advantage actor-critic with GAE (A2C; Mnih et al. 2016, Schulman et al. 2016).

One iteration collects ``num_envs * num_steps`` steps with the current policy, computes
GAE(gamma, lambda) advantages from a value network (bootstrapping on truncation, not on
termination), normalises them, takes one Adam step on the policy loss
``-mean(log pi(a|s) * A) - entropy_coef * entropy`` and ``value_steps`` Adam steps on the value
loss towards the lambda-returns. Seed 004's TD advantage is the ``gae_lambda=0`` case.
``entropy_alpha > 0`` makes it a maximum-entropy (soft) actor-critic, with rewards
``r - alpha * log pi(a|s)`` as in `jaxpg.algorithms.vpg`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax
from flax import struct

from jaxpg import advantages as adv
from jaxpg import losses
from jaxpg.algorithms import base
from jaxpg.config import BaseConfig, integer, interval, one_of, static, traced
from jaxpg.networks import Critic, Policy
from jaxpg.rollout import Trajectory


@struct.dataclass
class ActorCriticConfig(BaseConfig):
    """Advantage actor-critic with GAE.

    Attributes:
        learning_rate: Adam step size of the policy.
        value_learning_rate: Adam step size of the value network.
        value_steps: full-batch Adam steps on the value network per iteration.
        gae_lambda: GAE's lambda.
        entropy_coef: weight of the entropy bonus in the policy loss.
        entropy_alpha: maximum-entropy temperature of the soft rewards (0: none).
        normalize_advantages: standardise advantages over the batch.
        max_grad_norm: global gradient-norm clip.
    """

    num_envs: int = static(16)
    num_steps: int = static(32)
    learning_rate: float = traced(3e-3, interval(0.0, low_open=True))
    value_learning_rate: float = traced(3e-3, interval(0.0, low_open=True))
    value_steps: int = static(5, integer(1))
    gae_lambda: float = traced(0.95, interval(0.0, 1.0))
    entropy_coef: float = traced(0.01, interval(0.0))
    entropy_alpha: float = traced(0.0, interval(0.0))
    normalize_advantages: bool = static(True, one_of(True, False))
    max_grad_norm: float = traced(0.5, interval(0.0, low_open=True))

    @property
    def algorithm_name(self) -> str:
        return "a2c"

    def make_algorithm(
        self, env: Any, env_params: Any, policy: Any = None, critic: Any = None
    ) -> base.Algorithm:
        return make_actor_critic(self, env, env_params, policy, critic)


class ActorCriticState(NamedTuple):
    """Parameters ``{"policy", "value"}`` and their Adam states."""

    params: dict[str, Any]
    opt_states: dict[str, Any]


def make_actor_critic(
    config: ActorCriticConfig,
    env: Any,
    env_params: Any,
    policy: Policy | None = None,
    critic: Critic | None = None,
) -> base.Algorithm:
    """Builds the actor-critic `Algorithm` for an environment."""
    policy, value_net = base.resolve_networks(config, env, env_params, policy, critic)

    policy_optimizer = base.clipped_adam(config.max_grad_norm, config.learning_rate)
    value_optimizer = base.clipped_adam(config.max_grad_norm, config.value_learning_rate)

    def init(key: jax.Array) -> ActorCriticState:
        policy_key, value_key = jax.random.split(key)
        params = {"policy": policy.init(policy_key), "value": value_net.init(value_key)}
        opt_states = {
            "policy": policy_optimizer.init(params["policy"]),
            "value": value_optimizer.init(params["value"]),
        }
        return ActorCriticState(params, opt_states)

    def update(key: jax.Array, agent: ActorCriticState, trajectory: Trajectory, iteration):
        del key, iteration
        params, opt_states = dict(agent.params), dict(agent.opt_states)
        rewards = adv.soft_rewards(trajectory.reward, trajectory.log_prob, config.entropy_alpha)
        value, next_value = base.trajectory_values(value_net.apply, params["value"], trajectory)
        advantages, targets = adv.gae(
            rewards,
            value,
            next_value,
            trajectory.terminated,
            trajectory.truncated,
            config.gamma,
            config.gae_lambda,
        )
        if config.normalize_advantages:
            advantages = adv.normalize(advantages)

        def policy_loss_fn(policy_params):
            dist = policy.apply(policy_params, trajectory.obs)
            entropy = dist.entropy().mean()
            pg_loss = losses.policy_gradient_loss(dist.log_prob(trajectory.action), advantages)
            return pg_loss - config.entropy_coef * entropy, (pg_loss, entropy)

        (_, (pg_loss, entropy)), grads = jax.value_and_grad(policy_loss_fn, has_aux=True)(
            params["policy"]
        )
        updates, opt_states["policy"] = policy_optimizer.update(
            grads, opt_states["policy"], params["policy"]
        )
        params["policy"] = optax.apply_updates(params["policy"], updates)

        params["value"], opt_states["value"], value_loss = base.fit_value_full_batch(
            value_optimizer,
            value_net.apply,
            params["value"],
            opt_states["value"],
            trajectory.obs,
            targets,
            config.value_steps,
        )
        metrics = {
            "policy_loss": pg_loss,
            "value_loss": value_loss,
            "entropy": entropy,
        }
        return base.Update(ActorCriticState(params, opt_states), metrics)

    algorithm = base.Algorithm(
        init=init,
        behaviour=base.on_policy_behaviour(policy),
        update=update,
        policy=policy,
        critic=value_net,
    )
    return base.finish(config, env, env_params, algorithm)
