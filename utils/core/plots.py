"""The house style for figures, and saving them to reports/figures/<notebook>/."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from utils.core import config
from utils.core.recorder import active_run, set_key_figure

PALETTE = ["#8c2d5a", "#2d6a8c", "#d08c3a", "#4f8c2d", "#7a5aa6", "#8c8c8c"]


def use_house_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update({"figure.figsize": (8, 4.5), "figure.dpi": 100, "savefig.bbox": "tight",
                         "axes.titleweight": "bold"})


def savefig(fig, name: str, key: bool = False) -> str:
    """Save ``fig`` as reports/figures/<notebook>/<name>.png and return the path; ``key=True``
    makes it the notebook's key figure, shown at readable size beside its headline tables.

    Every figure must have a title and labelled axes; a missing label is an error here rather
    than an unreadable plot in the report.
    """
    for ax in fig.get_axes():
        if not ax.axison or ax.get_label() == "<colorbar>":
            continue
        if not (ax.get_title() or fig.get_suptitle()):
            raise ValueError(f"figure {name!r}: an axis has no title; set one before saving")
        if not ax.get_xlabel() or not ax.get_ylabel():
            raise ValueError(f"figure {name!r}: label both axes (with units) before saving")
    folder = config.reports_dir("figures") / active_run().notebook
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=110)
    if key:
        set_key_figure(name)
    return str(path)
