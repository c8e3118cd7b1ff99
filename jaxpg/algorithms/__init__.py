"""Update rules. Each module holds a config and a `make_*` returning an `Algorithm`."""

from jaxpg.algorithms.actor_critic import ActorCriticConfig
from jaxpg.algorithms.base import Algorithm
from jaxpg.algorithms.ppo import PPOConfig
from jaxpg.algorithms.trpo import TRPOConfig
from jaxpg.algorithms.vpg import VPGConfig

__all__ = ["ActorCriticConfig", "Algorithm", "PPOConfig", "TRPOConfig", "VPGConfig"]
