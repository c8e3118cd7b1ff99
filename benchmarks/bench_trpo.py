"""TRPO on CartPole-v1: jaxpg against sb3-contrib (RL-Zoo settings), 100k steps, one CPU.

The issue's targets, measured in one run on this machine:

* **throughput**: environment steps per second of the whole training loop, jaxpg at least
  100x sb3-contrib's;
* **time to 475**: wall-clock from process start (imports and compilation included) to a mean
  evaluation return >= 475, jaxpg at most one tenth of sb3-contrib's;
* **compile time** of jaxpg's train function, target under 10 s.

jaxpg side: ``jaxpg.TRPOConfig(total_timesteps=100_000)`` with its defaults (8 envs x 128
steps = 1,024 steps per iteration, so 97 iterations = 99,328 env steps; 64x64 tanh networks,
max_kl 0.01, damping 0.1, 10 CG iterations, gae_lambda 0.98, critic: 20 epochs x 4
minibatches of Adam 1e-3).

* Throughput: ``jaxpg.make_train(config, env, env_params)`` timed with
  `common.compile_and_time`: compiled ahead of time (``jax.jit(train).lower(key).compile()``,
  the compile time), one first run, then the median of ``--repeats`` runs with fresh keys;
  env-steps/s = env steps / median. JAX's own trace / lower / XLA-compile durations
  (``jax.monitoring`` events) are reported beside the compile time. Four rows: one seed and
  ``--vmap-seeds`` seeds vmapped in one call (``jax.jit(jax.vmap(train))``, aggregate
  env-steps/s, as JAX users sweep seeds), each with ``jax.random.key(seed)`` (default impl,
  threefry2x32) and with ``impl="philox2x32"`` keys (jaxpg takes any key type; philox is cheaper
  on CPU). Each measurement runs in a fresh process (``--child-throughput``), so every compile
  time is a cold one, and a process that hangs is killed after ``--timeout`` seconds and
  reported instead of stopping the benchmark (the vmapped runs go last: ``jit(vmap(train))`` has
  hung on this 2-core machine inside XLA:CPU's batched LAPACK QR of the orthogonal initialiser).
* Time to 475: ``benchmarks/trpo_to_475.py`` as a subprocess per seed (its clock starts at the
  top of its file, before ``import jax``): chunks of 10 iterations through one ahead-of-time
  compiled ``trainer.run`` (`common.compile_ahead`), after each chunk 20 evaluation episodes
  (stochastic, the headline; greedy too), evaluation time measured and subtracted.

sb3-contrib side: ``benchmarks/baselines/sb3_trpo.py`` (RL-Zoo's CartPole-v1 entry: 2 envs,
n_steps 512, batch 512, gae_lambda 0.98, cg_damping 1e-3, 20 critic updates, lr 1e-3) in the
peer environment, one process per run, one run at a time: ``--seeds`` runs with
``--threads 1`` and one with torch's default threads. Its env-steps/s is steps run / time in
``learn()``; its time to 475 is process start to the first evaluation (every 10k steps, 10
deterministic episodes, as RL-Zoo) with mean >= 475, evaluation time subtracted.

The sb3 and jaxpg time-to-475 processes alternate seed by seed, so a change in the machine's
load hits both. Every run records the 1-minute load average; the machine may be shared.

Run from the repository root::

    python -m benchmarks.bench_trpo            # full run (~15-25 min), "trpo" section of RESULTS.md
    python -m benchmarks.bench_trpo --quick    # smoke run (20k steps, one run each), prints only
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from typing import Any, NamedTuple

import jax
import numpy as np

import jaxpg
from benchmarks import common

ENV_ID = "CartPole-v1"
TOTAL_TIMESTEPS = 100_000
KEY_IMPLS = ("threefry2x32", "philox2x32")
#: Targets of the issue.
TARGET_THROUGHPUT = 100.0
TARGET_TIME_TO_THRESHOLD = 10.0
TARGET_COMPILE_S = 10.0
REPOSITORY = common.BENCHMARKS_DIR.parent
SB3_SCRIPT = common.BENCHMARKS_DIR / "baselines" / "sb3_trpo.py"
TO_475_SCRIPT = common.BENCHMARKS_DIR / "trpo_to_475.py"
DEFAULT_PEER_PYTHON = "/work/venv-peers/bin/python"

COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "xla_compile",
}
_compile_events: dict[str, float] = {}


def _on_duration(event: str, duration_secs: float, **_: object) -> None:
    name = COMPILE_EVENTS.get(event)
    if name is not None:
        _compile_events[name] = _compile_events.get(name, 0.0) + duration_secs


jax.monitoring.register_event_duration_secs_listener(_on_duration)


class Throughput(NamedTuple):
    """Steady-state speed of one jitted training call.

    Attributes:
        key_impl: PRNG implementation of the keys.
        seeds: seeds per call (1: ``jit(train)``; more: ``jit(vmap(train))``).
        env_steps: environment steps per seed per call.
        timing: first call and steady-state calls (`common.Timing`).
        compile_events: JAX's trace / lower / xla_compile seconds while compiling.
        final_returns: each call's last ``episode_return`` metric (median over seeds).
        load_average: 1/5/15-minute load averages before the measurement.
    """

    key_impl: str
    seeds: int
    env_steps: int
    timing: common.Timing
    compile_events: dict[str, float]
    final_returns: tuple[float, ...]
    load_average: str

    @property
    def steps_per_second(self) -> float:
        return self.seeds * self.env_steps / self.timing.median


def measure_throughput(
    config: jaxpg.TRPOConfig, key_impl: str, seeds: int, repeats: int
) -> Throughput:
    """Times ``jit(train)`` (``seeds == 1``) or ``jit(vmap(train))`` on fresh keys."""
    env, env_params = jaxpg.make_env(ENV_ID)
    train = jaxpg.make_train(config, env, env_params)

    def make_key(index: int) -> jax.Array:
        key = jax.random.key(index, impl=key_impl)
        return key if seeds == 1 else jax.random.split(key, seeds)

    # Built first, so that the compile events below are the train function's alone.
    keys = jax.block_until_ready([make_key(index) for index in range(repeats + 1)])
    load_average = common.load_average()
    _compile_events.clear()
    timing, results = common.compile_and_time(
        train if seeds == 1 else jax.vmap(train),
        keys[0],
        repeats=repeats,
        fresh_args=lambda index: (keys[index],),
    )
    # NaN: a seed that has not finished an episode yet.
    final_returns = tuple(
        float(np.nanmedian(np.asarray(result.metrics["episode_return"])[..., -1]))
        for result in results
    )
    return Throughput(
        key_impl=key_impl,
        seeds=seeds,
        env_steps=config.num_iterations * config.batch_size,
        timing=timing,
        compile_events=dict(_compile_events),
        final_returns=final_returns,
        load_average=load_average,
    )


def throughput_record(t: Throughput) -> dict[str, Any]:
    """`Throughput` as JSON."""
    return {
        **{k: v for k, v in t._asdict().items() if k != "timing"},
        **t.timing.record(),
        "steps_per_second": t.steps_per_second,
    }


def throughput_from_record(record: dict[str, Any]) -> Throughput:
    """The inverse of `throughput_record`."""
    return Throughput(
        key_impl=record["key_impl"],
        seeds=record["seeds"],
        env_steps=record["env_steps"],
        timing=common.Timing.from_record(record),
        compile_events=record["compile_events"],
        final_returns=tuple(record["final_returns"]),
        load_average=record["load_average"],
    )


def run_throughput(
    args: argparse.Namespace, key_impl: str, seeds: int, repeats: int
) -> Throughput | dict[str, Any]:
    """`measure_throughput` in a fresh process (a cold start; a hang cannot stop the run)."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_trpo",
        "--child-throughput",
        key_impl,
        str(seeds),
        str(repeats),
        "--total-timesteps",
        str(args.total_timesteps),
    ]
    record = common.run_json(command, timeout=args.timeout)
    if "error" in record:
        print(f"jaxpg {seeds} seed(s) {key_impl}: {record['error']}", flush=True)
        return record
    t = throughput_from_record(record)
    print(
        f"jaxpg {seeds} seed(s) {key_impl}: {t.timing.median:.2f} s per call, "
        f"{t.steps_per_second:,.0f} env-steps/s, compile {t.timing.compile_s:.1f} s "
        f"(XLA {t.compile_events.get('xla_compile', 0):.1f} s), load {t.load_average}",
        flush=True,
    )
    return t


