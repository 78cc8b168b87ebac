#!/usr/bin/env python3
"""Compile benchmark (BENCH.md): `shortlink compile` of 1M and 10M links from SQLite.

For each N: imports bench/data/N/links.csv (made by bench/gen_links.py) into a cached database
bench/data/N/compile.db once, then runs `shortlink compile` --runs times (at least 3) and
reports wall time and peak RSS (median with min..max), and the snapshot size against the
budget of key + destination + 24 bytes per link. Figures are ratios against the BENCH.md
targets (3 s / 30 s, 2 GB, the size budget): below 1.0 meets the target.

Usage: bench/compile/run.py --bin build/cli/shortlink [--sizes 1000000,10000000] [--runs 3]
                            [--json FILE]
"""
import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
TARGET_SECONDS = {1000000: 3.0, 10000000: 30.0}
TARGET_RSS_KB = 2 * 1024 * 1024


def ensure_db(binary, n):
    d = os.path.join(DATA, str(n))
    csv_path = os.path.join(d, "links.csv")
    if not os.path.exists(csv_path):
        subprocess.run([sys.executable, os.path.join(HERE, "..", "gen_links.py"), str(n), d],
                       check=True)
    db = os.path.join(d, "compile.db")
    if not os.path.exists(db):
        print(f"importing {n} links into {db} (once)...", file=sys.stderr)
        tmp = db + ".tmp"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(tmp + suffix):
                os.remove(tmp + suffix)
        subprocess.run([binary, "--db", tmp, "init"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([binary, "--db", tmp, "import", csv_path], check=True,
                       stdout=subprocess.DEVNULL)
        os.rename(tmp, db)
    payload = 0
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            payload += len(row["code"].encode()) + len(row["url"].encode())
    return db, payload


def measure(binary, n, runs, keydir):
    db, payload = ensure_db(binary, n)
    times, rss, sizes = [], [], []
    for r in range(runs):
        out = tempfile.mkdtemp(prefix="slcompile-")
        cmd = ["/usr/bin/time", "-f", "%M", binary, "--db", db, "compile", "--key",
               os.path.join(keydir, "bench.key"), "--out", out, "--json"]
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - start
        if proc.returncode != 0:
            sys.exit(f"compile failed: {proc.stderr}")
        result = json.loads(proc.stdout)
        times.append(seconds)
        rss.append(int(proc.stderr.strip().splitlines()[-1]))
        sizes.append(result["bytes"])
        links = result["link_count"]
        shutil.rmtree(out)
        print(f"  run {r + 1}: {seconds:.2f} s, {rss[-1] / 1024:.0f} MiB", file=sys.stderr)
    budget = payload + 24 * links
    return {
        "links": links,
        "seconds": statistics.median(times), "seconds_min": min(times), "seconds_max": max(times),
        "rss_mib": statistics.median(rss) / 1024, "rss_min_mib": min(rss) / 1024,
        "rss_max_mib": max(rss) / 1024,
        "bytes": sizes[0], "budget_bytes": budget,
        "target_seconds": TARGET_SECONDS.get(n, 3.0 * n / 1e6),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/cli/shortlink")
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    runs = max(3, args.runs)
    keydir = tempfile.mkdtemp(prefix="slkeys-")
    subprocess.run([args.bin, "keygen", "--out", keydir, "--name", "bench"], check=True,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    results = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        print(f"compile {n} links, {runs} runs", file=sys.stderr)
        results[n] = measure(args.bin, n, runs, keydir)
    shutil.rmtree(keydir)
    print(f"{'figure':34} {'ours':>22} {'target':>10} {'ratio':>7}")
    for n, r in results.items():
        print(f"{'compile ' + str(n) + ' links, s':34} "
              f"{r['seconds']:8.2f} [{r['seconds_min']:.2f}..{r['seconds_max']:.2f}] "
              f"{r['target_seconds']:10.1f} {r['seconds'] / r['target_seconds']:7.2f}")
        print(f"{'  peak RSS, MiB':34} {r['rss_mib']:8.0f} [{r['rss_min_mib']:.0f}..{r['rss_max_mib']:.0f}] "
              f"{TARGET_RSS_KB / 1024:10.0f} {r['rss_mib'] * 1024 / TARGET_RSS_KB:7.2f}")
        print(f"{'  snapshot bytes vs key+dest+24/link':34} {r['bytes']:22d} "
              f"{r['budget_bytes']:10d} {r['bytes'] / r['budget_bytes']:7.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
