"""``jaxpg eval``: returns of a saved run's policies (a table for a sweep), the GridWorld action
map and trajectory, and GIF rendering."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jaxpg.cli.options import CLIError, check_count, run_keys, runs_on_host
from jaxpg.cli.run import Run
from jaxpg.cli.runs import load_run_checkpoint
from jaxpg.cli.sweep import format_sweep_table, sweep_results

TRAJECTORY_STEPS = 25


def eval_command(args: argparse.Namespace) -> int:
    """``jaxpg eval``: returns of a saved run's policies; GridWorld action map; a GIF."""
    check_count("--episodes", args.episodes, 1)
    check_count("--seed", args.seed, 0)
    if args.render is not None and not args.render.lower().endswith(".gif"):
        raise CLIError(f"--render writes a GIF; give a FILE.gif, not {args.render!r}")
    if args.fps is not None and args.fps <= 0:
        raise CLIError(f"--fps must be positive; got {args.fps}")
    run = load_run_checkpoint(args.dir)
    try:
        if run.sweep is not None:
            return _evaluate_sweep(args, run)
        return _evaluate(args, run)
    finally:
        run.runner.close()


def _header(run: Run) -> str:
    """``N iterations (S env steps per seed)``: how far the run has trained."""
    import numpy as np

    env_steps = int(np.asarray(run.state.env_steps.value()).reshape(-1)[0])
    return f"{run.iterations_done} iterations ({env_steps:,} env steps per seed)"


def _eval_seeds(args: argparse.Namespace, run: Run) -> list[int]:
    """The evaluation seeds, one per trained seed: the run's own unless --seed is given."""
    if args.seed is None:
        return list(run.seeds)
    return list(range(args.seed, args.seed + len(run.seeds)))


def _evaluate(args: argparse.Namespace, run: Run) -> int:
    """``jaxpg eval`` of one run: returns per seed, the GridWorld map and episode, the GIF."""
    import jax

    from jaxpg import normalization, render
    from jaxpg.envs import GridWorld

    seeds, env, env_params = run.seeds, run.env, run.env_params
    which = seeds[0] if args.which_seed is None else args.which_seed
    if which not in seeds:
        raise CLIError(f"--which-seed {which} is not one of the run's seeds {seeds}")
    if args.render is not None and not render.can_render(env, env_params):
        raise CLIError(f"--render cannot draw {run.env_id}; it draws {render.RENDERABLE}")

    eval_seeds = _eval_seeds(args, run)
    returns = run.runner.evaluate(run.state, eval_seeds, args.episodes, args.greedy)
    mode = "greedy" if args.greedy else "sampled"
    print(f"{run.algorithm} on {run.env_id}: {_header(run)}, seeds {seeds}")
    print(
        f"returns over {args.episodes} episodes per seed ({mode} actions): "
        f"mean {returns.mean():.4g}, std {returns.std():.4g}"
    )
    if len(seeds) > 1:
        for seed, row in zip(seeds, returns, strict=True):
            print(f"  seed {seed}: mean {row.mean():.4g}, std {row.std():.4g}")

    index = seeds.index(which)
    params = jax.tree.map(lambda leaf: leaf[index], run.state.agent.params)
    policy_params = params["policy"]
    trained = run.runner.algorithm.policy

    def apply(policy_params: Any, obs: Any) -> Any:
        # The policy sees observations as in training (frozen statistics, if any).
        return trained.apply(policy_params, normalization.observe(params, obs))

    episode_key = run_keys(eval_seeds[index]).render
    episode = None
    arrows = _arrows_printable()
    if isinstance(env, GridWorld):
        print()
        print(_exact_returns(run, env_params, apply, policy_params, which))
        actions = render.gridworld_action_map(env, apply, policy_params)
        print(
            f"\naction map: the most probable action in every cell (seed {which}; 0 stay, "
            "1 up, 2 down, 3 right, 4 left):"
        )
        print(render.format_action_map(actions, arrows=arrows))
        episode = render.play_episode(
            env, env_params, apply, policy_params, episode_key, args.greedy
        )
        print(f"\none episode (seed {which}, {mode} actions):")
        print(render.format_trajectory(episode, TRAJECTORY_STEPS, arrows=arrows))
    if args.render is not None:
        label = f"seed {which}, {mode} actions"
        print("\n" + _write_render(args, run, apply, policy_params, episode_key, label, episode))
    return 0


