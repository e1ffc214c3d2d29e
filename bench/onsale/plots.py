"""PNG plots of an on-sale over time (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def draw(report: dict[str, Any], out: Path) -> None:
    tl = report["timeline"]
    open_at = tl["open_at"]
    per = tl["per_second"]
    secs = list(range(len(per["hold_201"])))
    samples = tl["samples"]
    t = [s[0] - open_at for s in samples]
    faults = [(x["fault"], x["at_s"]) for x in report["chaos"]]

    def finish(ax: Any, title: str, ylabel: str, name: str) -> None:
        for label, at in faults:
            ax.axvline(at, color="red", linestyle=":", linewidth=1)
            ax.annotate(label, (at, ax.get_ylim()[1] * 0.95), fontsize=7, color="red", rotation=90)
        ax.set_title(title)
        ax.set_xlabel("seconds after the opening")
        ax.set_ylabel(ylabel)
        ax.legend(loc="best", fontsize=8)
        ax.figure.tight_layout()
        ax.figure.savefig(out / name, dpi=90)
        plt.close(ax.figure)

    _, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(secs, per["hold_201"], label="holds 201")
    ax.plot(secs, per["hold_409"], label="holds 409 (taken)")
    ax.plot(secs, per["hold_other"], label="holds other")
    ax.plot(secs, per["bought"], label="purchases SUCCEEDED")
    finish(ax, "Throughput by outcome", "per second", "throughput.png")

    _, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(secs, per["hold_p50_ms"], label="hold p50")
    ax.plot(secs, per["hold_p99_ms"], label="hold p99")
    ax.axhline(50, color="grey", linestyle="--", linewidth=1, label="SPEC p99 target")
    finish(ax, "Successful-hold latency", "ms", "latency.png")

    _, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(t, [s[1] for s in samples], label="available")
    ax.plot(t, [s[2] for s in samples], label="held")
    ax.plot(t, [s[3] for s in samples], label="sold")
    finish(ax, "Seats", "seats", "seats.png")

    _, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(t, [s[4] for s in samples], label="in the queue")
    ax.plot(t, [s[5] for s in samples], label="admitted, shopping")
    ax.plot(t, [s[6] for s in samples], label="admitted so far")
    finish(ax, "Waiting room", "buyers", "queue.png")
