"""jaxpg TRPO against Brax's own PPO trainer on a Brax environment: return and wall-clock.

Side by side in one process, on the same Brax environment (``--env``, default hopper), physics
backend (``--backend``, default positional) and number of environment steps, seeds alternating
(jaxpg seed 0, Brax seed 0, jaxpg seed 1, ...):

* jaxpg: TRPO (Schulman et al. 2015) with its preset ``jaxpg.presets.config("trpo",
  "brax:<env>")`` (RL-Zoo's MuJoCo settings: 16 envs x 128 steps, GAE 0.95, max KL 0.01, 64x64
  tanh, normalised observations and rewards) on ``jaxpg.make_env("brax:<env>")`` (episodes of
  1000 steps, time limit kept apart from termination). The whole run,
  ``jax.jit(lambda key: trainer.run(trainer.init(key), num_iterations))``, is compiled ahead of
  time once (`benchmarks.common.compile_ahead`) and the compiled program runs every seed, so the
  compile time is measured once per process and charged to every seed in "with compile" (what
  a fresh process per seed would pay). Then `jaxpg.evaluate`: ``--eval-episodes`` episodes,
  greedy actions (the Gaussian mean), observation statistics frozen.
* Brax: ``brax.training.agents.ppo.train`` (Schulman et al. 2017; Freeman et al. 2021) with the
  issue's measured starting configuration: 128 envs, unroll 16, 8 minibatches of 128, 4 passes,
  discount 0.97, lr 3e-4, entropy 1e-2, normalised observations, reward scaling 10, its default
  networks (policy 4 x 32, value 5 x 256, tanh-squashed Gaussian), episodes of 1000 steps, and
  ``deterministic_eval=True`` with ``num_eval_envs = --eval-episodes`` (Brax's defaults sample
  actions, on 128 envs) so that both sides evaluate alike. Brax builds fresh functions in every
  ``train`` call, so it compiles per seed (the persistent compilation cache is off).

Budget: Brax trains in epochs of ``(num_evals - 1)`` equal parts, each a whole number of
training steps of 128 x 16 x 8 = 16,384 env steps, and rounds the budget up to that; jaxpg then
gets the same count as ``total_timesteps`` (its 2,048-step iterations divide it), so both sides
take the same number of env steps. ``--brax-evals`` (default: 5 to 17, whichever rounds
``--steps`` up least, the most evals among ties) sets Brax's evaluations, the initial one
included.

Timing, wall-clock. Compile means tracing, lowering and XLA compilation on both sides. jaxpg:
compile = ``jax.jit(run).lower(key).compile()``, train = the compiled run waited for, eval =
the jitted `jaxpg.evaluate` (compiled once per process, in the first seed's evaluation). Brax
compiles inside ``train``, so its compile time is read from JAX's own compile events
(`jax.monitoring` time spans of ``/jax/core/compile/{jaxpr_trace,jaxpr_to_mlir_module,
backend_compile}_duration``, overlaps merged); every compile is placed in the window it fell in
by the times Brax reports to its ``progress_fn`` (cumulative ``training/walltime`` of the
training epochs, ``eval/epoch_eval_time`` of each evaluation). Brax train = the epochs' time
less the compiles in the epoch windows (which also hold a few small host-side compiles between
epochs, key splits, well under a second); Brax compile = every compile except the evaluator's
(the same scope as jaxpg's: the training program, resets and initialisation); Brax wall = the
whole ``train`` call (compiles, training and every evaluation). Brax 0.14.2 under jax 0.10
compiles its training epoch and its evaluation twice per ``train`` call (the second epoch
retraces and recompiles with the same shapes and shardings, seen with ``jax_log_compiles``), so
the first two epochs hold compiles. Per env step: train seconds / env steps, and (compile +
train) / env steps. The headline is the median over seeds.

The learning curves are not the same quantity on both sides: jaxpg's is the training return
(``metrics["episode_return"]``: mean return of the episodes finished in an iteration, sampled
actions, NaN before the first), Brax's its periodic deterministic evaluation; the final
greedy/deterministic evaluations (the table's returns) are comparable.

Brax 0.14.2's PPO calls ``jax.device_put_replicated``, which jax 0.10 removed (brax#671); this
script puts an equivalent back (one copy per device, sharded along a new leading axis) before
training, nowhere else.

Run from the repository root (a 33k-step smoke run on 2 CPU cores suggests 15-25 minutes at the
defaults: Brax compiles for about 1.5 minutes per seed, jaxpg for about 1 minute once, and both
train at about 12k env-steps/s)::

    python -m benchmarks.bench_brax                        # hopper, 1M steps, seeds 0 1 2
    python -m benchmarks.bench_brax --env walker2d         # section "brax_walker2d"
    python -m benchmarks.bench_brax --quick                # smoke run: prints only
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jax
import numpy as np

import jaxpg
from benchmarks import common

#: Brax PPO settings of the issue's measured starting configuration (hopper, positional:
#: 1432 after 1.06M steps in 479 s).
BRAX_PPO = {
    "episode_length": 1000,
    "num_envs": 128,
    "unroll_length": 16,
    "batch_size": 128,
    "num_minibatches": 8,
    "num_updates_per_batch": 4,
    "normalize_observations": True,
    "reward_scaling": 10.0,
    "discounting": 0.97,
    "learning_rate": 3e-4,
    "entropy_cost": 1e-2,
    "deterministic_eval": True,
}
#: Env steps of one Brax training step: batch_size x unroll_length x num_minibatches.
BRAX_UNIT = BRAX_PPO["batch_size"] * BRAX_PPO["unroll_length"] * BRAX_PPO["num_minibatches"]
MILLION = 1_000_000


def brax_schedule(steps: int, num_evals: int | None = None) -> tuple[int, int]:
    """``(num_evals, env_steps)``: Brax's evaluations and the env steps it will take.

    Brax runs ``num_evals - 1`` epochs of ``ceil(steps / ((num_evals - 1) * BRAX_UNIT))``
    training steps each. None: the count in 5 ... 17 that overshoots ``steps`` least (the
    largest among ties).
    """

    def taken(evals: int) -> int:
        epochs = evals - 1
        return epochs * math.ceil(steps / (epochs * BRAX_UNIT)) * BRAX_UNIT

    if num_evals is None:
        num_evals = min(range(5, 18), key=lambda evals: (taken(evals), -evals))
    if num_evals < 2:
        raise ValueError("--brax-evals must be >= 2 (the initial evaluation and one more)")
    return num_evals, taken(num_evals)


def _restore_device_put_replicated() -> None:
    """brax 0.14.2's PPO calls jax.device_put_replicated, removed in jax 0.10 (brax#671)."""
    if hasattr(jax, "device_put_replicated"):
        return
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    def device_put_replicated(x: Any, devices: list[Any]) -> Any:
        sharding = NamedSharding(Mesh(np.array(devices), ("d",)), P("d"))
        stacked = jax.tree.map(lambda a: np.stack([np.asarray(a)] * len(devices)), x)
        return jax.device_put(stacked, sharding)

    jax.device_put_replicated = device_put_replicated


