#!/usr/bin/env python3
"""Store benchmarks (BENCH.md): import 1M links from CSV, `add` into a 1M-link database, and
peak RSS of `list --format csv` over 1M links. Each figure alternates ours with the anchor a user
would pick instead, the sqlite3 shell on the same data, and reports the median of RUNS runs with
the spread (min-max) and the ratio ours/anchor.

Anchors:
  import: `sqlite3 DB ".import --csv FILE links"` into a table with the same UNIQUE(domain, code)
          code key (no validation, no normalization, no audit, one domain), in one transaction.
  add:    `sqlite3 DB "INSERT INTO links ..."` (process start + one insert), same database size.
  list:   `sqlite3 -csv DB "SELECT code, url ... ORDER BY code"` streaming the same rows by index.

Usage: bench_store.py [--bin build/cli/shortlink] [--n 1000000] [--runs 3] [--json OUT]
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


LAST_CPU = [0.0]  # user+sys seconds of the last timed() command


def timed(cmd, stdout=subprocess.PIPE):
    """Wall seconds and peak RSS (KiB) of one command, via /usr/bin/time -v; its CPU time
    (user+sys) goes to LAST_CPU[0]. On a shared machine CPU time is steadier than wall time."""
    t0 = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    LAST_CPU[0] = sum(float(re.search(rf"{what} time \(seconds\): ([0-9.]+)", proc.stderr).group(1))
                      for what in ("User", "System"))
    return wall, rss


def summary(values):
    return statistics.median(values), min(values), max(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "cli", "shortlink"))
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    data = os.path.join(ROOT, "bench", "data", f"links-{args.n}.csv")
    if not os.path.exists(data):
        os.makedirs(os.path.dirname(data), exist_ok=True)
        subprocess.run([sys.executable, os.path.join(HERE, "gen_csv.py"), str(args.n), data], check=True)
    tmp = tempfile.mkdtemp(prefix="shortlink-bench-store-")
    results = []
    try:
        sl = lambda db, *a: [args.bin, "--db", db] + list(a)
        anchor_schema = "CREATE TABLE links (code TEXT NOT NULL UNIQUE, url TEXT NOT NULL);"
        ours_import, anchor_import, ours_cpu, anchor_cpu = [], [], [], []
        for run in range(args.runs):
            db = os.path.join(tmp, f"ours{run}.db")
            subprocess.run(sl(db, "init"), check=True, capture_output=True)
            ours_import.append(timed(sl(db, "import", data))[0])
            ours_cpu.append(LAST_CPU[0])
            adb = os.path.join(tmp, f"anchor{run}.db")
            subprocess.run(["sqlite3", adb, "PRAGMA journal_mode=WAL;" + anchor_schema], check=True, capture_output=True)
            anchor_import.append(timed(["sqlite3", adb, f".import --csv --skip 1 {data} links"])[0])
            anchor_cpu.append(LAST_CPU[0])
            print(f"import run {run}: ours {ours_import[-1]:.2f} s wall {ours_cpu[-1]:.2f} s CPU, "
                  f"anchor {anchor_import[-1]:.2f} s wall {anchor_cpu[-1]:.2f} s CPU", flush=True)
        results.append(("import %d links (s)" % args.n, ours_import, anchor_import))
        results.append(("import %d links CPU user+sys (s)" % args.n, ours_cpu, anchor_cpu))

        db = os.path.join(tmp, "ours0.db")
        adb = os.path.join(tmp, "anchor0.db")
        ours_add, anchor_add = [], []
        for i in range(max(5, args.runs)):
            ours_add.append(timed(sl(db, "add", f"https://example.com/new/{i}"))[0])
            anchor_add.append(timed(["sqlite3", adb, f"INSERT INTO links (code, url) VALUES ('zz{i}', 'https://example.com/new/{i}')"])[0])
        results.append(("add into %d links (ms)" % args.n, [x * 1000 for x in ours_add], [x * 1000 for x in anchor_add]))

        ours_rss, anchor_rss, ours_list, anchor_list = [], [], [], []
        for _ in range(args.runs):
            with open(os.devnull, "w") as null:
                wall, rss = timed(sl(db, "list", "--format", "csv"), stdout=null)
                ours_list.append(wall)
                ours_rss.append(rss / 1024)
                wall, rss = timed(["sqlite3", "-csv", adb, "SELECT code, url FROM links ORDER BY code"],
                                  stdout=null)
                anchor_list.append(wall)
                anchor_rss.append(rss / 1024)
        results.append(("list --format csv peak RSS (MiB)", ours_rss, anchor_rss))
        results.append(("list --format csv wall (s)", ours_list, anchor_list))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'figure':36} {'ours':>10} {'anchor':>10} {'ratio':>7}  spread ours / anchor")
    rows = []
    for name, ours, anchor in results:
        o, a = summary(ours), summary(anchor)
        ratio = o[0] / a[0] if a[0] else float("nan")
        print(f"{name:36} {o[0]:10.2f} {a[0]:10.2f} {ratio:7.2f}  {o[1]:.2f}-{o[2]:.2f} / {a[1]:.2f}-{a[2]:.2f}")
        rows.append({"figure": name, "ours": o[0], "anchor": a[0], "ratio": ratio, "ours_spread": [o[1], o[2]],
                     "anchor_spread": [a[1], a[2]], "runs": len(ours)})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "n": args.n, "results": rows}, f,
                      indent=2)


if __name__ == "__main__":
    main()
