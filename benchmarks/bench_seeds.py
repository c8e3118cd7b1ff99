"""Core learning speed: jaxpg against the seed notebooks' training loops re-created in PyTorch.

Three measurements, in one run:

1. **Seed 001** (maximum-entropy policy gradient on the 6x6 gridworld, 10 trajectories of
   300 steps per iteration): jaxpg's ``VPGConfig(entropy_alpha=1.0, gamma=0.99,
   exploration="seed", hidden_sizes=(), num_envs=10, num_steps=300, learning_rate=1e-2)`` on
   ``GridWorld-v0`` against ``benchmarks/baselines/torch_seed001.py``.
2. **Seed 003** (vanilla policy gradient with reward-to-go, one epoch of 5000 CartPole-v1
   steps): ``VPGConfig(num_envs=10, num_steps=500, gamma=1.0, hidden_sizes=(32,),
   learning_rate=1e-2)`` against ``benchmarks/baselines/torch_seed003.py``.
3. **Learning curves** of reward-to-go against whole-return weighting at seed 003's settings:
   50 epochs, 5 seeds vmapped in one call each; the mean and the min-max band across seeds
   against environment steps go to ``benchmarks/figures/vpg_weighting.png``.

jaxpg's time per iteration is the steady-state time of ``trainer.run(state, n)``
(`jaxpg.train.make_trainer`), compiled ahead of time, divided by ``n``: median of ``--repeats``
calls after a first one, each from a freshly initialised state; the compile time
(``jax.jit(f).lower(state).compile()``) is reported apart (`benchmarks.common.compile_and_time`).
The learning curves' time is compilation plus the one run. The PyTorch baselines run as subprocesses
in the peer environment (``--peer-python``) and print one JSON line each; their median is over every
timed iteration of their repeats.

Run from the repository root::

    python -m benchmarks.bench_seeds            # full run: "seeds" section and the figure
    python -m benchmarks.bench_seeds --quick    # smoke run: prints only, figure to a temp dir
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

import jaxpg
from benchmarks import common
from jaxpg.train import make_trainer

SEED001_CONFIG = jaxpg.VPGConfig(
    entropy_alpha=1.0,
    gamma=0.99,
    exploration="seed",
    hidden_sizes=(),
    num_envs=10,
    num_steps=300,
    learning_rate=1e-2,
    baseline=False,  # the seed's estimator, as its PyTorch re-creation computes it
    normalize_advantages=False,
)
SEED003_CONFIG = jaxpg.VPGConfig(
    num_envs=10, num_steps=500, gamma=1.0, hidden_sizes=(32,), learning_rate=1e-2
)
#: Targets: jaxpg's speed-up per iteration over the PyTorch re-creations.
TARGETS = {"seed001": 1000.0, "seed003": 50.0}
BASELINES = Path(__file__).resolve().parent / "baselines"
DEFAULT_PEER_PYTHON = "/work/venv-peers/bin/python"


class JaxTiming(NamedTuple):
    """jaxpg's steady-state seconds per iteration and its compile time."""

    seconds_per_iteration: float
    compile_seconds: float
    iterations: int
    runs: tuple[float, ...]


def time_jaxpg(config: jaxpg.VPGConfig, env_id: str, iterations: int, repeats: int) -> JaxTiming:
    """Times ``iterations`` training iterations of ``config`` in one jitted ``trainer.run``."""
    # Seed 001 observes raw (row, col) coordinates, as its PyTorch re-creation does.
    options = {"observation": "coordinates"} if env_id == "GridWorld-v0" else {}
    env, env_params = jaxpg.make_env(env_id, **options)
    trainer = make_trainer(config, env, env_params)
    init = jax.jit(trainer.init)
    timing, _ = common.compile_and_time(
        lambda state: trainer.run(state, iterations),
        init(jax.random.key(0)),
        repeats=repeats,
        fresh_args=lambda index: (init(jax.random.key(index)),),
    )
    return JaxTiming(timing.median / iterations, timing.compile_s, iterations, timing.runs)


def run_baseline(peer_python: str, script: str, arguments: list[str]) -> dict[str, Any]:
    """Runs a PyTorch baseline script and returns its JSON line (or ``{"error": ...}``)."""
    repository = common.BENCHMARKS_DIR.parent
    command = [peer_python, str((BASELINES / script).relative_to(repository)), *arguments]
    return common.run_json(command)


class Curves(NamedTuple):
    """Learning curves of several seeds: ``[seeds, epochs]`` arrays (``episode_return``: NaN
    before a seed's first finished episode)."""

    env_steps: np.ndarray
    episode_return: np.ndarray
    seconds: float


