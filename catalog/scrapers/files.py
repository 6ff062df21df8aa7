"""The `file` scraper: YAML/JSON documents from a folder, mapped by CEL or as Kubernetes objects."""

import glob
import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from catalog.diff import canonical_json
from catalog.identity import item_id
from catalog.masking import apply_transforms
from catalog.scrapers import k8s_objects
from catalog.scrapers.base import Problem, RelationRef, ScrapeContext, ScrapedItem
from catalog.scrapers.documents import parse
from portal.errors import ExpressionError

MAPPED_FIELDS = ("id", "type", "name", "namespace", "description", "status", "health",
                 "createdAt", "class")


def _evaluate(source: str, document: Any) -> Any:
    from portal.expressions import evaluate_source

    return evaluate_source(source, {"config": document, "item": document})


def _mapped(entry: Mapping[str, Any], field: str, document: Any) -> Any:
    """`class` and a `type` written as `Provider::Kind` are literals; the rest is CEL."""
    source = entry.get(field)
    if source is None or source == "":
        return None
    if field == "class" or (field == "type" and "::" in str(source)):
        return source
    return _evaluate(str(source), document)


def _labels(entry: Mapping[str, Any], key: str, document: Any) -> dict[str, str]:
    """Map values are literals, or CEL when they start with `=`."""
    out: dict[str, str] = {}
    for name, value in (entry.get(key) or {}).items():
        if isinstance(value, str) and value.startswith("="):
            value = _evaluate(value[1:], document)
        out[str(name)] = "" if value is None else str(value)
    return out


def _mapped_item(entry: Mapping[str, Any], document: Any, ctx: ScrapeContext,
                 locator: str) -> ScrapedItem:
    values = {field: _mapped(entry, field, document) for field in MAPPED_FIELDS}
    kind = document.get("kind") if isinstance(document, Mapping) else None
    type_ = str(values["type"] or entry.get("type")
                or f"{entry.get('typePrefix') or 'File'}::{kind or 'Document'}")
    external = str(values["id"] if values["id"] is not None else locator)
    name = str(values["name"] if values["name"] is not None else external)
    created = values["createdAt"]
    tags = {**(ctx.spec.get("tags") or {}), **_labels(entry, "tags", document)}
    if entry.get("clusterName"):
        tags.setdefault("cluster", str(entry["clusterName"]))
    return ScrapedItem(
        id=item_id(ctx.agent_id, ctx.scraper_key, type_, external),
        type=type_,
        name=name,
        namespace=str(values["namespace"] or ""),
        config=document,
        config_class=str(values["class"] or type_.rsplit("::", 1)[-1]),
        labels=_labels(entry, "labels", document),
        tags=tags,
        external_ids=[external],
        description=str(values["description"] or ""),
        status=None if values["status"] is None else str(values["status"]),
        health=None if values["health"] is None else str(values["health"]).lower(),
        created_at=created if isinstance(created, datetime) else None,
        locator=locator,
    )


def _cel_relationships(entry: Mapping[str, Any], item: ScrapedItem, document: Any,
                       ctx: ScrapeContext) -> list[RelationRef]:
    """transform.relationships: `filter` decides, `expr` returns [{type, name} | {id}]."""
    refs: list[RelationRef] = []
    for rule in (entry.get("transform") or {}).get("relationships") or []:
        if rule.get("filter") and _evaluate(rule["filter"], document) is not True:
            continue
        targets = _evaluate(rule["expr"], document) if rule.get("expr") else []
        for target in targets or []:
            if not isinstance(target, Mapping):
                continue
            relation = str(rule.get("relation") or f"{item.type.rsplit('::', 1)[-1]}"
                           f"{str(target.get('type', '')).rsplit('::', 1)[-1]}")
            if target.get("external_id") or target.get("id"):
                alias = str(target.get("external_id") or target.get("id"))
                refs.append(RelationRef(relation=relation, target_alias=alias))
            elif target.get("type") and target.get("name"):
                refs.append(RelationRef(
                    relation=relation,
                    target_id=item_id(ctx.agent_id, ctx.scraper_key, str(target["type"]),
                                      str(target["name"])),
                ))
    return refs


