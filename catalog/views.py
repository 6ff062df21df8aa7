"""Catalog pages: thin adapters over for_user() querysets and domain functions."""

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from catalog import correlation, graph, scraping, tabs, versions
from catalog.access import visible_scrapers
from catalog.diff import to_yaml
from catalog.models import (
    ConfigChange,
    ConfigInsight,
    ConfigItem,
    ConfigRelationship,
    Health,
    ScrapeConfig,
    ScrapeRun,
    Severity,
)
from catalog.search import SearchError, facets, filter_changes, filter_items
from catalog.search.syntax import quote
from catalog.walk import walk
from portal.htmx import htmx_redirect, is_partial

PAGE_SIZE = 50
CHANGES_PAGE = 50
FACET_LIMIT = 12
ITEM_FACETS = (("type", "Type"), ("namespace", "Namespace"), ("tags.cluster", "Cluster"),
               ("health", "Health"), ("status", "Status"))
HEALTH_ORDER = ("unhealthy", "warning", "healthy", "unknown")
FOLD_LINES = 120  # configs longer than this fold each top-level key into its own <details>
RELATED = {"upstream": "incoming", "downstream": "outgoing", "all": "both"}
RELATED_CHANGES_ITEMS = 1000  # items whose changes the item timeline may fold in
RANGES = (("1h", "Last hour", timedelta(hours=1)), ("6h", "Last 6 hours", timedelta(hours=6)),
          ("24h", "Last 24 hours", timedelta(days=1)), ("7d", "Last 7 days", timedelta(days=7)),
          ("30d", "Last 30 days", timedelta(days=30)), ("all", "All time", None))
_BARE_VALUE = re.compile(r"[\w:./@+-]+")


# -- small shared pieces ---------------------------------------------------------------------


def _term(field_name: str, value: str) -> str:
    """One `field=value` term; anything unusual is quoted, so a value is never a wildcard."""
    return f"{field_name}={value if _BARE_VALUE.fullmatch(value) else quote(value)}"


def _encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def _decode(token: str | None, size: int) -> list[Any] | None:
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, list) and len(key) == size else None


def _url(params: QueryDict, **changes: str | None) -> str:
    """The current query string with some parameters replaced or dropped."""
    query = params.copy()
    for name, value in changes.items():
        query.pop(name, None)
        if value is not None:
            query[name] = value
    return "?" + query.urlencode() if query else "?"


def _search_error(exc: SearchError, text: str) -> dict[str, Any]:
    pos = min(max(exc.position, 0), len(text))
    return {"message": str(exc), "before": text[:pos], "at": text[pos:pos + 1] or " ",
            "after": text[pos + 1:], "position": pos}


def _health_bar(row: dict[str, Any]) -> list[dict[str, Any]]:
    """SVG segments (attributes, not inline styles, so the CSP holds) for a health breakdown."""
    total = row["total"] or 1
    segments, x = [], 0.0
    for health in HEALTH_ORDER:
        width = 100.0 * row.get(health, 0) / total
        if width:
            segments.append({"health": health, "x": round(x, 2), "width": round(width, 2)})
            x += width
    return segments


def _health_counts(qs: QuerySet, group: Any) -> list[dict[str, Any]]:
    rows = list(qs.order_by().values(group=F(group)).annotate(
        total=Count("id"),
        **{h: Count("id", filter=Q(health=h)) for h in HEALTH_ORDER},
    ).order_by("-unhealthy", "-warning", "group"))
    for row in rows:
        row["bar"] = _health_bar(row)
    return rows


# -- catalog list ---------------------------------------------------------------------------


@dataclass
class KeysetPage:
    rows: list[Any]
    next_url: str | None = None
    prev_url: str | None = None
    first_url: str | None = None
    fields: tuple[str, ...] = field(default=())


