"""`python -m bench [W1 W2 W3 W11 K10k W4 W5 W6 W7 W8] [--sizes 10k,100k] [--reps 5] [--seed 1]`.

Exit status 1 when a workload misses its target or regresses against --compare, so `make bench`
can gate a release; the table and the JSON file are written either way.
"""

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from bench import report
from bench.data import dataset_path, parse_size, size_label
from bench.database import BenchDatabase
from bench.ingest import IngestSuite
from bench.kubernetes import KubeSuite
from bench.measure import environment
from bench.pages import PagesSuite

WORKLOADS = ("W1", "W2", "W3", "W11", "K10k", "W4", "W5", "W6", "W7", "W8")
KUBE = ("K10k", "W4")
PAGES = ("W5", "W6", "W7", "W8")
DEFAULT_SIZES = "10k,100k"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "workloads",
        nargs="*",
        metavar="W",
        help=f"workloads to run (default: all of {', '.join(WORKLOADS)})",
    )
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help="W1 and W5-W8 run at each size (1m only when listed); W2, W3, W11 at the largest",
    )
    parser.add_argument(
        "--w4-seconds",
        type=float,
        default=60.0,
        help="W4 emission time per repetition at 50 events/s (300 for the full measurement)",
    )
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compare", metavar="BASE_JSON", default=None)
    args = parser.parse_args(argv)
    known = {w.upper(): w for w in WORKLOADS}
    chosen = [known.get(w.upper(), w) for w in args.workloads] or list(WORKLOADS)
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    args.workloads = chosen
    args.sizes = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()})
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_1m = os.getloadavg()[0]  # before we add any load of our own

    def log(message: str) -> None:
        print(f"-- {message}", file=sys.stderr, flush=True)

    db = BenchDatabase()
    log(f"database {db.name}")
    db.create()
    try:
        db.migrate()
        env = environment(db.settings(), load_1m)
        suite = IngestSuite(db, args.seed, args.reps, log)
        log("priming planner statistics (a cold first scrape of 2k objects)")
        env["cold_first_scrape_s"] = {"size": 2000, "seconds": round(suite.prime(), 2)}
        results = []
        largest = args.sizes[-1]
        if "W1" in args.workloads:
            results += [suite.w1(size) for size in args.sizes]
        if "W11" in args.workloads:
            results.append(suite.w11(largest))
        if "W2" in args.workloads:
            results.append(suite.w2(largest))
        if "W3" in args.workloads:
            results.append(suite.w3(largest))
        if any(w in args.workloads for w in KUBE):
            with KubeSuite(db, args.reps, log, w4_seconds=args.w4_seconds) as kube:
                if "K10k" in args.workloads:
                    results.append(kube.k10k())
                if "W4" in args.workloads:
                    results.append(kube.w4())
            suite.loaded = None  # the emulated cluster replaced the W1 catalog
        pages_chosen = [w for w in PAGES if w in args.workloads]
        if pages_chosen:
            pages = PagesSuite(db, suite, args.reps, log)
            for size in args.sizes:
                results += pages.run(size, pages_chosen)
            env["pages_load_s"] = {size_label(s): v for s, v in pages.load_s.items()}
    finally:
        db.drop()
    main_set = suite.datasets.get(dataset_path(largest, args.seed).name, {})
    env.update(
        {
            "seed": args.seed,
            "sizes": args.sizes,
            "reps": args.reps,
            "dataset_sha256": main_set.get("sha256"),
            "datasets": suite.datasets,
        }
    )
    order = {w: i for i, w in enumerate(WORKLOADS)}
    results.sort(key=lambda r: (order[r.id], r.size))
    return {"schema": 1, "env": env, "workloads": [r.as_dict() for r in results]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    path = report.write(result)
    print(report.table(result))
    regressions: list[str] = []
    if args.compare:
        base = orjson.loads(Path(args.compare).read_bytes())
        regressions = report.compare(result, base)
        print("\n".join(regressions) or f"compare: no regression against {args.compare}")
    print(f"results: {path}")
    failed = [w for w in result["workloads"] if not w["pass"]]
    return 1 if failed or regressions else 0


if __name__ == "__main__":
    sys.exit(main())
