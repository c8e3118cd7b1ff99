"""make_train: shapes, determinism, jit vs no-jit, vmap vs loop, one compile for a sweep."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg import rollout as rollout_lib

SMALL_VPG = jaxpg.VPGConfig(
    num_envs=4,
    num_steps=32,
    total_timesteps=4 * 32 * 3,
    hidden_sizes=(8,),
    baseline=True,
    value_steps=2,
)
SMALL_AC = jaxpg.ActorCriticConfig(
    num_envs=4, num_steps=16, total_timesteps=4 * 16 * 3, hidden_sizes=(8,), value_steps=2
)


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("config", [SMALL_VPG, SMALL_AC], ids=["vpg", "a2c"])
def test_metrics_shapes_and_env_steps(config):
    env, params = jaxpg.make_env("CartPole-v1")
    result = jax.jit(jaxpg.make_train(config, env, params))(jax.random.key(0))
    for name in [
        "episode_return",
        "episode_length",
        "env_steps",
        "policy_loss",
        "value_loss",
        "entropy",
        "skipped_updates",
    ]:
        assert result.metrics[name].shape == (3,), name
    np.testing.assert_array_equal(
        result.metrics["env_steps"], [config.batch_size * i for i in (1, 2, 3)]
    )
    assert set(result.params) == {"policy", "value"}
    # NaN until the first episode has finished, then the mean return of finished episodes.
    returns = np.asarray(result.metrics["episode_return"])
    any_finished = np.cumsum(np.asarray(result.metrics["episodes_finished"])) > 0
    assert np.isnan(returns[~any_finished]).all() and (returns[any_finished] > 0).all()


@pytest.mark.parametrize("config", [SMALL_VPG, SMALL_AC], ids=["vpg", "a2c"])
def test_same_key_identical_and_different_keys_differ(config):
    env, params = jaxpg.make_env("CartPole-v1")
    train = jax.jit(jaxpg.make_train(config, env, params))
    first, second = train(jax.random.key(1)), train(jax.random.key(1))
    _assert_trees_equal((first.params, first.metrics), (second.params, second.metrics))
    other = train(jax.random.key(2))
    assert not np.array_equal(
        np.asarray(first.metrics["policy_loss"]), np.asarray(other.metrics["policy_loss"])
    )


@pytest.mark.parametrize("config", [SMALL_VPG, SMALL_AC], ids=["vpg", "a2c"])
def test_jit_equals_no_jit(config):
    env, params = jaxpg.make_env("CartPole-v1")
    train = jaxpg.make_train(config, env, params)
    jitted = jax.jit(train)(jax.random.key(3))
    eager = train(jax.random.key(3))
    _assert_trees_close((jitted.params, jitted.metrics), (eager.params, eager.metrics))


@pytest.mark.parametrize("config", [SMALL_VPG, SMALL_AC], ids=["vpg", "a2c"])
def test_vmap_over_keys_equals_loop(config):
    env, params = jaxpg.make_env("CartPole-v1")
    train = jaxpg.make_train(config, env, params)
    keys = jax.random.split(jax.random.key(4), 3)
    batched = jax.jit(jax.vmap(train))(keys)
    single = jax.jit(train)
    for i in range(3):
        one = single(keys[i])
        _assert_trees_close(
            (one.params, one.metrics),
            jax.tree.map(lambda x, i=i: x[i], (batched.params, batched.metrics)),
        )


def test_sweep_over_traced_floats_compiles_once():
    env, params = jaxpg.make_env("CartPole-v1")
    traces = []

    def train_with(key, learning_rate, gamma, alpha):
        traces.append(1)
        config = dataclasses.replace(
            SMALL_VPG, learning_rate=learning_rate, gamma=gamma, entropy_alpha=alpha
        )
        return jaxpg.make_train(config, env, params)(key)

    sweep = jax.jit(jax.vmap(train_with))
    keys = jax.random.split(jax.random.key(0), 3)
    lrs, gammas, alphas = jnp.array([1e-3, 1e-2, 1e-1]), jnp.array([0.9, 0.95, 0.99]), jnp.zeros(3)
    result = sweep(keys, lrs, gammas, alphas)
    sweep(keys, lrs * 2, gammas, alphas + 0.1)  # new values, same compiled program
    assert len(traces) == 1
    # Each member really used its own learning rate: compare with a separate run.
    lone = jax.jit(
        jaxpg.make_train(
            dataclasses.replace(SMALL_VPG, learning_rate=1e-1, gamma=0.99), env, params
        )
    )(keys[2])
    _assert_trees_close(lone.params, jax.tree.map(lambda x: x[2], result.params))


def test_a_sweep_over_the_temperature_matches_separate_runs_with_entropy_defaults():
    # VPGConfig's baseline, advantage normalisation and step size default on entropy_alpha > 0;
    # traced, they are decided per member at run time, as a separate run decides them.
    env, params = jaxpg.make_env("CartPole-v1")
    config = jaxpg.VPGConfig(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 3)
    keys = jax.random.split(jax.random.key(1), 2)
    alphas = jnp.array([0.0, 0.5])

    def train_with(key, alpha):
        return jaxpg.make_train(config.replace(entropy_alpha=alpha), env, params)(key)

    swept = jax.jit(jax.vmap(train_with))(keys, alphas)
    for index, alpha in enumerate([0.0, 0.5]):
        lone_config = config.replace(entropy_alpha=alpha)
        assert lone_config.uses_baseline == (alpha > 0)
        lone = jax.jit(jaxpg.make_train(lone_config, env, params))(keys[index])
        _assert_trees_close(
            lone.params["policy"], jax.tree.map(lambda x, i=index: x[i], swept.params["policy"])
        )


def test_rollout_trajectory_shapes_and_next_obs():
    env, params = jaxpg.make_env("CartPole-v1")
    state = rollout_lib.reset(jax.random.key(0), env, params, 6)
    policy = jaxpg.networks.make_policy(env.action_space(params), (4,), (8,))
    policy_params = policy.init(jax.random.key(1))
    fn = rollout_lib.sample_policy(policy.apply, policy_params)
    new_state, traj, stats = jax.jit(lambda k, s: rollout_lib.rollout(k, env, params, s, fn, 60))(
        jax.random.key(2), state
    )
    assert traj.obs.shape == traj.next_obs.shape == (60, 6, 4)
    assert traj.action.shape == traj.reward.shape == traj.log_prob.shape == (60, 6)
    done = np.asarray(traj.done)
    obs, next_obs = np.asarray(traj.obs), np.asarray(traj.next_obs)
    # next_obs is the following obs inside an episode, and the real final obs at its end.
    np.testing.assert_array_equal(next_obs[:-1][~done[:-1]], obs[1:][~done[:-1]])
    assert done.any()
    assert np.all(np.abs(next_obs[done][:, [0, 2]]).max(axis=1) > 0)  # not a fresh reset state
    # The log-probability is that of the action under the policy.
    dist = policy.apply(policy_params, traj.obs)
    np.testing.assert_allclose(dist.log_prob(traj.action), traj.log_prob, rtol=1e-5, atol=1e-6)
    # Episode statistics agree with the trajectory (all episodes start inside this rollout).
    assert int(stats.count) == done.sum()
    rewards = np.asarray(traj.reward)
    total = sum(
        rewards[: np.nonzero(done[:, b])[0].max() + 1, b].sum()
        for b in range(6)
        if done[:, b].any()
    )
    assert float(stats.return_sum) == pytest.approx(total)


def test_non_finite_rewards_skip_the_update():
    from jaxpg.envs.probes import Probe

    class NaNRewardProbe(Probe):
        def step_env(self, key, state, action, params):
            obs, state, reward, terminated, info = super().step_env(key, state, action, params)
            return obs, state, reward * jnp.nan, terminated, info

    env = NaNRewardProbe("constant")
    config = dataclasses.replace(SMALL_AC)
    result = jax.jit(jaxpg.make_train(config, env, env.default_params))(jax.random.key(0))
    np.testing.assert_array_equal(result.metrics["skipped_updates"], [1, 1, 1])
    initial = jaxpg.make_trainer(config, env, env.default_params).init(jax.random.key(0))
    _assert_trees_equal(result.params, initial.agent.params)
