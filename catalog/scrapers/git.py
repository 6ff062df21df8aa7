"""The `git` scraper: the file scraper over a repository at a ref (local path or URL)."""

import hashlib
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from catalog.scrapers.base import Problem, ScrapeContext, ScrapedItem
from catalog.scrapers.files import scrape_tree

GIT_TIMEOUT = 120
# Never prompt for credentials on a worker: a missing token must fail, not hang.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "PATH": "/usr/bin:/bin"}


def _git(*args: str, cwd: str | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True,
        timeout=GIT_TIMEOUT, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr.strip()
                           else f"git {args[0]} failed")
    return result.stdout.strip()


class GitScraper:
    kind = "git"

    def scrape(self, entry: Mapping[str, Any], index: int,
               ctx: ScrapeContext) -> Iterator[ScrapedItem | Problem]:
        scraper = f"git[{index}]"
        url = str(entry.get("url") or "")
        ref = str(entry.get("branch") or entry.get("ref") or "HEAD")
        if not url:
            ctx.incomplete()
            yield Problem(scraper, "`url` is required (a repository path or URL)")
            return
        if url.startswith("-") or ref.startswith("-"):
            ctx.incomplete()
            yield Problem(scraper, "`url` and `branch` must not start with '-'")
            return
        with tempfile.TemporaryDirectory(prefix="flightdeck-git-") as workdir:
            checkout = str(Path(workdir) / hashlib.sha256(url.encode()).hexdigest()[:12])
            try:
                _git("clone", "--quiet", "--no-checkout", "--", url, checkout)
                _git("checkout", "--quiet", "--detach", ref, cwd=checkout)
                sha = _git("rev-parse", "HEAD", cwd=checkout)
                author = _git("log", "-1", "--format=%an <%ae>", cwd=checkout)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                ctx.incomplete()
                yield Problem(scraper, f"cannot check out {url}@{ref}: {exc}")
                return
            ctx.change_author = author
            yield from scrape_tree(entry, scraper, Path(checkout), ctx,
                                   source_prefix=f"git://{url}@{sha[:12]}/")