def documents_to_items(
    entry: Mapping[str, Any], scraper: str, locator_base: str, documents: Iterator[Any],
    ctx: ScrapeContext, source: str,
) -> Iterator[ScrapedItem | Problem]:
    """Shared by the file and git scrapers: one document in, one item or one problem out."""
    mapped = any(entry.get(f) for f in ("id", "name", "items"))
    cluster = str(entry.get("clusterName") or (ctx.spec.get("tags") or {}).get("cluster")
                  or "default")
    announced_cluster = False
    static_tags = {**(ctx.spec.get("tags") or {}), **{
        str(k): str(v) for k, v in (entry.get("tags") or {}).items()
        if not (isinstance(v, str) and v.startswith("="))}}
    for doc in documents:
        locator = f"{locator_base}#{doc.index}"
        if doc.error:
            yield Problem(scraper, doc.error, locator)
            continue
        try:
            values = [doc.value]
            if entry.get("items"):
                values = _evaluate(str(entry["items"]), doc.value) or []
            elif not mapped:
                values = list(k8s_objects.expand_lists(doc.value))
            for position, value in enumerate(values):
                here = locator if len(values) == 1 else f"{locator}[{position}]"
                if not mapped and k8s_objects.is_kubernetes_document(value):
                    if not announced_cluster:
                        announced_cluster = True
                        yield k8s_objects.cluster_item(cluster, ctx.agent_id, static_tags,
                                                       source)
                    item = k8s_objects.to_item(value, cluster, ctx.agent_id, tags=static_tags,
                                               source=source)
                    item.locator = here
                else:
                    item = _mapped_item(entry, value, ctx, here)
                    item.source = source
                item.config = apply_transforms(item.type, item.config, entry.get("transform"))
                item.relationships += _cel_relationships(entry, item, value, ctx)
                size = len(canonical_json(item.config))
                if size > ctx.max_document_bytes:
                    item.truncated = True
                    yield Problem(scraper, f"document is {size} bytes, over the "
                                  f"{ctx.max_document_bytes}-byte limit: stored truncated, "
                                  "without a diff", here, level="warning")
                yield item
        except ExpressionError as exc:
            yield Problem(scraper, f"mapping expression failed: {exc}", locator)
        except (TypeError, ValueError, KeyError) as exc:
            yield Problem(scraper, f"cannot map document: {exc}", locator)


class FileScraper:
    kind = "file"

    def scrape(self, entry: Mapping[str, Any], index: int,
               ctx: ScrapeContext) -> Iterator[ScrapedItem | Problem]:
        scraper = f"file[{index}]"
        base = Path(entry.get("base") or ctx.base_dir or os.getcwd())
        yield from scrape_tree(entry, scraper, base, ctx, source_prefix="file://")


def scrape_tree(entry: Mapping[str, Any], scraper: str, base: Path, ctx: ScrapeContext,
                source_prefix: str) -> Iterator[ScrapedItem | Problem]:
    patterns = entry.get("paths") or ["**/*.yaml", "**/*.yml", "**/*.json"]
    files: set[Path] = set()
    for pattern in patterns:
        matched = glob.glob(str(base / pattern) if not os.path.isabs(pattern) else pattern,
                            recursive=True)
        if not matched and not any(ch in pattern for ch in "*?["):
            yield Problem(scraper, f"path {pattern!r} does not exist", pattern)
            ctx.incomplete()
        files.update(Path(m) for m in matched if os.path.isfile(m))
    for path in sorted(files):
        rel = os.path.relpath(path, base)
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield Problem(scraper, f"cannot read: {exc.strerror}", rel)
            ctx.incomplete()
            continue
        documents = parse(data, rel, entry.get("format", ""))
        yield from documents_to_items(entry, scraper, rel, documents, ctx, f"{source_prefix}{rel}")
