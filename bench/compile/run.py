#!/usr/bin/env python3
"""Compile benchmark (BENCH.md): `shortlink compile` of 1M and 10M links from SQLite.

For each N: imports bench/data/N/links.csv (made by bench/gen_links.py) into a cached database
bench/data/N/compile.db once, then runs `shortlink compile` --runs times (at least 3) and
reports wall time and peak RSS (median with min..max), and the snapshot size against the
budget of key + destination + 24 bytes per link. Figures are ratios against the BENCH.md
targets (3 s / 30 s, 2 GB, the size budget): below 1.0 meets the target.

CPU time (user + sys from /usr/bin/time) is reported beside wall time: on the shared 2-core
machine wall time also counts the time other jobs held the cores. With --baseline BIN, an
earlier build is timed on the same database, alternating run by run with --bin, and the table
gives ours/baseline ratios from the same run.

Usage: bench/compile/run.py --bin build/cli/shortlink [--sizes 1000000,10000000] [--runs 3]
                            [--baseline OTHER/cli/shortlink] [--json FILE]
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


def compile_once(binary, db, keydir):
    out = tempfile.mkdtemp(prefix="slcompile-")
    try:
        cmd = ["/usr/bin/time", "-f", "%e %U %S %M", binary, "--db", db, "compile", "--key",
               os.path.join(keydir, "bench.key"), "--out", out, "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            sys.exit(f"compile failed: {proc.stderr}")
        wall, user, system, rss_kb = proc.stderr.strip().splitlines()[-1].split()
        result = json.loads(proc.stdout)
        return {"seconds": float(wall), "cpu": float(user) + float(system),
                "rss_kb": int(rss_kb), "bytes": result["bytes"], "links": result["link_count"]}
    finally:
        shutil.rmtree(out)


def summary(samples, payload):
    def med(key):
        values = [s[key] for s in samples]
        return statistics.median(values), min(values), max(values)
    links = samples[0]["links"]
    out = {"links": links, "bytes": samples[0]["bytes"], "budget_bytes": payload + 24 * links}
    for key in ("seconds", "cpu", "rss_kb"):
        out[key], out[key + "_min"], out[key + "_max"] = med(key)
    return out


def measure(binaries, n, runs, keydir):
    """Runs each binary `runs` times on the same database, alternating; returns one summary
    per binary."""
    db, payload = ensure_db(binaries[0], n)
    samples = [[] for _ in binaries]
    for r in range(runs):
        for i, binary in enumerate(binaries):
            s = compile_once(binary, db, keydir)
            samples[i].append(s)
            print(f"  run {r + 1} {binary}: {s['seconds']:.2f} s wall, {s['cpu']:.2f} s CPU, "
                  f"{s['rss_kb'] / 1024:.0f} MiB", file=sys.stderr)
    results = [summary(x, payload) for x in samples]
    for r in results:
        r["target_seconds"] = TARGET_SECONDS.get(n, 3.0 * n / 1e6)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/cli/shortlink")
    ap.add_argument("--baseline", help="an earlier build to time alternately on the same data")
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    runs = max(3, args.runs)
    binaries = [args.bin] + ([args.baseline] if args.baseline else [])
    keydir = tempfile.mkdtemp(prefix="slkeys-")
    subprocess.run([args.bin, "keygen", "--out", keydir, "--name", "bench"], check=True,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    results = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        print(f"compile {n} links, {runs} runs", file=sys.stderr)
        results[n] = measure(binaries, n, runs, keydir)
    shutil.rmtree(keydir)
    print(f"{'figure':34} {'ours, median [min..max]':>24} {'target':>8} {'ratio':>6}"
          + (f" {'baseline':>24} {'ours/base':>9}" if args.baseline else ""))
    for n, rs in results.items():
        r = rs[0]
        b = rs[1] if len(rs) > 1 else None

        def row(label, key, scale, fmt, target):
            line = (f"{label:34} {format(r[key] * scale, fmt):>8} "
                    f"[{format(r[key + '_min'] * scale, fmt)}..{format(r[key + '_max'] * scale, fmt)}]")
            line += f" {target:8.1f} {r[key] * scale / target:6.2f}" if target else f" {'':8} {'':6}"
            if b:
                line += (f" {format(b[key] * scale, fmt):>8} "
                         f"[{format(b[key + '_min'] * scale, fmt)}..{format(b[key + '_max'] * scale, fmt)}]"
                         f" {r[key] / b[key]:9.2f}")
            print(line)
        row(f"compile {n} links, wall s", "seconds", 1, ".2f", r["target_seconds"])
        row("  CPU s (user+sys)", "cpu", 1, ".2f", None)
        row("  peak RSS, MiB", "rss_kb", 1 / 1024, ".0f", TARGET_RSS_KB / 1024)
        print(f"{'  snapshot bytes vs key+dest+24/link':34} {r['bytes']:24d} "
              f"{r['budget_bytes']:10d} {r['bytes'] / r['budget_bytes']:6.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({str(n): rs for n, rs in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
