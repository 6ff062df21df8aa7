"""Catalog pages: thin adapters over for_user() querysets and domain functions."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from catalog import scraping
from catalog.diff import to_yaml
from catalog.models import ConfigChange, ConfigItem, ConfigRelationship, ScrapeConfig, ScrapeRun
from portal.htmx import htmx_redirect, is_partial

PAGE_SIZE = 50


@require_GET
def item_list(request: HttpRequest) -> HttpResponse:
    items = ConfigItem.objects.for_user(request.user)
    if request.GET.get("deleted") != "1":
        items = items.filter(deleted_at__isnull=True)
    q = request.GET.get("q", "").strip()
    if q:
        items = items.filter(Q(name__istartswith=q) | Q(type__iexact=q))
    for field in ("type", "health", "namespace"):
        if value := request.GET.get(field):
            items = items.filter(**{field: value})
    summary = (items.values("type").annotate(
        total=Count("id"),
        unhealthy=Count("id", filter=Q(health="unhealthy")),
        warning=Count("id", filter=Q(health="warning")),
    ).order_by("type"))
    page = Paginator(items.order_by("type", "name", "id").only(
        "id", "type", "name", "namespace", "health", "status", "ready", "tags", "updated_at",
    ), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "summary": summary, "q": q, "params": request.GET}
    if is_partial(request):
        return render(request, "catalog/partials/_item_rows.html", context)
    return render(request, "catalog/item_list.html", context)


@require_GET
def item_detail(request: HttpRequest, pk: str) -> HttpResponse:
    item = get_object_or_404(ConfigItem.objects.for_user(request.user).select_related("scraper",
                                                                                      "parent"),
                             pk=pk)
    visible = ConfigItem.objects.for_user(request.user)
    context = {
        "item": item,
        "config_yaml": to_yaml(item.config),
        "changes": ConfigChange.objects.filter(config=item).order_by("-created_at")[:50],
        "outgoing": ConfigRelationship.objects.filter(
            config=item, deleted_at__isnull=True, related__in=visible).select_related("related"),
        "incoming": ConfigRelationship.objects.filter(
            related=item, deleted_at__isnull=True, config__in=visible).select_related("config"),
    }
    return render(request, "catalog/item_detail.html", context)


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
