"""JAX environments (gymnax 1.0 API) and `make_env`."""

from jaxpg.envs.base import Environment
from jaxpg.envs.cartpole import CartPole, CartPoleParams, CartPoleState
from jaxpg.envs.gridworld import (
    SEED_GRID,
    SEED_START,
    GridWorld,
    GridWorldParams,
    GridWorldState,
)
from jaxpg.envs.gridworld_solver import (
    GridSolution,
    policy_evaluation,
    uniform_policy,
    value_iteration,
)
from jaxpg.envs.registry import known_env_ids, make_env, registered_envs

__all__ = [
    "CartPole",
    "CartPoleParams",
    "CartPoleState",
    "Environment",
    "GridSolution",
    "GridWorld",
    "GridWorldParams",
    "GridWorldState",
    "SEED_GRID",
    "SEED_START",
    "known_env_ids",
    "make_env",
    "policy_evaluation",
    "registered_envs",
    "uniform_policy",
    "value_iteration",
]
