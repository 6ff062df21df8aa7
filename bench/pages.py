"""W5-W8: catalog list page, facets, free-text search and graph neighbourhood, as a viewer sees.

Pages are fetched over real HTTP from gunicorn (2 sync workers, DEBUG off, whitenoise static)
started against the bench database, logged in as a viewer granted one of two ScrapeConfigs, so
authorization filters every query. The data set is ingested by the W1 path (bench.data +
Ingestor), then the odd-numbered namespaces are moved to a second ScrapeConfig the viewer cannot
see. `python -m bench.pages setup|probe` are the Django-side children: setup creates the viewer
and picks the filters; probe counts queries per page (test client + CaptureQueriesContext) and
times the facet (W6) and search (W7) querysets against their raw SQL, interleaved.
"""

import argparse
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import psycopg

from bench import data
from bench.database import CATALOG_TABLES, BenchDatabase
from bench.ingest import BENCH_SCRAPER_ID, IngestSuite, Result
from bench.kubernetes import _percentile, _proc_mb, _stop
from bench.measure import summarize

HIDDEN_SCRAPER_ID = uuid.UUID("00000000-0000-4000-8000-00000000b1dd")
VIEWER_EMAIL = "viewer@bench.invalid"
VIEWER_PASSWORD = "bench-viewer-" + "p" * 16  # a throwaway bench database
REQUESTS_PER_REP = 60  # per W5 variant and per W8 start, each repetition, at most
REP_BUDGET_S = 15.0  # ...and at least MIN_SAMPLES, whatever a slow page costs
MIN_SAMPLES = 5
LOAD_REQUESTS = 300
LOAD_BUDGET_S = 15.0
LOAD_CLIENTS = 4
PROBE_ITERATIONS = 30
PROBE_BUDGET_S = 5.0
GRAPH_DEPTH = 3
GUNICORN_READY_S = 60.0
PROBE_TIMEOUT_S = 1800
TARGETS = {
    "W5": (0.050, "p50<=10ms p95<=50ms <=10q >=50rps"),
    "W6": (0.100, "p95<=100ms"),
    "W7": (0.050, "p95<=50ms, no seq scan"),
    "W8": (0.020, "p95<=20ms, capped"),
}
# Peer figures: Backstage 1.55 at 10k on the reference machine (p95), else
# the query battery of backstage PR #34273 at 739k.
PEERS = {
    "W5": ({10_000: 0.0347}, 0.0226, "PR #34273"),
    "W6": ({10_000: 0.0068}, 0.632, "PR #34273"),
    "W7": ({10_000: 0.0109}, 0.0149, "PR #34273"),
    "W8": ({}, 0.00013, "PR #34273"),
}


# -- Django-side children -----------------------------------------------------------------------


def _viewer() -> Any:
    from accounts.models import Person

    return Person.objects.get(email=VIEWER_EMAIL)


