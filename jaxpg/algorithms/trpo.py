"""Trust region policy optimisation and the natural policy gradient.

Schulman et al. 2015, "Trust Region Policy Optimization" (single-path and vine sampling, §5);
Kakade 2002 (natural policy gradient); Schulman et al. 2016, "High-Dimensional Continuous
Control Using Generalized Advantage Estimation" (GAE, and the trust-region value fit of §5).

Each iteration:

1. collects ``num_envs * num_steps`` steps with the current policy (the one rollout);
2. estimates advantages: GAE(gamma, lambda) from the critic (``advantage="gae"``, seed 004), or
   Monte-Carlo returns (``advantage="monte_carlo"``, seed 002's single path: discounted
   reward-to-go, no baseline), normalised over the batch; or, with ``sampling="vine"``, Q-values
   from branched rollouts (below);
3. takes one trust-region step on the surrogate ``mean(pi / pi_old * A)`` subject to the mean
   ``KL(pi_old || pi) <= max_kl`` (`jaxpg.natural_gradient.trust_region_step`: conjugate
   gradient on Fisher-vector products, then a backtracking line search that restores the old
   parameters when it fails; ``line_search=False`` takes the full natural-gradient step: NPG);
4. fits the critic to the lambda-returns: minibatch Adam (``value_fit="adam"``), or the GAE
   paper's constrained regression (``value_fit="trust_region"``): minimise
   ``mean((V - y)^2)`` subject to ``mean((V - V_old)^2) / (2 sigma^2) <= value_max_kl``, with
   ``sigma^2`` the old fit's mean squared error, solved by the same conjugate gradient on the
   Gauss-Newton matrix and the same line search (seed 000 used a penalty and Adam instead).

Vine sampling (``sampling="vine"``, §5.2): from the single-path states pick a rollout set of
``vine_num_states`` states; from each, copy the environment state (a pytree, so branching is a
`vmap`) and try every action (Discrete) or ``vine_num_actions`` actions drawn from the policy
(Box); follow the policy for ``vine_horizon`` steps with common random numbers across the
branches of one state, and estimate ``Q(s, a)`` as the discounted return (bootstrapped with the
critic when the branch is still running or truncated). The surrogate is
``mean_s sum_a pi(a|s) (Q(s, a) - mean_a Q)`` over all actions (Discrete) or its self-normalised
importance-sampled form (Box). Branch steps are counted in ``env_steps``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxpg import advantages as adv
from jaxpg import losses, normalization
from jaxpg import natural_gradient as ng
from jaxpg import rollout as rollout_lib
from jaxpg.algorithms import base
from jaxpg.config import BaseConfig, integer, interval, one_of, static, traced
from jaxpg.networks import Critic, Policy
from jaxpg.rollout import Trajectory
from jaxpg.spaces import is_discrete


@struct.dataclass
class TRPOConfig(BaseConfig):
    """TRPO / NPG. Defaults solve CartPole-v1 within 100k steps.

    Attributes:
        sampling: ``"single_path"`` or ``"vine"``.
        advantage: ``"gae"`` (critic) or ``"monte_carlo"`` (single path only).
        value_fit: ``"adam"`` or ``"trust_region"``.
        line_search: backtracking line search (TRPO); False gives NPG.
        max_kl: trust-region size, the bound on the mean KL.
        damping: added to the Fisher matrix (and the Gauss-Newton one).
        cg_iters: conjugate-gradient iterations.
        cg_tol: conjugate-gradient residual tolerance (0: always ``cg_iters``).
        fisher_subsample: fraction of the batch's states on which the Fisher-vector products
            (and the KL of their curvature) are computed; TRPO's paper and Schulman's thesis
            use 10%: the Fisher matrix only sets the metric, and the products dominate the
            cost of a step. The line search still measures the KL on the whole batch.
        backtrack_ratio: step shrink factor of the line search.
        max_backtracks: line-search candidates.
        gae_lambda: GAE's lambda.
        normalize_advantages: standardise advantages over the batch.
        value_learning_rate: Adam step size of the critic.
        value_epochs: Adam passes over the batch per iteration.
        value_minibatches: minibatches per pass.
        value_max_kl: the trust-region value fit's bound (epsilon).
        vine_num_states: size of the vine's rollout set per iteration.
        vine_horizon: length of each vine branch.
        vine_num_actions: branches per state for Box actions (Discrete tries every action).
    """

    num_envs: int = static(8)
    num_steps: int = static(128)
    sampling: str = static("single_path", one_of("single_path", "vine"))
    advantage: str = static("gae", one_of("gae", "monte_carlo"))
    value_fit: str = static("adam", one_of("adam", "trust_region"))
    line_search: bool = static(True, one_of(True, False))
    max_kl: float = traced(0.01, interval(0.0, low_open=True))
    damping: float = traced(0.1, interval(0.0))
    cg_iters: int = static(10, integer(1))
    cg_tol: float = traced(1e-10, interval(0.0))
    fisher_subsample: float = static(0.1, interval(0.0, 1.0, low_open=True))
    backtrack_ratio: float = traced(0.8, interval(0.0, 1.0, low_open=True))
    max_backtracks: int = static(10, integer(1))
    gae_lambda: float = traced(0.98, interval(0.0, 1.0))
    normalize_advantages: bool = static(True, one_of(True, False))
    value_learning_rate: float = traced(1e-3, interval(0.0, low_open=True))
    value_epochs: int = static(20, integer(1))
    value_minibatches: int = static(4, integer(1))
    value_max_kl: float = traced(0.05, interval(0.0, low_open=True))
    vine_num_states: int = static(64, integer(1))
    vine_horizon: int = static(32, integer(1))
    vine_num_actions: int = static(4, integer(2))

    @property
    def algorithm_name(self) -> str:
        return "trpo" if self.line_search else "npg"

    def validate(self) -> None:
        super().validate()
        if self.batch_size % self.value_minibatches:
            raise ValueError(
                f"value_minibatches={self.value_minibatches} must divide num_envs * num_steps "
                f"= {self.batch_size}"
            )
        if self.sampling == "vine" and self.advantage != "gae":
            raise ValueError(
                f"advantage={self.advantage!r} is a single-path estimator; with sampling='vine' "
                "the advantages come from the branches (leave advantage='gae')"
            )
        if self.sampling == "vine" and self.vine_num_states > self.batch_size:
            raise ValueError(
                f"vine_num_states={self.vine_num_states} exceeds the states of one rollout "
                f"(num_envs * num_steps = {self.batch_size})"
            )

    def make_algorithm(
        self, env: Any, env_params: Any, policy: Any = None, critic: Any = None
    ) -> base.Algorithm:
        return make_trpo(self, env, env_params, policy, critic)


class TRPOState(NamedTuple):
    """Parameters ``{"policy", "value"}`` and the critic's Adam state."""

    params: dict[str, Any]
    value_opt_state: Any


