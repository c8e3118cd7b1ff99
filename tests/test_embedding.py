"""Embedding jaxpg in other JAX code: networks passed in, duck-typed environments, light
imports, exact step counts and PRNG streams that never collide."""

import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg import checkpoint, networks
from jaxpg.bookkeeping import StepCount
from jaxpg.distributions import Categorical
from jaxpg.host_train import resume_reset_key
from jaxpg.train import init_keys, iteration_keys


class GatedTorso(nn.Module):
    """Not jaxpg's MLP: a layer-normalised gated layer, then the logits."""

    num_actions: int

    @nn.compact
    def __call__(self, obs):
        hidden = nn.LayerNorm()(nn.Dense(32)(obs))
        hidden = nn.relu(hidden) * nn.sigmoid(nn.Dense(32)(obs))
        return nn.Dense(self.num_actions, kernel_init=nn.initializers.zeros)(hidden)


def plain_linear_policy(obs_size, num_actions):
    """A policy as two plain functions over a dict of arrays (no flax)."""

    def init(key):
        return {"w": 0.01 * jax.random.normal(key, (obs_size, num_actions)), "b": jnp.zeros(2)}

    def apply(params, obs):
        return Categorical(logits=obs @ params["w"] + params["b"])

    return jaxpg.Policy(init, apply)


def quadratic_critic(obs_size):
    """A critic as plain functions: quadratic features, linear weights."""

    def init(key):
        return {"w": jnp.zeros(2 * obs_size), "b": jnp.zeros(())}

    def apply(params, obs):
        return jnp.concatenate([obs, obs**2], axis=-1) @ params["w"] + params["b"]

    return jaxpg.Critic(init, apply)


