"""Items reachable from one item: a bounded recursive walk over soft edges and parent links."""

from django.db import connection
from django.db.models.expressions import RawSQL

from catalog.models import ConfigItem, ConfigRelationship

# Each step is a fixed SQL fragment chosen by (kind, direction); no user text reaches the SQL.
_SOFT_OUT = (
    "SELECT r.related_id AS id FROM {rel} r WHERE r.config_id = w.id AND r.deleted_at IS NULL"
)
_SOFT_IN = (
    "SELECT r.config_id AS id FROM {rel} r WHERE r.related_id = w.id AND r.deleted_at IS NULL"
)
_HARD_OUT = "SELECT c.id AS id FROM {item} c WHERE c.parent_id = w.id"
_HARD_IN = "SELECT c.parent_id AS id FROM {item} c WHERE c.id = w.id AND c.parent_id IS NOT NULL"


def related_ids(start: str, direction: str, depth: int, kind: str) -> RawSQL:
    """An id subquery; UNION on (id, depth) is the visited set that stops cycles and fan-in."""
    steps = []
    outgoing, incoming = direction in ("outgoing", "all"), direction in ("incoming", "all")
    if kind in ("soft", "both"):
        steps += [_SOFT_OUT] * outgoing + [_SOFT_IN] * incoming
    if kind in ("hard", "both"):
        steps += [_HARD_OUT] * outgoing + [_HARD_IN] * incoming
    quote = connection.ops.quote_name
    step_sql = " UNION ALL ".join(steps).format(
        rel=quote(ConfigRelationship._meta.db_table), item=quote(ConfigItem._meta.db_table)
    )
    # Table names come from model meta and the step fragments are fixed above.
    sql = (
        "WITH RECURSIVE walk(id, depth) AS ("  # noqa: S608
        " SELECT %s::uuid, 0"
        " UNION"
        f" SELECT step.id, w.depth + 1 FROM walk w CROSS JOIN LATERAL ({step_sql}) step"
        " WHERE w.depth < %s"
        ") SELECT DISTINCT id FROM walk WHERE id <> %s::uuid"
    )
    return RawSQL(sql, (start, depth, start))  # noqa: S611 - fixed fragments, values bound
