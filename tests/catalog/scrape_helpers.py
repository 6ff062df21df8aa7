"""Create a ScrapeConfig over a folder and run it in the foreground, as `manage.py scrape` does."""

from pathlib import Path
from typing import Any

from catalog import scraping
from catalog.models import ScrapeConfig, ScrapeRun


def file_scraper(folder: Path, name: str = "manifests", **spec: Any) -> ScrapeConfig:
    entry = {"base": str(folder), "clusterName": spec.pop("cluster", "test-1")}
    entry.update(spec.pop("entry", {}))
    full_spec = {"file": [entry], "retention": {"staleItemAge": "0s", "maxDeletePercent": 100}}
    full_spec.update(spec)
    return ScrapeConfig.objects.create(namespace="platform", name=name, spec=full_spec)


def run_now(config: ScrapeConfig) -> ScrapeRun:
    config.refresh_from_db()
    run = scraping.execute(scraping.enqueue(config, send=False).pk)
    assert run is not None
    return run
