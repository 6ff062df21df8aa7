"""One FilterSet per model, shared by the API; `q` takes the search language.

Every filter that names another row (an item, a scraper) only accepts rows the requester may
see: an id they cannot see is refused exactly as an id that does not exist.
"""

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


def _visible_items(request: Any) -> QuerySet[ConfigItem]:
    return ConfigItem.objects.for_user(getattr(request, "user", None))


def _visible_scrapers(request: Any) -> QuerySet[ScrapeConfig]:
    return ScrapeConfig.objects.for_user(getattr(request, "user", None))


def _item_filter() -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(queryset=_visible_items)


def _scraper_filter() -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(queryset=_visible_scrapers)


class _Search(django_filters.FilterSet):
    """`q`: the search language, run as the requester (related= and scraper look further)."""

    def search_items(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return self._search("items", queryset, value)

    def search_changes(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return self._search("changes", queryset, value)

    def _search(self, kind: str, queryset: QuerySet, value: str) -> QuerySet:
        from catalog.search import filter_changes, filter_items

        run = filter_items if kind == "items" else filter_changes
        try:
            result = run(queryset, value, user=self.request.user)
        except SearchError as exc:
            raise ValidationError({"q": [str(exc)]}) from exc
        # The API pages by cursor, so the language's own order/limit give way to it.
        return result.queryset.order_by()


class ConfigItemFilterSet(_Search):
    q = django_filters.CharFilter(method="search_items", label="search language")
    scraper = _scraper_filter()

    class Meta:
        model = ConfigItem
        fields = ["type", "health", "namespace", "status", "scraper", "ready"]


class ConfigChangeFilterSet(_Search):
    q = django_filters.CharFilter(method="search_changes", label="search language")
    config = _item_filter()

    class Meta:
        model = ConfigChange
        fields = ["config", "change_type", "severity", "source"]


class ConfigRelationshipFilterSet(django_filters.FilterSet):
    config = _item_filter()
    related = _item_filter()

    class Meta:
        model = ConfigRelationship
        fields = ["config", "related", "relation"]


class ConfigInsightFilterSet(django_filters.FilterSet):
    config = _item_filter()

    class Meta:
        model = ConfigInsight
        fields = ["config", "status", "analysis_type", "severity"]


class ScrapeConfigFilterSet(django_filters.FilterSet):
    class Meta:
        model = ScrapeConfig
        fields = ["namespace", "name", "managed_by", "paused"]


class ScrapeRunFilterSet(django_filters.FilterSet):
    scrape_config = _scraper_filter()

    class Meta:
        model = ScrapeRun
        fields = ["scrape_config", "status", "trigger"]
