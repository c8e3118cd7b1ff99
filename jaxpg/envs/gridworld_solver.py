"""Exact dynamic programming on the gridworld: the ground truth for learning tests.

Value iteration (Bellman 1957) and its soft, maximum-entropy variant (Ziebart 2010; Levine
2018, "Reinforcement Learning and Control as Probabilistic Inference"), plus exact policy
evaluation. Everything is in float64 NumPy, deliberately independent of the JAX code it checks.

The gridworld's reward depends only on the cell the agent is in before it moves, so with
``s' = next(s, a)``::

    Q(s, a) = r(s) + gamma * V(s')
    V(s)    = max_a Q(s, a)                              (alpha = 0)
    V(s)    = alpha * log sum_a exp(Q(s, a) / alpha)     (alpha > 0; soft)
    pi(a|s) = exp((Q(s, a) - V(s)) / alpha)

The soft value is the optimum of the entropy-augmented return
``E[sum_t gamma^t (r_t - alpha * log pi(a_t|s_t))]``. With ``horizon=T`` the problem is the
finite-horizon one (T steps from the start; the episode is truncated after that) and the values
and policy returned are those at time 0; with ``horizon=None`` it is the infinite discounted one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from jaxpg.envs.gridworld import MOVES, validate_grid


class GridSolution(NamedTuple):
    """Values ``[H, W]``, action values ``[H, W, 5]`` and policy ``[H, W, 5]`` (probabilities)."""

    values: np.ndarray
    q_values: np.ndarray
    policy: np.ndarray


def transition_table(shape: tuple[int, int]) -> np.ndarray:
    """Next-cell flat index ``[H*W, 5]`` for every flat cell index and action."""
    height, width = shape
    rows, cols = np.divmod(np.arange(height * width), width)
    target_rows = rows[:, None] + MOVES[None, :, 0]
    target_cols = cols[:, None] + MOVES[None, :, 1]
    inside = (
        (target_rows >= 0) & (target_rows < height) & (target_cols >= 0) & (target_cols < width)
    )
    target = target_rows * width + target_cols
    return np.where(inside, target, np.arange(height * width)[:, None])


def _backup(values: np.ndarray, rewards: np.ndarray, table: np.ndarray, gamma: float, alpha: float):
    q = rewards[:, None] + gamma * values[table]
    if alpha == 0.0:
        best = q.max(axis=1)
        greedy = (q >= best[:, None] - 1e-12 * np.maximum(1.0, np.abs(best[:, None]))).astype(float)
        return best, q, greedy / greedy.sum(axis=1, keepdims=True)
    top = q.max(axis=1, keepdims=True)
    soft = top[:, 0] + alpha * np.log(np.exp((q - top) / alpha).sum(axis=1))
    return soft, q, np.exp((q - soft[:, None]) / alpha)


def value_iteration(
    grid: Any,
    gamma: float,
    *,
    alpha: float = 0.0,
    horizon: int | None = None,
    tol: float = 1e-9,
    max_iters: int = 1_000_000,
) -> GridSolution:
    """Optimal (``alpha == 0``) or soft-optimal (``alpha > 0``) values and policy.

    Args:
        grid: cell values, rows of numbers ``[H, W]``.
        gamma: discount in [0, 1]; must be < 1 when ``horizon`` is None.
        alpha: entropy temperature; 0 gives the ordinary optimum.
        horizon: number of steps for the finite-horizon problem, or None for infinite.
        tol: convergence threshold (max-norm change) for the infinite-horizon iteration.
        max_iters: iteration cap for the infinite-horizon iteration.

    Returns:
        `GridSolution` with values ``[H, W]``, Q ``[H, W, 5]`` and policy ``[H, W, 5]``. With
        ``alpha == 0`` the policy spreads evenly over tied best actions.
    """
    grid_array, _ = validate_grid(grid, (0, 0))
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1]; got {gamma}")
    if alpha < 0.0:
        raise ValueError(f"alpha must be >= 0; got {alpha}")
    if horizon is None and gamma >= 1.0:
        raise ValueError("an infinite horizon needs gamma < 1; pass horizon=T or a smaller gamma")
    shape = grid_array.shape
    rewards = grid_array.astype(np.float64).ravel()
    table = transition_table(shape)
    values = np.zeros(rewards.size)
    if horizon is not None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1; got {horizon}")
        for _ in range(horizon):
            values, q, policy = _backup(values, rewards, table, gamma, alpha)
    else:
        for _ in range(max_iters):
            new_values, q, policy = _backup(values, rewards, table, gamma, alpha)
            converged = np.max(np.abs(new_values - values)) <= tol * max(
                1.0, np.max(np.abs(values))
            )
            values = new_values
            if converged:
                break
        else:
            raise RuntimeError(f"value iteration did not converge in {max_iters} iterations")
    return GridSolution(values.reshape(shape), q.reshape(*shape, 5), policy.reshape(*shape, 5))


def policy_evaluation(
    grid: Any,
    policy: Any,
    gamma: float,
    *,
    alpha: float = 0.0,
    horizon: int | None = None,
) -> np.ndarray:
    """Exact expected (entropy-augmented when ``alpha > 0``) return of a stationary policy.

    Args:
        grid: cell values ``[H, W]``.
        policy: action probabilities ``[H, W, 5]`` in every cell.
        gamma: discount in [0, 1] (< 1 when ``horizon`` is None).
        alpha: entropy temperature; the per-step reward is ``r(s) - alpha * log pi(a|s)``.
        horizon: number of steps, or None for the infinite discounted return.

    Returns:
        Values ``[H, W]``: the expected return from each cell at time 0.
    """
    grid_array, _ = validate_grid(grid, (0, 0))
    shape = grid_array.shape
    probs = np.asarray(policy, dtype=np.float64).reshape(-1, 5)
    if probs.shape[0] != grid_array.size or np.any(probs < 0):
        raise ValueError(f"policy must be non-negative probabilities of shape {(*shape, 5)}")
    rewards = grid_array.astype(np.float64).ravel()
    if alpha > 0.0:
        entropy = -np.sum(np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1)), 0), 1)
        rewards = rewards + alpha * entropy
    table = transition_table(shape)
    size = rewards.size
    transition = np.zeros((size, size))
    np.add.at(transition, (np.repeat(np.arange(size), 5), table.ravel()), probs.ravel())
    if horizon is None:
        if gamma >= 1.0:
            raise ValueError("an infinite horizon needs gamma < 1")
        values = np.linalg.solve(np.eye(size) - gamma * transition, rewards)
    else:
        values = np.zeros(size)
        for _ in range(horizon):
            values = rewards + gamma * transition @ values
    return values.reshape(shape)


def uniform_policy(shape: tuple[int, int]) -> np.ndarray:
    """The uniformly random policy ``[H, W, 5]``."""
    return np.full((*shape, 5), 0.2)
