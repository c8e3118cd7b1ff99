"""Scaling on CartPole-v1: seeds in one vmapped call, and the batch size of a TRPO iteration.

Two measurements, in one run:

1. **Seeds in parallel.** ``jax.jit(jax.vmap(train))`` over 1, 8 and 64 keys (1 seed: plain
   ``jax.jit(train)``) for ``TRPOConfig(total_timesteps=100_000)`` and
   ``PPOConfig(total_timesteps=100_000)`` with their defaults. Per-seed wall-clock = median
   call time / seeds. Target: at 64 seeds, at most 1/8 of the single-seed time.
2. **Batch size.** Env-steps/s of a full TRPO training iteration (rollout of 128 steps, GAE,
   conjugate gradient, line search, critic fit) as ``num_envs`` goes 1, 4, 16, ... 4096,
   other settings at ``TRPOConfig``'s defaults: ``trainer.run`` over ``n`` iterations
   (`jaxpg.train.make_trainer`), ``n`` chosen so that a call holds about
   ``--steps-per-call`` env steps (at least 1 iteration). Beside it, the rollout alone (the
   same policy network sampling the same 128 steps, `jaxpg.rollout.rollout`, reduced to sums so
   nothing is dead code); the update's share is the difference. The reasons for the curve's
   shape are written into the section (see `explain_batch_scaling`).

Every figure is the median of ``--repeats`` (>= 3) calls on fresh keys or freshly
initialised states after a first run, the function compiled ahead of time
(``jax.jit(f).lower(...).compile()``) and its compile time reported apart
(`benchmarks.common.compile_and_time`).

Run from the repository root::

    python -m benchmarks.bench_scaling            # full run: "scaling" section and two figures
    python -m benchmarks.bench_scaling --quick    # smoke run: prints only, figures to a temp dir
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxpg
from benchmarks import common
from jaxpg import rollout as rollout_lib
from jaxpg.algorithms.ppo import PPOConfig
from jaxpg.train import make_trainer

ENV_ID = "CartPole-v1"
SEED_COUNTS = (1, 8, 64)
NUM_ENVS = (1, 4, 16, 64, 256, 1024, 4096)
#: Target: per-seed time at 64 seeds at most this fraction of the single-seed time.
TARGET_PER_SEED_FRACTION = 1 / 8


def seed_configs(total_timesteps: int) -> dict[str, Any]:
    """The algorithms of the seeds measurement, at their defaults."""
    return {
        "TRPO": jaxpg.TRPOConfig(total_timesteps=total_timesteps),
        "PPO": PPOConfig(total_timesteps=total_timesteps),
    }


class SeedTiming(NamedTuple):
    """One algorithm at one number of vmapped seeds."""

    algorithm: str
    seeds: int
    env_steps: int
    timing: common.Timing
    final_return: float
    load_average: str

    @property
    def seconds_per_seed(self) -> float:
        return self.timing.median / self.seeds


def measure_seeds(name: str, config: Any, seeds: int, repeats: int) -> SeedTiming:
    """Times ``jit(train)`` (1 seed) or ``jit(vmap(train))`` on fresh keys."""
    env, env_params = jaxpg.make_env(ENV_ID)
    train = jaxpg.make_train(config, env, env_params)

    def make_key(index: int) -> jax.Array:
        key = jax.random.key(100 * seeds + index)
        return key if seeds == 1 else jax.random.split(key, seeds)

    load = common.load_average()
    timing, results = common.compile_and_time(
        train if seeds == 1 else jax.vmap(train),
        make_key(0),
        repeats=repeats,
        fresh_args=lambda index: (make_key(index),),
    )
    # NaN: a seed that has not finished an episode yet.
    final_returns = [
        float(np.nanmedian(np.asarray(result.metrics["episode_return"])[..., -1]))
        for result in results
    ]
    return SeedTiming(
        name,
        seeds,
        config.num_iterations * config.batch_size,
        timing,
        float(np.nanmedian(final_returns)),
        load,
    )


class BatchTiming(NamedTuple):
    """A TRPO iteration and its rollout at one ``num_envs``."""

    num_envs: int
    batch_size: int
    iterations: int
    iteration: common.Timing
    rollout: common.Timing
    load_average: str

    @property
    def iteration_seconds(self) -> float:
        return self.iteration.median / self.iterations

    @property
    def rollout_seconds(self) -> float:
        return self.rollout.median / self.iterations

    @property
    def steps_per_second(self) -> float:
        return self.batch_size / self.iteration_seconds

    @property
    def rollout_steps_per_second(self) -> float:
        return self.batch_size / self.rollout_seconds

    @property
    def update_share(self) -> float:
        return max(self.iteration_seconds - self.rollout_seconds, 0.0) / self.iteration_seconds


def measure_batch(num_envs: int, steps_per_call: int, repeats: int) -> BatchTiming:
    """Times ``n`` TRPO iterations, and ``n`` rollouts alone, at ``num_envs``."""
    env, env_params = jaxpg.make_env(ENV_ID)
    config = jaxpg.TRPOConfig(num_envs=num_envs, total_timesteps=num_envs * 128 * 2)
    trainer = make_trainer(config, env, env_params)
    iterations = max(1, steps_per_call // config.batch_size)
    init = jax.jit(trainer.init)

    def make_state(index: int) -> tuple[Any]:
        return (init(jax.random.key(index)),)

    load = common.load_average()
    # The whole (state, metrics) is returned: a sum of metrics would leave the last update dead
    # code (it changes only the returned agent), and with n = 1 the only update.
    iteration, _ = common.compile_and_time(
        lambda state: trainer.run(state, iterations),
        *make_state(0),
        repeats=repeats,
        fresh_args=make_state,
    )

    def rollouts(state: Any) -> jax.Array:
        policy_fn = trainer.algorithm.behaviour(state.agent, state.iteration)

        def one(index, carry):
            rollout_state, total = carry
            rollout_state, trajectory, stats = rollout_lib.rollout(
                jax.random.fold_in(state.key, index),
                env,
                env_params,
                rollout_state,
                policy_fn,
                config.num_steps,
            )
            total = (
                total
                + trajectory.obs.sum()
                + trajectory.next_obs.sum()
                + trajectory.reward.sum()
                + trajectory.log_prob.sum()
                + trajectory.action.sum()
                + stats.return_sum
            )
            return rollout_state, total

        return jax.lax.fori_loop(0, iterations, one, (state.rollout, jnp.zeros(())))[1]

    rollout, _ = common.compile_and_time(
        rollouts, *make_state(0), repeats=repeats, fresh_args=make_state
    )
    return BatchTiming(num_envs, config.batch_size, iterations, iteration, rollout, load)


def flops_per_env_step(config: jaxpg.TRPOConfig, obs_size: int = 4, actions: int = 2) -> float:
    """Rough multiply-add count (x2) per environment step of a TRPO iteration.

    With ``f_p`` and ``f_v`` one forward pass of the policy and of the critic for one sample:
    rollout ``f_p``; update ``2 f_v`` (values of obs and next_obs), ``3 f_p`` (surrogate
    gradient), ``2 f_p`` (old distribution, entropy), ``cg_iters x 5 f_p x fisher_subsample``
    (a Fisher-vector product is a forward-over-reverse pass over the subsample), ``2 f_p`` (a
    typical line search), and
    ``value_epochs x 3 f_v`` (critic forward and backward).
    """

    def forward(outputs: int) -> float:
        sizes = (obs_size, *config.hidden_sizes, outputs)
        return 2.0 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    f_p, f_v = forward(actions), forward(1)
    return f_p * (1 + policy_passes(config)) + f_v * critic_passes(config)


def policy_passes(config: jaxpg.TRPOConfig) -> float:
    """Policy forward-pass equivalents per env step in the update (see `flops_per_env_step`)."""
    return 3 + 2 + 5 * config.cg_iters * config.fisher_subsample + 2


def critic_passes(config: jaxpg.TRPOConfig) -> float:
    """Critic forward-pass equivalents per env step in the update."""
    return 2 + 3 * config.value_epochs


def explain_batch_scaling(timings: list[BatchTiming], breakdown: dict[str, float]) -> str:
    """The written reason for the batch-size curve's shape, from the measured numbers."""
    if len(timings) < 2:
        return ""
    best = max(timings, key=lambda t: t.steps_per_second)
    flat = next(t for t in timings if t.steps_per_second >= 0.8 * best.steps_per_second)
    small, large = timings[0], timings[-1]
    defaults = jaxpg.TRPOConfig()
    flops = flops_per_env_step(defaults)
    rise = best.steps_per_second / small.steps_per_second
    text = (
        f"**Where it flattens.** From {small.num_envs} env{'s' if small.num_envs > 1 else ''} "
        f"({small.steps_per_second:,.0f} "
        f"env-steps/s) the curve rises {rise:.1f}x to its best, {best.steps_per_second:,.0f} "
        f"env-steps/s at {best.num_envs} envs, and is within 20% of that from {flat.num_envs} "
        f"env{'s' if flat.num_envs > 1 else ''} ({flat.batch_size:,} steps per iteration) on; "
        f"at {large.num_envs} envs it is {large.steps_per_second:,.0f}. The rollout alone "
        f"keeps scaling ({small.rollout_steps_per_second:,.0f} -> "
        f"{large.rollout_steps_per_second:,.0f} env-steps/s), so the iteration's plateau is "
        f"set by the update, whose share of the iteration is {small.update_share:.0%} at "
        f"{small.num_envs} env and {large.update_share:.0%} at {large.num_envs}.\n\n"
        "**Why.** An iteration has two kinds of cost. (1) *Fixed, sequential costs* that do "
        "not depend on the batch: 128 rollout steps (each a chain of small kernels: policy "
        "MLP, sampling, environment step, auto-reset), 10 conjugate-gradient iterations, up "
        "to 10 line-search evaluations, 20 x 4 critic Adam steps, each a loop iteration with "
        "its own kernel launches. They dominate only while the batch is a few hundred steps. "
        "(2) *Arithmetic proportional to the batch*: per environment step the 64x64 policy "
        "runs forward once in the rollout and, in the update, about "
        f"{policy_passes(defaults):.0f} times more in forward-pass equivalents (surrogate "
        f"gradient, {defaults.cg_iters} Fisher-vector products on a "
        f"{defaults.fisher_subsample:.0%} subsample, line search), and the 64x64 critic about "
        f"{critic_passes(defaults):.0f} times (forward and backward in "
        f"{defaults.value_epochs} epochs): "
        f"about {flops / 1e6:.1f} MFLOP per environment step, against about 0.01 MFLOP for "
        "the rollout's policy pass. TRPO with a 20-epoch critic does so much work per sample "
        "that, already at 128 steps per iteration, the arithmetic outweighs the fixed costs: "
        "the time per iteration then grows in proportion to the batch and env-steps/s stays "
        f"flat, at the rate the 2 cores sustain on these small matrices (the best point is "
        f"about {best.steps_per_second * flops / 1e9:.0f} GFLOP/s by this count). A batch of "
        "1 env is not slower per step because even there 128 steps form a matrix large "
        "enough to amortise a kernel launch.\n"
    )
    if breakdown:
        full = breakdown["defaults"]
        text += (
            f"\n**Where an iteration's time goes** at {breakdown['num_envs']:.0f} envs "
            f"(same method, {breakdown['iterations']:.0f} iterations per call): defaults "
            f"{full * 1e3:,.0f} ms per iteration; with `value_epochs=1` "
            f"{breakdown['value_epochs=1'] * 1e3:,.0f} ms, so the 19 further critic epochs "
            f"cost {(full - breakdown['value_epochs=1']) / full:.0%}; with also `cg_iters=1, "
            f"max_backtracks=1` {breakdown['minimal'] * 1e3:,.0f} ms, so 9 CG iterations and "
            f"the line search cost "
            f"{(breakdown['value_epochs=1'] - breakdown['minimal']) / full:.0%}; the rest "
            f"({breakdown['minimal'] / full:.0%}) is the rollout, GAE, one CG iteration, one "
            "critic epoch and the bookkeeping.\n"
        )
    return text + (
        "\nOn a GPU the arithmetic part runs on thousands of cores, so the fixed costs would "
        "dominate up to a much larger batch and the curve would keep rising far longer; no "
        "GPU was available to measure it.\n"
    )


