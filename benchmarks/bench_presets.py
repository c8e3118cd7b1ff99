"""The README's learning claims, each run with exactly what a user gets by default.

For every claim, the config is the one ``jaxpg train ALGO --env ENV`` builds with no other
option (`jaxpg.cli.options.build_config` on top of the environment's preset, if any, with the
CLI's evaluation during training), the environment the one it makes (the preset's
``env_kwargs``), and the seeds' keys the CLI's (`jaxpg.cli.options.run_keys`). JAX
environments train all seeds in one ``jit(vmap(train))`` call; gymnasium ones train the seeds
in turn on the host. After training every seed's policy is evaluated on 100 fresh episodes,
sampled and greedy (`jaxpg.evaluate`); on GridWorld the policy's exact return from the start
cell is computed by dynamic programming and reported as the fraction of the way from the
uniform policy to the optimum (the soft optimum for maximum-entropy PG).

    python -m benchmarks.bench_presets                      # every claim (about 25 min here)
    python -m benchmarks.bench_presets --only Pendulum-v1   # claims whose env contains it

Writes the RESULTS.md section ``presets`` (the claim, what was measured per seed, met or not).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxpg
from benchmarks.common import (
    machine_description,
    markdown_table,
    section_preamble,
    write_json,
    write_section,
)
from jaxpg.cli.options import build_config, make_environment, run_keys
from jaxpg.envs import gridworld_solver as solver

EVAL_EPISODES = 100


class Claim(NamedTuple):
    """One learning claim of the README.

    Attributes:
        algorithm: the CLI's algorithm name.
        env_id: the environment id.
        seeds: how many seeds (0, 1, ...) to train.
        threshold: what each seed's score must reach.
        measure: ``"sampled"`` / ``"greedy"`` (mean evaluation return over 100 episodes) or
            ``"optimum"`` (GridWorld: exact fraction of the way from uniform to optimal).
        wanted: seeds that must reach ``threshold`` for the claim to hold.
        text: the claim as the README words it.
    """

    algorithm: str
    env_id: str
    seeds: int
    threshold: float
    measure: str
    wanted: int
    text: str


CLAIMS = (
    Claim("trpo", "CartPole-v1", 10, 475, "sampled", 10, "TRPO learns CartPole-v1 (≥ 475)"),
    Claim("ppo", "CartPole-v1", 10, 475, "sampled", 9, "PPO learns CartPole-v1 (≥ 475)"),
    Claim("npg", "CartPole-v1", 10, 475, "sampled", 8, "NPG learns CartPole-v1 (≥ 475)"),
    Claim("vpg", "CartPole-v1", 5, 400, "sampled", 4, "VPG (seed 003's settings) ≥ 400"),
    Claim("ppo", "Pendulum-v1", 5, -400, "greedy", 5, "PPO learns Pendulum-v1 (> -400)"),
    Claim("trpo", "Pendulum-v1", 5, -400, "greedy", 5, "TRPO learns Pendulum-v1 (> -400)"),
    Claim("ppo", "Acrobot-v1", 5, -100, "greedy", 5, "PPO learns Acrobot-v1 (> -100)"),
    Claim("trpo", "Acrobot-v1", 5, -100, "greedy", 5, "TRPO learns Acrobot-v1 (> -100)"),
    Claim("maxent", "GridWorld-v0", 3, 0.95, "optimum", 3, "max-ent PG: 95% to the soft optimum"),
    Claim("a2c", "GridWorld-v0", 3, 0.95, "optimum", 3, "actor-critic: 95% to the optimum"),
    Claim("trpo", "GridWorld-v0", 3, 0.95, "optimum", 3, "TRPO vine: 95% to the optimum"),
    Claim(
        "trpo",
        "gymnasium:LunarLander-v3",
        3,
        150,
        "sampled",
        2,
        "TRPO on LunarLander-v3 (≥ 150)",
    ),
)


def cli_setup(claim: Claim) -> tuple[Any, Any, Any, dict[str, Any]]:
    """``(config, env, env_params, env_kwargs)`` as ``jaxpg train ALGO --env ENV`` makes them."""
    preset = jaxpg.presets.get(claim.algorithm, claim.env_id)
    config = build_config(claim.algorithm, {}, None, None, preset.fields if preset else None)
    env_kwargs = dict(preset.env_kwargs) if preset else {}
    env, env_params = make_environment(claim.env_id, env_kwargs)
    return config, env, env_params, env_kwargs


def train_seeds(config: Any, env: Any, env_params: Any, seeds: list[int]) -> tuple[Any, Any, float]:
    """Every seed's final parameters, metrics ``[seeds, iterations]`` and the wall seconds."""
    start = time.perf_counter()
    if getattr(env, "RUNS_ON_HOST", False):
        from jaxpg.host_train import train_host

        results = [train_host(config, env, env_params, run_keys(s).train) for s in seeds]
        params = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[r.params for r in results])
        metrics = {
            name: np.stack([np.asarray(r.metrics[name]) for r in results])
            for name in results[0].metrics
        }
    else:
        keys = jnp.stack([run_keys(s).train for s in seeds])
        result = jax.jit(jax.vmap(jaxpg.make_train(config, env, env_params)))(keys)
        params, metrics = result.params, jax.device_get(result.metrics)
    return params, metrics, time.perf_counter() - start


