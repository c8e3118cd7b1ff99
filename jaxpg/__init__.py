"""jaxpg: vectorized policy-gradient reinforcement learning in JAX.

Example:
    >>> import jax, jaxpg
    >>> env, env_params = jaxpg.make_env("CartPole-v1")
    >>> train = jaxpg.make_train(jaxpg.VPGConfig(total_timesteps=10_000), env, env_params)
    >>> result = jax.jit(train)(jax.random.key(0))
"""

from jaxpg import (
    advantages,
    checkpoint,
    distributions,
    envs,
    losses,
    natural_gradient,
    parallel,
    plotting,
    render,
    rollout,
)
from jaxpg.algorithms import ActorCriticConfig, PPOConfig, TRPOConfig, VPGConfig
from jaxpg.distributions import Categorical, DiagGaussian
from jaxpg.envs import make_env
from jaxpg.evaluation import evaluate
from jaxpg.parallel import data_parallel_mesh
from jaxpg.rollout import Trajectory
from jaxpg.train import TrainResult, TrainState, make_train, make_trainer

__version__ = "0.1.0"

__all__ = [
    "ActorCriticConfig",
    "Categorical",
    "DiagGaussian",
    "PPOConfig",
    "TRPOConfig",
    "TrainResult",
    "TrainState",
    "Trajectory",
    "VPGConfig",
    "advantages",
    "checkpoint",
    "data_parallel_mesh",
    "distributions",
    "envs",
    "evaluate",
    "losses",
    "make_env",
    "make_train",
    "make_trainer",
    "natural_gradient",
    "parallel",
    "plotting",
    "render",
    "rollout",
]