def setup_child() -> dict[str, Any]:
    """Second ScrapeConfig, the split, the viewer and its grant; picks every filter's value."""
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.db import connection
    from guardian.shortcuts import assign_perm

    from accounts.models import Person
    from accounts.tokens import create_token
    from bench.ingest import ensure_scraper
    from catalog.models import ConfigItem, ScrapeConfig

    ensure_scraper()
    visible = ScrapeConfig.objects.get(id=BENCH_SCRAPER_ID)
    hidden, _ = ScrapeConfig.objects.get_or_create(
        id=HIDDEN_SCRAPER_ID,
        defaults={
            "name": "bench-hidden",
            "namespace": "bench",
            "spec": {"kubernetes": [{"clusterName": data.CLUSTER}]},
        },
    )
    namespaces = sorted(
        n for n in ConfigItem.objects.values_list("namespace", flat=True).distinct() if n
    )
    hidden_ns = [n for n in namespaces if n.startswith("ns-") and int(n[3:]) % 2 == 1]
    moved = ConfigItem.objects.filter(namespace__in=hidden_ns).update(scraper=hidden)
    viewer = Person.objects.filter(email=VIEWER_EMAIL).first()
    if viewer is None:
        viewer = Person.objects.create_user(VIEWER_EMAIL, VIEWER_PASSWORD, name="Bench Viewer")
        group = Group.objects.filter(name="viewer").first()
        if group is not None:
            viewer.groups.add(group)
        assign_perm("catalog.view_scrapeconfig", viewer, visible)
    _, token = create_token(viewer, f"bench-{uuid.uuid4().hex[:6]}")
    with connection.cursor() as cur:
        vis = [str(BENCH_SCRAPER_ID)]
        cur.execute(
            "SELECT namespace, count(*) FROM catalog_configitem WHERE scraper_id = %s "
            "AND namespace <> '' AND deleted_at IS NULL GROUP BY 1 ORDER BY 2 DESC, 1",
            vis,
        )
        buckets = cur.fetchall()
        large_ns, small_ns = buckets[0][0], buckets[-1][0]
        cur.execute("SELECT count(*) FROM catalog_configitem WHERE scraper_id = %s", vis)
        visible_rows = cur.fetchone()[0]
        cur.execute(
            "SELECT name FROM catalog_configitem WHERE scraper_id = %s AND namespace = %s "
            "AND type = 'Kubernetes::Pod' ORDER BY name LIMIT 1",
            [*vis, small_ns],
        )
        row = cur.fetchone()
        name = row[0] if row else large_ns
        fragment = name.split("-")[0][-3:] + "-" + name.split("-")[1][:3]
        cur.execute(
            "SELECT i.id::text FROM catalog_configitem i WHERE i.scraper_id = %s "
            "AND i.namespace = %s AND i.type = 'Kubernetes::Pod' ORDER BY i.id LIMIT 1",
            [*vis, large_ns],
        )
        ordinary = cur.fetchone()[0]
        cur.execute(
            "SELECT n, count(*) FROM (SELECT config_id AS n FROM catalog_configrelationship "
            "UNION ALL SELECT related_id FROM catalog_configrelationship) e "
            "JOIN catalog_configitem i ON i.id = e.n AND i.scraper_id = %s "
            "GROUP BY n ORDER BY 2 DESC LIMIT 1",
            vis,
        )
        hub, hub_edges = cur.fetchone()
    return {
        "visible_scraper": str(BENCH_SCRAPER_ID),
        "hidden_scraper": str(HIDDEN_SCRAPER_ID),
        "hidden_namespaces": len(hidden_ns),
        "moved_rows": moved,
        "visible_rows": visible_rows,
        "token": token,
        "large_ns": large_ns,
        "small_ns": small_ns,
        "small_ns_rows": buckets[-1][1],
        "large_ns_rows": buckets[0][1],
        "queries": {
            "large": f"type=Kubernetes::Pod namespace={large_ns}",
            "small": f"namespace={small_ns}",
            "label": "labels.env=staging",
        },
        "search": f"name=*{fragment}*",
        "fragment": fragment,
        "ordinary": ordinary,
        "hub": str(hub),
        "hub_edges": hub_edges,
    }


def _facet_sql(where: str) -> list[str]:
    """Hand-written GROUP BYs for what the list page counts: the physical floor of W6."""
    health = ", ".join(
        f"count(*) FILTER (WHERE health = '{h}')"
        for h in ("unhealthy", "warning", "healthy", "unknown")
    )
    out = [
        f"SELECT type, count(*), {health} FROM catalog_configitem WHERE {where} "
        "GROUP BY 1 ORDER BY 3 DESC, 4 DESC, 1"
    ]
    for column in ("type", "namespace", "tags->>'cluster'", "health", "status"):
        out.append(
            f"SELECT {column}, count(*) FROM catalog_configitem WHERE {where} AND "
            f"{column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 12"
        )
    return out


