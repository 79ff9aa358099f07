"""The benchmark's output: a text table on stdout, and the same figures as JSON, CSV and a PNG
chart under ``bench/results/`` (git-ignored). ``latest.*`` always points at the last run."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

COLS = [
    ("contender", "label", 38),
    ("pair", "pair_label", 17),
    ("runs ok", "runs_ok", 7),
    ("median s", "median_s", 9),
    ("rows/s", "rows_per_s", 10),
    ("peak RSS MB", "peak_rss_mb", 11),
    ("x GT best", "x_gt_best", 9),
    ("x GT dflt", "x_gt_default", 9),
    ("x pt bulk", "x_pt_bulk", 9),
    ("x pipe", "x_limit", 8),
    ("x pgloader", "x_pgloader", 10),
]


def _fmt(v, key):
    if v is None:
        return "-"
    if key == "rows_per_s":
        return f"{v:,.0f}"
    if key.startswith("x_"):
        return f"{v:.2f}"
    if isinstance(v, float):
        return f"{v:.1f}" if key != "median_s" else f"{v:.2f}"
    return str(v)


def text(doc: dict) -> str:
    if not doc["results"]:
        lines = ["(no table contenders run)"]
        return _tail(doc, lines)
    lines = [
        f"N = {doc['rows']:,} rows, {doc['archived']:,} archived (created_at < {doc['cutoff']}), "
        f"median of {doc['runs']} run(s), Python contenders timed without start-up/imports",
        "ratios: rows/s of the row / rows/s of the reference on the same pair, same run",
        "",
    ]
    head = "  ".join(f"{h:>{w}}" if i > 1 else f"{h:<{w}}" for i, (h, _, w) in enumerate(COLS))
    lines += [head, "-" * len(head)]
    for r in doc["results"]:
        cells = []
        for i, (_, k, w) in enumerate(COLS):
            v = r[k] if k != "runs_ok" else f"{r['runs_ok']}/{r['runs']}"
            cells.append(f"{_fmt(v, k):>{w}}" if i > 1 else f"{_fmt(v, k):<{w}}")
        lines.append("  ".join(cells))
    capped = [r for r in doc["results"] if r.get("archived") != doc["archived"]]
    for r in capped:
        lines.append(
            f"  ({r['label']}: rows/s measured on its first {r['archived']:,} rows to archive; "
            f"at its rate all {doc['archived']:,} would take {doc['archived'] / r['rows_per_s'] / 60 if r['rows_per_s'] else 0:.0f} min)"
        )
    return _tail(doc, lines)


def _server(srv: dict | None, slept: float | None) -> str:
    """One run's cost to the servers and what it left: pacing sleep, WAL, sizes, dead rows."""
    if not srv:
        return "(no server figures)"
    parts = [f"paced {slept or 0:.1f} s"]
    w = srv.get("wal")
    if w:
        parts.append(
            f"WAL {w['bytes'] / 1e6:,.0f} MB ({w['fpi']:,} full pages), {w['checkpoints']} checkpoint(s), "
            f"{w['buffers_backend']:,} buffers written by backends"
        )
    for side in ("source", "warm"):
        t = srv.get(side) or {}
        extra = f", {t['dead_rows']:,} dead rows" if "dead_rows" in t else ""
        parts.append(f"{side} {t.get('mb', 0):,.0f} MB{extra}")
    return "; ".join(parts)


