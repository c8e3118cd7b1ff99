"""Per-environment tuned settings (the RL-Zoo idea): config fields and environment options.

A preset is what an algorithm should start from on one environment; the CLI applies it when
one exists (and prints it; ``--set`` still overrides any field), and Python reaches it with::

    config, env_kwargs = jaxpg.presets.config("trpo", "brax:hopper", total_timesteps=500_000)
    env, env_params = jaxpg.make_env("brax:hopper", **env_kwargs)

Algorithm names are the CLI's (`ALGORITHMS`: ``"trpo"``, ``"npg"``, ``"ppo"``, ``"a2c"``,
``"vpg"``, ``"maxent"``). Every preset says where its values come from; values that differ
from their source are adaptations to vectorised JAX environments (more, shorter rollouts per
iteration for the same batch), named in ``source``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple


class Preset(NamedTuple):
    """Tuned settings of one algorithm on one environment.

    Attributes:
        fields: config field values (anything the algorithm's config has).
        env_kwargs: options for `jaxpg.make_env` (e.g. the Brax backend).
        source: where the values come from.
    """

    fields: dict[str, Any]
    env_kwargs: dict[str, Any]
    source: str


#: The CLI's algorithm names.
ALGORITHMS = ("vpg", "maxent", "a2c", "trpo", "npg", "ppo")


def algorithms() -> dict[str, tuple[type, dict[str, Any]]]:
    """Algorithm name to (config class, defaults that differ from the class's): ``npg`` is
    TRPO without its line search, ``maxent`` seed 001's maximum-entropy PG."""
    from jaxpg.algorithms import ActorCriticConfig, PPOConfig, TRPOConfig, VPGConfig

    return {
        "vpg": (VPGConfig, {}),
        # Seed 001: entropy-augmented rewards and its decaying epsilon-random exploration, plus
        # what the seed left out and such a learner needs (measured on random gridworlds, see
        # the GridWorld preset): a learned value baseline and advantages standardised per batch.
        "maxent": (
            VPGConfig,
            {
                "entropy_alpha": 1.0,
                "exploration": "seed",
                "baseline": True,
                "normalize_advantages": True,
            },
        ),
        "a2c": (ActorCriticConfig, {}),
        "trpo": (TRPOConfig, {}),
        "npg": (TRPOConfig, {"line_search": False}),
        "ppo": (PPOConfig, {}),
    }


# RL-Zoo's TRPO on MuJoCo (hyperparams/trpo.yml, "mujoco-defaults", tuned for Hopper, Walker2d,
# Ant, HalfCheetah): VecNormalize (observations and rewards), 2 envs x 1024 steps, critic
# minibatches of 128 for 20 epochs at lr 1e-3, gamma 0.99, GAE 0.95, 25 CG steps, damping 0.1,
# no Fisher subsampling, KL bound 0.01 (0.04 on HalfCheetah), 64x64 tanh networks. Here the
# same 2048 steps per iteration come from 16 envs x 128 steps.
_TRPO_LOCOMOTION = dict(
    num_envs=16,
    num_steps=128,
    total_timesteps=1_000_000,
    gamma=0.99,
    gae_lambda=0.95,
    max_kl=0.01,
    damping=0.1,
    cg_iters=25,
    fisher_subsample=1.0,
    value_learning_rate=1e-3,
    value_epochs=20,
    value_minibatches=16,
    normalize_observations=True,
    normalize_rewards=True,
)
_TRPO_SOURCE = (
    "RL-Zoo trpo.yml mujoco-defaults (sb3-contrib TRPO on MuJoCo); 2 x 1024 steps per "
    "iteration as 16 x 128"
)

# Brax's PPO on locomotion as measured for the comparison benchmark (brax 0.14.2 trainer,
# positional backend): 128 envs, unroll 16, 4 passes of 16 minibatches of 128, discount
# 0.97, lr 3e-4, entropy 1e-2, clip 0.3, tanh-squashed Gaussian, normalised observations and
# scaled rewards (Brax scales by a constant 10; jaxpg by the running return spread).
_PPO_LOCOMOTION = dict(
    num_envs=128,
    num_steps=16,
    total_timesteps=1_000_000,
    num_epochs=4,
    num_minibatches=16,
    gamma=0.97,
    gae_lambda=0.95,
    learning_rate=3e-4,
    ent_coef=1e-2,
    clip_eps=0.3,
    max_grad_norm=1.0,
    action_squash="tanh",
    normalize_observations=True,
    normalize_rewards=True,
)
_PPO_SOURCE = (
    "Brax's PPO locomotion settings (brax.training.agents.ppo, its hopper configuration at "
    "CPU scale: 128 envs, unroll 16, 16 x 128 minibatches, 4 passes)"
)

_BRAX_CPU = {"backend": "positional"}  # the fastest Brax pipeline on CPU for these bodies

_PRESETS: dict[tuple[str, str], Preset] = {}
for _name in ("hopper", "walker2d", "halfcheetah", "ant", "humanoid", "inverted_pendulum"):
    _kl = {"max_kl": 0.04} if _name == "halfcheetah" else {}
    _PRESETS["trpo", f"brax:{_name}"] = Preset(
        {**_TRPO_LOCOMOTION, **_kl}, dict(_BRAX_CPU), _TRPO_SOURCE
    )
    _PRESETS["npg", f"brax:{_name}"] = Preset(
        {**_TRPO_LOCOMOTION, **_kl, "line_search": False}, dict(_BRAX_CPU), _TRPO_SOURCE
    )
    _PRESETS["ppo", f"brax:{_name}"] = Preset(dict(_PPO_LOCOMOTION), dict(_BRAX_CPU), _PPO_SOURCE)
for _name in ("CheetahRun", "WalkerWalk", "HopperHop"):
    _PRESETS["trpo", f"playground:{_name}"] = Preset(dict(_TRPO_LOCOMOTION), {}, _TRPO_SOURCE)
    _PRESETS["ppo", f"playground:{_name}"] = Preset(dict(_PPO_LOCOMOTION), {}, _PPO_SOURCE)

_PRESETS["ppo", "Pendulum-v1"] = Preset(
    dict(
        num_envs=8,
        num_steps=256,
        num_minibatches=8,
        total_timesteps=100_000,
        normalize_observations=True,
        normalize_rewards=True,
    ),
    {},
    "jaxpg, measured 2026-12-02: with running observation and reward normalisation PPO "
    "reaches a greedy evaluation return of about -190 in 100k steps (-1015 without them)",
)

# RL-Zoo's TRPO on Pendulum-v1 (hyperparams/trpo.yml: gamma 0.9, GAE 0.95, 20 critic
# updates at lr 1e-3, 15 CG steps, 2 envs x 1024 steps) as 8 x 256 steps, with running
# observation and reward normalisation. Measured 2026-12-02, 5 seeds, 100k steps, greedy
# evaluation: -176 to -228 (the defaults: -508 to -767; the zoo settings without
# normalisation: -187 to -333).
_PRESETS["trpo", "Pendulum-v1"] = Preset(
    dict(
        num_envs=8,
        num_steps=256,
        total_timesteps=100_000,
        gamma=0.9,
        gae_lambda=0.95,
        value_epochs=20,
        value_learning_rate=1e-3,
        cg_iters=15,
        normalize_observations=True,
        normalize_rewards=True,
    ),
    {},
    "RL-Zoo trpo.yml Pendulum-v1 (gamma 0.9, GAE 0.95, 20 critic epochs at 1e-3, 15 CG "
    "steps; 2 x 1024 steps as 8 x 256) with observation and reward normalisation; measured "
    "2026-12-02: greedy -176 to -228 over 5 seeds in 100k steps (defaults: -508 to -767)",
)

# Where jaxpg's defaults already do the job (measured 2026-12-02 by
# benchmarks/bench_presets.py, 100k steps, 100 greedy episodes per seed): listed so that
# `jaxpg list presets` shows every environment the README names and where its settings come from.
for _algorithm, _env_id, _measured in (
    ("trpo", "CartPole-v1", "every seed of 10 at 500"),
    ("ppo", "CartPole-v1", "every seed of 10 at 500"),
    ("trpo", "Acrobot-v1", "greedy -84 to -98 over 5 seeds"),
    ("ppo", "Acrobot-v1", "greedy -81 to -86 over 5 seeds"),
):
    _PRESETS[_algorithm, _env_id] = Preset(
        dict(total_timesteps=100_000),
        {},
        f"jaxpg's defaults for {_algorithm} (nothing tuned), measured 2026-12-02 in 100k steps: "
        f"{_measured}",
    )

# Seed 001's learner on its gridworld, measured 2026-12 on random grids (sizes 5-8, cells
# -1/-10/-100, goal 1000, random start; tests/test_maxent_grids.py draws such grids). With the
# seed's settings (10 x 500 steps, a policy on raw (row, col) coordinates, 50 Adam steps in 250k
# steps, no baseline) the soft return from the start reaches a median 38% (0.18 to 0.93) of the
# way from the uniform policy to the soft optimum over 8 grids; a baseline and normalised
# advantages alone, 45%; short rollouts (16 x 32, ~195 updates) as well, 92% on coordinates
# (min 26%); with one-hot observations as well, at least 96% on every one of 24 grids (three
# draws). One-hot cells make the seed's linear softmax policy tabular; on coordinates it can
# only tilt its logits linearly in row and column, which cannot route around hazards. Policy
# step size: on 56 further grids (sizes 5 to 8, 2026-12-02) at least 95.4% of the way at 0.05
# and 97.6% at 0.08 (medians 98.5% and 99.3%).
_PRESETS["maxent", "GridWorld-v0"] = Preset(
    dict(
        num_envs=16,
        num_steps=32,
        total_timesteps=100_000,
        hidden_sizes=(),
        learning_rate=0.08,
        value_learning_rate=0.05,
    ),
    {"observation": "one_hot"},
    "jaxpg, measured 2026-12 on random 5x5 to 8x8 gridworlds: with one-hot cells, a linear "
    "(tabular) softmax policy, a baseline, normalised advantages, 16 x 32-step rollouts and a "
    "step size of 0.08, maximum-entropy PG reaches at least 97% of the way from the uniform "
    "policy to the soft optimum on 56 grids (median 38% with the seed's settings)",
)


# The GridWorld learners the README names beside seed 001's (tests/test_learning.py checks
# them against the exact optimum on the seed's grid).
_PRESETS["a2c", "GridWorld-v0"] = Preset(
    dict(
        num_envs=16,
        num_steps=32,
        total_timesteps=200_000,
        learning_rate=3e-3,
        value_learning_rate=1e-2,
    ),
    {"observation": "one_hot"},
    "jaxpg, measured 2026-11 on the seed's grid and two others (tests/test_learning.py): "
    "one-hot cells and 16 x 32-step rollouts bring actor-critic within 95% of the optimum",
)
_PRESETS["trpo", "GridWorld-v0"] = Preset(
    dict(
        num_envs=8,
        num_steps=300,
        total_timesteps=240_000,
        hidden_sizes=(),
        sampling="vine",
        vine_horizon=100,
        vine_num_states=32,
        max_kl=0.05,
    ),
    {"observation": "one_hot"},
    "seeds 000/002's vine sampling on the gridworld, measured 2026-11 (tests/test_learning.py): "
    "a linear policy on one-hot cells, 32 branch states per iteration with 100-step branches, "
    "KL bound 0.05, within 95% of the optimum on the seed's grid",
)

# Seed 003's settings: MLP [obs, 32, actions], Adam 1e-2, 5000 steps per epoch (here 10
# environments x 500 steps), 50 epochs, undiscounted reward-to-go.
_PRESETS["vpg", "CartPole-v1"] = Preset(
    dict(
        num_envs=10,
        num_steps=500,
        total_timesteps=250_000,
        hidden_sizes=(32,),
        learning_rate=1e-2,
        gamma=1.0,
        weighting="reward_to_go",
    ),
    {},
    "seed 003 (vanilla PG with reward-to-go on CartPole): 50 epochs of 5000 steps, a 32-unit "
    "MLP, Adam 1e-2, no discount",
)

# Seed 002's environment through the gymnasium bridge, as measured by
# benchmarks/bench_lunarlander.py (2 of 3 seeds >= 150 in 1M steps).
_PRESETS["trpo", "gymnasium:LunarLander-v3"] = Preset(
    dict(
        num_envs=8,
        num_steps=128,
        total_timesteps=1_000_000,
        gamma=0.99,
        gae_lambda=0.98,
        max_kl=0.01,
        damping=0.01,
        value_epochs=15,
        value_minibatches=8,
        value_learning_rate=1e-3,
    ),
    {},
    "jaxpg, measured 2026-11 (benchmarks/bench_lunarlander.py; RL-Zoo's TRPO on LunarLander "
    "uses GAE 0.98 and 0.01 damping): 8 x 128 steps per iteration, 15 critic epochs",
)


def available() -> list[tuple[str, str]]:
    """Every ``(algorithm, env_id)`` with a preset."""
    return sorted(_PRESETS)


def get(algorithm: str, env_id: str) -> Preset | None:
    """The preset of ``algorithm`` (a CLI name) on ``env_id``, or None."""
    return _PRESETS.get((algorithm, env_id))


def config(algorithm: str, env_id: str, **overrides: Any) -> tuple[Any, dict[str, Any]]:
    """``(config, env_kwargs)`` for ``algorithm`` on ``env_id``: the preset's fields (none when
    there is no preset) under ``overrides``, validated.

    Raises:
        ValueError: an unknown algorithm, or an override that is not a field of its config.
    """
    registry = algorithms()
    if algorithm not in registry:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {list(registry)}")
    config_class, defaults = registry[algorithm]
    preset = get(algorithm, env_id)
    fields = {**defaults, **(preset.fields if preset else {}), **overrides}
    names = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ValueError(
            f"{config_class.__name__} has no field(s) {unknown}; its fields: {sorted(names)}"
        )
    result = config_class(**fields)
    result.validate()
    return result, dict(preset.env_kwargs if preset else {})
