"""The human table, the JSON result file under bench/results/ and the regression check."""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.data import size_label

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REGRESSION_SHARE = 0.05


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MB":
        return f"{value:.0f}MB"
    if value >= 10:
        return f"{value:.1f}s"
    if value >= 0.1:
        return f"{value:.2f}s"
    return f"{value * 1000:.1f}ms"


def _row(w: dict[str, Any]) -> list[str]:
    unit = w["unit"]
    key = "s" if unit == "s" else "mb"
    ours, limit = w[f"ours_{key}"], w[f"limit_{key}"]
    peer = w["peer"].get(f"value_{key}")
    source = w["peer"]["source"]
    peer_text = f"{_fmt(peer, unit)} ({source})" if source else "-"
    lead = w["lead"]
    rss = w["peak_rss_mb"]["scraper"]
    queries = w["extra"].get("queries_per_page")
    return [
        w["id"],
        size_label(w["size"]),
        _fmt(ours["median"], unit),
        _fmt(ours["iqr"], unit),
        _fmt(limit["median"], unit),
        f"{w['efficiency']:.2f}",
        peer_text,
        "-" if lead is None else f"{lead:.1f}x",
        "-" if rss is None else f"{rss:.0f}MB",
        "-" if queries is None else str(queries),
        w["target"],
        "PASS" if w["pass"] else "FAIL",
    ]


HEADER = [
    "id",
    "size",
    "ours p50",
    "IQR",
    "limit p50",
    "eff",
    "peer (source)",
    "lead",
    "RSS max",
    "queries",
    "target",
    "result",
]


def table(result: dict[str, Any]) -> str:
    env = result["env"]
    noisy = "  NOISY" if env["noisy"] else ""
    lines = [
        f"== bench  {env['commit']}{'+dirty' if env['dirty'] else ''}  {env['cpu']}, "
        f"{env['cores']} cores  PG {env['postgres']} shared_buffers={env['shared_buffers']} "
        f"fsync={env['fsync']}  Python {env['python']}  seed={env['seed']}",
        f"   RAM {env['ram_gib']} GiB  Django {env['django']}  psycopg {env['psycopg']}  "
        f"synchronous_commit={env['synchronous_commit']}  Redis {env['redis']}  "
        f"sizes={','.join(size_label(s) for s in env['sizes'])}  reps={env['reps']}  "
        f"load1={env['load_avg_1m']}{noisy}",
    ]
    rows = [HEADER, *(_row(w) for w in result["workloads"])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines += ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines += notes(result["workloads"])
    return "\n".join(lines)


def notes(workloads: Sequence[dict[str, Any]]) -> list[str]:
    """The counts every workload reports, and where the time went."""
    out: list[str] = []
    w1 = sorted((w for w in workloads if w["id"] == "W1"), key=lambda w: w["size"])
    if len(w1) > 1:
        steps = " -> ".join(
            f"{size_label(w['size'])} {_fmt(w['ours_s']['median'], 's')}" for w in w1
        )
        ratio = w1[-1]["ours_s"]["median"] / w1[0]["ours_s"]["median"]
        out.append(
            f"growth  W1: {steps}  ({w1[-1]['size'] // w1[0]['size']}x data -> {ratio:.1f}x time)"
        )
    for wid in ("W5", "W6", "W7", "W8"):
        points = sorted((w for w in workloads if w["id"] == wid), key=lambda w: w["size"])
        if points:
            steps = " -> ".join(
                f"{size_label(w['size'])} {_fmt(w['extra']['p95_s'], 's')}" for w in points
            )
            out.append(f"growth  {wid} p95: {steps}")
    for w in workloads:
        extra, label = w["extra"], f"{w['id']} {size_label(w['size'])}"
        if "summary_line" in extra:
            out.append(extra["summary_line"])
        if w["id"] == "W1":
            out.append(
                f"{label}: {extra['items_per_s']:,} items/s (limit "
                f"{extra['limit_rows_per_s']:,} rows/s), {extra['relationships']:,} edges"
            )
        elif w["id"] == "W2":
            out.append(
                f"{label}: rows written {extra['rows_written']} (configitem, configchange, "
                f"configrelationship), unchanged {extra['unchanged']:,}"
            )
            out.append(
                f"{label}: seen-marker writes {extra['seen_marker_rows']:,} rows in "
                f"{extra['seen_marker_statements']} statement (catalog_configitemseen)"
            )
        elif w["id"] == "W3":
            out.append(
                f"{label}: change rows {extra['change_rows']} (with diff "
                f"{extra['change_rows_with_diff']}, health {extra['health_change_rows']}) "
                f"for {extra['changed_objects']} changed objects, exact every rep: "
                f"{extra['exact_every_rep']}"
            )
        elif w["id"] == "W11":
            out.append(
                f"{label}: idle after Django setup {extra['idle_after_setup_mb']:.0f}MB "
                f"({extra['process']})"
            )
        if "breakdown_s" in extra:
            parts = ", ".join(
                f"{k.removesuffix('_s')} {v:.2f}s" for k, v in extra["breakdown_s"].items()
            )
            out.append(f"{label}: time in {parts}")
    return out


def write(result: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}-{result['env']['commit']}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return path


def _value(w: dict[str, Any]) -> dict[str, float]:
    return w["ours_s"] if "ours_s" in w else w["ours_mb"]


def compare(result: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """A regression: >5% worse median and a difference larger than either run's IQR."""
    before = {(w["id"], w["size"]): w for w in base["workloads"]}
    out = []
    for w in result["workloads"]:
        old = before.get((w["id"], w["size"]))
        if old is None:
            continue
        new_v, old_v = _value(w), _value(old)
        delta = new_v["median"] - old_v["median"]
        worse = old_v["median"] > 0 and delta / old_v["median"] > REGRESSION_SHARE
        if worse and delta > max(new_v["iqr"], old_v["iqr"]):
            out.append(
                f"REGRESSION {w['id']} {size_label(w['size'])}: "
                f"{_fmt(old_v['median'], w['unit'])} -> {_fmt(new_v['median'], w['unit'])} "
                f"(+{delta / old_v['median']:.0%}, IQR {_fmt(new_v['iqr'], w['unit'])})"
            )
    return out