def measure_breakdown(num_envs: int, steps_per_call: int, repeats: int) -> dict[str, float]:
    """Seconds per TRPO iteration with fewer critic epochs and CG iterations (see report)."""
    env, env_params = jaxpg.make_env(ENV_ID)
    variants = {
        "defaults": {},
        "value_epochs=1": {"value_epochs": 1},
        "minimal": {"value_epochs": 1, "cg_iters": 1, "max_backtracks": 1},
    }
    out: dict[str, float] = {"num_envs": num_envs}
    for name, overrides in variants.items():
        config = jaxpg.TRPOConfig(num_envs=num_envs, total_timesteps=num_envs * 256, **overrides)
        trainer = make_trainer(config, env, env_params)
        iterations = max(1, steps_per_call // config.batch_size)
        init = jax.jit(trainer.init)
        timing, _ = common.compile_and_time(
            lambda state, run=trainer.run, n=iterations: run(state, n),
            init(jax.random.key(0)),
            repeats=repeats,
            fresh_args=lambda index, init=init: (init(jax.random.key(index)),),
        )
        out[name] = timing.median / iterations
        out["iterations"] = iterations
    return out


def plot_seeds(timings: list[SeedTiming], path: Path) -> None:
    """Per-seed seconds against seeds per call, with the 1/8 target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.6, 3.8))
    for index, name in enumerate(sorted({t.algorithm for t in timings})):
        rows = sorted((t for t in timings if t.algorithm == name), key=lambda t: t.seeds)
        seeds = [t.seeds for t in rows]
        axes.plot(seeds, [t.seconds_per_seed for t in rows], "o-", color=f"C{index}", label=name)
        single = next((t for t in rows if t.seeds == 1), None)
        if single is not None:
            axes.axhline(
                single.seconds_per_seed * TARGET_PER_SEED_FRACTION,
                color=f"C{index}",
                linestyle=":",
                label=f"{name} target (1/8 of 1 seed)",
            )
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("seeds in one vmapped call")
    axes.set_ylabel("wall-clock per seed (s)")
    axes.set_title(
        f"CartPole-v1, about {timings[0].env_steps:,} env steps per seed" if timings else ""
    )
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_batch(timings: list[BatchTiming], path: Path) -> None:
    """Env-steps/s of a TRPO iteration and of its rollout against ``num_envs``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = [t.num_envs for t in timings]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.8))
    left.plot(envs, [t.steps_per_second for t in timings], "o-", label="full TRPO iteration")
    left.plot(envs, [t.rollout_steps_per_second for t in timings], "s--", label="rollout alone")
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set_xlabel("num_envs (128 steps each per iteration)")
    left.set_ylabel("env-steps/s")
    left.set_title("TRPO on CartPole-v1")
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=8)
    rollout = [t.rollout_seconds * 1e3 for t in timings]
    update = [max(t.iteration_seconds - t.rollout_seconds, 0.0) * 1e3 for t in timings]
    right.plot(envs, rollout, "s--", label="rollout")
    right.plot(envs, update, "^-", label="update (iteration - rollout)")
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("num_envs")
    right.set_ylabel("ms per iteration")
    right.set_title("where an iteration's time goes")
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _link(path: Path) -> str:
    shown = (
        path.relative_to(common.BENCHMARKS_DIR)
        if path.is_relative_to(common.BENCHMARKS_DIR)
        else path
    )
    return f"[{shown}]({shown})"


