"""`related=<id>`: the items the shared walk reaches from one start, as a bound id list."""

from typing import Any

from django.db.models.expressions import RawSQL

from catalog.search.syntax import Related, SearchError
from catalog.walk import walk

# At most this many items per related= term. More is an error, not a silent cut: a search
# that quietly dropped part of its answer would look complete.
MAX_RELATED = 5_000


def related_ids(node: Related, user: Any) -> RawSQL:
    """The ids `node` reaches for `user` (None = system), never through what they cannot see.

    A start the user cannot see gets the very error an unknown id gets.
    """
    direction = node.direction if node.direction in ("incoming", "outgoing") else "both"
    kind = node.kind if node.kind in ("hard", "soft") else "both"
    reach = walk([node.target], user=user, direction=direction, depth=node.depth,
                 max_rows=MAX_RELATED, kind=kind)
    if reach.missing:
        raise SearchError(f"no item {node.target}, or it is not shared with you", node.pos)
    if reach.truncated:
        raise SearchError(
            f"related= reaches more than {MAX_RELATED} items", node.pos,
            "lower its depth, or pick a direction or kind")
    # One array parameter, however many ids: the SQL text stays the same size.
    return RawSQL("SELECT unnest(%s::uuid[])", [reach.reached])
