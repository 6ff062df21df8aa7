"""Scrapers are in-repo slices with one interface (catalog.scrapers.base.Scraper)."""

from catalog.scrapers.base import Scraper
from catalog.scrapers.files import FileScraper
from catalog.scrapers.git import GitScraper
from catalog.scrapers.kubernetes import KubernetesScraper

REGISTRY: dict[str, Scraper] = {
    "file": FileScraper(), "git": GitScraper(), "kubernetes": KubernetesScraper(),
}


def register(scraper: Scraper) -> None:
    REGISTRY[scraper.kind] = scraper
