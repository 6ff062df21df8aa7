"""One serializer per model; the ScrapeConfig one is also what forms and manifests validate with."""

from typing import Any

from rest_framework import serializers

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


class ConfigItemSerializer(serializers.ModelSerializer):
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

    def to_representation(self, instance: ConfigItem) -> dict[str, Any]:
        data = super().to_representation(instance)
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


class ConfigRelationshipSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConfigRelationship
        fields = ["id", "config", "related", "relation", "scraper", "created_at", "updated_at",
                  "deleted_at"]
        read_only_fields = fields


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
