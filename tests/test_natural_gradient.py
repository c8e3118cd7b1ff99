"""Tests for jaxpg.natural_gradient against explicit matrices and numpy.linalg.solve."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxpg.distributions import Categorical, DiagGaussian
from jaxpg.natural_gradient import (
    TrustRegionInfo,
    conjugate_gradient,
    fisher_vector_product,
    gauss_newton_vector_product,
    hessian_vector_product,
    trust_region_step,
)

OBS_DIM, HIDDEN, NUM_ACTIONS, BATCH = 3, 5, 4, 64


@pytest.fixture
def x64():
    """Runs a test in float64 so that matrix comparisons can be tight."""
    with jax.enable_x64(True):
        yield


def _to_jax(tree):
    """Converts numpy data to jax arrays: floats to the default dtype (float64 inside `x64`)."""
    float_dtype = jax.dtypes.canonicalize_dtype(np.float64)
    return jax.tree.map(
        lambda x: jnp.asarray(x, float_dtype if np.issubdtype(x.dtype, np.floating) else None),
        tree,
    )


def _init_mlp(rng, sizes):
    """Numpy MLP parameters; data is made with numpy because jax.random compiles slowly."""
    return [
        {"w": rng.normal(size=(m, n)) / np.sqrt(m), "b": 0.1 * rng.normal(size=n)}
        for m, n in zip(sizes[:-1], sizes[1:], strict=True)
    ]


def _mlp(layers, x):
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def _policy(params, obs, kind):
    out = _mlp(params["net"], obs)
    if kind == "categorical":
        return Categorical(out)
    return DiagGaussian(out, params["log_std"])


def _trpo_data(seed, kind, hidden_sizes=(HIDDEN,)):
    """Random policy parameters, observations, actions and advantages, as numpy arrays."""
    rng = np.random.default_rng(seed)
    params = {"net": _init_mlp(rng, [OBS_DIM, *hidden_sizes, NUM_ACTIONS])}
    if kind == "gaussian":
        params["log_std"] = 0.3 * rng.normal(size=NUM_ACTIONS)
        actions = rng.normal(size=(BATCH, NUM_ACTIONS))
    else:
        actions = rng.integers(0, NUM_ACTIONS, size=BATCH).astype(np.int32)
    return {
        "params": params,
        "obs": rng.normal(size=(BATCH, OBS_DIM)),
        "actions": actions,
        "advantages": rng.normal(size=BATCH),
    }


def _trpo_losses(data, kind):
    """Returns the TRPO surrogate loss and mean KL(pi_old || pi) with pi_old at data's params."""
    old_dist = jax.lax.stop_gradient(_policy(data["params"], data["obs"], kind))
    old_log_prob = old_dist.log_prob(data["actions"])

    def surrogate_loss(p):
        log_prob = _policy(p, data["obs"], kind).log_prob(data["actions"])
        return -jnp.mean(jnp.exp(log_prob - old_log_prob) * data["advantages"])

    def mean_kl(p):
        return jnp.mean(old_dist.kl(_policy(p, data["obs"], kind)))

    return surrogate_loss, mean_kl


def _trpo_problem(seed, kind, nan_advantage=False, hidden_sizes=(HIDDEN,)):
    """Returns params, obs, surrogate loss and mean KL for one random batch."""
    data = _trpo_data(seed, kind, hidden_sizes)
    if nan_advantage:
        data["advantages"][3] = np.nan
    data = _to_jax(data)
    return (data["params"], data["obs"], *_trpo_losses(data, kind))


def _assert_bit_identical(new_params, params):
    for new, old in zip(jax.tree.leaves(new_params), jax.tree.leaves(params), strict=True):
        assert new.dtype == old.dtype
        assert np.array_equal(np.asarray(new), np.asarray(old))


def _assert_no_nan(info):
    for name, value in info._asdict().items():
        assert not np.any(np.isnan(np.asarray(value))), name