class CompileSpans:
    """Wall-clock spans (``time.time``) of JAX's tracing, lowering and XLA compilation."""

    EVENTS = tuple(
        f"/jax/core/compile/{name}_duration"
        for name in ("jaxpr_trace", "jaxpr_to_mlir_module", "backend_compile")
    )

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        jax.monitoring.register_event_time_span_listener(self._record)

    def _record(self, event: str, start: float, end: float, **_: Any) -> None:
        if event in self.EVENTS:
            self.spans.append((start, end))

    def seconds(self, start: float, end: float) -> float:
        """Seconds of compilation within ``[start, end]`` (nested spans counted once)."""
        total, reached = 0.0, start
        for span_start, span_end in sorted(self.spans):
            span_start, span_end = max(span_start, reached), min(span_end, end)
            if span_end > span_start:
                total += span_end - span_start
                reached = span_end
        return total


class JaxpgSide:
    """jaxpg's TRPO on the environment, compiled once for every seed."""

    def __init__(self, args: argparse.Namespace, steps: int, compiles: CompileSpans):
        self.args = args
        self.compiles = compiles
        self.config, env_kwargs = jaxpg.presets.config(
            "trpo", f"brax:{args.env}", total_timesteps=steps
        )
        env_kwargs = {**env_kwargs, "backend": args.backend}
        self.env, self.env_params = jaxpg.make_env(f"brax:{args.env}", **env_kwargs)
        self.trainer = jaxpg.make_trainer(self.config, self.env, self.env_params)
        self.compiled: Any = None
        self.compile_s = math.nan
        self.evaluate = jax.jit(self._evaluate)

    def _train(self, key: jax.Array) -> Any:
        return self.trainer.run(self.trainer.init(key), self.config.num_iterations)

    def _evaluate(self, params: Any, key: jax.Array) -> jax.Array:
        return jaxpg.evaluate(
            self.config,
            self.env,
            self.env_params,
            params,
            key,
            self.args.eval_episodes,
            greedy=True,
            policy=self.trainer.algorithm.policy,
        )

    def run(self, seed: int) -> dict[str, Any]:
        """One seed: train, then evaluate greedily."""
        train_key, eval_key = jax.random.split(jax.random.key(seed))
        if self.compiled is None:
            self.compiled, self.compile_s = common.compile_ahead(self._train, train_key)
        started = time.time()
        train_s, (state, metrics) = common.run_compiled(self.compiled, train_key)
        evaluated = time.time()
        eval_elapsed, returns = common.timed(
            lambda: jax.block_until_ready(self.evaluate(state.agent.params, eval_key))
        )
        eval_compile_s = self.compiles.seconds(evaluated, time.time())
        env_steps = int(state.env_steps.value())
        curve_returns = np.asarray(metrics["episode_return"], np.float64)
        return {
            "library": "jaxpg",
            "seed": seed,
            "env_steps": env_steps,
            "compile_s": self.compile_s,
            "train_s": train_s,
            "compile_during_train_s": self.compiles.seconds(started, evaluated),
            "eval_s": eval_elapsed.seconds - eval_compile_s,
            "eval_compile_s": eval_compile_s,
            "wall_s": self.compile_s + train_s + eval_elapsed.seconds,
            "final_eval_return": float(np.mean(returns)),
            "curve_env_steps": np.asarray(metrics["env_steps"], np.float64).tolist(),
            "curve_return": [None if math.isnan(r) else r for r in curve_returns.tolist()],
            "load_average_1min": common.load_average().split(" / ")[0],
        }


