"""Brax and MuJoCo Playground through gymnax 1.0's API (`jaxpg.envs.brax`).

Brax compiles slowly on CPU, so the contract tests share one environment and one set of jitted
functions: ``inverted_pendulum`` with the ``spring`` backend compiled fastest of the candidates
measured (inverted_pendulum on spring, positional, generalized, mjx; reacher on positional). It
also terminates within a few dozen steps under a constant full action, so termination is
tested as well as truncation. The raw Brax environment is the reference: the adapter's
observations must be exactly the ones its `step` gives from the same physics state.
"""

import sys
import warnings
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg

# Only protects an install without the extra; `pip install -e ".[test]"` brings Brax.
pytest.importorskip("brax")

# With `pytest -n 2 --dist loadgroup` the module's compiled functions are built once, not twice.
pytestmark = pytest.mark.xdist_group("brax")

ENV_ID = "brax:inverted_pendulum"
BACKEND = "spring"
ZERO = jnp.zeros((1,), jnp.float32)
PUSH = jnp.ones((1,), jnp.float32)


@pytest.fixture(scope="module")
def brax_env():
    with warnings.catch_warnings():  # Brax warns that it is no longer maintained
        warnings.simplefilter("ignore", UserWarning)
        env, env_params = jaxpg.make_env(ENV_ID, backend=BACKEND)
    return SimpleNamespace(
        env=env,
        params=env_params,
        reset=jax.jit(env.reset),
        step=jax.jit(env.step),
        raw_step=jax.jit(env.raw_env.step),
        batch_reset=jax.jit(jax.vmap(env.reset, in_axes=(0, None))),
        batch_step=jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None))),
        # Indexing a state leaf by leaf outside jit compiles one gather per leaf.
        take=jax.jit(lambda tree, index: jax.tree.map(lambda x: x[index], tree)),
    )


def _run(fx, key, actions, params):
    """Resets with ``key`` and steps through ``actions`` (one key per step, split from ``key``).

    Returns the first observation and, per step, the state before it and the step's outputs.
    """
    reset_key, key = jax.random.split(key)
    obs, state = fx.reset(reset_key, params)
    first_obs, steps = obs, []
    for action in actions:
        key, step_key = jax.random.split(key)
        out = fx.step(step_key, state, action, params)
        steps.append(SimpleNamespace(key=step_key, before=state, action=action, out=out))
        state = out[1]
    return first_obs, steps


def test_spaces_match_the_raw_brax_env(brax_env):
    env, params = brax_env.env, brax_env.params
    raw = env.raw_env
    observation_space = env.observation_space(params)
    action_space = env.action_space(params)
    assert observation_space.shape == (raw.observation_size,)
    assert observation_space.dtype == jnp.float32
    assert action_space.shape == (raw.action_size,)
    # inverted_pendulum maps [-1, 1] onto its actuator's [-3, 3] itself: the bounds are [-1, 1].
    np.testing.assert_array_equal(np.asarray(raw.sys.actuator.ctrl_range), [[-3.0, 3.0]])
    np.testing.assert_array_equal(action_space.low, [-1.0])
    np.testing.assert_array_equal(action_space.high, [1.0])
    assert env.name == ENV_ID
    assert params.max_steps_in_episode == 1000
    assert env.STATE_COPYABLE
    _, short = jaxpg.make_env(ENV_ID, backend=BACKEND, max_steps=7)
    assert short.max_steps_in_episode == 7


def test_batched_reset_equals_single_resets_and_keys_matter(brax_env):
    keys = jax.random.split(jax.random.key(0), 4)
    obs, state = brax_env.batch_reset(keys, brax_env.params)
    assert obs.shape == (4, *brax_env.env.obs_shape)
    np.testing.assert_array_equal(state.time, np.zeros(4))
    for i in range(4):
        single_obs, _ = brax_env.reset(keys[i], brax_env.params)
        np.testing.assert_allclose(obs[i], single_obs, rtol=1e-6, atol=1e-7)
    assert len({tuple(np.asarray(row).round(7)) for row in obs}) == 4
    again, _ = brax_env.batch_reset(keys, brax_env.params)
    np.testing.assert_array_equal(obs, again)