def _score_fisher(params, obs, kind):
    """Fisher matrix as the expected outer product of score functions, `[P, P]`.

    Categorical: exact expectation over the actions. Gaussian: the expectation in closed form,
    E[score score^T] = J^T diag(1 / std^2, 2) J with J the Jacobian of (mean, log_std).
    """
    flat, unravel = ravel_pytree(params)
    if kind == "categorical":
        log_probs_fn = lambda f: jax.nn.log_softmax(_mlp(unravel(f)["net"], obs))  # noqa: E731
        scores = jax.jacobian(log_probs_fn)(flat)  # [N, A, P]
        probs = jnp.exp(log_probs_fn(flat))
        return jnp.einsum("na,nap,naq->pq", probs, scores, scores) / obs.shape[0]
    mean_jac = jax.jacobian(lambda f: _mlp(unravel(f)["net"], obs))(flat)  # [N, D, P]
    log_std_jac = jax.jacobian(lambda f: unravel(f)["log_std"])(flat)  # [D, P]
    inv_var = jnp.exp(-2.0 * params["log_std"])
    mean_part = jnp.einsum("d,ndp,ndq->pq", inv_var, mean_jac, mean_jac) / obs.shape[0]
    return mean_part + 2.0 * log_std_jac.T @ log_std_jac


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_fisher_vector_product_matches_explicit_fisher(x64, kind):
    params, obs, _, mean_kl = _trpo_problem(0, kind)
    flat, unravel = ravel_pytree(params)
    assert flat.dtype == jnp.float64

    damping = 0.1
    v = jnp.asarray(np.random.default_rng(1).normal(size=flat.shape))

    @jax.jit
    def compute(params, v):
        kl_hessian = jax.hessian(lambda f: mean_kl(unravel(f)))(ravel_pytree(params)[0])
        product = fisher_vector_product(mean_kl, params, damping)(unravel(v))
        return kl_hessian, _score_fisher(params, obs, kind), ravel_pytree(product)[0]

    kl_hessian, fisher, product = compute(params, v)
    assert np.linalg.norm(fisher) > 0.1
    np.testing.assert_allclose(kl_hessian, fisher, rtol=1e-8, atol=1e-10)
    expected = fisher @ v + damping * v
    assert np.linalg.norm(product - expected) / np.linalg.norm(expected) < 1e-10


def test_hessian_vector_product_matches_analytic_hessian(x64):
    a = np.random.default_rng(0).normal(size=(5, 5))
    a = a + a.T
    params = {"x": jnp.array([0.3, -1.2]), "y": jnp.array([[0.5, 2.0, -0.7]])}

    def fn(p):
        flat, _ = ravel_pytree(p)
        return 0.5 * flat @ a @ flat + jnp.sum(flat**4) / 4

    flat, unravel = ravel_pytree(params)
    v = jnp.arange(1.0, 6.0)
    product, _ = ravel_pytree(
        jax.jit(lambda p, v: hessian_vector_product(fn, p)(v))(params, unravel(v))
    )
    np.testing.assert_allclose(product, (a + np.diag(3 * np.asarray(flat) ** 2)) @ v, rtol=1e-12)


def test_gauss_newton_vector_product_matches_explicit_jacobian(x64):
    rng = np.random.default_rng(2)
    params = _to_jax(_init_mlp(rng, [OBS_DIM, 6, 1]))
    obs, targets = jnp.asarray(rng.normal(size=(20, OBS_DIM))), jnp.asarray(rng.normal(size=20))
    predict = lambda p: _mlp(p, obs)[:, 0]  # noqa: E731
    flat, unravel = ravel_pytree(params)
    v = unravel(jnp.asarray(rng.normal(size=flat.shape)))
    scale, damping = 0.37, 0.05

    @jax.jit
    def compute(params, v, scale, damping):
        jacobian = jax.jacobian(lambda f: predict(unravel(f)))(ravel_pytree(params)[0])  # [N, P]
        product = gauss_newton_vector_product(predict, params, scale=scale, damping=damping)(v)
        # The GAE-paper constraint's Hessian at the old parameters is J^T J / (N sigma^2).
        old_values = predict(params)
        sigma2 = jnp.mean((old_values - targets) ** 2)
        constraint = lambda p: jnp.mean((predict(p) - old_values) ** 2) / (2 * sigma2)  # noqa: E731
        gauss_newton = gauss_newton_vector_product(
            predict, params, scale=1.0 / (20 * sigma2), damping=0.0
        )
        hessian_product = hessian_vector_product(constraint, params)(v)
        return jacobian, *(ravel_pytree(x)[0] for x in (product, gauss_newton(v), hessian_product))

    jacobian, product, gauss_newton_product, hessian_product = compute(params, v, scale, damping)
    flat_v, _ = ravel_pytree(v)
    expected = scale * jacobian.T @ (jacobian @ flat_v) + damping * flat_v
    np.testing.assert_allclose(product, expected, rtol=1e-10)
    np.testing.assert_allclose(gauss_newton_product, hessian_product, rtol=1e-10)