def run_sb3(args: argparse.Namespace, seed: int, threads: int | None) -> dict[str, Any]:
    """One sb3-contrib TRPO run (``threads=None``: torch's default)."""
    command = [
        args.peer_python,
        str(SB3_SCRIPT),
        "--seed",
        str(seed),
        "--total-timesteps",
        str(args.total_timesteps),
    ]
    if threads is not None:
        command += ["--threads", str(threads)]
    record = common.run_json(command, timeout=args.sb3_timeout)
    print(f"  sb3 seed {seed} threads {threads or 'default'}: {_sb3_summary(record)}", flush=True)
    return record


def run_jaxpg_to_475(
    args: argparse.Namespace, seed: int, key_impl: str, cache: str | None = None
) -> dict[str, Any]:
    """One `trpo_to_475.py` process."""
    command = [
        sys.executable,
        str(TO_475_SCRIPT),
        "--seed",
        str(seed),
        "--total-timesteps",
        str(args.total_timesteps),
        "--key-impl",
        key_impl,
    ]
    if cache:
        command += ["--compilation-cache", cache]
    record = common.run_json(command, timeout=args.timeout)
    print(
        f"  jaxpg seed {seed} {key_impl}{' cache' if cache else ''}: {_jaxpg_summary(record)}",
        flush=True,
    )
    return record