def evaluate_seed(config: Any, env: Any, env_params: Any, params: Any, seed: int) -> dict:
    """100 sampled and 100 greedy episodes of one seed's policy: their mean returns."""
    key = run_keys(seed).evaluate
    return {
        kind: float(
            np.mean(
                jaxpg.evaluate(config, env, env_params, params, key, EVAL_EPISODES, greedy=greedy)
            )
        )
        for kind, greedy in (("sampled", False), ("greedy", True))
    }


def grid_fraction(config: Any, env: Any, env_params: Any, params: Any) -> float:
    """Exact ``(J(pi) - J(uniform)) / (J* - J(uniform))`` from the start cell (soft returns when
    the config has ``entropy_alpha > 0``)."""
    policy = jaxpg.networks.default_policy(config, env, env_params)
    height, width = env.shape
    cells = [env.observe_cell(row, col) for row in range(height) for col in range(width)]
    probs = np.asarray(policy.apply(params["policy"], jnp.stack(cells)).probs(), np.float64)
    probs = probs.reshape(height, width, -1)
    grid = np.asarray(env_params.grid, np.float64)
    start = tuple(int(v) for v in np.asarray(env_params.start))
    horizon = int(env_params.max_steps_in_episode)
    gamma, alpha = float(config.gamma), float(getattr(config, "entropy_alpha", 0.0))

    def value(policy_probs: np.ndarray) -> float:
        values = solver.policy_evaluation(grid, policy_probs, gamma, alpha=alpha, horizon=horizon)
        return float(values[start])

    best = float(solver.value_iteration(grid, gamma, alpha=alpha, horizon=horizon).values[start])
    uniform = value(solver.uniform_policy((height, width)))
    return (value(probs) - uniform) / (best - uniform)


def last_training_eval(metrics: dict[str, Any], seed_index: int) -> float | None:
    """The seed's last greedy evaluation during training, if the run made one."""
    values = np.asarray(metrics.get("eval_greedy_return", np.full((1, 1), np.nan)))[seed_index]
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else None