def _spd_system(shapes, seed):
    rng = np.random.default_rng(seed)
    n = sum(int(np.prod(s)) for s in shapes)
    m = rng.normal(size=(n, n))
    matrix = m @ m.T / n + 0.5 * np.eye(n)
    b = {f"leaf{i}": jnp.asarray(rng.normal(size=s)) for i, s in enumerate(shapes)}
    _, unravel = ravel_pytree(b)
    matvec = lambda tree: unravel(jnp.asarray(matrix) @ ravel_pytree(tree)[0])  # noqa: E731
    return matrix, b, matvec, n


@pytest.mark.parametrize("shapes", [[(1,), (1,)], [(2, 2), (1,)], [(2, 3), (6,)], [(4, 5), (10,)]])
def test_conjugate_gradient_matches_numpy_solve(x64, shapes):
    matrix, b, matvec, n = _spd_system(shapes, seed=0)
    result = conjugate_gradient(matvec, b, max_iters=n)
    x, _ = ravel_pytree(result.x)
    expected = np.linalg.solve(matrix, np.asarray(ravel_pytree(b)[0]))
    np.testing.assert_allclose(x, expected, rtol=1e-7, atol=1e-9)
    assert jax.tree.structure(result.x) == jax.tree.structure(b)
    assert int(result.num_iters) <= n and result.residual_norm < 1e-7


def test_conjugate_gradient_tolerance_stops_early(x64):
    matrix, b, matvec, n = _spd_system([(4, 5), (10,)], seed=7)
    b_norm = float(np.linalg.norm(ravel_pytree(b)[0]))

    full = conjugate_gradient(matvec, b, max_iters=n)
    assert int(full.num_iters) == n

    tol = 1e-3 * b_norm
    solve = jax.jit(lambda t: conjugate_gradient(matvec, b, max_iters=n, tol=t))
    early = solve(tol)
    assert 0 < int(early.num_iters) < n
    assert float(early.residual_norm) <= tol
    x, _ = ravel_pytree(early.x)
    true_residual = np.linalg.norm(np.asarray(ravel_pytree(b)[0]) - matrix @ np.asarray(x))
    np.testing.assert_allclose(true_residual, early.residual_norm, rtol=1e-5)

    assert int(conjugate_gradient(matvec, b, max_iters=3).num_iters) == 3


@pytest.mark.parametrize(
    "matvec, b",
    [
        (lambda v: jnp.zeros_like(v), jnp.ones(3)),
        (lambda v: -v, jnp.ones(3)),
        (lambda v: v, jnp.zeros(3)),
        (lambda v: v, jnp.array([1.0, jnp.nan, 0.0])),
    ],
    ids=["zero_matrix", "negative_definite", "zero_rhs", "nan_rhs"],
)
def test_conjugate_gradient_degenerate_systems_return_zero(matvec, b):
    result = conjugate_gradient(matvec, b, max_iters=5)
    np.testing.assert_array_equal(result.x, np.zeros(3))
    assert int(result.num_iters) == 0


