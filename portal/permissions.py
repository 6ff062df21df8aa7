"""Row visibility helpers every app shares: the admin test, guardian grants as one subquery,
and the queryset base whose for_user() they power."""

from typing import Any, Self

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet, UUIDField
from django.db.models.functions import Cast
from guardian.models import GroupObjectPermission, UserObjectPermission

ADMIN_ROLE = "admin"


def is_admin(user: Any) -> bool:
    """Superusers and the admin role see every row."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_fd_is_admin", None)
    if cached is None:
        cached = user.groups.filter(name=ADMIN_ROLE).exists()
        user._fd_is_admin = cached
    return cached


def granted_pks(user: Any, model: type[models.Model], action: str = "view") -> QuerySet:
    """A subquery over guardian's tables, never guardian's per-object helpers on list paths."""
    ct = ContentType.objects.get_for_model(model)
    codename = f"{action}_{model._meta.model_name}"
    direct = UserObjectPermission.objects.filter(
        user_id=user.pk, content_type=ct, permission__codename=codename
    )
    via_groups = GroupObjectPermission.objects.filter(
        group__user=user.pk, content_type=ct, permission__codename=codename
    )
    return (
        direct.annotate(obj=Cast("object_pk", UUIDField())).values("obj").union(
            via_groups.annotate(obj=Cast("object_pk", UUIDField())).values("obj")
        )
    )


class GrantedQuerySet(models.QuerySet):
    """Rows granted one by one (scrapers, connections): admins see all, others their grants."""

    def for_user(self, user: Any, action: str = "view") -> Self:
        if is_admin(user):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(pk__in=granted_pks(user, self.model, action))

    def live(self) -> Self:
        return self.filter(deleted_at__isnull=True)