def test_batched_step_equals_single_steps(brax_env):
    params = brax_env.params
    _, states = brax_env.batch_reset(jax.random.split(jax.random.key(1), 4), params)
    keys = jax.random.split(jax.random.key(2), 4)
    actions = jnp.array([[-1.0], [0.3], [1.0], [0.0]], jnp.float32)
    obs, _, reward, terminated, truncated, info = brax_env.batch_step(keys, states, actions, params)
    assert obs.shape == (4, *brax_env.env.obs_shape)
    assert reward.shape == terminated.shape == truncated.shape == (4,)
    for i in range(4):
        single = brax_env.step(keys[i], brax_env.take(states, i), actions[i], params)
        np.testing.assert_allclose(obs[i], single[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(info["final_observation"][i], single[5]["final_observation"])
        assert reward[i] == single[2]


def test_same_key_same_trajectory_and_every_episode_gets_fresh_noise(brax_env):
    params = brax_env.params.replace(max_steps_in_episode=3)
    actions = [jnp.array([0.5 * np.sin(t)], jnp.float32) for t in range(7)]
    first, steps = _run(brax_env, jax.random.key(0), actions, params)
    first_again, steps_again = _run(brax_env, jax.random.key(0), actions, params)
    np.testing.assert_array_equal(first, first_again)
    for a, b in zip(steps, steps_again, strict=True):
        np.testing.assert_array_equal(a.out[0], b.out[0])
        np.testing.assert_array_equal(a.out[5]["final_observation"], b.out[5]["final_observation"])
    other_first, _ = _run(brax_env, jax.random.key(1), actions, params)
    assert not np.allclose(first, other_first)
    # Episodes end after steps 3 and 6; each new one starts from its own reset noise.
    starts = [first, steps[2].out[0], steps[5].out[0]]
    assert [bool(s.out[4]) for s in steps] == [False, False, True, False, False, True, False]
    for i in range(3):
        for j in range(i):
            assert not np.allclose(starts[i], starts[j])


def test_truncation_exactly_at_max_steps_with_the_real_final_observation(brax_env):
    params = brax_env.params.replace(max_steps_in_episode=5)
    _, steps = _run(brax_env, jax.random.key(3), [ZERO] * 6, params)
    assert [bool(s.out[4]) for s in steps] == [False] * 4 + [True, False]
    assert not any(bool(s.out[3]) for s in steps)
    assert [int(s.out[1].time) for s in steps] == [1, 2, 3, 4, 0, 1]
    for s in steps:
        obs, state, reward, terminated, truncated, info = s.out
        raw = brax_env.raw_step(s.before.inner, s.action)
        np.testing.assert_array_equal(info["final_observation"], raw.obs)
        assert info["terminated"] == terminated and info["truncated"] == truncated
        if truncated:
            # The returned observation is the new episode's first: the reset with the step key.
            reset_obs, _ = brax_env.reset(s.key, params)
            np.testing.assert_array_equal(obs, reset_obs)
            np.testing.assert_array_equal(obs, state.inner.obs)
            assert not np.allclose(obs, raw.obs)
        else:
            np.testing.assert_array_equal(obs, raw.obs)
            assert reward == raw.reward


def test_termination_is_kept_apart_from_truncation(brax_env):
    params = brax_env.params
    _, steps = _run(brax_env, jax.random.key(4), [PUSH] * 100, params)
    ends = [i for i, s in enumerate(steps) if bool(s.out[3])]
    assert ends, "a constant full push should topple the pendulum within 100 steps"
    end = steps[ends[0]]
    _, state, _, terminated, truncated, info = end.out
    assert terminated and not truncated
    raw = brax_env.raw_step(end.before.inner, end.action)
    assert raw.done == 1.0
    np.testing.assert_array_equal(info["final_observation"], raw.obs)
    assert abs(float(info["final_observation"][1])) > 0.2  # the pole angle that ended it
    assert int(state.time) == 0


def test_copied_states_step_identically_for_vine_sampling(brax_env):
    params = brax_env.params
    _, states = brax_env.batch_reset(jax.random.split(jax.random.key(5), 4), params)
    copies = brax_env.take(states, jnp.array([2, 2, 2, 2]))  # as TRPO's vine indexes states
    keys = jax.random.split(jax.random.key(6), 1)[jnp.zeros(4, jnp.int32)]
    actions = jnp.full((4, 1), 0.7, jnp.float32)
    first = brax_env.batch_step(keys, copies, actions, params)
    second = brax_env.batch_step(keys, copies, actions, params)
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(second), strict=True):
        np.testing.assert_array_equal(a, b)
    for row in range(1, 4):
        np.testing.assert_array_equal(first[0][0], first[0][row])
    others = brax_env.take(states, jnp.array([1, 1, 1, 1]))
    assert not np.allclose(brax_env.batch_step(keys, others, actions, params)[0], first[0])


def test_missing_extras_name_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "brax", None)
    monkeypatch.setitem(sys.modules, "brax.envs", None)
    with pytest.raises(
        ImportError, match=r'brax is not installed: run `pip install -e "\.\[brax\]"'
    ):
        jaxpg.make_env("brax:hopper")
    monkeypatch.setitem(sys.modules, "mujoco_playground", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[playground\]"'):
        jaxpg.make_env("playground:CheetahRun")


def test_unknown_names_backends_and_options_raise_value_error():
    with pytest.raises(ValueError, match="unknown Brax environment"):
        jaxpg.make_env("brax:no_such_env")
    with pytest.raises(ValueError, match="unknown Brax backend"):
        jaxpg.make_env(ENV_ID, backend="no_such_backend")
    with pytest.raises(ValueError, match="cannot make brax:inverted_pendulum"):
        jaxpg.make_env(ENV_ID, backend=BACKEND, no_such_option=1)