def _fmt(value: float | None, digits: int = 1) -> str:
    return "not reached" if value is None else f"{value:.{digits}f}"


def _sb3_summary(record: dict[str, Any]) -> str:
    if "error" in record:
        return record["error"]
    return (
        f"to 475 {_fmt(record['time_to_threshold_s'])} s, learn {record['learn_s']:.1f} s "
        f"({_steps_per_second(record):,.0f} steps/s), final eval {record['final_eval_mean']:.0f}, "
        f"load {record['load_average_1min'][0]:.1f}"
    )


def _jaxpg_summary(record: dict[str, Any]) -> str:
    if "error" in record:
        return record["error"]
    return (
        f"to 475 {_fmt(record['time_to_threshold_s'])} s (greedy "
        f"{_fmt(record['greedy_time_to_threshold_s'])} s), import {record['import_s']:.1f} s, "
        f"first chunk {record['first_chunk_s']:.1f} s, final eval "
        f"{record['final_eval_stochastic_mean']:.0f}, load {record['load_average_1min'][0]:.1f}"
    )


def _steps_per_second(record: dict[str, Any]) -> float:
    """sb3's env steps actually run (it finishes its last rollout) over its time in learn()."""
    return record["num_timesteps"] / record["learn_s"]


def median_or_none(values: list[float | None]) -> float | None:
    """Median, counting a run that never got there (``None``) as slower than any other."""
    if not values:
        return None
    median = statistics.median(math.inf if v is None else v for v in values)
    return None if math.isinf(median) else median


def ok(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if "error" not in r]


def _verdict(value: float | None, target: float, higher_is_better: bool = True) -> str:
    if value is None:
        return "misses"
    met = value >= target if higher_is_better else value <= target
    return "meets" if met else "misses"