def test_trust_region_step_accepted_steps_respect_max_kl():
    kind = "categorical"  # the Gaussian policy's step is checked in the jit test below

    def run(data, max_kl):
        params = data["params"]
        surrogate_loss, mean_kl = _trpo_losses(data, kind)
        fvp = fisher_vector_product(mean_kl, params, damping=0.1)
        new_params, info = trust_region_step(
            surrogate_loss, mean_kl, params, fvp, max_constraint=max_kl, cg_iters=10
        )
        return info, mean_kl(new_params), surrogate_loss(params) - surrogate_loss(new_params)

    batches = [_trpo_data(seed, kind) for seed in range(20)]
    batches = _to_jax(jax.tree.map(lambda *leaves: np.stack(leaves), *batches))
    max_kls = jnp.logspace(-3, -1, 20)  # traced and vmapped: one compile for the sweep
    info, kl, improvement = jax.jit(jax.vmap(run))(batches, max_kls)

    success = np.asarray(info.success)
    assert success.sum() >= 15
    assert np.all(np.asarray(kl)[success] <= np.asarray(max_kls)[success])
    assert np.all(np.asarray(improvement)[success] > 0)
    # Recomputing a small KL in float32 under different fusion loses a few digits.
    np.testing.assert_allclose(info.constraint, kl, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(info.improvement, np.where(success, improvement, 0), atol=1e-6)
    assert np.all(np.asarray(info.valid))
    assert info.num_backtracks.dtype == jnp.int32 and info.success.dtype == jnp.bool_
    _assert_no_nan(info)


def _curvy_problem():
    """The linear model promises a decrease but every line-search candidate increases the loss."""
    rng = np.random.default_rng(20)
    params = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32), "b": jnp.ones(4)}
    direction = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32), "b": -jnp.ones(4)}

    def objective(p):
        flat_delta, _ = ravel_pytree(jax.tree.map(jnp.subtract, p, params))
        return -jnp.vdot(ravel_pytree(direction)[0], flat_delta) + 1e4 * flat_delta @ flat_delta

    def constraint(p):
        flat_delta, _ = ravel_pytree(jax.tree.map(jnp.subtract, p, params))
        return 0.5 * flat_delta @ flat_delta

    return params, objective, constraint


def test_rejected_line_search_returns_params_bit_identical():
    params, objective, constraint = _curvy_problem()

    def step(p, max_constraint):
        return trust_region_step(
            objective, constraint, p, lambda v: v, max_constraint=max_constraint, cg_iters=5
        )

    # A zero-size trust region is rejected too: the candidate equals params, no strict decrease.
    max_constraints = jnp.array([0.01, 0.0])
    new_params, info = jax.jit(jax.vmap(step, in_axes=(None, 0)))(params, max_constraints)
    for i in range(2):
        _assert_bit_identical(jax.tree.map(lambda x, i=i: x[i], new_params), params)
    assert not np.any(info.success) and np.all(info.valid)
    np.testing.assert_array_equal(info.num_backtracks, 10)
    np.testing.assert_array_equal(info.improvement, 0.0)
    np.testing.assert_array_equal(info.step_size, 0.0)
    _assert_no_nan(info)


def test_non_positive_curvature_gives_no_update_and_no_nan():
    params, _, surrogate_loss, mean_kl = _trpo_problem(30, "categorical")

    def step(curvature_scale):
        curvature_vp = lambda v: jax.tree.map(lambda x: curvature_scale * x, v)  # noqa: E731
        return trust_region_step(
            surrogate_loss, mean_kl, params, curvature_vp, max_constraint=0.01, cg_iters=10
        )

    # Zero, negative definite, and NaN-producing curvature.
    new_params, info = jax.jit(jax.vmap(step))(jnp.array([0.0, -1.0, jnp.nan]))
    for i in range(3):
        _assert_bit_identical(jax.tree.map(lambda x, i=i: x[i], new_params), params)
    assert not np.any(info.valid) and not np.any(info.success)
    assert np.all(np.asarray(info.shs) <= 0.0)
    np.testing.assert_array_equal(info.step_size, 0.0)
    _assert_no_nan(info)