def run_brax(
    args: argparse.Namespace, seed: int, num_evals: int, steps: int, compiles: CompileSpans
) -> dict[str, Any]:
    """One seed of Brax's PPO; its compiles placed by its ``progress_fn`` reports (see the
    module docstring)."""
    from brax import envs
    from brax.training.agents.ppo import train as ppo

    _restore_device_put_replicated()
    environment = envs.get_environment(args.env, backend=args.backend)
    calls: list[tuple[float, int, dict[str, float]]] = []

    def progress(step: int, metrics: dict[str, Any]) -> None:
        scalars = {name: float(value) for name, value in metrics.items() if np.ndim(value) == 0}
        calls.append((time.time(), int(step), scalars))

    start = time.time()
    ppo.train(
        environment=environment,
        num_timesteps=steps,
        num_evals=num_evals,
        num_eval_envs=args.eval_episodes,
        seed=seed,
        progress_fn=progress,
        **BRAX_PPO,
    )
    end = time.time()
    times = [at for at, _, _ in calls]
    evals = [metrics["eval/epoch_eval_time"] for _, _, metrics in calls]
    training_s = calls[-1][2]["training/walltime"]
    eval_windows = [(at - seconds, at) for at, seconds in zip(times, evals, strict=True)]
    epoch_windows = [(times[k - 1], times[k] - evals[k]) for k in range(1, len(calls))]
    compile_eval = sum(compiles.seconds(*window) for window in eval_windows)
    compile_training = sum(compiles.seconds(*window) for window in epoch_windows)
    compile_other = compiles.seconds(start, times[0] - evals[0]) + compiles.seconds(times[-1], end)
    cumulative = [0.0] + [metrics["training/walltime"] for _, _, metrics in calls[1:]]
    return {
        "library": "brax",
        "seed": seed,
        "env_steps": calls[-1][1],
        "compile_s": compile_training + compile_other,
        "compile_parts_s": {
            "training_epochs": compile_training,
            "setup_and_end": compile_other,
            "evaluations": compile_eval,
        },
        "train_s": training_s - compile_training,
        "eval_s": sum(evals) - compile_eval,
        "eval_compile_s": compile_eval,
        "wall_s": end - start,
        "epoch_s": np.diff(cumulative).tolist(),
        "training_sps": [metrics["training/sps"] for _, _, metrics in calls[1:]],
        "final_eval_return": calls[-1][2]["eval/episode_reward"],
        "curve_env_steps": [step for _, step, _ in calls],
        "curve_return": [metrics["eval/episode_reward"] for _, _, metrics in calls],
        "load_average_1min": common.load_average().split(" / ")[0],
    }


