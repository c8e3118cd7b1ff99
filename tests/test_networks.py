"""The default networks' initialisation: flax's parameter structure, orthogonal weights with the
documented gains, Haar-distributed, the same under vmap as one key at a time."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

from jaxpg import networks

OBS_SHAPE = (3, 2)  # flattened to 6 features inside the network
HIDDEN = (16, 8)
SPACES = {
    "discrete": spaces.Discrete(3),
    "box": spaces.Box(-1.0, 1.0, (2,), jnp.float32),
}


def flax_reference(space):
    """The same policy initialised by flax (`module.init`, one key per layer)."""
    out_size = space.n if isinstance(space, spaces.Discrete) else 2
    torso = networks.MLP(HIDDEN, out_size, "tanh", out_gain=0.01, obs_ndim=len(OBS_SHAPE))
    return networks.policy_from_module(torso, OBS_SHAPE, space, init_log_std=-0.5)


def kernels(params):
    """The Dense kernels of a parameter tree, in layer order."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    found = {jax.tree_util.keystr(path): leaf for path, leaf in flat if "kernel" in str(path)}
    return [found[name] for name in sorted(found)]


def assert_orthogonal(kernel, gain):
    kernel = np.asarray(kernel, np.float64)
    rows, cols = kernel.shape
    gram = kernel.T @ kernel if rows >= cols else kernel @ kernel.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-5 * gain**2)


@pytest.mark.parametrize("kind", sorted(SPACES))
def test_default_policy_has_flax_structure_and_orthogonal_layers(kind):
    space = SPACES[kind]
    policy = networks.make_policy(space, OBS_SHAPE, HIDDEN, init_log_std=-0.5)
    params = policy.init(jax.random.key(0))
    reference = flax_reference(space).init(jax.random.key(0))
    # The same tree as flax makes (checkpoints and user code index it the same way).
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), params) == jax.tree.map(
        lambda a: (a.shape, a.dtype), reference
    )
    weights = kernels(params)
    assert [w.shape for w in weights] == [
        (6, 16),
        (16, 8),
        (8, space.n if kind == "discrete" else 2),
    ]
    for weight, gain in zip(weights, [math.sqrt(2.0), math.sqrt(2.0), 0.01], strict=True):
        assert_orthogonal(weight, gain)
    biases = [
        leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
        if "bias" in str(path)
    ]
    assert all(not np.any(np.asarray(b)) for b in biases)
    if kind == "box":
        np.testing.assert_array_equal(np.asarray(params["params"]["log_std"]), [-0.5, -0.5])
    # The parameters work with the flax module's apply.
    dist = policy.apply(params, jnp.ones((5, *OBS_SHAPE)))
    assert np.isfinite(np.asarray(dist.log_prob(dist.mode()))).all()


def test_default_critic_layers_are_orthogonal_with_unit_output_gain():
    critic = networks.make_critic(OBS_SHAPE, HIDDEN)
    params = critic.init(jax.random.key(1))
    for weight, gain in zip(kernels(params), [math.sqrt(2.0), math.sqrt(2.0), 1.0], strict=True):
        assert_orthogonal(weight, gain)
    assert critic.apply(params, jnp.ones((4, *OBS_SHAPE))).shape == (4,)


def test_orthogonal_layers_are_haar_distributed():
    """Over many keys, the entries of a random orthogonal 3x3 matrix have mean 0 and second
    moment 1/3, and its first column is not biased in sign (QR alone, without the signs of R's
    diagonal, gives a first entry of a fixed sign)."""
    draw = jax.jit(jax.vmap(lambda k: networks.orthogonal_layers(k, [(3, 3), (3, 2)], [1.0, 1.0])))
    square, tall = draw(jax.random.split(jax.random.key(2), 4000))
    for sample in (np.asarray(square), np.asarray(tall)):
        np.testing.assert_allclose(sample.mean(axis=0), 0.0, atol=0.05)
        np.testing.assert_allclose((sample**2).mean(axis=0), 1.0 / 3.0, atol=0.03)
    # Two layers from one key are independent draws, not copies.
    assert abs(np.corrcoef(np.asarray(square)[:, 0, 0], np.asarray(tall)[:, 0, 0])[0, 1]) < 0.1


def test_initialisation_under_vmap_equals_one_key_at_a_time():
    policy = networks.make_policy(SPACES["box"], OBS_SHAPE, HIDDEN)
    keys = jax.random.split(jax.random.key(3), 3)
    batched = jax.jit(jax.vmap(policy.init))(keys)
    for i, key in enumerate(keys):
        one = policy.init(key)
        jax.tree.map(lambda b, o, i=i: np.testing.assert_allclose(b[i], o, atol=1e-6), batched, one)


def test_orthogonal_layers_needs_one_gain_per_layer():
    with pytest.raises(ValueError, match="gains: 1 given for 2 layer shapes"):
        networks.orthogonal_layers(jax.random.key(0), [(3, 3), (3, 2)], [1.0])
