#!/usr/bin/env python3
"""Rules benchmark: what a link's redirect rules cost a request (BENCH.md targets).

  bench/rules/run.py --quick                               # short rounds: about a minute
  bench/rules/run.py --baseline-bin OLD/cli/shortlink      # both figures, 10 rounds each

Figures:
 1. Server CPU per request (utime+stime / requests) for links with 5 rules, the last one
    matching, against plain links, on one server and one snapshot: wrk asks for the ruled codes
    and for plain codes in alternating runs, with the same browser headers (a desktop Chrome
    User-Agent and a German Accept-Language) on every request, so both pay the same parsing.
    Both sets hold RULED_LINKS codes, so they touch as much of the mapping.
    Target: at most 1.15x.
 2. Plain links served by this build against the build before rules (--baseline-bin): two
    servers, each on the snapshot its own binary compiled from the same links, alternating wrk
    runs. Target: at most 1.02x. Skipped without --baseline-bin.

Each figure is the median of the per-round ratios, with their spread. The server runs with one
worker thread; wrk uses one thread and 32 keep-alive connections. Servers run in the foreground
on free 127.0.0.1 ports, stopped by PID; the temp dir under bench/data/ is removed at the end.
"""
import argparse
import datetime
import http.client
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(HERE)
REPO_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(BENCH_DIR, "serve"))

from servers import OursServer, wait_for_redirect  # noqa: E402
from wrk import MAX_DURATION_S, WrkRun  # noqa: E402
from ours import prepare_ours  # noqa: E402

RULED_LINKS = 1000
CPU_TARGET_RULES = 1.15
CPU_TARGET_BASELINE = 1.02
HEADERS = [
    "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Accept-Language: de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
]
# Four rules that do not hold for the request above, then one that does: every condition kind
# that reads the request (device, language, query) is evaluated on the way.
RULES = [
    {"if": ["device=ios"], "to": "https://apps.example.com/ios"},
    {"if": ["device=android"], "to": "https://apps.example.com/android"},
    {"if": ["lang=ja,ko,zh"], "to": "https://www.example.com/asia"},
    {"if": ["query=utm_campaign=spring"], "to": "https://www.example.com/spring"},
    {"if": ["device=desktop", "lang=de"], "to": "https://www.example.com/de/desktop"},
]
MATCHED_URL = RULES[-1]["to"]


def log(message):
    print("[rules-bench %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr,
          flush=True)


