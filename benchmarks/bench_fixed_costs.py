"""Fixed costs: what a user waits for besides training, measured apart.

Every figure is the wall-clock of fresh processes (medians of ``--repeats``), since imports and
compilation are paid once per process:

* start: the interpreter alone, ``import jax``, ``import jaxpg`` (lazy: nothing heavy), the
  training API (``from jaxpg import make_train, make_env, TRPOConfig`` and one attribute each,
  which imports jax, flax, optax and jaxpg's training modules), ``jaxpg --help``,
  ``jaxpg train --help`` and an argument error (``jaxpg train tpro ...``), with the top
  cumulative entries of ``python -X importtime`` for the training API;
* compile, Python API: per algorithm on CartPole-v1 (and TRPO on a Brax environment with
  ``--brax``), ``jax.jit(make_train(config, env, env_params))`` traced, lowered and compiled
  apart (``.trace``, ``.lower``, ``.compile``), with the size of the compiled program (HLO
  instructions) and one run of the compiled program;
* the CLI's main command, ``jaxpg train trpo --env CartPole-v1`` (defaults: 100k steps,
  1 seed, evaluation of 10 episodes): whole process, cold (an empty persistent compilation
  cache) and warm (the cache the cold run filled: compiled and traced programs), with the
  compile, train and evaluation times the run records in its config.json (and the same with
  ``--compile optimized``, and for ``--compare-with``'s CLI, alternating); beside it, in the
  same benchmark run and alternating with it, sb3-contrib's TRPO with RL-Zoo's CartPole-v1
  settings for 100k steps (``benchmarks/baselines/sb3_trpo.py``, whole process, imports
  included, torch's default threads) when its environment exists (``--peer-python``, see
  ``benchmarks/baselines/README.md``);
* ``jaxpg.evaluate`` from Python: the first call (compiles) and the next ones (kept program);
* Ctrl-C: seconds from SIGINT to the process's exit, sent while the CLI compiles and while
  it trains (a chunk of 1,000 TRPO iterations in flight).

Run from the repository root, on a quiet machine (about 15 minutes on 2 cores; ``--brax`` adds
the Brax compile, a few minutes)::

    python -m benchmarks.bench_fixed_costs                  # "fixed_costs" section
    python -m benchmarks.bench_fixed_costs --quick          # smoke run: prints only
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import common

PYTHON = sys.executable
JAXPG = [PYTHON, "-m", "jaxpg"]
DEFAULT_PEER_PYTHON = "/work/venv-peers/bin/python"
SB3_SCRIPT = common.BENCHMARKS_DIR / "baselines" / "sb3_trpo.py"
TRAINING_API = "import jaxpg; jaxpg.make_train; jaxpg.make_env; jaxpg.TRPOConfig; jaxpg.evaluate"

# Kinds of the compiled program's kernels, by the JAX name stack of each (first match wins).
KERNEL_KINDS = (
    ("random numbers", "threefry|_uniform|_normal|_gumbel|_shuffle|random_bits|_randint|fold_in"),
    ("network initialisation", "orthogonal|qr|householder|geqrf|orgqr"),
    ("networks", "MLP|Dense|tanh|relu|dot_general|log_softmax|softmax|take_along_axis"),
)


def kernel_counts(text: str) -> dict[str, int]:
    """The kernels XLA:CPU compiles for an optimised HLO module (``compiled.as_text()``), by
    kind (`KERNEL_KINDS`, else "other"), and its while loops.

    A kernel is a fusion or an unfused computing instruction (not a parameter, tuple, constant,
    copy or control flow) of the entry computation or of a computation it runs as a loop body,
    loop condition, branch or call; fused computations and reducers are parts of kernels. Each
    kernel is compiled on its own (MLIR, then LLVM), about 10 ms each on this project's
    2-core machine: their count is what the compile time follows.
    """
    import collections
    import re

    computations = re.split(r"\n(?=\S)", text)
    pattern = r"(?:body|condition|true_computation|false_computation)=%?([\w.\-]+)"
    referenced = set(re.findall(pattern, text))
    for group in re.findall(r"branch_computations=\{([^}]*)\}", text):
        referenced.update(name.strip().lstrip("%") for name in group.split(","))
    called = set()
    for line in text.split("\n"):
        if re.search(r" call\(", line):
            called.update(re.findall(r"to_apply=%?([\w.\-]+)", line))
    skip = {
        "parameter",
        "get-tuple-element",
        "tuple",
        "constant",
        "bitcast",
        "copy",
        "while",
        "conditional",
        "call",
        "after-all",
        "opt-barrier",
        "copy-start",
        "copy-done",
    }
    counts: collections.Counter = collections.Counter()
    for computation in computations:
        head = computation.split("\n", 1)[0]
        name = head.split(" ")[1 if head.startswith("ENTRY") else 0].lstrip("%")
        if not (head.startswith("ENTRY") or name in referenced or name in called):
            continue
        for line in computation.split("\n")[1:]:
            op = re.search(r" = (?:\([^=]*?\)|\S+) ([a-z][a-z\-]*)\(", line)  # shape, op
            if not op or op.group(1) in skip:
                continue
            stack = re.search(r'op_name="([^"]*)"', line)
            stack = stack.group(1) if stack else ""
            kind = next((k for k, pattern in KERNEL_KINDS if re.search(pattern, stack)), "other")
            counts[kind] += 1
    counts["while loops"] = text.count(" while(")
    return dict(counts)


# One compile probe per process: prints a JSON line. argv: algorithm, env id, steps, the
# compiler options as JSON ("default": none; "jaxpg": jaxpg.COMPILER_OPTIONS). The kernel
# counter goes with it, so that it measures another checkout (--compare-with) the same way.
PROBE = (
    inspect.getsource(kernel_counts).replace("KERNEL_KINDS", repr(KERNEL_KINDS))
    + """
