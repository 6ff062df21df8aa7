"""Bounded neighbourhoods of an item for the graph page: nodes, edges and change badges."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog import walk as walks
from catalog.models import ConfigChange, ConfigItem, ConfigRelationship
from catalog.walk import walk

Direction = Literal["incoming", "outgoing", "all"]
Kind = Literal["hard", "soft", "both"]
# The page and its JSON spell "both directions" as "all", as the search language does.
DIRECTIONS: tuple[str, ...] = ("incoming", "outgoing", "all")
KINDS: tuple[str, ...] = ("hard", "soft", "both")
MAX_DEPTH = 3
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
BADGE_WINDOW = timedelta(hours=1)
PARENT_RELATION = "parent"


@dataclass
class Node:
    id: str
    name: str
    type: str
    namespace: str
    health: str
    status: str
    depth: int
    recent_changes: int

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Edge:
    source: str
    target: str
    relation: str

    def as_json(self) -> dict[str, Any]:
        return {"id": f"{self.source}>{self.target}:{self.relation}", **self.__dict__}


@dataclass
class Graph:
    root: str
    depth: int
    direction: str
    limit: int
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False

    @property
    def root_node(self) -> Node | None:
        """None when the root is unknown or hidden from the user: the two look the same."""
        return next((n for n in self.nodes if n.id == self.root), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "root": self.root, "depth": self.depth, "direction": self.direction,
            "limit": self.limit, "truncated": self.truncated,
            "nodes": [n.as_json() for n in self.nodes],
            "edges": [e.as_json() for e in self.edges],
        }


def clamp_depth(value: Any, default: int = 1) -> int:
    try:
        return min(max(int(value), 1), MAX_DEPTH)
    except (TypeError, ValueError):
        return default


def clamp_limit(value: Any) -> int:
    try:
        return min(max(int(value), 1), MAX_LIMIT)
    except (TypeError, ValueError):
        return DEFAULT_LIMIT


def walk_direction(direction: str) -> walks.Direction:
    """The page's direction as the walk spells it; anything unknown means both ways."""
    if direction == "incoming" or direction == "outgoing":
        return direction
    return "both"


def _kind(kind: str) -> walks.Kind:
    if kind == "hard" or kind == "soft":
        return kind
    return "both"


def neighbourhood(user: Any, root: uuid.UUID | str, depth: int = 1, direction: str = "all",
                  limit: int = DEFAULT_LIMIT, kind: str = "both") -> Graph:
    """Nodes coloured by health with recent-change badges, and the edges between them.

    A root the user cannot see yields an empty graph (no root_node), as an unknown root does.
    """
    depth = clamp_depth(depth)
    limit = clamp_limit(limit)
    direction = direction if direction in DIRECTIONS else "all"
    reach = walk([root], user=user, direction=walk_direction(direction), depth=depth,
                 max_rows=limit - 1, kind=_kind(kind))
    distances, truncated = reach.hops, reach.truncated
    ids = list(distances)
    since = timezone.now() - BADGE_WINDOW
    recent = (
        ConfigChange.objects.filter(config_id=OuterRef("pk"), created_at__gte=since)
        .order_by().values("config_id").annotate(n=Count("id")).values("n")
    )
    items = (
        ConfigItem.objects.filter(pk__in=ids)
        .annotate(recent=Coalesce(Subquery(recent), 0))
        .only("id", "name", "type", "namespace", "health", "status", "parent_id")
    )
    graph = Graph(root=str(root), depth=depth, direction=direction, limit=limit,
                  truncated=truncated)
    parents: list[Edge] = []
    for item in items:
        key = str(item.pk)
        graph.nodes.append(Node(
            id=key, name=item.name, type=item.type, namespace=item.namespace,
            health=item.health, status=item.status, depth=distances[key],
            recent_changes=item.recent,
        ))
        if item.parent_id and str(item.parent_id) in distances:
            parents.append(Edge(str(item.parent_id), key, PARENT_RELATION))
    graph.nodes.sort(key=lambda n: (n.depth, n.type, n.name, n.id))
    soft = ConfigRelationship.objects.filter(
        Q(config_id__in=ids) & Q(related_id__in=ids), deleted_at__isnull=True
    ).values_list("config_id", "related_id", "relation")
    graph.edges = sorted(
        parents + [Edge(str(a), str(b), rel) for a, b, rel in soft],
        key=lambda e: (e.source, e.target, e.relation),
    )
    return graph