def _range(values: list[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}" if values else "-"


def _steps(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _seconds_list(values: list[float | None]) -> str:
    return ", ".join(_fmt(v) for v in values) or "-"


# --------------------------------------------------------------------------------------------
# report


def throughput_rows(
    throughputs: list[Throughput], sb3_one: list[dict[str, Any]], sb3_default: list[dict]
) -> list[list[str]]:
    """Rows of the throughput table, jaxpg then sb3; ratios against sb3 with 1 thread."""
    sb3_rate = statistics.median(map(_steps_per_second, sb3_one)) if sb3_one else None
    rows = []
    for t in throughputs:
        ratio = "-" if sb3_rate is None else f"{t.steps_per_second / sb3_rate:,.1f}x"
        events = t.compile_events
        rows.append(
            [
                "jaxpg `jit(train)`" if t.seeds == 1 else "jaxpg `jit(vmap(train))`",
                str(t.seeds),
                t.key_impl,
                f"{t.timing.median:.2f} ({min(t.timing.runs):.2f}-{max(t.timing.runs):.2f})",
                f"{t.steps_per_second:,.0f}",
                ratio,
                f"{t.timing.compile_s:.1f}",
                f"{events.get('trace', 0) + events.get('lower', 0):.1f} + "
                f"{events.get('xla_compile', 0):.1f}",
                f"{np.nanmedian(t.final_returns):.0f}",
                t.load_average.split(" / ")[0],
            ]
        )
    for label, records in (("1 thread", sb3_one), ("default threads", sb3_default)):
        if not records:
            continue
        rates = [_steps_per_second(r) for r in records]
        learn = [r["learn_s"] for r in records]
        rows.append(
            [
                f"sb3-contrib TRPO, torch {label} ({records[0]['torch_num_threads']})",
                f"{len(records)} run{'s' if len(records) > 1 else ''}",
                "-",
                f"{statistics.median(learn):.1f} ({min(learn):.1f}-{max(learn):.1f})",
                f"{statistics.median(rates):,.0f}",
                "1x"
                if label == "1 thread"
                else f"{statistics.median(rates) / sb3_rate:.2f}x"
                if sb3_rate
                else "-",
                "-",
                "-",
                f"{statistics.median(r['final_eval_mean'] for r in records):.0f} (eval)",
                ", ".join(f"{r['load_average_1min'][0]:.1f}" for r in records),
            ]
        )
    return rows


THROUGHPUT_HEADER = (
    "run",
    "seeds",
    "keys",
    "s per training run, median (range)",
    "env-steps/s",
    "vs sb3 (1 thread)",
    "compile s (lower + compile)",
    "JAX trace+lower + XLA compile s",
    "final return",
    "load (1 min)",
)


def to_475_rows(
    jaxpg_runs: dict[str, list[dict[str, Any]]], sb3_runs: dict[str, list[dict[str, Any]]]
) -> list[list[str]]:
    """Rows of the time-to-475 table; ratios against sb3 with 1 thread."""
    sb3_reference = median_or_none([r["time_to_threshold_s"] for r in sb3_runs.get("1 thread", [])])
    rows = []
    for label, records in jaxpg_runs.items():
        for mode, field in (("stochastic", ""), ("greedy", "greedy_")):
            times = [r[f"{field}time_to_threshold_s"] for r in records]
            median = median_or_none(times)
            ratio = (
                "-" if sb3_reference is None or median is None else f"{sb3_reference / median:.2f}x"
            )
            rows.append(
                [
                    f"jaxpg, {label}",
                    f"{mode}, 20 ep.",
                    _fmt(median),
                    _seconds_list(times),
                    ", ".join(_steps(r[f"{field}steps_to_threshold"]) for r in records),
                    f"{statistics.median(r['import_s'] for r in records):.1f}",
                    f"{statistics.median(r['first_chunk_s'] for r in records):.1f}",
                    ", ".join(f"{r['final_eval_stochastic_mean']:.0f}" for r in records),
                    ratio,
                    ", ".join(f"{r['load_average_1min'][0]:.1f}" for r in records),
                ]
            )
    for label, records in sb3_runs.items():
        times = [r["time_to_threshold_s"] for r in records]
        rows.append(
            [
                f"sb3-contrib, torch {label}",
                "deterministic, 10 ep.",
                _fmt(median_or_none(times)),
                _seconds_list(times),
                ", ".join(_steps(r["steps_to_threshold"]) for r in records),
                f"{statistics.median(r['import_s'] for r in records):.1f}",
                "-",
                ", ".join(f"{r['final_eval_mean']:.0f}" for r in records),
                "1x" if label == "1 thread" else "-",
                ", ".join(f"{r['load_average_1min'][0]:.1f}" for r in records),
            ]
        )
    return rows


TO_475_HEADER = (
    "run",
    "evaluation",
    "median s to 475",
    "per seed (s)",
    "env steps at 475",
    "import s",
    "first chunk s (compile + run)",
    "final eval",
    "sb3 (1 thread) / this",
    "load (1 min)",
)


def verdicts(
    throughputs: list[Throughput],
    sb3_one: list[dict[str, Any]],
    jaxpg_runs: dict[str, list[dict[str, Any]]],
) -> list[str]:
    """The three target lines (headline rows: one seed, default keys, stochastic eval)."""
    lines = []
    headline = next((t for t in throughputs if t.seeds == 1), None)
    if headline and sb3_one:
        sb3_rate = statistics.median(map(_steps_per_second, sb3_one))
        ratio = headline.steps_per_second / sb3_rate
        best = max(throughputs, key=lambda t: t.steps_per_second)
        lines.append(
            f"- **Throughput**: {headline.steps_per_second:,.0f} env-steps/s (one seed, "
            f"{headline.key_impl} keys) against sb3-contrib's {sb3_rate:,.0f} (1 thread): "
            f"**{ratio:.1f}x**, {_verdict(ratio, TARGET_THROUGHPUT)} the >= "
            f"{TARGET_THROUGHPUT:g}x target. Best row ({best.seeds} seeds, {best.key_impl}): "
            f"{best.steps_per_second / sb3_rate:.1f}x."
        )
    sb3_time = median_or_none([r["time_to_threshold_s"] for r in sb3_one])
    for label, records in list(jaxpg_runs.items())[:1]:
        jax_time = median_or_none([r["time_to_threshold_s"] for r in records])
        if sb3_time is not None and jax_time is not None:
            ratio = jax_time / sb3_time
            lines.append(
                f"- **Time to 475 from process start**: jaxpg {jax_time:.1f} s ({label}, "
                f"stochastic eval) against sb3-contrib's {sb3_time:.1f} s (1 thread, "
                f"deterministic eval): **{ratio:.2f} of sb3's** ({sb3_time / jax_time:.2f}x "
                f"faster), {_verdict(ratio, 1 / TARGET_TIME_TO_THRESHOLD, False)} the <= "
                f"1/{TARGET_TIME_TO_THRESHOLD:g} target."
            )
        else:
            lines.append(
                f"- **Time to 475**: median not reached (jaxpg {_fmt(jax_time)}, sb3 "
                f"{_fmt(sb3_time)}): misses."
            )
    if headline:
        compile_s = headline.timing.compile_s
        lines.append(
            f"- **Compile time** of `jit(train)` (`jax.jit(train).lower(key).compile()`): "
            f"**{compile_s:.1f} s**, {_verdict(compile_s, TARGET_COMPILE_S, False)} the < "
            f"{TARGET_COMPILE_S:g} s target (XLA compile alone "
            f"{headline.compile_events.get('xla_compile', 0):.1f} s)."
        )
    return lines


def report(
    args: argparse.Namespace,
    machine: dict[str, Any],
    throughputs: list[Throughput],
    sb3_runs: dict[str, list[dict[str, Any]]],
    jaxpg_runs: dict[str, list[dict[str, Any]]],
    errors: list[str],
) -> str:
    """The Markdown of the "trpo" section."""
    sb3_one = sb3_runs.get("1 thread", [])
    sb3_default = sb3_runs.get("default threads", [])
    versions = sorted(
        {
            f"torch {r['torch_version']}, sb3 {r['sb3_version']}, sb3-contrib "
            f"{r['sb3_contrib_version']}, gymnasium {r['gymnasium_version']}"
            for records in sb3_runs.values()
            for r in records
        }
    )
    commands = sorted({r["command"] for records in sb3_runs.values() for r in records})
    commands += sorted({r["command"] for records in jaxpg_runs.values() for r in records})[:1]
    env_steps = throughputs[0].env_steps if throughputs else 0
    text = (
        "## TRPO on CartPole-v1 against sb3-contrib (RL-Zoo settings)\n\n"
        + common.section_preamble(machine)
        + f"\nPeer side: {'; '.join(versions) or 'not run'}. Runs one at a time, sb3 and "
        "jaxpg processes alternating seed by seed; the load average column says how busy the "
        "2 cores were (other work shared the machine: read ratios as indicative).\n\n"
        "### Targets\n\n"
        + "\n".join(verdicts(throughputs, sb3_one, jaxpg_runs))
        + "\n\n### Throughput of the whole training loop\n\n"
        f"jaxpg: `jaxpg.TRPOConfig(total_timesteps={args.total_timesteps:_})` defaults "
        f"(8 envs x 128 steps, {env_steps:,} env steps per seed), `jax.jit(jaxpg.make_train"
        f"(...))` compiled ahead of time, then called on fresh keys; median of {args.repeats} "
        f"calls ({args.vmap_repeats} when vmapped) after the first, each row in a fresh "
        "process; env-steps/s = seeds x env steps / median. Compile = "
        "`jax.jit(train).lower(key).compile()`, timed apart; the next column splits "
        "JAX's own compile events "
        "(tracing + lowering to MLIR, then XLA). sb3-contrib: env steps run / time in "
        "`learn()` (its evaluation callback subtracted). Final return: the last iteration's "
        "`episode_return` metric (jaxpg, median over calls and seeds) or sb3's final "
        "deterministic evaluation.\n\n"
        + common.markdown_table(
            THROUGHPUT_HEADER, throughput_rows(throughputs, sb3_one, sb3_default)
        )
        + "\n### Wall-clock from process start to a mean return >= 475\n\n"
        "Each run is a fresh process whose clock starts before its first import, so imports "
        "(`import jax, jaxpg`; torch and sb3), tracing and compilation count; evaluation time "
        "is measured and subtracted on both sides. jaxpg: `benchmarks/trpo_to_475.py`, "
        "chunks of 10 iterations (10,240 steps) through one ahead-of-time compiled "
        "`trainer.run`, then 20 evaluation episodes with "
        "`jaxpg.evaluate`, sampled (stochastic, the headline: stricter) and greedy; sb3: "
        "every 10,000 steps, 10 deterministic episodes (RL-Zoo's evaluation). The first "
        "chunk's time holds its compilation.\n\n"
        + common.markdown_table(TO_475_HEADER, to_475_rows(jaxpg_runs, sb3_runs))
        + "\nCommands of the subprocesses (per seed):\n\n"
        + "\n".join(f"    {c}" for c in commands)
        + "\n"
    )
    if errors:
        text += "\nFailed runs:\n\n" + "\n".join(f"- {e}" for e in errors) + "\n"
    return text


# --------------------------------------------------------------------------------------------
# main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-timesteps", type=int, default=TOTAL_TIMESTEPS)
    parser.add_argument("--repeats", type=int, default=5, help="steady-state calls, one seed")
    parser.add_argument("--vmap-seeds", type=int, default=10, help="seeds vmapped in one call")
    parser.add_argument("--vmap-repeats", type=int, default=3, help="steady-state vmapped calls")
    parser.add_argument("--seeds", type=int, default=3, help="time-to-475 runs per side")
    parser.add_argument(
        "--key-impls",
        nargs="+",
        default=list(KEY_IMPLS),
        help="PRNG implementations, the first is the headline",
    )
    parser.add_argument(
        "--default-threads-runs",
        type=int,
        default=1,
        help="sb3 runs with torch's default thread count (slow on a busy machine)",
    )
    parser.add_argument(
        "--cache-runs",
        type=int,
        default=3,
        help="also time jaxpg to 475 with a warm persistent compilation cache (not a target)",
    )
    parser.add_argument("--peer-python", default=DEFAULT_PEER_PYTHON)
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds before a jaxpg process is declared hung and killed",
    )
    parser.add_argument(
        "--retries", type=int, default=1, help="new tries of a throughput process that failed"
    )
    parser.add_argument(
        "--sb3-timeout", type=float, default=1800.0, help="the same for an sb3 process"
    )
    parser.add_argument(
        "--child-throughput",
        nargs=3,
        metavar=("KEY_IMPL", "SEEDS", "REPEATS"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=("throughput", "vmap", "to475", "sb3"),
        help="parts to leave out",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 20k steps, one run of each, RESULTS.md left alone",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    if parser.parse_known_args()[0].quick:  # explicit options still win over these
        parser.set_defaults(
            total_timesteps=20_480,
            repeats=2,
            vmap_seeds=4,
            vmap_repeats=1,
            seeds=1,
            key_impls=["threefry2x32"],
            default_threads_runs=0,
            cache_runs=0,
        )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child_throughput:
        key_impl, seeds, repeats = args.child_throughput
        config = jaxpg.TRPOConfig(total_timesteps=args.total_timesteps)
        t = measure_throughput(config, key_impl, int(seeds), int(repeats))
        print(json.dumps(throughput_record(t)))
        return
    machine = common.machine_description()
    throughputs: list[Throughput] = []
    sb3_runs: dict[str, list[dict[str, Any]]] = {}
    jaxpg_runs: dict[str, list[dict[str, Any]]] = {}
    errors: list[str] = []

    def measure(impl: str, seeds: int, repeats: int) -> None:
        for _ in range(1 + args.retries):
            result = run_throughput(args, impl, seeds, repeats)
            if isinstance(result, Throughput):
                throughputs.append(result)
                return
            errors.append(
                f"throughput, {seeds} seed(s), {impl}: `{result['command']}`: {result['error']}"
            )

    def keep(group: dict[str, list], label: str, record: dict[str, Any]) -> None:
        if "error" in record:
            errors.append(f"{label}: `{record['command']}`: {record['error']}")
        else:
            group.setdefault(label, []).append(record)

    if "throughput" not in args.skip:
        for impl in args.key_impls:
            measure(impl, 1, args.repeats)
    for seed in range(args.seeds):
        if "sb3" not in args.skip:
            keep(sb3_runs, "1 thread", run_sb3(args, seed, threads=1))
        if "to475" not in args.skip:
            for impl in args.key_impls:
                keep(jaxpg_runs, f"{impl} keys", run_jaxpg_to_475(args, seed, impl))
    if "sb3" not in args.skip:
        for seed in range(args.default_threads_runs):
            keep(sb3_runs, "default threads", run_sb3(args, seed, threads=None))
    if args.cache_runs and "to475" not in args.skip:
        with tempfile.TemporaryDirectory(prefix="jaxpg_cache_") as cache:
            run_jaxpg_to_475(args, 0, args.key_impls[0], cache)  # fills the cache
            for seed in range(args.cache_runs):
                keep(
                    jaxpg_runs,
                    f"{args.key_impls[0]} keys, warm compilation cache (not a target)",
                    run_jaxpg_to_475(args, seed, args.key_impls[0], cache),
                )
    if "vmap" not in args.skip:  # last: vmapped runs have hung on this machine (see the report)
        for impl in args.key_impls:
            measure(impl, args.vmap_seeds, args.vmap_repeats)

    text = report(args, machine, throughputs, sb3_runs, jaxpg_runs, errors)
    print("\n" + text)
    if not (args.quick or args.no_write):
        common.write_section("trpo", text)
        print(f"wrote the 'trpo' section of {common.RESULTS_PATH}")
    common.write_json(
        args.json,
        {
            "machine": machine,
            "command": common.command_line(),
            "config": {"total_timesteps": args.total_timesteps},
            "throughput": [throughput_record(t) for t in throughputs],
            "sb3": sb3_runs,
            "jaxpg_to_475": jaxpg_runs,
            "errors": errors,
        },
    )


if __name__ == "__main__":
    main()