import json, sys, time
import jax, jaxpg
algorithm, env_id, steps, options = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
# getattr: an older checkout (--compare-with) may have neither.
names = {"jaxpg": "COMPILER_OPTIONS", "fast": "FAST_COMPILE_OPTIONS"}
options = None if options == "default" else getattr(jaxpg, names[options])
config, env_kwargs = jaxpg.presets.config(algorithm, env_id, total_timesteps=steps)
env, env_params = jaxpg.make_env(env_id, **env_kwargs)
train = jax.jit(jaxpg.make_train(config, env, env_params), compiler_options=options)
key = jax.random.key(0)
t0 = time.perf_counter(); traced = train.trace(key)
t1 = time.perf_counter(); lowered = traced.lower()
t2 = time.perf_counter(); compiled = lowered.compile()
t3 = time.perf_counter(); result = jax.block_until_ready(compiled(key))
t4 = time.perf_counter()
text = compiled.as_text() or ""
print(json.dumps({"trace_s": t1 - t0, "lower_s": t2 - t1, "compile_s": t3 - t2,
                  "run_s": t4 - t3, "hlo_instructions": text.count(" = "),
                  "kernels": kernel_counts(text),
                  "final_return": float(result.metrics["episode_return"][-1])}))
"""
)

EVALUATE_PROBE = """
import json, time
import jax, jaxpg
from jaxpg.networks import default_policy
config = jaxpg.TRPOConfig()
env, env_params = jaxpg.make_env("CartPole-v1")
params = {"policy": default_policy(config, env, env_params).init(jax.random.key(0))}
times = []
for i in range(6):
    t = time.perf_counter()
    jaxpg.evaluate(config, env, env_params, params, jax.random.key(i), 10).block_until_ready()
    times.append(time.perf_counter() - t)