def policy_step(
    config: TRPOConfig,
    policy_apply: Any,
    policy_params: Any,
    surrogate_fn: Any,
    kl_obs: jax.Array,
    key: jax.Array,
) -> tuple[Any, dict[str, jax.Array]]:
    """One TRPO (or NPG) step on ``surrogate_fn(params) -> loss`` with the KL over ``kl_obs``.

    The Fisher-vector products use a random ``config.fisher_subsample`` fraction of the states
    of ``kl_obs`` (all of them at 1.0); the line search measures the KL over all of them.
    """
    old_dist = jax.lax.stop_gradient(policy_apply(policy_params, kl_obs))

    def mean_kl(params):
        return old_dist.kl(policy_apply(params, kl_obs)).mean()

    fisher_kl = mean_kl
    if config.fisher_subsample < 1.0:
        flat_obs = base.flatten_batch(kl_obs)  # [T * B, *obs_shape]
        size = flat_obs.shape[0]
        count = max(1, round(config.fisher_subsample * size))
        fisher_obs = flat_obs[jax.random.choice(key, size, (count,), replace=False)]
        fisher_old = jax.lax.stop_gradient(policy_apply(policy_params, fisher_obs))

        def fisher_kl(params):
            return fisher_old.kl(policy_apply(params, fisher_obs)).mean()

    new_params, info = ng.trust_region_step(
        surrogate_fn,
        mean_kl,
        policy_params,
        ng.fisher_vector_product(fisher_kl, policy_params, config.damping),
        max_constraint=config.max_kl,
        cg_iters=config.cg_iters,
        cg_tol=config.cg_tol,
        line_search=config.line_search,
        backtrack_ratio=config.backtrack_ratio,
        max_backtracks=config.max_backtracks,
    )
    metrics = {
        "policy_loss": surrogate_fn(policy_params),
        "kl": info.constraint,
        "surrogate_improvement": info.improvement,
        "expected_improvement": info.expected_improvement,
        "num_backtracks": info.num_backtracks,
        "line_search_success": info.success,
        "step_valid": info.valid,
        "cg_residual": info.cg_residual,
    }
    return new_params, metrics