def report(
    args: argparse.Namespace,
    machine: dict[str, Any],
    seeds: list[SeedTiming],
    batches: list[BatchTiming],
    breakdown: dict[str, float],
) -> str:
    """The Markdown of the "scaling" section."""
    seed_rows, verdicts = [], []
    for name in sorted({t.algorithm for t in seeds}):
        rows = sorted((t for t in seeds if t.algorithm == name), key=lambda t: t.seeds)
        single = next((t for t in rows if t.seeds == 1), None)
        for t in rows:
            fraction = t.seconds_per_seed / single.seconds_per_seed if single else float("nan")
            seed_rows.append(
                [
                    name,
                    t.seeds,
                    f"{t.timing.median:.2f} s ({min(t.timing.runs):.2f}-{max(t.timing.runs):.2f})",
                    f"{t.seconds_per_seed:.3f} s",
                    f"{t.seconds_per_seed * 100_000 / t.env_steps:.2f} s",
                    f"{fraction:.2f}x" if t.seeds > 1 else "1x",
                    f"{t.seeds * t.env_steps / t.timing.median / 1e3:,.0f}k",
                    f"{t.timing.compile_s:.1f} s",
                    f"{t.final_return:.0f}",
                    t.load_average.split(" / ")[0],
                ]
            )
        largest = rows[-1]
        if single is not None and largest.seeds > 1:
            fraction = largest.seconds_per_seed / single.seconds_per_seed
            verdicts.append(
                f"- {name}, {largest.seeds} seeds: per-seed time **{fraction:.2f}x** one "
                f"seed's ({'meets' if fraction <= TARGET_PER_SEED_FRACTION else 'misses'} the "
                "target <= 0.125x)"
                + ("" if largest.seeds == 64 else " (the target is stated at 64 seeds)")
            )
    batch_rows = [
        [
            t.num_envs,
            f"{t.batch_size:,}",
            t.iterations,
            f"{t.iteration_seconds * 1e3:,.1f} ms",
            f"{t.steps_per_second:,.0f}",
            f"{t.rollout_steps_per_second:,.0f}",
            f"{t.update_share:.0%}",
            f"{t.iteration.compile_s:.1f} s",
            t.load_average.split(" / ")[0],
        ]
        for t in batches
    ]
    total = next(iter(seed_configs(args.total_timesteps).values())).total_timesteps
    text = (
        "## Scaling: seeds in one call, and the batch size of a TRPO iteration\n\n"
        + common.section_preamble(machine)
        + "\nNo GPU was available to this session: every figure is from the CPU named above. "
        "The machine is shared (2 cores; other jobs were running, see the load column, "
        "1-minute load before each measurement): compare rows of one run, not absolute values "
        "across runs.\n\n"
        "### Seeds in parallel\n\n"
        f"`TRPOConfig(total_timesteps={total:_})` and `PPOConfig(total_timesteps={total:_})` "
        "with their defaults; 1 seed is `jax.jit(train)`, more are `jax.jit(jax.vmap(train))` "
        f"over that many keys; median of {args.repeats} calls on fresh keys after the first; "
        "per seed = call / seeds (the run is a scan over iterations, so the cost is linear in "
        "its length; the per-100k column scales it). Final return: the last iteration's "
        f"`episode_return`, median over seeds. Figure: {_link(args.figure_seeds)}.\n\n"
        + common.markdown_table(
            (
                "algorithm",
                "seeds",
                "call (range)",
                "per seed",
                "per seed, per 100k steps",
                "per seed vs 1 seed",
                "env-steps/s, all seeds",
                "compile",
                "final return",
                "load",
            ),
            seed_rows,
        )
        + "\n"
        + "\n".join(verdicts)
        + "\n\n### Batch size of a TRPO iteration\n\n"
        "`TRPOConfig(num_envs=N)`, other fields at their defaults (128 steps per env per "
        "iteration, 64x64 tanh policy and critic, 10 CG iterations, 10 backtracks at most, "
        "critic 20 epochs x 4 minibatches): `trainer.run`, compiled ahead of time, over "
        f"n iterations (about {args.steps_per_call:,} env steps per call, n >= 1), median "
        f"of {args.repeats} calls from freshly initialised states; the rollout alone is the "
        "same policy sampling the same number of steps. Figure: "
        f"{_link(args.figure_batch)}.\n\n"
        + common.markdown_table(
            (
                "num_envs",
                "steps / iteration",
                "n",
                "time / iteration",
                "env-steps/s (iteration)",
                "env-steps/s (rollout alone)",
                "update share",
                "compile",
                "load",
            ),
            batch_rows,
        )
        + "\n"
        + explain_batch_scaling(batches, breakdown)
        + "\n"
    )
    return text


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--total-timesteps",
        type=int,
        default=10_240,
        help="seeds part: env steps per seed (10 TRPO / 20 PPO iterations)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEED_COUNTS))
    parser.add_argument("--algorithms", nargs="+", default=["TRPO", "PPO"], choices=["TRPO", "PPO"])
    parser.add_argument("--num-envs", type=int, nargs="+", default=list(NUM_ENVS))
    parser.add_argument(
        "--steps-per-call", type=int, default=2**16, help="batch part: env steps per timed call"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (>= 3)")
    parser.add_argument(
        "--breakdown-envs",
        type=int,
        default=256,
        help="num_envs of the time breakdown of a TRPO iteration (0: skip it)",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=("seeds", "batch"))
    parser.add_argument("--figure-seeds", type=Path, help="default: figures/scaling_seeds.png")
    parser.add_argument("--figure-batch", type=Path, help="default: figures/scaling_batch.png")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: small sizes, RESULTS.md left alone"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    if parser.parse_known_args()[0].quick:  # explicit options still win over these
        parser.set_defaults(
            total_timesteps=5_000,
            seeds=[1, 2],
            algorithms=["PPO"],
            num_envs=[4, 64],
            steps_per_call=2**12,
            breakdown_envs=0,
        )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="jaxpg_bench_")) if args.quick else common.FIGURES_DIR
    args.figure_seeds = args.figure_seeds or directory / "scaling_seeds.png"
    args.figure_batch = args.figure_batch or directory / "scaling_batch.png"
    return args