def probe_child(setup: dict[str, Any], iterations: int, reps: int) -> dict[str, Any]:
    """Queries per page, and the W6/W7 querysets timed against raw SQL, interleaved."""
    import django

    django.setup()
    from django.db import connection
    from django.http import QueryDict
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from catalog import views
    from catalog.models import ConfigItem
    from catalog.search import filter_items

    viewer = _viewer()
    client = Client()
    client.force_login(viewer)
    pages: dict[str, Any] = {}
    for variant, text in [*setup["queries"].items(), ("search", setup["search"])]:
        client.get("/catalog/", {"q": text})
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/catalog/", {"q": text})
        assert response.status_code == 200, response.status_code
        sqls = [q["sql"] for q in captured.captured_queries]
        main = [s for s in sqls if f"LIMIT {views.PAGE_SIZE + 1}" in s]
        pages[variant] = {"queries": len(sqls), "sql": sqls, "main_sql": main[-1] if main else ""}
    raw = psycopg.connect(_url(), autocommit=True)
    vis = setup["visible_scraper"]
    large = setup["queries"]["large"]
    large_where = (
        f"scraper_id = '{vis}' AND deleted_at IS NULL AND type = 'Kubernetes::Pod' "
        f"AND namespace = '{setup['large_ns']}'"
    )
    facet_sql = _facet_sql(large_where)
    params = QueryDict(f"q={urllib.parse.quote(large)}")

    def ours_facets() -> None:
        items = filter_items(ConfigItem.objects.for_user(viewer), large, user=viewer).queryset
        views._health_counts(items, "type")
        views._item_facets(items, large, params, viewer)

    def limit_facets() -> None:
        for sql in facet_sql:
            raw.execute(sql).fetchall()

    search = setup["search"]
    pattern = f"%{setup['fragment'].lower()}%"
    search_sql = (
        "SELECT id, type, name, namespace, health, status, ready, tags, created_at, "
        "updated_at, deleted_at FROM catalog_configitem WHERE lower(name) LIKE %s "
        "AND deleted_at IS NULL AND scraper_id = %s ORDER BY type, name, id LIMIT 51"
    )

    def ours_search() -> None:
        items = filter_items(ConfigItem.objects.for_user(viewer), search, user=viewer).queryset
        list(
            items.only(
                "id",
                "type",
                "name",
                "namespace",
                "health",
                "status",
                "ready",
                "tags",
                "created_at",
                "updated_at",
                "deleted_at",
            ).order_by("type", "name", "id")[: views.PAGE_SIZE + 1]
        )

    def limit_search() -> None:
        raw.execute(search_sql, [pattern, vis]).fetchall()

    def timed(fn: Callable[[], None]) -> list[float]:
        out: list[float] = []
        budget = time.perf_counter() + PROBE_BUDGET_S
        while len(out) < iterations and (len(out) < MIN_SAMPLES or time.perf_counter() < budget):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
        return out

    for fn in (limit_facets, ours_facets, limit_search, ours_search):
        fn()  # warm-up
    result: dict[str, Any] = {
        "pages": pages,
        "W6": {"ours": [], "limit": []},
        "W7": {"ours": [], "limit": []},
    }
    for _ in range(reps):
        result["W6"]["limit"].append(timed(limit_facets))
        result["W6"]["ours"].append(timed(ours_facets))
        result["W7"]["limit"].append(timed(limit_search))
        result["W7"]["ours"].append(timed(ours_search))
    qs = filter_items(ConfigItem.objects.for_user(viewer), search, user=viewer).queryset.order_by(
        "type", "name", "id"
    )[: views.PAGE_SIZE + 1]
    plan = qs.explain()
    raw_plan = "\n".join(r[0] for r in raw.execute(f"EXPLAIN {search_sql}", [pattern, vis]))
    result["W7"]["plan"] = plan
    result["W7"]["raw_plan"] = raw_plan
    result["W7"]["seq_scan"] = "Seq Scan on catalog_configitem" in plan
    result["W6"]["sql_ms"] = _each_sql_ms(raw, pages["large"]["sql"])
    raw.close()
    return result


def _url() -> str:
    import os

    return os.environ["DATABASE_URL"]


def _each_sql_ms(conn: psycopg.Connection, sqls: list[str]) -> list[tuple[float, str]]:
    """Each SQL statement of the page run raw (median of 5), slowest first: what dominates."""
    out = []
    for sql in sqls:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            conn.execute(sql).fetchall()  # interpolated by Django already
            runs.append(time.perf_counter() - started)
        out.append((round(sorted(runs)[2] * 1000, 2), sql[:160]))
    return sorted(out, reverse=True)


