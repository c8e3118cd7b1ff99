"""CartPole parity with gymnasium's classic `CartPoleEnv`, one injected state at a time.

Long replayed trajectories are not compared: the dynamics are chaotic and float32 (JAX) and
float64 (gymnasium) drift apart. Each check injects the same state into both and takes one step.
"""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

import jaxpg
from jaxpg.envs.cartpole import CartPoleState

NUM_STATES = 4000


def _random_states(rng, n):
    # Spread over and beyond the failure thresholds so that termination both fires and doesn't.
    scale = np.array([3.0, 3.0, 0.3, 3.0])
    return (rng.uniform(-1, 1, size=(n, 4)) * scale).astype(np.float32)


def test_step_matches_gymnasium_on_injected_states():
    rng = np.random.default_rng(0)
    states = _random_states(rng, NUM_STATES)
    actions = rng.integers(0, 2, NUM_STATES)
    env, params = jaxpg.make_env("CartPole-v1")

    def step(state, action):
        s = CartPoleState(
            x=state[0], x_dot=state[1], theta=state[2], theta_dot=state[3], time=jnp.int32(0)
        )
        obs, _, reward, terminated, _ = env.step_env(jax.random.key(0), s, action, params)
        return obs, reward, terminated

    obs, reward, terminated = jax.jit(jax.vmap(step))(jnp.asarray(states), jnp.asarray(actions))
    obs, reward, terminated = map(np.asarray, (obs, reward, terminated))

    reference = CartPoleEnv()
    reference.reset(seed=0)
    ref_obs = np.empty_like(states)
    ref_reward = np.empty(NUM_STATES)
    ref_terminated = np.empty(NUM_STATES, bool)
    for i in range(NUM_STATES):
        reference.state = states[i].astype(np.float64)
        reference.steps_beyond_terminated = None
        ref_obs[i], ref_reward[i], ref_terminated[i], _, _ = reference.step(int(actions[i]))

    np.testing.assert_allclose(obs, ref_obs, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(reward, ref_reward)
    # Termination may only disagree where float32 and float64 straddle a threshold.
    disagree = terminated != ref_terminated
    margin = np.minimum(
        np.abs(np.abs(ref_obs[:, 0]) - params.x_threshold),
        np.abs(np.abs(ref_obs[:, 2]) - params.theta_threshold_radians),
    )
    assert np.all(margin[disagree] < 1e-5)
    assert 0.2 < ref_terminated.mean() < 0.8  # both outcomes are exercised


def test_reset_distribution_and_time_limits_match_gymnasium():
    env, params = jaxpg.make_env("CartPole-v1")
    obs, _ = jax.vmap(env.reset, (0, None))(jax.random.split(jax.random.key(0), 20000), params)
    # The batched reset (one draw for all environments) has the same distribution.
    batch_obs, batch_state = env.reset_batch(jax.random.key(1), 20000, params)
    np.testing.assert_array_equal(np.asarray(batch_state.time), 0)
    np.testing.assert_array_equal(batch_obs, jax.vmap(env.get_obs)(batch_state))
    for sample in (np.asarray(obs), np.asarray(batch_obs)):
        assert sample.min() >= -0.05 and sample.max() <= 0.05
        np.testing.assert_allclose(sample.mean(0), 0.0, atol=2e-3)
        np.testing.assert_allclose(sample.std(0), 0.1 / np.sqrt(12), rtol=0.03)  # uniform
        correlation = np.corrcoef(sample.T)  # the four variables are independent draws
        np.testing.assert_allclose(correlation, np.eye(4), atol=0.03)
    for env_id, limit in [("CartPole-v0", 200), ("CartPole-v1", 500)]:
        spec = gymnasium.spec(env_id)
        assert spec.max_episode_steps == limit
        assert jaxpg.make_env(env_id)[1].max_steps_in_episode == limit


def test_terminating_step_pays_one_and_truncation_keeps_going():
    env, params = jaxpg.make_env("CartPole-v0")
    key = jax.random.key(0)
    _, state = env.reset(key, params)
    falling = state.replace(theta=jnp.float32(0.2), theta_dot=jnp.float32(2.0))
    _, _, reward, terminated, truncated, info = env.step(key, falling, 1, params)
    assert bool(terminated) and not bool(truncated) and float(reward) == 1.0
    assert float(info["final_observation"][2]) > params.theta_threshold_radians
    at_limit = state.replace(time=jnp.int32(params.max_steps_in_episode - 1))
    obs, new_state, reward, terminated, truncated, _ = env.step(key, at_limit, 0, params)
    assert bool(truncated) and not bool(terminated) and int(new_state.time) == 0
