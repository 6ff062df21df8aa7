"""W1, W2, W3 and W11: fresh ingest, unchanged and 1%-changed re-scrapes, peak RSS of the scraper.

Our side always runs in a fresh child process (`python -m bench.ingest worker ...`) that streams
the data set through `to_item` and `Ingestor`, so its VmHWM belongs to one ingest and nothing
else. The limits run here, in the parent, with raw psycopg against the same database.
"""

import argparse
import difflib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from bench import data
from bench.database import CATALOG_TABLES, SEEN_TABLE, WRITE_TABLES, BenchDatabase
from bench.measure import Summary, summarize

BENCH_SCRAPER_ID = uuid.UUID("00000000-0000-4000-8000-00000000be4c")
STALE_AGE = timedelta(minutes=30)  # the ScrapeConfig default (catalog/specs.py)
MAX_DELETE_PERCENT = 20
WORKER_TIMEOUT_S = 1800
PRIME_SIZE = 2_000
W3_SHARE = 0.01  # 1% of the data set: exactly 1,000 objects at 100k
SCRATCH = "bench_scratch_configitem"
W3_ORIGINALS = "bench_w3_originals"
# Peer figures: Backstage at 10k measured on a machine like ours; at
# other sizes "hundreds of entities/s" (backstage#27628), taken at its generous end, 500/s.
BACKSTAGE_10K_S = 72.3
BACKSTAGE_RATE = 500.0
CONFIG_DB_OOM_MB = 4096.0


# -- our side: shared by the child process and the small-scale twin in tests/ -----------------


@dataclass
class Timings:
    parse_s: float = 0.0
    to_item_s: float = 0.0
    add_s: float = 0.0  # Ingestor.add, including the flushes it triggers (hash, read, write)
    finish_s: float = 0.0  # seen markers, parents, relationships, stale deletion

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in vars(self).items()}


def ingest_objects(
    objects: Iterable[Mapping[str, Any]],
    *,
    scraper_id: uuid.UUID = BENCH_SCRAPER_ID,
    batch_size: int = 2000,
    timings: Timings | None = None,
) -> Any:
    """Kubernetes objects -> catalog, exactly as a complete kubernetes scrape would do it."""
    from catalog.ingest import Ingestor
    from catalog.scrapers.k8s_objects import cluster_item, to_item
    from portal.ids import LOCAL_AGENT_ID

    t = timings or Timings()
    clock = time.perf_counter
    ingestor = Ingestor(scraper_id=scraper_id, agent_id=LOCAL_AGENT_ID, batch_size=batch_size)
    ingestor.add(cluster_item(data.CLUSTER, LOCAL_AGENT_ID))
    iterator = iter(objects)
    while True:
        t0 = clock()
        obj = next(iterator, None)
        t1 = clock()
        if obj is None:
            break
        item = to_item(obj, data.CLUSTER, LOCAL_AGENT_ID)
        t2 = clock()
        ingestor.add(item)
        t3 = clock()
        t.parse_s += t1 - t0
        t.to_item_s += t2 - t1
        t.add_s += t3 - t2
    t0 = clock()
    stats = ingestor.finish(
        complete=True, stale_age=STALE_AGE, max_delete_percent=MAX_DELETE_PERCENT
    )
    t.finish_s += clock() - t0
    return stats


def ensure_scraper(scraper_id: uuid.UUID = BENCH_SCRAPER_ID) -> None:
    from catalog.models import ScrapeConfig

    ScrapeConfig.objects.get_or_create(
        id=scraper_id,
        defaults={
            "name": "bench",
            "namespace": "bench",
            "spec": {"kubernetes": [{"clusterName": data.CLUSTER}]},
        },
    )


