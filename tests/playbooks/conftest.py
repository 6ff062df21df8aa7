"""Runs a test started must be over before its database is flushed: a worker still writing a
run while the flush truncates the tables deadlocks the teardown."""

from collections.abc import Iterator

import pytest
from django.db.models import Q
from django.utils import timezone


@pytest.fixture(autouse=True)
def runs_settled(request: pytest.FixtureRequest) -> Iterator[None]:
    transactional = "transactional_db" in request.fixturenames or any(
        m.kwargs.get("transaction") for m in request.node.iter_markers("django_db"))
    if not transactional:
        yield
        return
    # Set up after the database fixture, so this teardown runs before its flush.
    request.getfixturevalue("transactional_db")
    yield
    from playbooks.models import PlaybookRun
    from tests.conftest import wait_for

    now = timezone.now()
    PlaybookRun.objects.filter(status__in=["scheduled", "pending_approval"]).update(
        status="cancelled", finished_at=now)
    PlaybookRun.objects.filter(status="running").update(cancel_requested_at=now)
    wait_for(lambda: not PlaybookRun.objects.filter(
        Q(status="running") & Q(lease_expires_at__gt=timezone.now())).exists(),
        timeout=30, message="runs of this test to stop")
