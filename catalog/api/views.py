"""Thin DRF viewsets: every queryset comes from for_user(), every verb calls a domain function."""

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.audit import record
from catalog import filtersets as f
from catalog import scraping
from catalog.api import serializers as s
from catalog.models import (
    ConfigChange,
    ConfigInsight,
    ConfigItem,
    ConfigRelationship,
    ScrapeConfig,
    ScrapeRun,
)
from portal.models import ManagedBy


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"


class ByCreated(Cursor):
    ordering = ("-created_at", "-id")


class ConfigItemViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ConfigItemSerializer
    pagination_class = Cursor
    filterset_class = f.ConfigItemFilterSet

    def get_queryset(self) -> QuerySet[ConfigItem]:
        items = ConfigItem.objects.for_user(self.request.user)
        if self.action == "list" and self.request.query_params.get("deleted") != "true":
            items = items.filter(deleted_at__isnull=True)
        return items


class ConfigChangeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ConfigChangeSerializer
    pagination_class = ByCreated
    filterset_class = f.ConfigChangeFilterSet

    def get_queryset(self) -> QuerySet[ConfigChange]:
        return ConfigChange.objects.for_user(self.request.user)


class ConfigRelationshipViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ConfigRelationshipSerializer
    pagination_class = Cursor
    filterset_class = f.ConfigRelationshipFilterSet

    def get_queryset(self) -> QuerySet[ConfigRelationship]:
        return ConfigRelationship.objects.for_user(self.request.user).filter(
            deleted_at__isnull=True)


class ConfigInsightViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ConfigInsightSerializer
    pagination_class = Cursor
    filterset_class = f.ConfigInsightFilterSet

    def get_queryset(self) -> QuerySet[ConfigInsight]:
        return ConfigInsight.objects.for_user(self.request.user)


class ScrapeConfigViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                          mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ScrapeConfigSerializer
    pagination_class = ByCreated
    filterset_class = f.ScrapeConfigFilterSet

    def get_queryset(self) -> QuerySet[ScrapeConfig]:
        action = {"update": "change", "partial_update": "change", "destroy": "delete",
                  "run": "run"}.get(self.action, "view")
        return ScrapeConfig.objects.for_user(self.request.user, action).filter(
            deleted_at__isnull=True)

    def perform_create(self, serializer: s.ScrapeConfigSerializer) -> None:
        if not self.request.user.has_perm("catalog.add_scrapeconfig") and not (
            self.request.user.groups.filter(name__in=["admin", "editor"]).exists()
        ):
            raise PermissionDenied("Creating scrapers needs the editor or admin role.")
        config = serializer.save(managed_by=ManagedBy.API, created_by=self.request.user)
        record(self.request, "scrapeconfig.create", obj=config)

    def perform_update(self, serializer: s.ScrapeConfigSerializer) -> None:
        if serializer.instance.managed_by in (ManagedBy.CRD, ManagedBy.FILE):
            raise PermissionDenied(
                f"This scraper is managed by {serializer.instance.managed_by} "
                f"({serializer.instance.source_ref}); edit it there.")
        serializer.save(updated_by=self.request.user)

    def perform_destroy(self, instance: ScrapeConfig) -> None:
        instance.deleted_at = timezone.now()
        instance.delete_reason = "manual"
        instance.save(update_fields=["deleted_at", "delete_reason", "updated_at"])

    @extend_schema(request=None, responses={202: s.ScrapeRunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None, **kwargs: object) -> Response:
        config = self.get_object()
        try:
            run = scraping.enqueue(config, ScrapeRun.Trigger.API)
        except scraping.AlreadyRunning as exc:
            return Response(s.ScrapeRunSerializer(exc.run).data, status=status.HTTP_409_CONFLICT)
        return Response(s.ScrapeRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ScrapeRunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ScrapeRunSerializer
    pagination_class = ByCreated
    filterset_class = f.ScrapeRunFilterSet

    def get_queryset(self) -> QuerySet[ScrapeRun]:
        return ScrapeRun.objects.for_user(self.request.user)
