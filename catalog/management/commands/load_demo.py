"""`manage.py load_demo`: install the demo ScrapeConfigs and scrape them once, in the foreground."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from catalog import demo_loader, scraping


class Command(BaseCommand):
    help = "Load the bundled demo catalog through the real file scraper."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-scrape", action="store_true",
                            help="only create the ScrapeConfigs; beat scrapes them later")

    def handle(self, *args: Any, **options: Any) -> None:
        for config in demo_loader.install():
            if options["no_scrape"]:
                continue
            try:
                run = scraping.enqueue(config, send=False)
            except scraping.AlreadyRunning as exc:
                self.stderr.write(str(exc))
                continue
            run = scraping.execute(run.pk)
            if run is not None:
                self.stdout.write(f"{config.namespace}/{config.name}: {scraping.summary(run)}")
