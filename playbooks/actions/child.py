"""playbook: start another playbook as a child run, and by default wait for its outcome.

A waiting parent runs its child in the same worker process instead of queueing it: a parent
blocking a worker slot while its child waits for a free slot would deadlock a small pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from playbooks.actions.base import ActionContext, ActionError, Problem


class Child:
    name = "playbook"

    def validate(self, spec: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        if not spec.get("playbook"):
            problems.append(("playbook", "This field is required (namespace/name)."))
        if "params" in spec and not isinstance(spec["params"], Mapping):
            problems.append(("params", "must be a mapping of parameter names to values"))
        return problems

    def run(self, ctx: ActionContext) -> dict[str, Any]:
        from catalog.access import visible_items
        from playbooks import execution
        from playbooks.models import Playbook, PlaybookRun
        from playbooks.parameters import ParameterError

        ref = str(ctx.spec["playbook"])
        namespace, _, name = ref.rpartition("/")
        child = Playbook.objects.live().filter(namespace=namespace or ctx.namespace,
                                               name=name).first()
        if child is None:
            raise ActionError(f"no playbook {ref}")
        config_id = ctx.spec.get("config") or (ctx.config or {}).get("id")
        config = visible_items(None).filter(pk=config_id).first() if config_id else None
        parent = PlaybookRun.objects.get(pk=ctx.run_id)
        wait = ctx.spec.get("wait", True) is not False
        if ctx.dry_run:
            return {"plan": {"playbook": child.ref, "config": str(config_id or ""),
                             "params": dict(ctx.spec.get("params") or {}), "wait": wait}}
        try:
            run = execution.start(
                child, user=ctx.actor, config=config, params=ctx.spec.get("params") or {},
                trigger=PlaybookRun.Trigger.PLAYBOOK, parent=parent, send=not wait,
                idempotency_key=f"child:{ctx.run_id}:{ctx.action_name}")
        except (ParameterError, execution.NotApplicable) as exc:
            raise ActionError(f"{child.ref}: {exc}") from None
        ctx.log(f"started {child.ref} as run {run.pk}", "system")
        if not wait:
            return {"run_id": str(run.pk), "status": run.status}
        execution.execute(run.pk)
        run.refresh_from_db()
        result = {"run_id": str(run.pk), "status": run.status}
        if run.status != PlaybookRun.Status.COMPLETED:
            raise ActionError(f"{child.ref} ended {run.status}: {run.error}", result)
        return result


KIND = Child()
