#!/usr/bin/env python3
"""Click analytics benchmark (BENCH.md: "click ingest / stats query"): `shortlink stats ingest`
of N synthetic events (gen_clicks, fixed seed) and the queries a dashboard asks, against the
anchor a user would pick instead: the same events loaded as rows into SQLite with the sqlite3
shell (`.import` of the CSV `stats export` writes, one typed table, no index) and queried with
GROUP BY. Ours and the anchor alternate; each figure is the median of RUNS runs with the spread.

Reported:
  - ingest: events/s and MB/s of segment data (wall and CPU seconds), against the anchor's
    import of the same events (target: at least 1M events/s);
  - queries over all N events, median of 5 each per run: top 10 links, the per-day series, one
    link's per-day series, countries (target: top links and per-day series under 1 s);
  - bytes per event on disk: the segments, the stats database (raw chunks within retention and
    rollups), the anchor's table.

Usage: bench/stats/run.py [--events 10000000] [--runs 3] [--days 14] [--links 100000]
                          [--build build] [--work DIR] [--no-anchor] [--json FILE]
Builds nothing: run scripts/build.sh first (gen_clicks is built with the tests).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DAY_MS = 86_400_000
QUERY_REPEAT = 5

ANCHOR_SCHEMA = """CREATE TABLE events (time TEXT, time_ms INTEGER, domain TEXT, code TEXT, outcome TEXT,
  status INTEGER, method TEXT, rule INTEGER, device TEXT, os TEXT, browser TEXT, bot TEXT, is_bot TEXT,
  qr TEXT, tls TEXT, country TEXT, referrer TEXT, network TEXT, serial INTEGER, visitor TEXT);"""
PEOPLE = "outcome IN ('redirect', 'password_ok') AND is_bot = 'false'"
ANCHOR_QUERIES = {
    "top links": f"SELECT domain, code, count(*) AS n FROM events WHERE {PEOPLE} GROUP BY domain, code "
                 "ORDER BY n DESC LIMIT 10",
    "per-day series": f"SELECT time_ms / 86400000 AS day, count(*) FROM events WHERE {PEOPLE} GROUP BY day",
    "one link per day": f"SELECT time_ms / 86400000 AS day, count(*) FROM events WHERE {PEOPLE} AND code = '{{code}}' "
                        "GROUP BY day",
    "countries": f"SELECT country, count(*) AS n FROM events WHERE {PEOPLE} GROUP BY country ORDER BY n DESC LIMIT 10",
}


def log(message):
    print("[stats-bench] " + message, file=sys.stderr, flush=True)


def timed(cmd, stdout=subprocess.DEVNULL, input_text=None):
    """(wall seconds, user+sys CPU seconds, stdout) of one command."""
    before = os.times()
    t0 = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE if stdout is None else stdout, stderr=subprocess.PIPE,
                          text=True, input=input_text)
    wall = time.monotonic() - t0
    after = os.times()
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, proc.stdout


def summary(values):
    return statistics.median(values), min(values), max(values)


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--links", type=int, default=100_000)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--work", help="keep the data here (default: a temporary directory, removed)")
    ap.add_argument("--no-anchor", action="store_true", help="skip the sqlite3 anchor")
    ap.add_argument("--json", help="also write the figures as JSON")
    args = ap.parse_args()

    binary = os.path.join(args.build, "cli", "shortlink")
    gen = os.path.join(args.build, "tests", "gen_clicks")
    for tool in (binary, gen):
        if not os.access(tool, os.X_OK):
            sys.exit(f"missing {tool}: run scripts/build.sh first")
    if not args.no_anchor and shutil.which("sqlite3") is None:
        sys.exit("the anchor needs the sqlite3 shell (Debian package sqlite3), or pass --no-anchor")
    work = args.work or tempfile.mkdtemp(prefix="shortlink-stats-bench-")
    os.makedirs(work, exist_ok=True)
    clicks = os.path.join(work, "clicks")
    stats_db = os.path.join(work, "stats.db")
    anchor_db = os.path.join(work, "anchor.db")
    csv_path = os.path.join(work, "events.csv")
    try:
        # Events over the last --days days, so the default retention keeps all of them raw.
        start = (int(time.time() * 1000) // DAY_MS - args.days) * DAY_MS
        if os.path.isdir(clicks):
            shutil.rmtree(clicks)
        os.makedirs(clicks)
        log(f"generating {args.events} events over {args.days} days, {args.links} links")
        wall, _, out = timed([gen, "--out", clicks, "--events", str(args.events), "--links", str(args.links),
                              "--days", str(args.days), "--start", str(start), "--segment-events", "250000",
                              "--block-events", "2000", "--seed", "42"], stdout=None)
        generated = json.loads(out)
        # The generator's files are still being written back: let that finish before the clock
        # of the ingest starts, or the ingest pays for the generator's I/O.
        os.sync()
        segment_bytes = directory_bytes(clicks)
        log(f"{generated['segments']} segments, {segment_bytes / 1e6:.1f} MB in {wall:.1f} s")

        ingest_wall, ingest_cpu, anchor_wall, anchor_cpu = [], [], [], []
        ours_q = {name: [] for name in ANCHOR_QUERIES}
        anchor_q = {name: [] for name in ANCHOR_QUERIES}
        top_code = None
        for run in range(args.runs):
            for f in (stats_db, stats_db + "-wal", stats_db + "-shm"):
                if os.path.exists(f):
                    os.remove(f)
            wall, cpu, out = timed([binary, "stats", "ingest", clicks, "--stats-db", stats_db, "--json"], stdout=None)
            report = json.loads(out)
            if report["events"] != args.events or report["problems"]:
                sys.exit(f"ingest read {report['events']} events, problems {report['problems']}")
            ingest_wall.append(wall)
            ingest_cpu.append(cpu)
            log(f"run {run + 1}: ingest {wall:.2f} s wall, {cpu:.2f} s CPU: {args.events / wall / 1e6:.2f}M events/s")
            if top_code is None:
                _, _, out = timed([binary, "stats", "--stats-db", stats_db, "--top", "1", "--json"], stdout=None)
                top_code = json.loads(out)["rows"][0]["code"]
            ours_args = {
                "top links": [],
                "per-day series": ["--by", "day"],
                "one link per day": [top_code, "--by", "day"],
                "countries": ["--by", "country"],
            }
            for name, extra in ours_args.items():
                times = [timed([binary, "stats", "--stats-db", stats_db, "--json", *extra])[0]
                         for _ in range(QUERY_REPEAT)]
                ours_q[name].append(statistics.median(times))

            if args.no_anchor:
                continue
            if not os.path.exists(csv_path):
                log("exporting the events as CSV for the anchor")
                timed([binary, "stats", "export", "--stats-db", stats_db, "--format", "csv", "--out", csv_path])
            if os.path.exists(anchor_db):
                os.remove(anchor_db)
            script = f"{ANCHOR_SCHEMA}\n.import --csv --skip 1 {csv_path} events\n"
            wall, cpu, _ = timed(["sqlite3", anchor_db], input_text=script)
            anchor_wall.append(wall)
            anchor_cpu.append(cpu)
            log(f"run {run + 1}: anchor import {wall:.2f} s wall: {args.events / wall / 1e6:.2f}M events/s")
            for name, sql in ANCHOR_QUERIES.items():
                times = [timed(["sqlite3", anchor_db, sql.format(code=top_code)])[0] for _ in range(QUERY_REPEAT)]
                anchor_q[name].append(statistics.median(times))

        stats_bytes = os.path.getsize(stats_db)
        figures = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "events": args.events, "days": args.days, "links": args.links, "runs": args.runs,
            "segments": generated["segments"], "segment_bytes": segment_bytes,
            "ingest_events_per_s": summary([args.events / w for w in ingest_wall]),
            "ingest_events_per_cpu_s": summary([args.events / c for c in ingest_cpu]),
            "ingest_mb_per_s": summary([segment_bytes / 1e6 / w for w in ingest_wall]),
            "queries_s": {name: summary(v) for name, v in ours_q.items()},
            "bytes_per_event": {"segments": segment_bytes / args.events, "stats_db": stats_bytes / args.events},
        }
        if not args.no_anchor:
            figures["anchor_import_events_per_s"] = summary([args.events / w for w in anchor_wall])
            figures["anchor_queries_s"] = {name: summary(v) for name, v in anchor_q.items()}
            figures["bytes_per_event"]["anchor_db"] = os.path.getsize(anchor_db) / args.events

        def row(label, ours, anchor=None, unit="", higher_is_better=True):
            med, lo, hi = ours
            text = f"{label:<34} {med:>12.3f}{unit} ({lo:.3f}-{hi:.3f})"
            if anchor is not None:
                ratio = med / anchor[0] if higher_is_better else anchor[0] / med
                text += f"   anchor {anchor[0]:>10.3f}{unit}   ours {ratio:.2f}x better" if ratio >= 1 else \
                    f"   anchor {anchor[0]:>10.3f}{unit}   ours {1 / ratio:.2f}x worse"
            print(text)

        print(f"\n{args.events} events, {args.days} days, {args.links} links, {generated['segments']} segments, "
              f"median of {args.runs} runs (spread)")
        row("ingest, M events/s (wall)", tuple(v / 1e6 for v in figures["ingest_events_per_s"]),
            tuple(v / 1e6 for v in figures["anchor_import_events_per_s"]) if not args.no_anchor else None)
        row("ingest, M events per CPU second", tuple(v / 1e6 for v in figures["ingest_events_per_cpu_s"]))
        row("ingest, MB/s of segments (wall)", figures["ingest_mb_per_s"])
        for name in ANCHOR_QUERIES:
            row(f"query {name}, s", figures["queries_s"][name],
                figures["anchor_queries_s"][name] if not args.no_anchor else None, higher_is_better=False)
        for name, value in figures["bytes_per_event"].items():
            print(f"{'bytes per event, ' + name:<34} {value:>12.1f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=2)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
