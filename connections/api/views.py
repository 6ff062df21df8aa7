"""Thin DRF viewset: querysets from for_user(), writes through connections.store."""

import uuid

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from guardian.shortcuts import assign_perm
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.audit import record
from connections import resolve, store
from connections.api import serializers as s
from connections.models import Connection
from portal.models import ManagedBy
from portal.permissions import is_admin

OWNER_PERMS = ("view_connection", "use_connection", "change_connection", "delete_connection")


def can_create(user) -> bool:
    return is_admin(user) or user.has_perm("connections.add_connection") or (
        getattr(user, "is_authenticated", False)
        and user.groups.filter(name__in=["editor"]).exists())


def grant_creator(connection: Connection, user) -> None:
    """Whoever creates a connection may see, use, change and delete it."""
    if getattr(user, "is_authenticated", False):
        for perm in OWNER_PERMS:
            assign_perm(perm, user, connection)


class ByName(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("namespace", "name", "id")


class ConnectionViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                        mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ConnectionSerializer
    pagination_class = ByName
    filterset_fields = ["type", "namespace", "managed_by"]
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self) -> QuerySet[Connection]:
        verb = {"update": "change", "partial_update": "change", "destroy": "delete",
                "test": "use"}.get(self.action, "view")
        return Connection.objects.for_user(self.request.user, verb).live()

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "literals": True}

    def perform_create(self, serializer: s.ConnectionSerializer) -> None:
        if not can_create(self.request.user):
            raise PermissionDenied("Creating connections needs the editor or admin role.")
        data = serializer.validated_data
        prepared = store.separate(data["spec"], frozenset())
        connection, changed = store.save(None, name=data["name"],
                                         namespace=data.get("namespace", "default"),
                                         prepared=prepared, actor=self.request.user,
                                         managed_by=ManagedBy.API)
        grant_creator(connection, self.request.user)
        serializer.instance = connection
        record(self.request, "connection.create", obj=connection, changes={"fields": changed})

    def perform_update(self, serializer: s.ConnectionSerializer) -> None:
        connection = serializer.instance
        if connection.managed_by in (ManagedBy.CRD, ManagedBy.FILE):
            raise PermissionDenied(f"This connection is managed by {connection.managed_by} "
                                   f"({connection.source_ref}); edit it there.")
        data = serializer.validated_data
        prepared = store.separate(data.get("spec", connection.spec),
                                  store.stored_fields(connection))
        connection, changed = store.save(connection, name=data.get("name", connection.name),
                                         namespace=data.get("namespace", connection.namespace),
                                         prepared=prepared, actor=self.request.user,
                                         managed_by=connection.managed_by)
        serializer.instance = connection
        record(self.request, "connection.update", obj=connection, changes={"fields": changed})

    def perform_destroy(self, instance: Connection) -> None:
        if instance.managed_by == ManagedBy.FILE:
            raise PermissionDenied(f"This connection comes from {instance.source_ref}; "
                                   "delete it there.")
        store.soft_delete(instance)
        record(self.request, "connection.delete", obj=instance)

    @extend_schema(request=None, responses={200: s.TestResultSerializer},
                   operation_id="connections_test")
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        connection = self.get_object()
        result = resolve.test_and_store(connection, actor=request.user)
        return Response({"ok": result.ok, "message": result.message,
                         "latency_ms": result.latency_ms, "tested_at": connection.last_tested_at})

    @extend_schema(request=s.UnsavedTestSerializer, responses={200: s.TestResultSerializer},
                   operation_id="connections_test_unsaved")
    @action(detail=False, methods=["post"], url_path="test", url_name="test-unsaved")
    def test_unsaved(self, request: Request) -> Response:
        """Test a connection before saving it: literals stay in memory and are never stored."""
        if not can_create(request.user):
            raise PermissionDenied("Testing new connections needs the editor or admin role.")
        body = s.UnsavedTestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        namespace = body.validated_data["namespace"]
        checked = s.ConnectionSerializer(
            data={"name": f"unsaved-{uuid.uuid4().hex[:8]}", "namespace": namespace,
                  "spec": body.validated_data["spec"]},
            context=self.get_serializer_context())
        checked.is_valid(raise_exception=True)
        prepared = store.separate(checked.validated_data["spec"], frozenset())
        connection = Connection(name=checked.validated_data["name"], namespace=namespace,
                                type=checked.validated_data["type"], spec=prepared.spec)
        store.project(connection)
        result = resolve.probe(connection, actor=request.user, literals=prepared.literals,
                               user=request.user)
        return Response({"ok": result.ok, "message": result.message,
                         "latency_ms": result.latency_ms, "tested_at": timezone.now()},
                        status=status.HTTP_200_OK)


__all__ = ["ConnectionViewSet", "can_create", "grant_creator", "serializers"]
