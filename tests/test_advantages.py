"""Every advantage function against a plain Python loop, on random data with random flags."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpg import advantages as adv

T, B = 37, 5


def _random_batch(seed):
    rng = np.random.default_rng(seed)
    reward = rng.normal(size=(T, B)).astype(np.float32)
    value = rng.normal(size=(T, B)).astype(np.float32)
    next_value = rng.normal(size=(T, B)).astype(np.float32)
    terminated = rng.random((T, B)) < 0.1
    truncated = (rng.random((T, B)) < 0.1) & ~terminated
    log_prob = -rng.random((T, B)).astype(np.float32)
    return reward, value, next_value, terminated, truncated, log_prob


def _loop_reward_to_go(reward, terminated, truncated, next_value, gamma):
    out = np.zeros_like(reward, dtype=np.float64)
    for b in range(reward.shape[1]):
        for t in range(reward.shape[0]):
            # Walk forward to the end of the episode segment, then bootstrap if allowed.
            total, discount, k = 0.0, 1.0, t
            while True:
                total += discount * reward[k, b]
                discount *= gamma
                if terminated[k, b]:
                    break
                if truncated[k, b] or k == reward.shape[0] - 1:
                    total += discount * next_value[k, b]
                    break
                k += 1
            out[t, b] = total
    return out


def _loop_gae(reward, value, next_value, terminated, truncated, gamma, lam):
    out = np.zeros_like(reward, dtype=np.float64)
    for b in range(reward.shape[1]):
        future = 0.0
        for t in reversed(range(reward.shape[0])):
            delta = reward[t, b] + gamma * (1 - terminated[t, b]) * next_value[t, b] - value[t, b]
            done = terminated[t, b] or truncated[t, b]
            future = delta + (0.0 if done else gamma * lam * future)
            out[t, b] = future
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_reward_to_go_matches_loop(seed, gamma):
    reward, _, next_value, terminated, truncated, _ = _random_batch(seed)
    got = adv.reward_to_go(
        jnp.asarray(reward),
        jnp.asarray(terminated),
        jnp.asarray(truncated),
        jnp.asarray(next_value),
        gamma,
    )
    expected = _loop_reward_to_go(reward, terminated, truncated, next_value, gamma)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_episode_returns_matches_loop(seed):
    reward, _, next_value, terminated, truncated, _ = _random_batch(seed)
    gamma = 0.95
    got = np.asarray(
        adv.episode_returns(
            jnp.asarray(reward),
            jnp.asarray(terminated),
            jnp.asarray(truncated),
            jnp.asarray(next_value),
            gamma,
        )
    )
    to_go = _loop_reward_to_go(reward, terminated, truncated, next_value, gamma)
    for b in range(B):
        start = 0
        for t in range(T):
            np.testing.assert_allclose(got[t, b], to_go[start, b], rtol=1e-5, atol=1e-4)
            if terminated[t, b] or truncated[t, b]:
                start = t + 1


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_gae_matches_loop(seed, lam):
    reward, value, next_value, terminated, truncated, _ = _random_batch(seed)
    advantages, returns = adv.gae(
        jnp.asarray(reward),
        jnp.asarray(value),
        jnp.asarray(next_value),
        jnp.asarray(terminated),
        jnp.asarray(truncated),
        0.97,
        lam,
    )
    expected = _loop_gae(reward, value, next_value, terminated, truncated, 0.97, lam)
    np.testing.assert_allclose(np.asarray(advantages), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(returns), expected + value, rtol=1e-5, atol=1e-4)


def test_gae_lambda_zero_is_td_error_and_one_is_return_minus_value():
    reward, value, next_value, terminated, truncated, _ = _random_batch(7)
    # Consistent values: inside an episode V(next_obs_t) is V(obs_{t+1}) (the telescoping
    # that makes GAE(1) the return needs it); at episode ends next_value stays independent.
    done = terminated | truncated
    next_value[:-1] = np.where(done[:-1], next_value[:-1], value[1:])
    args = [jnp.asarray(x) for x in (reward, value, next_value, terminated, truncated)]
    td = adv.td_errors(args[0], args[1], args[2], args[3], 0.9)
    gae0, _ = adv.gae(*args, 0.9, 0.0)
    np.testing.assert_allclose(np.asarray(gae0), np.asarray(td), rtol=1e-6)
    gae1, _ = adv.gae(*args, 0.9, 1.0)
    returns = adv.reward_to_go(args[0], args[3], args[4], args[2], 0.9)
    np.testing.assert_allclose(np.asarray(gae1), np.asarray(returns) - value, rtol=1e-4, atol=1e-4)


def test_truncation_bootstraps_and_termination_does_not():
    reward = jnp.ones((3, 1))
    next_value = jnp.full((3, 1), 10.0)
    value = jnp.zeros((3, 1))
    no = jnp.zeros((3, 1), bool)
    end = jnp.array([[False], [True], [False]])
    truncated_rtg = adv.reward_to_go(reward, no, end, next_value, 0.5)
    terminated_rtg = adv.reward_to_go(reward, end, no, next_value, 0.5)
    # Step 1 ends the episode: truncation adds gamma * V(final obs), termination adds nothing.
    assert float(truncated_rtg[1, 0]) == pytest.approx(1.0 + 0.5 * 10.0)
    assert float(terminated_rtg[1, 0]) == pytest.approx(1.0)
    # Nothing leaks across the boundary: step 0 sees only its own episode.
    assert float(terminated_rtg[0, 0]) == pytest.approx(1.5)
    # The last step is cut by the batch and bootstraps.
    assert float(terminated_rtg[2, 0]) == pytest.approx(1.0 + 0.5 * 10.0)
    gae_trunc, _ = adv.gae(reward, value, next_value, no, end, 0.5, 1.0)
    gae_term, _ = adv.gae(reward, value, next_value, end, no, 0.5, 1.0)
    assert float(gae_trunc[1, 0]) == pytest.approx(6.0)
    assert float(gae_term[1, 0]) == pytest.approx(1.0)


def test_soft_rewards_subtract_entropy_term():
    reward, _, _, _, _, log_prob = _random_batch(3)
    got = adv.soft_rewards(jnp.asarray(reward), jnp.asarray(log_prob), 0.5)
    np.testing.assert_allclose(np.asarray(got), reward - 0.5 * log_prob, rtol=1e-6)
    # log pi < 0, so the soft reward exceeds the reward: entropy is a bonus, not a penalty.
    assert np.all(np.asarray(got) >= reward)


def test_jit_equals_no_jit_and_any_batch_shape():
    reward, value, next_value, terminated, truncated, _ = _random_batch(4)
    args = [jnp.asarray(x) for x in (reward, value, next_value, terminated, truncated)]
    eager = adv.gae(*args, 0.99, 0.95)
    jitted = jax.jit(adv.gae)(*args, 0.99, 0.95)
    # Equal up to float32 rounding (XLA fuses the jitted arithmetic differently).
    np.testing.assert_allclose(np.asarray(eager[0]), np.asarray(jitted[0]), rtol=1e-6, atol=1e-6)
    single = adv.gae(*[a[:, 0] for a in args], 0.99, 0.95)  # [T] only
    np.testing.assert_allclose(np.asarray(single[0]), np.asarray(eager[0][:, 0]), rtol=1e-6)