def run_cli(binary, args, db):
    proc = subprocess.run([binary, "--db", db] + args, capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError("`shortlink %s` failed (%d): %s" % (" ".join(args), proc.returncode,
                                                               proc.stderr[-1000:]))
    return proc.stdout


def ensure_links(count, data_dir, seed):
    """bench/data/<count>/ from gen_links.py (bench/serve/run.py's data, shared)."""
    out_dir = os.path.join(data_dir, str(count))
    meta = os.path.join(out_dir, "meta.json")
    if not os.path.exists(meta) or json.load(open(meta)).get("seed") != seed:
        log("generating %d links into %s" % (count, out_dir))
        subprocess.run([sys.executable, os.path.join(BENCH_DIR, "gen_links.py"), str(count),
                        out_dir, "--seed", str(seed)], check=True)
    return out_dir


def read_codes(path, limit):
    with open(path) as codes:
        return [line.strip() for line in codes if line.strip()][:limit]


def first_url(data_dir, code):
    """The destination of one code, from haproxy.map (it holds every link)."""
    with open(os.path.join(data_dir, "haproxy.map")) as links:
        for line in links:
            path, url = line.rstrip("\n").split(" ", 1)
            if path == "/" + code:
                return url
    raise RuntimeError("%s is not in %s/haproxy.map" % (code, data_dir))


def write_lines(path, lines):
    with open(path, "w") as out:
        out.write("".join(line + "\n" for line in lines))
    return path


def ruled_snapshot(binary, ours, work_dir):
    """A copy of ours' database plus RULED_LINKS links with RULES, compiled; the snapshot dir."""
    db = os.path.join(work_dir, "ruled.db")
    with sqlite3.connect(ours["db"]) as source, sqlite3.connect(db) as copy:
        source.backup(copy)
    rows = [{"code": "ruled%04d" % i, "url": "https://www.example.com/plain/%d" % i,
             "type": 302, "rules": RULES} for i in range(RULED_LINKS)]
    jsonl = write_lines(os.path.join(work_dir, "ruled.jsonl"), [json.dumps(r) for r in rows])
    run_cli(binary, ["import", jsonl, "--format", "json"], db)
    snap_dir = os.path.join(work_dir, "ruled-snapshots")
    run_cli(binary, ["compile", "--key", ours["secret_key"], "--out", snap_dir], db)
    return snap_dir, [r["code"] for r in rows]


def measured_run(server, codes_file, args):
    run = WrkRun(server, codes_file, args.duration, 1, args.connections)
    run.cmd += HEADERS
    figures = run.start().wait()
    if not server.alive():
        raise RuntimeError("%s died:\n%s" % (server.name, server.log_tail()))
    if figures["errors"]:
        raise RuntimeError("%s: %d wrk errors" % (server.name, figures["errors"]))
    return figures


def alternate(pairs, args, label):
    """pairs: [(name, server, codes_file)] x2. Rounds of one run each, order alternating; the
    per-round CPU-per-request ratio second/first."""
    runs = {name: [] for name, _, _ in pairs}
    ratios = []
    for index in range(args.rounds):
        order = pairs if index % 2 == 0 else list(reversed(pairs))
        got = {}
        for name, server, codes_file in order:
            got[name] = measured_run(server, codes_file, args)
            runs[name].append(got[name])
            log("%s round %d %-10s %8.0f req/s  %.3f us CPU/req  p99 %.0f us  steal %.1f%%"
                % (label, index + 1, name, got[name]["rps"], got[name]["cpu_us_per_req"],
                   got[name]["p99_us"] or 0, got[name]["steal_pct"]))
        first, second = pairs[0][0], pairs[1][0]
        ratios.append(got[second]["cpu_us_per_req"] / got[first]["cpu_us_per_req"])
    return {"runs": runs, "cpu_ratios": ratios, "median": statistics.median(ratios),
            "min": min(ratios), "max": max(ratios)}


def started(server, code, url):
    """Starts the server and waits for its first correct redirect of a plain link."""
    server.start()
    if wait_for_redirect(server.port, code, url, 120.0) is None:
        raise RuntimeError("%s gave no redirect:\n%s" % (server.name, server.log_tail()))
    return server


def figure_rules(args, work_dir, data_dir, ours, result):
    snap_dir, ruled = ruled_snapshot(args.bin, ours, work_dir)
    # As many plain codes as ruled ones, so both sets touch as much of the mapping.
    plain = read_codes(os.path.join(data_dir, "codes.txt"), RULED_LINKS)
    plain_file = write_lines(os.path.join(work_dir, "plain-codes.txt"), plain)
    ruled_file = write_lines(os.path.join(work_dir, "ruled-codes.txt"), ruled)
    plain_url = first_url(data_dir, plain[0])
    server = OursServer("ruled", work_dir, 1, args.bin, snap_dir, ours["public_key"])
    try:
        started(server, plain[0], plain_url)
        # The ruled links must answer from their fifth rule, with these headers.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/" + ruled[0], headers=dict(h.split(": ", 1) for h in HEADERS))
        reply = conn.getresponse()
        reply.read()
        if reply.getheader("Location") != MATCHED_URL:
            raise RuntimeError("a ruled link answered %d %s, not the fifth rule's %s"
                               % (reply.status, reply.getheader("Location"), MATCHED_URL))
        conn.close()
        result["rules"] = alternate([("plain", server, plain_file), ("5-rules", server,
                                                                      ruled_file)], args, "rules")
    finally:
        server.stop()


def figure_baseline(args, work_dir, data_dir, ours, result):
    base = prepare_baseline(args, work_dir, data_dir)
    plain = read_codes(os.path.join(data_dir, "codes.txt"), 100_000)
    plain_file = write_lines(os.path.join(work_dir, "plain-codes.txt"), plain)
    plain_url = first_url(data_dir, plain[0])
    servers = [OursServer("before", work_dir, 1, args.baseline_bin, base["snap_dir"],
                          base["public_key"]),
               OursServer("this", work_dir, 1, args.bin, ours["snap_dir"], ours["public_key"])]
    try:
        for server in servers:
            started(server, plain[0], plain_url)
        result["baseline"] = alternate([("before", servers[0], plain_file),
                                        ("this", servers[1], plain_file)], args, "baseline")
    finally:
        for server in servers:
            server.stop()


def prepare_baseline(args, work_dir, data_dir):
    """The older binary's own database and snapshot of the same links (it may not read a
    database or a snapshot this build writes)."""
    db = os.path.join(work_dir, "baseline.db")
    run_cli(args.baseline_bin, ["init"], db)
    run_cli(args.baseline_bin, ["import", os.path.join(data_dir, "links.csv")], db)
    key_dir = os.path.join(work_dir, "baseline-keys")
    subprocess.run([args.baseline_bin, "keygen", "--out", key_dir, "--name", "base"], check=True,
                   capture_output=True)
    snap_dir = os.path.join(work_dir, "baseline-snapshots")
    run_cli(args.baseline_bin, ["compile", "--key", os.path.join(key_dir, "base.key"), "--out",
                                snap_dir], db)
    return {"snap_dir": snap_dir, "public_key": os.path.join(key_dir, "base.pub")}


def verdict(figure, target):
    return "%.3fx (rounds %.3f-%.3f, target <= %.2fx): %s" % (
        figure["median"], figure["min"], figure["max"], target,
        "met" if figure["median"] <= target else "MISSED")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 s")
    parser.add_argument("--links", type=int, default=100_000, help="plain links (default 100k)")
    parser.add_argument("--rounds", type=int, help="rounds per figure (default 10, quick 3)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 8, quick 3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--bin", default=os.path.join(REPO_DIR, "build-bench", "cli", "shortlink"))
    parser.add_argument("--baseline-bin", help="the build before rules, for figure 2")
    parser.add_argument("--data-dir", default=os.path.join(BENCH_DIR, "data"))
    parser.add_argument("--json", help="write the results as JSON to this file")
    args = parser.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 10)
    args.duration = args.duration or (3 if args.quick else 8)
    if args.duration > MAX_DURATION_S:
        parser.error("wrk runs are bounded to %d s (BENCH.md)" % MAX_DURATION_S)
    return args


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    for binary in [args.bin] + ([args.baseline_bin] if args.baseline_bin else []):
        if not os.access(binary, os.X_OK):
            sys.exit("no shortlink binary at %s (see bench/README.md)" % binary)
    os.makedirs(args.data_dir, exist_ok=True)
    data_dir = ensure_links(args.links, args.data_dir, args.seed)
    ours = prepare_ours(args.bin, data_dir, False, log)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "binary": os.path.abspath(args.bin), "baseline": None, "links": args.links,
              "ruled_links": RULED_LINKS, "rounds": args.rounds, "duration_s": args.duration}
    work_dir = tempfile.mkdtemp(prefix="rules-bench-", dir=args.data_dir)
    try:
        figure_rules(args, work_dir, data_dir, ours, result)
        if args.baseline_bin:
            result["baseline_bin"] = os.path.abspath(args.baseline_bin)
            figure_baseline(args, work_dir, data_dir, ours, result)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    print("CPU per request, 5 rules (last matching) / plain link: "
          + verdict(result["rules"], CPU_TARGET_RULES))
    if result.get("baseline"):
        print("CPU per request, plain link, this build / build before rules: "
              + verdict(result["baseline"], CPU_TARGET_BASELINE))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
