"""notification: tell people. Email through Django's email backend, or a webhook/Slack
connection. (Notification channels with routing and noise control come with notifications.)"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from connections import ssrf
from playbooks.actions import connection as connections
from playbooks.actions.base import ActionContext, ActionError, Problem

MAX_MESSAGE = 40_000


def _emails(to: Any) -> list[str]:
    if not isinstance(to, Mapping):
        return []
    value = to.get("email") or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


class Notification:
    name = "notification"

    def validate(self, spec: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        if not spec.get("connection") and not _emails(spec.get("to")):
            problems.append(("", "give `connection` (webhook or slack) or `to.email`"))
        if not spec.get("message"):
            problems.append(("message", "This field is required."))
        for index, email in enumerate(_emails(spec.get("to"))):
            if "@" not in email and "{{" not in email:
                problems.append((f"to.email[{index}]", f"{email!r} is not an email address"))
        return problems

    def run(self, ctx: ActionContext) -> dict[str, Any]:
        spec = ctx.spec
        title = str(spec.get("title") or "Flightdeck")[:200]
        message = str(spec.get("message") or "")[:MAX_MESSAGE]
        emails = _emails(spec.get("to"))
        if ctx.dry_run:
            return {"plan": {"to": emails or [str(spec.get("connection"))], "title": title,
                             "message": message}}
        sent: list[str] = []
        if emails:
            send_mail(title, message, settings.DEFAULT_FROM_EMAIL, emails, fail_silently=False)
            sent += [f"email:{e}" for e in emails]
            ctx.log(f"emailed {', '.join(emails)}", "system")
        if spec.get("connection"):
            sent.append(self._post(ctx, str(spec["connection"]), title, message))
        return {"sent_to": sent}

    def _post(self, ctx: ActionContext, ref: str, title: str, message: str) -> str:
        found = connections.resolve(ctx, ref, ("webhook", "slack"), "notification",
                                    timeout=min(ctx.timeout, 30))
        conf = found.settings
        if found.connection.type == "slack":
            if getattr(conf, "token", ""):
                url = f"{conf.api_url}/chat.postMessage"
                headers = {"Authorization": f"Bearer {conf.token}"}
                body = {"channel": conf.channel, "text": f"*{title}*\n{message}"}
            else:
                url, headers = conf.webhook_url, {}
                body = {"text": f"*{title}*\n{message}"}
        else:
            url, headers = conf.url, dict(conf.headers)
            body = {"title": title, "message": message, "run_id": str(ctx.run_id),
                    "action": ctx.action_name}
        response = ssrf.request("POST", url, policy=found.policy,
                                headers={**headers, "Content-Type": "application/json"},
                                body=json.dumps(body).encode())
        if not 200 <= response.status < 300:
            raise ActionError(f"{found.connection.reference} answered HTTP {response.status}",
                              {"status": response.status})
        ctx.log(f"posted to {found.connection.reference}: HTTP {response.status}", "system")
        return found.connection.reference


KIND = Notification()
