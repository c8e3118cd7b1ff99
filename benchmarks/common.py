"""Shared helpers of the benchmark scripts: timing, the machine's description, RESULTS.md.

Timing, one way for every script (peer baselines included):

* `timed` is the stopwatch: wall-clock (`time.perf_counter`) and process CPU seconds of one
  call. It imports nothing, so the PyTorch and sb3 peers use it too.
* `compile_and_time` measures a JAX function: ``jax.jit(fn).lower(*args).compile()`` timed
  apart (tracing, lowering, XLA compilation), then a first run and ``repeats`` further runs of
  the compiled function, each waited for with `jax.block_until_ready`; the steady state is
  the median of the further runs. Every run's arguments are built, and made ready, before
  anything is timed (``fresh_args`` gives each run a fresh key or state). The benchmarked
  function returns what it computed (or sums of it), so XLA cannot delete the work as dead
  code.
* `compile_ahead` and `run_compiled` are its two halves, for a script that calls one
  compiled function with several settings (`benchmarks.bench_envs` calibrates its run length
  with them).

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


class Elapsed(NamedTuple):
    """Seconds one call took.

    Attributes:
        seconds: wall-clock (`time.perf_counter`).
        cpu_seconds: CPU time of this process, all threads (`time.process_time`).
    """

    seconds: float
    cpu_seconds: float


def timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Elapsed, Any]:
    """Runs ``call(*args, **kwargs)`` once; its `Elapsed` and its output.

    The call must wait for its own work: wrap JAX calls in `jax.block_until_ready` (as
    `run_compiled` does), or the clock stops at dispatch.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    output = call(*args, **kwargs)
    return Elapsed(time.perf_counter() - start, time.process_time() - cpu_start), output


class Timing(NamedTuple):
    """Wall-clock seconds of one benchmarked JAX function (see `compile_and_time`).

    Attributes:
        compile_s: ``jax.jit(fn).lower(*args).compile()``: tracing, lowering, XLA compilation.
        first_run_s: the first run of the compiled function.
        runs: the steady-state runs that followed, in order (may be empty).
    """

    compile_s: float
    first_run_s: float
    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median steady-state seconds (the first run's when there were no further runs)."""
        return statistics.median(self.runs) if self.runs else self.first_run_s

    def record(self) -> dict[str, Any]:
        """As JSON fields: ``compile_s``, ``first_run_s``, ``runs_s``, ``median_s``."""
        return {
            "compile_s": self.compile_s,
            "first_run_s": self.first_run_s,
            "runs_s": list(self.runs),
            "median_s": self.median,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Timing:
        """The inverse of `record`."""
        return cls(record["compile_s"], record["first_run_s"], tuple(record["runs_s"]))


def compile_ahead(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``jax.jit(fn).lower(*args).compile()`` and the seconds it took.

    Returns:
        ``(compiled, compile_s)``; call ``compiled`` with arguments of the same shapes and
        types as ``args``.
    """
    import jax

    elapsed, compiled = timed(lambda: jax.jit(fn).lower(*args).compile())
    return compiled, elapsed.seconds


def run_compiled(compiled: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Wall-clock seconds of ``compiled(*args)``, waited for, and its output."""
    import jax

    elapsed, output = timed(lambda: jax.block_until_ready(compiled(*args)))
    return elapsed.seconds, output


def compile_and_time(
    fn: Callable[..., Any],
    *args: Any,
    repeats: int,
    fresh_args: Callable[[int], tuple] | None = None,
) -> tuple[Timing, list[Any]]:
    """Compiles ``fn`` ahead of time, then times a first run and ``repeats`` more.

    Args:
        fn: the function to benchmark (not yet jitted; ``jax.vmap(train)`` is fine). Its
            outputs should depend on all the work, so that none is dead code.
        *args: arguments of the compilation and of the first run.
        repeats: steady-state runs after the first (>= 0).
        fresh_args: ``index -> args`` of steady-state run ``index`` (1 ... ``repeats``), e.g.
            a fresh key; None: every run gets ``args``.

    Returns:
        ``(timing, outputs)``: the `Timing`, and the output of every run, the first run's
        first.
    """
    import jax

    arguments = [args] + [
        args if fresh_args is None else tuple(fresh_args(index)) for index in range(1, repeats + 1)
    ]
    arguments = jax.block_until_ready(arguments)
    compiled, compile_s = compile_ahead(fn, *args)
    seconds, outputs = [], []
    for call_args in arguments:
        run_s, output = run_compiled(compiled, *call_args)
        seconds.append(run_s)
        outputs.append(output)
    return Timing(compile_s, seconds[0], tuple(seconds[1:])), outputs


def time_on_keys(
    fn: Callable[[Any], Any], make_key: Callable[[int], Any], repeats: int
) -> tuple[dict[str, Any], Any]:
    """`compile_and_time` of ``fn(key)`` on keys ``make_key(0)`` (compilation and first run),
    ``make_key(1)``, ... ``make_key(repeats)``; how a whole training run is timed on both sides
    of a JAX-against-JAX comparison.

    Returns:
        ``(record, last_output)``: `Timing.record` with ``load_average_1min`` (after the runs),
        and the output of the last run.
    """
    timing, outputs = compile_and_time(
        fn, make_key(0), repeats=repeats, fresh_args=lambda index: (make_key(index),)
    )
    return {**timing.record(), "load_average_1min": os.getloadavg()[0]}, outputs[-1]


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
        "ml_dtypes": _version("ml_dtypes"),
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
        f"gymnasium {machine['gymnasium']}, numpy {machine['numpy']}, "
        f"ml_dtypes {machine.get('ml_dtypes', 'not recorded')}; XLA_FLAGS {flags}."
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
    try:
        elapsed, completed = timed(
            subprocess.run,
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd=REPOSITORY,
            timeout=timeout,
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
    record["process_wall_s"] = elapsed.seconds
    return record