# -- the parent: gunicorn, HTTP and the limits --------------------------------------------------


class Gunicorn:
    """gunicorn with 2 sync workers against the bench database, as production runs it."""

    def __init__(self, db: BenchDatabase, workers: int = 2) -> None:
        self.db = db
        self.workers = workers
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process: subprocess.Popen[str] | None = None
        self.log_path = data.DATA_DIR / f"gunicorn-{self.port}.log"

    def env(self) -> dict[str, str]:
        return {
            **self.db.env(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "FLIGHTDECK_SECURE_SSL": "0",
            "DEBUG": "0",
        }

    def collectstatic(self) -> None:
        """The manifest whitenoise serves from; the probe's test client renders pages too."""
        subprocess.run(
            [sys.executable, str(data.ROOT / "manage.py"), "collectstatic", "--noinput", "-v", "0"],
            cwd=data.ROOT,
            env=self.env(),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "portal.wsgi:application",
                "--workers",
                str(self.workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=data.ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("w"),
            text=True,
        )
        deadline = time.monotonic() + GUNICORN_READY_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_path.read_text()[-4000:]}")
            try:
                status, _ = self.get("/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def worker_rss(self) -> float | None:
        if self.process is None:
            return None
        pids = []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids = [int(p) for p in children.read_text().split()]
        values = [v for v in (_proc_mb(p, "VmHWM") for p in pids) if v is not None]
        return max(values) if values else None

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def login(self) -> str:
        """POST the login form with its CSRF token; returns the Cookie header of the session."""
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{self.port}"
        page = opener.open(f"{base}/accounts/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, "no CSRF token on the login page"
        body = urllib.parse.urlencode(
            {
                "username": VIEWER_EMAIL,
                "password": VIEWER_PASSWORD,
                "csrfmiddlewaretoken": token.group(1),
            }
        ).encode()
        login = urllib.request.Request(f"{base}/accounts/login/", data=body)  # noqa: S310
        opener.open(login)
        cookies = {c.name: c.value for c in jar}
        assert "sessionid" in cookies, "login failed: no session cookie"
        return "; ".join(f"{k}={v}" for k, v in cookies.items())


class PagesSuite:
    """Loads each size once, then runs W5-W8 against it."""

    def __init__(
        self, db: BenchDatabase, ingest: IngestSuite, reps: int, log: Callable[[str], None] = print
    ) -> None:
        self.db = db
        self.ingest = ingest
        self.reps = reps
        self.log = log
        self.load_s: dict[int, float] = {}

    def _child(self, *args: str) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "bench.pages", *args],
            cwd=data.ROOT,
            env=self.db.env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=PROBE_TIMEOUT_S,
        )
        if result.returncode:
            raise RuntimeError(f"bench.pages {args[0]} failed:\n{result.stderr[-4000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def load(self, size: int) -> dict[str, Any]:
        started = time.perf_counter()
        self.ingest.loaded = None
        self.ingest.load_clean(size)
        setup = self._child("setup")
        self.db.execute(*(f"VACUUM (ANALYZE) {t}" for t in CATALOG_TABLES))
        self.load_s[size] = round(time.perf_counter() - started, 1)
        self.ingest.loaded = None  # the split makes it no longer W1's clean catalog
        return setup

    def run(self, size: int, chosen: list[str]) -> list[Result]:
        self.log(f"pages {data.size_label(size)}: loading (ingest, split, viewer, VACUUM ANALYZE)")
        setup = self.load(size)
        self.log(f"pages {data.size_label(size)}: loaded in {self.load_s[size]}s; probing")
        server = Gunicorn(self.db)
        server.collectstatic()
        probe = self._child(
            "probe",
            json.dumps(setup),
            "--reps",
            str(self.reps),
            "--iterations",
            str(PROBE_ITERATIONS),
        )
        server.start()
        results: list[Result] = []
        try:
            cookie = server.login()
            with psycopg.connect(self.db.url, autocommit=True) as raw:
                if "W5" in chosen:
                    results.append(self.w5(size, server, cookie, raw, setup, probe))
                if "W6" in chosen:
                    results.append(self.w6(size, setup, probe, server.worker_rss()))
                if "W7" in chosen:
                    results.append(self.w7(size, server, cookie, setup, probe))
                if "W8" in chosen:
                    results.append(self.w8(size, server, cookie, raw, setup))
            rss = server.worker_rss()
        finally:
            server.stop()
        for r in results:
            r.rss_max_mb = rss
            r.extra["load_s"] = self.load_s[size]
        return results

    # -- HTTP measurement ------------------------------------------------------------------------

    def _fetch(self, server: Gunicorn, path: str, cookie: str) -> tuple[float, bytes]:
        started = time.perf_counter()
        status, body = server.get(path, {"Cookie": cookie})
        seconds = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        return seconds, body

    def _sustained(self, server: Gunicorn, paths: list[str], cookie: str) -> float:
        """Requests/s with LOAD_CLIENTS closed-loop clients over LOAD_REQUESTS requests."""
        counter = iter(range(LOAD_REQUESTS))
        lock = threading.Lock()
        done = [0]
        budget = time.perf_counter() + LOAD_BUDGET_S

        def client() -> None:
            while time.perf_counter() < budget:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                self._fetch(server, paths[n % len(paths)], cookie)
                with lock:
                    done[0] += 1

        threads = [threading.Thread(target=client) for _ in range(LOAD_CLIENTS)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return done[0] / (time.perf_counter() - started)

    def _raw_ms(self, raw: psycopg.Connection, sql: str, params: list[Any] | None = None) -> float:
        started = time.perf_counter()
        raw.execute(sql, params or None).fetchall()
        return time.perf_counter() - started

    def _result(
        self,
        wid: str,
        size: int,
        ours_reps: list[list[float]],
        limit_reps: list[list[float]],
        extra: dict[str, Any],
        ok: bool = True,
        rss: float | None = None,
    ) -> Result:
        """Median/IQR over the repetitions' p50s; pass and growth on the pooled p95."""
        o = summarize([_percentile(r, 0.5) for r in ours_reps])
        lim = summarize([_percentile(r, 0.5) for r in limit_reps])
        pooled = [v for r in ours_reps for v in r]
        p95 = _percentile(pooled, 0.95)
        bound, target = TARGETS[wid]
        peers, default_peer, source = PEERS[wid]
        extra = {
            "p50_s": round(_percentile(pooled, 0.5), 5),
            "p95_s": round(p95, 5),
            "limit_p95_s": round(_percentile([v for r in limit_reps for v in r], 0.95), 5),
            "samples": len(pooled),
            **extra,
        }
        return Result(
            wid,
            size,
            len(ours_reps),
            "s",
            o,
            lim,
            target,
            passed=ok and p95 <= bound,
            peer_value=peers.get(size, default_peer),
            peer_source=source,
            extra=extra,
            rss_max_mb=rss,
        )

    def w5(
        self,
        size: int,
        server: Gunicorn,
        cookie: str,
        raw: psycopg.Connection,
        setup: dict[str, Any],
        probe: dict[str, Any],
    ) -> Result:
        variants = setup["queries"]
        paths = {v: "/catalog/?" + urllib.parse.urlencode({"q": q}) for v, q in variants.items()}
        mains = {v: probe["pages"][v]["main_sql"] for v in variants}
        for v in variants:  # warm-up
            self._fetch(server, paths[v], cookie)
            self._raw_ms(raw, mains[v])
        ours: list[list[float]] = []
        limits: list[list[float]] = []
        per_variant: dict[str, list[float]] = {v: [] for v in variants}
        for rep in range(self.reps):
            self.log(f"W5 {data.size_label(size)}: rep {rep + 1}/{self.reps}")
            lim: list[float] = []
            got: list[float] = []
            budget = time.perf_counter() + REP_BUDGET_S
            for n in range(REQUESTS_PER_REP):
                if n >= MIN_SAMPLES and time.perf_counter() > budget:
                    break
                for v in variants:
                    lim.append(self._raw_ms(raw, mains[v]))
                    seconds, _ = self._fetch(server, paths[v], cookie)
                    got.append(seconds)
                    per_variant[v].append(seconds)
            ours.append(got)
            limits.append(lim)
        rps = self._sustained(server, list(paths.values()), cookie)
        counts = {v: probe["pages"][v]["queries"] for v in variants}
        worst = max(counts.values())
        p50 = _percentile([s for r in ours for s in r], 0.5)
        result = self._result(
            "W5",
            size,
            ours,
            limits,
            {
                "queries_per_page": worst,
                "queries_by_variant": counts,
                "req_per_s": round(rps, 1),
                "filters": variants,
                "p95_by_variant_s": {
                    v: round(_percentile(s, 0.95), 5) for v, s in per_variant.items()
                },
                "page_sql_ms": probe["W6"]["sql_ms"][:8],
            },
            ok=worst <= 10 and rps >= 50,
        )
        result.passed = result.passed and p50 <= 0.010
        by_filter = ", ".join(f"{v} {_ms(t)}" for v, t in result.extra["p95_by_variant_s"].items())
        slowest = "; ".join(f"{ms:.1f}ms {sql[:70]}" for ms, sql in probe["W6"]["sql_ms"][:3])
        result.extra["summary_line"] = (
            f"W5 {data.size_label(size)}: p50 {_ms(p50)} p95 {_ms(result.extra['p95_s'])}, "
            f"{rps:.0f} req/s ({LOAD_CLIENTS} clients), queries/page {counts}, p95 by filter "
            f"{by_filter}; slowest page SQL run raw: {slowest}"
        )
        return result

    def w6(
        self, size: int, setup: dict[str, Any], probe: dict[str, Any], rss: float | None
    ) -> Result:
        w6 = probe["W6"]
        result = self._result(
            "W6",
            size,
            w6["ours"],
            w6["limit"],
            {
                "filter": setup["queries"]["large"],
                "facets": "type summary with health split + 5 facets, top 12",
                "measured": "list page's _health_counts + _item_facets in-process",
            },
        )
        result.extra["summary_line"] = (
            f"W6 {data.size_label(size)}: facets p95 {_ms(result.extra['p95_s'])} vs raw "
            f"GROUP BY p95 {_ms(result.extra['limit_p95_s'])} ({setup['queries']['large']}, "
            f"{setup['large_ns_rows']:,} visible rows in that namespace)"
        )
        return result

    def w7(
        self, size: int, server: Gunicorn, cookie: str, setup: dict[str, Any], probe: dict[str, Any]
    ) -> Result:
        w7 = probe["W7"]
        path = "/catalog/?" + urllib.parse.urlencode({"q": setup["search"]})
        page: list[float] = []
        budget = time.perf_counter() + REP_BUDGET_S
        while len(page) < REQUESTS_PER_REP and (
            len(page) < MIN_SAMPLES or time.perf_counter() < budget
        ):
            page.append(self._fetch(server, path, cookie)[0])
        result = self._result(
            "W7",
            size,
            w7["ours"],
            w7["limit"],
            {
                "search": setup["search"],
                "seq_scan": w7["seq_scan"],
                "plan": w7["plan"],
                "raw_plan": w7["raw_plan"],
                "page_p95_s": round(_percentile(page, 0.95), 5),
                "page_p50_s": round(_percentile(page, 0.5), 5),
                "queries_per_page": probe["pages"]["search"]["queries"],
                "measured": "search queryset, first keyset page, in-process; page_* over HTTP",
            },
            ok=not w7["seq_scan"],
        )
        result.extra["summary_line"] = (
            f"W7 {data.size_label(size)}: {setup['search']} queryset p95 "
            f"{_ms(result.extra['p95_s'])} (raw trigram {_ms(result.extra['limit_p95_s'])}), "
            f"whole page over HTTP p50 {_ms(result.extra['page_p50_s'])} p95 "
            f"{_ms(result.extra['page_p95_s'])}, seq scan on catalog_configitem: "
            f"{'YES' if w7['seq_scan'] else 'no'}"
        )
        return result

    def w8(
        self,
        size: int,
        server: Gunicorn,
        cookie: str,
        raw: psycopg.Connection,
        setup: dict[str, Any],
    ) -> Result:
        starts = {"ordinary": setup["ordinary"], "hub": setup["hub"]}
        paths = {k: f"/graph/?root={v}&depth={GRAPH_DEPTH}&format=json" for k, v in starts.items()}
        cte = """
            WITH RECURSIVE walk(id, depth) AS (
                SELECT %s::uuid, 0
                UNION
                SELECT e.next, w.depth + 1 FROM walk w
                JOIN (SELECT config_id, related_id FROM catalog_configrelationship
                      WHERE deleted_at IS NULL
                      UNION ALL SELECT related_id, config_id FROM catalog_configrelationship
                      WHERE deleted_at IS NULL
                      UNION ALL SELECT parent_id, id FROM catalog_configitem
                      WHERE parent_id IS NOT NULL
                      UNION ALL SELECT id, parent_id FROM catalog_configitem
                      WHERE parent_id IS NOT NULL) AS e(here, next) ON e.here = w.id
                JOIN catalog_configitem n ON n.id = e.next AND n.deleted_at IS NULL
                     AND n.scraper_id = %s
                WHERE w.depth < %s)
            SELECT id, MIN(depth) AS d FROM walk GROUP BY id ORDER BY d, id LIMIT 201"""
        vis = setup["visible_scraper"]
        shapes: dict[str, dict[str, Any]] = {}
        for k, p in paths.items():
            _, body = self._fetch(server, p, cookie)
            doc = json.loads(body)
            shapes[k] = {
                "nodes": len(doc["nodes"]),
                "edges": len(doc["edges"]),
                "truncated": doc["truncated"],
                "limit": doc["limit"],
            }
            self._raw_ms(raw, cte, [starts[k], vis, GRAPH_DEPTH])
        ours: list[list[float]] = []
        limits: list[list[float]] = []
        per_start: dict[str, list[float]] = {k: [] for k in starts}
        for rep in range(self.reps):
            self.log(f"W8 {data.size_label(size)}: rep {rep + 1}/{self.reps}")
            got: list[float] = []
            lim: list[float] = []
            budget = time.perf_counter() + REP_BUDGET_S
            for n in range(REQUESTS_PER_REP):
                if n >= MIN_SAMPLES and time.perf_counter() > budget:
                    break
                for k in starts:
                    lim.append(self._raw_ms(raw, cte, [starts[k], vis, GRAPH_DEPTH]))
                    seconds, _ = self._fetch(server, paths[k], cookie)
                    got.append(seconds)
                    per_start[k].append(seconds)
            ours.append(got)
            limits.append(lim)
        capped = shapes["hub"]["truncated"] or shapes["hub"]["nodes"] <= shapes["hub"]["limit"]
        result = self._result(
            "W8",
            size,
            ours,
            limits,
            {
                "starts": shapes,
                "hub_edges": setup["hub_edges"],
                "p95_by_start_s": {k: round(_percentile(s, 0.95), 5) for k, s in per_start.items()},
            },
            ok=capped,
        )
        starts_text = ", ".join(
            f"{k} {v['nodes']} nodes/{v['edges']} edges truncated={v['truncated']} p95 "
            f"{_ms(result.extra['p95_by_start_s'][k])}"
            for k, v in shapes.items()
        )
        result.extra["summary_line"] = (
            f"W8 {data.size_label(size)}: depth {GRAPH_DEPTH}, {starts_text}; hub has "
            f"{setup['hub_edges']:,} edges; raw CTE p95 {_ms(result.extra['limit_p95_s'])}"
        )
        return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="viewer, grant and split (internal)")
    probe = sub.add_parser("probe", help="query counts, W6/W7 in-process (internal)")
    probe.add_argument("setup")
    probe.add_argument("--reps", type=int, default=3)
    probe.add_argument("--iterations", type=int, default=PROBE_ITERATIONS)
    args = parser.parse_args(argv)
    if args.command == "setup":
        out = setup_child()
    else:
        out = probe_child(json.loads(args.setup), args.iterations, args.reps)
    sys.stdout.write(json.dumps(out, default=str) + "\n")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