def _keyset(qs: QuerySet, params: QueryDict, fields: tuple[str, ...], size: int,
            descending: bool = False) -> KeysetPage:
    """Pages by a unique ordered key held in the URL: no OFFSET, stable under inserts."""
    after = _decode(params.get("after"), len(fields))
    before = _decode(params.get("before"), len(fields))
    forward = [f"-{f}" if descending else f for f in fields]
    backward = [f[1:] if f.startswith("-") else f"-{f}" for f in forward]

    def beyond(key: list[Any], later: bool) -> Q:
        gt = later != descending
        condition = Q()
        for i, name in enumerate(fields):
            step = Q(**{f"{name}__{'gt' if gt else 'lt'}": key[i]})
            for prev, value in zip(fields[:i], key[:i], strict=True):
                step &= Q(**{prev: value})
            condition |= step
        return condition

    if before is not None:
        rows = list(qs.filter(beyond(before, later=False)).order_by(*backward)[: size + 1])
        more_before, rows = len(rows) > size, rows[:size][::-1]
        more_after = True
    else:
        if after is not None:
            qs = qs.filter(beyond(after, later=True))
        rows = list(qs.order_by(*forward)[: size + 1])
        more_after, rows = len(rows) > size, rows[:size]
        more_before = after is not None
    page = KeysetPage(rows=rows, fields=fields)

    def key(row: Any) -> str:
        return _encode([getattr(row, f) for f in fields])

    if rows and more_after:
        page.next_url = _url(params, after=key(rows[-1]), before=None)
    if rows and more_before:
        page.prev_url = _url(params, before=key(rows[0]), after=None)
    if after is not None or before is not None:
        page.first_url = _url(params, after=None, before=None)
    return page


def _item_facets(items: QuerySet, text: str, params: QueryDict,
                 user: Any) -> list[dict[str, Any]]:
    groups = []
    for name, label in ITEM_FACETS:
        values = []
        for value, count in facets(items, name, FACET_LIMIT, user=user):
            term = _term(name, str(value))
            values.append({"value": value, "count": count,
                           "url": _url(params, q=f"{text} {term}".strip(), after=None,
                                       before=None)})
        groups.append({"name": name, "label": label, "values": values})
    return groups


@require_GET
def item_list(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "").strip()
    show_deleted = request.GET.get("deleted") == "1"
    context: dict[str, Any] = {"q": text, "show_deleted": show_deleted, "now": timezone.now(),
                               "params": request.GET}
    try:
        result = filter_items(ConfigItem.objects.for_user(request.user), text,
                              user=request.user, include_deleted=show_deleted)
    except SearchError as exc:
        context["error"] = _search_error(exc, text)
        result = None
    if result is not None:
        items = result.queryset
        context["summary"] = _health_counts(items, "type")
        for row in context["summary"]:
            row["url"] = _url(request.GET, q=f"{text} {_term('type', row['group'])}".strip(),
                              after=None, before=None)
        context["facets"] = _item_facets(items, text, request.GET, request.user)
        rows = items.only("id", "type", "name", "namespace", "health", "status", "ready",
                          "tags", "created_at", "updated_at", "deleted_at")
        if result.order or result.limit is not None:  # the query chose its own order and slice
            stop = result.offset + (result.limit or PAGE_SIZE)
            context["page"] = KeysetPage(rows=list(rows[result.offset:stop]))
        else:
            context["page"] = _keyset(rows, request.GET, ("type", "name", "id"), PAGE_SIZE)
        context["rows_url"] = _url(request.GET)
    if is_partial(request):
        target = getattr(request.htmx, "target", None)
        name = "_item_rows" if target == "item-rows" and result is not None else "_results"
        return render(request, f"catalog/partials/{name}.html", context)
    return render(request, "catalog/item_list.html", context)


# -- item page -----------------------------------------------------------------------------


def _fold(item: ConfigItem) -> list[dict[str, Any]] | None:
    """Large documents fold per top-level key so a 5,000-line ConfigMap stays readable."""
    text = to_yaml(item.config)
    if text.count("\n") <= FOLD_LINES or not isinstance(item.config, dict):
        return None
    sections = []
    for key, value in item.config.items():
        body = to_yaml({key: value})
        lines = body.count("\n")
        sections.append({"key": key, "yaml": body, "lines": lines, "open": lines <= 20})
    return sections


