"""manage.py run_dispatcher: hand outbox events to every registered consumer until stopped."""

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from portal import outbox


class Command(BaseCommand):
    help = "Deliver outbox events to their consumers (LISTEN flightdeck_events plus a poll)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true",
                            help="deliver what is pending and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        names = ", ".join(c.name for c in outbox.consumers()) or "none yet"
        if options["once"]:
            passed = outbox.drain()
            self.stdout.write(f"delivered {passed} events to: {names}")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"dispatching events to: {names} (SIGTERM to stop)")
        outbox.run(stop)
