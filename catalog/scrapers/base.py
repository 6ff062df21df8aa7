"""One interface for every scraper: a ScrapeConfig entry in, ScrapedItems and problems out."""

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from portal.ids import LOCAL_AGENT_ID


@dataclass(slots=True)
class RelationRef:
    """An edge to resolve once every item of the run is stored."""

    relation: str
    target_id: uuid.UUID | None = None
    target_alias: str | None = None
    # Label selector edges (Service -> Pods): the targets are found by labels in the database.
    selector: Mapping[str, str] | None = None
    selector_type: str = ""
    selector_namespace: str = ""
    selector_cluster: str = ""
    incoming: bool = False  # the edge points from the target to this item


@dataclass(slots=True)
class ScrapedItem:
    id: uuid.UUID
    type: str
    name: str
    config: Any
    namespace: str = ""
    config_class: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    external_ids: list[str] = field(default_factory=list)
    description: str = ""
    source: str = ""
    created_at: datetime | None = None
    # None means "ask the health engine"; a scraper's own mapping may set them.
    health: str | None = None
    status: str | None = None
    ready: bool | None = None
    message: str | None = None
    parent_id: uuid.UUID | None = None
    parent_alias: str | None = None
    relationships: list[RelationRef] = field(default_factory=list)
    properties: list[Any] = field(default_factory=list)
    changes: list[Mapping[str, Any]] = field(default_factory=list)
    truncated: bool = False
    # Where a problem with this item is reported: "clusters/a.yaml#3".
    locator: str = ""


@dataclass(slots=True)
class Problem:
    """A recorded error naming the scraper entry, the file and the document."""

    scraper: str
    message: str
    item: str = ""
    level: str = "error"


@dataclass
class ScrapeContext:
    scraper_key: str  # "<namespace>/<name>", part of every non-Kubernetes item id
    spec: Mapping[str, Any]
    agent_id: uuid.UUID = LOCAL_AGENT_ID
    max_document_bytes: int = 2 * 1024 * 1024
    base_dir: str | None = None
    # A scraper that could not read everything clears this, so nothing is stale-deleted.
    complete: bool = True
    # Who made the changes this run observes, when the source knows (git commit author).
    change_author: str = ""

    def incomplete(self) -> None:
        self.complete = False


class Scraper(Protocol):
    kind: str

    def scrape(
        self, entry: Mapping[str, Any], index: int, ctx: ScrapeContext
    ) -> Iterator[ScrapedItem | Problem]: ...
