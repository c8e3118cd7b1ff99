"""TRPO and NPG: learning on CartPole (seeds vmapped), the trust-region value fit, vine."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg.algorithms import trpo
from jaxpg.envs.probes import Probe
from jaxpg.networks import default_critic, default_policy

NUM_SEEDS = 10


def _train_and_evaluate(config, num_seeds, env_id="CartPole-v1", key=0):
    env, params = jaxpg.make_env(env_id)
    train = jax.jit(jax.vmap(jaxpg.make_train(config, env, params)))
    result = train(jax.random.split(jax.random.key(key), num_seeds))
    evaluate = jax.jit(
        jax.vmap(lambda p, k: jaxpg.evaluate(config, env, params, p, k, num_episodes=50))
    )
    returns = evaluate(result.params, jax.random.split(jax.random.key(key + 100), num_seeds))
    return result, np.asarray(returns.mean(axis=1))


@pytest.fixture(scope="module")
def default_trpo_run():
    config = jaxpg.TRPOConfig(total_timesteps=100_000)
    return config, *_train_and_evaluate(config, NUM_SEEDS)


def test_trpo_solves_cartpole_in_100k_steps_in_nine_of_ten_seeds(default_trpo_run):
    config, result, returns = default_trpo_run
    assert int(result.metrics["env_steps"][0, -1]) <= 100_000
    assert (returns >= 475).sum() >= 9, returns


def test_trpo_steps_respect_the_trust_region(default_trpo_run):
    config, result, _ = default_trpo_run
    metrics = jax.tree.map(np.asarray, result.metrics)
    accepted = metrics["line_search_success"]
    assert accepted.mean() > 0.9  # the line search rarely has to give up
    assert np.all(metrics["kl"][accepted] <= config.max_kl)
    assert np.all(metrics["surrogate_improvement"][accepted] > 0)
    assert np.all(metrics["kl"][~accepted] == 0)
    assert np.all(np.isfinite(metrics["cg_residual"]))
    assert metrics["skipped_updates"].sum() == 0


def test_npg_learns_cartpole():
    config = jaxpg.TRPOConfig(total_timesteps=50_000, line_search=False)
    result, returns = _train_and_evaluate(config, 4, key=1)
    assert np.median(returns) >= 400, returns
    # Without a line search every valid full step is taken, KL bound or not.
    assert np.asarray(result.metrics["num_backtracks"]).max() == 0


def test_vine_solves_cartpole():
    # 50k single-path steps (the branches come on top and are counted in env_steps); the
    # learning-curve benchmark runs the vine on 10 seeds for 100k.
    config = jaxpg.TRPOConfig(total_timesteps=50_000, sampling="vine")
    result, returns = _train_and_evaluate(config, 3, key=2)
    assert (returns >= 475).sum() >= 2, returns
    # Branch steps are counted: 64 states x 2 actions x 32 steps per iteration on top.
    extra = config.vine_num_states * 2 * config.vine_horizon
    np.testing.assert_array_equal(
        np.asarray(result.metrics["env_steps"][0, :2]),
        [config.batch_size + extra, 2 * (config.batch_size + extra)],
    )


def test_trust_region_value_fit_satisfies_its_constraint():
    env, env_params = jaxpg.make_env("CartPole-v1")
    config = jaxpg.TRPOConfig(value_fit="trust_region", value_max_kl=0.02)
    value_net = default_critic(config, env, env_params)
    obs_key, target_key, init_key = jax.random.split(jax.random.key(0), 3)
    obs = jax.random.normal(obs_key, (64, 8, 4))
    targets = jnp.sin(obs.sum(-1)) * 10 + jax.random.normal(target_key, (64, 8))
    params = value_net.init(init_key)
    for _ in range(5):  # several successive fits, each with its own constraint
        old_values = value_net.apply(params, obs)
        sigma2 = jnp.mean(jnp.square(old_values - targets))
        new_params, metrics = jax.jit(
            lambda p: trpo.trust_region_value_fit(config, value_net.apply, p, obs, targets)
        )(params)
        new_values = value_net.apply(new_params, obs)
        constraint = jnp.mean(jnp.square(new_values - old_values)) / (2 * sigma2)
        assert bool(metrics["value_step_success"])
        assert float(constraint) <= config.value_max_kl * (1 + 1e-4)
        assert float(constraint) > 0.1 * config.value_max_kl  # a real step, not a no-op
        assert float(jnp.mean(jnp.square(new_values - targets))) < float(sigma2)
        params = new_params


def test_trust_region_value_fit_learns_cartpole():
    config = jaxpg.TRPOConfig(total_timesteps=60_000, value_fit="trust_region")
    result, returns = _train_and_evaluate(config, 3, key=3)
    assert np.median(returns) >= 200, returns
    assert np.asarray(result.metrics["value_step_success"]).mean() > 0.9


def test_monte_carlo_advantages_learn():
    config = jaxpg.TRPOConfig(total_timesteps=40_000, advantage="monte_carlo")
    result, returns = _train_and_evaluate(config, 3, key=4)
    assert np.median(returns) >= 100, returns


def test_vine_refuses_an_environment_whose_state_cannot_be_copied():
    env = Probe("constant")
    env.STATE_COPYABLE = False
    with pytest.raises(ValueError, match="cannot be copied"):
        jaxpg.make_train(jaxpg.TRPOConfig(sampling="vine"), env, env.default_params)


def test_vine_on_a_box_action_space_runs_and_counts_branches():
    env, env_params = jaxpg.make_env("Pendulum-v1")
    config = jaxpg.TRPOConfig(
        sampling="vine",
        num_envs=4,
        num_steps=32,
        total_timesteps=4 * 32 * 2,
        vine_num_states=8,
        vine_horizon=4,
        vine_num_actions=3,
        hidden_sizes=(8,),
    )
    result = jax.jit(jaxpg.make_train(config, env, env_params))(jax.random.key(0))
    assert int(result.metrics["env_steps"][0]) == 128 + 8 * 3 * 4
    assert all(np.isfinite(np.asarray(v)).all() for v in jax.tree.leaves(result.params))


def test_trpo_config_errors_name_the_field():
    with pytest.raises(ValueError, match="max_kl=-0.1"):
        jaxpg.make_train(jaxpg.TRPOConfig(max_kl=-0.1), *jaxpg.make_env("CartPole-v1"))
    with pytest.raises(ValueError, match="value_minibatches=3"):
        jaxpg.make_train(jaxpg.TRPOConfig(value_minibatches=3), *jaxpg.make_env("CartPole-v1"))
    with pytest.raises(ValueError, match="sampling='vine'"):
        dataclasses.replace(jaxpg.TRPOConfig(), sampling="vine", advantage="monte_carlo").validate()


def test_fisher_subsample_steps_keep_the_whole_batch_kl_within_bound():
    env, env_params = jaxpg.make_env("CartPole-v1")
    obs_key, adv_key, init_key, step_key = jax.random.split(jax.random.key(5), 4)
    obs = jax.random.normal(obs_key, (128, 8, 4))
    advantages = jax.random.normal(adv_key, (128, 8))
    kls, params_by_fraction = [], []
    for fraction in (1.0, 0.1):
        config = jaxpg.TRPOConfig(fisher_subsample=fraction, max_kl=0.02)
        policy = default_policy(config, env, env_params)
        params = policy.init(init_key)
        dist = policy.apply(params, obs)
        actions = dist.sample(jax.random.key(6))
        old_log_prob = dist.log_prob(actions)

        def surrogate(p, policy=policy, actions=actions, old_log_prob=old_log_prob):
            ratio = jnp.exp(policy.apply(p, obs).log_prob(actions) - old_log_prob)
            return -jnp.mean(ratio * advantages)

        new_params, metrics = jax.jit(
            lambda p, policy=policy, config=config, surrogate=surrogate: trpo.policy_step(
                config, policy.apply, p, surrogate, obs, step_key
            )
        )(params)
        kl = dist.kl(policy.apply(new_params, obs)).mean()  # measured on all 1,024 states
        assert bool(metrics["line_search_success"])
        assert float(kl) <= config.max_kl * (1 + 1e-5)
        assert float(kl) > 0.1 * config.max_kl
        kls.append(float(kl))
        params_by_fraction.append(new_params)
    # The subsample changes the metric, hence the step.
    diff = jax.tree.map(lambda a, b: jnp.abs(a - b).max(), *params_by_fraction)
    assert max(float(d) for d in jax.tree.leaves(diff)) > 1e-4