def _status_mb(field_name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker(path: Path) -> dict[str, Any]:
    """One ingest in this process: idle RSS after setup, wall time, breakdown, VmHWM."""
    import django

    django.setup()
    from django.db import connection

    ensure_scraper()
    # Warm the code paths the ingest imports lazily, so idle RSS is "ready to scrape".
    import catalog.ingest
    import catalog.scrapers.k8s_objects  # noqa: F401

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend_pid = cur.fetchone()[0]
    idle_rss = _status_mb("VmRSS")
    timings = Timings()
    started = time.perf_counter()
    stats = ingest_objects(data.read(path), timings=timings)
    seconds = time.perf_counter() - started
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")
    connection.close()
    return {
        "seconds": seconds,
        "breakdown": timings.as_dict(),
        "stats": stats.as_dict(),
        "relationships": stats.relationships,
        "backend_pid": backend_pid,
        "idle_rss_mb": round(idle_rss, 1),
        "vmhwm_mb": round(_status_mb("VmHWM"), 1),
    }


# -- the parent: limits, repetitions and checks ------------------------------------------------


@dataclass
class Result:
    """One row of the report: a workload at one size."""

    id: str
    size: int
    reps: int
    unit: str
    ours: Summary
    limit: Summary
    target: str
    passed: bool
    peer_value: float | None = None
    peer_source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    rss_max_mb: float | None = None

    @property
    def efficiency(self) -> float:
        return self.limit.median / self.ours.median if self.ours.median else 0.0

    @property
    def lead(self) -> float | None:
        return self.peer_value / self.ours.median if self.peer_value and self.ours.median else None

    def as_dict(self) -> dict[str, Any]:
        key = "s" if self.unit == "s" else "mb"
        return {
            "id": self.id,
            "size": self.size,
            "reps": self.reps,
            "unit": self.unit,
            f"ours_{key}": self.ours.as_dict(),
            f"limit_{key}": self.limit.as_dict(),
            "efficiency": round(self.efficiency, 3),
            "peer": {f"value_{key}": self.peer_value, "source": self.peer_source or None},
            "lead": None if self.lead is None else round(self.lead, 2),
            "extra": self.extra,
            "peak_rss_mb": {"scraper": self.rss_max_mb, "worker": None},
            "target": self.target,
            "pass": self.passed,
        }


class IngestSuite:
    """Runs the workloads in an order that reuses state: W1 leaves the catalog W2 and W3 need."""

    def __init__(self, db: BenchDatabase, seed: int, reps: int, log: Any = print) -> None:
        self.db = db
        self.seed = seed
        self.reps = reps
        self.log = log
        self.loaded: int | None = None  # size of the clean data set in the catalog, if any
        self.w1_workers: dict[int, list[dict[str, Any]]] = {}
        self.datasets: dict[str, Any] = {}

    # -- plumbing ------------------------------------------------------------------------------

    def dataset(self, size: int, changes: int = 0) -> data.DatasetInfo:
        info = data.ensure(size, self.seed, changes)
        self.datasets[data.dataset_path(size, self.seed, changes).name] = info.as_dict()
        return info

    def run_worker(self, path: Path) -> dict[str, Any]:
        try:
            result = subprocess.run(
                [sys.executable, "-m", "bench.ingest", "worker", str(path)],
                cwd=data.ROOT,
                env=self.db.env(),
                capture_output=True,
                text=True,
                check=False,
                timeout=WORKER_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"ingest of {path.name} exceeded {WORKER_TIMEOUT_S}s") from exc
        if result.returncode:
            raise RuntimeError(f"ingest worker failed:\n{result.stderr[-4000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def prime(self) -> float:
        """Planner statistics as on a running installation, where autovacuum has analyzed.

        A never-analyzed catalog is the first scrape's reality; its cost is returned (and
        recorded as `cold_first_scrape_s`) so that path stays visible in every result file.
        TRUNCATE keeps the column statistics, so later fresh ingests plan like a live system.
        """
        self.db.truncate_catalog()
        seconds = self.run_worker(self.dataset(PRIME_SIZE).path)["seconds"]
        self.db.execute(f"ANALYZE {', '.join(CATALOG_TABLES)}")
        self.db.truncate_catalog()
        self.loaded = None
        return seconds

    def steady(self) -> None:
        """Re-scrapes meet a vacuumed, analyzed catalog, as autovacuum leaves it."""
        self.db.execute(*(f"VACUUM (ANALYZE) {t}" for t in CATALOG_TABLES))

    def load_clean(self, size: int) -> None:
        """The catalog holds exactly the unchanged data set of this size."""
        if self.loaded == size:
            return
        self.db.truncate_catalog()
        self.run_worker(self.dataset(size).path)
        self.loaded = size

    def _columns(self) -> list[tuple[str, str]]:
        with self.db.connect() as conn:
            return conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'catalog_configitem' ORDER BY ordinal_position"
            ).fetchall()

    def _timed(self, fn: Any) -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    # -- W1 ------------------------------------------------------------------------------------

    def w1(self, size: int) -> Result:
        info = self.dataset(size)
        self.log(f"W1 {data.size_label(size)}: warm-up")
        self.db.truncate_catalog()
        self.run_worker(info.path)
        columns = ", ".join(c for c, _ in self._columns())
        with self.db.connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
            conn.execute(f"CREATE TABLE {SCRATCH} (LIKE catalog_configitem INCLUDING ALL)")
            rows = bytearray()
            with conn.cursor().copy(
                f"COPY (SELECT {columns} FROM catalog_configitem) TO STDOUT"
            ) as copy:
                for chunk in copy:
                    rows += chunk
        rows = bytes(rows)

        def limit() -> float:
            self.db.execute(f"TRUNCATE {SCRATCH}", "CHECKPOINT")
            with self.db.connect(autocommit=False) as conn:
                started = time.perf_counter()
                with conn.cursor().copy(f"COPY {SCRATCH} ({columns}) FROM STDIN") as copy:
                    for offset in range(0, len(rows), 1 << 20):
                        copy.write(rows[offset : offset + (1 << 20)])
                conn.commit()
                return time.perf_counter() - started

        limit()
        ours: list[float] = []
        limits: list[float] = []
        workers: list[dict[str, Any]] = []
        for rep in range(self.reps):
            self.log(f"W1 {data.size_label(size)}: rep {rep + 1}/{self.reps}")
            limits.append(limit())
            self.db.truncate_catalog()
            result = self.run_worker(info.path)
            workers.append(result)
            ours.append(result["seconds"])
        self.loaded = size
        self.w1_workers[size] = workers
        o, lim = summarize(ours), summarize(limits)
        rate = size / o.median
        peer = BACKSTAGE_10K_S if size == 10_000 else size / BACKSTAGE_RATE
        source = "backstage-1.55-measured" if size == 10_000 else "backstage#27628"
        last = workers[-1]
        return Result(
            "W1",
            size,
            self.reps,
            "s",
            o,
            lim,
            "eff>=0.5, >=10k/s",
            passed=lim.median / o.median >= 0.5 and rate >= 10_000,
            peer_value=peer,
            peer_source=source,
            rss_max_mb=max(w["vmhwm_mb"] for w in workers),
            extra={
                "items_per_s": round(rate),
                "limit_rows_per_s": round(size / lim.median),
                "created": last["stats"]["created"],
                "relationships": last["relationships"],
                "breakdown_s": _median_breakdown(workers),
                "copy_bytes": len(rows),
            },
        )

    # -- W11 -----------------------------------------------------------------------------------

    def w11(self, size: int) -> Result:
        if size not in self.w1_workers:
            self.w1(size)
        workers = self.w1_workers[size]
        peak = summarize([w["vmhwm_mb"] for w in workers])
        idle = summarize([w["idle_rss_mb"] for w in workers])
        return Result(
            "W11",
            size,
            len(workers),
            "MB",
            peak,
            idle,
            "<=500MB",
            passed=peak.median <= 500,
            peer_value=CONFIG_DB_OOM_MB,
            peer_source="config-db#2247",
            rss_max_mb=max(peak.values),
            extra={"process": "scraper (W1 ingest worker)", "idle_after_setup_mb": idle.median},
        )

    # -- W2 ------------------------------------------------------------------------------------

    def w2(self, size: int) -> Result:
        self.load_clean(size)
        self.steady()
        info = self.dataset(size)
        with self.db.connect() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM catalog_configitem").fetchall()]

        def limit() -> float:
            with self.db.connect() as conn:
                started = time.perf_counter()
                rows = conn.execute(
                    "SELECT id, item_hash FROM catalog_configitem WHERE id = ANY(%s)", [ids]
                ).fetchall()
                hashes = dict(rows)
                seconds = time.perf_counter() - started
            assert len(hashes) == len(ids)
            return seconds

        self.log(f"W2 {data.size_label(size)}: warm-up")
        limit()
        self.run_worker(info.path)
        ours: list[float] = []
        limits: list[float] = []
        written: list[int] = []
        seen: list[int] = []
        workers = []
        for rep in range(self.reps):
            self.log(f"W2 {data.size_label(size)}: rep {rep + 1}/{self.reps}")
            limits.append(limit())
            before = self.db.settled_counts()
            result = self.run_worker(info.path)
            after = self.db.settled_counts(gone_pid=result["backend_pid"])
            written.append(sum(after.get(t, 0) - before.get(t, 0) for t in WRITE_TABLES))
            seen.append(after.get(SEEN_TABLE, 0) - before.get(SEEN_TABLE, 0))
            workers.append(result)
            ours.append(result["seconds"])
        o, lim = summarize(ours), summarize(limits)
        return Result(
            "W2",
            size,
            self.reps,
            "s",
            o,
            lim,
            "<=0.5s, 0 rows",
            passed=o.median <= 0.5 and not any(written),
            peer_source="config-db UpdateUnchanged",
            rss_max_mb=max(w["vmhwm_mb"] for w in workers),
            extra={
                "rows_written": max(written),
                "rows_written_per_rep": written,
                "seen_marker_rows": max(seen),
                "seen_marker_statements": 1,
                "unchanged": workers[-1]["stats"]["unchanged"],
                "breakdown_s": _median_breakdown(workers),
            },
        )

    # -- W3 ------------------------------------------------------------------------------------

    def w3(self, size: int) -> Result:
        self.load_clean(size)
        self.steady()
        n_changes = w3_changes(size)
        changes = data.change_plan(size, self.seed, n_changes)
        info = self.dataset(size, n_changes)
        changed_ids = [
            uuid.UUID(obj["metadata"]["uid"])
            for index, obj in enumerate(data.read(info.path))
            if index in changes
        ]
        columns = self._columns()
        names = [c for c, _ in columns]
        cols = ", ".join(names)
        textual = {c for c, t in columns if t in ("json", "jsonb", "ARRAY")}
        select = ", ".join(f"{c}::text" if c in textual else c for c in names)
        with self.db.connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {W3_ORIGINALS}")
            conn.execute(
                f"CREATE TABLE {W3_ORIGINALS} AS SELECT * FROM catalog_configitem "
                "WHERE id = ANY(%s)",
                [changed_ids],
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {SCRATCH} (LIKE catalog_configitem INCLUDING ALL)"
            )
            conn.execute(f"TRUNCATE {SCRATCH}")
            conn.execute(f"INSERT INTO {SCRATCH} SELECT * FROM catalog_configitem")
            ids = [r[0] for r in conn.execute("SELECT id FROM catalog_configitem").fetchall()]
        restore_set = ", ".join(f"{c} = o.{c}" for c in names if c != "id")

        def reset() -> None:
            self.db.execute(
                f"UPDATE catalog_configitem c SET {restore_set} FROM {W3_ORIGINALS} o "
                "WHERE c.id = o.id",
                "TRUNCATE catalog_configchange, portal_event CASCADE",
                "CHECKPOINT",
            )

        def counted() -> tuple[int, int, int]:
            with self.db.connect() as conn:
                return conn.execute(
                    "SELECT count(*), count(*) FILTER (WHERE change_type = 'diff' "
                    "AND coalesce(diff, '') <> ''), count(*) FILTER (WHERE source = "
                    "'flightdeck/health') FROM catalog_configchange"
                ).fetchone()

        self.log(f"W3 {data.size_label(size)}: warm-up")
        reset()
        self.run_worker(info.path)
        with self.db.connect() as conn:
            new_hashes = dict(
                conn.execute("SELECT id, item_hash FROM catalog_configitem").fetchall()
            )
            new_rows = conn.execute(
                f"SELECT {select} FROM catalog_configitem WHERE id = ANY(%s)", [changed_ids]
            ).fetchall()
        config_at = names.index("config")
        reset()
        placeholders = ", ".join(["%s"] * len(names))
        upsert = (
            f"INSERT INTO {SCRATCH} ({cols}) VALUES ({placeholders}) ON CONFLICT (id) "
            f"DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in names if c != 'id')}"
        )
        pretty = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS

        def limit() -> float:
            with self.db.connect(autocommit=False) as conn:
                started = time.perf_counter()
                stored = dict(
                    conn.execute(
                        "SELECT id, item_hash FROM catalog_configitem WHERE id = ANY(%s)", [ids]
                    ).fetchall()
                )
                differ = [i for i, h in new_hashes.items() if stored.get(i) != h]
                old = dict(
                    conn.execute(
                        "SELECT id, config::text FROM catalog_configitem WHERE id = ANY(%s)",
                        [differ],
                    ).fetchall()
                )
                by_id = {row[0]: row for row in new_rows}
                lines = 0
                for i in differ:
                    before = orjson.dumps(orjson.loads(old[i]), option=pretty).decode()
                    after = orjson.dumps(orjson.loads(by_id[i][config_at]), option=pretty).decode()
                    lines += sum(
                        1
                        for _ in difflib.unified_diff(
                            before.splitlines(), after.splitlines(), lineterm=""
                        )
                    )
                with conn.cursor() as cur:
                    cur.executemany(upsert, [by_id[i] for i in differ])
                conn.commit()
                seconds = time.perf_counter() - started
            assert len(differ) == n_changes and lines > 0
            return seconds

        limit()
        ours: list[float] = []
        limits: list[float] = []
        checks: list[tuple[int, int, int]] = []
        written: list[int] = []
        workers = []
        for rep in range(self.reps):
            self.log(f"W3 {data.size_label(size)}: rep {rep + 1}/{self.reps}")
            limits.append(limit())  # reads the catalog in its original state
            before = self.db.settled_counts()
            result = self.run_worker(info.path)
            after = self.db.settled_counts(gone_pid=result["backend_pid"])
            written.append(sum(after.get(t, 0) - before.get(t, 0) for t in WRITE_TABLES))
            checks.append(counted())
            workers.append(result)
            ours.append(result["seconds"])
            reset()
        o, lim = summarize(ours), summarize(limits)
        exact = all(total == diffs == n_changes for total, diffs, _ in checks)
        return Result(
            "W3",
            size,
            self.reps,
            "s",
            o,
            lim,
            f"<=1s, {n_changes} chg",
            passed=o.median <= 1.0 and exact,
            peer_source="config-db UpdateChanged",
            rss_max_mb=max(w["vmhwm_mb"] for w in workers),
            extra={
                "changed_objects": n_changes,
                "change_rows": max(c[0] for c in checks),
                "change_rows_with_diff": min(c[1] for c in checks),
                "health_change_rows": max(c[2] for c in checks),
                "exact_every_rep": exact,
                "rows_written": max(written),
                "updated": workers[-1]["stats"]["updated"],
                "breakdown_s": _median_breakdown(workers),
            },
        )


def w3_changes(size: int) -> int:
    return max(1, round(size * W3_SHARE))


def _median_breakdown(workers: list[dict[str, Any]]) -> dict[str, float]:
    keys = workers[0]["breakdown"].keys()
    return {k: round(summarize([w["breakdown"][k] for w in workers]).median, 3) for k in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("worker", help="ingest one data set file in this process (internal)")
    run.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    result = worker(args.path)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
