"""Environment throughput: CartPole-v1 env-steps per second, random actions, auto-reset.

Three implementations, each at 1, 64, 1024 and 8192 environments, in one run:

* **jaxpg**: `jaxpg.rollout.rollout`, the one rollout every jaxpg algorithm uses, with a
  uniformly random ``policy_fn`` that draws the actions of the whole batch with one
  ``jax.random.randint`` call. As in `jaxpg.train.make_trainer`, rollouts of
  ``--rollout-steps`` steps follow one another in a loop; each rollout's `Trajectory` is
  built and then reduced to sums (observations, next observations, rewards, episode ends), so
  nothing is dead code and memory stays bounded.
* **gymnax**: its documented usage, ``gymnax.make("CartPole-v1")``, one key per environment
  from ``jax.random.split``, ``jax.vmap(env.action_space(params).sample)`` and
  ``jax.vmap(env.step)`` under `lax.scan` (scans of ``--rollout-steps`` steps in the same
  outer loop), carrying the sums of observations, rewards and episode ends.
* **numpy**: gymnasium's ``CartPoleVectorEnv`` stepped in a Python loop with a batch of
  random actions from a numpy generator, with its own (next-step) auto-reset.

Each measurement is calibrated to take about ``--target-seconds``; the rate is the median of
``--repeats`` runs. For the JAX implementations the number of rollouts is a traced argument,
so one compilation serves the calibration and the timing; it is done ahead of time and timed
apart (`benchmarks.common.compile_ahead`, as every benchmark measures compile time).

Run from the repository root::

    python -m benchmarks.bench_envs            # full run, writes the "envs" section of RESULTS.md
    python -m benchmarks.bench_envs --quick    # smoke run, prints only

XLA's CPU flags matter at small batches; they are read from the environment before JAX
starts, so pass them on the command line (the value used is recorded with the results), e.g.
``XLA_FLAGS=--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=100000000``.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from typing import Any, NamedTuple

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

import jaxpg
from benchmarks import common
from jaxpg import rollout as rollout_lib

SIZES = (1, 64, 1024, 8192)
FRAMEWORKS = ("jaxpg", "gymnax", "numpy")
#: DESIGN.md anchors on the reference 2-core machine (env-steps/s).
ANCHORS = {
    "gymnax": {1: 0.36e6, 64: 2.7e6, 1024: 4.2e6, 8192: 13e6},
    "numpy": {1: 0.013e6, 64: 0.77e6, 1024: 7.5e6, 8192: 23e6},
}
#: Targets: jaxpg over gymnax at every size, jaxpg over numpy at the large sizes.
TARGET_OVER_GYMNAX = 2.0
TARGET_OVER_NUMPY = 1.5
NUMPY_TARGET_SIZES = (1024, 8192)


class Runner(NamedTuple):
    """One implementation at one batch size.

    Attributes:
        steps_per_unit: env-steps in one unit of work.
        run: ``run(units, index)`` does ``units`` units of work and waits for them; ``index``
            numbers the call (for a fresh key).
        compile_seconds: the ahead-of-time compilation of ``run`` (None: nothing compiled).
    """

    steps_per_unit: int
    run: Callable[[int, int], object]
    compile_seconds: float | None


class Measurement(NamedTuple):
    """Steady-state rate of one runner."""

    steps_per_second: float
    seconds: tuple[float, ...]
    env_steps: int
    compile_seconds: float | None


def make_jaxpg_runner(num_envs: int, rollout_steps: int, key_impl: str) -> Runner:
    """jaxpg's rollout with a uniformly random policy (see the module docstring)."""
    env, env_params = jaxpg.make_env("CartPole-v1")
    num_actions = env.action_space(env_params).n

    def policy_fn(key: jax.Array, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        batch = obs.shape[:1]
        action = jax.random.randint(key, batch, 0, num_actions)
        return action, jnp.full(batch, -math.log(num_actions), jnp.float32)

    def run(key, state, num_rollouts):
        def one_rollout(index, carry):
            state, total = carry
            state, trajectory, stats = rollout_lib.rollout(
                jax.random.fold_in(key, index), env, env_params, state, policy_fn, rollout_steps
            )
            total = (
                total
                + trajectory.obs.sum()
                + trajectory.next_obs.sum()
                + trajectory.reward.sum()
                + trajectory.done.sum()
                + stats.return_sum
            )
            return state, total

        return jax.lax.fori_loop(0, num_rollouts, one_rollout, (state, jnp.zeros(())))

    key = jax.random.key(0, impl=key_impl)
    state = rollout_lib.reset(jax.random.key(1, impl=key_impl), env, env_params, num_envs)
    return _compiled_runner(run, num_envs * rollout_steps, key, state)


def make_gymnax_runner(num_envs: int, rollout_steps: int, key_impl: str) -> Runner:
    """gymnax's documented ``jit(vmap(step))`` under `lax.scan` with random actions."""
    env, env_params = gymnax.make("CartPole-v1")
    action_space = env.action_space(env_params)

    def step(carry, key):
        obs, state, total = carry
        action_key, step_key = jax.random.split(key)
        action = jax.vmap(action_space.sample)(jax.random.split(action_key, num_envs))
        obs, state, reward, terminated, truncated, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(step_key, num_envs), state, action, env_params
        )
        total = total + obs.sum() + reward.sum() + jnp.logical_or(terminated, truncated).sum()
        return (obs, state, total), None

    def run(key, obs, state, num_scans):
        def one_scan(index, carry):
            keys = jax.random.split(jax.random.fold_in(key, index), rollout_steps)
            return jax.lax.scan(step, carry, keys)[0]

        return jax.lax.fori_loop(0, num_scans, one_scan, (obs, state, jnp.zeros(())))

    key = jax.random.key(0, impl=key_impl)
    reset_keys = jax.random.split(jax.random.key(1, impl=key_impl), num_envs)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, env_params)
    return _compiled_runner(run, num_envs * rollout_steps, key, obs, state)