print(json.dumps({"first_s": times[0], "later_s": times[1:]}))
"""


def wall(
    command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, str, str]:
    """Seconds a command takes as a fresh process, its stdout and stderr."""
    start = time.perf_counter()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        cwd=cwd,
    )
    return time.perf_counter() - start, done.stdout, done.stderr


def median_wall(command: list[str], repeats: int, env: dict[str, str] | None = None) -> float:
    return statistics.median(wall(command, env)[0] for _ in range(repeats))


def last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON line in {text[-2000:]!r}")


def measure_start(repeats: int) -> dict[str, Any]:
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "import jax": [PYTHON, "-c", "import jax"],
        "import jaxpg": [PYTHON, "-c", "import jaxpg"],
        "the training API": [PYTHON, "-c", TRAINING_API],
        "jaxpg --help": [*JAXPG, "--help"],
        "jaxpg train --help": [*JAXPG, "train", "--help"],
        "argument error": [*JAXPG, "train", "tpro", "--env", "CartPole-v1"],
    }
    record = {name: median_wall(command, repeats) for name, command in commands.items()}
    _, _, importtime = wall([PYTHON, "-X", "importtime", "-c", TRAINING_API])
    rows = []
    for line in importtime.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) <= 3:  # top-level and first-level imports
            rows.append((int(match.group(2)) / 1e6, match.group(4)))
    record["importtime_top"] = sorted(rows, reverse=True)[:8]
    return record


def measure_compiles(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Compile probes, alternating the variants of each algorithm: this tree with XLA's default
    options and with `jaxpg.COMPILER_OPTIONS`, and ``--compare-with`` (another checkout, e.g.
    the previous main) with the default options."""
    fast = ("this tree, FAST_COMPILE_OPTIONS", None, "fast")
    variants = [("this tree, XLA defaults", None, "default"), ("this tree", None, "jaxpg")]
    if args.compare_with:
        variants.insert(
            0, (f"{args.compare_with_name}, XLA defaults", args.compare_with, "default")
        )
    probes = [
        ("trpo", "CartPole-v1", 100_000, [*variants, fast]),
        ("ppo", "CartPole-v1", 100_000, [*variants, fast]),
    ]
    probes += [(name, "CartPole-v1", 100_000, variants[-1:]) for name in ("vpg", "a2c")]
    if args.brax:
        probes.append(("trpo", "brax:hopper", 20_480, [*variants[-2:], fast]))
    records = []
    for algorithm, env_id, steps, chosen in probes:
        repeats = 1 if env_id.startswith("brax") else args.repeats
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in chosen}
        for _ in range(repeats):
            for name, tree, options in chosen:
                # `python -c` puts the working directory first on sys.path: run in the tree.
                env = {"PYTHONPATH": str(tree)} if tree else None
                command = [PYTHON, "-c", PROBE, algorithm, env_id, str(steps), options]
                _, out, err = wall(command, env, cwd=tree or common.REPOSITORY)
                runs[name].append(last_json(out) if out.strip() else {"error": err[-1500:]})
        for name, _, _ in chosen:
            ok = [run for run in runs[name] if "error" not in run]
            record = {"algorithm": algorithm, "env": env_id, "variant": name, "runs": runs[name]}
            for field in ("trace_s", "lower_s", "compile_s", "run_s", "hlo_instructions"):
                if ok:
                    record[field] = statistics.median(run[field] for run in ok)
            if ok:
                record["kernels"] = ok[0].get("kernels", {})  # the same program every run
            records.append(record)
            print(f"compile {algorithm} {env_id} [{name}]: {record}", flush=True)
    return records


