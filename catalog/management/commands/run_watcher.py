"""`manage.py run_watcher`: watch every Kubernetes cluster of every live ScrapeConfig."""

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from catalog.watcher import Watcher

log = logging.getLogger("flightdeck.watch")


class Command(BaseCommand):
    help = ("Stream Kubernetes changes into the catalog as they happen (LIST, then WATCH per "
            "kind). Periodic full scrapes still come from Celery beat. Stops on SIGTERM/SIGINT.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*",
                            help="only these ScrapeConfigs (name or namespace/name)")
        parser.add_argument("--refresh", type=float, default=30.0,
                            help="seconds between looks for new, changed or removed scrapers")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, _frame: Any) -> None:
            log.info("stopping the watcher", extra={"signal": signum})
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self.stdout.write("watching Kubernetes scrapers (SIGTERM to stop)")
        Watcher(stop, refresh=options["refresh"], names=options["names"]).run()
        self.stdout.write("watcher stopped")