def trust_region_value_fit(
    config: TRPOConfig, value_apply: Any, value_params: Any, obs: jax.Array, targets: jax.Array
) -> tuple[Any, dict[str, jax.Array]]:
    """The GAE paper's constrained regression step for the critic (see the module docstring)."""
    obs = base.flatten_batch(obs)
    targets = jax.lax.stop_gradient(targets.reshape(-1))
    old_values = jax.lax.stop_gradient(value_apply(value_params, obs))
    sigma2 = jnp.maximum(jnp.mean(jnp.square(old_values - targets)), 1e-8)

    def loss(params):
        return jnp.mean(jnp.square(value_apply(params, obs) - targets))

    def constraint(params):
        return jnp.mean(jnp.square(value_apply(params, obs) - old_values)) / (2.0 * sigma2)

    curvature = ng.gauss_newton_vector_product(
        lambda params: value_apply(params, obs),
        value_params,
        scale=1.0 / (targets.shape[0] * sigma2),
        damping=config.damping,
    )
    new_params, info = ng.trust_region_step(
        loss,
        constraint,
        value_params,
        curvature,
        max_constraint=config.value_max_kl,
        cg_iters=config.cg_iters,
        cg_tol=config.cg_tol,
        line_search=True,
        backtrack_ratio=config.backtrack_ratio,
        max_backtracks=config.max_backtracks,
    )
    return new_params, {
        "value_loss": 0.5 * loss(value_params),
        "value_constraint": info.constraint,
        "value_step_success": info.success,
    }


def adam_value_fit(
    config: TRPOConfig,
    optimizer: optax.GradientTransformation,
    value_apply: Any,
    value_params: Any,
    opt_state: Any,
    obs: jax.Array,
    targets: jax.Array,
    key: jax.Array,
) -> tuple[Any, Any, dict[str, jax.Array]]:
    """``value_epochs`` passes of shuffled minibatch Adam on ``mean((V - y)^2) / 2``."""
    obs, targets = base.flatten_batch(obs), targets.reshape(-1)
    size = targets.shape[0]
    minibatch = size // config.value_minibatches

    def minibatch_step(carry, indices):
        params, opt_state = carry
        value, grads = jax.value_and_grad(
            lambda p: losses.value_loss(value_apply(p, obs[indices]), targets[indices])
        )(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, size).reshape(config.value_minibatches, minibatch)
        return jax.lax.scan(minibatch_step, carry, order)

    (value_params, opt_state), value_losses = jax.lax.scan(
        epoch, (value_params, opt_state), jax.random.split(key, config.value_epochs)
    )
    return value_params, opt_state, {"value_loss": value_losses[0].mean()}