def run_cli(
    out_dir: Path, cache: str, extra: tuple[str, ...] = (), tree: Path | None = None
) -> dict[str, Any]:
    """``jaxpg train trpo --env CartPole-v1`` (``extra`` replaces ``--env`` and adds options),
    of this tree or of another checkout (``tree``)."""
    command = [*JAXPG, "train", "trpo", *(extra or ("--env", "CartPole-v1")), "--no-progress"]
    command += ["--out", str(out_dir)]
    env = {"JAXPG_COMPILE_CACHE": cache}
    if tree:  # `python -m` puts the working directory first on sys.path: run in the tree
        env["PYTHONPATH"] = str(tree)
    seconds, _, err = wall(command, env, cwd=tree)
    try:
        summary = json.loads((out_dir / "config.json").read_text())["summary"]
    except (OSError, KeyError, ValueError):
        summary = {}
    return {
        "process_s": seconds,
        "compile_s": summary.get("compile_s"),
        "train_s": summary.get("train_s"),
        "eval_s": summary.get("eval_s"),
        "eval_return": summary.get("eval_return_mean"),
        "ok": summary.get("status") == "finished",
        "stderr_tail": "" if summary.get("status") == "finished" else err[-1000:],
    }


def run_sb3(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    command = [args.peer_python, str(SB3_SCRIPT), "--seed", str(seed)]
    command += ["--total-timesteps", "100000"]
    seconds, out, err = wall(command)
    try:
        record = last_json(out)
    except RuntimeError:
        return {"error": err[-1500:], "process_s": seconds}
    return {
        "process_s": seconds,
        "learn_s": record.get("learn_s"),
        "final_eval_mean": record.get("final_eval_mean"),
    }


def measure_end_to_end(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    peer = Path(args.peer_python).exists() and not args.no_sb3
    cold, warm, sb3, compared = [], [], [], {"cold": [], "warm": []}
    optimized: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
    for repeat in range(args.repeats):
        cache = tempfile.mkdtemp(prefix="jaxpg_bench_cache_", dir=work)
        cold.append(run_cli(work / f"cold{repeat}", cache))
        warm.append(run_cli(work / f"warm{repeat}", cache))
        print(f"cli cold {cold[-1]}\ncli warm {warm[-1]}", flush=True)
        # The same command compiled for speed of the programs (the default beyond 1M steps).
        cache = tempfile.mkdtemp(prefix="jaxpg_bench_cache_", dir=work)
        extra = ("--env", "CartPole-v1", "--compile", "optimized")
        for name in ("cold", "warm"):
            optimized[name].append(run_cli(work / f"optimized_{name}{repeat}", cache, extra))
        print(f"cli optimized {optimized['cold'][-1]} {optimized['warm'][-1]}", flush=True)
        if args.compare_with:  # the other checkout's CLI, its own cache
            cache = tempfile.mkdtemp(prefix="jaxpg_bench_cache_", dir=work)
            for name in ("cold", "warm"):
                out = work / f"compared_{name}{repeat}"
                compared[name].append(run_cli(out, cache, tree=args.compare_with))
            print(f"compared cli {compared['cold'][-1]} {compared['warm'][-1]}", flush=True)
        if peer:
            sb3.append(run_sb3(args, repeat))
            print(f"sb3 {sb3[-1]}", flush=True)
    brax = {}
    if args.brax:  # the persistent cache on a Brax program: the compile a user waits for
        cache = tempfile.mkdtemp(prefix="jaxpg_bench_cache_", dir=work)
        extra = ("--env", "brax:hopper", "--total-timesteps", "20480", "--eval-episodes", "2")
        brax = {name: run_cli(work / f"brax_{name}", cache, extra) for name in ("cold", "warm")}
        print(f"cli brax {brax}", flush=True)
    return {
        "cold": cold,
        "warm": warm,
        "optimized": optimized,
        "sb3": sb3,
        "brax": brax,
        "compared": compared,
    }


def measure_evaluate() -> dict[str, Any]:
    _, out, err = wall([PYTHON, "-c", EVALUATE_PROBE])
    return last_json(out) if out.strip() else {"error": err[-1500:]}


#: When the Ctrl-C probes press: what must exist first, then how long after it.
CTRL_C_MOMENTS = {
    "tracing": ("config.json", 0.3),  # tracing and lowering the programs
    "compile": ("config.json", 3.0),  # XLA compiling them in threads
    "train": ("checkpoint.msgpack", 2.0),  # a 1,000-iteration chunk in flight
}


def ctrl_c(work: Path, during: str) -> dict[str, Any]:
    """SIGINT to ``jaxpg train trpo`` at one of `CTRL_C_MOMENTS`: seconds to exit, the exit
    status, and whether a run interrupted before its first checkpoint left its folder."""
    out_dir = work / f"ctrl_c_{during}_{time.time_ns()}"
    command = [*JAXPG, "train", "trpo", "--env", "CartPole-v1", "--out", str(out_dir)]
    command += ["--total-timesteps", "10000000", "--chunk-size", "1000", "--eval-episodes", "0"]
    command += ["--no-progress"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "JAXPG_COMPILE_CACHE": "off"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ready, delay = CTRL_C_MOMENTS[during]
    while not (out_dir / ready).exists():
        time.sleep(0.01)
    time.sleep(delay)
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
        seconds = time.perf_counter() - sent
    except subprocess.TimeoutExpired:  # not stopped: recorded as such
        process.kill()
        process.wait()
        seconds = None
    return {
        "seconds": seconds,
        "returncode": process.returncode,
        "left_folder": out_dir.exists() if during != "train" else None,
    }


def report(machine: dict[str, Any], record: dict[str, Any]) -> str:
    start = record["start"]
    lines = [
        "## Fixed costs: imports, compilation, the CLI's main command, Ctrl-C\n",
        common.section_preamble(machine),
        f"\nMedians of {record['repeats']} fresh processes each (wall-clock). ",
        "Start-up:\n",
        common.markdown_table(
            ("command", "seconds"),
            [(name, f"{start[name]:.2f}") for name in start if name != "importtime_top"],
        ),
        "\n`python -X importtime` of the training API, largest cumulative imports: "
        + ", ".join(f"{name} {seconds:.2f} s" for seconds, name in start["importtime_top"])
        + ".\n",
        "\nCompile, Python API: `jax.jit(make_train(config, env, env_params), "
        "compiler_options=...)` traced, lowered and compiled in a fresh process (default config "
        "or preset; 100k steps on CartPole-v1, 20,480 on Brax), then run once ('run'); variants "
        "alternate, medians:\n",
        common.markdown_table(
            (
                "algorithm",
                "env",
                "code, options",
                "trace",
                "lower",
                "XLA compile",
                "HLO",
                "kernels: all (random numbers, network initialisation, networks, other); loops",
                "run",
            ),
            [
                (
                    r["algorithm"],
                    r["env"],
                    r["variant"],
                    f"{r.get('trace_s', float('nan')):.2f} s",
                    f"{r.get('lower_s', float('nan')):.2f} s",
                    f"{r.get('compile_s', float('nan')):.1f} s",
                    f"{r.get('hlo_instructions', 0):,}",
                    _kernels_text(r.get("kernels", {})),
                    f"{r.get('run_s', float('nan')):.2f} s",
                )
                for r in record["compiles"]
            ],
        ),
        _compile_ratios(record),
        "\nKernels: the fusions and unfused instructions XLA:CPU compiles one by one (about 10 "
        "ms each here), counted in the optimised HLO (`kernel_counts`) and sorted by the JAX "
        "name stack of each: random numbers (each threefry hash is a rolled loop of its own on "
        "CPU), the networks' passes, the networks' initialisation (orthogonal: QR), and the "
        "rest (environment steps, advantages, the optimiser, the trust-region step's vector "
        "arithmetic and checks, bookkeeping).\n",
    ]
    end = record["end_to_end"]
    rows = []
    variants = [("jaxpg", end)]
    if any(end.get("optimized", {}).values()):
        variants.append(("jaxpg --compile optimized", end["optimized"]))
    if any(end.get("compared", {}).values()):
        variants.append((f"jaxpg, {record['compared_name']}", end["compared"]))
    for label, runs_by_cache in variants:
        for name in ("cold", "warm"):
            runs = [r for r in runs_by_cache[name] if r["ok"]]
            if runs:
                rows.append(
                    (
                        f"{label}, {name} cache",
                        f"{statistics.median(r['process_s'] for r in runs):.1f} s",
                        _median_text(runs, "compile_s", "{:.1f} s"),
                        _median_text(runs, "train_s", "{:.1f} s"),
                        _median_text(runs, "eval_s", "{:.2f} s"),
                    )
                )
    sb3 = [r for r in end["sb3"] if "error" not in r]
    if sb3:
        rows.append(
            (
                "sb3-contrib TRPO (RL-Zoo)",
                f"{statistics.median(r['process_s'] for r in sb3):.1f} s",
                "-",
                f"{statistics.median(r['learn_s'] for r in sb3):.1f} s (learn)",
                "-",
            )
        )
    lines += [
        "\n`jaxpg train trpo --env CartPole-v1 --no-progress` (100k steps: `--compile auto` "
        "compiles fast), whole process, "
        "alternating with sb3-contrib's TRPO (RL-Zoo CartPole-v1 settings, 100k steps, whole "
        "process). Cold: an empty cache directory; warm: the same command again with the "
        "cache the cold run filled (JAX's compiled programs and, where the code has them, "
        "jaxpg's stored traced programs):\n",
        common.markdown_table(("run", "process", "compile", "train", "eval"), rows),
    ]
    if sb3 and rows:
        peer = statistics.median(r["process_s"] for r in sb3)
        ratios = []
        for name in ("cold", "warm"):
            runs = [r for r in end[name] if r["ok"]]
            if runs:
                ratios.append(
                    f"{name} {peer / statistics.median(r['process_s'] for r in runs):.1f}x"
                )
        lines.append("\nsb3-contrib's process time over jaxpg's: " + ", ".join(ratios) + ".\n")
    if end.get("brax"):
        cold, warm = end["brax"]["cold"], end["brax"]["warm"]
        lines.append(
            "\n`jaxpg train trpo --env brax:hopper --total-timesteps 20480 --eval-episodes 2` "
            "(the preset, positional pipeline), one run each: "
            f"cold cache {cold['process_s']:.0f} s "
            f"(compile {cold['compile_s']:.0f} s), warm cache {warm['process_s']:.0f} s "
            f"(compile {warm['compile_s']:.1f} s).\n"
        )
    evaluation = record["evaluate"]
    if "first_s" in evaluation:
        lines.append(
            f"\n`jaxpg.evaluate` (TRPO's default network, CartPole-v1, 10 episodes): first call "
            f"{evaluation['first_s']:.2f} s (compiles), later calls median "
            f"{statistics.median(evaluation['later_s']) * 1000:.0f} ms.\n"
        )
    presses = record.get("ctrl_c")
    if not presses:
        return "".join(lines)
    rows = []
    for during, runs in presses.items():
        times = [r["seconds"] for r in runs if r["seconds"] is not None]
        ready, delay = CTRL_C_MOMENTS[during]
        rows.append(
            (
                f"{during} ({delay:g} s after {ready} appeared)",
                ", ".join(
                    "not stopped" if r["seconds"] is None else f"{r['seconds']:.2f}" for r in runs
                ),
                f"{max(times):.2f} s" if times else "-",
                ", ".join(str(r["returncode"]) for r in runs),
                "-"
                if during == "train"
                else ", ".join("kept" if r["left_folder"] else "removed" for r in runs),
            )
        )
    lines += [
        "\nCtrl-C (SIGINT) during `jaxpg train trpo --env CartPole-v1 --total-timesteps "
        "10000000 --chunk-size 1000` (no cache), seconds from the signal to the exit of the "
        "process:\n",
        common.markdown_table(
            ("pressed while", "seconds, each run", "slowest", "exit status", "run folder"), rows
        ),
    ]
    return "".join(lines)


def _compile_ratios(record: dict[str, Any]) -> str:
    """One line: XLA compile time of ``--compare-with`` over this tree's, per algorithm and
    options (medians of the same run)."""
    parts = []
    for algorithm in ("trpo", "ppo"):
        rows = [
            r
            for r in record["compiles"]
            if r["algorithm"] == algorithm and r["env"] == "CartPole-v1" and "compile_s" in r
        ]
        base = [r for r in rows if r["variant"].startswith(record["compared_name"])]
        if not base:
            continue
        ratios = [
            f"{r['variant'].removeprefix('this tree').lstrip(', ') or 'COMPILER_OPTIONS'} "
            f"{base[0]['compile_s'] / r['compile_s']:.2f}x"
            for r in rows
            if r["variant"].startswith("this tree")
        ]
        parts.append(f"{algorithm.upper()}: " + ", ".join(ratios))
    if not parts:
        return ""
    return (
        f"\nXLA compile time, {record['compared_name']} over this tree (medians): "
        + "; ".join(parts)
        + ".\n"
    )


def _kernels_text(kernels: dict[str, int]) -> str:
    if not kernels:
        return "-"
    parts = [kernels.get(kind, 0) for kind, _ in KERNEL_KINDS] + [kernels.get("other", 0)]
    return f"{sum(parts)} ({', '.join(map(str, parts))}); {kernels.get('while loops', 0)}"


def _median_text(runs: list[dict[str, Any]], field: str, form: str) -> str:
    values = [run[field] for run in runs if run.get(field) is not None]
    return form.format(statistics.median(values)) if values else "-"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--brax", action="store_true", help="also compile TRPO on brax:hopper")
    parser.add_argument("--peer-python", default=DEFAULT_PEER_PYTHON)
    parser.add_argument(
        "--compare-with",
        type=Path,
        help="another checkout's root (e.g. `git worktree add /tmp/old <commit>`): its compile "
        "times and its CLI's beside this tree's",
    )
    parser.add_argument(
        "--compare-with-name", default="previous main", help="its name in the table"
    )
    parser.add_argument("--no-sb3", action="store_true")
    parser.add_argument("--ctrl-c-repeats", type=int, default=5, help="presses per moment")
    parser.add_argument("--quick", action="store_true", help="1 repeat, no sb3, prints only")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", help="also write the record to this JSON file")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.no_sb3 = 1, True
    return args


def main() -> None:
    args = parse_args()
    machine = common.machine_description()
    record: dict[str, Any] = {
        "repeats": args.repeats,
        "command": common.command_line(),
        "compared_name": args.compare_with_name,
    }
    with tempfile.TemporaryDirectory(prefix="jaxpg_fixed_costs_") as directory:
        work = Path(directory)
        record["start"] = measure_start(max(args.repeats, 5))
        print(f"start {record['start']}", flush=True)
        record["end_to_end"] = measure_end_to_end(args, work)
        record["compiles"] = measure_compiles(args)
        record["evaluate"] = measure_evaluate()
        print(f"evaluate {record['evaluate']}", flush=True)
        record["ctrl_c"] = {
            during: [ctrl_c(work, during) for _ in range(args.ctrl_c_repeats)]
            for during in CTRL_C_MOMENTS
        }
        print(f"ctrl-c {record['ctrl_c']}", flush=True)
    text = report(machine, record)
    print("\n" + text)
    if not (args.quick or args.no_write):
        common.write_section("fixed_costs", text)
        print(f"wrote the 'fixed_costs' section of {common.RESULTS_PATH}")
    common.write_json(args.json, {"machine": machine, **record})


if __name__ == "__main__":
    main()