def test_nan_advantages_give_no_update_and_no_nan():
    params, _, surrogate_loss, mean_kl = _trpo_problem(40, "gaussian", nan_advantage=True)

    @jax.jit
    def steps(p):
        fvp = fisher_vector_product(mean_kl, p, damping=0.1)
        return [
            trust_region_step(
                surrogate_loss,
                mean_kl,
                p,
                fvp,
                max_constraint=0.01,
                cg_iters=10,
                line_search=line_search,
            )
            for line_search in (True, False)
        ]

    for new_params, info in steps(params):
        _assert_bit_identical(new_params, params)
        assert not info.valid and not info.success
        _assert_no_nan(info)


def _quadratic_problem():
    """A quadratic objective with its own minimiser and a quadratic constraint around x0."""
    rng = np.random.default_rng(50)
    m_objective, m_constraint = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    a = m_objective @ m_objective.T + np.eye(6)
    h = m_constraint @ m_constraint.T + np.eye(6)
    x_star = rng.normal(size=6)
    params = {"u": jnp.asarray(rng.normal(size=2)), "v": jnp.asarray(rng.normal(size=(2, 2)))}
    x0 = np.asarray(ravel_pytree(params)[0])

    def objective(p):
        delta = ravel_pytree(p)[0] - x_star
        return 0.5 * delta @ a @ delta

    def constraint(p):
        delta = ravel_pytree(p)[0] - x0
        return 0.5 * delta @ h @ delta

    gradient = a @ (x0 - x_star)
    direction = -np.linalg.solve(h, gradient)
    return params, objective, constraint, a, h, gradient, direction


def test_natural_gradient_without_line_search_takes_the_full_step(x64):
    params, objective, constraint, a, h, gradient, direction = _quadratic_problem()
    shs = direction @ h @ direction
    # Along s the objective is minimised at t_min; a full step of 3 t_min overshoots and makes
    # the objective worse, which natural gradient accepts and the line search does not.
    t_min = -(gradient @ direction) / (direction @ a @ direction)
    max_constraints = jnp.array([0.05, 0.5 * (3 * t_min) ** 2 * shs])

    @jax.jit
    def steps(max_constraint):
        curvature = hessian_vector_product(constraint, params)
        return [
            trust_region_step(
                objective,
                constraint,
                params,
                curvature,
                max_constraint=max_constraint,
                cg_iters=6,
                line_search=line_search,
            )
            for line_search in (False, True)
        ]

    (npg_params, npg_info), _ = steps(max_constraints[0])
    x0 = np.asarray(ravel_pytree(params)[0])
    expected = x0 + np.sqrt(2 * max_constraints[0] / shs) * direction
    np.testing.assert_allclose(ravel_pytree(npg_params)[0], expected, rtol=1e-8)
    # The constraint is quadratic, so its quadratic model is exact at the full step.
    np.testing.assert_allclose(npg_info.constraint, max_constraints[0], rtol=1e-8)
    np.testing.assert_allclose(npg_info.shs, shs, rtol=1e-8)
    np.testing.assert_allclose(npg_info.step_size, np.sqrt(2 * max_constraints[0] / shs))
    assert npg_info.success and npg_info.valid and int(npg_info.num_backtracks) == 0

    (_, npg_info), (_, trpo_info) = steps(max_constraints[1])
    np.testing.assert_allclose(npg_info.step_size, 3 * t_min, rtol=1e-8)
    assert npg_info.success and npg_info.improvement < 0
    # 3 * 0.8**2 = 1.92 < 2 is the first shrunk step that improves on the quadratic.
    assert trpo_info.success and trpo_info.improvement > 0
    assert int(trpo_info.num_backtracks) == 2
    np.testing.assert_allclose(trpo_info.step_size, 3 * 0.8**2 * t_min, rtol=1e-8)


