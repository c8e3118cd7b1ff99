"""Learning curves over seeds: the mean, a standard-deviation band and the min-max range.

Uses matplotlib's object-oriented API with the Agg canvas, so no display is needed and the
global pyplot backend of the caller (a notebook, say) is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Metric panels drawn by default when present: seed 001's two curves (return and loss).
DEFAULT_PANELS = ("episode_return", "policy_loss")


def plot_learning_curve(
    metrics: dict[str, Any],
    path: str | os.PathLike,
    panels: Sequence[str] = DEFAULT_PANELS,
    title: str | None = None,
) -> None:
    """Plots metrics per iteration against environment steps and saves the figure.

    Args:
        metrics: metric name to array ``[num_seeds, num_iterations]`` (or ``[num_iterations]``);
            must hold ``env_steps``.
        path: the image file (``.png``; the format follows the extension).
        panels: metric names, one panel each; missing ones are skipped.
        title: the figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if "env_steps" not in metrics:
        raise ValueError("metrics must include 'env_steps' (the x axis)")
    arrays = {name: np.atleast_2d(np.asarray(value, dtype=np.float64))
              for name, value in metrics.items()}
    names = [name for name in panels if name in arrays] or [
        name for name in arrays if name != "env_steps"
    ][:1]
    steps = arrays["env_steps"].mean(axis=0)
    figure = Figure(figsize=(5.0 * max(len(names), 1), 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    for index, name in enumerate(names):
        axes = figure.add_subplot(1, len(names), index + 1)
        values = arrays[name]
        mean, std = values.mean(axis=0), values.std(axis=0)
        num_seeds = values.shape[0]
        if num_seeds > 1:
            axes.fill_between(steps, values.min(axis=0), values.max(axis=0), alpha=0.15,
                              color="C0", linewidth=0, label="min-max")
            axes.fill_between(steps, mean - std, mean + std, alpha=0.3, color="C0",
                              linewidth=0, label="± std")
        axes.plot(steps, mean, color="C0",
                  label=f"mean of {num_seeds} seeds" if num_seeds > 1 else "seed")
        axes.set_xlabel("environment steps")
        axes.set_ylabel(name.replace("_", " "))
        axes.grid(alpha=0.3)
        if num_seeds > 1:
            axes.legend(loc="best", fontsize="small")
    if title:
        figure.suptitle(title)
    figure.savefig(os.fspath(path), dpi=100)
