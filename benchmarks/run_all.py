"""Runs every benchmark script in sequence, each as its own process, with its normal arguments.

Each script writes its own section of ``benchmarks/RESULTS.md`` (and its figures under
``benchmarks/figures/``); this driver only runs them one after another, so that no two compete
for the cores, forwards ``--quick`` (smoke runs: nothing written) and ``--no-write``, and prints
each script's wall-clock and exit status. A script that fails does not stop the others; the exit
status is non-zero if any failed. A full run (not ``--quick``, not ``--no-write``) also writes
the "suite" section of RESULTS.md: the scripts, their wall-clock and status.

The scripts, in order (``--only`` / ``--skip`` take these names):

=================  ===========================================================================
envs               environment throughput, jaxpg / gymnax / gymnasium numpy
seeds              the seed notebooks' loops against PyTorch re-creations, VPG curves
trpo               TRPO against sb3-contrib (throughput, time to 475, compile); the longest
lunarlander        TRPO on gymnasium LunarLander-v3 through the host bridge (when present)
ppo_rejax          PPO against rejax, identical hyperparameters
scaling            seeds in one vmapped call (1/8/64), TRPO iteration vs num_envs
curves             learning curves of every algorithm, 10 seeds
brax               TRPO against Brax's PPO on brax:hopper, 1M steps, 3 seeds (the [brax] extra)
=================  ===========================================================================

Run from the repository root::

    python -m benchmarks.run_all                  # everything, full settings
    python -m benchmarks.run_all --quick          # smoke run of everything, nothing written
    python -m benchmarks.run_all --skip trpo lunarlander   # leave out the long ones
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from benchmarks import common

SCRIPTS = ("envs", "seeds", "trpo", "lunarlander", "ppo_rejax", "scaling", "curves", "brax")


def script_path(name: str) -> Path:
    """``benchmarks/bench_<name>.py``."""
    return common.BENCHMARKS_DIR / f"bench_{name}.py"


def run_script(name: str, args: argparse.Namespace) -> tuple[int, float, list[str]]:
    """Runs ``python -m benchmarks.bench_<name>``; returns exit status, seconds, command."""
    command = [sys.executable, "-m", f"benchmarks.bench_{name}"]
    if args.quick:
        command.append("--quick")
    if args.no_write:
        command.append("--no-write")
    if args.json_dir:
        args.json_dir.mkdir(parents=True, exist_ok=True)
        command += ["--json", str(args.json_dir / f"{name}.json")]
    print(f"\n=== {name}: {' '.join(command[1:])} (load {common.load_average()})", flush=True)
    elapsed, completed = common.timed(
        subprocess.run, command, cwd=common.BENCHMARKS_DIR.parent, check=False
    )
    return completed.returncode, elapsed.seconds, command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke runs, nothing written")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="run only these")
    parser.add_argument("--skip", nargs="+", default=[], choices=SCRIPTS, help="leave these out")
    parser.add_argument("--json-dir", type=Path, help="each script's --json goes here")
    args = parser.parse_args()

    selected = [name for name in (args.only or SCRIPTS) if name not in args.skip]
    outcomes = []
    for name in selected:
        if not script_path(name).exists():
            print(f"\n=== {name}: {script_path(name).name} not present, skipped", flush=True)
            outcomes.append((name, "not present", 0.0, ""))
            continue
        status, seconds, command = run_script(name, args)
        outcomes.append((name, "ok" if status == 0 else f"exit {status}", seconds, command))
    total = sum(seconds for _, _, seconds, _ in outcomes)

    rows = [
        [
            name,
            outcome,
            f"{seconds:.0f} s",
            f"`python {' '.join(command[1:])}`" if command else "-",
        ]
        for name, outcome, seconds, command in outcomes
    ]
    table = common.markdown_table(("script", "status", "wall-clock", "command"), rows)
    print(f"\n{table}\ntotal {total:.0f} s")
    if not (args.quick or args.no_write or args.only or args.skip):
        machine = common.machine_description()
        common.write_section(
            "suite",
            "## The whole suite\n\n"
            + common.section_preamble(machine)
            + "\nEvery script ran in its own process, one after another. No GPU was "
            "available to this session, so the suite ran on the CPU above only.\n\n"
            + table
            + f"\nTotal {total / 60:.1f} min.\n",
        )
    sys.exit(0 if all(outcome in ("ok", "not present") for _, outcome, _, _ in outcomes) else 1)


if __name__ == "__main__":
    main()
