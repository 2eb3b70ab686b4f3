"""PNG charts for reports (matplotlib, drawn off-screen)."""

from __future__ import annotations

from pathlib import Path

from locator.usage import HOURS_PER_WEEK, Utilization

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def utilization_chart(rows: list[Utilization], path: Path, *, title: str) -> Path:
    """Mean occupancy rate and share of time full per hour of the week, over all stations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    occupied = [0.0] * HOURS_PER_WEEK
    places = [0.0] * HOURS_PER_WEEK
    full = [0.0] * HOURS_PER_WEEK
    observed = [0.0] * HOURS_PER_WEEK
    for row in rows:
        for slot in row.profile:
            if slot.mean_occupied is None or not row.maximum:
                continue
            occupied[slot.hour_of_week] += slot.mean_occupied * slot.observed_h
            places[slot.hour_of_week] += row.maximum * slot.observed_h
            full[slot.hour_of_week] += (slot.share_full or 0) * slot.observed_h
            observed[slot.hour_of_week] += slot.observed_h
    rate = [o / p if p else 0.0 for o, p in zip(occupied, places, strict=True)]
    share_full = [f / h if h else 0.0 for f, h in zip(full, observed, strict=True)]
    figure, axes = plt.subplots(figsize=(12, 4), dpi=100)
    hours = range(HOURS_PER_WEEK)
    axes.plot(hours, rate, label="places in use (share)", color="#c0392b")
    axes.plot(hours, share_full, label="time full (share)", color="#2c3e50", linestyle="--")
    axes.set_xticks(range(0, HOURS_PER_WEEK, 24), DAYS)
    axes.set_xlim(0, HOURS_PER_WEEK - 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("hour of the week (Beijing time)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    axes.set_title(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def coverage_curve_chart(
    *,
    covered_before: float,
    running_totals: list[float | None],
    adds: list[float | None],
    beyond: list[float | None],
    adds_beyond: list[float | None],
    demand_total: float,
    path: Path,
    title: str,
) -> Path:
    """Workers covered against the number of new stations, with each station's gain as bars.

    The solid line is the plan; the dashed line is what further stations (chosen greedily)
    would add, so the flattening shows where extra stations stop paying. Figures hidden for
    privacy (None) are left out: the lines join the totals shown, and hidden gains get no bar.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    share = 100.0 / demand_total if demand_total else 0.0
    n = len(running_totals)

    def shown(values: list[float | None], first_x: int) -> tuple[list[int], list[float]]:
        points = [(first_x + i, v) for i, v in enumerate(values) if v is not None]
        return [x for x, _ in points], [v for _, v in points]

    figure, axes = plt.subplots(figsize=(10, 5), dpi=100)
    x, totals = shown([covered_before, *running_totals], 0)
    axes.plot(x, [t * share for t in totals], marker="o", color="#c0392b", label="the plan")
    if beyond:
        x_beyond, totals_beyond = shown([running_totals[-1] if n else covered_before, *beyond], n)
        axes.plot(
            x_beyond,
            [t * share for t in totals_beyond],
            linestyle="--",
            color="#7f8c8d",
            label="further stations (greedy)",
        )
    axes.set_xlabel("new stations")
    axes.set_ylabel("workers covered (% of all)")
    axes.grid(alpha=0.3)
    bars = axes.twinx()
    bars.bar(*shown(adds, 1), color="#e67e22", alpha=0.35, label="workers each adds")
    if adds_beyond:
        bars.bar(*shown(adds_beyond, n + 1), color="#95a5a6", alpha=0.35)
    bars.set_ylabel("workers each new station adds")
    lines, labels = axes.get_legend_handles_labels()
    bar_lines, bar_labels = bars.get_legend_handles_labels()
    axes.legend(lines + bar_lines, labels + bar_labels, loc="center right")
    axes.set_title(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
