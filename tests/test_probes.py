"""Probe environments with known answers: each isolates one part of the learning code."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxpg
from jaxpg.envs.probes import Probe
from jaxpg.networks import default_critic

AC = jaxpg.ActorCriticConfig(
    num_envs=16,
    num_steps=8,
    total_timesteps=16 * 8 * 150,
    hidden_sizes=(16,),
    learning_rate=1e-2,
    value_learning_rate=1e-2,
    entropy_coef=0.0,
)


def _train(config, kind, seeds=4, **env_kwargs):
    env = Probe(kind, **env_kwargs)
    train = jaxpg.make_train(config, env, env.default_params)
    return env, jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), seeds))


def _values(config, env, result, obs):
    net = default_critic(config, env, env.default_params)
    return np.asarray(jax.vmap(net.apply, (0, None))(result.params["value"], obs))


def _action_probs(config, env, result, obs):
    policy = jaxpg.networks.default_policy(config, env, env.default_params)
    return np.asarray(jax.vmap(lambda p: policy.apply(p, obs).probs())(result.params["policy"]))


def test_constant_reward_value_learns_one():
    env, result = _train(AC, "constant")
    np.testing.assert_allclose(_values(AC, env, result, jnp.zeros((1, 1))), 1.0, atol=0.05)


def test_observation_dependent_value():
    env, result = _train(AC, "observation_reward")
    values = _values(AC, env, result, jnp.array([[-1.0], [1.0]]))
    np.testing.assert_allclose(values, [[-1.0, 1.0]] * 4, atol=0.1)


def test_truncation_bootstraps_value_to_infinite_horizon():
    # Reward 1 forever, cut at 10 steps: a correct critic learns 1 / (1 - gamma) = 10, not the
    # number of steps left; treating truncation as termination would give about 5.5.
    config = AC.replace(gamma=0.9, total_timesteps=16 * 8 * 300)
    env, result = _train(config, "truncation", max_steps=10)
    np.testing.assert_allclose(_values(config, env, result, jnp.zeros((1, 1))), 10.0, atol=0.5)


def test_policy_learns_the_paying_action():
    config = jaxpg.VPGConfig(
        num_envs=16, num_steps=8, total_timesteps=16 * 8 * 60, hidden_sizes=(), learning_rate=0.1
    )
    env, result = _train(config, "action_reward")
    probs = _action_probs(config, env, result, jnp.zeros((1, 1)))
    assert np.all(probs[:, 0, 0] > 0.95)


def test_policy_learns_observation_dependent_action():
    env, result = _train(AC, "observation_action")
    probs = _action_probs(AC, env, result, jnp.array([[-1.0], [1.0]]))
    assert np.all(probs[:, 0, 0] > 0.9) and np.all(probs[:, 1, 1] > 0.9)