CONFIGS = {
    "trpo": jaxpg.TRPOConfig(num_envs=8, num_steps=128, total_timesteps=8 * 128 * 12),
    "ppo": jaxpg.PPOConfig(
        num_envs=8, num_steps=128, total_timesteps=8 * 128 * 12, num_minibatches=4
    ),
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def trained(request):
    """A run with a flax policy of another architecture and a plain-function critic."""
    config = CONFIGS[request.param]
    env, env_params = jaxpg.make_env("CartPole-v1")
    policy = networks.policy_from_module(GatedTorso(2), (4,), env.action_space(env_params))
    trainer = jaxpg.make_trainer(config, env, env_params, policy=policy, critic=quadratic_critic(4))
    run = jax.jit(trainer.run, static_argnums=1)
    state, metrics = run(trainer.init(jax.random.key(0)), config.num_iterations)
    return config, env, env_params, trainer, run, state, metrics


def test_a_custom_network_is_trained_and_evaluated(trained):
    config, env, env_params, trainer, _, state, metrics = trained
    params = state.agent.params
    assert "LayerNorm_0" in params["policy"]["params"]
    assert params["value"]["w"].shape == (8,)
    assert int(metrics["skipped_updates"].sum()) == 0
    key = jax.random.key(1)
    returns = jaxpg.evaluate(
        config, env, env_params, params, key, 32, greedy=True, policy=trainer.algorithm.policy
    )
    # A uniform policy balances CartPole for about 22 steps; 12 iterations do far better.
    assert float(returns.mean()) > 100, returns
    # Without the network, evaluate would rebuild the config's MLP: refused, with the fix named.
    with pytest.raises(ValueError, match=r"policy= \(trainer.algorithm.policy\)"):
        jaxpg.evaluate(config, env, env_params, params, key, 2)


def test_a_custom_network_checkpoints_restores_and_continues_identically(trained, tmp_path):
    config, _, _, trainer, run, state, metrics = trained
    path = tmp_path / "run.msgpack"
    checkpoint.save(path, state, config=config, metrics=metrics)
    restored = checkpoint.restore(path, trainer.template, config=config)
    for a, b in zip(
        jax.tree.leaves(state.agent), jax.tree.leaves(restored.state.agent), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(restored.metrics["episode_return"], metrics["episode_return"])
    _, expected = run(state, 1)
    _, again = run(restored.state, 1)
    for name in expected:
        np.testing.assert_array_equal(np.asarray(again[name]), np.asarray(expected[name]), name)


def test_a_plain_function_policy_trains_on_the_host_too():
    env, env_params = jaxpg.make_env("gymnasium:CartPole-v1")
    config = jaxpg.TRPOConfig(num_envs=4, num_steps=64, total_timesteps=4 * 64 * 2)
    policy = plain_linear_policy(4, 2)
    result = jaxpg.host_train.train_host(
        config, env, env_params, jax.random.key(0), policy=policy, critic=quadratic_critic(4)
    )
    assert set(result.params["policy"]) == {"w", "b"}
    assert not np.allclose(
        result.params["policy"]["w"], policy.init(init_keys(jax.random.key(0))[0])["w"]
    )
    returns = jaxpg.evaluate(
        config, env, env_params, result.params, jax.random.key(1), 3, policy=policy, max_steps=20
    )
    assert returns.shape == (3,) and bool((returns >= 1).all())


def test_config_network_fields_apply_to_every_algorithm():
    env, env_params = jaxpg.make_env("Pendulum-v1")
    for config_class in (
        jaxpg.VPGConfig,
        jaxpg.ActorCriticConfig,
        jaxpg.TRPOConfig,
        jaxpg.PPOConfig,
    ):
        config = config_class(init_log_std=-1.5, hidden_sizes=(16,), value_hidden_sizes=())
        algorithm = config.make_algorithm(env, env_params)
        params = algorithm.init(jax.random.key(0)).params
        dist = algorithm.policy.apply(params["policy"], jnp.zeros((5, 3)))
        np.testing.assert_allclose(np.asarray(dist.log_std), -1.5)
        if algorithm.critic is not None:  # a linear critic under a hidden-layer policy
            kernels = [leaf.shape for leaf in jax.tree.leaves(params["value"]) if leaf.ndim == 2]
            assert kernels == [(3, 1)], (config_class.__name__, kernels)


class DuckCartPole:
    """gymnax's environment API by duck typing: no gymnax base class."""

    def __init__(self, final_observation=True):
        self.inner, _ = jaxpg.make_env("CartPole-v1")
        self.final_observation = final_observation
        self.name = "DuckCartPole"

    def reset(self, key, params):
        return self.inner.reset(key, params)

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.inner.step(
            key, state, action, params
        )
        if not self.final_observation:
            info = {}
        return obs, state, reward, terminated, truncated, info

    def observation_space(self, params):
        return self.inner.observation_space(params)

    def action_space(self, params):
        return self.inner.action_space(params)


def test_a_duck_typed_environment_trains_or_is_refused_clearly():
    _, env_params = jaxpg.make_env("CartPole-v1")
    config = jaxpg.PPOConfig(
        num_envs=2, num_steps=16, total_timesteps=64, hidden_sizes=(8,), num_minibatches=2
    )
    result = jax.jit(jaxpg.make_train(config, DuckCartPole(), env_params))(jax.random.key(0))
    assert result.metrics["env_steps"].shape == (2,)
    with pytest.raises(
        ValueError, match=r'DuckCartPole.step must put .* info\["final_observation"\]'
    ):
        jaxpg.make_train(config, DuckCartPole(final_observation=False), env_params)

    class NoSpaces:
        name = "NoSpaces"
        reset = step = DuckCartPole.reset

    with pytest.raises(ValueError, match="NoSpaces lacks observation_space, action_space"):
        jaxpg.make_train(config, NoSpaces(), env_params)


def test_step_count_stays_exact_past_2_to_the_31():
    count = StepCount.zero().add(2**30 - 3)
    count = count.add(7)  # carries into the high word
    assert count.value() == 2**30 + 4 and int(count.low) == 4
    env, env_params = jaxpg.make_env("CartPole-v1")
    config = jaxpg.VPGConfig(num_envs=4, num_steps=8, total_timesteps=64, hidden_sizes=(4,))
    trainer = jaxpg.make_trainer(config, env, env_params)
    state = trainer.init(jax.random.key(0))
    start = 2**31 - 40  # an int32 counter would wrap during the second iteration
    near = StepCount(jnp.int32(start >> 30), jnp.int32(start & (2**30 - 1)))
    state = state._replace(progress=state.progress._replace(env_steps=near))
    state, metrics = jax.jit(trainer.run, static_argnums=1)(state, 3)
    assert state.env_steps.value() == start + 3 * 32
    np.testing.assert_allclose(np.asarray(metrics["env_steps"]), start + np.arange(1, 4) * 32.0)


def test_prng_streams_never_collide():
    """Every key a run hands out (init, three iterations, a host resume) is distinct. With
    jax_threefry_partitionable, fold_in(k, i) == split(k, n)[i]: a scheme mixing the two
    collides, and this test catches it."""
    agent_key, reset_key, carried = init_keys(jax.random.key(0))
    used = {"agent": agent_key, "reset": reset_key}
    for iteration in range(3):
        used[f"resume{iteration}"] = resume_reset_key(carried)
        carried, rollout_key, update_key = iteration_keys(carried)
        used[f"rollout{iteration}"], used[f"update{iteration}"] = rollout_key, update_key
        used[f"carried{iteration}"] = carried
    data = {
        name: tuple(np.asarray(jax.random.key_data(key)).tolist()) for name, key in used.items()
    }
    assert len(set(data.values())) == len(data), data


def test_light_modules_import_no_environment_or_plotting_library():
    script = textwrap.dedent(
        """
        import sys
        import jaxpg, jaxpg.advantages, jaxpg.natural_gradient, jaxpg.distributions
        import jaxpg.rollout, jaxpg.train, jaxpg.networks
        heavy = ("gymnax", "gymnasium", "matplotlib", "seaborn", "PIL", "brax")
        print(sorted(name for name in heavy if name in sys.modules))
        jaxpg.make_env("Pendulum-v1")  # a public name loads on first use, gymnax when needed
        print("gymnax" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "[]", out
    assert out[1] == "True", out
