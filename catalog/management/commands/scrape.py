"""`manage.py scrape NAME` or `manage.py scrape --path DIR`: a scrape in the foreground."""

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog import scraping
from catalog.ingest import Ingestor
from catalog.models import ScrapeConfig
from catalog.scrapers.base import Problem, ScrapeContext
from catalog.scrapers.files import FileScraper


class Command(BaseCommand):
    help = "Run one ScrapeConfig now, or scrape a folder of YAML/JSON files without one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="ScrapeConfig name, or namespace/name")
        parser.add_argument("--path", help="scrape this file or folder ad hoc")
        parser.add_argument("--type-prefix", default="File",
                            help="type prefix for non-Kubernetes documents (default File)")
        parser.add_argument("--cluster", default="default",
                            help="cluster name for Kubernetes manifests in --path")

    def handle(self, *args: Any, **options: Any) -> None:
        bar = tqdm(unit=" items", disable=not sys.stderr.isatty(), file=sys.stderr)
        try:
            if options["path"]:
                ok = self._adhoc(Path(options["path"]), options, bar)
            elif options["name"]:
                ok = self._named(options["name"], bar)
            else:
                raise CommandError("give a ScrapeConfig name or --path DIR")
        finally:
            bar.close()
        if not ok:
            sys.exit(1)

    def _named(self, name: str, bar: tqdm) -> bool:
        namespace, _, short = name.rpartition("/")
        configs = ScrapeConfig.objects.filter(name=short, deleted_at__isnull=True)
        if namespace:
            configs = configs.filter(namespace=namespace)
        config = configs.first()
        if config is None:
            raise CommandError(f"no ScrapeConfig named {name!r}")
        try:
            run = scraping.enqueue(config, send=False)
        except scraping.AlreadyRunning as exc:
            raise CommandError(str(exc)) from exc
        run = scraping.execute(run.pk, progress=lambda n: bar.update(n - bar.n),
                               echo=lambda line: None)
        if run is None:
            raise CommandError("another worker claimed the run")
        for error in run.error_list:
            self.stderr.write(f"error: {error['scraper']} {error['item']}: {error['message']}")
        self.stdout.write(scraping.summary(run))
        return run.status != run.Status.FAILED

    def _adhoc(self, path: Path, options: dict[str, Any], bar: tqdm) -> bool:
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        base, pattern = (path.parent, [path.name]) if path.is_file() else (path, None)
        entry: dict[str, Any] = {"base": str(base), "typePrefix": options["type_prefix"],
                                 "clusterName": options["cluster"]}
        if pattern:
            entry["paths"] = pattern
        ctx = ScrapeContext(scraper_key=f"adhoc:{path.resolve()}", spec={})
        ingestor = Ingestor(managed_by="scraper")
        started = time.monotonic()
        errors = 0
        for produced in FileScraper().scrape(entry, 0, ctx):
            if isinstance(produced, Problem):
                errors += produced.level == "error"
                self.stderr.write(f"{produced.level}: {produced.item}: {produced.message}")
                continue
            ingestor.add(produced)
            bar.update(1)
        stats = ingestor.finish(complete=False)
        ms = int((time.monotonic() - started) * 1000)
        self.stdout.write(
            f"{'partial' if errors else 'succeeded'}: {stats.created} created, {stats.updated} "
            f"updated, {stats.unchanged} unchanged, 0 deleted, {stats.changes} changes, "
            f"{errors} errors in {ms} ms"
        )
        return True
