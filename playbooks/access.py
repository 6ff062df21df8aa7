"""Who may act on a run beyond seeing it, decided in one place for pages (and the API)."""

from typing import Any

from playbooks.models import Playbook, PlaybookRun
from portal.permissions import is_admin


def may_cancel(user: Any, run: PlaybookRun) -> bool:
    """Admins, the person who started the run, and anyone who may run its playbook."""
    if is_admin(user) or (run.created_by_id is not None and run.created_by_id == user.pk):
        return True
    return Playbook.objects.for_user(user, "run").filter(pk=run.playbook_id).exists()
