"""jaxpg.normalization against plain NumPy / Python references."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpg.algorithms.base import Algorithm, Update
from jaxpg.normalization import (
    EPSILON,
    ObservationNormalizer,
    RewardScaler,
    RunningMeanStd,
    observe,
    scale_reward,
    with_normalization,
)
from jaxpg.rollout import Trajectory


def test_merged_batches_give_the_moments_of_all_samples():
    rng = np.random.default_rng(0)
    # A large offset and a small spread: the naive float32 E[x^2] - E[x]^2 loses it all.
    batches = [
        (1e4 + rng.normal(size=(n, 3)) * [0.01, 1.0, 100.0]).astype(np.float32)
        for n in (5, 64, 1, 300)
    ]
    stats = RunningMeanStd.zeros((3,))
    update = jax.jit(RunningMeanStd.update)
    for batch in batches:
        stats = update(stats, jnp.asarray(batch))
    everything = np.concatenate(batches).astype(np.float64)
    assert float(stats.count) == len(everything)
    np.testing.assert_allclose(stats.mean, everything.mean(0), rtol=1e-6)
    # float32 spacing at 1e4 is 1e-3, so the first feature's variance (1e-4) is only good to a
    # few percent in any float32 method; the naive one gives -160 for it.
    np.testing.assert_allclose(stats.var, everything.var(0), rtol=2e-2)


def test_time_major_batches_and_vmap_over_seeds():
    rng = np.random.default_rng(1)
    batch = rng.normal(size=(2, 7, 5, 4)).astype(np.float32)  # [seeds, T, B, obs]
    merged = jax.vmap(lambda x: ObservationNormalizer.create((4,)).update(x))(batch)
    for seed in range(2):
        flat = batch[seed].reshape(-1, 4)
        np.testing.assert_allclose(merged.stats.mean[seed], flat.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(merged.stats.var[seed], flat.var(0), rtol=1e-4)
        one = jax.tree.map(lambda x, s=seed: x[s], merged)
        expected = np.clip((flat - flat.mean(0)) / np.sqrt(flat.var(0) + EPSILON), -10, 10)
        np.testing.assert_allclose(one(flat), expected, rtol=1e-4, atol=1e-5)


def test_a_fresh_normaliser_is_the_identity_then_it_clips():
    normalizer = ObservationNormalizer.create((2,), clip=5.0)
    obs = jnp.array([[1.0, -3.0], [100.0, 0.5]])
    np.testing.assert_allclose(normalizer(obs), obs)  # nothing merged yet: raw, unclipped
    normalizer = normalizer.update(jnp.array([[0.0, 0.0], [2.0, 2.0]]))  # mean 1, std 1
    np.testing.assert_allclose(normalizer(obs), [[0.0, -4.0], [5.0, -0.5]], rtol=1e-6)


def test_reward_scaling_matches_a_python_loop():
    rng = np.random.default_rng(2)
    steps, envs, gamma = 9, 3, 0.9
    reward = rng.normal(size=(steps, envs)).astype(np.float32) * 5
    done = rng.random((steps, envs)) < 0.2
    scaler = RewardScaler.create(envs)
    scaled, scaler = jax.jit(RewardScaler.scale)(scaler, reward, done, gamma)
    running, seen = np.zeros(envs), []
    for t in range(steps):
        running = running * gamma + reward[t]
        seen.append(running.copy())
        running = np.where(done[t], 0.0, running)
    seen = np.array(seen).reshape(-1)
    np.testing.assert_allclose(scaler.returns, running, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaler.stats.var, seen.var(), rtol=1e-4)
    np.testing.assert_allclose(
        scaled, np.clip(reward / np.sqrt(seen.var() + EPSILON), -10, 10), rtol=1e-4
    )


class Recorder(NamedTuple):
    params: dict


def _recording_algorithm(obs_shape):
    """An algorithm whose update changes nothing and reports what it was given."""

    def init(key):
        return Recorder({"policy": jnp.zeros(())})

    def behaviour(agent, iteration):
        def policy_fn(key, obs):
            return obs.sum(-1), jnp.zeros(obs.shape[:1])  # the "action" shows the input

        return policy_fn

    def update(key, agent, trajectory, iteration):
        seen = {"obs": trajectory.obs, "next_obs": trajectory.next_obs, "reward": trajectory.reward}
        return Update(agent, seen)

    return Algorithm(init, behaviour, update, policy=None)


def _trajectory(rng, steps, envs, obs_size):
    obs = rng.normal(size=(steps, envs, obs_size)).astype(np.float32) * 50 + 7
    return Trajectory(
        obs=jnp.asarray(obs),
        action=jnp.zeros((steps, envs)),
        reward=jnp.asarray(rng.normal(size=(steps, envs)).astype(np.float32) * 30),
        terminated=jnp.zeros((steps, envs), bool),
        truncated=jnp.asarray(rng.random((steps, envs)) < 0.1),
        log_prob=jnp.zeros((steps, envs)),
        next_obs=jnp.asarray(obs + 1),
    )


def test_the_update_sees_the_rollouts_statistics_which_then_merge_the_raw_batch():
    rng = np.random.default_rng(3)
    algorithm = with_normalization(
        _recording_algorithm((2,)), (2,), 4, observations=True, rewards=True, gamma=0.9
    )
    agent = algorithm.init(jax.random.key(0))
    first, second = _trajectory(rng, 5, 4, 2), _trajectory(rng, 5, 4, 2)
    agent, seen, _ = algorithm.update(jax.random.key(1), agent, first, 0)
    # Before any merge the statistics are the identity: the first batch is seen raw.
    np.testing.assert_allclose(seen["obs"], first.obs, rtol=1e-6)
    stats = agent.params["obs_norm"].stats
    flat = np.asarray(first.obs).reshape(-1, 2)
    np.testing.assert_allclose(stats.mean, flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, flat.var(0), rtol=1e-4)
    # The behaviour policy normalises with the same statistics the next update uses.
    expected = (np.asarray(second.obs[0]) - flat.mean(0)) / np.sqrt(flat.var(0) + EPSILON)
    actions, _ = algorithm.behaviour(agent, 1)(jax.random.key(2), second.obs[0])
    np.testing.assert_allclose(actions, expected.sum(-1), rtol=1e-4, atol=1e-5)
    agent, seen, _ = algorithm.update(jax.random.key(3), agent, second, 1)
    np.testing.assert_allclose(seen["obs"][0], np.clip(expected, -10, 10), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        seen["next_obs"],
        observe({"obs_norm": ObservationNormalizer(stats, jnp.float32(10))}, second.next_obs),
        rtol=1e-6,
    )
    assert float(agent.params["obs_norm"].stats.count) == 40
    # Rewards: scaled by the spread of discounted returns, frozen afterwards by scale_reward.
    np.testing.assert_allclose(seen["reward"], scale_reward(agent.params, second.reward), rtol=1e-6)
    assert float(np.std(seen["reward"])) < float(np.std(second.reward)) / 5


def test_evaluation_applies_the_trained_statistics_frozen():
    import jaxpg

    env, env_params = jaxpg.make_env("CartPole-v1")
    config = jaxpg.PPOConfig(
        num_envs=2, num_steps=16, total_timesteps=64, num_minibatches=2, normalize_observations=True
    )
    algorithm = config.make_algorithm(env, env_params)
    params = algorithm.init(jax.random.key(0)).params
    # Statistics that move every observation far: a policy that ignored them would balance
    # the pole as the untrained one does; with them, the first layer sees another input.
    shifted = params["obs_norm"]._replace(
        stats=RunningMeanStd(jnp.array([0.0, 0.0, 0.2, 0.0]), jnp.full(4, 1e-4), jnp.float32(1.0))
    )
    params = dict(params, obs_norm=shifted)
    params["policy"] = jax.tree.map(lambda x: x * 50, params["policy"])
    key = jax.random.key(1)
    returns = jaxpg.evaluate(config, env, env_params, params, key, 8, greedy=True)

    def by_hand(policy_params, obs):
        return algorithm.policy.apply(policy_params, shifted(obs))

    manual = jaxpg.evaluate(
        config,
        env,
        env_params,
        params["policy"],
        key,
        8,
        greedy=True,
        policy=jaxpg.Policy(algorithm.policy.init, by_hand),
    )
    ignored = jaxpg.evaluate(config, env, env_params, params["policy"], key, 8, greedy=True)
    np.testing.assert_array_equal(returns, manual)
    assert not np.array_equal(returns, ignored)
