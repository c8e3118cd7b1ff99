"""Learning tests against exact answers: gridworld optima (dynamic programming) and CartPole.

Gridworld criterion: the learned policy's exact expected return from the start state (computed
by `policy_evaluation`, not sampled) is at least 95% of the way from the uniform random policy's
return to the optimum of `value_iteration`, over the episode's finite horizon with the
algorithm's discount. For maximum-entropy PG the returns are the entropy-augmented ones and the
optimum is the soft optimum.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg.envs import gridworld_solver as solver
from jaxpg.networks import default_policy

GRIDS = {
    "seed": (jaxpg.envs.SEED_GRID, (5, 0), 300),
    "corner": (
        [
            [-1, -1, -1, -1, -1],
            [-1, -10, -10, -10, -1],
            [-1, -1, -1, -10, -1],
            [-10, -10, -1, -10, -1],
            [-1, -1, -1, -1, 100],
        ],
        (0, 0),
        100,
    ),
    "river": (
        [
            [-1, -1, -1, -1, -1],
            [-1, -100, -100, -100, -1],
            [-1, -1, -1, -100, -1],
            [-100, -100, -1, -100, -1],
            [200, -1, -1, -1, -1],
        ],
        (0, 0),
        100,
    ),
}
GAMMA = 0.99
NUM_SEEDS = 3


def _fraction_of_optimum(config, env, env_params, params, grid, start, alpha, horizon):
    """(J(pi) - J(uniform)) / (J* - J(uniform)) from the start cell, all exact."""
    policy = default_policy(config, env, env_params)
    height, width = np.asarray(grid).shape
    obs = jnp.stack([env.observe_cell(r, c) for r in range(height) for c in range(width)])
    probs = np.asarray(policy.apply(params["policy"], obs).probs(), np.float64)
    probs = probs.reshape(height, width, 5)
    learned = solver.policy_evaluation(grid, probs, GAMMA, alpha=alpha, horizon=horizon)[start]
    best = solver.value_iteration(grid, GAMMA, alpha=alpha, horizon=horizon).values[start]
    uniform = solver.policy_evaluation(
        grid, solver.uniform_policy((height, width)), GAMMA, alpha=alpha, horizon=horizon
    )[start]
    return (learned - uniform) / (best - uniform)


def _train_on_grid(config, name, observation):
    grid, start, horizon = GRIDS[name]
    env, env_params = jaxpg.make_env(
        "GridWorld-v0", grid=grid, start=start, max_steps=horizon, observation=observation
    )
    train = jax.jit(jax.vmap(jaxpg.make_train(config(horizon), env, env_params)))
    result = train(jax.random.split(jax.random.key(0), NUM_SEEDS))
    return env, env_params, result, grid, start, horizon


def _fractions(config_fn, name, observation, alpha):
    env, env_params, result, grid, start, horizon = _train_on_grid(config_fn, name, observation)
    config = config_fn(horizon)
    return [
        _fraction_of_optimum(
            config,
            env,
            env_params,
            jax.tree.map(lambda x, i=i: x[i], result.params),
            grid,
            start,
            alpha,
            horizon,
        )
        for i in range(NUM_SEEDS)
    ]


def maxent_config(horizon):
    # Seed 001's settings: 10 trajectories of the episode length, Adam 1e-2, alpha 1, the
    # exploration schedule; the linear softmax policy (no hidden layer).
    return jaxpg.VPGConfig(
        num_envs=10,
        num_steps=horizon,
        total_timesteps=10 * horizon * 300,
        hidden_sizes=(),
        gamma=GAMMA,
        entropy_alpha=1.0,
        exploration="seed",
        learning_rate=0.05,
        normalize_advantages=True,
    )


def actor_critic_config(horizon):
    return jaxpg.ActorCriticConfig(
        num_envs=16,
        num_steps=32,
        total_timesteps=200_000,
        hidden_sizes=(64, 64),
        gamma=GAMMA,
        learning_rate=3e-3,
        value_learning_rate=1e-2,
    )


def vine_config(horizon):
    return jaxpg.TRPOConfig(
        num_envs=8,
        num_steps=horizon,
        total_timesteps=8 * horizon * 100,
        hidden_sizes=(),
        gamma=GAMMA,
        sampling="vine",
        vine_horizon=min(horizon, 100),
        vine_num_states=32,
        max_kl=0.05,
    )


# The seed's own grid and observation here; one-hot cells on random grids with the CLI's
# defaults in test_maxent_grids.py.
@pytest.mark.parametrize("name, observation", [("seed", "coordinates")])
def test_maximum_entropy_pg_is_near_soft_optimal(name, observation):
    fractions = _fractions(maxent_config, name, observation, alpha=1.0)
    assert np.median(fractions) >= 0.95, fractions


# Two of the three grids (the suite's time budget); the corner grid is the easiest.
@pytest.mark.parametrize("name", ["seed", "river"])
def test_actor_critic_is_near_optimal(name):
    fractions = _fractions(actor_critic_config, name, "one_hot", alpha=0.0)
    assert np.median(fractions) >= 0.95, fractions


# One grid: the vine is the suite's most expensive learner (and learns CartPole in test_trpo).
@pytest.mark.parametrize("name", ["seed"])
def test_trpo_vine_is_near_optimal(name):
    fractions = _fractions(vine_config, name, "one_hot", alpha=0.0)
    assert np.median(fractions) >= 0.95, fractions


def test_vpg_reward_to_go_solves_cartpole_at_seed_003_settings():
    # Seed 003: MLP [obs, 32, actions], Adam 1e-2, 5000 steps per epoch, 50 epochs, no discount.
    config = jaxpg.VPGConfig(
        num_envs=10,
        num_steps=500,
        total_timesteps=50 * 5000,
        hidden_sizes=(32,),
        learning_rate=1e-2,
        gamma=1.0,
        weighting="reward_to_go",
    )
    env, env_params = jaxpg.make_env("CartPole-v1")
    result = jax.jit(jax.vmap(jaxpg.make_train(config, env, env_params)))(
        jax.random.split(jax.random.key(0), 5)
    )
    final = np.asarray(result.metrics["episode_return"][:, -1])
    assert np.median(final) >= 400, final
