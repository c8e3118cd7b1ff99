"""GridWorld transitions by hand, and the exact solver against brute-force enumeration."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg.envs import gridworld_solver as solver
from jaxpg.envs.gridworld import GridWorldState

STAY, UP, DOWN, RIGHT, LEFT = range(5)


def _step(env, params, cell, action):
    state = GridWorldState(position=jnp.array(cell, jnp.int32), time=jnp.int32(0))
    obs, new_state, reward, terminated, truncated, _ = env.step(
        jax.random.key(0), state, action, params
    )
    return tuple(int(v) for v in new_state.position), float(reward), bool(terminated)


@pytest.mark.parametrize(
    "cell, action, expected",
    [
        ((5, 0), STAY, (5, 0)),
        ((5, 0), UP, (4, 0)),
        ((5, 0), DOWN, (5, 0)),  # bottom edge
        ((5, 0), LEFT, (5, 0)),  # left edge
        ((5, 0), RIGHT, (5, 1)),
        ((0, 5), UP, (0, 5)),  # top-right corner
        ((0, 5), RIGHT, (0, 5)),
        ((0, 5), LEFT, (0, 4)),
        ((0, 5), DOWN, (1, 5)),
        ((0, 0), UP, (0, 0)),
        ((0, 0), LEFT, (0, 0)),
        ((5, 5), DOWN, (5, 5)),
        ((5, 5), RIGHT, (5, 5)),
        ((2, 3), UP, (1, 3)),
    ],
)
def test_seed_grid_transitions(cell, action, expected):
    env, params = jaxpg.make_env("GridWorld-v0")
    new_cell, reward, terminated = _step(env, params, cell, action)
    assert new_cell == expected
    # The reward is the value of the cell before the move (the seed's convention).
    assert reward == jaxpg.envs.SEED_GRID[cell[0]][cell[1]]
    assert not terminated


def test_non_square_grid_uses_its_own_bounds():
    env, params = jaxpg.make_env("GridWorld-v0", grid=[[1, 2, 3]], start=(0, 0))
    assert _step(env, params, (0, 2), RIGHT)[0] == (0, 2)
    assert _step(env, params, (0, 0), DOWN)[0] == (0, 0)
    assert _step(env, params, (0, 1), RIGHT)[0] == (0, 2)


def test_one_hot_observation():
    env, params = jaxpg.make_env("GridWorld-v0", observation="one_hot")
    obs, _ = env.reset(jax.random.key(0), params)
    assert obs.shape == (36,) and float(obs[5 * 6 + 0]) == 1.0 and float(obs.sum()) == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grid": []}, "non-empty"),
        ({"grid": [[1, 2], [3]]}, "ragged"),
        ({"grid": [[1, 2], [3, 4]], "start": (2, 0)}, "outside the 2x2 grid"),
        ({"grid": [[1, 2], [3, 4]], "start": (0, -1)}, "outside"),
        ({"grid": [[1, float("nan")]], "start": (0, 0)}, "finite"),
        ({"max_steps": 0}, "max_steps"),
        ({"observation": "pixels"}, "observation"),
    ],
)
def test_bad_gridworld_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jaxpg.make_env("GridWorld-v0", **kwargs)


TINY = [[-1.0, 4.0], [0.5, -3.0]]


def _brute_force_best(grid, start, horizon, gamma):
    """Best discounted return over all open-loop action sequences (dynamics are deterministic)."""
    table = solver.transition_table((2, 2))
    rewards = np.asarray(grid).ravel()
    best = -np.inf
    for actions in itertools.product(range(5), repeat=horizon):
        cell, total = start[0] * 2 + start[1], 0.0
        for t, action in enumerate(actions):
            total += gamma**t * rewards[cell]
            cell = table[cell, action]
        best = max(best, total)
    return best


def _brute_force_soft(grid, start, horizon, alpha):
    """alpha * log sum over action sequences of exp(return / alpha): the soft optimum (gamma=1)."""
    table = solver.transition_table((2, 2))
    rewards = np.asarray(grid).ravel()
    returns = []
    for actions in itertools.product(range(5), repeat=horizon):
        cell, total = start[0] * 2 + start[1], 0.0
        for action in actions:
            total += rewards[cell]
            cell = table[cell, action]
        returns.append(total)
    returns = np.array(returns)
    top = returns.max()
    return top + alpha * np.log(np.exp((returns - top) / alpha).sum())


@pytest.mark.parametrize("start", [(0, 0), (1, 1), (1, 0)])
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_value_iteration_matches_enumeration(start, gamma):
    horizon = 4
    solution = solver.value_iteration(TINY, gamma, horizon=horizon)
    expected = _brute_force_best(TINY, start, horizon, gamma)
    np.testing.assert_allclose(solution.values[start], expected, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_soft_value_iteration_matches_enumeration(alpha):
    horizon = 4
    solution = solver.value_iteration(TINY, 1.0, alpha=alpha, horizon=horizon)
    for start in [(0, 0), (1, 1)]:
        expected = _brute_force_soft(TINY, start, horizon, alpha)
        np.testing.assert_allclose(solution.values[start], expected, rtol=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_optimal_policy_evaluates_to_optimal_value(alpha):
    grid = jaxpg.envs.SEED_GRID
    solution = solver.value_iteration(grid, 0.9, alpha=alpha)
    evaluated = solver.policy_evaluation(grid, solution.policy, 0.9, alpha=alpha)
    np.testing.assert_allclose(evaluated, solution.values, rtol=1e-6)
    uniform = solver.policy_evaluation(grid, solver.uniform_policy((6, 6)), 0.9, alpha=alpha)
    assert np.all(uniform <= solution.values + 1e-6)
    assert uniform[5, 0] < solution.values[5, 0] - 100


def test_seed_grid_optimal_path_reaches_goal():
    solution = solver.value_iteration(jaxpg.envs.SEED_GRID, 0.99, horizon=300)
    # From the goal the best is to stay (STAY, or UP / RIGHT off the grid): 1000 per step.
    np.testing.assert_allclose(solution.policy[0, 5], [1 / 3, 1 / 3, 0, 1 / 3, 0])
    assert solution.values[0, 5] == pytest.approx(1000 * (1 - 0.99**300) / (1 - 0.99))


def test_policy_evaluation_matches_monte_carlo_rollouts():
    env, params = jaxpg.make_env("GridWorld-v0", max_steps=20)
    policy = np.random.default_rng(0).dirichlet(np.ones(5), size=(6, 6))
    expected = solver.policy_evaluation(jaxpg.envs.SEED_GRID, policy, 0.95, horizon=20)
    table = jnp.log(jnp.asarray(policy))

    def episode(key):
        obs, state = env.reset(key, params)

        def body(carry, t):
            state, key = carry
            key, action_key, step_key = jax.random.split(key, 3)
            action = jax.random.categorical(action_key, table[state.position[0], state.position[1]])
            _, state, reward, _, _, _ = env.step(step_key, state, action, params)
            return (state, key), reward * 0.95**t

        _, rewards = jax.lax.scan(body, (state, key), jnp.arange(20))
        return rewards.sum()

    returns = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.key(0), 20000))
    standard_error = float(returns.std()) / np.sqrt(20000)
    assert abs(float(returns.mean()) - expected[5, 0]) < 4 * standard_error
