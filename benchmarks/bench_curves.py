"""Learning curves on CartPole-v1: every algorithm, 10 seeds, return against environment steps.

The community's convention (as in Spinning Up's benchmarks): the mean over seeds of the
training return against environment steps, with a shaded band of one standard deviation
across seeds. Algorithms, each with its default config at ``total_timesteps=100_000``:

* VPG (reward-to-go, seed 003's settings: 10 envs x 500 steps, [32] tanh, Adam 1e-2);
* actor-critic (A2C with GAE);
* TRPO, single path (8 envs x 128 steps, GAE, Adam critic);
* TRPO, vine (the same plus 64 branched states x every action x 32 steps per iteration;
  the branch steps count in ``env_steps``, so its 97 iterations use about 5x the env steps);
* NPG (``TRPOConfig(line_search=False)``);
* PPO (rejax's CartPole setting).

Each algorithm's seeds run in one ``jax.jit(jax.vmap(train))`` call over
``jax.random.split(jax.random.key(0), seeds)``, compiled ahead of time so that its compile
time is reported apart from the run (`benchmarks.common.compile_and_time`). The curve is
``result.metrics["episode_return"]`` (the mean undiscounted return of the episodes that
finished in the iteration, carried forward when none did, NaN before a seed's first finished
episode; means and bands skip NaN) against ``result.metrics["env_steps"]``; no smoothing.

Run from the repository root::

    python -m benchmarks.bench_curves            # full run: "curves" section and the figure
    python -m benchmarks.bench_curves --quick    # smoke run: prints only, figure to a temp dir
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

ENV_ID = "CartPole-v1"
SOLVED = 475.0


def configs(total_timesteps: int) -> dict[str, Any]:
    """The algorithms of the figure, each at its defaults."""
    return {
        "VPG": jaxpg.VPGConfig(total_timesteps=total_timesteps),
        "actor-critic": jaxpg.ActorCriticConfig(total_timesteps=total_timesteps),
        "TRPO (single path)": jaxpg.TRPOConfig(total_timesteps=total_timesteps),
        "TRPO (vine)": jaxpg.TRPOConfig(sampling="vine", total_timesteps=total_timesteps),
        "NPG": jaxpg.TRPOConfig(line_search=False, total_timesteps=total_timesteps),
        "PPO": jaxpg.PPOConfig(total_timesteps=total_timesteps),
    }


def _over_seeds(statistic: Any, returns: np.ndarray) -> np.ndarray:
    """``statistic`` over axis 0 of ``returns`` ``[seeds, iterations]``, NaN-skipping and quiet
    where every seed is NaN (no episode finished yet anywhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return statistic(returns, axis=0)


class Curve(NamedTuple):
    """One algorithm's learning curves over seeds."""

    name: str
    env_steps: np.ndarray  # [iterations] int64 (the same for every seed)
    returns: np.ndarray  # [seeds, iterations], NaN before a seed's first finished episode
    compile_s: float
    run_s: float
    load_average: str

    # NaN marks a seed with no finished episode yet: averaged over the seeds that have one.
    @property
    def mean(self) -> np.ndarray:
        return _over_seeds(np.nanmean, self.returns)

    @property
    def std(self) -> np.ndarray:
        return _over_seeds(np.nanstd, self.returns)

    def index_at(self, steps: float) -> int:
        """The last iteration with at most ``steps`` env steps (0 if none)."""
        return max(int(np.searchsorted(self.env_steps, steps, side="right")) - 1, 0)

    def steps_to(self, threshold: float) -> int | None:
        """Env steps at which the mean over seeds first reaches ``threshold``."""
        reached = np.nonzero(self.mean >= threshold)[0]
        return int(self.env_steps[reached[0]]) if reached.size else None


def learning_curve(name: str, config: Any, seeds: int) -> Curve:
    """Trains ``seeds`` seeds of ``config`` in one vmapped call (`common.compile_and_time`)."""
    env, env_params = jaxpg.make_env(ENV_ID)
    train = jax.vmap(jaxpg.make_train(config, env, env_params))
    keys = jax.random.split(jax.random.key(0), seeds)
    load = common.load_average()
    timing, (result,) = common.compile_and_time(train, keys, repeats=0)
    return Curve(
        name,
        np.asarray(result.metrics["env_steps"])[0].astype(np.int64),
        np.asarray(result.metrics["episode_return"]),
        timing.compile_s,
        timing.first_run_s,
        load,
    )


def plot(curves: list[Curve], limit: int, path: Path) -> None:
    """Mean and one-standard-deviation band against env steps; the vine in full on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = curves[0].returns.shape[0]
    longer = [c for c in curves if c.env_steps[-1] > 1.05 * limit]
    columns = 2 if longer else 1
    figure, axes = plt.subplots(1, columns, figsize=(6.4 * columns, 4.4), squeeze=False)
    panels = [(axes[0, 0], curves, limit, f"first {limit:,} env steps")]
    if longer:
        reference = [c for c in curves if c.name == "TRPO (single path)"]
        panels.append((axes[0, 1], reference + longer, None, "whole runs, vine included"))
    for ax, shown, cut, title in panels:
        for curve in shown:
            color = f"C{[c.name for c in curves].index(curve.name)}"
            end = curve.index_at(cut) + 1 if cut else len(curve.env_steps)
            steps, mean, std = curve.env_steps[:end], curve.mean[:end], curve.std[:end]
            ax.plot(steps, mean, color=color, label=curve.name, linewidth=1.4)
            ax.fill_between(steps, mean - std, np.minimum(mean + std, 500), color=color, alpha=0.15)
        ax.axhline(SOLVED, color="gray", linestyle=":", linewidth=1)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("training episode return")
        ax.set_ylim(0, 520)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    figure.suptitle(f"jaxpg on CartPole-v1: mean of {seeds} seeds, band: +-1 std across seeds")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def report(args: argparse.Namespace, machine: dict[str, Any], curves: list[Curve]) -> str:
    """The Markdown of the "curves" section."""
    limit = args.total_timesteps
    rows = []
    for curve in curves:
        at = curve.index_at(limit)
        final = curve.returns[:, -1]
        solved = curve.steps_to(SOLVED)
        rows.append(
            [
                curve.name,
                len(curve.env_steps),
                f"{curve.env_steps[-1]:,}",
                f"{curve.mean[at]:.0f} +- {curve.std[at]:.0f}",
                f"{np.nanmean(final):.0f} +- {np.nanstd(final):.0f}",
                f"{np.nanmedian(final):.0f} / {np.nanmin(final):.0f}",
                "-" if solved is None else f"{solved:,}",
                f"{curve.compile_s:.1f} s",
                f"{curve.run_s:.1f} s",
                curve.load_average.split(" / ")[0],
            ]
        )
    shown = (
        args.figure.relative_to(common.BENCHMARKS_DIR)
        if args.figure.is_relative_to(common.BENCHMARKS_DIR)
        else args.figure
    )
    return (
        "## Learning curves on CartPole-v1 (every algorithm, "
        f"{args.seeds} seeds)\n\n"
        + common.section_preamble(machine)
        + f"\nEach algorithm with its default config at `total_timesteps={limit:_}`, "
        f"{args.seeds} seeds in one `jax.jit(jax.vmap(train))` call, compiled ahead of time "
        "(compile and run reported apart; one run each, the machine was shared). Return: the "
        "training `episode_return` metric (mean return of the episodes finished in the "
        "iteration), no smoothing; mean +- standard deviation across seeds. The vine's branch "
        "steps count as env steps, so its run is longer than the others'; the column 'at "
        f"{limit // 1000}k' reads every curve at the last iteration within {limit:,} env steps. "
        f"'Mean reaches {SOLVED:.0f}': the first env-steps count where the mean over seeds is "
        f">= {SOLVED:.0f}. Figure: [{shown}]({shown}).\n\n"
        + common.markdown_table(
            (
                "algorithm",
                "iterations",
                "env steps",
                f"return at {limit // 1000}k",
                "final return",
                "final median / min",
                f"mean reaches {SOLVED:.0f} at",
                "compile",
                "run",
                "load",
            ),
            rows,
        )
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-timesteps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--algorithms", nargs="+", help="subset of the names in the table (default: all)"
    )
    parser.add_argument("--figure", type=Path, help="default: benchmarks/figures/curves.png")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 10k steps, 2 seeds, the vine only, RESULTS.md left alone",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", help="also write the curves to this JSON file")
    if parser.parse_known_args()[0].quick:  # explicit options still win over these
        parser.set_defaults(total_timesteps=10_240, seeds=2, algorithms=["TRPO (vine)"])
    args = parser.parse_args()
    if args.figure is None:
        directory = Path(tempfile.mkdtemp(prefix="jaxpg_bench_")) if args.quick else None
        args.figure = (directory or common.FIGURES_DIR) / "curves.png"
    return args


def main() -> None:
    args = parse_args()
    machine = common.machine_description()
    curves = []
    for name, config in configs(args.total_timesteps).items():
        if args.algorithms and name not in args.algorithms:
            continue
        curve = learning_curve(name, config, args.seeds)
        curves.append(curve)
        at = curve.index_at(args.total_timesteps)
        print(
            f"{name}: {len(curve.env_steps)} iterations, {curve.env_steps[-1]:,} env steps, "
            f"return at {args.total_timesteps:,} {curve.mean[at]:.0f} +- {curve.std[at]:.0f}, "
            f"final {curve.mean[-1]:.0f}, compile {curve.compile_s:.1f} s, "
            f"run {curve.run_s:.1f} s, load {curve.load_average}",
            flush=True,
        )
    plot(curves, args.total_timesteps, args.figure)
    print(f"figure: {args.figure}")
    text = report(args, machine, curves)
    print("\n" + text)
    if not (args.quick or args.no_write):
        common.write_section("curves", text)
        print(f"wrote the 'curves' section of {common.RESULTS_PATH}")
    common.write_json(
        args.json,
        {
            "machine": machine,
            "command": common.command_line(),
            "curves": {
                c.name: {
                    "env_steps": c.env_steps.tolist(),
                    "episode_return": c.returns.tolist(),
                    "compile_s": c.compile_s,
                    "run_s": c.run_s,
                    "load_average": c.load_average,
                }
                for c in curves
            },
        },
    )


if __name__ == "__main__":
    main()
