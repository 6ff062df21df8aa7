"""The one walk over the relationship graph: bounded, and blind to what the user cannot see.

Search (`related=`), the graph page, the item's related changes and the correlation panel all
call walk(); later callers (notification inhibitions, playbook targets) do too, usually as the
system (`user=None`). Visibility comes from catalog.access, never from here.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from django.db.models.expressions import RawSQL

from catalog.access import visible_items

Direction = Literal["incoming", "outgoing", "both"]
Kind = Literal["hard", "soft", "both"]
DIRECTIONS: tuple[str, ...] = ("incoming", "outgoing", "both")
KINDS: tuple[str, ...] = ("hard", "soft", "both")
# Ceilings no caller can raise: the work of one walk is at most MAX_DEPTH queries returning
# at most MAX_ROWS rows in all.
MAX_DEPTH = 10
MAX_ROWS = 10_000

# The neighbours of the frontier (`%s` = its ids) per edge family; each is one index lookup
# (relationship_outgoing / relationship_incoming / parent_id / the primary key).
_STEPS = {
    ("soft", "outgoing"): "SELECT related_id FROM catalog_configrelationship "
                          "WHERE config_id = ANY(%s::uuid[]) AND deleted_at IS NULL",
    ("soft", "incoming"): "SELECT config_id FROM catalog_configrelationship "
                          "WHERE related_id = ANY(%s::uuid[]) AND deleted_at IS NULL",
    ("hard", "outgoing"): "SELECT id FROM catalog_configitem WHERE parent_id = ANY(%s::uuid[])",
    ("hard", "incoming"): "SELECT parent_id FROM catalog_configitem "
                          "WHERE id = ANY(%s::uuid[]) AND parent_id IS NOT NULL",
}


@dataclass(frozen=True)
class Reach:
    """What a walk found, all of it visible to the user it ran for."""

    hops: dict[str, int]  # item id -> fewest steps from a start; visible starts are 0
    missing: tuple[str, ...]  # starts that are unknown *or* hidden: deliberately one bucket
    truncated: bool  # the row cap stopped the walk while more items were in reach

    @property
    def starts(self) -> list[str]:
        return [key for key, hops in self.hops.items() if hops == 0]

    @property
    def reached(self) -> list[str]:
        """Items found beyond the starts, nearest first."""
        return [key for key, hops in self.hops.items() if hops > 0]


def _parse(starts: Iterable[uuid.UUID | str]) -> tuple[list[uuid.UUID], list[str]]:
    ids, bad = [], []
    for start in starts:
        try:
            ids.append(start if isinstance(start, uuid.UUID) else uuid.UUID(str(start)))
        except ValueError:
            bad.append(str(start))
    return list(dict.fromkeys(ids)), bad


def walk(starts: Iterable[uuid.UUID | str], *, user: Any, direction: Direction, depth: int,
         max_rows: int, kind: Kind = "both") -> Reach:
    """Breadth-first from `starts` up to `depth` steps, keeping at most `max_rows` items besides
    the starts; `user=None` is the system and sees everything.

    A start the user cannot see is reported in `missing`, exactly as an id that does not
    exist, and is not walked from. Each step lands only on live items the user can see, so
    nothing behind a hidden item is reachable through it. One query per depth; each stops at
    the remaining cap, so the work grows with the cap, not with the neighbourhood.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if not 0 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 0 and {MAX_DEPTH}")
    if not 0 <= max_rows <= MAX_ROWS:
        raise ValueError(f"max_rows must be between 0 and {MAX_ROWS}")

    ids, bad = _parse(starts)
    visible = visible_items(user)
    found_starts = {str(pk) for pk in visible.filter(pk__in=ids).values_list("pk", flat=True)}
    hops = {str(pk): 0 for pk in ids if str(pk) in found_starts}
    missing = tuple(bad + [str(pk) for pk in ids if str(pk) not in found_starts])

    kinds = ("soft", "hard") if kind == "both" else (kind,)
    directions = ("outgoing", "incoming") if direction == "both" else (direction,)
    steps = " UNION ALL ".join(_STEPS[(k, d)] for k in kinds for d in directions)
    # Only the fixed fragments above are interpolated; every id travels as a bound array.
    candidates_sql = (
        f"SELECT e.next FROM ({steps}) AS e(next)"  # noqa: S608
        " WHERE NOT (e.next = ANY(%s::uuid[]))"
    )
    frontier = list(hops)
    truncated = False
    for step in range(1, depth + 1):
        if not frontier:
            break
        remaining = max_rows - (len(hops) - len(found_starts))
        params = [*[frontier] * len(kinds) * len(directions), list(hops)]
        candidates = RawSQL(candidates_sql, params)  # noqa: S611 - fixed SQL, values bound
        # The visibility filter is the for_user() queryset itself, applied to each landing.
        fresh = [str(pk) for pk in visible.filter(deleted_at__isnull=True, pk__in=candidates)
                 .order_by("pk").values_list("pk", flat=True)[: remaining + 1]]
        if len(fresh) > remaining:
            truncated, fresh = True, fresh[:remaining]
        for key in fresh:
            hops[key] = step
        if truncated:
            break
        frontier = fresh
    return Reach(hops=hops, missing=missing, truncated=truncated)
