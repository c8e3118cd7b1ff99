"""``--sweep``: a grid of traced config fields, parsed and validated before anything is traced,
and its results table (`sweep_results`, `format_sweep_table`, `write_sweep_csv`)."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Sequence
from typing import Any

from jaxpg.cli.options import CLIError, algorithm_entry, build_config, parse_value

#: Short names ``--sweep`` accepts: each stands for the first of its fields the config has.
SWEEP_ALIASES: dict[str, tuple[str, ...]] = {
    "lr": ("learning_rate",),
    "value_lr": ("value_learning_rate",),
    "vf_lr": ("value_learning_rate",),
    "lambda": ("gae_lambda",),
    "lam": ("gae_lambda",),
    "alpha": ("entropy_alpha",),
    "ent_coef": ("ent_coef", "entropy_coef"),
    "entropy_coef": ("entropy_coef", "ent_coef"),
    "kl": ("max_kl",),
    "clip": ("clip_eps",),
}


def sweepable_fields(algorithm: str) -> list[str]:
    """The traced (float) config fields of a CLI algorithm: those ``--sweep`` accepts."""
    config_class, _ = algorithm_entry(algorithm)
    return [
        field.name
        for field in dataclasses.fields(config_class)
        if field.metadata.get("pytree_node", True)
    ]


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A grid of traced config values: the cartesian product of each field's values.

    Attributes:
        fields: config field names, in ``--sweep`` order.
        points: the grid points, one value per field; the last field varies fastest.
    """

    fields: tuple[str, ...]
    points: tuple[tuple[float, ...], ...]

    def values(self, index: int) -> dict[str, float]:
        """Grid point ``index`` as ``{field: value}``."""
        return dict(zip(self.fields, self.points[index], strict=True))

    def label(self, index: int) -> str:
        """Grid point ``index`` as ``field=value, ...``."""
        return ", ".join(f"{name}={value:g}" for name, value in self.values(index).items())

    def member_values(self, num_seeds: int) -> dict[str, Any]:
        """``{field: float32 [num_points * num_seeds]}``: member ``g * num_seeds + k`` is grid
        point ``g`` with the ``k``-th seed."""
        import numpy as np

        return {
            name: np.repeat(np.asarray([point[i] for point in self.points], np.float32), num_seeds)
            for i, name in enumerate(self.fields)
        }

    def options(self) -> list[str]:
        """The grid as ``--sweep`` options, ``FIELD=V1,V2,...`` per field."""
        options = []
        for index, name in enumerate(self.fields):
            values = dict.fromkeys(point[index] for point in self.points)  # in grid order
            options.append(f"{name}={','.join(f'{value:g}' for value in values)}")
        return options

    def to_dict(self) -> dict[str, Any]:
        return {"fields": list(self.fields), "points": [list(point) for point in self.points]}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Sweep:
        return cls(tuple(record["fields"]), tuple(tuple(point) for point in record["points"]))


