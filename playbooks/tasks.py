"""Thin Celery tasks: the run id travels, the row is the truth (queue `playbooks`)."""

from celery import shared_task

from playbooks import approvals, execution


@shared_task(acks_late=True, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 60)
def run_playbook(run_id: str) -> None:
    execution.execute(run_id)


@shared_task(soft_time_limit=60, time_limit=90)
def expire_approvals() -> None:
    """Beat, every five minutes on the default queue: waiting runs past expiresAfter cancel."""
    approvals.expire()


@shared_task(soft_time_limit=60, time_limit=90)
def dispatch_scheduled() -> None:
    """Beat, every 30 s: start the runs of `on.schedule` slots that came due."""
    from playbooks import triggers

    triggers.dispatch_scheduled()
