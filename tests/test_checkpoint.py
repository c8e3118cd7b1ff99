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
    # Running statistics are part of the state: saved and restored with it.
    "ppo_normalized": PPOConfig(
        **TINY, num_minibatches=2, normalize_observations=True, normalize_rewards=True
    ),
}


def _template(config, env_id="CartPole-v1", **env_kwargs):
    env, env_params = jaxpg.make_env(env_id, **env_kwargs)
    return jaxpg.make_trainer(config, env, env_params).template


def _random_state(config, env_id="CartPole-v1", batch_shape=(3,), seed=0, **env_kwargs):
    """A TrainState of the right structure with random leaves (nothing compiled)."""
    template = _template(config, env_id, **env_kwargs)(batch_shape)
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
        state,
        config=config,
        metrics=metrics,
        metadata={"seeds": (0, 1, 2), "algorithm": name},
    )
    restored = checkpoint.restore(path, _template(config))
    assert restored.config == {"class": type(config).__name__, "fields": config.to_dict()}
    assert type(config).from_dict(restored.config["fields"]) == config
    assert restored.metadata == {"seeds": [0, 1, 2], "algorithm": name}
    assert restored.batch_shape == (3,)
    assert jax.dtypes.issubdtype(restored.state.key.dtype, jax.dtypes.prng_key)
    _assert_states_equal(state, restored.state)
    for metric, value in metrics.items():
        np.testing.assert_array_equal(restored.metrics[metric], value)
    assert os.listdir(tmp_path) == ["checkpoint.msgpack"]


def test_an_unbatched_state_restores_into_a_given_pytree_target(tmp_path):
    config = jaxpg.VPGConfig(**TINY, entropy_alpha=1.0, exploration="seed")
    kwargs = {"max_steps": 12, "start": (4, 1), "observation": "one_hot"}
    state = _random_state(config, "GridWorld-v0", batch_shape=(), **kwargs)
    path = tmp_path / "grid.msgpack"
    checkpoint.save(path, state)  # no config, no metrics
    target = _template(config, "GridWorld-v0", **kwargs)(())
    restored = checkpoint.restore(path, target)
    assert restored.config is None and restored.metrics == {} and restored.batch_shape == ()
    _assert_states_equal(state, restored.state)


def test_restoring_refuses_a_state_that_does_not_fit_the_target(tmp_path):
    config = CONFIGS["trpo"]
    path = tmp_path / "c.msgpack"
    checkpoint.save(path, _random_state(config), config=config)
    # The target has a wider network.
    with pytest.raises(ValueError, match=r"does not fit the target.*Dense_0"):
        checkpoint.restore(path, _template(config.replace(hidden_sizes=(8,))))
    # A GridWorld state is not a CartPole state.
    checkpoint.save(path, _random_state(config, "GridWorld-v0"), config=config)
    with pytest.raises(ValueError, match=r"does not fit the target.*env_state"):
        checkpoint.restore(path, _template(config))


def test_an_expected_config_is_checked(tmp_path):
    config = CONFIGS["a2c"]
    path = tmp_path / "c.msgpack"
    checkpoint.save(path, _random_state(config), config=config)
    template = _template(config)
    with pytest.raises(ValueError, match=r"learning_rate=0.003 in the checkpoint, 0.1 expected"):
        checkpoint.restore(path, template, config=config.replace(learning_rate=0.1))
    with pytest.raises(ValueError, match="a ActorCriticConfig, not VPGConfig"):
        checkpoint.restore(path, template, config=CONFIGS["vpg"])
    assert checkpoint.restore(path, template, config=config).batch_shape == (3,)


def test_a_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.msgpack"
    path.write_bytes(pickle.dumps(Exploit()))
    template = _template(CONFIGS["vpg"])
    with pytest.raises(ValueError, match="not a jaxpg checkpoint"):
        checkpoint.restore(path, template)
    assert not marker.exists()
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a jaxpg checkpoint"):
        checkpoint.restore(path, template)


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    config = CONFIGS["vpg"]
    first, second = _random_state(config, seed=1), _random_state(config, seed=2)
    path = tmp_path / "c.msgpack"
    checkpoint.save(path, first, config=config)

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, second, config=config)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["c.msgpack"]
    _assert_states_equal(first, checkpoint.restore(path, _template(config)).state)


def test_version_difference_warns(tmp_path, monkeypatch):
    config = CONFIGS["vpg"]
    path = tmp_path / "c.msgpack"
    checkpoint.save(path, _random_state(config), config=config)
    assert checkpoint.read_metadata(path)["jaxpg_version"] == jaxpg.__version__
    monkeypatch.setattr(jaxpg, "__version__", "99.0")
    with pytest.warns(UserWarning, match="written by jaxpg 0.1.0"):
        checkpoint.restore(path, _template(config))
