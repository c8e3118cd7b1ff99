"""jaxpg TRPO on CartPole-v1: wall-clock from process start to a mean return >= 475.

The jaxpg side of ``benchmarks/bench_trpo.py``'s time-to-threshold comparison against
``benchmarks/baselines/sb3_trpo.py``, built the same way: one run per process, the clock taken
by the first line of this file, before any import, so it includes the imports of JAX and
jaxpg, tracing and compilation. It prints one JSON line.

What it does: ``jaxpg.TRPOConfig(total_timesteps=...)`` (defaults otherwise: 8 envs x 128
steps, so 1,024 env steps per iteration) trained in chunks with
``trainer = jaxpg.make_trainer(...)``: ``trainer.run(state, chunk)`` for ``--chunk``
iterations, compiled once ahead of time (`benchmarks.common.compile_ahead`, the compile
helper of every benchmark) and called for every chunk. After each chunk the policy
(``trainer.algorithm.policy``) is evaluated with ``jaxpg.evaluate`` (jitted) over
``--eval-episodes`` episodes, twice:
sampling actions (stochastic, the primary criterion: stricter) and taking the most probable
action (greedy, as sb3_trpo.py and RL-Zoo evaluate). Chunks run until at least
``total_timesteps`` env steps are done (``ceil(iterations / chunk)`` chunks, so a few more
iterations than ``total_timesteps // 1024`` when the chunk does not divide them: reported as
``env_steps``), like sb3 finishing its last rollout.

Clocks (``time.time()`` since process start; durations with `benchmarks.common.timed`;
every JAX call is waited for with ``jax.block_until_ready``):

* ``time_to_threshold_s``: process start until the end of the first chunk after which the
  stochastic evaluation's mean return is >= ``--threshold``; ``greedy_time_to_threshold_s``
  the same for the greedy evaluation. ``null`` when never reached.
* The evaluations' own time (their compilation included) is measured and subtracted from
  every clock, as sb3_trpo.py subtracts its evaluation callback; ``eval_s`` reports it and the
  ``*_including_eval_s`` fields keep it.
* ``process_start_to_train_end_s``: process start to the end of the last chunk (evals out).
* ``import_s`` (``import jax, jaxpg``), ``setup_s`` (env, trainer, the jitted ``init``),
  ``chunk_compile_s`` (``jax.jit(run).lower(state).compile()`` of the chunk),
  ``first_chunk_s`` (that compilation and the first chunk's run), ``chunk_seconds`` (each
  chunk's run), ``chunk_s_median`` (the runs after the first), and ``compile_events_s``:
  JAX's own trace / lower-to-MLIR / XLA-compile durations (``jax.monitoring``), summed per
  phase.

Run from the repository root::

    python benchmarks/trpo_to_475.py --seed 0
    python benchmarks/trpo_to_475.py --seed 0 --key-impl philox2x32
"""

import time

_PROCESS_START = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
import jax  # noqa: E402

import jaxpg  # noqa: E402
from benchmarks import common  # noqa: E402  (standard library only)

_IMPORTS_DONE = time.time()

ENV_ID = "CartPole-v1"
TOTAL_TIMESTEPS = 100_000
#: JAX's compile-time events, reported per phase ("setup", "train", "eval").
COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "xla_compile",
}
_phase = "setup"
_compile_events: dict[str, dict[str, float]] = {}


def _on_duration(event: str, duration_secs: float, **_: object) -> None:
    name = COMPILE_EVENTS.get(event)
    if name is not None:
        phase = _compile_events.setdefault(_phase, {})
        phase[name] = phase.get(name, 0.0) + duration_secs


jax.monitoring.register_event_duration_secs_listener(_on_duration)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--total-timesteps", type=int, default=TOTAL_TIMESTEPS)
    parser.add_argument("--chunk", type=int, default=10, help="iterations per jitted call")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument(
        "--key-impl",
        default=None,
        help="PRNG implementation of the keys (jax.random.key impl=); default: JAX's",
    )
    parser.add_argument(
        "--compilation-cache",
        help="directory of JAX's persistent compilation cache (default: none, a cold start)",
    )
    parser.add_argument(
        "--stop-at-threshold",
        action="store_true",
        help="stop after the first chunk whose stochastic evaluation reaches the threshold",
    )
    return parser.parse_args()


