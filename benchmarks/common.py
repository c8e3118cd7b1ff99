"""Shared helpers of the benchmark scripts: timing, the machine's description, RESULTS.md.

Timing conventions, used by every script:

* a jitted function is timed with `jax.block_until_ready` on its output, and the function
  returns sums of what it computed, so XLA cannot delete the work as dead code;
* the first call (trace, compile, run) is timed apart; the reported compile time is that first
  call minus the steady-state median of the same call;
* steady state is the median of ``repeats`` further calls (each with a fresh key where the
  function takes one).

`write_section` replaces one marked section of ``benchmarks/RESULTS.md``
(``<!-- BEGIN name -->`` ... ``<!-- END name -->``), so several scripts share the file.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

BENCHMARKS_DIR = Path(__file__).resolve().parent
RESULTS_PATH = BENCHMARKS_DIR / "RESULTS.md"
REPOSITORY = BENCHMARKS_DIR.parent
FIGURES_DIR = BENCHMARKS_DIR / "figures"

_RESULTS_HEADER = (
    "# jaxpg benchmark results\n\n"
    "Each section is written by the script named in it; rerun that command to refresh it.\n"
)


class Timing(NamedTuple):
    """Wall-clock seconds of one benchmarked call.

    Attributes:
        first: the first call (tracing, compilation and one run).
        runs: the steady-state calls that followed, in order.
    """

    first: float
    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median steady-state seconds."""
        return statistics.median(self.runs)

    @property
    def compile(self) -> float:
        """First call minus the steady-state median: tracing and compilation."""
        return max(self.first - self.median, 0.0)


def time_call(call: Callable[[int], Any], repeats: int) -> Timing:
    """Times ``call(0)`` once, then ``call(1) ... call(repeats)``.

    Args:
        call: runs the benchmarked work once and waits for it (``jax.block_until_ready``);
            its argument is the index of the call, to derive a fresh key from.
        repeats: number of steady-state calls (>= 1).

    Returns:
        The `Timing`.
    """
    start = time.perf_counter()
    call(0)
    first = time.perf_counter() - start
    runs = []
    for index in range(1, repeats + 1):
        start = time.perf_counter()
        call(index)
        runs.append(time.perf_counter() - start)
    return Timing(first, tuple(runs))


def time_jitted(fn: Callable[..., Any], make_args: Callable[[int], tuple], repeats: int) -> Timing:
    """`time_call` for a jitted function: ``fn(*make_args(i))``, blocked until ready.

    The arguments of every call are built (and made ready) before any timing starts.
    """
    import jax

    arguments = [jax.block_until_ready(make_args(index)) for index in range(repeats + 1)]
    return time_call(lambda index: jax.block_until_ready(fn(*arguments[index])), repeats)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or `platform.processor()` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> str:
    """The 1/5/15-minute load averages, to judge how noisy a measurement was."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
        return "not installed"


def machine_description() -> dict[str, Any]:
    """CPU, cores, load, Python and library versions, JAX device and XLA flags."""
    import jax

    device = jax.devices()[0]
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "load_average": load_average(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "gymnax": _version("gymnax"),
        "gymnasium": _version("gymnasium"),
        "numpy": _version("numpy"),
        "device": f"JAX device {device.platform}"
        + ("" if device.device_kind == device.platform else f" ({device.device_kind})"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def machine_markdown(machine: dict[str, Any]) -> str:
    """`machine_description` as one Markdown paragraph."""
    flags = machine["xla_flags"] or "(none)"
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['device']}; "
        f"load average at start {machine['load_average']}. Python {machine['python']}, "
        f"jax {machine['jax']}, jaxlib {machine['jaxlib']}, gymnax {machine['gymnax']}, "
        f"gymnasium {machine['gymnasium']}, numpy {machine['numpy']}; XLA_FLAGS {flags}."
    )


def command_line() -> str:
    """The command that ran this script, as a user would type it from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        module = script.relative_to(BENCHMARKS_DIR.parent).with_suffix("")
        head = f"python -m {'.'.join(module.parts)}"
    except ValueError:
        head = f"python {shlex.quote(sys.argv[0])}"
    return " ".join([head, *map(shlex.quote, sys.argv[1:])])


def today() -> str:
    """The current date and time (UTC), for the record."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def section_preamble(machine: dict[str, Any]) -> str:
    """The reproduce command, date and machine that head every section."""
    return f"Command: `{command_line()}`\n\nDate: {today()}. {machine_markdown(machine)}\n"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_section(name: str, body: str, path: Path = RESULTS_PATH) -> None:
    """Replaces the ``name`` section of ``path`` with ``body`` (appends it when new).

    Args:
        name: section name, as in ``<!-- BEGIN name -->``.
        body: Markdown text of the section (without the markers).
        path: the results file; created with a header when missing.
    """
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else _RESULTS_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text if text.endswith("\n") else text + "\n")


def write_json(path: str | None, record: dict[str, Any]) -> None:
    """Writes ``record`` to ``path`` as JSON when a path is given."""
    if path:
        Path(path).write_text(json.dumps(record, indent=2) + "\n")


def millions(value: float) -> str:
    """``12_345_678 -> '12.3M'`` (three significant figures)."""
    return f"{value / 1e6:.3g}M"


def run_json(command: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Runs ``command`` from the repository root; its last JSON line (or ``{"error": ...}``).

    A command still running after ``timeout`` seconds is killed and reported as an error.
    """
    shown = " ".join(
        str(Path(part).relative_to(REPOSITORY)) if part.startswith(str(REPOSITORY)) else part
        for part in command
    )
    if not Path(command[0]).exists():
        return {
            "error": f"{command[0]} not found (see benchmarks/baselines/README.md)",
            "command": shown,
        }
    start = time.time()
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, check=False, cwd=REPOSITORY, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {
            "error": f"no result after {timeout:.0f} s, killed (hung)",
            "command": shown,
        }
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {completed.returncode}: {' / '.join(tail)}", "command": shown}
    record = json.loads(lines[-1])
    record["command"] = shown
    record["process_wall_s"] = time.time() - start
    return record
