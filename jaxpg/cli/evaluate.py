"""``jaxpg eval``: returns of a saved run's policies (a table for a sweep), the GridWorld action
map and trajectory, and GIF rendering."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jaxpg.cli.host import evaluate_on_host
from jaxpg.cli.options import CLIError, check_count, make_environment, runs_on_host
from jaxpg.cli.programs import cached_compile, eval_lowering
from jaxpg.cli.runs import load_run_checkpoint, run_seeds, with_seed_axis
from jaxpg.cli.sweep import Sweep, format_sweep_table, sweep_results

#: GIF frame rates: CartPole in real time (tau = 0.02 s), GridWorld slow enough to follow.
RENDER_FPS = {"cartpole": 50.0, "gridworld": 8.0}


TRAJECTORY_STEPS = 25


def eval_command(args: argparse.Namespace) -> int:
    """``jaxpg eval``: returns of a saved run's policies; GridWorld action map; a GIF."""
    check_count("--episodes", args.episodes, 1)
    check_count("--seed", args.seed, 0)
    if args.render is not None and not args.render.lower().endswith(".gif"):
        raise CLIError(f"--render writes a GIF; give a FILE.gif, not {args.render!r}")
    if args.fps is not None and args.fps <= 0:
        raise CLIError(f"--fps must be positive; got {args.fps}")
    loaded, _ = load_run_checkpoint(args.dir)
    state, history = with_seed_axis(loaded)
    seeds, sweep = run_seeds(loaded, state)
    if sweep is not None:
        return _evaluate_sweep(args, loaded, state, history, seeds, sweep)

    import jax
    import numpy as np

    from jaxpg import render
    from jaxpg.algorithms.base import build_policy
    from jaxpg.envs import GridWorld

    config = loaded.config
    env, env_params = make_environment(loaded.env_id, loaded.env_kwargs)
    num_seeds = len(seeds)
    which = seeds[0] if args.which_seed is None else args.which_seed
    if which not in seeds:
        raise CLIError(f"--which-seed {which} is not one of the run's seeds {seeds}")
    host = runs_on_host(env)
    if args.render is not None and (host or not render.can_render(env, env_params)):
        raise CLIError(f"--render supports CartPole and GridWorld, not {loaded.env_id}")

    eval_seeds = seeds if args.seed is None else list(range(args.seed, args.seed + num_seeds))
    if host:
        returns = evaluate_on_host(
            config,
            env,
            env_params,
            state.agent.params["policy"],
            eval_seeds,
            args.episodes,
            args.greedy,
        )
    else:
        program = cached_compile(
            {
                "eval": eval_lowering(
                    config,
                    loaded.env_id,
                    loaded.env_kwargs,
                    env,
                    env_params,
                    state.agent.params["policy"],
                    num_seeds,
                    args.episodes,
                    args.greedy,
                )
            }
        )[0]["eval"]
        returns = np.asarray(
            program(state.agent.params["policy"], np.asarray(eval_seeds, np.int32))
        )
    iterations = int(np.asarray(state.iteration).reshape(-1)[0])
    env_steps = int(np.asarray(state.env_steps).reshape(-1)[0])
    mode = "greedy" if args.greedy else "sampled"
    print(
        f"{loaded.metadata.get('algorithm', config.algorithm_name)} on {loaded.env_id}: "
        f"{iterations} iterations ({env_steps:,} env steps per seed), seeds {seeds}"
    )
    print(
        f"returns over {args.episodes} episodes per seed ({mode} actions): "
        f"mean {returns.mean():.4g}, std {returns.std():.4g}"
    )
    if num_seeds > 1:
        for seed, row in zip(seeds, returns, strict=True):
            print(f"  seed {seed}: mean {row.mean():.4g}, std {row.std():.4g}")

    policy = build_policy(config, env, env_params)
    index = seeds.index(which)
    policy_params = jax.tree.map(lambda leaf: leaf[index], state.agent.params["policy"])
    episode_key = jax.random.fold_in(jax.random.key(eval_seeds[index]), 2)
    episode = None
    arrows = _arrows_printable()
    if isinstance(env, GridWorld):
        actions = render.gridworld_action_map(env, policy.apply, policy_params)
        print(
            f"\nmost probable action in every cell (seed {which}; 0 stay, 1 up, 2 down, "
            "3 right, 4 left):"
        )
        print(render.format_action_map(actions, arrows=arrows))
        episode = render.play_episode(
            env, env_params, policy.apply, policy_params, episode_key, args.greedy
        )
        print(f"\none episode (seed {which}, {mode} actions):")
        print(render.format_trajectory(episode, TRAJECTORY_STEPS, arrows=arrows))
    if args.render is not None:
        if episode is None:
            episode = render.play_episode(
                env, env_params, policy.apply, policy_params, episode_key, args.greedy
            )
        frames = render.episode_frames(env, env_params, episode)
        kind = "gridworld" if isinstance(env, GridWorld) else "cartpole"
        render.write_gif(frames, args.render, args.fps or RENDER_FPS[kind])
        height, width = frames[0].shape[:2]
        print(
            f"\nwrote {args.render}: {len(frames)} frames of {width}x{height} (seed {which}, "
            f"{mode} actions, episode return {float(np.sum(episode.rewards)):g})"
        )
    return 0


def _evaluate_sweep(
    args: argparse.Namespace,
    loaded: Any,
    state: Any,
    history: dict[str, Any],
    seeds: list[int],
    sweep: Sweep,
) -> int:
    """``jaxpg eval`` of a sweep: the table of every grid point, evaluated vmapped."""
    import numpy as np

    for option, value in (("--which-seed", args.which_seed), ("--render", args.render)):
        if value is not None:
            raise CLIError(
                f"{option} shows one policy, and {args.dir} is a sweep of {len(sweep.points)} "
                "grid points; train the grid point you want alone (--set) to look at it"
            )
    env, env_params = make_environment(loaded.env_id, loaded.env_kwargs)
    eval_seeds = seeds if args.seed is None else list(range(args.seed, args.seed + len(seeds)))
    members = len(seeds) * len(sweep.points)
    params = state.agent.params["policy"]
    program = cached_compile(
        {
            "eval": eval_lowering(
                loaded.config,
                loaded.env_id,
                loaded.env_kwargs,
                env,
                env_params,
                params,
                members,
                args.episodes,
                args.greedy,
            )
        }
    )[0]["eval"]
    returns = np.asarray(program(params, np.asarray(eval_seeds * len(sweep.points), np.int32)))
    final = history["episode_return"][:, -1] if history else np.full(members, np.nan, np.float32)
    records = sweep_results(sweep, len(seeds), final, returns)
    iterations = int(np.asarray(state.iteration).reshape(-1)[0])
    env_steps = int(np.asarray(state.env_steps).reshape(-1)[0])
    mode = "greedy" if args.greedy else "sampled"
    best = next(record for record in records if record["best"])
    print(
        f"{loaded.metadata.get('algorithm', loaded.config.algorithm_name)} on "
        f"{loaded.env_id}: sweep of {len(sweep.points)} grid points, {iterations} iterations "
        f"({env_steps:,} env steps per seed), seeds {seeds}; eval with {mode} actions"
    )
    print(format_sweep_table(sweep, records, len(seeds), args.episodes))
    print(
        f"best (eval return, mean over seeds): grid point {best['grid_point']}, "
        f"{sweep.label(best['grid_point'])}: {best['eval_return_mean']:.4g} "
        f"± {best['eval_return_std']:.3g}"
    )
    return 0


def _arrows_printable() -> bool:
    try:
        "↑→·".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
