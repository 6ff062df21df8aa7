"""`/api/v1/tokens/`: a person manages their own API tokens; the secret is returned once."""

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import mixins, status, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.serializers import APITokenSerializer
from accounts.audit import record
from accounts.models import APIToken
from accounts.tokens import create_token


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class APITokenViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin,
                      viewsets.ReadOnlyModelViewSet):
    serializer_class = APITokenSerializer
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[APIToken]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return APIToken.objects.none()
        # Tokens are personal: even admins list only their own here.
        return APIToken.objects.filter(person=self.request.user)

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, plaintext = create_token(
            request.user, serializer.validated_data["name"],
            expires_at=serializer.validated_data.get("expires_at"),
            scopes=serializer.validated_data.get("scopes"),
        )
        record(request, "token.create", obj=token)
        token.plaintext = plaintext
        return Response(self.get_serializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: APIToken) -> None:
        """Revoked, not deleted: the audit trail keeps pointing at it."""
        instance.revoked_at = timezone.now()
        instance.save(update_fields=["revoked_at"])
        record(self.request, "token.revoke", obj=instance)
