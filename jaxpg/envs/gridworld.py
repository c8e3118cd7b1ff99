"""GridWorld-v0: seed 001's deterministic gridworld, in JAX.

The agent walks on a grid of cell values. Actions (the seed's meanings):

====== ===========================
action move
====== ===========================
0      stay
1      row - 1 ("up" on screen)
2      row + 1
3      column + 1
4      column - 1
====== ===========================

A move off the grid leaves the agent in place. The reward of a step is the value of the cell
the agent occupies *before* it moves (as in the seed, where the reward stored with an action is
that of the current cell). Nothing terminates; the episode is truncated after
``max_steps_in_episode`` steps (300 by default, the seed's horizon).

Differences from the seed, each a bug there:

* the seed does not reset the agent between the trajectories of a batch (the second trajectory
  starts where the first ended); here every episode starts at ``start``;
* the seed bounds the row index by the number of columns; here rows and columns use their own
  sizes, which matters only for non-square grids.

Observations are a one-hot vector over cells (``observation="one_hot"``, the default), which
makes a linear policy tabular, or the seed's raw ``(row, col)`` coordinates
(``observation="coordinates"``). One-hot is the default because on coordinates a policy can
only shape its action preferences smoothly in row and column, which cannot route around
hazards: on random 5x5 to 8x8 grids, maximum-entropy PG with a baseline reached at least 97% of
the way from the uniform policy to the soft optimum on one-hot cells, and as little as 18% on
coordinates (measured 2026-12-02; tests/test_maxent_grids.py).
The grid, start cell and time limit live in `GridWorldParams` (traced, so grids of one shape can
be vmapped). The exact solver is in `jaxpg.envs.gridworld_solver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from jaxpg.envs.base import Environment

#: Seed 001's grid; the goal (top right) is worth 1000.
SEED_GRID: tuple[tuple[float, ...], ...] = (
    (-1, -1, -1, -10, -1, 1000),
    (-100, -1, -10, -1, -10, -10),
    (-1, -10, -100, -10, -1, -1),
    (-1, -1, -100, -10, -1, -1),
    (-10, -1, -100, -100, -100, -1),
    (-1, -1, -100, -100, -100, -1),
)
SEED_START = (5, 0)

#: (row, col) displacement of each action.
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, 1], [0, -1]], dtype=np.int32)
OBSERVATIONS = ("coordinates", "one_hot")


@struct.dataclass
class GridWorldState:
    """Agent cell ``(row, col)`` and step count."""

    position: jax.Array  # int32 [2]
    time: jax.Array


@struct.dataclass
class GridWorldParams:
    """Cell values [H, W], start cell [2] and time limit."""

    grid: jax.Array
    start: jax.Array
    max_steps_in_episode: int = 300


def validate_grid(grid: Any, start: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checks a grid and start cell, returning them as arrays; raises ValueError if malformed."""
    if isinstance(grid, np.ndarray | jax.Array):
        rows = [list(row) for row in np.asarray(grid)] if np.ndim(grid) == 2 else None
        if rows is None:
            raise ValueError(f"grid must be 2-D (rows of cell values); got shape {np.shape(grid)}")
    elif isinstance(grid, Sequence) and not isinstance(grid, str):
        rows = list(grid)
    else:
        raise ValueError(f"grid must be a list of rows of numbers; got {type(grid).__name__}")
    if not rows or any(not isinstance(r, Sequence | np.ndarray) or len(r) == 0 for r in rows):
        raise ValueError(f"grid must be a non-empty list of non-empty rows; got {grid!r}")
    lengths = sorted({len(r) for r in rows})
    if len(lengths) != 1:
        raise ValueError(f"grid is ragged: its rows have lengths {lengths}; all rows must match")
    try:
        grid_array = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"grid cells must be numbers; got {grid!r}") from error
    if not np.all(np.isfinite(grid_array)):
        raise ValueError("grid cells must be finite numbers (no NaN or inf)")
    start_array = np.asarray(start)
    if start_array.shape != (2,) or not np.issubdtype(start_array.dtype, np.integer):
        raise ValueError(f"start must be a (row, col) pair of integers; got {start!r}")
    height, width = grid_array.shape
    if not (0 <= start_array[0] < height and 0 <= start_array[1] < width):
        raise ValueError(
            f"start={tuple(int(v) for v in start_array)} is outside the {height}x{width} grid "
            f"(rows 0..{height - 1}, columns 0..{width - 1})"
        )
    return grid_array, start_array.astype(np.int32)


