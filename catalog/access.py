"""Row visibility in one place: every view, API, search, facet and walk asks for_user() here."""

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


# `user=None` is the system (scheduled checks, notifications, playbook targets): it sees every
# row. It is spelled out here, not inside for_user(), so a forgotten user still sees nothing.
SYSTEM = None


def visible_items(user: Any) -> ItemQuerySet:
    """Items `user` may see; the system (None) sees every item."""
    from catalog.models import ConfigItem

    return ConfigItem.objects.all() if user is SYSTEM else ConfigItem.objects.for_user(user)


def visible_scrapers(user: Any) -> ScrapeConfigQuerySet:
    """ScrapeConfigs `user` was granted; an item grant does not reveal its scraper."""
    from catalog.models import ScrapeConfig

    return ScrapeConfig.objects.all() if user is SYSTEM else ScrapeConfig.objects.for_user(user)


def sees_everything(user: Any) -> bool:
    """True when no row is hidden from `user`, so callers may skip visibility queries."""
    return user is SYSTEM or is_admin(user)
