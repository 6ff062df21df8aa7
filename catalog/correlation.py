"""What changed before it went red: changes near an item in the window before its transition."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from catalog.models import ConfigChange, ConfigItem
from catalog.walk import MAX_DEPTH, walk

HEALTH_SOURCE = "flightdeck/health"
BAD_TRANSITIONS = ("Unhealthy", "Warning")
WINDOW = timedelta(minutes=30)
SOFT_DEPTH = 2
MAX_CHANGES = 100
MAX_RELATED = 500  # per part of the neighbourhood: ancestors, children, soft relations


@dataclass
class CorrelatedChange:
    change: ConfigChange
    distance: int  # 0 is the item itself, 1 a parent, child or direct relation...
    before: timedelta  # how long before the transition it happened

    @property
    def minutes_before(self) -> int:
        return int(self.before.total_seconds() // 60)


@dataclass
class Correlation:
    transition: ConfigChange | None
    window_start: datetime | None = None
    changes: list[CorrelatedChange] = field(default_factory=list)
    related_count: int = 0


def related_distances(user: Any, item: ConfigItem) -> dict[str, int]:
    """Ancestors, children and soft relations up to two hops, each with its hop count.

    Every part is a walk, so a hidden parent neither counts nor leads to the ones above it.
    """
    distances: dict[str, int] = {str(item.pk): 0}
    for direction, depth, kind in (("incoming", MAX_DEPTH, "hard"), ("outgoing", 1, "hard"),
                                   ("both", SOFT_DEPTH, "soft")):
        reach = walk([item.pk], user=user, direction=direction, depth=depth,
                     max_rows=MAX_RELATED, kind=kind)
        for key, hops in reach.hops.items():
            distances[key] = min(hops, distances.get(key, hops))
    return distances


def changes_before_unhealthy(user: Any, item: ConfigItem, window: timedelta = WINDOW,
                             limit: int = MAX_CHANGES) -> Correlation:
    """The answer to "what changed?" is usually one hop away and a few minutes earlier."""
    transition = (
        ConfigChange.objects.filter(config=item, source=HEALTH_SOURCE,
                                    change_type__in=BAD_TRANSITIONS)
        .order_by("-created_at").first()
    )
    if transition is None:
        return Correlation(transition=None)
    end = transition.created_at
    start = end - window
    distances = related_distances(user, item)
    rows = (
        ConfigChange.objects.for_user(user)
        .filter(config_id__in=list(distances), created_at__gte=start, created_at__lte=end)
        .exclude(pk=transition.pk)
        .select_related("config")
        .order_by("-created_at", "id")[:limit]
    )
    changes = [
        CorrelatedChange(change=row, distance=distances.get(str(row.config_id), 0),
                         before=end - row.created_at)
        for row in rows
    ]
    return Correlation(transition=transition, window_start=start, changes=changes,
                       related_count=len(distances) - 1)
