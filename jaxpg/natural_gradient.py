"""Natural-gradient and trust-region steps over parameter pytrees.

The pieces of TRPO (Schulman et al., 2015, "Trust Region Policy Optimization", §6 and
Appendix C) as pure, jittable functions:

* `conjugate_gradient` solves `H x = b` using only products `v -> H v`;
* `hessian_vector_product`, `fisher_vector_product` and `gauss_newton_vector_product` build
  those products without ever forming a matrix. The Hessian of the mean KL divergence
  `KL(pi_old || pi_theta)` at `theta = theta_old` is the Fisher information matrix of the
  natural policy gradient (Kakade, 2002); the Gauss-Newton matrix `J^T J` is the Hessian of
  the mean-squared constraint of the trust-region value fit (Schulman et al., 2016,
  "High-Dimensional Continuous Control Using Generalized Advantage Estimation", §5);
* `trust_region_step` takes the step `beta * s` with `s = -H^{-1} g` and `beta` chosen so that
  the quadratic model of the constraint equals its bound, then backtracks until the measured
  constraint holds and the objective improves. When no candidate is accepted the original
  parameters are returned unchanged. With `line_search=False` it is the natural policy
  gradient step.

Float hyperparameters (`max_constraint`, `damping`, `backtrack_ratio`, `scale`, `tol`) may be
traced values, so a sweep over them can be vmapped; iteration counts are static.

Example (one TRPO policy step; `policy` maps `(params, obs)` to a distribution):

    old_dist = jax.lax.stop_gradient(policy(params, obs))
    old_log_prob = old_dist.log_prob(actions)

    def surrogate_loss(p):
        ratio = jnp.exp(policy(p, obs).log_prob(actions) - old_log_prob)
        return -jnp.mean(ratio * advantages)

    def mean_kl(p):
        return jnp.mean(old_dist.kl(policy(p, obs)))

    fvp = fisher_vector_product(mean_kl, params, damping=0.1)
    params, info = trust_region_step(
        surrogate_loss, mean_kl, params, fvp, max_constraint=0.01, cg_iters=10)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

PyTree = Any
ArrayLike = jax.typing.ArrayLike

# A direction whose curvature (Rayleigh quotient s^T H s / s^T s) is below this is treated as
# flat: the step length sqrt(2 * max_constraint / s^T H s) would be meaningless there.
_MIN_CURVATURE = 1e-12


class CGResult(NamedTuple):
    """Output of `conjugate_gradient`.

    Attributes:
        x: the approximate solution, a pytree shaped like `b`.
        residual_norm: `[]` the norm of the (recursively updated) residual `b - A x`.
        num_iters: `[]` int32, the number of completed iterations.
    """

    x: PyTree
    residual_norm: jax.Array
    num_iters: jax.Array


class TrustRegionInfo(NamedTuple):
    """Scalar diagnostics of one `trust_region_step`, each of shape `[]`.

    Attributes:
        constraint: the constraint measured at the returned parameters.
        improvement: the decrease of the objective achieved by the returned parameters; `>= 0`
            after an accepted line-search step, `0` when no step was taken, possibly negative
            for a natural-gradient step without line search.
        expected_improvement: the decrease predicted by the linear model `-g^T step`, for the
            accepted step (the full step when none was accepted; `0` when invalid).
        num_backtracks: int32, the number of step shrinkages before acceptance
            (`max_backtracks` when every candidate was rejected, `0` when invalid).
        success: bool, whether a step was taken.
        cg_residual: the residual norm of the conjugate-gradient solve (`inf` when not finite).
        step_size: the multiplier `beta * backtrack_ratio**k` of the search direction actually
            applied (`0` when no step was taken).
        shs: `s^T H s` for the search direction `s` (`0` when not finite).
        valid: bool, whether the gradient and direction were finite and the direction had
            positive curvature, so that a step could be attempted.
    """

    constraint: jax.Array
    improvement: jax.Array
    expected_improvement: jax.Array
    num_backtracks: jax.Array
    success: jax.Array
    cg_residual: jax.Array
    step_size: jax.Array
    shs: jax.Array
    valid: jax.Array


def _tree_vdot(a: PyTree, b: PyTree) -> jax.Array:
    """Returns the inner product of two pytrees with the same structure."""
    products = jax.tree.leaves(jax.tree.map(jnp.vdot, a, b))
    return functools.reduce(jnp.add, products) if products else jnp.zeros(())


def _tree_add_scaled(a: PyTree, scalar: ArrayLike, b: PyTree) -> PyTree:
    """Returns `a + scalar * b`, keeping the dtypes of `a`."""
    return jax.tree.map(lambda x, y: (x + scalar * y).astype(jnp.result_type(x)), a, b)


def _tree_select(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    """Returns `on_true` if `pred` else `on_false`, leafwise and without arithmetic."""
    return jax.tree.map(lambda x, y: jnp.where(pred, x, y), on_true, on_false)


def conjugate_gradient(
    matvec: Callable[[PyTree], PyTree],
    b: PyTree,
    *,
    max_iters: int,
    tol: ArrayLike = 0.0,
) -> CGResult:
    """Solves `A x = b` for symmetric positive (semi-)definite `A`, starting from `x = 0`.

    Runs at most `max_iters` iterations, stopping early once the residual norm is `<= tol`
    (so `tol = 0` runs all `max_iters` unless the residual vanishes). If the curvature
    `p^T A p` along a search direction is not positive and finite, the iteration stops and
    keeps the current iterate, so no NaN or infinity is produced from a finite `b`; a
    non-finite `b` returns `x = 0`.

    Args:
        matvec: the linear map `v -> A v`, from and to pytrees shaped like `b`.
        b: the right-hand side, a pytree of float arrays.
        max_iters: static maximum number of iterations.
        tol: residual-norm tolerance for early stopping; may be traced.

    Returns:
        A `CGResult` with the solution pytree, the residual norm and the iteration count.
    """
    # On one flat vector: the loop body then holds a handful of vector operations instead of
    # a handful per parameter leaf, a smaller program to compile (the answer is the same up
    # to the order of float summation).
    b, unravel = ravel_pytree(b)
    tree_matvec = matvec

    def matvec(v):
        return ravel_pytree(tree_matvec(unravel(v)))[0]

    x0 = jnp.zeros_like(b)
    rr0 = _tree_vdot(b, b)
    tiny = jnp.finfo(rr0.dtype).tiny

    def cond(carry):
        iteration, _, _, _, rr, stalled = carry
        return (iteration < max_iters) & ~stalled & (jnp.sqrt(rr) > jnp.maximum(tol, 0.0))

    def body(carry):
        iteration, x, r, p, rr, _ = carry
        a_p = matvec(p)
        p_a_p = _tree_vdot(p, a_p)
        stalled = ~(p_a_p > tiny) | ~jnp.isfinite(p_a_p)
        alpha = rr / jnp.where(stalled, 1.0, p_a_p)
        x_new = _tree_add_scaled(x, alpha, p)
        r_new = _tree_add_scaled(r, -alpha, a_p)
        rr_new = _tree_vdot(r_new, r_new)
        # rr > 0 here because the loop only runs while sqrt(rr) > max(tol, 0).
        p_new = _tree_add_scaled(r_new, rr_new / rr, p)
        return (
            iteration + jnp.where(stalled, 0, 1).astype(jnp.int32),
            _tree_select(stalled, x, x_new),
            _tree_select(stalled, r, r_new),
            _tree_select(stalled, p, p_new),
            jnp.where(stalled, rr, rr_new),
            stalled,
        )

    init = (jnp.zeros((), jnp.int32), x0, b, b, rr0, jnp.array(False))
    iteration, x, _, _, rr, _ = jax.lax.while_loop(cond, body, init)
    return CGResult(x=unravel(x), residual_norm=jnp.sqrt(rr), num_iters=iteration)


def hessian_vector_product(
    fn: Callable[[PyTree], jax.Array], params: PyTree
) -> Callable[[PyTree], PyTree]:
    """Returns `v -> H v` with `H` the Hessian of the scalar `fn` at `params`.

    Forward-over-reverse differentiation, `jvp(grad(fn))`, linearised once so that repeated
    products (e.g. inside conjugate gradient) reuse the forward and backward passes.

    Args:
        fn: a scalar function of a parameter pytree.
        params: the point at which the Hessian is taken.

    Returns:
        A linear function from pytrees shaped like `params` to the same.
    """
    _, hvp = jax.linearize(jax.grad(fn), params)
    return hvp


def fisher_vector_product(
    kl_fn: Callable[[PyTree], jax.Array], params: PyTree, damping: ArrayLike
) -> Callable[[PyTree], PyTree]:
    """Returns `v -> F v + damping * v`, the damped Fisher-vector product.

    `kl_fn(p)` must be the mean `KL(pi_old || pi_p)` over a batch of states with `pi_old` held
    fixed (stop-gradient) and equal to `pi_params`; its Hessian at `params` is then the Fisher
    information matrix `F` averaged over the batch.

    Args:
        kl_fn: a scalar function of a parameter pytree.
        params: the old policy parameters.
        damping: Tikhonov damping added to `F`; may be traced.

    Returns:
        A linear function from pytrees shaped like `params` to the same.
    """
    hvp = hessian_vector_product(kl_fn, params)
    return lambda v: _tree_add_scaled(hvp(v), damping, v)


def gauss_newton_vector_product(
    predict_fn: Callable[[PyTree], jax.Array],
    params: PyTree,
    *,
    scale: ArrayLike,
    damping: ArrayLike,
) -> Callable[[PyTree], PyTree]:
    """Returns `v -> scale * J^T (J v) + damping * v`, positive semi-definite by construction.

    `J` is the Jacobian of `predict_fn` at `params`. For the trust-region value fit of
    Schulman et al. (2016, §5) the constraint is `mean((V - V_old)^2) / (2 sigma^2)` over `N`
    states, whose Hessian at the old parameters is `J^T J / (N sigma^2)`: use
    `scale = 1 / (N sigma^2)`.

    Args:
        predict_fn: maps a parameter pytree to `[N]` outputs (e.g. values of `N` states).
        params: the point at which `J` is taken.
        scale: multiplier of `J^T J`; may be traced.
        damping: Tikhonov damping; may be traced.

    Returns:
        A linear function from pytrees shaped like `params` to the same.
    """
    _, jvp_fn = jax.linearize(predict_fn, params)
    vjp_fn = jax.linear_transpose(jvp_fn, params)

    def matvec(v: PyTree) -> PyTree:
        (jtjv,) = vjp_fn(jvp_fn(v))
        return jax.tree.map(lambda a, b: (scale * a + damping * b).astype(b.dtype), jtjv, v)

    return matvec


def trust_region_step(
    objective_fn: Callable[[PyTree], jax.Array],
    constraint_fn: Callable[[PyTree], jax.Array],
    params: PyTree,
    curvature_vp: Callable[[PyTree], PyTree],
    *,
    max_constraint: ArrayLike,
    cg_iters: int,
    cg_tol: ArrayLike = 0.0,
    line_search: bool = True,
    backtrack_ratio: ArrayLike = 0.8,
    max_backtracks: int = 10,
) -> tuple[PyTree, TrustRegionInfo]:
    """One step minimising `objective_fn` subject to `constraint_fn <= max_constraint`.

    With `g` the gradient of the objective and `H` the curvature of the constraint, the search
    direction is `s = -H^{-1} g` (by conjugate gradient) and the full step `beta * s` with
    `beta = sqrt(2 max_constraint / s^T H s)`, where the quadratic model of the constraint
    reaches its bound. With `line_search`, candidates `params + backtrack_ratio**k * beta * s`
    for `k = 0 .. max_backtracks - 1` are tried in turn and the first whose measured
    constraint is `<= max_constraint` and whose objective is strictly lower (both finite) is
    taken (TRPO). Without it the full step is taken whenever it is finite (natural policy
    gradient). If the gradient or direction is not finite, the curvature `s^T H s` is not
    positive, or no candidate is accepted, the returned parameters equal `params` bit for bit.

    Args:
        objective_fn: scalar loss to minimise, e.g. the negative surrogate advantage.
        constraint_fn: scalar constraint, e.g. the mean `KL(pi_old || pi_p)`; `0` at `params`.
        params: current parameter pytree of float arrays.
        curvature_vp: `v -> H v` for the constraint's curvature at `params`, e.g. from
            `fisher_vector_product` or `gauss_newton_vector_product`.
        max_constraint: the trust-region size (e.g. max KL); may be traced.
        cg_iters: static number of conjugate-gradient iterations.
        cg_tol: conjugate-gradient residual tolerance; may be traced.
        line_search: static; backtrack on the measured constraint and objective (TRPO) or take
            the full step (natural policy gradient).
        backtrack_ratio: step shrink factor per backtrack, in `(0, 1)`; may be traced.
        max_backtracks: static number of line-search candidates.

    Returns:
        `(new_params, info)`: parameters shaped like `params` and a `TrustRegionInfo`.
    """
    # On one flat vector, as in `conjugate_gradient`: the vector arithmetic, checks and
    # selections below are then one operation each, not one per parameter leaf (a smaller
    # program to compile); the functions see the parameters as a pytree.
    flat_params, unravel = ravel_pytree(params)

    def flat(fn):
        return lambda x: fn(unravel(x))

    def flat_curvature_vp(v):
        return ravel_pytree(curvature_vp(unravel(v)))[0]

    objective, constraint_of = flat(objective_fn), flat(constraint_fn)
    loss, grad = jax.value_and_grad(objective)(flat_params)
    constraint_at_params = constraint_of(flat_params)
    cg = conjugate_gradient(flat_curvature_vp, -grad, max_iters=cg_iters, tol=cg_tol)
    direction = cg.x
    shs = jnp.vdot(direction, flat_curvature_vp(direction))
    grad_dot_direction = jnp.vdot(grad, direction)

    curved = (shs > _MIN_CURVATURE * jnp.vdot(direction, direction)) & jnp.isfinite(shs)
    valid = jnp.isfinite(grad).all() & jnp.isfinite(direction).all() & curved
    # A placeholder divisor where the step is invalid keeps beta finite: no NaN or inf can reach
    # the parameters, even through the branch that `where` discards.
    beta = jnp.sqrt(2.0 * jnp.maximum(max_constraint, 0.0) / jnp.where(valid, shs, 1.0))
    beta = jnp.where(valid & jnp.isfinite(beta), beta, 0.0)
    valid = valid & jnp.isfinite(beta * direction).all()

    def evaluate(step_size):
        candidate = _tree_add_scaled(flat_params, step_size, direction)
        return candidate, objective(candidate), constraint_of(candidate)

    if line_search:

        def cond(carry):
            backtracks, accepted, *_ = carry
            return valid & ~accepted & (backtracks < max_backtracks)

        def body(carry):
            backtracks, *_ = carry
            step_size = beta * jnp.power(backtrack_ratio, backtracks.astype(beta.dtype))
            candidate, new_loss, new_constraint = evaluate(step_size)
            accepted = (
                jnp.isfinite(new_loss)
                & jnp.isfinite(new_constraint)
                & (new_constraint <= max_constraint)
                & (new_loss < loss)
            )
            # The accepted candidate is carried out of the loop rather than recomputed, so the
            # returned parameters are exactly those whose constraint was measured.
            return (
                backtracks + jnp.where(accepted, 0, 1).astype(jnp.int32),
                accepted,
                step_size,
                candidate,
                new_loss,
                new_constraint,
            )

        init = (
            jnp.zeros((), jnp.int32),
            jnp.array(False),
            jnp.zeros_like(beta),
            flat_params,
            jnp.zeros_like(loss),
            jnp.zeros_like(constraint_at_params),
        )
        num_backtracks, success, tried_step_size, candidate, new_loss, new_constraint = (
            jax.lax.while_loop(cond, body, init)
        )
        tried_step_size = jnp.where(success, tried_step_size, beta)
    else:
        candidate, new_loss, new_constraint = evaluate(beta)
        success = valid & jnp.isfinite(new_loss) & jnp.isfinite(new_constraint)
        num_backtracks = jnp.zeros((), jnp.int32)
        tried_step_size = beta

    step_size = jnp.where(success, tried_step_size, 0.0)
    # `params` itself, not its flat copy unravelled, when no step is taken: bit for bit.
    new_params = _tree_select(success, unravel(candidate), params)
    constraint = jnp.where(success, new_constraint, constraint_at_params)
    info = TrustRegionInfo(
        constraint=constraint,
        improvement=jnp.where(success, loss - new_loss, 0.0),
        expected_improvement=jnp.where(valid, -tried_step_size * grad_dot_direction, 0.0),
        num_backtracks=num_backtracks,
        success=success,
        cg_residual=jnp.where(jnp.isfinite(cg.residual_norm), cg.residual_norm, jnp.inf),
        step_size=step_size,
        shs=jnp.where(jnp.isfinite(shs), shs, 0.0),
        valid=valid,
    )
    return new_params, info
