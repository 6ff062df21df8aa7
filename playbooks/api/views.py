"""Thin DRF viewsets: querysets from for_user(), writes through playbooks.store/execution."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import (
    APIException,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.audit import record
from catalog.access import visible_items
from playbooks import access, approvals, execution, store
from playbooks.api import serializers as s
from playbooks.models import Playbook, PlaybookApproval, PlaybookRun
from playbooks.parameters import ParameterError
from portal.models import ManagedBy
from portal.permissions import is_admin


def can_create(user) -> bool:
    return is_admin(user) or user.groups.filter(name="editor").exists()


class ByTitle(CursorPagination):
    page_size = 50
    ordering = ("category", "title", "id")


class Newest(CursorPagination):
    page_size = 50
    ordering = ("-created_at", "-id")


class PlaybookViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                      mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.PlaybookSerializer
    pagination_class = ByTitle
    filterset_fields = ["category", "namespace", "managed_by"]
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self) -> QuerySet[Playbook]:
        verb = {"update": "change", "partial_update": "change", "destroy": "delete",
                "run": "run"}.get(self.action, "view")
        return Playbook.objects.for_user(self.request.user, verb).live()

    def perform_create(self, serializer: s.PlaybookSerializer) -> None:
        if not can_create(self.request.user):
            raise PermissionDenied("Creating playbooks needs the editor or admin role.")
        data = serializer.validated_data
        serializer.instance = store.save(None, name=data["name"],
                                         namespace=data.get("namespace", "default"),
                                         spec=data["spec"], actor=self.request.user,
                                         managed_by=ManagedBy.API)
        record(self.request, "playbook.create", obj=serializer.instance)

    def perform_update(self, serializer: s.PlaybookSerializer) -> None:
        playbook = serializer.instance
        data = serializer.validated_data
        try:
            serializer.instance = store.save(
                playbook, name=data.get("name", playbook.name),
                namespace=data.get("namespace", playbook.namespace),
                spec=data.get("spec", playbook.spec), actor=self.request.user,
                managed_by=playbook.managed_by, source_ref=playbook.source_ref)
        except store.OwnedElsewhere as exc:
            raise PermissionDenied(str(exc)) from None
        record(self.request, "playbook.update", obj=serializer.instance)

    def perform_destroy(self, instance: Playbook) -> None:
        if instance.managed_by in (ManagedBy.CRD, ManagedBy.FILE):
            raise PermissionDenied(f"This playbook comes from {instance.source_ref}; "
                                   "delete it there.")
        from django.utils import timezone

        instance.deleted_at = timezone.now()
        instance.save(update_fields=["deleted_at", "updated_at"])
        record(self.request, "playbook.delete", obj=instance)

    @extend_schema(request=s.RunRequestSerializer, responses={202: s.PlaybookRunSerializer},
                   operation_id="playbooks_run")
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None, **kwargs: object) -> Response:
        playbook = self.get_object()
        body = s.RunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        config = None
        if body.validated_data.get("config"):
            config = visible_items(request.user).filter(
                pk=body.validated_data["config"], deleted_at__isnull=True).first()
            if config is None:
                raise ValidationError({"config": ["no such catalog item, or it is not shared "
                                                  "with you"]})
        try:
            run = execution.start(playbook, user=request.user, config=config,
                                  params=body.validated_data["params"],
                                  trigger=PlaybookRun.Trigger.API,
                                  dry_run=body.validated_data["dry_run"])
        except ParameterError as exc:
            raise ValidationError({"params": exc.problems}) from None
        except execution.NotApplicable as exc:
            raise ValidationError({"config": [str(exc)]}) from None
        record(request, "playbook.run", obj=playbook)
        return Response(s.PlaybookRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class PlaybookRunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.PlaybookRunSerializer
    pagination_class = Newest
    filterset_fields = ["playbook", "status", "config", "trigger"]
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self) -> QuerySet[PlaybookRun]:
        return PlaybookRun.objects.for_user(self.request.user).prefetch_related("actions")

    @extend_schema(request=None, responses={200: s.PlaybookRunSerializer},
                   operation_id="playbook_runs_cancel")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None, **kwargs: object) -> Response:
        run = self.get_object()
        if not access.may_cancel(request.user, run):
            raise NotFound()
        run = execution.cancel(run, request.user)
        record(request, "playbook.cancel", obj=run)
        return Response(s.PlaybookRunSerializer(run).data)

    @extend_schema(request=s.DecisionSerializer, responses={200: s.PlaybookRunSerializer},
                   operation_id="playbook_runs_approve")
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None, **kwargs: object) -> Response:
        return self._decide(request, PlaybookApproval.Decision.APPROVED)

    @extend_schema(request=s.DecisionSerializer, responses={200: s.PlaybookRunSerializer},
                   operation_id="playbook_runs_reject")
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None, **kwargs: object) -> Response:
        return self._decide(request, PlaybookApproval.Decision.REJECTED)

    def _decide(self, request: Request, decision: str) -> Response:
        """404 unless the person may see the run or decide it; 409 when it is not waiting;
        403 for someone who sees it but is not an approver."""
        run = PlaybookRun.objects.filter(pk=self.kwargs["pk"]).first()
        if run is None or not (self.get_queryset().filter(pk=run.pk).exists()
                               or approvals.is_approver(run, request.user)):
            raise NotFound()
        self.check_object_permissions(request, run)
        body = s.DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            run = approvals.decide(run, request.user, decision, body.validated_data["comment"])
        except approvals.NotAnApprover as exc:
            raise PermissionDenied(str(exc)) from None
        except approvals.ApprovalError as exc:
            raise Conflict(str(exc)) from None
        record(request, "playbook.approve" if decision == PlaybookApproval.Decision.APPROVED
               else "playbook.reject", obj=run)
        return Response(s.PlaybookRunSerializer(run).data)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the object's current state."
    default_code = "conflict"
