"""jaxpg.checkpoint: every leaf round-trips (PRNG keys too), no pickle, mismatches refused."""

import os
import pickle

import jax
import numpy as np
import pytest

import jaxpg
from jaxpg import checkpoint
from jaxpg.algorithms.ppo import PPOConfig

TINY = dict(num_envs=2, num_steps=8, total_timesteps=64, hidden_sizes=(4,))
CONFIGS = {
    "vpg": jaxpg.VPGConfig(**TINY, baseline=True),
    "a2c": jaxpg.ActorCriticConfig(**TINY),
    "trpo": jaxpg.TRPOConfig(**TINY, value_fit="trust_region"),
    "ppo": PPOConfig(**TINY, num_minibatches=2),
}


def _random_state(config, env_id="CartPole-v1", batch_shape=(3,), seed=0, **env_kwargs):
    """A TrainState of the right structure with random leaves (nothing compiled)."""
    env, env_params = jaxpg.make_env(env_id, **env_kwargs)
    template = checkpoint.state_template(config, env, env_params, batch_shape)
    rng = np.random.default_rng(seed)

    def fill(spec):
        if jax.dtypes.issubdtype(spec.dtype, jax.dtypes.prng_key):
            data = jax.eval_shape(jax.random.key_data, spec)
            return jax.random.wrap_key_data(
                rng.integers(0, 2**32, data.shape, dtype=np.uint32), impl="threefry2x32"
            )
        if spec.dtype == bool:
            return jax.numpy.asarray(rng.random(spec.shape) < 0.5)
        return jax.numpy.asarray(rng.normal(size=spec.shape) * 100).astype(spec.dtype)

    return jax.tree.map(fill, template)


def _raw(leaf):
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf)), str(leaf.dtype)
    return np.asarray(leaf), str(leaf.dtype)


def _assert_states_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        (x_data, x_dtype), (y_data, y_dtype) = _raw(x), _raw(y)
        assert x_dtype == y_dtype and x_data.shape == y_data.shape
        np.testing.assert_array_equal(x_data, y_data)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_leaf_of_a_vmapped_state_round_trips(tmp_path, name):
    config = CONFIGS[name]
    state = _random_state(config)
    metrics = {"episode_return": np.arange(6.0).reshape(3, 2), "env_steps": np.ones((3, 2), int)}
    path = tmp_path / "checkpoint.msgpack"
    checkpoint.save(
        path,
        config,
        "CartPole-v1",
        {},
        state,
        metrics=metrics,
        metadata={"seeds": (0, 1, 2), "algorithm": name},
    )
    loaded = checkpoint.load_checkpoint(path)
    assert loaded.config == config and type(loaded.config) is type(config)
    assert (loaded.env_id, loaded.env_kwargs) == ("CartPole-v1", {})
    assert loaded.metadata == {"seeds": [0, 1, 2], "algorithm": name}
    assert jax.dtypes.issubdtype(loaded.state.key.dtype, jax.dtypes.prng_key)
    _assert_states_equal(state, loaded.state)
    for metric, value in metrics.items():
        np.testing.assert_array_equal(loaded.metrics[metric], value)
    assert os.listdir(tmp_path) == ["checkpoint.msgpack"]


def test_unbatched_state_env_kwargs_and_the_four_value_load(tmp_path):
    config = jaxpg.VPGConfig(**TINY, entropy_alpha=1.0, exploration="seed")
    kwargs = {"max_steps": 12, "start": (4, 1), "observation": "one_hot"}
    state = _random_state(config, "GridWorld-v0", batch_shape=(), **kwargs)
    path = tmp_path / "grid.msgpack"
    checkpoint.save(path, config, "GridWorld-v0", kwargs, state)
    loaded_config, env_id, env_kwargs, loaded_state = checkpoint.load(path)
    assert loaded_config == config and env_id == "GridWorld-v0"
    assert env_kwargs == {"max_steps": 12, "start": [4, 1], "observation": "one_hot"}
    assert loaded_state.iteration.shape == ()
    _assert_states_equal(state, loaded_state)


def test_loading_refuses_a_state_that_does_not_fit_the_config(tmp_path):
    config = CONFIGS["trpo"]
    state = _random_state(config)
    path = tmp_path / "c.msgpack"
    # The file says hidden_sizes=(8,) but holds a (4,) network.
    checkpoint.save(path, config.replace(hidden_sizes=(8,)), "CartPole-v1", {}, state)
    with pytest.raises(ValueError, match=r"does not match.*hidden_sizes=\(8,\).*Dense_0"):
        checkpoint.load(path)
    # A GridWorld state is not a CartPole state.
    grid_state = _random_state(config, "GridWorld-v0")
    checkpoint.save(path, config, "CartPole-v1", {}, grid_state)
    with pytest.raises(ValueError, match="CartPole-v1"):
        checkpoint.load(path)


def test_expected_config_and_env_are_checked(tmp_path):
    config = CONFIGS["a2c"]
    path = tmp_path / "c.msgpack"
    checkpoint.save(path, config, "CartPole-v1", {}, _random_state(config))
    with pytest.raises(ValueError, match=r"learning_rate=0.003 in the checkpoint, 0.1 expected"):
        checkpoint.load(path, config=config.replace(learning_rate=0.1))
    with pytest.raises(ValueError, match="env_id is 'CartPole-v1', not 'CartPole-v0'"):
        checkpoint.load(path, env_id="CartPole-v0")
    with pytest.raises(ValueError, match="a ActorCriticConfig, not VPGConfig"):
        checkpoint.load(path, config=CONFIGS["vpg"])
    assert checkpoint.load(path, config=config, env_id="CartPole-v1", env_kwargs={})[0] == config


def test_a_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.msgpack"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError, match="not a jaxpg checkpoint"):
        checkpoint.load(path)
    assert not marker.exists()
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a jaxpg checkpoint"):
        checkpoint.load(path)


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    config = CONFIGS["vpg"]
    first, second = _random_state(config, seed=1), _random_state(config, seed=2)
    path = tmp_path / "c.msgpack"
    checkpoint.save(path, config, "CartPole-v1", {}, first)

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, config, "CartPole-v1", {}, second)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["c.msgpack"]
    _assert_states_equal(first, checkpoint.load(path)[3])


def test_version_difference_warns(tmp_path, monkeypatch):
    config = CONFIGS["vpg"]
    path = tmp_path / "c.msgpack"
    checkpoint.save(path, config, "CartPole-v1", {}, _random_state(config))
    assert checkpoint.read_metadata(path)["jaxpg_version"] == jaxpg.__version__
    monkeypatch.setattr(jaxpg, "__version__", "99.0")
    with pytest.warns(UserWarning, match="written by jaxpg 0.1.0"):
        checkpoint.load(path)
