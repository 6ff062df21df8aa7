"""`{% approvals_waiting as n %}`: the nav's count of runs waiting for the viewer's decision."""

from typing import Any

from django import template

from playbooks.approvals import pending_for

register = template.Library()


@register.simple_tag(takes_context=True)
def approvals_waiting(context: dict[str, Any]) -> int:
    """A tag rather than a context processor: only pages drawing the nav pay for the count."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return 0
    return pending_for(user).count()
