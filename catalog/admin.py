"""Admin for every catalog model, usable at 100k rows: no second full count, raw-id foreign keys."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from catalog import scraping
from catalog.models import (
    ConfigChange,
    ConfigInsight,
    ConfigItem,
    ConfigRelationship,
    HealthRule,
    ScrapeConfig,
    ScrapeLogLine,
    ScrapeRun,
)
from portal.models import ManagedBy


class LargeTableAdmin(admin.ModelAdmin):
    """`show_full_result_count` off: a filtered changelist does not also count the whole table."""

    show_full_result_count = False
    list_per_page = 50


@admin.register(ScrapeConfig)
class ScrapeConfigAdmin(GuardedModelAdmin):
    list_display = ("name", "namespace", "schedule", "paused", "managed_by", "last_run",
                    "next_run_at")
    list_filter = ("managed_by", "paused")
    search_fields = ("name", "namespace")
    raw_id_fields = ("last_run", "created_by", "updated_by")
    actions = ["run_now"]

    def get_readonly_fields(self, request: HttpRequest, obj: ScrapeConfig | None = None) -> list:
        # CR- and file-managed rows are edited at their source, never here.
        if obj is not None and obj.managed_by in (ManagedBy.CRD, ManagedBy.FILE):
            return [f.name for f in self.model._meta.fields]
        return []

    @admin.action(description="Run now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[ScrapeConfig]) -> None:
        for config in queryset:
            try:
                run = scraping.enqueue(config, "manual")
                self.message_user(request, f"{config}: run {run.pk} queued")
            except scraping.AlreadyRunning as exc:
                self.message_user(request, str(exc), messages.WARNING)


@admin.register(ScrapeRun)
class ScrapeRunAdmin(LargeTableAdmin):
    list_display = ("id", "scrape_config", "trigger", "status", "started_at", "duration_ms",
                    "created", "updated", "deleted", "errors")
    list_filter = ("status", "trigger")
    raw_id_fields = ("scrape_config",)
    date_hierarchy = "created_at"


@admin.register(ScrapeLogLine)
class ScrapeLogLineAdmin(LargeTableAdmin):
    list_display = ("run", "seq", "ts", "level", "line")
    list_filter = ("level",)
    raw_id_fields = ("run",)


@admin.register(ConfigItem)
class ConfigItemAdmin(LargeTableAdmin, GuardedModelAdmin):
    list_display = ("name", "type", "namespace", "health", "status", "ready", "updated_at",
                    "deleted_at")
    list_filter = ("health", "ready", "managed_by")
    # Prefix search on the indexed lower(name); `=` forces exact matches on the id.
    search_fields = ("name__istartswith", "=id")
    raw_id_fields = ("scraper", "parent")
    readonly_fields = ("id", "config_hash", "item_hash", "first_seen_at")
    ordering = ("-updated_at",)


@admin.register(ConfigChange)
class ConfigChangeAdmin(LargeTableAdmin):
    list_display = ("config", "change_type", "severity", "source", "summary", "count",
                    "created_at")
    list_filter = ("severity",)
    search_fields = ("=config__id", "change_type")
    raw_id_fields = ("config", "created_by")
    ordering = ("-created_at",)


@admin.register(ConfigRelationship)
class ConfigRelationshipAdmin(LargeTableAdmin):
    list_display = ("config", "relation", "related", "created_at", "deleted_at")
    search_fields = ("relation", "=config__id", "=related__id")
    raw_id_fields = ("config", "related", "scraper")


@admin.register(ConfigInsight)
class ConfigInsightAdmin(LargeTableAdmin):
    list_display = ("analyzer", "config", "analysis_type", "severity", "status", "last_observed")
    list_filter = ("status", "analysis_type", "severity")
    search_fields = ("analyzer", "=config__id")
    raw_id_fields = ("config", "scraper")


@admin.register(HealthRule)
class HealthRuleAdmin(admin.ModelAdmin):
    list_display = ("scope", "scraper", "order", "when", "health", "enabled", "last_error")
    list_filter = ("scope", "enabled")
    raw_id_fields = ("scraper",)