def _tab_config(request: HttpRequest, item: ConfigItem) -> dict[str, Any]:
    context: dict[str, Any] = {"config_yaml": to_yaml(item.config), "sections": _fold(item),
                               "choices": versions.diff_choices(item)}
    compare = request.GET.get("compare")
    if compare:
        try:
            comparison = versions.compare_with_before(item, compare)
        except (versions.VersionUnavailable, ValueError) as exc:
            context["compare_error"] = str(exc) or "That version cannot be rebuilt."
        else:
            context["comparison"] = comparison
            context["comparison_lines"] = versions.diff_lines(comparison.diff)
        context["compare"] = compare
    return context


def _tab_changes(request: HttpRequest, item: ConfigItem) -> dict[str, Any]:
    related = request.GET.get("related", "")
    depth = graph.clamp_depth(request.GET.get("depth"), default=1)
    ids: list[Any] = [item.pk]
    distances: dict[str, int] = {}
    if related in RELATED:
        distances = walk([item.pk], user=request.user, direction=RELATED[related],
                         depth=depth, max_rows=RELATED_CHANGES_ITEMS).hops
        ids = list(distances)
    changes = (ConfigChange.objects.for_user(request.user).filter(config_id__in=ids)
               .select_related("config")
               .only("id", "change_type", "severity", "source", "summary", "count",
                     "created_at", "first_observed", "config_id", "config__name",
                     "config__type", "config__health"))
    page = _keyset(changes, request.GET, ("created_at", "id"), CHANGES_PAGE, descending=True)
    return {"changes_page": page, "related": related, "depth": depth,
            "related_count": max(len(distances) - 1, 0),
            "correlation": correlation.changes_before_unhealthy(request.user, item)}


def _tab_relationships(request: HttpRequest, item: ConfigItem) -> dict[str, Any]:
    visible = ConfigItem.objects.for_user(request.user).values("pk")
    live = Q(deleted_at__isnull=True)
    return {
        # A hidden parent is not shown at all, not even as a bare link to its id.
        "parent": ConfigItem.objects.for_user(request.user).filter(pk=item.parent_id).only(
            "id", "name", "type", "namespace", "health").first() if item.parent_id else None,
        "outgoing": ConfigRelationship.objects.filter(
            live, config=item, related__in=visible).select_related("related"),
        "incoming": ConfigRelationship.objects.filter(
            live, related=item, config__in=visible).select_related("config"),
        "children": ConfigItem.objects.for_user(request.user).filter(
            live, parent=item).order_by("type", "name")[:100],
    }


def _tab_insights(request: HttpRequest, item: ConfigItem) -> dict[str, Any]:
    insights = ConfigInsight.objects.for_user(request.user).filter(config=item)
    rank = {s: i for i, s in enumerate(reversed(Severity.values))}
    rows = sorted(insights.order_by("status", "-last_observed")[:200],
                  key=lambda i: (i.status != "open", rank.get(i.severity, 9)))
    return {"insights": rows}


def register_tabs() -> None:
    """The catalog's own tabs; other apps add theirs in their AppConfig.ready()."""
    for order, (key, label, context_fn) in enumerate((
            ("config", "Config", _tab_config), ("changes", "Changes", _tab_changes),
            ("insights", "Insights", _tab_insights),
            ("relationships", "Relationships", _tab_relationships))):
        tabs.register(tabs.Tab(key, label, f"catalog/partials/_tab_{key}.html", context_fn,
                               order=(order + 1) * 10))
    # Linked checks have no app yet; the tab says so rather than vanishing.
    tabs.register(tabs.Tab("checks", "Checks", "catalog/partials/_tab_checks.html", order=90))


