"""jaxpg: vectorized policy-gradient reinforcement learning in JAX.

Example:
    >>> import jax, jaxpg
    >>> env, env_params = jaxpg.make_env("CartPole-v1")
    >>> train = jaxpg.make_train(jaxpg.VPGConfig(total_timesteps=10_000), env, env_params)
    >>> result = jax.jit(train)(jax.random.key(0))

Importing jaxpg is cheap: every public name is loaded on first use (PEP 562 module
``__getattr__``), so ``import jaxpg.advantages`` or ``jaxpg.natural_gradient`` pulls in neither
gymnax, gymnasium nor matplotlib, and ``jaxpg.make_env`` loads gymnax only when called for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_ATTRIBUTES = {
    "ActorCriticConfig": "jaxpg.algorithms.actor_critic",
    "PPOConfig": "jaxpg.algorithms.ppo",
    "TRPOConfig": "jaxpg.algorithms.trpo",
    "VPGConfig": "jaxpg.algorithms.vpg",
    "Categorical": "jaxpg.distributions",
    "DiagGaussian": "jaxpg.distributions",
    "TanhGaussian": "jaxpg.distributions",
    "Policy": "jaxpg.networks",
    "Critic": "jaxpg.networks",
    "make_env": "jaxpg.envs.registry",
    "evaluate": "jaxpg.evaluation",
    "load_policy": "jaxpg.policies",
    "data_parallel_mesh": "jaxpg.parallel",
    "Trajectory": "jaxpg.rollout",
    "COMPILER_OPTIONS": "jaxpg.train",
    "FAST_COMPILE_OPTIONS": "jaxpg.train",
    "TrainResult": "jaxpg.train",
    "TrainState": "jaxpg.train",
    "make_train": "jaxpg.train",
    "make_trainer": "jaxpg.train",
}

_SUBMODULES = (
    "advantages",
    "algorithms",
    "bookkeeping",
    "checkpoint",
    "distributions",
    "envs",
    "evaluation",
    "host_train",
    "loggers",
    "losses",
    "natural_gradient",
    "networks",
    "normalization",
    "parallel",
    "plotting",
    "presets",
    "render",
    "rollout",
    "spaces",
    "train",
)

__all__ = sorted([*_ATTRIBUTES, *_SUBMODULES])


def __getattr__(name: str) -> Any:
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"jaxpg.{name}")
    else:
        raise AttributeError(f"module 'jaxpg' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_ATTRIBUTES, *_SUBMODULES])


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from jaxpg import (  # noqa: F401
        advantages,
        algorithms,
        bookkeeping,
        checkpoint,
        distributions,
        envs,
        evaluation,
        host_train,
        loggers,
        losses,
        natural_gradient,
        networks,
        normalization,
        parallel,
        plotting,
        presets,
        render,
        rollout,
        spaces,
        train,
    )
    from jaxpg.algorithms import ActorCriticConfig, PPOConfig, TRPOConfig, VPGConfig  # noqa: F401
    from jaxpg.distributions import Categorical, DiagGaussian, TanhGaussian  # noqa: F401
    from jaxpg.envs.registry import make_env  # noqa: F401
    from jaxpg.evaluation import evaluate  # noqa: F401
    from jaxpg.networks import Critic, Policy  # noqa: F401
    from jaxpg.parallel import data_parallel_mesh  # noqa: F401
    from jaxpg.policies import load_policy  # noqa: F401
    from jaxpg.rollout import Trajectory  # noqa: F401
    from jaxpg.train import (  # noqa: F401
        COMPILER_OPTIONS,
        FAST_COMPILE_OPTIONS,
        TrainResult,
        TrainState,
        make_train,
        make_trainer,
    )
