"""Row ids: deterministic UUIDv5 for natural keys, time-ordered UUIDv7 for the rest."""

import uuid

import uuid6

# Namespace for every Flightdeck UUIDv5; changing it would re-key every scraped row.
FLIGHTDECK_NAMESPACE = uuid.UUID("6f1d3c2e-2b8a-5f55-9d0e-6c1a7d2b9e10")
LOCAL_AGENT_ID = uuid.UUID(int=0)


def uuid7() -> uuid.UUID:
    """Time-ordered ids keep B-tree inserts append-only for runs, tokens and changes."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


def natural_id(*parts: object) -> uuid.UUID:
    """The same natural key always yields the same id, so re-imports never duplicate rows."""
    return uuid.uuid5(FLIGHTDECK_NAMESPACE, "|".join(str(p) for p in parts))


def parse_uuid(value: object) -> uuid.UUID | None:
    """A UUID from user text (a query parameter, a form field), or None when it is not one."""
    try:
        return uuid.UUID(str(value or ""))
    except ValueError:
        return None
