"""PPO on CartPole-v1: jaxpg against rejax with identical hyperparameters, 100k steps, one CPU.

The issue's targets: jaxpg's environment steps per second of a whole training run at least
1.5x rejax's, and its compile time no slower.

Both sides use rejax's own tuned CartPole config (``configs/gymnax/cartpole.yaml`` in the
rejax repository): 5 envs x 100 steps (500 steps per iteration, 200 iterations = 100,000 env
steps), 5 epochs of 5 minibatches, Adam 7.5e-4, gradient clip 0.5, clip_eps 0.2, clipped value
loss, vf_coef 0.5, ent_coef 0.01, gamma 0.99, GAE lambda 0.95, advantages standardised per
minibatch, 64x64 tanh actor and critic with separate Adam states. Differences that remain:

* gradient clip: rejax 0.1.3 applies ``optax.clip(0.5)`` (each gradient element to
  [-0.5, 0.5]); jaxpg clips each network's global norm to 0.5;
* truncation: rejax treats the time limit as termination (no bootstrap); jaxpg bootstraps from
  the value of the real final observation;
* gymnax 1.0's six-value ``step`` is wrapped for rejax 0.1.3, which expects five
  (``benchmarks/baselines/rejax_ppo.py``: ``done = terminated | truncated``).

rejax side: ``benchmarks/baselines/rejax_ppo.py`` in rejax's own virtual environment
(``--rejax-python``, default ``/work/venv-rejax/bin/python``; rejax 0.1.3 installs with
jax 0.10.2 and gymnax 1.0.1, the versions jaxpg uses), evaluation turned off so that training
alone is timed. jaxpg side: ``jax.jit(jaxpg.make_train(PPOConfig(...), env, env_params))``.
Both sides are measured by the same function, `benchmarks.common.time_on_keys`: compile =
``jax.jit(f).lower(key).compile()`` (trace, lower, XLA), then one run and ``--repeats`` timed runs
of the compiled function on fresh keys; env-steps/s = 100,000 / median. Also both with
``--vmap-seeds`` seeds in one ``jax.jit(jax.vmap(train))`` call. The sides alternate ``--rounds``
times (rejax process, then jaxpg), so a change in the machine's load hits both; the headline is the
median of every timed run of all rounds. After timing, each side evaluates its last agent over 128
episodes with its own evaluator (sampled actions), a check that both learned.

Run from the repository root::

    python -m benchmarks.bench_ppo_rejax            # full run: "ppo_rejax" section + figure
    python -m benchmarks.bench_ppo_rejax --quick    # smoke run: prints only, figure to a temp dir
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import jax

import jaxpg
from benchmarks import common
from jaxpg.algorithms.ppo import PPOConfig

ENV_ID = "CartPole-v1"
TOTAL_TIMESTEPS = 100_000
#: Targets of the issue.
TARGET_SPEEDUP = 1.5
#: rejax's CartPole PPO config (its configs/gymnax/cartpole.yaml), in jaxpg's names.
REJAX_CARTPOLE = {
    "num_envs": 5,
    "num_steps": 100,
    "num_epochs": 5,
    "num_minibatches": 5,
    "learning_rate": 7.5e-4,
    "max_grad_norm": 0.5,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_eps": 0.2,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
    "clip_value": True,
    "normalize_advantages": True,
    "anneal_lr": False,
    "hidden_sizes": (64, 64),
    "activation": "tanh",
}
REJAX_SCRIPT = common.BENCHMARKS_DIR / "baselines" / "rejax_ppo.py"
REPOSITORY = common.BENCHMARKS_DIR.parent
DEFAULT_REJAX_PYTHON = "/work/venv-rejax/bin/python"


def jaxpg_config(total_timesteps: int) -> PPOConfig:
    """jaxpg's PPO with rejax's CartPole hyperparameters."""
    return PPOConfig(total_timesteps=total_timesteps, **REJAX_CARTPOLE)


def run_jaxpg(args: argparse.Namespace) -> dict[str, Any]:
    """jaxpg's side of one round (same fields as the rejax script's JSON)."""
    env, env_params = jaxpg.make_env(ENV_ID)
    config = jaxpg_config(args.total_timesteps)
    policy = jaxpg.networks.default_policy(config, env, env_params)
    train = jaxpg.make_train(config, env, env_params, policy=policy)
    steps = config.num_iterations * config.batch_size
    record: dict[str, Any] = {"library": "jaxpg", "env_steps": steps}
    single, result = common.time_on_keys(train, jax.random.key, args.repeats)
    single["env_steps_per_s"] = steps / single["median_s"]
    record["single"] = single
    if args.vmap_seeds:
        seeds = args.vmap_seeds

        def make_keys(index: int) -> jax.Array:
            return jax.random.split(jax.random.key(1000 + index), seeds)

        vmapped, _ = common.time_on_keys(jax.vmap(train), make_keys, args.vmap_repeats)
        vmapped.update(
            seeds=seeds,
            env_steps_per_s=seeds * steps / vmapped["median_s"],
            seconds_per_seed=vmapped["median_s"] / seeds,
        )
        record["vmapped"] = vmapped
    returns = jaxpg.evaluate(
        config,
        env,
        env_params,
        result.params,
        jax.random.key(12345),
        num_episodes=128,
        policy=policy,
    )
    record["final_return_mean"] = float(returns.mean())
    return record


def run_rejax(args: argparse.Namespace) -> dict[str, Any]:
    """rejax's side of one round: the baseline script's JSON (or ``{"error": ...}``)."""
    command = [
        args.rejax_python,
        str(REJAX_SCRIPT.relative_to(REPOSITORY)),
        "--total-timesteps",
        str(args.total_timesteps),
        "--repeats",
        str(args.repeats),
        "--vmap-seeds",
        str(args.vmap_seeds),
        "--vmap-repeats",
        str(args.vmap_repeats),
    ]
    return common.run_json(command)


def _summary(record: dict[str, Any]) -> str:
    if "error" in record:
        return f"failed: {record['error']}"
    single = record["single"]
    text = (
        f"compile {single['compile_s']:.1f} s, median {single['median_s']:.2f} s per run "
        f"({single['env_steps_per_s']:,.0f} env-steps/s)"
    )
    if "vmapped" in record:
        vmapped = record["vmapped"]
        text += f", {vmapped['seeds']} seeds {vmapped['seconds_per_seed']:.2f} s/seed"
    return (
        text
        + f", eval return {record['final_return_mean']:.0f}, load {single['load_average_1min']:.1f}"
    )


class Side:
    """Pooled figures of one library over all rounds."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = [r for r in records if "error" not in r]
        self.runs = [t for r in self.records for t in r["single"]["runs_s"]]
        self.compiles = [r["single"]["compile_s"] for r in self.records]
        self.vmapped = [r["vmapped"] for r in self.records if "vmapped" in r]
        self.returns = [r["final_return_mean"] for r in self.records]
        self.env_steps = self.records[0]["env_steps"] if self.records else 0

    @property
    def ok(self) -> bool:
        return bool(self.records)

    @property
    def median_s(self) -> float:
        return statistics.median(self.runs)

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / self.median_s

    @property
    def compile_s(self) -> float:
        return statistics.median(self.compiles)

    @property
    def seconds_per_seed(self) -> float | None:
        if not self.vmapped:
            return None
        runs = [t / v["seeds"] for v in self.vmapped for t in v["runs_s"]]
        return statistics.median(runs)


