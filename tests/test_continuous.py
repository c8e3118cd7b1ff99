"""Continuous control end to end: a Brax task through the adapter, learned only with running
observation normalisation; and the presets are valid configs."""

import jax
import numpy as np
import pytest

import jaxpg
from jaxpg import presets

pytest.importorskip("brax")

#: Observations far off the scale a tanh network can read: without normalisation the first
#: layer saturates and the policy cannot tell the states apart.
SCALE, OFFSET = 200.0, 500.0


class BadlyScaled:
    """A gymnax-API environment whose observations are ``obs * SCALE + OFFSET``."""

    def __init__(self, env):
        self.env = env
        self.name = f"{env.name}*{SCALE:g}+{OFFSET:g}"

    def _scale(self, obs):
        return obs * SCALE + OFFSET

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return self._scale(obs), state

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = dict(info, final_observation=self._scale(info["final_observation"]))
        return self._scale(obs), state, reward, terminated, truncated, info

    def observation_space(self, params):
        return self.env.observation_space(params)

    def action_space(self, params):
        return self.env.action_space(params)


CONFIG = jaxpg.TRPOConfig(
    num_envs=16,
    num_steps=64,
    total_timesteps=16 * 64 * 30,
    hidden_sizes=(32, 32),
    value_minibatches=4,
    value_epochs=10,
    gamma=0.99,
    gae_lambda=0.95,
    max_kl=0.02,
    fisher_subsample=1.0,
)


@pytest.fixture(scope="module")
def pendulum():
    env, env_params = jaxpg.make_env("brax:inverted_pendulum", backend="spring", max_steps=200)
    return BadlyScaled(env), env_params


#: Seeds per configuration: one seed's evaluation ranges from about 80 to 200 steps, their mean
#: is what normalisation is judged on.
NUM_SEEDS = 6


def _train_and_evaluate(config, env, env_params):
    """Trains ``NUM_SEEDS`` seeds in one vmapped call; the mean over seeds of 16 evaluation
    episodes each."""
    keys = jax.random.split(jax.random.key(0), NUM_SEEDS)
    result = jax.jit(jax.vmap(jaxpg.make_train(config, env, env_params)))(keys)
    returns = [
        jaxpg.evaluate(
            config,
            env,
            env_params,
            jax.tree.map(lambda x, i=i: x[i], result.params),
            jax.random.key(1),
            16,
        ).mean()
        for i in range(NUM_SEEDS)
    ]
    return result, float(np.mean(returns))


def test_trpo_balances_a_badly_scaled_brax_pendulum_only_with_normalisation(pendulum):
    env, env_params = pendulum
    result, normalised = _train_and_evaluate(
        CONFIG.replace(normalize_observations=True), env, env_params
    )
    # The statistics saw every observation of every rollout, on the environment's scale.
    stats = result.params["obs_norm"].stats
    np.testing.assert_array_equal(np.asarray(stats.count), CONFIG.total_timesteps)
    assert np.all(np.abs(np.asarray(stats.mean) - OFFSET) < 5 * SCALE)
    _, raw = _train_and_evaluate(CONFIG, env, env_params)
    # 200 steps is the most a pendulum can balance; a falling one lasts about 5-30, and
    # without normalisation the seeds' mean stays near 60.
    assert normalised >= 120, (normalised, raw)
    assert raw < 90, (normalised, raw)


def test_every_preset_is_a_valid_config():
    assert ("trpo", "brax:hopper") in presets.available()
    for algorithm, env_id in presets.available():
        config, env_kwargs = presets.config(algorithm, env_id)
        assert type(config) is presets.algorithms()[algorithm][0]
        assert config.num_iterations >= 1 and isinstance(env_kwargs, dict)
    config, env_kwargs = presets.config("trpo", "brax:hopper", max_kl=0.02)
    assert (
        config.max_kl == 0.02
        and config.normalize_observations
        and env_kwargs == {"backend": "positional"}
    )
    with pytest.raises(ValueError, match="TRPOConfig has no field"):
        presets.config("trpo", "brax:hopper", learning_rate=1.0)
