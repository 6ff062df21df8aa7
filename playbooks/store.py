"""The one write path for playbooks: validation, ownership guards, grants and audit fields.

Pages, the API and the YAML loader call save(); none of them writes Playbook rows directly.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from guardian.shortcuts import assign_perm

from playbooks import spec as specs
from playbooks.models import Playbook
from portal.errors import FlightdeckError
from portal.models import ManagedBy

CREATOR_PERMS = ("view_playbook", "run_playbook", "change_playbook", "delete_playbook")


class OwnedElsewhere(FlightdeckError):
    """The playbook comes from a file or a custom resource and must be edited there."""


def save(playbook: Playbook | None, *, name: str, namespace: str, spec: Any, actor: Any,
         managed_by: str = ManagedBy.UI, source_ref: str = "") -> Playbook:
    """Create or update after validating the spec (SpecError lists every problem)."""
    if playbook is not None and playbook.managed_by in (ManagedBy.CRD, ManagedBy.FILE) \
            and managed_by != playbook.managed_by:
        raise OwnedElsewhere(f"playbook {playbook.ref} is managed by {playbook.managed_by} "
                             f"({playbook.source_ref}); change it there")
    clean = specs.validate(spec)
    fields = {"title": clean["title"], "description": clean["description"],
              "category": clean["category"], "icon": clean["icon"], "spec": clean,
              "managed_by": managed_by, "source_ref": source_ref}
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        _check_webhook_path(clean, playbook)
        if playbook is None:
            playbook = Playbook.objects.create(name=name, namespace=namespace, created_by=user,
                                               updated_by=user, **fields)
            if user is not None:
                for perm in CREATOR_PERMS:
                    assign_perm(perm, user, playbook)
        else:
            for key, value in fields.items():
                setattr(playbook, key, value)
            playbook.name, playbook.namespace, playbook.updated_by = name, namespace, user
            playbook.generation += 1
            playbook.save()
    return playbook


def _check_webhook_path(clean: dict[str, Any], playbook: Playbook | None) -> None:
    """A webhook path names one live playbook, or a delivery could start the wrong one."""
    path = ((clean.get("on") or {}).get("webhook") or {}).get("path")
    if not path:
        return
    others = Playbook.objects.live().filter(spec__on__webhook__path=path)
    if playbook is not None:
        others = others.exclude(pk=playbook.pk)
    other = others.first()
    if other is not None:
        raise specs.SpecError([("on.webhook.path", f"{path!r} is already used by playbook "
                                                   f"{other.ref}")])