def vine_q_values(
    config: TRPOConfig,
    env: Any,
    env_params: Any,
    policy: Any,
    policy_params: Any,
    value_apply: Any,
    value_params: Any,
    trajectory: Trajectory,
    key: jax.Array,
    agent_params: Any = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Branches actions from a rollout set of states and estimates Q by rollouts.

    ``trajectory`` is the one the update sees (observations normalised and rewards scaled when
    the config asks for it); the branches' raw observations and rewards are put through the
    same frozen statistics, read from ``agent_params`` (`jaxpg.normalization.observe`).

    Returns:
        ``(obs [N, *obs_shape], actions [K, N, ...], q [K, N])`` with ``N = vine_num_states``
        and ``K`` the number of actions tried per state.
    """
    select_key, action_key, branch_key = jax.random.split(key, 3)
    num_steps, num_envs = trajectory.reward.shape
    flat = jax.random.choice(
        select_key, num_steps * num_envs, (config.vine_num_states,), replace=False
    )
    time_index, env_index = flat // num_envs, flat % num_envs
    env_states = jax.tree.map(lambda x: x[time_index, env_index], trajectory.env_state)
    obs = trajectory.obs[time_index, env_index]
    dist = policy.apply(policy_params, obs)
    action_space = env.action_space(env_params)
    if is_discrete(action_space):
        num_actions = int(action_space.n)
        actions = jnp.broadcast_to(
            jnp.arange(num_actions, dtype=jnp.int32)[:, None], (num_actions, obs.shape[0])
        )
    else:
        actions = jax.vmap(dist.sample)(jax.random.split(action_key, config.vine_num_actions))
    sample = rollout_lib.sample_policy(policy.apply, policy_params)

    def policy_fn(key, raw_obs):
        return sample(key, normalization.observe(agent_params, raw_obs))

    def branch(first_action):
        # The same key for every branch of a state: common random numbers.
        first_key, rest_key = jax.random.split(branch_key)
        next_obs, next_state, reward, terminated, truncated, final_obs = rollout_lib.step_envs(
            first_key,
            env,
            env_params,
            env_states,
            rollout_lib.env_action(action_space, first_action),
        )
        start = rollout_lib.RolloutState(
            obs=next_obs,
            env_state=next_state,
            episode_return=jnp.zeros_like(reward),
            episode_length=jnp.zeros_like(reward, dtype=jnp.int32),
        )
        _, rest, _ = rollout_lib.rollout(
            rest_key, env, env_params, start, policy_fn, config.vine_horizon - 1
        )
        rewards = normalization.scale_reward(
            agent_params, jnp.concatenate([reward[None], rest.reward])
        )
        terminated_all = jnp.concatenate([terminated[None], rest.terminated])
        truncated_all = jnp.concatenate([truncated[None], rest.truncated])
        next_obs_all = jnp.concatenate([final_obs[None], rest.next_obs])
        # Bootstrap only where the branch is cut by truncation or by its horizon.
        next_values = value_apply(value_params, normalization.observe(agent_params, next_obs_all))
        returns = adv.reward_to_go(
            rewards, terminated_all, truncated_all, next_values, config.gamma
        )
        return returns[0]

    q = jax.vmap(branch)(actions)
    return obs, actions, q


def make_trpo(
    config: TRPOConfig,
    env: Any,
    env_params: Any,
    policy: Policy | None = None,
    critic: Critic | None = None,
) -> base.Algorithm:
    """Builds the TRPO / NPG `Algorithm` for an environment (see the module docstring).

    Args:
        config: the `TRPOConfig`.
        env: a gymnax-API environment.
        env_params: its parameters.
        policy: the `jaxpg.networks.Policy` to train (default: the config's MLP).
        critic: the `jaxpg.networks.Critic` (default: the config's MLP).
    """
    policy, value_net = base.resolve_networks(config, env, env_params, policy, critic)
    vine = config.sampling == "vine"
    discrete = is_discrete(env.action_space(env_params))
    if vine and not getattr(env, "STATE_COPYABLE", True):
        raise ValueError(
            f"sampling='vine' branches rollouts from copies of environment states, and the "
            f"states of {getattr(env, 'name', env)} cannot be copied (host-side environment); "
            "use sampling='single_path'"
        )
    value_optimizer = base.flat_adam(config.value_learning_rate)

    def init(key: jax.Array) -> TRPOState:
        policy_key, value_key = jax.random.split(key)
        params = {"policy": policy.init(policy_key), "value": value_net.init(value_key)}
        return TRPOState(params, value_optimizer.init(params["value"]))

    def update(key: jax.Array, agent: TRPOState, trajectory: Trajectory, iteration: jax.Array):
        del iteration
        vine_key, value_key, fisher_key = jax.random.split(key, 3)
        params = dict(agent.params)
        value, next_value = base.trajectory_values(value_net.apply, params["value"], trajectory)
        advantages, targets = adv.gae(
            trajectory.reward,
            value,
            next_value,
            trajectory.terminated,
            trajectory.truncated,
            config.gamma,
            config.gae_lambda,
        )
        metrics: dict[str, jax.Array] = {}
        extra_env_steps = 0
        if vine:
            obs, actions, q = vine_q_values(
                config,
                env,
                env_params,
                policy,
                params["policy"],
                value_net.apply,
                params["value"],
                trajectory,
                vine_key,
                agent.params,
            )
            q_advantage = q - q.mean(axis=0, keepdims=True)
            if config.normalize_advantages:
                q_advantage = q_advantage / (q_advantage.std() + 1e-8)

            def branch_log_probs(policy_params):
                dist = policy.apply(policy_params, obs)  # batched over the N states
                return jax.vmap(dist.log_prob)(actions)  # [K, N]

            old_log_prob = jax.lax.stop_gradient(branch_log_probs(params["policy"]))

            def surrogate(policy_params):
                log_prob = branch_log_probs(policy_params)
                if discrete:
                    return -jnp.mean(jnp.sum(jnp.exp(log_prob) * q_advantage, axis=0))
                weights = jnp.exp(log_prob - old_log_prob)
                weighted = jnp.sum(weights * q_advantage, axis=0) / jnp.sum(weights, axis=0)
                return -jnp.mean(weighted)

            extra_env_steps = q.size * config.vine_horizon
        else:
            if config.advantage == "monte_carlo":
                # Discounted reward-to-go; the critic only bootstraps truncated or batch-cut
                # episodes (it is not a baseline here).
                advantages = adv.reward_to_go(
                    trajectory.reward,
                    trajectory.terminated,
                    trajectory.truncated,
                    next_value,
                    config.gamma,
                )
            if config.normalize_advantages:
                advantages = adv.normalize(advantages)

            def surrogate(policy_params):
                log_prob = policy.apply(policy_params, trajectory.obs).log_prob(trajectory.action)
                return losses.surrogate_loss(log_prob, trajectory.log_prob, advantages)

        params["policy"], policy_metrics = policy_step(
            config, policy.apply, params["policy"], surrogate, trajectory.obs, fisher_key
        )
        metrics.update(policy_metrics)
        metrics["entropy"] = policy.apply(agent.params["policy"], trajectory.obs).entropy().mean()

        value_opt_state = agent.value_opt_state
        if config.value_fit == "trust_region":
            params["value"], value_metrics = trust_region_value_fit(
                config, value_net.apply, params["value"], trajectory.obs, targets
            )
        else:
            params["value"], value_opt_state, value_metrics = adam_value_fit(
                config,
                value_optimizer,
                value_net.apply,
                params["value"],
                value_opt_state,
                trajectory.obs,
                targets,
                value_key,
            )
        metrics.update(value_metrics)
        return base.Update(TRPOState(params, value_opt_state), metrics, extra_env_steps)

    algorithm = base.Algorithm(
        init=init,
        behaviour=base.on_policy_behaviour(policy),
        update=update,
        policy=policy,
        critic=value_net,
        needs_env_states=vine,
    )
    return base.finish(config, env, env_params, algorithm)