def _range(values: list[float], digits: int = 2) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def report(
    args: argparse.Namespace,
    machine: dict[str, Any],
    rounds: list[tuple[dict[str, Any], dict[str, Any]]],
    figure: Path,
) -> str:
    """The Markdown of the "ppo_rejax" section."""
    rejax, ours = Side([r for r, _ in rounds]), Side([j for _, j in rounds])
    rows = []
    for name, side in (("rejax 0.1.3", rejax), ("jaxpg", ours)):
        if not side.ok:
            rows.append([name, "failed", "-", "-", "-", "-", "-"])
            continue
        per_seed = side.seconds_per_seed
        rows.append(
            [
                name,
                f"{side.compile_s:.1f} s ({_range(side.compiles, 1)})",
                f"{side.median_s:.2f} s ({_range(side.runs)})",
                f"{side.steps_per_s / 1e3:,.0f}k",
                "-" if per_seed is None else f"{per_seed:.2f} s",
                ", ".join(f"{v:.0f}" for v in side.returns),
                ", ".join(f"{r['single']['load_average_1min']:.1f}" for r in side.records),
            ]
        )
    lines = []
    if rejax.ok and ours.ok:
        speedup = ours.steps_per_s / rejax.steps_per_s
        compile_ratio = ours.compile_s / rejax.compile_s
        lines.append(
            f"- env-steps/s, jaxpg / rejax: **{speedup:.2f}x** "
            f"({'meets' if speedup >= TARGET_SPEEDUP else 'misses'} the target >= "
            f"{TARGET_SPEEDUP}x); per round: "
            + ", ".join(
                f"{r['single']['median_s'] / j['single']['median_s']:.2f}x"
                for r, j in rounds
                if "error" not in r and "error" not in j
            )
        )
        lines.append(
            f"- compile, jaxpg / rejax: **{compile_ratio:.2f}x** "
            f"({'meets' if compile_ratio <= 1.0 else 'misses'} the target <= 1x, "
            "'no slower'); per round: "
            + ", ".join(
                f"{j['single']['compile_s'] / r['single']['compile_s']:.2f}x"
                for r, j in rounds
                if "error" not in r and "error" not in j
            )
        )
        if rejax.seconds_per_seed and ours.seconds_per_seed:
            lines.append(
                f"- {args.vmap_seeds} seeds vmapped, seconds per seed, rejax / jaxpg: "
                f"{rejax.seconds_per_seed / ours.seconds_per_seed:.2f}x (not a target)"
            )
    errors = [r for pair in rounds for r in pair if "error" in r]
    versions = next((r["versions"] for r, _ in rounds if "versions" in r), {})
    figure_link = (
        figure.relative_to(common.BENCHMARKS_DIR)
        if figure.is_relative_to(common.BENCHMARKS_DIR)
        else figure
    )
    text = (
        "## PPO on CartPole-v1 against rejax (identical hyperparameters)\n\n"
        + common.section_preamble(machine)
        + "\nrejax side: "
        + (", ".join(f"{k} {v}" for k, v in versions.items()) or "not run")
        + f", in its own virtual environment, run as\n\n    {rounds[0][0].get('command', '')}\n\n"
        "Config (both sides, rejax's `configs/gymnax/cartpole.yaml`): 5 envs x 100 steps, "
        "5 epochs x 5 minibatches, Adam 7.5e-4, gradient clip 0.5, clip_eps 0.2, clipped "
        "value loss, vf_coef 0.5, ent_coef 0.01, gamma 0.99, GAE lambda 0.95, 64x64 tanh "
        f"networks; {args.total_timesteps:,} env steps. Remaining differences: rejax clips "
        "each gradient element, jaxpg each network's global norm; rejax does not bootstrap on "
        "truncation; rejax 0.1.3 needs gymnax 1.0's `step` wrapped to its old five values. "
        "rejax's periodic evaluation is off (timing training only).\n\n"
        f"Method, both sides: compile = `jax.jit(train).lower(key).compile()`; then one run "
        f"and {args.repeats} timed runs on fresh keys, {args.rounds} round(s) alternating "
        "rejax and jaxpg; the run time is the median over every timed run of every round, the "
        "compile time the median over rounds. Eval return: 128 episodes of the last trained "
        "agent (sampled actions), each side's own evaluator, per round. The machine is shared "
        "(2 cores; other jobs were running): the load average column is the 1-minute load "
        "after each round's single-seed timing.\n\n"
        + common.markdown_table(
            (
                "library",
                "compile",
                f"{args.total_timesteps // 1000}k-step run (range)",
                "env-steps/s",
                f"{args.vmap_seeds} seeds vmapped, s/seed" if args.vmap_seeds else "vmapped",
                "eval return",
                "load",
            ),
            rows,
        )
        + "\n"
        + "\n".join(lines)
        + f"\n\nFigure: [{figure_link}]({figure_link}). Anchor (DESIGN.md, quiet machine): "
        "rejax 128k env-steps/s, compile 3-8 s.\n"
    )
    if errors:
        text += (
            "\nFailed runs:\n\n"
            + "\n".join(f"- `{e['command']}`: {e['error']}" for e in errors)
            + "\n"
        )
    return text