def _sweep_field(algorithm: str, name: str) -> str:
    """The config field ``--sweep NAME=...`` means: the field itself or an alias's target."""
    config_class, _ = algorithm_entry(algorithm)
    fields = [field.name for field in dataclasses.fields(config_class)]
    sweepable = sweepable_fields(algorithm)
    listing = f"sweepable (traced) fields of {algorithm}: {', '.join(sweepable)}"
    if name not in fields and name in SWEEP_ALIASES:
        matches = [field for field in SWEEP_ALIASES[name] if field in fields]
        if not matches:
            raise CLIError(
                f"--sweep {name}: {name} is short for {' or '.join(SWEEP_ALIASES[name])}, which "
                f"{algorithm} ({config_class.__name__}) does not have; {listing}"
            )
        name = matches[0]
    if name not in fields:
        close = difflib.get_close_matches(name, sweepable, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CLIError(f"--sweep {name}: unknown field for {algorithm}{hint}; {listing}")
    if name not in sweepable:
        raise CLIError(
            f"--sweep {name}: {name} is a static field of {config_class.__name__} (it fixes "
            "shapes or loop lengths, so each value would need its own compiled program); only "
            f"traced fields can be swept in one compile; {listing}"
        )
    return name


def parse_sweeps(
    algorithm: str,
    items: Sequence[str] | None,
    sets: dict[str, Any],
    total_timesteps: int | None = None,
    num_envs: int | None = None,
) -> Sweep | None:
    """The grid of ``--sweep FIELD=V1,V2,...`` options (None without any), every grid point's
    config validated with ``--set`` and the flags (`build_config`).

    Raises:
        CLIError: a malformed option, an unknown or static field (lists the sweepable ones),
            a field given twice or also in ``--set``, a value that is not a number, or a grid
            point whose config is invalid (names the field and value).
    """
    import itertools

    if not items:
        return None
    grid: dict[str, tuple[float, ...]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise CLIError(f"--sweep expects FIELD=V1,V2,...; got {item!r}")
        field = _sweep_field(algorithm, name.strip())
        if field in grid:
            raise CLIError(f"--sweep {field} is given twice; give all its values in one option")
        if field in sets:
            raise CLIError(f"{field} is given twice (--set {field}=... and --sweep {field}=...)")
        parsed = parse_value(text)
        values = parsed if isinstance(parsed, tuple) else (parsed,)
        if not values:
            raise CLIError(f"--sweep {item!r} gives no values; e.g. --sweep {field}=0.1,0.2")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CLIError(
                    f"--sweep {field}: {value!r} is not a number; give numbers such as "
                    f"{field}=0.001,0.003"
                )
        for value in values:  # each value alone first: the clearest message
            try:
                build_config(algorithm, {**sets, field: value}, total_timesteps, num_envs)
            except CLIError as error:
                raise CLIError(f"--sweep {field}={value:g}: {error}") from None
        grid[field] = tuple(float(value) for value in values)
    points = tuple(itertools.product(*grid.values()))
    sweep = Sweep(tuple(grid), points)
    for index in range(len(points)):
        try:
            build_config(algorithm, {**sets, **sweep.values(index)}, total_timesteps, num_envs)
        except CLIError as error:
            raise CLIError(f"--sweep grid point {sweep.label(index)}: {error}") from None
    return sweep


def sweep_results(
    sweep: Sweep, num_seeds: int, final_returns: Any, eval_returns: Any = None
) -> list[dict[str, Any]]:
    """One record per grid point: its values, the final training return (last iteration) and,
    with ``eval_returns``, the evaluation return, each as mean, std, min and max over seeds, and
    ``best`` (the highest eval mean, else the highest final mean; no grid point while no
    episode has finished).

    A final return is NaN for a seed that has finished no episode yet: the statistics are over
    the other seeds, and None where no seed of the grid point has finished one.

    Args:
        sweep: the grid.
        num_seeds: seeds per grid point ``K``.
        final_returns: ``[G * K]``, member ``g * K + k``.
        eval_returns: ``[G * K, episodes]`` or None.
    """
    import numpy as np

    final = np.asarray(final_returns, np.float64).reshape(len(sweep.points), num_seeds)
    per_seed_eval = None
    if eval_returns is not None:
        per_seed_eval = np.asarray(eval_returns, np.float64).mean(axis=-1)
        per_seed_eval = per_seed_eval.reshape(len(sweep.points), num_seeds)
    records = []
    for index in range(len(sweep.points)):
        record: dict[str, Any] = {"grid_point": index, **sweep.values(index)}
        for name, table in (("final_return", final), ("eval_return", per_seed_eval)):
            if table is not None:
                row = table[index][np.isfinite(table[index])]
                for statistic in ("mean", "std", "min", "max"):
                    value = getattr(np, statistic)(row) if row.size else None
                    record[f"{name}_{statistic}"] = None if value is None else float(value)
        records.append(record)
    score = "eval_return_mean" if per_seed_eval is not None else "final_return_mean"

    def ranking(index: int) -> float:
        value = records[index][score]
        return -np.inf if value is None else value

    best = max(range(len(records)), key=ranking)
    if records[best][score] is None:  # no episode has finished anywhere: nothing is best
        best = -1
    for index, record in enumerate(records):
        record["best"] = index == best
    return records


def format_mean_std(mean: float | None, std: float | None) -> str:
    """``mean ± std``, or "n/a" when there is no value (no finished episode)."""
    return "n/a" if mean is None else f"{mean:.4g} ± {std:.3g}"


def format_sweep_table(
    sweep: Sweep, records: list[dict[str, Any]], num_seeds: int, eval_episodes: int = 0
) -> str:
    """A markdown table of `sweep_results`: one row per grid point, mean ± std over seeds."""
    seeds = f"{num_seeds} seed{'s' if num_seeds > 1 else ''}"
    header = ["#", *sweep.fields, f"final return (mean ± std over {seeds})"]
    with_eval = "eval_return_mean" in records[0]
    if with_eval:
        header.append(f"eval return ({eval_episodes} episodes per seed)")
    header.append("best")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in records:
        cells = [str(record["grid_point"])]
        cells += [f"{record[name]:g}" for name in sweep.fields]
        cells.append(format_mean_std(record["final_return_mean"], record["final_return_std"]))
        if with_eval:
            cells.append(format_mean_std(record["eval_return_mean"], record["eval_return_std"]))
        cells.append("best" if record["best"] else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_sweep_csv(path: str, sweep: Sweep, records: list[dict[str, Any]]) -> None:
    """`sweep_results` as CSV: ``grid_point, <fields>, final_return_mean, ..., best``."""
    import csv

    columns = list(records[0])
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for record in records:
            writer.writerow([_format_cell(record[name]) for name in columns])
    os.replace(temporary, path)


def _format_cell(value: Any) -> str:
    if value is None:  # no finished episode
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.7g}"
    return str(value)