def _with_rates(record: dict[str, Any]) -> dict[str, Any]:
    steps = record["env_steps"]
    return {
        **record,
        "env_steps_per_s": steps / record["train_s"],
        "s_per_million_train": record["train_s"] / steps * MILLION,
        "s_per_million_with_compile": (record["compile_s"] + record["train_s"]) / steps * MILLION,
    }


def _summary(record: dict[str, Any]) -> str:
    return (
        f"{record['library']} seed {record['seed']}: {record['env_steps']:,} env steps, "
        f"compile {record['compile_s']:.1f} s, train {record['train_s']:.1f} s "
        f"({record['env_steps_per_s']:,.0f} env-steps/s), eval {record['eval_s']:.1f} s, "
        f"wall {record['wall_s']:.1f} s, final eval return {record['final_eval_return']:.0f}"
    )


FIELDS = (
    ("final_eval_return", "final eval return", "{:.0f}"),
    ("compile_s", "compile s", "{:.1f}"),
    ("train_s", "train s", "{:.1f}"),
    ("env_steps_per_s", "env-steps/s (train)", "{:,.0f}"),
    ("s_per_million_train", "s / 1M steps, train", "{:.0f}"),
    ("s_per_million_with_compile", "s / 1M steps, with compile", "{:.0f}"),
    ("eval_s", "eval s", "{:.1f}"),
    ("wall_s", "wall s", "{:.0f}"),
)


def _median(records: list[dict[str, Any]], field: str) -> float:
    return statistics.median(record[field] for record in records)