@require_GET
def item_detail(request: HttpRequest, pk: str) -> HttpResponse:
    item = get_object_or_404(ConfigItem.objects.for_user(request.user), pk=pk)
    shown = tabs.tabs_for(request, item)
    current = tabs.pick(shown, request.GET.get("tab", "config"))
    context: dict[str, Any] = {"item": item, "tab": current.key if current else "",
                               "current_tab": current, "tabs": shown, "params": request.GET}
    if current is not None:
        context.update(current.context(request, item))
    if is_partial(request):
        return render(request, "catalog/partials/_tabs.html", context)
    ancestors = [a for a in (item.path or "").split(".") if a and a != str(item.pk)]
    found = {str(a.pk): a for a in ConfigItem.objects.for_user(request.user).filter(
        pk__in=ancestors).only("id", "name", "type")}
    context["ancestors"] = [found[a] for a in ancestors if a in found]
    context["owner"] = (item.labels or {}).get("team") or (item.tags or {}).get("team")
    # A grant on the item alone does not reveal the scraper that produced it.
    context["scraper"] = visible_scrapers(request.user).filter(pk=item.scraper_id).only(
        "id", "name", "namespace").first() if item.scraper_id else None
    return render(request, "catalog/item_detail.html", context)


# -- changes ---------------------------------------------------------------------------------


def _changes_text(params: QueryDict) -> str:
    """The filter controls are spelled in the search language and joined to the typed query."""
    terms = [params.get("q", "").strip()]
    for name, field_name in (("config_type", "config.type"), ("change_type", "change_type"),
                             ("severity", "severity"), ("namespace", "config.namespace")):
        if value := params.get(name, "").strip():
            terms.append(_term(field_name, value))
    return " ".join(t for t in terms if t)


def _range_start(params: QueryDict) -> Any:
    span = {key: delta for key, _, delta in RANGES}.get(params.get("range", "24h"), None)
    return timezone.now() - span if span else None


@require_GET
def change_list(request: HttpRequest) -> HttpResponse:
    text = _changes_text(request.GET)
    visible = ConfigChange.objects.for_user(request.user)
    if (start := _range_start(request.GET)) is not None:
        visible = visible.filter(created_at__gte=start)
    context: dict[str, Any] = {"params": request.GET, "q": request.GET.get("q", ""),
                               "ranges": RANGES, "range": request.GET.get("range", "24h"),
                               "severities": Severity.values, "now": timezone.now()}
    context["options"] = {key: [v for v, _ in facets(visible, name, 50, user=request.user) if v]
                          for key, name in (("config_type", "config.type"),
                                            ("change_type", "change_type"),
                                            ("namespace", "config.namespace"))}
    try:
        result = filter_changes(visible.select_related("config"), text, user=request.user)
    except SearchError as exc:
        context["error"] = _search_error(exc, text)
    else:
        rows = result.queryset
        if result.order or result.limit is not None:
            stop = result.offset + (result.limit or CHANGES_PAGE)
            context["changes_page"] = KeysetPage(rows=list(rows[result.offset:stop]))
        else:
            context["changes_page"] = _keyset(rows, request.GET, ("created_at", "id"),
                                              CHANGES_PAGE, descending=True)
    if is_partial(request):
        return render(request, "catalog/partials/_change_results.html", context)
    return render(request, "catalog/change_list.html", context)


@require_GET
def change_detail(request: HttpRequest, pk: str) -> HttpResponse:
    change = get_object_or_404(
        ConfigChange.objects.for_user(request.user).select_related("config", "created_by"),
        pk=pk)
    context = {
        "change": change, "diff_lines": versions.diff_lines(change.diff),
        "patch_json": json.dumps(change.patch, indent=2) if change.patch is not None else "",
        "details_json": json.dumps(change.details, indent=2) if change.details else "",
    }
    if is_partial(request):
        return render(request, "catalog/partials/_change_drawer.html", context)
    return render(request, "catalog/change_detail.html", context)


# -- graph and health ------------------------------------------------------------------------


