"""The Playbooks tab of a catalog item, registered with catalog.tabs by PlaybooksConfig."""

from typing import Any

from django.http import HttpRequest

from catalog import tabs
from playbooks import execution
from playbooks.models import Playbook, PlaybookRun

MAX_CANDIDATES = 200  # each candidate costs a query or two in applies_to()
RECENT_RUNS = 20


def context(request: HttpRequest, item: Any) -> dict[str, Any]:
    """Playbooks the person may run that apply to the item, and the item's recent runs."""
    runnable = (Playbook.objects.for_user(request.user, "run").live()
                .order_by("category", "title", "id")[:MAX_CANDIDATES])
    # An untargeted playbook never applies to an item, so it costs no query here.
    applicable = [p for p in runnable
                  if (p.spec or {}).get("configs") and execution.applies_to(p, item)]
    runs = (PlaybookRun.objects.for_user(request.user).filter(config=item)
            .select_related("playbook", "created_by").order_by("-created_at", "-id")
            [:RECENT_RUNS])
    return {"item_playbooks": applicable, "item_runs": runs}


def register() -> None:
    tabs.register(tabs.Tab("playbooks", "Playbooks", "playbooks/partials/_item_tab.html",
                           context, order=50))