def plot(rounds: list[tuple[dict[str, Any], dict[str, Any]]], path: Path) -> None:
    """Bars of the median env-steps/s and compile time, every run as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sides = {"rejax": Side([r for r, _ in rounds]), "jaxpg": Side([j for _, j in rounds])}
    sides = {name: side for name, side in sides.items() if side.ok}
    if not sides:
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.6))
    for index, side in enumerate(sides.values()):
        rates = [side.env_steps / t / 1e3 for t in side.runs]
        left.bar(index, side.steps_per_s / 1e3, color=f"C{index}", alpha=0.6)
        left.plot([index] * len(rates), rates, "k.", markersize=4)
        right.bar(index, side.compile_s, color=f"C{index}", alpha=0.6)
        right.plot([index] * len(side.compiles), side.compiles, "k.", markersize=4)
    for axes, label in ((left, "env-steps/s (thousands)"), (right, "compile (s)")):
        axes.set_xticks(range(len(sides)), list(sides))
        axes.set_ylabel(label)
        axes.grid(axis="y", alpha=0.3)
    left.set_title(f"PPO CartPole-v1, {next(iter(sides.values())).env_steps:,} steps")
    right.set_title("trace + lower + XLA compile")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-timesteps", type=int, default=TOTAL_TIMESTEPS)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per round (>= 3)")
    parser.add_argument("--rounds", type=int, default=2, help="rejax/jaxpg alternations")
    parser.add_argument("--vmap-seeds", type=int, default=8, help="0: no vmapped measurement")
    parser.add_argument("--vmap-repeats", type=int, default=3)
    parser.add_argument("--rejax-python", default=DEFAULT_REJAX_PYTHON)
    parser.add_argument("--figure", type=Path, help="default: benchmarks/figures/ppo_rejax.png")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 20k steps, RESULTS.md left alone"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    if parser.parse_known_args()[0].quick:  # explicit options still win over these
        parser.set_defaults(total_timesteps=20_000, repeats=3, rounds=1, vmap_seeds=0)
    args = parser.parse_args()
    if args.figure is None:
        directory = Path(tempfile.mkdtemp(prefix="jaxpg_bench_")) if args.quick else None
        args.figure = (directory or common.FIGURES_DIR) / "ppo_rejax.png"
    return args


def main() -> None:
    args = parse_args()
    machine = common.machine_description()
    rounds = []
    for index in range(args.rounds):
        rejax = run_rejax(args)
        print(f"round {index + 1} rejax: {_summary(rejax)}", flush=True)
        ours = run_jaxpg(args)
        print(f"round {index + 1} jaxpg: {_summary(ours)}", flush=True)
        rounds.append((rejax, ours))
    plot(rounds, args.figure)
    print(f"figure: {args.figure}")
    text = report(args, machine, rounds, args.figure)
    print("\n" + text)
    if not (args.quick or args.no_write):
        common.write_section("ppo_rejax", text)
        print(f"wrote the 'ppo_rejax' section of {common.RESULTS_PATH}")
    common.write_json(
        args.json,
        {"machine": machine, "command": common.command_line(), "rounds": rounds},
    )


if __name__ == "__main__":
    main()
