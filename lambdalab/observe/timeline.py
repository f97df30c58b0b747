"""A matplotlib timeline of the journal: a lane per execution environment, coloured by outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lambdalab.observe.outcome import Outcome

if TYPE_CHECKING:
    from lambdalab.observe.journal import Invocation

COLOURS = {Outcome.SUCCESS: "tab:green", Outcome.ERROR: "tab:orange", Outcome.THROTTLED: "tab:red"}
MIN_WIDTH_S = 0.02  # so a 1 ms invocation is still visible...
MIN_WIDTH_SHARE = 0.004  # ...even on an axis of minutes or hours (retries 1 and 2 minutes apart)


def plot_timeline(items: Sequence[Invocation], origin: float, ax: Any = None, title: str | None = None) -> Any:
    import matplotlib.pyplot as plt  # lazy: ~0.3 s, and only a plot needs it

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 1.3 + 0.4 * max(1, len({i.env_id for i in items}))))
    lanes: dict[str, int] = {}
    span = max((i.end - origin for i in items), default=0.0) - min((i.start - origin for i in items), default=0.0)
    min_width = max(MIN_WIDTH_S, span * MIN_WIDTH_SHARE)
    for item in items:
        lane_name = item.env_id or "throttled"
        lane = lanes.setdefault(lane_name, len(lanes))
        start = item.start - origin
        width = max(item.end - item.start, min_width)
        ax.broken_barh([(start, width)], (lane - 0.4, 0.8), color=COLOURS.get(item.outcome, "grey"))
        if item.attempt > 1 and item.outcome != Outcome.THROTTLED:  # a retry: say which attempt it is
            ax.annotate(f"#{item.attempt}", (start + width, lane), xytext=(2, 0), textcoords="offset points",
                        fontsize="x-small", va="center")
        if item.cold:
            ax.plot(start, lane, marker="|", color="black", markersize=14, markeredgewidth=2)
    ax.set_yticks(range(len(lanes)), list(lanes))
    ax.set_xlabel("seconds since start (virtual)")
    ax.set_ylabel("execution environment")
    handles: list[Any] = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    handles.append(plt.Line2D([], [], marker="|", color="black", linestyle="", markersize=10, markeredgewidth=2))
    ax.legend(handles, [*COLOURS, "cold start"], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    if title:
        ax.set_title(title)
    ax.invert_yaxis()
    ax.figure.tight_layout()
    return ax