def _write_render(
    args: argparse.Namespace,
    run: Run,
    apply: Any,
    policy_params: Any,
    key: Any,
    label: str,
    episode: Any = None,
) -> str:
    """Plays one episode (or draws ``episode``), writes ``args.render``; says what it wrote
    (``label`` names the policy).

    A GIF shows at most `render.MAX_FRAMES` states (evenly subsampled), in real time unless
    ``--fps`` says otherwise.
    """
    import numpy as np

    from jaxpg import render

    env, env_params = run.env, run.env_params
    if runs_on_host(env):
        recording = render.play_host_episode_frames(
            env, apply, policy_params, key, args.greedy, render.MAX_FRAMES
        )
        frames, stride, fps = recording.frames, recording.stride, recording.fps
        steps, episode_return = recording.length, recording.episode_return
    else:
        if episode is None:
            episode = render.play_episode(env, env_params, apply, policy_params, key, args.greedy)
        frames = render.episode_frames(env, env_params, episode, render.MAX_FRAMES)
        stride = render.frame_stride(episode.length + 1, render.MAX_FRAMES)
        fps = render.FRAMES_PER_SECOND[render.render_kind(env, env_params)]
        steps, episode_return = episode.length, float(np.sum(episode.rewards))
    render.write_gif(frames, args.render, args.fps or fps / stride)
    height, width = frames[0].shape[:2]
    every = f", one every {stride} steps" if stride > 1 else ""
    return (
        f"wrote {args.render}: {len(frames)} frames of {width}x{height}{every} "
        f"({label}, {steps} steps, episode return {episode_return:g})"
    )


def _exact_returns(run: Run, env_params: Any, apply: Any, policy_params: Any, which: int) -> str:
    """The GridWorld table of exact expected returns from the start cell (dynamic programming):
    the run's policy as it is (sampling) and greedy, the optimum and the uniform random policy;
    undiscounted, discounted with the run's gamma, and soft (entropy-augmented, the objective
    of maximum-entropy PG) when its ``entropy_alpha > 0``."""
    import jax.numpy as jnp
    import numpy as np

    from jaxpg.envs import gridworld_solver as solver

    env = run.env
    height, width = env.shape
    grid = np.asarray(env_params.grid, np.float64)
    start = tuple(int(v) for v in np.asarray(env_params.start))
    horizon = int(env_params.max_steps_in_episode)
    gamma = float(run.config.gamma)
    alpha = float(getattr(run.config, "entropy_alpha", 0.0))
    obs = jnp.stack([env.observe_cell(row, col) for row in range(height) for col in range(width)])
    probs = np.asarray(apply(policy_params, obs).probs(), np.float64).reshape(height, width, 5)
    greedy = np.eye(5)[probs.argmax(axis=-1)]
    columns = [("undiscounted", 1.0, 0.0), (f"discounted (gamma {gamma:g})", gamma, 0.0)]
    if alpha > 0.0:
        columns.append((f"soft (alpha {alpha:g}, gamma {gamma:g})", gamma, alpha))

    def evaluate(policy: np.ndarray, discount: float, temperature: float) -> float:
        values = solver.policy_evaluation(
            grid, policy, discount, alpha=temperature, horizon=horizon
        )
        return float(values[start])

    rows = [
        (f"this policy, seed {which} (sampling)", lambda d, a: evaluate(probs, d, a)),
        (f"this policy, seed {which} (greedy)", lambda d, a: evaluate(greedy, d, a)),
        (
            "optimum",
            lambda d, a: float(
                solver.value_iteration(grid, d, alpha=a, horizon=horizon).values[start]
            ),
        ),
        (
            "uniform random policy",
            lambda d, a: evaluate(solver.uniform_policy((height, width)), d, a),
        ),
    ]
    table = [
        [value(discount, temperature) for _, discount, temperature in columns] for _, value in rows
    ]
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(title), 12) for title, _, _ in columns]
    lines = [
        f"exact expected return from the start cell {start} over {horizon} steps "
        "(dynamic programming):",
        "  "
        + " " * label_width
        + "".join(f"  {title:>{w}}" for (title, _, _), w in zip(columns, widths, strict=True)),
    ]
    for (label, _), values in zip(rows, table, strict=True):
        cells = "".join(f"  {v:>{w}.6g}" for v, w in zip(values, widths, strict=True))
        lines.append(f"  {label:<{label_width}}{cells}")
    learned, best, uniform = table[0][-1], table[2][-1], table[3][-1]
    if best > uniform:
        objective = columns[-1][0].split(" (")[0]
        lines.append(
            f"  the policy is {100 * (learned - uniform) / (best - uniform):.1f}% of the way "
            f"from the uniform policy to the optimum ({objective} return)"
        )
    return "\n".join(lines)


def _evaluate_sweep(args: argparse.Namespace, run: Run) -> int:
    """``jaxpg eval`` of a sweep: the table of every grid point, evaluated vmapped."""
    import numpy as np

    sweep = run.sweep
    for option, value in (("--which-seed", args.which_seed), ("--render", args.render)):
        if value is not None:
            raise CLIError(
                f"{option} shows one policy, and {args.dir} is a sweep of {len(sweep.points)} "
                "grid points; train the grid point you want alone (--set) to look at it"
            )
    returns = run.runner.evaluate(run.state, _eval_seeds(args, run), args.episodes, args.greedy)
    members = len(run.member_seeds)
    history = run.history
    final = history["episode_return"][:, -1] if history else np.full(members, np.nan, np.float32)
    records = sweep_results(sweep, len(run.seeds), final, returns)
    mode = "greedy" if args.greedy else "sampled"
    best = next(record for record in records if record["best"])
    print(
        f"{run.algorithm} on {run.env_id}: sweep of {len(sweep.points)} grid points, "
        f"{_header(run)}, seeds {run.seeds}; eval with {mode} actions"
    )
    print(format_sweep_table(sweep, records, len(run.seeds), args.episodes))
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
