"""The gymnax 1.0 contract, checked on every registered environment and two gymnax ones."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg

ENV_IDS = [*jaxpg.envs.registered_envs(), "Pendulum-v1", "Acrobot-v1"]
SHORT_LIMIT = 7  # a small time limit so truncation is reached quickly


def _short(env_id):
    env, params = jaxpg.make_env(env_id)
    return env, params.replace(max_steps_in_episode=SHORT_LIMIT)


def _random_actions(env, params, key, shape):
    space = env.action_space(params)
    keys = jax.random.split(key, int(np.prod(shape)))
    return jax.vmap(space.sample)(keys).reshape(*shape, *space.shape)


def _run(env, params, key, num_steps, num_envs):
    """Steps `num_envs` environments `num_steps` times with random actions under jit(vmap)."""

    def episode(key):
        reset_key, action_key, step_key = jax.random.split(key, 3)
        obs, state = env.reset(reset_key, params)
        actions = _random_actions(env, params, action_key, (num_steps,))

        def body(carry, inputs):
            obs, state = carry
            key, action = inputs
            out = env.step(key, state, action, params)
            next_obs, next_state, reward, terminated, truncated, info = out
            record = (obs, next_obs, reward, terminated, truncated, info["final_observation"])
            return (next_obs, next_state), record

        keys = jax.random.split(step_key, num_steps)
        _, records = jax.lax.scan(body, (obs, state), (keys, actions))
        return records

    return jax.jit(jax.vmap(episode))(jax.random.split(key, num_envs))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_jit_vmap_shapes_and_spaces(env_id):
    env, params = _short(env_id)
    obs, next_obs, reward, terminated, truncated, final_obs = _run(
        env, params, jax.random.key(0), 3 * SHORT_LIMIT, 4
    )
    obs_shape = env.observation_space(params).shape
    assert obs.shape == (4, 3 * SHORT_LIMIT, *obs_shape)
    assert reward.shape == terminated.shape == truncated.shape == (4, 3 * SHORT_LIMIT)
    assert terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_
    space = env.observation_space(params)
    flat_obs = next_obs.reshape(-1, *obs_shape)
    assert bool(jax.vmap(space.contains)(flat_obs).all())
    assert bool(jax.vmap(space.contains)(final_obs.reshape(-1, *obs_shape)).all())
    assert np.isfinite(np.asarray(reward)).all()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_key_same_output_and_keys_matter(env_id):
    env, params = _short(env_id)
    first = _run(env, params, jax.random.key(3), 2 * SHORT_LIMIT, 3)
    second = _run(env, params, jax.random.key(3), 2 * SHORT_LIMIT, 3)
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(second), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    if env_id != "GridWorld-v0":  # the gridworld starts in a fixed cell, so only actions differ
        other = _run(env, params, jax.random.key(4), 2 * SHORT_LIMIT, 3)
        assert not np.array_equal(np.asarray(first[0]), np.asarray(other[0]))


@pytest.mark.parametrize("env_id", jaxpg.envs.registered_envs())
def test_batched_reset_has_the_shapes_of_single_resets_and_keys_matter(env_id):
    env, params = jaxpg.make_env(env_id)
    key = jax.random.key(3)
    batch = jax.jit(env.reset_batch, static_argnums=1)(key, 5, params)
    single = jax.eval_shape(env.reset, key, params)
    assert jax.tree.structure(batch) == jax.tree.structure(single)
    for leaf, one in zip(jax.tree.leaves(batch), jax.tree.leaves(single), strict=True):
        assert leaf.shape == (5, *one.shape) and leaf.dtype == one.dtype
    obs, _ = batch
    singles, _ = jax.vmap(env.reset, (0, None))(jax.random.split(key, 5), params)
    if np.unique(np.asarray(singles).reshape(5, -1), axis=0).shape[0] == 1:
        return  # a fixed initial state (the gridworld's start cell): nothing random to check
    assert np.unique(np.asarray(obs).reshape(5, -1), axis=0).shape[0] == 5
    other, _ = env.reset_batch(jax.random.key(4), 5, params)
    assert not np.array_equal(np.asarray(obs), np.asarray(other))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_truncation_fires_exactly_at_the_limit(env_id):
    env, params = _short(env_id)
    obs, next_obs, reward, terminated, truncated, final_obs = _run(
        env, params, jax.random.key(1), 3 * SHORT_LIMIT, 8
    )
    terminated, truncated = np.asarray(terminated), np.asarray(truncated)
    for row_terminated, row_truncated in zip(terminated, truncated, strict=True):
        length = 0
        for term, trunc in zip(row_terminated, row_truncated, strict=True):
            length += 1
            assert bool(trunc) == (length == SHORT_LIMIT and not term) or (term and trunc)
            if term or trunc:
                assert length <= SHORT_LIMIT
                length = 0
        # No episode may outlive the limit.
        assert length < SHORT_LIMIT


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_auto_reset_and_final_observation(env_id):
    env, params = _short(env_id)
    key = jax.random.key(2)
    obs, next_obs, reward, terminated, truncated, final_obs = _run(
        env, params, key, 3 * SHORT_LIMIT, 8
    )
    done = np.asarray(terminated | truncated)
    assert done.any()
    obs, next_obs, final_obs = map(np.asarray, (obs, next_obs, final_obs))
    # Where the episode continues, final_observation is the returned observation (to an ulp:
    # XLA may fuse the two copies of gymnax's Pendulum observation differently).
    np.testing.assert_allclose(final_obs[~done], next_obs[~done], rtol=1e-5, atol=1e-6)
    # The observation after a step feeds the next step.
    np.testing.assert_array_equal(obs[:, 1:], next_obs[:, :-1])
    # After an episode end the returned observation is a reset one: its time counter restarted,
    # so the next SHORT_LIMIT - 1 steps cannot be truncated.
    truncated = np.asarray(truncated)
    for env_index, step in zip(*np.nonzero(done[:, :-SHORT_LIMIT]), strict=True):
        window = truncated[env_index, step + 1 : step + SHORT_LIMIT]
        assert not window.any()


def test_gridworld_reset_observation_after_end_is_start_cell():
    env, params = _short("GridWorld-v0")
    obs, next_obs, _, terminated, truncated, final_obs = _run(env, params, jax.random.key(5), 20, 4)
    done = np.asarray(truncated)
    start = np.asarray(env.observe_cell(*np.asarray(params.start)), np.float32)
    for row in np.asarray(next_obs)[done]:
        np.testing.assert_array_equal(row, start)


def test_env_params_vmap_over_physics():
    env, params = jaxpg.make_env("CartPole-v1")
    lengths = jnp.array([0.25, 0.5, 1.0])
    batch = jax.vmap(lambda length: params.replace(length=length))(lengths)
    key = jax.random.key(0)

    def one(p):
        obs, state = env.reset(key, p)
        out = env.step(key, state, 1, p)
        return out[0]

    stepped = jax.jit(jax.vmap(one))(batch)
    loop = np.stack([np.asarray(one(params.replace(length=float(v)))) for v in lengths])
    np.testing.assert_allclose(np.asarray(stepped), loop, rtol=1e-6, atol=1e-7)
    assert not np.allclose(loop[0, 3], loop[2, 3])


def test_make_env_unknown_id_lists_known_ones():
    with pytest.raises(ValueError, match="CartPole-v1.*GridWorld-v0.*Pendulum-v1"):
        jaxpg.make_env("CartPole-v9")


def test_cartpole_versions_differ_only_in_time_limit():
    _, v0 = jaxpg.make_env("CartPole-v0")
    _, v1 = jaxpg.make_env("CartPole-v1")
    assert v0.max_steps_in_episode == 200 and v1.max_steps_in_episode == 500
    assert v0.replace(max_steps_in_episode=500) == v1
