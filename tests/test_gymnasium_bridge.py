"""The gymnasium bridge and host-side training: spaces, errors, truncation, the four algorithms."""

import gymnasium
import jax
import numpy as np
import pytest

import jaxpg
from jaxpg.algorithms.ppo import PPOConfig
from jaxpg.envs.gymnasium_bridge import GymnasiumEnv, HostEnvironmentError
from jaxpg.host_train import make_host_trainer, train_host
from jaxpg.networks import default_policy

# Small networks and few inner iterations keep each compile short.
SMALL_TRPO = jaxpg.TRPOConfig(
    num_envs=4,
    num_steps=32,
    total_timesteps=4 * 32 * 3,
    hidden_sizes=(16,),
    cg_iters=4,
    max_backtracks=4,
    value_epochs=2,
    value_minibatches=2,
)


def _assert_all_finite(metrics):
    """Every metric finite, except episode statistics before the first finished episode."""
    any_finished = np.cumsum(np.asarray(metrics["episodes_finished"]), axis=-1) > 0
    for name, value in metrics.items():
        value = np.asarray(value, np.float64)
        if name.startswith("episode_"):
            assert np.isnan(value[~any_finished]).all(), name
            value = value[any_finished]
        assert np.isfinite(value).all(), name


def test_make_env_describes_spaces_and_time_limit():
    env, env_params = jaxpg.make_env("gymnasium:CartPole-v1")
    assert isinstance(env, GymnasiumEnv)
    assert env.name == "gymnasium:CartPole-v1"
    assert env.STATE_COPYABLE is False
    assert env.observation_space(env_params).shape == (4,)
    assert env.action_space(env_params).n == 2
    assert env_params.max_steps_in_episode == 500
    _, short_params = jaxpg.make_env("gymnasium:CartPole-v1", max_episode_steps=7)
    assert short_params.max_steps_in_episode == 7


def test_box_and_discrete_observation_spaces():
    env, env_params = jaxpg.make_env("gymnasium:Pendulum-v1")
    action_space = env.action_space(env_params)
    assert action_space.shape == (1,)
    np.testing.assert_array_equal(env.host_action(np.array([[5.0], [-5.0]])), [[2.0], [-2.0]])
    lake, lake_params = jaxpg.make_env("gymnasium:FrozenLake-v1")
    assert lake.observation_space(lake_params).shape == (16,)
    np.testing.assert_array_equal(lake.host_observation(np.array([0, 3])).argmax(-1), [0, 3])


def test_unknown_and_deprecated_ids_raise_value_error():
    with pytest.raises(ValueError, match="Nope-v0"):
        jaxpg.make_env("gymnasium:Nope-v0")
    with pytest.raises(ValueError, match="LunarLander-v3"):
        jaxpg.make_env("gymnasium:LunarLander-v2")


def test_missing_box2d_says_how_to_install(monkeypatch):
    def make(*args, **kwargs):
        raise gymnasium.error.DependencyNotInstalled(
            'Box2D is not installed, you can install it by run `pip install "gymnasium[box2d]"`'
        )

    monkeypatch.setattr(gymnasium, "make", make)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[box2d\]"'):
        jaxpg.make_env("gymnasium:LunarLander-v3")


def test_jax_api_and_make_train_point_to_host_training():
    env, env_params = jaxpg.make_env("gymnasium:CartPole-v1")
    with pytest.raises(HostEnvironmentError, match="host_train"):
        env.reset(jax.random.key(0), env_params)
    # At make_train or, at the latest, when tracing the reset.
    with pytest.raises((HostEnvironmentError, ValueError), match="host"):
        jax.jit(jaxpg.make_train(SMALL_TRPO, env, env_params))(jax.random.key(0))
    jax_env, jax_params = jaxpg.make_env("CartPole-v1")
    with pytest.raises(ValueError, match="make_train"):
        make_host_trainer(SMALL_TRPO, jax_env, jax_params)


def test_vine_sampling_is_refused():
    env, env_params = jaxpg.make_env("gymnasium:CartPole-v1")
    vine = jaxpg.TRPOConfig(sampling="vine", num_envs=4, num_steps=32, total_timesteps=128)
    with pytest.raises(ValueError, match="single_path"):
        make_host_trainer(vine, env, env_params)


def test_rollout_keeps_truncation_apart_from_termination():
    # A time limit of 12 steps: random CartPole episodes both fall (terminated) and get cut.
    env, env_params = jaxpg.make_env("gymnasium:CartPole-v1", max_episode_steps=12)
    config = jaxpg.TRPOConfig(num_envs=8, num_steps=64, total_timesteps=512, hidden_sizes=(4,))
    with make_host_trainer(config, env, env_params) as trainer:
        state = trainer.init(jax.random.key(0))
        trajectory, stats = trainer.rollout(state.agent, state.iteration, jax.random.key(1))
    assert trajectory.obs.shape == trajectory.next_obs.shape == (64, 8, 4)
    assert trajectory.action.shape == trajectory.log_prob.shape == trajectory.reward.shape
    assert trajectory.terminated.shape == trajectory.truncated.shape == (64, 8)
    assert trajectory.terminated.any() and trajectory.truncated.any()
    # Replay episode lengths: truncation exactly at the 12th step of an episode.
    length, length_sum = np.zeros(8, int), 0
    for t in range(64):
        length += 1
        np.testing.assert_array_equal(trajectory.truncated[t], length == 12)
        length_sum += length[trajectory.done[t]].sum()
        length[trajectory.done[t]] = 0
    # next_obs is the real final observation at an episode end, the next obs elsewhere.
    done = trajectory.done[:-1]
    np.testing.assert_array_equal(trajectory.next_obs[:-1][~done], trajectory.obs[1:][~done])
    assert not np.isclose(trajectory.next_obs[:-1][done], trajectory.obs[1:][done]).all(-1).any()
    final = trajectory.next_obs[trajectory.terminated]
    assert ((np.abs(final[:, 0]) > 2.4) | (np.abs(final[:, 2]) > 0.2095)).all()
    assert stats.count == int(trajectory.done.sum())
    assert stats.length_sum == length_sum