def test_line_search_enforces_the_measured_constraint(x64):
    params, _, constraint, _, _, gradient, _ = _quadratic_problem()
    objective = lambda p: gradient @ ravel_pytree(p)[0]  # noqa: E731  (decreases along s)
    exact_curvature = hessian_vector_product(constraint, params)
    max_constraint = 0.05

    @jax.jit
    def step(params):
        # Half the true curvature: the full step measures 2 * max_constraint, and 0.8**k
        # first satisfies 2 * 0.8**(2k) <= 1 at k = 2.
        curvature = lambda v: jax.tree.map(lambda x: 0.5 * x, exact_curvature(v))  # noqa: E731
        return trust_region_step(
            objective, constraint, params, curvature, max_constraint=max_constraint, cg_iters=6
        )

    new_params, info = step(params)
    assert info.success and int(info.num_backtracks) == 2
    np.testing.assert_allclose(constraint(new_params), 2 * 0.8**4 * max_constraint, rtol=1e-8)
    np.testing.assert_allclose(info.constraint, constraint(new_params), rtol=1e-12)


def test_trust_region_value_fit_reduces_loss_within_constraint():
    """The GAE-paper value fit (Schulman et al., 2016, §5) with Gauss-Newton curvature."""
    num_states, epsilon = 128, 0.05
    rng = np.random.default_rng(60)
    params = _to_jax(_init_mlp(rng, [OBS_DIM, 8, 1]))
    obs = rng.normal(size=(num_states, OBS_DIM))
    targets = jnp.asarray(np.sin(2 * obs[:, 0]) + 0.1 * rng.normal(size=num_states), jnp.float32)
    obs = jnp.asarray(obs, jnp.float32)
    predict = lambda p: _mlp(p, obs)[:, 0]  # noqa: E731
    loss = lambda p: jnp.mean((predict(p) - targets) ** 2)  # noqa: E731

    def fit_step(params, _):
        old_values = predict(params)
        sigma2 = jnp.mean((old_values - targets) ** 2)
        constraint = lambda p: jnp.mean((predict(p) - old_values) ** 2) / (2 * sigma2)  # noqa: E731
        curvature = gauss_newton_vector_product(
            predict, params, scale=1.0 / (num_states * sigma2), damping=1e-4
        )
        new_params, info = trust_region_step(
            loss, constraint, params, curvature, max_constraint=epsilon, cg_iters=20
        )
        return new_params, (info, constraint(new_params), loss(params), loss(new_params))

    _, (info, constraint, loss_before, loss_after) = jax.jit(
        lambda p: jax.lax.scan(fit_step, p, length=10)
    )(params)
    assert np.all(np.asarray(info.success))
    assert np.all(np.asarray(constraint) <= epsilon)
    assert np.all(np.asarray(loss_after) < np.asarray(loss_before))
    np.testing.assert_allclose(info.improvement, loss_before - loss_after, rtol=1e-4, atol=1e-7)
    assert loss_after[-1] < 0.7 * loss_before[0]


def test_trust_region_step_jit_equals_no_jit():
    # A linear policy keeps the uncompiled run, with Python loops and op-by-op dispatch, short.
    params, _, surrogate_loss, mean_kl = _trpo_problem(70, "gaussian", hidden_sizes=())

    def step(p):
        fvp = fisher_vector_product(mean_kl, p, damping=0.1)
        return trust_region_step(surrogate_loss, mean_kl, p, fvp, max_constraint=0.01, cg_iters=10)

    with jax.disable_jit():
        eager_params, eager_info = step(params)
    jit_params, jit_info = jax.jit(step)(params)
    assert isinstance(jit_info, TrustRegionInfo) and bool(eager_info.success)
    assert 0 < float(mean_kl(jit_params)) <= 0.01 and float(jit_info.improvement) > 0
    for eager, jitted in zip(
        jax.tree.leaves(eager_params), jax.tree.leaves(jit_params), strict=True
    ):
        np.testing.assert_allclose(eager, jitted, rtol=1e-5, atol=1e-6)
    for eager, jitted in zip(eager_info, jit_info, strict=True):
        np.testing.assert_allclose(eager, jitted, rtol=1e-4, atol=1e-6)