class GridWorld(Environment):
    """Seed 001's gridworld (see the module docstring).

    Args:
        grid: rows of cell values; defaults to the seed's 6x6 grid.
        start: the start cell ``(row, col)``; defaults to ``(5, 0)``.
        max_steps: the time limit (episode length), default 300.
        observation: ``"one_hot"`` (``[H*W]``, the default) or ``"coordinates"`` (float32
            ``[row, col]``, seed 001's).
    """

    DETERMINISTIC_TRANSITIONS = True
    num_actions = 5

    def __init__(
        self,
        grid: Any = SEED_GRID,
        start: Any = SEED_START,
        max_steps: int = 300,
        observation: str = "one_hot",
    ):
        super().__init__()
        grid_array, start_array = validate_grid(grid, start)
        if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer):
            raise ValueError(f"max_steps must be a positive integer; got {max_steps!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1; got {max_steps}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}; got {observation!r}")
        self.shape = grid_array.shape
        self.observation = observation
        self._grid = grid_array
        self._start = start_array
        self._max_steps = int(max_steps)
        self.obs_shape = (2,) if observation == "coordinates" else (grid_array.size,)

    @property
    def default_params(self) -> GridWorldParams:
        return GridWorldParams(
            grid=jnp.asarray(self._grid),
            start=jnp.asarray(self._start),
            max_steps_in_episode=self._max_steps,
        )

    @property
    def name(self) -> str:
        return "GridWorld-v0"

    def step_env(
        self, key: jax.Array, state: GridWorldState, action: Any, params: GridWorldParams
    ) -> tuple[jax.Array, GridWorldState, jax.Array, jax.Array, dict[str, Any]]:
        del key  # the dynamics are deterministic
        reward = params.grid[state.position[0], state.position[1]]
        position = next_position(state.position, action, self.shape)
        state = GridWorldState(position=position, time=state.time + 1)
        terminated = jnp.zeros((), bool)
        return self.get_obs(state, params), state, reward, terminated, {}

    def reset_env(
        self, key: jax.Array, params: GridWorldParams
    ) -> tuple[jax.Array, GridWorldState]:
        del key  # the start cell is fixed
        state = GridWorldState(
            position=jnp.asarray(params.start, jnp.int32), time=jnp.zeros((), jnp.int32)
        )
        return self.get_obs(state, params), state

    def get_obs(self, state: GridWorldState, params: Any = None, key: Any = None) -> jax.Array:
        if self.observation == "coordinates":
            return state.position.astype(jnp.float32)
        index = state.position[0] * self.shape[1] + state.position[1]
        return jax.nn.one_hot(index, self.shape[0] * self.shape[1], dtype=jnp.float32)

    def is_terminated(self, state: GridWorldState, params: GridWorldParams) -> jax.Array:
        return jnp.zeros((), bool)

    def action_space(self, params: GridWorldParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(5)

    def observation_space(self, params: GridWorldParams | None = None) -> spaces.Box:
        if self.observation == "coordinates":
            high = jnp.array([self.shape[0] - 1, self.shape[1] - 1], jnp.float32)
            return spaces.Box(jnp.zeros(2, jnp.float32), high, (2,), jnp.float32)
        return spaces.Box(0.0, 1.0, self.obs_shape, jnp.float32)

    def state_space(self, params: GridWorldParams | None = None) -> spaces.Dict:
        return spaces.Dict(
            {
                "position": spaces.Box(0, max(self.shape) - 1, (2,), jnp.int32),
                "time": spaces.Discrete(self._max_steps),
            }
        )

    def observe_cell(self, row: int, col: int) -> jax.Array:
        """The observation the agent receives in cell ``(row, col)`` (for action maps)."""
        state = GridWorldState(position=jnp.array([row, col], jnp.int32), time=jnp.int32(0))
        return self.get_obs(state)


def next_position(position: jax.Array, action: Any, shape: tuple[int, int]) -> jax.Array:
    """The cell reached from ``position`` [2] by ``action``; off-grid moves stay in place."""
    target = position + jnp.asarray(MOVES)[action]
    inside = (target >= 0).all() & (target[0] < shape[0]) & (target[1] < shape[1])
    return jnp.where(inside, target, position).astype(jnp.int32)