def test_train_host_trpo_metrics_match_the_jax_path_and_reproduce():
    env, env_params = jaxpg.make_env("gymnasium:CartPole-v1")
    with make_host_trainer(SMALL_TRPO, env, env_params) as trainer:
        first, metrics = trainer.run(trainer.init(jax.random.key(0)), 3)
        again, metrics_again = trainer.run(trainer.init(jax.random.key(0)), 3)
    _assert_all_finite(metrics)
    jax_env, jax_params = jaxpg.make_env("CartPole-v1")
    jax_result = jax.eval_shape(
        jaxpg.make_train(SMALL_TRPO, jax_env, jax_params), jax.random.key(0)
    )
    assert set(metrics) == set(jax_result.metrics)
    for name, value in metrics.items():
        assert value.shape == (3,), name
        assert value.dtype == jax_result.metrics[name].dtype, name
        np.testing.assert_array_equal(value, metrics_again[name], err_msg=name)
    np.testing.assert_array_equal(metrics["env_steps"], [128, 256, 384])
    assert (metrics["skipped_updates"] == 0).all()
    assert int(first.iteration) == 3 and first.env_steps.value() == 384
    for a, b in zip(
        jax.tree.leaves(first.agent.params), jax.tree.leaves(again.agent.params), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    returns = jaxpg.evaluate(
        SMALL_TRPO, env, env_params, first.agent.params, jax.random.key(2), 3, max_steps=20
    )
    assert returns.shape == (3,) and (np.asarray(returns) <= 20).all()


@pytest.mark.parametrize(
    "env_id, config",
    [
        (
            "CartPole-v1",
            jaxpg.TRPOConfig(
                line_search=False,
                num_envs=2,
                num_steps=16,
                total_timesteps=64,
                hidden_sizes=(8,),
                cg_iters=3,
                value_epochs=1,
                value_minibatches=1,
            ),
        ),
        (
            "CartPole-v1",
            jaxpg.ActorCriticConfig(
                num_envs=2, num_steps=16, total_timesteps=64, hidden_sizes=(8,), value_steps=1
            ),
        ),
        (
            "Pendulum-v1",
            PPOConfig(
                num_envs=2,
                num_steps=16,
                total_timesteps=64,
                hidden_sizes=(8,),
                num_epochs=1,
                num_minibatches=1,
            ),
        ),
    ],
    ids=["npg", "actor_critic", "ppo_box"],
)
def test_other_algorithms_train_on_the_host(env_id, config):
    env, env_params = jaxpg.make_env(f"gymnasium:{env_id}")
    result = train_host(config, env, env_params, jax.random.key(0))
    _assert_all_finite(result.metrics)
    assert result.metrics["episode_return"].shape == (2,)
    assert "policy" in result.params


@pytest.mark.filterwarnings("ignore:.*reward is a NaN")
def test_non_finite_reward_skips_the_update():
    gymnasium.register(
        "jaxpg-test/NaNReward-v0",
        entry_point=lambda: gymnasium.wrappers.TransformReward(
            gymnasium.make("CartPole-v1"), lambda reward: float("nan")
        ),
    )
    env, env_params = jaxpg.make_env("gymnasium:jaxpg-test/NaNReward-v0")
    config = jaxpg.ActorCriticConfig(
        num_envs=2, num_steps=8, total_timesteps=16, hidden_sizes=(4,), value_steps=1
    )
    with make_host_trainer(config, env, env_params) as trainer:
        state = trainer.init(jax.random.key(0))
        new_state, metrics = trainer.run(state, 1)
    assert metrics["skipped_updates"].tolist() == [1]
    for a, b in zip(
        jax.tree.leaves(state.agent.params), jax.tree.leaves(new_state.agent.params), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_lunarlander_smoke():
    pytest.importorskip("Box2D")
    env, env_params = jaxpg.make_env("gymnasium:LunarLander-v3")
    assert env.observation_space(env_params).shape == (8,)
    assert env.action_space(env_params).n == 4
    assert env_params.max_steps_in_episode == 1000
    # The update is CartPole's (tested above); here the Box2D environment, the bridge and the
    # jitted policy: one rollout, then a short evaluation.
    config = jaxpg.TRPOConfig(num_envs=2, num_steps=64, total_timesteps=128, hidden_sizes=(8,))
    with make_host_trainer(config, env, env_params) as trainer:
        state = trainer.init(jax.random.key(0))
        trajectory, _ = trainer.rollout(state.agent, state.iteration, jax.random.key(1))
    assert trajectory.obs.shape == (64, 2, 8) and trajectory.obs.dtype == np.float32
    assert np.isfinite(trajectory.reward).all() and np.isfinite(trajectory.log_prob).all()
    returns = jaxpg.evaluate(
        config, env, env_params, state.agent.params, jax.random.key(2), 2, max_steps=50
    )
    assert returns.shape == (2,) and np.isfinite(np.asarray(returns)).all()


def test_host_evaluation_refuses_parameters_of_another_network():
    env, env_params = jaxpg.make_env("gymnasium:CartPole-v1")
    small = jaxpg.TRPOConfig(hidden_sizes=(8,))
    params = default_policy(small, env, env_params).init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"hidden_sizes=\(64, 64\).*shape \(4, 8\), expected"):
        jaxpg.evaluate(jaxpg.TRPOConfig(), env, env_params, params, jax.random.key(1), 2)
