"""One FilterSet per model, shared by the API; `q` takes the search language (product.md §9)."""

from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from catalog.models import (
    ConfigChange,
    ConfigInsight,
    ConfigItem,
    ConfigRelationship,
    ScrapeConfig,
    ScrapeRun,
)
from catalog.search import SearchError


def _search(kind: str) -> Any:
    def apply(queryset: QuerySet, name: str, value: str) -> QuerySet:
        from catalog.search import filter_changes, filter_items

        run = filter_items if kind == "items" else filter_changes
        try:
            result = run(queryset, value)
        except SearchError as exc:
            raise ValidationError({"q": [str(exc)]}) from exc
        # The API pages by cursor, so the language's own order/limit give way to it.
        return result.queryset.order_by()

    return apply


class ConfigItemFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method=_search("items"), label="search language")

    class Meta:
        model = ConfigItem
        fields = ["type", "health", "namespace", "status", "scraper", "ready"]


class ConfigChangeFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method=_search("changes"), label="search language")

    class Meta:
        model = ConfigChange
        fields = ["config", "change_type", "severity", "source"]


class ConfigRelationshipFilterSet(django_filters.FilterSet):
    class Meta:
        model = ConfigRelationship
        fields = ["config", "related", "relation"]


class ConfigInsightFilterSet(django_filters.FilterSet):
    class Meta:
        model = ConfigInsight
        fields = ["config", "status", "analysis_type", "severity"]


class ScrapeConfigFilterSet(django_filters.FilterSet):
    class Meta:
        model = ScrapeConfig
        fields = ["namespace", "name", "managed_by", "paused"]


class ScrapeRunFilterSet(django_filters.FilterSet):
    class Meta:
        model = ScrapeRun
        fields = ["scrape_config", "status", "trigger"]