def learning_curves(weighting: str, epochs: int, seeds: int) -> Curves:
    """Trains seed 003's VPG with ``weighting`` for ``epochs`` on ``seeds`` seeds, vmapped."""
    env, env_params = jaxpg.make_env("CartPole-v1")
    config = SEED003_CONFIG.replace(
        weighting=weighting, total_timesteps=epochs * SEED003_CONFIG.batch_size
    )
    train = jax.vmap(jaxpg.make_train(config, env, env_params))
    timing, (result,) = common.compile_and_time(
        train, jax.random.split(jax.random.key(0), seeds), repeats=0
    )
    return Curves(
        np.asarray(result.metrics["env_steps"]),
        np.asarray(result.metrics["episode_return"]),
        timing.compile_s + timing.first_run_s,
    )


def plot_curves(curves: dict[str, Curves], path: Path) -> None:
    """Mean episode return across seeds, with the min-max band, against environment steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"reward_to_go": "reward-to-go", "return": r"whole return $R(\tau)$"}
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for weighting, curve in curves.items():
        steps = curve.env_steps[0]
        returns = curve.episode_return
        seeds = returns.shape[0]
        with warnings.catch_warnings():  # all-NaN columns: no seed has finished an episode
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = (f(returns, axis=0) for f in (np.nanmean, np.nanmin, np.nanmax))
        axes.plot(steps, mean, label=f"{labels[weighting]} (mean of {seeds} seeds)")
        axes.fill_between(steps, low, high, alpha=0.25)
    axes.set_xlabel("environment steps")
    axes.set_ylabel("mean episode return")
    axes.set_title("VPG on CartPole-v1 (seed 003 settings), band: min-max over seeds")
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _ms(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1e3:.3g} ms"


def timing_rows(
    jax_timings: dict[str, JaxTiming], baselines: dict[str, dict[str, Any]]
) -> list[list[str]]:
    """Rows of the timing table: jaxpg and PyTorch per iteration, speed-up, target."""
    descriptions = {
        "seed001": "seed 001: max-ent PG iteration, GridWorld, 10 x 300 steps",
        "seed003": "seed 003: VPG reward-to-go epoch, CartPole-v1, 5000 steps",
    }
    rows = []
    for name, timing in jax_timings.items():
        baseline = baselines[name]
        key = "seconds_per_iteration_median" if name == "seed001" else "seconds_per_epoch_median"
        torch_seconds = baseline.get(key)
        if torch_seconds is None:
            torch_cell, ratio_cell = f"failed: {baseline.get('error')}", "-"
        else:
            ratio = torch_seconds / timing.seconds_per_iteration
            verdict = "meets" if ratio >= TARGETS[name] else "misses"
            torch_cell = _ms(torch_seconds)
            ratio_cell = f"{ratio:,.0f}x ({verdict} >= {TARGETS[name]:,.0f}x)"
        rows.append(
            [
                descriptions[name],
                _ms(timing.seconds_per_iteration),
                f"{timing.compile_seconds:.1f} s",
                torch_cell,
                ratio_cell,
            ]
        )
    return rows


def curve_rows(curves: dict[str, Curves]) -> list[list[str]]:
    """Rows of the learning-curve table: median and per-seed final returns."""
    rows = []
    for weighting, curve in curves.items():
        final = curve.episode_return[:, -1]
        rows.append(
            [
                weighting,
                f"{np.nanmedian(final):.1f}",
                ", ".join(f"{value:.0f}" for value in final),
                f"{curve.seconds:.1f} s",
            ]
        )
    return rows


def report(
    args: argparse.Namespace,
    machine: dict[str, Any],
    jax_timings: dict[str, JaxTiming],
    baselines: dict[str, dict[str, Any]],
    curves: dict[str, Curves],
    figure: Path,
) -> str:
    """The Markdown of the "seeds" section."""
    torch_versions = sorted(
        {
            f"torch {b['torch_version']} ({b['torch_num_threads']} threads)"
            for b in baselines.values()
            if "torch_version" in b
        }
    )
    commands = "\n".join(f"    {b['command']}" for b in baselines.values())
    figure_link = (
        figure.relative_to(common.BENCHMARKS_DIR)
        if figure.is_relative_to(common.BENCHMARKS_DIR)
        else figure
    )
    return (
        "## Core learning speed against the seeds (PyTorch re-creations)\n\n"
        + common.section_preamble(machine)
        + f"\nPyTorch side: {', '.join(torch_versions) or 'not run'}, run as\n\n{commands}\n\n"
        f"jaxpg: steady-state time of one jitted `trainer.run(state, n)` over n, n = "
        f"{jax_timings['seed001'].iterations} (seed 001) and {jax_timings['seed003'].iterations}"
        f" (seed 003), median of {args.repeats} calls; compile time apart. The seed 003 "
        "PyTorch epoch ends on an episode boundary, so it holds slightly more than 5000 steps.\n\n"
        + common.markdown_table(
            ("workload", "jaxpg / iteration", "jaxpg compile", "PyTorch / iteration", "speed-up"),
            timing_rows(jax_timings, baselines),
        )
        + f"\n### Reward-to-go against whole-return weighting\n\n"
        f"Seed 003's settings, {args.epochs} epochs of 5000 steps, {args.seeds} seeds vmapped "
        "in one jitted call per weighting (time includes compilation). Return: jaxpg's "
        "`episode_return` metric, the mean undiscounted return of the episodes that finished "
        f"in the epoch. Figure: [{figure_link}]({figure_link}).\n\n"
        + common.markdown_table(
            (
                "weighting",
                f"median final return ({args.seeds} seeds)",
                "final return per seed",
                "train time",
            ),
            curve_rows(curves),
        )
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seed001-iterations",
        type=int,
        default=200,
        help="jaxpg iterations per timed call, seed 001",
    )
    parser.add_argument(
        "--seed003-iterations",
        type=int,
        default=100,
        help="jaxpg iterations per timed call, seed 003",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (>= 3)")
    parser.add_argument(
        "--torch-iterations",
        type=int,
        default=5,
        help="PyTorch iterations (seed 001) / epochs (seed 003) per repeat",
    )
    parser.add_argument("--torch-repeats", type=int, default=3, help="PyTorch repeats")
    parser.add_argument("--epochs", type=int, default=50, help="learning-curve epochs")
    parser.add_argument("--seeds", type=int, default=5, help="learning-curve seeds")
    parser.add_argument(
        "--peer-python",
        default=DEFAULT_PEER_PYTHON,
        help="Python of the environment with torch and gymnasium",
    )
    parser.add_argument(
        "--figure",
        type=Path,
        help="where the learning-curve figure goes (default: benchmarks/figures/"
        "vpg_weighting.png, or a temporary directory with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: few iterations, RESULTS.md left alone, figure to a temp dir",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    if parser.parse_known_args()[0].quick:  # explicit options still win over these
        parser.set_defaults(
            seed001_iterations=20,
            seed003_iterations=5,
            repeats=3,
            torch_iterations=1,
            torch_repeats=3,
            epochs=5,
            seeds=2,
        )
    args = parser.parse_args()
    if args.figure is None:
        directory = Path(tempfile.mkdtemp(prefix="jaxpg_bench_")) if args.quick else None
        args.figure = (directory or common.FIGURES_DIR) / "vpg_weighting.png"
    return args


def main() -> None:
    args = parse_args()
    machine = common.machine_description()
    jax_timings = {
        "seed001": time_jaxpg(
            SEED001_CONFIG, "GridWorld-v0", args.seed001_iterations, args.repeats
        ),
        "seed003": time_jaxpg(SEED003_CONFIG, "CartPole-v1", args.seed003_iterations, args.repeats),
    }
    for name, timing in jax_timings.items():
        print(
            f"jaxpg {name}: {_ms(timing.seconds_per_iteration)} per iteration, "
            f"compile {timing.compile_seconds:.1f} s",
            flush=True,
        )
    torch_arguments = ["--repeats", str(args.torch_repeats)]
    baselines = {
        "seed001": run_baseline(
            args.peer_python,
            "torch_seed001.py",
            ["--iterations", str(args.torch_iterations), *torch_arguments],
        ),
        "seed003": run_baseline(
            args.peer_python,
            "torch_seed003.py",
            ["--epochs", str(args.torch_iterations), *torch_arguments],
        ),
    }
    for name, baseline in baselines.items():
        value = baseline.get(
            "seconds_per_iteration_median", baseline.get("seconds_per_epoch_median")
        )
        print(
            f"torch {name}: " + (_ms(value) if value is not None else baseline["error"]), flush=True
        )
    curves = {w: learning_curves(w, args.epochs, args.seeds) for w in ("reward_to_go", "return")}
    plot_curves(curves, args.figure)
    print(f"figure: {args.figure}")
    text = report(args, machine, jax_timings, baselines, curves, args.figure)
    print("\n" + text)
    if not (args.quick or args.no_write):
        common.write_section("seeds", text)
        print(f"wrote the 'seeds' section of {common.RESULTS_PATH}")
    common.write_json(
        args.json,
        {
            "machine": machine,
            "command": common.command_line(),
            "jaxpg": {name: timing._asdict() for name, timing in jax_timings.items()},
            "torch": {
                name: {k: v for k, v in b.items() if k != "runs"} for name, b in baselines.items()
            },
            "curves": {
                w: {
                    "env_steps": c.env_steps.tolist(),
                    "episode_return": c.episode_return.tolist(),
                    "seconds": c.seconds,
                }
                for w, c in curves.items()
            },
        },
    )


if __name__ == "__main__":
    main()