def report(
    args: argparse.Namespace,
    machine: dict[str, Any],
    runs: list[dict[str, Any]],
    num_evals: int,
    figure: Path,
) -> str:
    """The Markdown of the section."""
    sides = {library: [r for r in runs if r["library"] == library] for library in ("jaxpg", "brax")}
    sides = {library: records for library, records in sides.items() if records}
    header = ["library", "seed", "env steps", *(title for _, title, _ in FIELDS), "load"]
    rows = []
    for library, records in sides.items():
        for record in records:
            rows.append(
                [library, record["seed"], f"{record['env_steps']:,}"]
                + [form.format(record[field]) for field, _, form in FIELDS]
                + [record["load_average_1min"]]
            )
        rows.append(
            [f"**{library}**", "median", f"{records[0]['env_steps']:,}"]
            + [f"**{form.format(_median(records, field))}**" for field, _, form in FIELDS]
            + ["-"]
        )
    lines = []
    if len(sides) == 2:
        ours, theirs = sides["jaxpg"], sides["brax"]
        pairs = [
            (j, b) for j in ours for b in theirs if j["seed"] == b["seed"]
        ]  # the same seed, run back to back
        for field, name in (
            ("s_per_million_train", "wall-clock per env step, train only"),
            ("s_per_million_with_compile", "wall-clock per env step, with compile"),
            ("compile_s", "compile"),
        ):
            ratio = _median(ours, field) / _median(theirs, field)
            lines.append(
                f"- {name}, jaxpg / Brax: **{ratio:.2f}x** (medians); per seed: "
                + ", ".join(f"{j[field] / b[field]:.2f}x" for j, b in pairs)
            )
        lines.append(
            "- final eval return, jaxpg - Brax: "
            f"**{_median(ours, 'final_eval_return') - _median(theirs, 'final_eval_return'):+.0f}**"
            " (medians); per seed: "
            + ", ".join(f"{j['final_eval_return'] - b['final_eval_return']:+.0f}" for j, b in pairs)
        )
    shown = (
        figure.relative_to(common.BENCHMARKS_DIR)
        if figure.is_relative_to(common.BENCHMARKS_DIR)
        else figure
    )
    return (
        f"## jaxpg TRPO against Brax's PPO on {args.env} ({args.backend})\n\n"
        + common.section_preamble(machine)
        + f"\nbrax {version('brax')}. Same environment (`brax.envs.get_environment("
        f"{args.env!r}, backend={args.backend!r})`, episodes of 1000 steps) and env-step count "
        f"on both sides ({args.steps:,} rounded up to Brax's {num_evals - 1} epochs of whole "
        f"{BRAX_UNIT:,}-step training steps), seeds run in one process, alternating jaxpg and "
        "Brax. jaxpg: the TRPO preset (16 envs x 128 steps, max KL 0.01, 64x64 tanh, "
        "normalised observations and rewards). Brax: its PPO trainer, 128 envs, unroll 16, 8 "
        "minibatches of 128, 4 passes, discount 0.97, lr 3e-4, entropy 1e-2, normalised "
        "observations, reward scaling 10, default networks, "
        f"{num_evals} evaluations (the initial one included). Final eval return: mean over "
        f"{args.eval_episodes} episodes, greedy (jaxpg) / deterministic (Brax) actions.\n\n"
        "Timing: 'compile' is tracing, lowering and XLA compilation of training (the "
        "evaluators' compiles are left out on both sides). jaxpg compiles its whole run ahead "
        "of time once per process (`jax.jit(run).lower(key).compile()`); that one measurement "
        "is charged to every seed in 'with compile' and 'wall'. Brax compiles inside every "
        "`train` call (its training epoch twice: brax 0.14.2 with jax 0.10 recompiles on the "
        "second epoch); its compile time is the sum of JAX's compile events "
        "(`jax.monitoring`) outside its evaluations. 'train': training only, compiles and "
        "evaluations taken out; 'eval': evaluation without its compile; 'wall': jaxpg compile "
        "+ train + its evaluation (its compile included), Brax the whole `train` call "
        f"({num_evals} evaluations). The machine is shared; 'load' is the 1-minute load "
        "average after each run.\n\n"
        + common.markdown_table(header, rows)
        + "\n"
        + "\n".join(lines)
        + f"\n\nFigure: [{shown}]({shown}): jaxpg's training return (sampled actions) and "
        "Brax's periodic deterministic evaluation against env steps, mean and min-max band "
        "over seeds; the markers are jaxpg's final greedy evaluations.\n"
    )