def main() -> None:
    global _phase
    args = parse_args()
    load_before = os.getloadavg()[0]
    if args.compilation_cache:
        jax.config.update("jax_compilation_cache_dir", args.compilation_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

    setup_start = time.time()
    env, env_params = jaxpg.make_env(ENV_ID)
    config = jaxpg.TRPOConfig(total_timesteps=args.total_timesteps)
    trainer = jaxpg.make_trainer(config, env, env_params)
    evaluations = {
        name: jax.jit(
            partial(
                jaxpg.evaluate,
                config,
                env,
                env_params,
                num_episodes=args.eval_episodes,
                greedy=greedy,
                policy=trainer.algorithm.policy,
            )
        )
        for name, greedy in (("stochastic", False), ("greedy", True))
    }
    key = jax.random.key(args.seed, impl=args.key_impl)
    train_key, eval_key = jax.random.split(key)
    state = jax.block_until_ready(jax.jit(trainer.init)(train_key))
    setup_end = time.time()

    _phase = "train"
    run, chunk_compile_s = common.compile_ahead(lambda state: trainer.run(state, args.chunk), state)
    num_chunks = math.ceil(config.num_iterations / args.chunk)
    eval_seconds = 0.0
    chunk_seconds: list[float] = []
    curve = []
    reached: dict[str, dict[str, float] | None] = {"stochastic": None, "greedy": None}
    for chunk in range(num_chunks):
        _phase = "train"
        seconds, (state, metrics) = common.run_compiled(run, state)
        end = time.time()
        chunk_seconds.append(seconds)
        env_steps = state.env_steps.value()

        _phase = "eval"
        clock = end - _PROCESS_START - eval_seconds
        elapsed, means = common.timed(
            lambda params, key: {
                name: float(evaluate(params, key).mean()) for name, evaluate in evaluations.items()
            },
            state.agent.params,
            jax.random.fold_in(eval_key, chunk),
        )
        eval_seconds += elapsed.seconds
        curve.append(
            {
                "env_steps": env_steps,
                "stochastic_mean_return": means["stochastic"],
                "greedy_mean_return": means["greedy"],
                "train_episode_return": float(metrics["episode_return"][-1]),
                "seconds_since_start": clock,
            }
        )
        for name, mean in means.items():
            if reached[name] is None and mean >= args.threshold:
                reached[name] = {
                    "clock": clock,
                    "including_eval": time.time() - _PROCESS_START,
                    "env_steps": env_steps,
                }
        if args.stop_at_threshold and reached["stochastic"] is not None:
            break
    train_end_clock = curve[-1]["seconds_since_start"]

    _phase = "final_eval"
    final = {
        name: [
            float(r) for r in evaluate(state.agent.params, jax.random.fold_in(eval_key, 1_000_000))
        ]
        for name, evaluate in evaluations.items()
    }
    rest = chunk_seconds[1:]
    chunk_median = statistics.median(rest) if rest else None

    def field(name: str, item: str) -> float | None:
        return None if reached[name] is None else reached[name][item]

    print(
        json.dumps(
            {
                "benchmark": "jaxpg_trpo_cartpole_v1_to_475",
                "seed": args.seed,
                "key_impl": str(jax.random.key_impl(key)),
                "threshold": args.threshold,
                "time_to_threshold_s": field("stochastic", "clock"),
                "time_to_threshold_including_eval_s": field("stochastic", "including_eval"),
                "steps_to_threshold": field("stochastic", "env_steps"),
                "greedy_time_to_threshold_s": field("greedy", "clock"),
                "greedy_time_to_threshold_including_eval_s": field("greedy", "including_eval"),
                "greedy_steps_to_threshold": field("greedy", "env_steps"),
                "process_start_to_train_end_s": train_end_clock,
                "import_s": _IMPORTS_DONE - _PROCESS_START,
                "setup_s": setup_end - setup_start,
                "first_chunk_s": chunk_compile_s + chunk_seconds[0],
                "chunk_s_median": chunk_median,
                "chunk_compile_s": chunk_compile_s,
                "chunk_seconds": chunk_seconds,
                "chunk_iterations": args.chunk,
                "eval_s": eval_seconds,
                "eval_episodes": args.eval_episodes,
                "compile_events_s": _compile_events,
                "env_steps": curve[-1]["env_steps"],
                "total_timesteps": args.total_timesteps,
                "eval_curve": curve,
                "final_eval_stochastic_mean": statistics.fmean(final["stochastic"]),
                "final_eval_greedy_mean": statistics.fmean(final["greedy"]),
                "final_eval_stochastic_returns": final["stochastic"],
                "compilation_cache": args.compilation_cache,
                "load_average_1min": [load_before, os.getloadavg()[0]],
                "jax_version": jax.__version__,
                "python_version": platform.python_version(),
                "xla_flags": os.environ.get("XLA_FLAGS", ""),
            }
        )
    )


if __name__ == "__main__":
    main()
