"""Learning curves on Brax locomotion: TRPO single path, TRPO vine and PPO (the TRPO paper's
Figure 4, jaxpg's version).

The community's convention: the mean over seeds of the return against environment steps, with
a band of one standard deviation across seeds. For every task (``--envs``, default hopper and
walker2d on Brax's positional pipeline, the fastest on CPU) and every algorithm, the seeds run
in one ``jax.jit(jax.vmap(train))`` call over ``jax.random.split(jax.random.key(0), seeds)``,
compiled ahead of time (`benchmarks.common.compile_and_time`), so compile and run are reported
apart. Algorithms, each from its locomotion preset (`jaxpg.presets`) with
``total_timesteps`` set so that every run takes about ``--steps`` environment steps:

* TRPO, single path: ``presets.config("trpo", "brax:<env>")`` (RL-Zoo's MuJoCo settings,
  2,048 steps per iteration, normalised observations and rewards);
* TRPO, vine: the same plus ``sampling="vine"`` with a rollout set of ``VINE["vine_num_states"]``
  states, ``VINE["vine_num_actions"]`` actions drawn per state and branches of
  ``VINE["vine_horizon"]`` steps (bootstrapped with the critic). The branch steps count as
  environment steps, so the vine runs fewer iterations for the same budget;
* PPO: ``presets.config("ppo", "brax:<env>")`` (Brax's PPO locomotion settings at CPU scale,
  tanh-squashed Gaussian).

Curve: the training ``episode_return`` metric (mean undiscounted return of the episodes that
finished in the iteration with sampled actions, carried forward when none did; NaN before a
seed's first finished episode), against ``metrics["env_steps"]``; no smoothing. Final: one
greedy evaluation per seed after training (`jaxpg.evaluate`, ``--eval-episodes`` episodes of
1,000 steps, Gaussian mean, observation statistics frozen).

Brax's spring and positional pipelines are not MuJoCo's dynamics, so the published MuJoCo
anchors (OpenAI baselines, Tianshou, RL-Zoo) do not apply here; `bench_brax` compares with
Brax's own PPO trainer on the same pipeline instead.

Run from the repository root (about 40 minutes on 2 CPU cores)::

    python -m benchmarks.bench_locomotion            # "locomotion" section and the figure
    python -m benchmarks.bench_locomotion --quick    # smoke run: prints only
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

import jaxpg
from benchmarks import common
from benchmarks.bench_curves import _over_seeds

MILLION = 1_000_000

#: The vine's branching on Box actions in this figure: 128 states x 2 actions x 16 steps,
#: 4,096 branch steps beside each iteration's 2,048 single-path steps.
VINE = {"vine_num_states": 128, "vine_num_actions": 2, "vine_horizon": 16}

ALGORITHMS = ("TRPO (single path)", "TRPO (vine)", "PPO")


def configuration(name: str, env_id: str, steps: int) -> tuple[Any, dict[str, Any]]:
    """``(config, env_kwargs)`` of one curve, its budget about ``steps`` env steps."""
    if name == "PPO":
        return jaxpg.presets.config("ppo", env_id, total_timesteps=steps)
    if name == "TRPO (single path)":
        return jaxpg.presets.config("trpo", env_id, total_timesteps=steps)
    base, env_kwargs = jaxpg.presets.config("trpo", env_id)
    per_iteration = (
        base.batch_size
        + VINE["vine_num_states"] * VINE["vine_num_actions"] * (VINE["vine_horizon"])
    )
    iterations = max(steps // per_iteration, 1)
    return jaxpg.presets.config(
        "trpo",
        env_id,
        sampling="vine",
        total_timesteps=iterations * base.batch_size,
        **VINE,
    )[0], env_kwargs


class Curve(NamedTuple):
    """One algorithm's curves on one task."""

    env: str
    name: str
    env_steps: np.ndarray  # [iterations]
    returns: np.ndarray  # [seeds, iterations]
    final_eval: np.ndarray  # [seeds] greedy evaluation returns
    compile_s: float
    run_s: float
    load_average: str

    @property
    def mean(self) -> np.ndarray:
        return _over_seeds(np.nanmean, self.returns)

    @property
    def std(self) -> np.ndarray:
        return _over_seeds(np.nanstd, self.returns)


def learning_curve(env_name: str, name: str, args: argparse.Namespace) -> Curve:
    """Trains ``args.seeds`` seeds in one vmapped call, then evaluates each greedily."""
    env_id = f"brax:{env_name}"
    config, env_kwargs = configuration(name, env_id, args.steps)
    env, env_params = jaxpg.make_env(env_id, **{**env_kwargs, "backend": args.backend})
    train = jax.vmap(jaxpg.make_train(config, env, env_params))
    keys = jax.random.split(jax.random.key(0), args.seeds)
    load = common.load_average()
    timing, (result,) = common.compile_and_time(train, keys, repeats=0)

    def evaluate(params: Any, key: jax.Array) -> jax.Array:
        return jaxpg.evaluate(
            config, env, env_params, params, key, args.eval_episodes, greedy=True
        ).mean()

    eval_keys = jax.random.split(jax.random.key(1), args.seeds)
    final = jax.jit(jax.vmap(evaluate))(result.params, eval_keys)
    return Curve(
        env_name,
        name,
        np.asarray(result.metrics["env_steps"])[0].astype(np.int64),
        np.asarray(result.metrics["episode_return"], np.float64),
        np.asarray(final, np.float64),
        timing.compile_s,
        timing.first_run_s,
        load,
    )