def main() -> None:
    args = parse_args()
    machine = common.machine_description()
    seeds: list[SeedTiming] = []
    if "seeds" not in args.skip:
        for name, config in seed_configs(args.total_timesteps).items():
            if name not in args.algorithms:
                continue
            for count in args.seeds:
                t = measure_seeds(name, config, count, args.repeats)
                seeds.append(t)
                print(
                    f"{name} {count} seed(s): {t.timing.median:.2f} s per call, "
                    f"{t.seconds_per_seed:.3f} s per seed, compile {t.timing.compile_s:.1f} s, "
                    f"final return {t.final_return:.0f}, load {t.load_average}",
                    flush=True,
                )
        plot_seeds(seeds, args.figure_seeds)
    batches: list[BatchTiming] = []
    if "batch" not in args.skip:
        for num_envs in args.num_envs:
            t = measure_batch(num_envs, args.steps_per_call, args.repeats)
            batches.append(t)
            print(
                f"TRPO num_envs {num_envs}: {t.iteration_seconds * 1e3:.1f} ms per iteration, "
                f"{t.steps_per_second:,.0f} env-steps/s (rollout alone "
                f"{t.rollout_steps_per_second:,.0f}), compile {t.iteration.compile_s:.1f} s, "
                f"load {t.load_average}",
                flush=True,
            )
        plot_batch(batches, args.figure_batch)
    breakdown: dict[str, float] = {}
    if "batch" not in args.skip and args.breakdown_envs:
        breakdown = measure_breakdown(args.breakdown_envs, args.steps_per_call, args.repeats)
        print(f"breakdown: {breakdown}", flush=True)
    print(f"figures: {args.figure_seeds}, {args.figure_batch}")
    text = report(args, machine, seeds, batches, breakdown)
    print("\n" + text)
    if not (args.quick or args.no_write):
        common.write_section("scaling", text)
        print(f"wrote the 'scaling' section of {common.RESULTS_PATH}")
    common.write_json(
        args.json,
        {
            "machine": machine,
            "command": common.command_line(),
            "seeds": [
                {**{k: v for k, v in t._asdict().items() if k != "timing"}, **t.timing._asdict()}
                for t in seeds
            ],
            "batch": [
                {
                    "num_envs": t.num_envs,
                    "batch_size": t.batch_size,
                    "iterations": t.iterations,
                    "iteration": t.iteration._asdict(),
                    "rollout": t.rollout._asdict(),
                    "load_average": t.load_average,
                }
                for t in batches
            ],
            "breakdown": breakdown,
        },
    )


if __name__ == "__main__":
    main()