def make_numpy_runner(num_envs: int) -> Runner:
    """gymnasium's numpy ``CartPoleVectorEnv`` in a Python loop with random actions."""
    env = CartPoleVectorEnv(num_envs=num_envs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def run(units: int, index: int) -> None:
        del index
        for _ in range(units):
            env.step(rng.integers(0, 2, size=num_envs))

    return Runner(steps_per_unit=num_envs, run=run, compile_seconds=None)


def _compiled_runner(
    fn: Callable[..., object], steps_per_unit: int, key: jax.Array, *state: object
) -> Runner:
    """``fn(key, *state, units)`` compiled ahead of time; each call on ``fold_in(key, index)``."""
    compiled, compile_seconds = common.compile_ahead(fn, key, *state, 1)

    def run(units: int, index: int) -> object:
        return jax.block_until_ready(compiled(jax.random.fold_in(key, index), *state, units))

    return Runner(steps_per_unit, run, compile_seconds)


def _seconds(runner: Runner, units: int, index: int) -> float:
    return common.timed(runner.run, units, index)[0].seconds


def measure(runner: Runner, target_seconds: float, repeats: int) -> Measurement:
    """The median rate of ``repeats`` runs of about ``target_seconds``, after calibration."""
    _seconds(runner, 1, 0)  # the first run after compilation: warm-up, not counted
    one_unit = statistics.median(_seconds(runner, 1, index) for index in range(1, 4))
    units, elapsed = 1, one_unit
    while elapsed < target_seconds / 4:
        units *= 2
        elapsed = _seconds(runner, units, 4)
    units = max(1, round(units * target_seconds / elapsed))
    seconds = tuple(_seconds(runner, units, 5 + index) for index in range(repeats))
    env_steps = units * runner.steps_per_unit
    return Measurement(
        env_steps / statistics.median(seconds), seconds, env_steps, runner.compile_seconds
    )


def make_runner(framework: str, num_envs: int, args: argparse.Namespace) -> Runner:
    """The runner of one implementation at one batch size."""
    if framework == "jaxpg":
        return make_jaxpg_runner(num_envs, args.rollout_steps, args.key_impl)
    if framework == "gymnax":
        return make_gymnax_runner(num_envs, args.rollout_steps, args.key_impl)
    return make_numpy_runner(num_envs)


def ratio_rows(results: dict[str, dict[int, Measurement]], sizes: list[int]) -> list[list[str]]:
    """Rows of the ratio table (jaxpg over each other implementation, with its target)."""
    rows = []
    for size in sizes:
        jaxpg_rate = results.get("jaxpg", {}).get(size)
        if jaxpg_rate is None:
            continue
        row = [str(size)]
        for other, target, target_sizes in (
            ("gymnax", TARGET_OVER_GYMNAX, sizes),
            ("numpy", TARGET_OVER_NUMPY, NUMPY_TARGET_SIZES),
        ):
            other_rate = results.get(other, {}).get(size)
            if other_rate is None:
                row.append("-")
                continue
            ratio = jaxpg_rate.steps_per_second / other_rate.steps_per_second
            verdict = ""
            if size in target_sizes:
                verdict = f" ({'meets' if ratio >= target else 'misses'} >= {target:g}x)"
            row.append(f"{ratio:.2f}x{verdict}")
        rows.append(row)
    return rows


def rate_rows(results: dict[str, dict[int, Measurement]], sizes: list[int]) -> list[list[str]]:
    """Rows of the rate table: env-steps/s, spread, compile time, DESIGN.md anchor."""
    rows = []
    for framework, by_size in results.items():
        for size in sizes:
            if size not in by_size:
                continue
            m = by_size[size]
            rates = sorted(m.env_steps / s for s in m.seconds)
            anchor = ANCHORS.get(framework, {}).get(size)
            rows.append(
                [
                    framework,
                    str(size),
                    common.millions(m.steps_per_second),
                    f"{common.millions(rates[0])}-{common.millions(rates[-1])}",
                    f"{statistics.median(m.seconds):.2f}",
                    "-" if m.compile_seconds is None else f"{m.compile_seconds:.1f}",
                    "-" if anchor is None else common.millions(anchor),
                ]
            )
    return rows


RATE_HEADER = (
    "implementation",
    "envs",
    "env-steps/s (median)",
    "range",
    "s/run",
    "compile s",
    "anchor",
)
RATIO_HEADER = ("envs", "jaxpg / gymnax", "jaxpg / numpy")


def report(
    results: dict[str, dict[int, Measurement]], args: argparse.Namespace, machine: dict[str, Any]
) -> str:
    """The Markdown of the "envs" section."""
    sizes = sorted({size for by_size in results.values() for size in by_size})
    return (
        "## Environment throughput (CartPole-v1, random actions, auto-reset)\n\n"
        + common.section_preamble(machine)
        + f"\nSettings: rollouts of {args.rollout_steps} steps, {args.key_impl} keys, "
        f"about {args.target_seconds:g} s per run, median of {args.repeats} runs; "
        "compile time: `jax.jit(run).lower(...).compile()`, timed apart. "
        "Anchors: DESIGN.md, same workloads measured on a quiet machine.\n\n"
        + common.markdown_table(RATE_HEADER, rate_rows(results, sizes))
        + "\n"
        + common.markdown_table(RATIO_HEADER, ratio_rows(results, sizes))
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of environments"
    )
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument(
        "--rollout-steps",
        type=int,
        default=128,
        help="steps per rollout (jaxpg) and per scan (gymnax)",
    )
    parser.add_argument(
        "--key-impl",
        default="threefry2x32",
        help="PRNG implementation of the JAX keys (jax.random.key impl=)",
    )
    parser.add_argument(
        "--target-seconds", type=float, default=1.0, help="calibrated duration of one timed run"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (>= 3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: short runs, 3 repeats, RESULTS.md left alone",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    if parser.parse_known_args()[0].quick:  # explicit options still win over these
        parser.set_defaults(target_seconds=0.05, repeats=3)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    machine = common.machine_description()
    results: dict[str, dict[int, Measurement]] = {}
    for size in args.sizes:
        for framework in args.frameworks:
            m = measure(make_runner(framework, size, args), args.target_seconds, args.repeats)
            results.setdefault(framework, {})[size] = m
            compile_note = (
                "" if m.compile_seconds is None else f", compile {m.compile_seconds:.1f} s"
            )
            print(
                f"{framework:6s} {size:5d} envs: {common.millions(m.steps_per_second)} "
                f"env-steps/s{compile_note}",
                flush=True,
            )
    text = report(results, args, machine)
    print("\n" + text)
    if not (args.quick or args.no_write):
        common.write_section("envs", text)
        print(f"wrote the 'envs' section of {common.RESULTS_PATH}")
    common.write_json(
        args.json,
        {
            "machine": machine,
            "command": common.command_line(),
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "results": {
                framework: {str(size): m._asdict() for size, m in by_size.items()}
                for framework, by_size in results.items()
            },
        },
    )


if __name__ == "__main__":
    main()
