from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_builtin_rows(sender: Any = None, **kwargs: Any) -> None:
    """Roles and the `local` agent must exist after migrate and after a test flush alike."""
    from django.contrib.auth.models import Group

    from accounts.models import ROLES, Agent
    from portal.ids import LOCAL_AGENT_ID

    for role in ROLES:
        Group.objects.get_or_create(name=role)
    Agent.objects.get_or_create(id=LOCAL_AGENT_ID, defaults={"name": "local",
                                                             "description": "The hub itself"})


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People, teams, tokens and audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import audit  # noqa: F401  (connects login signals)

        post_migrate.connect(ensure_builtin_rows, sender=self)
