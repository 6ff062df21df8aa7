"""One serializer per model; the ScrapeConfig one is also what forms and manifests validate with."""

import uuid
from collections.abc import Iterable
from typing import Any

from rest_framework import serializers

from catalog.access import sees_everything, visible_items, visible_scrapers
from catalog.models import (
    ConfigChange,
    ConfigInsight,
    ConfigItem,
    ConfigRelationship,
    ScrapeConfig,
    ScrapeRun,
)
from catalog.schedule import validate_schedule
from catalog.specs import validate_spec


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) or value is None else uuid.UUID(value)
    except ValueError:
        return None  # a malformed path segment names nothing, so it is never shown


class Visibility:
    """Which of the ids a page of rows points at the requester may see: two queries a page.

    A row can be visible while its parent, its ancestors or its scraper are not; those
    references are blanked rather than shown by id.
    """

    def __init__(self, user: Any, item_ids: Iterable[Any], scraper_ids: Iterable[Any]) -> None:
        self.everything = sees_everything(user)
        self.items: set[str] = set()
        self.scrapers: set[str] = set()
        if self.everything:
            return
        item_ids = {i for i in map(_uuid, item_ids) if i}
        scraper_ids = {i for i in scraper_ids if i}
        if item_ids:
            self.items = {str(pk) for pk in visible_items(user).filter(
                pk__in=item_ids).values_list("pk", flat=True)}
        if scraper_ids:
            self.scrapers = {str(pk) for pk in visible_scrapers(user).filter(
                pk__in=scraper_ids).values_list("pk", flat=True)}

    def item(self, pk: Any) -> Any:
        return pk if pk is None or self.everything or str(pk) in self.items else None

    def scraper(self, pk: Any) -> Any:
        return pk if pk is None or self.everything or str(pk) in self.scrapers else None

    def path(self, path: str, own: Any) -> str:
        """Dot-joined ancestor ids (self last) with the hidden ancestors left out."""
        if self.everything or not path:
            return path
        return ".".join(p for p in path.split(".") if p == str(own) or p in self.items)


def _requester(serializer: serializers.BaseSerializer) -> Any:
    request = serializer.context.get("request")
    # No request means an internal caller serializing for the system.
    return getattr(request, "user", None) if request is not None else None


class _VisibilityList(serializers.ListSerializer):
    """Resolves the visibility of every reference on the page at once, not once per row."""

    def to_representation(self, data: Any) -> list[Any]:
        rows = list(data.all() if hasattr(data, "all") else data)
        self.child.visibility = self.child.visibility_for(rows)
        return [self.child.to_representation(row) for row in rows]


class _MasksReferences(serializers.ModelSerializer):
    visibility: Visibility | None = None

    def visibility_for(self, rows: list[Any]) -> Visibility:
        raise NotImplementedError

    def visible(self, instance: Any) -> Visibility:
        return self.visibility or self.visibility_for([instance])


# Parent, path and scraper show only what the requester may see. (A comment, not a docstring:
# the docstring would become the schema's description.)
class ConfigItemSerializer(_MasksReferences):
    config_class = serializers.CharField(read_only=True)

    class Meta:
        model = ConfigItem
        fields = [
            "id", "agent", "scraper", "type", "config_class", "name", "namespace", "labels",
            "tags", "health", "status", "ready", "message", "description", "external_ids",
            "parent", "path", "properties", "source", "managed_by", "created_at", "updated_at",
            "first_seen_at", "deleted_at", "delete_reason", "config",
        ]
        read_only_fields = fields
        list_serializer_class = _VisibilityList

    def visibility_for(self, rows: list[Any]) -> Visibility:
        ancestors = {a for row in rows for a in (row.path or "").split(".")[:-1]}
        return Visibility(_requester(self), ancestors | {row.parent_id for row in rows},
                          {row.scraper_id for row in rows})

    def to_representation(self, instance: ConfigItem) -> dict[str, Any]:
        data = super().to_representation(instance)
        visible = self.visible(instance)
        data["parent"] = visible.item(instance.parent_id)
        data["path"] = visible.path(instance.path, instance.pk)
        data["scraper"] = visible.scraper(instance.scraper_id)
        request = self.context.get("request")
        # The raw document can be large: only on request (`?include=config`) or on detail.
        view = self.context.get("view")
        wants = request is not None and "config" in request.query_params.get("include", "")
        if not wants and getattr(view, "action", "") != "retrieve":
            data.pop("config", None)
        return data


class ConfigChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConfigChange
        fields = ["id", "config", "change_type", "severity", "source", "summary", "diff", "patch",
                  "details", "count", "first_observed", "created_at", "external_change_id",
                  "external_created_by"]
        read_only_fields = fields


# Both ends are visible (for_user); the scraper that wrote the edge may not be.
class ConfigRelationshipSerializer(_MasksReferences):
    class Meta:
        model = ConfigRelationship
        fields = ["id", "config", "related", "relation", "scraper", "created_at", "updated_at",
                  "deleted_at"]
        read_only_fields = fields
        list_serializer_class = _VisibilityList

    def visibility_for(self, rows: list[Any]) -> Visibility:
        return Visibility(_requester(self), (), {row.scraper_id for row in rows})

    def to_representation(self, instance: ConfigRelationship) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["scraper"] = self.visible(instance).scraper(instance.scraper_id)
        return data


class ConfigInsightSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConfigInsight
        fields = ["id", "config", "analyzer", "analysis_type", "severity", "status", "summary",
                  "message", "source", "first_observed", "last_observed", "resolved_at"]
        read_only_fields = fields


class ScrapeConfigSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScrapeConfig
        fields = ["id", "name", "namespace", "spec", "schedule", "paused", "managed_by",
                  "source_ref", "sync_status", "sync_error", "last_run", "next_run_at",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "managed_by", "source_ref", "sync_status", "sync_error",
                            "last_run", "next_run_at", "created_at", "updated_at"]

    def validate_spec(self, spec: Any) -> Any:
        errors = validate_spec(spec)
        if errors:
            raise serializers.ValidationError(errors)
        return spec

    def validate_schedule(self, schedule: str) -> str:
        try:
            validate_schedule(schedule)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return schedule


class ScrapeRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScrapeRun
        fields = ["id", "scrape_config", "trigger", "status", "created_at", "started_at",
                  "finished_at", "duration_ms", "created", "updated", "unchanged", "deleted",
                  "undeleted", "changes", "changes_deduped", "errors", "per_type", "error_list"]
        read_only_fields = fields
