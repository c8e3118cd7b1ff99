"""Tests for jaxpg.algorithms.ppo: the loss by hand, minibatching, truncation, jit, learning."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import spaces

import jaxpg
from jaxpg.algorithms.ppo import Minibatch, PPOConfig, make_optimizer, ppo_loss, shuffle_minibatches
from jaxpg.envs.base import Environment
from jaxpg.train import make_train


@struct.dataclass
class ProbeState:
    time: jax.Array


@struct.dataclass
class ProbeParams:
    terminal: bool = False
    max_steps_in_episode: int = 10


class TimeLimitProbe(Environment):
    """Reward 1 every step; the observation is ``time / limit``; the episode ends at the limit.

    With ``params.terminal=False`` the limit is a truncation (a time limit the value must
    bootstrap through: the true value of every state is ``1 / (1 - gamma)``); with
    ``terminal=True`` the same step is a real termination (the value of the last state is 1).
    """

    DETERMINISTIC_TRANSITIONS = True

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams()

    def step_env(self, key, state, action, params):
        state = ProbeState(time=state.time + 1)
        terminated = self.is_terminated(state, params)
        return self.get_obs(state, params), state, jnp.float32(1.0), terminated, {}

    def reset_env(self, key, params):
        state = ProbeState(time=jnp.int32(0))
        return self.get_obs(state, params), state

    def get_obs(self, state, params=None, key=None):
        return jnp.array([state.time / params.max_steps_in_episode], jnp.float32)

    def is_terminated(self, state, params):
        return jnp.logical_and(params.terminal, state.time >= params.max_steps_in_episode)

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)


def _linear_setup(seed=0, n=8, obs_dim=3, num_actions=4):
    """A linear softmax policy and linear value network on a random discrete batch."""
    config = PPOConfig(hidden_sizes=())
    key = jax.random.key(seed)
    k_policy, k_value, k_obs, k_act = jax.random.split(key, 4)
    obs = np.asarray(jax.random.normal(k_obs, (n, obs_dim)))
    action = np.asarray(jax.random.randint(k_act, (n,), 0, num_actions))
    policy = jaxpg.networks.make_policy(spaces.Discrete(num_actions), (obs_dim,), hidden_sizes=())
    value_net = jaxpg.networks.make_value_network((obs_dim,), hidden_sizes=())
    params = {"policy": policy.init(k_policy), "value": value_net.init(k_value)}
    # The policy head starts near uniform (gain 0.01); spread it so log-probs differ.
    params["policy"] = jax.tree.map(lambda x: x * 100.0, params["policy"])
    return config, policy, value_net, params, obs, action


def _hand_log_probs(params, obs, action):
    dense = params["policy"]["params"]["Dense_0"]
    logits = obs @ np.asarray(dense["kernel"]) + np.asarray(dense["bias"])
    logits = logits - logits.max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    entropy = -(np.exp(log_probs) * log_probs).sum(-1)
    return log_probs[np.arange(len(action)), action], entropy


def _hand_values(params, obs):
    dense = params["value"]["params"]["Dense_0"]
    return (obs @ np.asarray(dense["kernel"]) + np.asarray(dense["bias"]))[:, 0]


@pytest.mark.parametrize("clip_value", [False, True])
@pytest.mark.parametrize("normalize_advantages", [False, True])
def test_loss_matches_hand_computation(clip_value, normalize_advantages):
    config, policy, value_net, params, obs, action = _linear_setup()
    config = dataclasses.replace(
        config,
        clip_value=clip_value,
        normalize_advantages=normalize_advantages,
        clip_eps=0.2,
        vf_coef=0.7,
        ent_coef=0.03,
    )
    log_prob, entropy = _hand_log_probs(params, obs, action)
    # Ratios on both sides of [0.8, 1.2] with advantages of both signs.
    ratio = np.array([0.5, 0.9, 1.1, 1.5, 1.0, 0.7, 1.3, 1.25])
    advantage = np.array([1.0, -2.0, 0.5, 3.0, -1.0, -0.5, -2.5, 1.5])
    old_log_prob = log_prob - np.log(ratio)
    value = _hand_values(params, obs)
    old_value = value + np.array([0.5, -0.5, 0.1, -0.1, 0.3, -0.3, 0.0, 1.0])
    target = value + np.array([1.0, -1.0, 0.2, 0.4, -0.6, 0.0, 2.0, 0.9])
    minibatch = Minibatch(
        obs=jnp.asarray(obs, jnp.float32),
        action=jnp.asarray(action),
        log_prob=jnp.asarray(old_log_prob, jnp.float32),
        value=jnp.asarray(old_value, jnp.float32),
        advantage=jnp.asarray(advantage, jnp.float32),
        target=jnp.asarray(target, jnp.float32),
    )
    loss, metrics = ppo_loss(params, minibatch, config, policy, value_net)

    a = advantage
    if normalize_advantages:
        a = (a - a.mean()) / (a.std() + 1e-8)
    surrogate = [min(r * x, np.clip(r, 0.8, 1.2) * x) for r, x in zip(ratio, a, strict=True)]
    policy_loss = -np.mean(surrogate)
    squared = (value - target) ** 2
    if clip_value:
        clipped = old_value + np.clip(value - old_value, -0.2, 0.2)
        squared = np.maximum(squared, (clipped - target) ** 2)
    value_loss = 0.5 * squared.mean()
    expected = policy_loss - 0.03 * entropy.mean() + 0.7 * value_loss
    np.testing.assert_allclose(metrics["policy_loss"], policy_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["value_loss"], value_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["entropy"], entropy.mean(), rtol=1e-5)
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["clip_fraction"], np.mean(np.abs(ratio - 1) > 0.2))
    np.testing.assert_allclose(
        metrics["approx_kl"], np.mean(ratio - 1 - np.log(ratio)), rtol=1e-4, atol=1e-7
    )


@pytest.mark.parametrize("sign, has_gradient", [(1.0, False), (-1.0, True)])
def test_clipped_samples_carry_no_policy_gradient(sign, has_gradient):
    # Every ratio is 1.5; only sample 0 has an advantage. With A > 0 the clip is active (no
    # gradient); with A < 0 the unclipped term is the minimum (a gradient).
    config, policy, value_net, params, obs, action = _linear_setup()
    config = dataclasses.replace(config, ent_coef=0.0, vf_coef=0.0, normalize_advantages=False)
    log_prob, _ = _hand_log_probs(params, obs, action)
    advantage = np.zeros(len(action))
    advantage[0] = sign
    minibatch = Minibatch(
        obs=jnp.asarray(obs),
        action=jnp.asarray(action),
        log_prob=jnp.asarray(log_prob - np.log(1.5), jnp.float32),
        value=jnp.zeros(len(action)),
        advantage=jnp.asarray(advantage, jnp.float32),
        target=jnp.zeros(len(action)),
    )
    grads = jax.grad(lambda p: ppo_loss(p, minibatch, config, policy, value_net)[0])(params)
    norm = float(jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grads["policy"]))))
    assert (norm > 1e-6) == has_gradient, norm


def test_minibatches_cover_every_sample_once_per_epoch():
    num_samples, num_minibatches = 60, 4
    batch = {"index": jnp.arange(num_samples), "obs": jnp.arange(num_samples * 2).reshape(-1, 2)}
    orders = []
    for key in jax.random.split(jax.random.key(0), 3):
        minibatches = shuffle_minibatches(key, batch, num_minibatches)
        assert minibatches["index"].shape == (num_minibatches, num_samples // num_minibatches)
        assert minibatches["obs"].shape == (num_minibatches, num_samples // num_minibatches, 2)
        flat = np.asarray(minibatches["index"]).ravel()
        np.testing.assert_array_equal(np.sort(flat), np.arange(num_samples))
        # Leaves are permuted together.
        np.testing.assert_array_equal(np.asarray(minibatches["obs"])[..., 0].ravel(), 2 * flat)
        orders.append(flat)
    assert not np.array_equal(orders[0], np.arange(num_samples))
    assert not np.array_equal(orders[0], orders[1])


def test_validate_names_fields_when_minibatches_do_not_divide_the_batch():
    with pytest.raises(ValueError, match="num_minibatches=7.*num_envs.*num_steps"):
        PPOConfig(num_envs=5, num_steps=100, num_minibatches=7).validate()
    PPOConfig(num_envs=5, num_steps=100, num_minibatches=25).validate()


def test_annealed_learning_rate_reaches_zero():
    config = PPOConfig(
        num_envs=2,
        num_steps=5,
        total_timesteps=20,
        num_epochs=2,
        num_minibatches=5,
        anneal_lr=True,
        max_grad_norm=1e9,
    )
    optimizer = make_optimizer(config)
    params = jnp.zeros(3)
    state = optimizer.init(params)
    sizes = []
    for _ in range(config.num_updates + 1):
        updates, state = optimizer.update(jnp.ones(3), state, params)
        sizes.append(float(jnp.abs(updates).max()))
    assert config.num_updates == 2 * 2 * 5
    assert sizes[0] == pytest.approx(config.learning_rate, rel=1e-3)
    assert sizes[config.num_updates // 2] == pytest.approx(config.learning_rate / 2, rel=1e-2)
    assert sizes[-1] == 0.0


def test_truncation_bootstraps_and_termination_does_not():
    env = TimeLimitProbe()
    gamma = 0.9
    config = PPOConfig(
        num_envs=8,
        num_steps=50,
        num_epochs=4,
        num_minibatches=4,
        total_timesteps=24_000,
        gamma=gamma,
        gae_lambda=0.9,
        learning_rate=3e-3,
        hidden_sizes=(32,),
        max_grad_norm=10.0,
    )
    value_net = jaxpg.networks.default_critic(config, env, env.default_params)

    @jax.jit
    def last_state_value(env_params):
        result = make_train(config, env, env_params)(jax.random.key(0))
        limit = env_params.max_steps_in_episode
        return value_net.apply(result.params["value"], jnp.array([(limit - 1) / limit]))

    # Bootstrapped through the time limit the value is 1 / (1 - gamma) = 10 everywhere; had
    # the limit been treated as terminal it would be 1 here (the net smooths towards 1.9).
    truncated = float(last_state_value(ProbeParams(terminal=False)))
    assert truncated == pytest.approx(1.0 / (1.0 - gamma), rel=0.15), truncated
    # The same probe with a real termination at the limit: no bootstrap.
    terminated = float(last_state_value(ProbeParams(terminal=True)))
    assert 0.5 < terminated < 2.0, terminated


def _tiny_config(**kwargs):
    return PPOConfig(
        num_envs=2,
        num_steps=8,
        total_timesteps=32,
        num_epochs=2,
        num_minibatches=4,
        hidden_sizes=(8,),
        **kwargs,
    )


def test_jit_equals_no_jit():
    # Box actions (a Gaussian policy); the Discrete loss is checked by hand above.
    env, env_params = jaxpg.make_env("Pendulum-v1")
    train = make_train(_tiny_config(anneal_lr=True, clip_value=True), env, env_params)
    jitted = jax.jit(train)(jax.random.key(3))
    eager = train(jax.random.key(3))
    for a, b in zip(
        jax.tree.leaves((jitted.params, jitted.metrics)),
        jax.tree.leaves((eager.params, eager.metrics)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"):
        assert jitted.metrics[name].shape == (2,), name
    assert float(jitted.metrics["approx_kl"][-1]) > 0.0


def test_float_fields_stay_traced_under_vmap():
    env, env_params = jaxpg.make_env("CartPole-v1")
    config = _tiny_config(anneal_lr=True)

    traces = []

    def train(learning_rate, clip_eps):
        traces.append(1)
        swept = dataclasses.replace(config, learning_rate=learning_rate, clip_eps=clip_eps)
        return make_train(swept, env, env_params)(jax.random.key(0)).params

    sweep = jax.jit(jax.vmap(train))
    params = sweep(jnp.array([1e-4, 1e-2]), jnp.array([0.1, 0.3]))
    sweep(jnp.array([3e-4, 3e-2]), jnp.array([0.2, 0.2]))
    assert len(traces) == 1
    kernel = params["policy"]["params"]["Dense_0"]["kernel"]
    assert kernel.shape[0] == 2 and not np.allclose(kernel[0], kernel[1])


@pytest.mark.slow
def test_cartpole_learns_in_20k_steps():
    # Measured (3 x 10 seeds, defaults, 20k steps): means of 10 seeds 312-330 (seeds 214-452);
    # a random policy scores ~22.
    env, env_params = jaxpg.make_env("CartPole-v1")
    config = PPOConfig(total_timesteps=20_000)
    results = jax.jit(jax.vmap(make_train(config, env, env_params)))(
        jax.random.split(jax.random.key(0), 10)
    )
    returns = jax.jit(
        jax.vmap(lambda p, k: jaxpg.evaluate(config, env, env_params, p, k, num_episodes=32))
    )(results.params, jax.random.split(jax.random.key(1), 10)).mean(-1)
    assert int(results.metrics["skipped_updates"].sum()) == 0
    assert float(returns.mean()) > 200, returns


@pytest.mark.slow
def test_pendulum_trains_without_nan_and_improves():
    # Measured (10 seeds, this config, 40960 steps): evaluation -217..-485, training returns
    # from ~-1220 (iterations 2-4) to ~-410 (last iteration); a random policy scores ~-1230.
    env, env_params = jaxpg.make_env("Pendulum-v1")
    config = PPOConfig(
        num_envs=16,
        num_steps=128,
        num_minibatches=16,
        num_epochs=10,
        learning_rate=1e-3,
        gamma=0.9,
        ent_coef=0.0,
        total_timesteps=40_960,
    )
    results = jax.jit(jax.vmap(make_train(config, env, env_params)))(
        jax.random.split(jax.random.key(0), 2)
    )
    assert int(results.metrics["skipped_updates"].sum()) == 0
    assert all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(results.params))
    episode_return = np.asarray(results.metrics["episode_return"])  # [seeds, iterations]
    # Iteration 0 finishes no episode (128 steps < the 200-step limit): NaN, not a return.
    assert np.isnan(episode_return[:, 0]).all() and np.isfinite(episode_return[:, 1:]).all()
    early, late = episode_return[:, 1:4].mean(), episode_return[:, -2:].mean()
    assert late > early + 300, (early, late)
