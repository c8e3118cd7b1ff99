"""Maximum-entropy PG (seed 001) with its defaults against the exact soft optimum on random
gridworlds, and ``jaxpg eval``'s exact returns of a gridworld run.

Criterion (as in test_learning): the trained policy's exact entropy-augmented return from the
start cell (`policy_evaluation`, not sampled), over the episode's horizon with the config's
discount and alpha, is at least 95% of the way from the uniform policy's to the soft optimum
(`value_iteration`). The defaults are those of ``jaxpg train maxent --env GridWorld-v0``
(`jaxpg.presets.config`, which gives the config and the environment options), and those of a
bare ``VPGConfig(entropy_alpha=1.0)`` on ``make_env("GridWorld-v0", grid=..., start=...)``.
"""

from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg.cli import main
from jaxpg.envs import gridworld_solver as solver
from jaxpg.networks import default_policy

SIZES = (5, 8)  # the smallest and largest of the 5 to 8
GRIDS_PER_SIZE = 3  # one compiled program per size, vmapped over its grids
CELLS = (-1.0, -10.0, -100.0)
CELL_PROBABILITIES = (0.5, 0.3, 0.2)
GOAL = 1000.0  # seed 001's goal value


def draw_grid(rng: np.random.Generator, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A ``size x size`` grid of -1 / -10 / -100 cells with one goal, and a start cell elsewhere."""
    grid = rng.choice(np.array(CELLS), size=(size, size), p=CELL_PROBABILITIES)
    goal, start = rng.choice(size * size, 2, replace=False)
    grid[divmod(int(goal), size)] = GOAL
    return grid, divmod(int(start), size)


def soft_fraction(config, env, env_params, params, grid, start) -> float:
    """(J(pi) - J(uniform)) / (J* - J(uniform)) in the soft objective from the start, exact."""
    height, width = grid.shape
    policy = default_policy(config, env, env_params)
    obs = jnp.stack([env.observe_cell(r, c) for r in range(height) for c in range(width)])
    probs = np.asarray(policy.apply(params["policy"], obs).probs(), np.float64)
    probs = probs.reshape(height, width, 5)
    gamma, alpha = float(config.gamma), float(config.entropy_alpha)
    horizon = int(env_params.max_steps_in_episode)

    def soft_return(pi):
        return solver.policy_evaluation(grid, pi, gamma, alpha=alpha, horizon=horizon)[start]

    best = solver.value_iteration(grid, gamma, alpha=alpha, horizon=horizon).values[start]
    uniform = soft_return(solver.uniform_policy((height, width)))
    return (soft_return(probs) - uniform) / (best - uniform)


@pytest.fixture
def quick_compile():
    """XLA's optimisation passes are most of the compile time of these small programs (about
    12 s of 16 per size on 2 cores); without them the runs are slower but still short."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


def _compiled_training(config, env_kwargs, grids, key):
    """The training program of one grid size, vmapped over its grids, compiled, with its inputs."""
    env, env_params = jaxpg.make_env(
        "GridWorld-v0", grid=grids[0][0], start=grids[0][1], **env_kwargs
    )
    # The grid and start cell are traced fields of GridWorldParams: one program per size.
    batched_params = jax.tree.map(
        lambda *leaves: jnp.stack(leaves),
        *[
            env_params.replace(grid=jnp.asarray(grid, jnp.float32), start=jnp.asarray(start))
            for grid, start in grids
        ],
    )
    train = jax.jit(jax.vmap(lambda key, params: jaxpg.make_train(config, env, params)(key)))
    keys = jax.random.split(key, len(grids))
    lowered = train.lower(keys, batched_params)
    return env, env_params, lowered.compile(), (keys, batched_params)


def _cli_maxent():
    config, env_kwargs = jaxpg.presets.config("maxent", "GridWorld-v0")
    assert config.entropy_alpha > 0 and config.exploration == "seed"  # seed 001's algorithm
    return config, env_kwargs


def _bare_vpg():
    # VPGConfig's own defaults with a temperature (seed 003's rollouts and network; a baseline
    # and normalised advantages because entropy_alpha > 0) on make_env's default observation.
    config = jaxpg.VPGConfig(entropy_alpha=1.0)
    assert config.uses_baseline and config.uses_normalized_advantages
    return config, {}


@pytest.mark.slow
@pytest.mark.parametrize("defaults", [_cli_maxent, _bare_vpg], ids=["cli-maxent", "VPGConfig"])
def test_maxent_defaults_reach_the_soft_optimum_on_random_grids(quick_compile, defaults):
    config, env_kwargs = defaults()
    rng = np.random.default_rng(2026)
    grids = {size: [draw_grid(rng, size) for _ in range(GRIDS_PER_SIZE)] for size in SIZES}
    # XLA compiles outside the GIL: the four programs compile two at a time.
    with ThreadPoolExecutor(max_workers=2) as pool:
        programs = pool.map(
            lambda size: _compiled_training(config, env_kwargs, grids[size], jax.random.key(size)),
            SIZES,
        )
        programs = dict(zip(SIZES, programs, strict=True))
    fractions = {}
    for size, (env, env_params, train, inputs) in programs.items():
        result = train(*inputs)
        for i, (grid, start) in enumerate(grids[size]):
            params = jax.tree.map(lambda leaf, i=i: leaf[i], result.params)
            fractions[size, i] = soft_fraction(config, env, env_params, params, grid, start)
    assert min(fractions.values()) >= 0.95, fractions


def test_eval_prints_exact_returns_and_the_action_map(tmp_path, capsys, quick_compile):
    run_dir = tmp_path / "maxent"
    common = ["--env", "GridWorld-v0", "--env-set", "max_steps=12", "--no-progress"]
    tiny = ["--set", "num_envs=2", "--set", "num_steps=12", "--total-timesteps", "48"]
    status = main(
        ["train", "maxent", *common, *tiny, "--eval-episodes", "0", "--out", str(run_dir)]
    )
    assert status == 0
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "exact expected return from the start cell (5, 0) over 12 steps" in out
    lines = {line.strip().split("  ")[0]: line for line in out.splitlines()}
    for label in (
        "this policy, seed 0 (sampling)",
        "this policy, seed 0 (greedy)",
        "optimum",
        "uniform random policy",
    ):
        assert len(lines[label].split()) >= 3, out  # a value per column
    assert "soft (alpha 1, gamma 0.99)" in out and "of the way from the uniform policy" in out
    # The optimum over 12 steps from (5, 0) on seed 001's grid, undiscounted, printed exactly.
    best = solver.value_iteration(jaxpg.envs.SEED_GRID, 1.0, horizon=12).values[5, 0]
    assert lines["optimum"].split()[1] == f"{best:.6g}"
    assert out.count("action map: the most probable action in every cell (seed 0") == 1
