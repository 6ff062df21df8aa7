"""Thin Celery tasks: the run id travels, the row is the truth (queue `playbooks`)."""

from celery import shared_task

from playbooks import execution


@shared_task(acks_late=True, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 60)
def run_playbook(run_id: str) -> None:
    execution.execute(run_id)
