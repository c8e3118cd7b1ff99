"""JAX environments (gymnax 1.0 API) and `make_env`.

Names load on first use, so ``import jaxpg.envs`` does not import gymnax until an environment
is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it
_ATTRIBUTES = {
    "Environment": "jaxpg.envs.base",
    "CartPole": "jaxpg.envs.cartpole",
    "CartPoleParams": "jaxpg.envs.cartpole",
    "CartPoleState": "jaxpg.envs.cartpole",
    "SEED_GRID": "jaxpg.envs.gridworld",
    "SEED_START": "jaxpg.envs.gridworld",
    "GridWorld": "jaxpg.envs.gridworld",
    "GridWorldParams": "jaxpg.envs.gridworld",
    "GridWorldState": "jaxpg.envs.gridworld",
    "GridSolution": "jaxpg.envs.gridworld_solver",
    "policy_evaluation": "jaxpg.envs.gridworld_solver",
    "uniform_policy": "jaxpg.envs.gridworld_solver",
    "value_iteration": "jaxpg.envs.gridworld_solver",
    "known_env_ids": "jaxpg.envs.registry",
    "make_env": "jaxpg.envs.registry",
    "registered_envs": "jaxpg.envs.registry",
}

__all__ = sorted(_ATTRIBUTES)


def __getattr__(name: str) -> Any:
    if name not in _ATTRIBUTES:
        raise AttributeError(f"module 'jaxpg.envs' has no attribute {name!r}")
    value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_ATTRIBUTES])
