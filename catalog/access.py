"""Row visibility in one place: every view, API, search, facet and graph calls for_user()."""

from typing import Any, Self

from django.db import models
from django.db.models import Q

from portal.permissions import GrantedQuerySet, granted_pks, is_admin


class ScrapeConfigQuerySet(GrantedQuerySet):
    """Scrapers are granted one by one (`view`, `change`, `run`)."""


class ItemQuerySet(models.QuerySet):
    def for_user(self, user: Any, action: str = "view") -> Self:
        """Visible when granted on the item itself or on the ScrapeConfig that produced it."""
        if is_admin(user):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        from catalog.models import ScrapeConfig

        return self.filter(
            Q(scraper_id__in=granted_pks(user, ScrapeConfig, "view"))
            | Q(pk__in=granted_pks(user, self.model, action))
        )

    def live(self) -> Self:
        return self.filter(deleted_at__isnull=True)


class ScrapeScopedQuerySet(models.QuerySet):
    """Rows that hang off items or scrapers inherit their visibility."""

    def for_user(self, user: Any, action: str = "view") -> Self:
        if is_admin(user):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        from catalog.models import ConfigItem, ConfigRelationship, ScrapeConfig, ScrapeRun

        if self.model is ScrapeRun:
            return self.filter(scrape_config__in=ScrapeConfig.objects.for_user(user))
        visible = ConfigItem.objects.for_user(user).values("pk")
        if self.model is ConfigRelationship:
            return self.filter(config_id__in=visible, related_id__in=visible)
        return self.filter(config_id__in=visible)