def run_claim(claim: Claim) -> dict[str, Any]:
    config, env, env_params, env_kwargs = cli_setup(claim)
    seeds = list(range(claim.seeds))
    params, metrics, seconds = train_seeds(config, env, env_params, seeds)
    per_seed = []
    for index, seed in enumerate(seeds):
        seed_params = jax.tree.map(lambda leaf, i=index: leaf[i], params)
        record: dict[str, Any] = {
            "seed": seed,
            **evaluate_seed(config, env, env_params, seed_params, seed),
        }
        record["training_greedy_eval"] = last_training_eval(metrics, index)
        if claim.measure == "optimum":
            record["optimum"] = grid_fraction(config, env, env_params, seed_params)
        record["score"] = record[claim.measure]
        per_seed.append(record)
    scores = np.array([r["score"] for r in per_seed])
    reached = int((scores >= claim.threshold).sum())
    preset = jaxpg.presets.get(claim.algorithm, claim.env_id)
    return {
        "claim": claim._asdict(),
        "command": f"jaxpg train {claim.algorithm} --env {claim.env_id}",
        "preset": preset.source if preset else None,
        "config": config.to_dict(),
        "env_kwargs": env_kwargs,
        "env_steps": int(np.asarray(metrics["env_steps"])[0, -1]),
        "train_seconds": seconds,
        "per_seed": per_seed,
        "mean": float(scores.mean()),
        "std": float(scores.std()),
        "reached": reached,
        "met": reached >= claim.wanted,
    }


def _score(value: float, measure: str) -> str:
    return f"{100 * value:.1f}%" if measure == "optimum" else f"{value:.1f}"


def write_results(records: list[dict[str, Any]], machine: dict[str, Any]) -> None:
    rows = []
    for record in records:
        claim = record["claim"]
        measure = claim["measure"]
        scores = ", ".join(_score(r["score"], measure) for r in record["per_seed"])
        what = {
            "sampled": "mean return, 100 sampled episodes",
            "greedy": "mean return, 100 greedy episodes",
            "optimum": "exact fraction of the way from uniform to optimal",
        }[measure]
        rows.append(
            [
                f"`{record['command']}`",
                "preset" if record["preset"] else "defaults",
                f"{record['env_steps']:,}",
                what,
                f"{_score(record['mean'], measure)} ± {_score(record['std'], measure)}",
                scores,
                f"{record['reached']} of {len(record['per_seed'])} ≥ "
                f"{_score(claim['threshold'], measure)}",
                "met" if record["met"] else f"missed (wanted {claim['wanted']})",
                f"{record['train_seconds']:.0f} s",
            ]
        )
    body = (
        "## The README's learning claims with the CLI's defaults\n\n"
        + section_preamble(machine)
        + "\nEach row: the config and environment that the command builds with no other option "
        "(its preset where `jaxpg list presets` shows one, the CLI's evaluation during "
        "training), the CLI's seed keys; JAX environments train their seeds in one vmapped "
        "call, gymnasium ones in turn on the host. After training: 100 sampled and 100 greedy "
        "episodes per seed (`jaxpg.evaluate`); on GridWorld the exact return of the policy from "
        "the start cell by dynamic programming, as the fraction of the way from the uniform "
        "policy to the optimum (soft returns for max-ent PG). Train seconds include "
        "compilation and were measured on a shared machine: not a speed benchmark.\n\n"
        + markdown_table(
            [
                "command",
                "settings",
                "env steps per seed",
                "measure",
                "mean ± std over seeds",
                "per seed",
                "seeds reaching",
                "claim",
                "train",
            ],
            rows,
        )
    )
    write_section("presets", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the claims whose env id contains this text")
    parser.add_argument("--json", help="also write the records to this JSON file")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    machine = machine_description()
    records = []
    for claim in CLAIMS:
        if args.only and args.only not in claim.env_id:
            continue
        record = run_claim(claim)
        records.append(record)
        scores = [round(r["score"], 3) for r in record["per_seed"]]
        print(
            f"{record['command']}: {claim.measure} {scores} -> "
            f"{'met' if record['met'] else 'missed'} ({record['train_seconds']:.0f} s)",
            flush=True,
        )
    write_json(args.json, {"machine": machine, "records": records})
    if not args.no_write and not args.only:
        write_results(records, machine)


if __name__ == "__main__":
    main()