@require_GET
def graph_view(request: HttpRequest) -> HttpResponse:
    try:
        root = uuid.UUID(request.GET.get("root", ""))
    except ValueError:
        raise Http404("Give the graph a root item: ?root=<id>.") from None
    depth = graph.clamp_depth(request.GET.get("depth"), default=1)
    direction = request.GET.get("direction", "all")
    limit = graph.clamp_limit(request.GET.get("limit"))
    # The walk decides whether the root is visible; a hidden root reads as an unknown one.
    data = graph.neighbourhood(request.user, root, depth, direction, limit)
    item = data.root_node
    if item is None:
        raise Http404("No such item, or it is not shared with you.")
    if request.GET.get("format") == "json":
        return JsonResponse(data.as_json())
    return render(request, "catalog/graph.html", {
        "item": item, "graph": data, "graph_json": data.as_json(), "depth": depth,
        "direction": data.direction, "depths": range(1, graph.MAX_DEPTH + 1),
        "directions": graph.DIRECTIONS,
        "more_url": _url(request.GET, limit=str(min(limit * 2, graph.MAX_LIMIT))),
        "edge_rows": _edge_rows(data),
    })


def _edge_rows(data: graph.Graph) -> list[tuple[str, str, str]]:
    names = {n.id: n.name for n in data.nodes}
    return [(names.get(e.source, e.source), e.relation, names.get(e.target, e.target))
            for e in data.edges]


@require_GET
def health_dashboard(request: HttpRequest) -> HttpResponse:
    items = ConfigItem.objects.for_user(request.user).filter(deleted_at__isnull=True)
    bad = items.filter(health__in=[Health.UNHEALTHY, Health.WARNING])
    return render(request, "catalog/health.html", {
        "by_cluster": _health_counts(items, "tags__cluster"),
        "by_namespace": _health_counts(items, "namespace")[:50],
        "by_type": _health_counts(items, "type"),
        "unhealthy": sorted(
            bad.only("id", "name", "type", "namespace", "health", "status", "message",
                     "updated_at").order_by("-updated_at")[:100],
            key=lambda i: HEALTH_ORDER.index(i.health)),
        "transitions": ConfigChange.objects.for_user(request.user).filter(
            source=correlation.HEALTH_SOURCE).select_related("config").order_by(
            "-created_at")[:50],
    })


# -- scrapers --------------------------------------------------------------------------------


@require_GET
def scraper_list(request: HttpRequest) -> HttpResponse:
    configs = ScrapeConfig.objects.for_user(request.user).filter(
        deleted_at__isnull=True).select_related("last_run").order_by("namespace", "name")
    return render(request, "catalog/scraper_list.html", {"configs": configs})


@require_GET
def scraper_detail(request: HttpRequest, pk: str) -> HttpResponse:
    config = get_object_or_404(ScrapeConfig.objects.for_user(request.user), pk=pk)
    runs = ScrapeRun.objects.filter(scrape_config=config).order_by("-created_at")[:20]
    return render(request, "catalog/scraper_detail.html", {
        "config": config, "runs": runs, "spec_yaml": to_yaml(config.spec),
        "can_run": request.user.has_perm("catalog.run_scrapeconfig", config)
        or ScrapeConfig.objects.for_user(request.user, "run").filter(pk=pk).exists(),
    })


@require_POST
def scraper_run_now(request: HttpRequest, pk: str) -> HttpResponse:
    config = get_object_or_404(ScrapeConfig.objects.for_user(request.user, "run"), pk=pk)
    try:
        run = scraping.enqueue(config, ScrapeRun.Trigger.MANUAL)
    except scraping.AlreadyRunning as exc:
        messages.info(request, str(exc))
        run = exc.run
    return htmx_redirect(request, run.get_absolute_url())


@require_GET
def run_detail(request: HttpRequest, pk: str) -> HttpResponse:
    run = get_object_or_404(ScrapeRun.objects.for_user(request.user).select_related(
        "scrape_config"), pk=pk)
    after = int(request.GET.get("after", 0) or 0)
    lines = list(run.log_lines.filter(seq__gt=after).order_by("seq")[:500])
    context = {"run": run, "lines": lines, "cursor": lines[-1].seq if lines else after}
    if is_partial(request):
        return render(request, "catalog/partials/_run_log.html", context)
    return render(request, "catalog/run_detail.html", context)
