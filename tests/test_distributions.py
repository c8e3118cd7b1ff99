"""Tests for jaxpg.distributions against numpy reference formulas and Monte Carlo."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpg.distributions import Categorical, DiagGaussian, TanhGaussian


def _np_log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _np_gaussian_log_pdf(x, mean, std):
    """Log of the product of univariate normal densities, from the density formula."""
    density = np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2.0 * np.pi))
    return np.log(density).sum(axis=-1)


def _np_mvn_kl(mean_p, cov_p, mean_q, cov_q):
    """KL between full-covariance Gaussians, from the general matrix formula."""
    dim = mean_p.shape[-1]
    cov_q_inv = np.linalg.inv(cov_q)
    diff = mean_q - mean_p
    return 0.5 * (
        np.trace(cov_q_inv @ cov_p)
        + diff @ cov_q_inv @ diff
        - dim
        + np.linalg.slogdet(cov_q)[1]
        - np.linalg.slogdet(cov_p)[1]
    )


@pytest.fixture
def logits_pair():
    rng = np.random.default_rng(0)
    return tuple(jnp.asarray(2.0 * rng.normal(size=(4, 3, 5)), jnp.float32) for _ in range(2))


def test_categorical_log_prob_entropy_kl_match_numpy(logits_pair):
    logits_p, logits_q = logits_pair
    p, q = Categorical(logits_p), Categorical(logits_q)
    log_p, log_q = _np_log_softmax(logits_p), _np_log_softmax(logits_q)
    actions = jnp.asarray(np.random.default_rng(1).integers(0, 5, size=(4, 3)))

    expected_log_prob = np.take_along_axis(log_p, np.asarray(actions)[..., None], -1)[..., 0]
    assert p.log_prob(actions).shape == (4, 3)
    np.testing.assert_allclose(p.log_prob(actions), expected_log_prob, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.probs(), np.exp(log_p), rtol=1e-5, atol=1e-7)

    assert p.entropy().shape == (4, 3)
    np.testing.assert_allclose(p.entropy(), -(np.exp(log_p) * log_p).sum(-1), rtol=1e-5)

    expected_kl = (np.exp(log_p) * (log_p - log_q)).sum(-1)
    assert p.kl(q).shape == (4, 3)
    np.testing.assert_allclose(p.kl(q), expected_kl, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(p.kl(q)) > 0)


def test_categorical_kl_with_itself_is_zero_and_logit_shift_invariant(logits_pair):
    logits_p, _ = logits_pair
    p = Categorical(logits_p)
    np.testing.assert_allclose(p.kl(p), 0.0, atol=1e-6)
    np.testing.assert_allclose(p.kl(Categorical(logits_p + 7.0)), 0.0, atol=1e-5)


def test_categorical_mode_and_sample_shapes(logits_pair):
    p = Categorical(logits_pair[0])
    sample = p.sample(jax.random.key(2))
    assert sample.shape == (4, 3) and sample.dtype == jnp.int32
    assert np.all((np.asarray(sample) >= 0) & (np.asarray(sample) < 5))
    np.testing.assert_array_equal(p.mode(), np.argmax(np.asarray(logits_pair[0]), -1))
    assert p.mode().dtype == jnp.int32


def test_categorical_sample_frequencies_match_probabilities():
    logits = jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4]))
    dist = Categorical(jnp.broadcast_to(logits, (200_000, 4)))
    counts = np.bincount(np.asarray(dist.sample(jax.random.key(3))), minlength=4)
    # Standard error of each frequency is at most sqrt(0.25 / 2e5) ~ 1.1e-3.
    np.testing.assert_allclose(counts / counts.sum(), [0.1, 0.2, 0.3, 0.4], atol=6e-3)


def test_categorical_masked_action_gives_finite_values_and_gradients():
    logits = jnp.array([0.3, -jnp.inf, 1.0])
    p, q = Categorical(logits), Categorical(jnp.array([0.0, 0.5, -0.5]))
    two_action = np.exp(_np_log_softmax([0.3, 1.0]))
    np.testing.assert_allclose(p.entropy(), -(two_action * np.log(two_action)).sum(), rtol=1e-5)
    assert np.isfinite(p.kl(q))
    grad = jax.grad(lambda x: Categorical(x).entropy() + Categorical(x).kl(q))(logits)
    assert np.all(np.isfinite(np.asarray(grad)[[0, 2]]))
    assert p.sample(jax.random.key(4)) != 1


def test_gaussian_log_prob_and_entropy_match_numpy():
    rng = np.random.default_rng(5)
    mean, action = rng.normal(size=(6, 2, 3)), rng.normal(size=(6, 2, 3))
    log_std = 0.5 * rng.normal(size=3)
    dist = DiagGaussian(*(jnp.asarray(x, jnp.float32) for x in (mean, log_std)))
    action = jnp.asarray(action, jnp.float32)
    std = np.exp(log_std)

    assert dist.log_prob(action).shape == (6, 2)
    np.testing.assert_allclose(
        dist.log_prob(action), _np_gaussian_log_pdf(action, mean, std), rtol=1e-5
    )
    # Entropy of a multivariate normal: 0.5 log((2 pi e)^D det(Sigma)).
    expected_entropy = 0.5 * np.log((2 * np.pi * np.e) ** 3 * np.prod(std**2))
    assert dist.entropy().shape == (6, 2)
    np.testing.assert_allclose(dist.entropy(), np.full((6, 2), expected_entropy), rtol=1e-5)
    np.testing.assert_array_equal(dist.mode(), dist.mean)


def test_gaussian_kl_matches_full_covariance_formula():
    rng = np.random.default_rng(6)
    mean_p, mean_q = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    log_std_p, log_std_q = 0.5 * rng.normal(size=(5, 3)), 0.5 * rng.normal(size=3)
    p = DiagGaussian(jnp.asarray(mean_p, jnp.float32), jnp.asarray(log_std_p, jnp.float32))
    q = DiagGaussian(jnp.asarray(mean_q, jnp.float32), jnp.asarray(log_std_q, jnp.float32))
    expected = [
        _np_mvn_kl(
            mean_p[i], np.diag(np.exp(2 * log_std_p[i])), mean_q[i], np.diag(np.exp(2 * log_std_q))
        )
        for i in range(5)
    ]
    assert p.kl(q).shape == (5,)
    np.testing.assert_allclose(p.kl(q), expected, rtol=1e-5)
    np.testing.assert_allclose(p.kl(p), 0.0, atol=1e-6)


def test_gaussian_kl_and_sampling_agree_with_monte_carlo():
    p = DiagGaussian(jnp.array([0.5, -1.0]), jnp.array([0.2, -0.3]))
    q = DiagGaussian(jnp.array([0.0, -0.5]), jnp.array([0.0, 0.1]))
    batch = DiagGaussian(jnp.broadcast_to(p.mean, (200_000, 2)), p.log_std)
    samples = batch.sample(jax.random.key(7))
    assert samples.shape == (200_000, 2)
    np.testing.assert_allclose(samples.mean(0), p.mean, atol=0.01)
    np.testing.assert_allclose(samples.std(0), jnp.exp(p.log_std), rtol=0.01)
    monte_carlo_kl = jnp.mean(p.log_prob(samples) - q.log_prob(samples))
    # The Monte Carlo standard error here is about 2e-3.
    np.testing.assert_allclose(monte_carlo_kl, p.kl(q), atol=0.01)


def test_distributions_are_pytrees_under_jit_and_vmap():
    @jax.jit
    def make(mean, logits):
        return DiagGaussian(mean, jnp.zeros(2)), Categorical(logits)

    gaussian, categorical = make(jnp.ones((4, 2)), jnp.zeros((4, 3)))
    assert isinstance(gaussian, DiagGaussian) and isinstance(categorical, Categorical)
    entropies = jax.vmap(lambda d: d.entropy())(categorical)
    np.testing.assert_allclose(entropies, np.full(4, math.log(3.0)), rtol=1e-6)
    log_probs = jax.vmap(DiagGaussian.log_prob, in_axes=(DiagGaussian(0, None), 0))(
        gaussian, jnp.ones((4, 2))
    )
    np.testing.assert_allclose(log_probs, np.full(4, -math.log(2 * math.pi)), rtol=1e-6)


def _tanh_gaussian(mean, log_std, low=-2.0, high=3.0):
    mean = jnp.asarray(mean, jnp.float32)
    shape = mean.shape[-1:]
    return TanhGaussian(
        mean, jnp.asarray(log_std, jnp.float32), jnp.full(shape, low), jnp.full(shape, high)
    )


def test_tanh_gaussian_density_integrates_to_one_in_its_box():
    dist = _tanh_gaussian([[0.7]], [-0.3])
    grid = np.linspace(-2.0, 3.0, 200_001)[1:-1]
    density = np.exp(np.asarray(dist.log_prob(jnp.asarray(grid, jnp.float32)[:, None])))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)


def test_tanh_gaussian_log_prob_is_the_change_of_variables():
    """log p(a) = log N(u) - log |da/du|, with the Jacobian by finite differences."""
    mean, log_std = np.array([0.3, -1.2]), np.array([-0.5, 0.2])
    dist = _tanh_gaussian(mean, log_std)
    u = np.array([[0.1, -2.0], [1.5, 0.4]])
    squash = lambda x: -2.0 + (np.tanh(x) + 1.0) * 2.5  # noqa: E731
    h = 1e-6
    jacobian = (squash(u + h) - squash(u - h)) / (2 * h)
    expected = _np_gaussian_log_pdf(u, mean, np.exp(log_std)) - np.log(jacobian).sum(-1)
    actions = jnp.asarray(squash(u), jnp.float32)
    np.testing.assert_allclose(dist.log_prob(actions), expected, rtol=1e-4)


def test_tanh_gaussian_samples_lie_in_the_box_and_kl_is_the_gaussians():
    p = _tanh_gaussian(jnp.array([[0.0, 5.0]] * 1000), [0.5, 0.5])
    actions = p.sample(jax.random.key(0))
    assert bool((actions >= -2.0).all() and (actions <= 3.0).all())  # float32 tanh reaches 1
    assert np.isfinite(np.asarray(p.log_prob(actions))).all()
    p = _tanh_gaussian(jnp.array([[0.0, 1.5]] * 20_000), [0.5, 0.5])
    actions = p.sample(jax.random.key(1))
    q = _tanh_gaussian(jnp.array([[0.4, 1.0]] * 20_000), [0.1, 0.7])
    gaussian_kl = DiagGaussian(p.mean, p.log_std).kl(DiagGaussian(q.mean, q.log_std))
    np.testing.assert_allclose(p.kl(q), gaussian_kl, rtol=1e-6)
    # Monte Carlo check of the KL on the squashed actions themselves.
    mc = float(jnp.mean(p.log_prob(actions) - q.log_prob(actions)))
    assert mc == pytest.approx(float(gaussian_kl[0]), rel=0.05)