def plot(curves: list[Curve], envs: list[str], seeds: int, path: Path) -> None:
    """One panel per task: mean and +-1 std band against env steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(envs), figsize=(6.0 * len(envs), 4.4), squeeze=False)
    for ax, env_name in zip(axes[0], envs, strict=True):
        for curve in (c for c in curves if c.env == env_name):
            color = f"C{ALGORITHMS.index(curve.name)}"
            ax.plot(curve.env_steps, curve.mean, color=color, label=curve.name, linewidth=1.4)
            ax.fill_between(
                curve.env_steps,
                curve.mean - curve.std,
                curve.mean + curve.std,
                color=color,
                alpha=0.15,
            )
        ax.set_title(f"brax:{env_name}")
        ax.set_xlabel("environment steps")
        ax.set_ylabel("training episode return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    figure.suptitle(f"jaxpg on Brax locomotion: mean of {seeds} seeds, band: +-1 std")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def report(args: argparse.Namespace, machine: dict[str, Any], curves: list[Curve]) -> str:
    """The Markdown of the "locomotion" section."""
    rows = []
    for c in curves:
        rows.append(
            [
                f"brax:{c.env}",
                c.name,
                len(c.env_steps),
                f"{c.env_steps[-1]:,}",
                f"{c.mean[-1]:.0f} +- {c.std[-1]:.0f}",
                f"{np.mean(c.final_eval):.0f} +- {np.std(c.final_eval):.0f}",
                f"{np.median(c.final_eval):.0f} / {np.min(c.final_eval):.0f}",
                f"{c.compile_s:.1f} s",
                f"{c.run_s:.1f} s",
                c.load_average.split(" / ")[0],
            ]
        )
    shown = (
        args.figure.relative_to(common.BENCHMARKS_DIR)
        if args.figure.is_relative_to(common.BENCHMARKS_DIR)
        else args.figure
    )
    vine = ", ".join(f"`{k}={v}`" for k, v in VINE.items())
    return (
        f"## Learning curves on Brax locomotion ({args.backend}, {args.seeds} seeds)\n\n"
        + common.section_preamble(machine)
        + "\nTRPO single path and PPO from their locomotion presets (`jaxpg.presets`), TRPO "
        f'vine from the TRPO preset with `sampling="vine"`, {vine} (its branch steps count as '
        f"env steps); every run about {args.steps:,} env steps. The seeds of one algorithm "
        "run in one `jax.jit(jax.vmap(train))` call, compiled ahead of time (compile and run "
        "apart; one run each). 'Training return': the `episode_return` metric of the last "
        "iteration (sampled actions), mean +- std across seeds. 'Greedy evaluation': "
        f"`jaxpg.evaluate` after training, {args.eval_episodes} episodes of 1,000 steps per "
        "seed, Gaussian mean, mean +- std across seeds. Brax's positional pipeline is not "
        "MuJoCo, so the published MuJoCo anchors do not apply; see the `brax` sections for "
        f"Brax's own PPO on the same pipeline. Figure: [{shown}]({shown}).\n\n"
        + common.markdown_table(
            (
                "task",
                "algorithm",
                "iterations",
                "env steps",
                "training return",
                "greedy evaluation",
                "eval median / min",
                "compile",
                "run",
                "load",
            ),
            rows,
        )
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["hopper", "walker2d"])
    parser.add_argument("--backend", default="positional")
    parser.add_argument("--steps", type=int, default=MILLION)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-episodes", type=int, default=8)
    parser.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=list(ALGORITHMS))
    parser.add_argument("--figure", type=Path, help="default: benchmarks/figures/locomotion.png")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 20k steps, 2 seeds, hopper, prints only"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", help="also write the curves to this JSON file")
    if parser.parse_known_args()[0].quick:
        parser.set_defaults(steps=20_480, seeds=2, envs=["hopper"], eval_episodes=2)
    args = parser.parse_args()
    if args.figure is None:
        directory = Path(tempfile.mkdtemp(prefix="jaxpg_bench_")) if args.quick else None
        args.figure = (directory or common.FIGURES_DIR) / "locomotion.png"
    return args


def main() -> None:
    args = parse_args()
    machine = common.machine_description()
    curves = []
    for env_name in args.envs:
        for name in args.algorithms:
            curve = learning_curve(env_name, name, args)
            curves.append(curve)
            print(
                f"brax:{env_name} {name}: {len(curve.env_steps)} iterations, "
                f"{curve.env_steps[-1]:,} env steps, training return {curve.mean[-1]:.0f} "
                f"+- {curve.std[-1]:.0f}, greedy {np.mean(curve.final_eval):.0f} "
                f"+- {np.std(curve.final_eval):.0f}, compile {curve.compile_s:.1f} s, "
                f"run {curve.run_s:.1f} s, load {curve.load_average}",
                flush=True,
            )
            common.write_json(
                args.json,
                {
                    "machine": machine,
                    "command": common.command_line(),
                    "curves": [
                        {
                            "env": c.env,
                            "algorithm": c.name,
                            "env_steps": c.env_steps.tolist(),
                            "episode_return": c.returns.tolist(),
                            "final_eval": c.final_eval.tolist(),
                            "compile_s": c.compile_s,
                            "run_s": c.run_s,
                        }
                        for c in curves
                    ],
                },
            )
    plot(curves, args.envs, args.seeds, args.figure)
    print(f"figure: {args.figure}")
    text = report(args, machine, curves)
    print("\n" + text)
    if not (args.quick or args.no_write):
        common.write_section("locomotion", text)
        print(f"wrote the 'locomotion' section of {common.RESULTS_PATH}")


if __name__ == "__main__":
    main()