def _curves(records: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from jaxpg.plotting import seed_statistics

    steps = np.asarray(records[0]["curve_env_steps"], np.float64)
    length = min(len(r["curve_return"]) for r in records)
    returns = np.array(
        [[np.nan if v is None else v for v in r["curve_return"][:length]] for r in records]
    )
    return steps[:length], seed_statistics(returns)


def plot(args: argparse.Namespace, runs: list[dict[str, Any]], path: Path) -> None:
    """Return against env steps, both libraries: mean and min-max band over seeds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    labels = {
        "jaxpg": "jaxpg TRPO (training return)",
        "brax": "Brax PPO (deterministic eval)",
    }
    for index, (library, label) in enumerate(labels.items()):
        records = [r for r in runs if r["library"] == library]
        if not records:
            continue
        steps, stats = _curves(records)
        color = f"C{index}"
        marker = "o" if library == "brax" else None
        axes.plot(steps, stats["mean"], color=color, marker=marker, markersize=3, label=label)
        if len(records) > 1:
            axes.fill_between(steps, stats["min"], stats["max"], color=color, alpha=0.2, lw=0)
        if library == "jaxpg":
            axes.plot(
                [r["env_steps"] for r in records],
                [r["final_eval_return"] for r in records],
                linestyle="none",
                marker="*",
                markersize=9,
                color=color,
                label="jaxpg final greedy eval",
            )
    seeds = len({r["seed"] for r in runs})
    axes.set_xlabel("environment steps")
    axes.set_ylabel("episode return")
    axes.set_title(f"brax {args.env} ({args.backend}), {seeds} seed(s), band: min-max")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="hopper", help="a Brax environment name")
    parser.add_argument("--backend", default="positional", help="Brax physics pipeline")
    parser.add_argument("--steps", type=int, default=MILLION, help="env-step budget")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-episodes", type=int, default=16)
    parser.add_argument(
        "--brax-evals", type=int, help="Brax's num_evals (>= 3); default: see the docstring"
    )
    parser.add_argument("--only", choices=("jaxpg", "brax"), help="run one side only")
    parser.add_argument("--figure", type=Path, help="default: benchmarks/figures/brax_<env>.png")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 20k steps, seed 0, 3 Brax evaluations, 8 episodes; RESULTS.md left alone",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        help="print one JSON line per run; with a path, also write every record there",
    )
    if parser.parse_known_args()[0].quick:  # explicit options still win over these
        parser.set_defaults(steps=20_000, seeds=[0], brax_evals=3, eval_episodes=8)
    args = parser.parse_args()
    if args.figure is None:
        directory = Path(tempfile.mkdtemp(prefix="jaxpg_bench_")) if args.quick else None
        args.figure = (directory or common.FIGURES_DIR) / f"brax_{args.env}.png"
    return args


def main() -> None:
    args = parse_args()
    jax.config.update("jax_enable_compilation_cache", False)  # every Brax seed compiles afresh
    machine = common.machine_description()
    num_evals, steps = brax_schedule(args.steps, args.brax_evals)
    print(
        f"brax:{args.env} ({args.backend}), {steps:,} env steps per run "
        f"(budget {args.steps:,}; Brax: {num_evals} evaluations), seeds {args.seeds}",
        flush=True,
    )
    compiles = CompileSpans()
    ours = JaxpgSide(args, steps, compiles) if args.only != "brax" else None
    runs = []
    for seed in args.seeds:
        for library in ("jaxpg", "brax"):
            if args.only not in (None, library):
                continue
            if library == "jaxpg":
                record = _with_rates(ours.run(seed))
            else:
                record = _with_rates(run_brax(args, seed, num_evals, steps, compiles))
            runs.append(record)
            print(_summary(record), flush=True)
            if args.json:
                print(json.dumps({"env": args.env, "backend": args.backend, **record}), flush=True)
    plot(args, runs, args.figure)
    print(f"figure: {args.figure}")
    text = report(args, machine, runs, num_evals, args.figure)
    print("\n" + text)
    if not (args.quick or args.no_write):
        name = "brax" if args.env == "hopper" else f"brax_{args.env}"
        common.write_section(name, text)
        print(f"wrote the {name!r} section of {common.RESULTS_PATH}")
    if args.json and args.json != "-":
        common.write_json(
            args.json, {"machine": machine, "command": common.command_line(), "runs": runs}
        )


if __name__ == "__main__":
    main()