def _tail(doc: dict, lines: list[str]) -> str:
    if doc["memory"]:
        lines += ["", "scale of the table job (copy_then_delete): peak RSS of the job process and rows/s:"]
        for m in doc["memory"]:
            lines.append(
                f"  {m['pair_label']:17s} {m['rows_small']:>10,}: {_fmt(m['peak_rss_mb_small'], 'mb'):>7} MB"
                f" {_fmt(m.get('rows_per_s_small'), 'rows_per_s'):>9} rows/s"
                f"   {m['rows_big']:>10,}: {_fmt(m['peak_rss_mb_big'], 'mb'):>7} MB"
                f" {_fmt(m.get('rows_per_s_big'), 'rows_per_s'):>9} rows/s"
                f"   RSS {_fmt(m['growth_pct'], 'pct')} %, rows/s {_fmt(m.get('rows_per_s_change_pct'), 'pct')} %"
            )
            for size in ("small", "big"):
                lines.append(
                    f"    {m[f'rows_{size}']:>10,}: " + _server(m.get(f"server_{size}"), m.get(f"slept_s_{size}"))
                )
    api = doc.get("api")
    if api:
        lines += [
            "",
            f"monitor API list endpoint (GET /warm/api/v1/tasks), {api.get('runs', 0):,} warm runs x 5 "
            f"table jobs in a PostgreSQL metadata DB, {api.get('requests_per_case', 0)} requests per case:",
        ]
        if api.get("error"):
            lines.append(f"  FAILED: {api['error']}")
        lines.append(f"  {'case':70} {'total':>7} {'p50 ms':>8} {'p95 ms':>8}")
        for c in api.get("cases", []):
            lines.append(f"  {c['case']:70} {c['total']:>7} {c['p50_ms']:8.1f} {c['p95_ms']:8.1f}")
        for g in api.get("growth", []):
            lines.append(
                f"  {g['case']}: p95 {g['p95_before_ms']:.1f} ms at {g['runs_before']:,} runs, "
                f"{g['p95_after_ms']:.1f} ms at {g['runs_after']:,} (the other tabs 5x): x{g['ratio']:.2f}"
            )
    lines += ["", "targets:"]
    for t in doc["targets"]:
        v = t["value"]
        val = "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
        met = {True: "pass", False: "MISS", None: "not measured"}[t["met"]]
        lines.append(f"  {t['target']:58s} {t['want']:>9s}  {val:>8s}  {met}")
    lines.append("")
    lines.append("all checks passed" if doc["all_checks_passed"] else "SOME RUNS FAILED THEIR CHECKS")
    return "\n".join(lines)


def chart(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in doc["results"] if r["rows_per_s"]]
    names = [f"{r['pair_label']}: {r['label']}" for r in rows]
    colors = {"engine": "#2e7d32", "gt": "#9e9e9e", "pt": "#f9a825", "limit": "#1565c0", "pgloader": "#6a1b9a"}
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(15, 0.38 * len(rows) + 1.8), sharey=True, gridspec_kw={"width_ratios": [3, 1.3]}
    )
    y = range(len(rows))
    ax1.barh(y, [r["rows_per_s"] for r in rows], color=[colors[r["family"]] for r in rows])
    ax1.set_yticks(list(y), names, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("rows/s (median; archive + delete, except 'copy')")
    for i, r in enumerate(rows):
        ax1.text(r["rows_per_s"], i, f" {r['rows_per_s']:,.0f}", va="center", fontsize=7)
    ax2.barh(y, [r["peak_rss_mb"] or 0 for r in rows], color=[colors[r["family"]] for r in rows])
    ax2.axvline(150, color="red", lw=0.8, ls="--")
    ax2.set_xlabel("peak RSS of the job process, MB")
    fig.suptitle(
        f"Warm archive benchmark: N={doc['rows']:,}, {doc['archived']:,} rows archived, median of {doc['runs']} run(s)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(doc: dict, out: str, stamp: str) -> list[Path]:
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    base = d / f"bench-{stamp}"
    paths = []
    p = base.with_suffix(".json")
    p.write_text(json.dumps(doc, indent=1, default=str))
    paths.append(p)
    p = base.with_suffix(".csv")
    keys = [
        "id",
        "family",
        "variant",
        "pair",
        "label",
        "runs",
        "runs_ok",
        "median_s",
        "rows_per_s",
        "peak_rss_mb",
        "rss_before_mb",
        "x_gt_best",
        "x_gt_default",
        "x_pt_bulk",
        "x_limit",
        "x_pgloader",
    ]
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys + ["rows", "archived"])
        for r in doc["results"]:
            w.writerow([r[k] for k in keys] + [doc["rows"], doc["archived"]])
        # The monitor API cases in the same file: id api.<n>, median_s = p50, p95 in its own column.
        api = doc.get("api") or {}
        if api.get("cases"):
            w.writerow([])
            w.writerow(["id", "family", "case", "total", "p50_ms", "p95_ms", "warm_runs", "requests"])
            for i, c in enumerate(api["cases"], 1):
                w.writerow(
                    [
                        f"api.{i}",
                        "api",
                        c["case"],
                        c["total"],
                        round(c["p50_ms"], 2),
                        round(c["p95_ms"], 2),
                        api.get("runs"),
                        api.get("requests_per_case"),
                    ]
                )
    paths.append(p)
    p = base.with_suffix(".png")
    try:
        if not doc["results"]:
            raise ValueError("no table contenders")
        chart(doc, p)
        paths.append(p)
    except Exception as e:  # noqa: BLE001 - the figures matter more than the picture
        print(f"chart not written: {e}")
    p = base.with_suffix(".txt")
    p.write_text(text(doc) + "\n")
    paths.append(p)
    for q in list(paths):
        shutil.copyfile(q, d / f"latest{q.suffix}")
    return paths
