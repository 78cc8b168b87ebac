#!/usr/bin/env python3
"""Serving benchmark: shortlink serve against nginx (map), HAProxy (map file) and the nginx
constant-301 ceiling, on the same links, driven by the same wrk script (BENCH.md).

  bench/serve/run.py --quick                 # 100k links, 1 run of 3 s each, under 2 minutes
  bench/serve/run.py --json out.json         # full: 1M links, 3 runs of 10 s, 10M for ours

Measures per server: req/s, p50/p99 latency, server CPU time per request (utime+stime of every
server process), PSS of every server process (and RSS beyond the mapped snapshot for ours),
start-to-first-correct-redirect time, and a reload under load (time until a changed link is
served, failed requests, p99 during the swap against steady p99, peak PSS). Servers run in the
foreground on high 127.0.0.1 ports with configs in a temp dir and are stopped by PID; nothing is
left running. Prints a table (figure, ours, anchor, ratio, spread) and writes JSON with --json.
"""
import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import servers as servers_module
import wrk as wrk_module
from servers import (HaproxyServer, NginxServer, OursServer, RedirectWatch, get_once, pss_kib,
                     rss_split_kib, wait_for_redirect)
from wrk import WrkRun, run_wrk, wait_until
from ours import prepare_ours, stage_changed_snapshot

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(BENCH_DIR)
CONST_URL = "https://www.example.com/products/category/item-123456/summer-sale-collection"


def log(message):
    print("[serve-bench %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr,
          flush=True)


def ensure_data(count, data_root, seed, keys="random"):
    """bench/data/<count>/ (random codes) or bench/data/package-<count>/ (package-style names)
    from gen_links.py, generated once and reused."""
    out_dir = os.path.join(data_root, str(count) if keys == "random" else "%s-%d" % (keys, count))
    meta_path = os.path.join(out_dir, "meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as meta_file:
            meta = json.load(meta_file)
        if meta.get("count") == count and meta.get("seed") == seed:
            return out_dir, meta
    log("generating %d links (%s keys) into %s" % (count, keys, out_dir))
    subprocess.run([sys.executable, os.path.join(BENCH_DIR, "gen_links.py"), str(count), out_dir,
                    "--seed", str(seed), "--keys", keys], check=True)
    with open(meta_path) as meta_file:
        return out_dir, json.load(meta_file)


def load_codes(data_dir):
    with open(os.path.join(data_dir, "codes.txt")) as codes_file:
        return [line.strip() for line in codes_file if line.strip()]


def expected_urls(data_dir, wanted):
    """code -> URL for the wanted codes, read from haproxy.map (holds every link)."""
    wanted = set(wanted)
    found = {}
    with open(os.path.join(data_dir, "haproxy.map")) as map_file:
        for line in map_file:
            path, url = line.rstrip("\n").split(" ", 1)
            if path[1:] in wanted:
                found[path[1:]] = url
    return found


def start_measured(server, probe_code, probe_url, timeout_s):
    """Starts the server; returns milliseconds from the exec to its first correct redirect."""
    started = server.start()
    served = wait_for_redirect(server.port, probe_code, probe_url, timeout_s, poll_s=0.001)
    if served is None:
        raise RuntimeError("%s gave no correct redirect within %.0f s:\n%s"
                           % (server.name, timeout_s, server.log_tail()))
    return (served - started) * 1000.0


def wait_verified(server, timeout_s):
    """Polls ours' /readyz until its snapshot is fully verified."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            url = "http://127.0.0.1:%d/readyz" % server.admin_port
            with urllib.request.urlopen(url, timeout=2) as reply:
                snapshot = json.loads(reply.read().decode()).get("snapshot") or {}
                if snapshot.get("verified"):
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError("%s did not finish verifying its snapshot in %.0f s" % (server.name, timeout_s))


def check_answers(server, sample):
    """Counts wrong answers over a sample of codes (status 301 and the exact Location)."""
    wrong = []
    for code, url in sample.items():
        status, location = get_once(server.port, "/" + code)
        expected_url = CONST_URL if server.kind == "nginx-const" else url
        if status != 301 or location != expected_url:
            wrong.append((code, status, location))
    return wrong


def spread_pct(values):
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return 0.0
    median = statistics.median(values)
    return (max(values) - min(values)) / median * 100.0 if median else 0.0


def summarize(runs):
    summary = {}
    for key in ("rps", "p50_us", "p99_us", "cpu_us_per_req", "errors"):
        values = [r[key] for r in runs if r.get(key) is not None]
        summary[key] = statistics.median(values) if values else None
        summary[key + "_spread_pct"] = spread_pct(values)
    return summary


def wrk_init_s(codes_file, wrk_threads):
    """Seconds wrk spends reading the codes in init() before its clock starts (about 2.5 s
    per million codes per thread)."""
    with open(codes_file, "rb") as codes:
        count = sum(1 for _ in codes)
    return 0.5 + 2.5 * count / 1_000_000 * wrk_threads


MAX_SWAP_RUNS = 5


def reload_run(server, codes_file, change_code, args, apply_change=None, sample_memory=False):
    """wrk runs with a keep-alive probe polling /change_code every 5 ms from one second into the
    load. Without apply_change: one run (steady). With it (returns the expected URL): the change
    is made when polling starts, and back-to-back runs follow (the next one's load starting
    0.1 s after the previous one's ends) until the probe has seen the change with 1.5 s of load
    after it, so the whole swap (on a saturated box a 10M one outlasts a 10 s run), publication
    and the release of the old snapshot included, happens under load. The figures are the worst
    run's p99 and the sums of requests and errors."""
    init = wrk_init_s(codes_file, args.wrk_threads)

    def start():
        run = WrkRun(server, codes_file, args.reload_duration, args.wrk_threads, args.connections,
                     sample_memory=sample_memory)
        run.start()
        return run, time.monotonic() + init

    run, load_starts = start()
    runs = [run]
    wait_until(load_starts + 1.0)
    changed_at = time.monotonic()
    url = apply_change() if apply_change else None
    watch = RedirectWatch(server.port, change_code, url)
    try:
        while True:
            run_ends = load_starts + args.reload_duration
            watch.poll_until(run_ends + 0.1 - init)
            covered = watch.first is not None and watch.first + 1.5 <= run_ends
            if url is None or covered or len(runs) == MAX_SWAP_RUNS:
                watch.poll_until(run_ends - 0.2)
                break
            run, load_starts = start()
            runs.append(run)
    finally:
        watch.close()
    results = [r.wait() for r in runs]
    figures = {
        "p99_us": max(r["p99_us"] for r in results),
        "p99s_us": [r["p99_us"] for r in results],
        "requests": sum(r["requests"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "steal_pct": max(r["steal_pct"] for r in results),
        "peak_pss_kib": max(r["peak_pss_kib"] or 0 for r in results) if sample_memory else None,
        "time_to_served_ms": (watch.first - changed_at) * 1000.0 if watch.first else None,
        "runs": len(runs),
    }
    if url is not None and watch.first is None:
        # Not done after MAX_SWAP_RUNS runs: let it finish before the next run, as it would
        # between two deploys, so that no steady run overlaps a swap.
        if wait_for_redirect(server.port, change_code, url, 120.0) is None:
            raise RuntimeError("%s never served the change:\n%s" % (server.name, server.log_tail()))
        time.sleep(1.0)
    return figures


def reload_test(server, codes_file, change_code, apply_change, args):
    """args.reload_rounds rounds of a steady run then the swap runs (reload_run: the change made
    one second into the load, runs back to back until the swap is over), then one more change
    with PSS sampled every 100 ms for the peak memory.

    Both runs of a round carry the same probe polling, so the p99 ratio holds the swap alone;
    the PSS sampler walks the server's page tables (two 1 GB mappings during a 10M swap) and ran
    only in the swap runs, which alone raised their p99 2.9x to 5.4x with no swap at all, so it
    has a run of its own. The ratio is the median of the per-round ratios (a round's two runs
    share the machine's load of that moment)."""
    rounds = []
    for index in range(args.reload_rounds):
        steady = reload_run(server, codes_file, change_code, args)
        swap = reload_run(server, codes_file, change_code, args, apply_change)
        rounds.append({"steady_p99_us": steady["p99_us"], "swap_p99_us": swap["p99_us"],
                       "p99_ratio": swap["p99_us"] / steady["p99_us"] if steady["p99_us"] else None,
                       "time_to_served_ms": swap["time_to_served_ms"],
                       "swap_runs": swap["runs"], "swap_p99s_us": swap["p99s_us"],
                       "failed_requests": steady["errors"] + swap["errors"],
                       "requests": steady["requests"] + swap["requests"],
                       "steal_pct": [round(steady["steal_pct"], 1), round(swap["steal_pct"], 1)]})
        log("%s reload round %d: %s" % (server.name, index + 1, rounds[-1]))
    memory = reload_run(server, codes_file, change_code, args, apply_change, sample_memory=True)

    def median(key):
        values = [r[key] for r in rounds if r[key] is not None]
        return statistics.median(values) if values else None

    served = [r["time_to_served_ms"] for r in rounds] + [memory["time_to_served_ms"]]
    return {
        "time_to_served_ms": median("time_to_served_ms"),
        "not_served": sum(1 for t in served if t is None),  # within MAX_SWAP_RUNS runs of load
        "failed_requests": sum(r["failed_requests"] for r in rounds) + memory["errors"],
        "requests": sum(r["requests"] for r in rounds) + memory["requests"],
        "steady_p99_us": median("steady_p99_us"),
        "swap_p99_us": median("swap_p99_us"),
        "p99_ratio": median("p99_ratio"),
        "rounds": rounds,
        "peak_pss_kib": memory["peak_pss_kib"],
        "after_swap_pss_kib": pss_kib(server.pids()),
    }


def anchor_reload(cls, name, work_dir, args, data_dir, map_name, line_for, codes_file,
                  change_code):
    """A fresh anchor on its own copy of the map file; each change rewrites the copy with a new
    URL for change_code and sends the anchor's reload signal (nginx SIGHUP, HAProxy SIGUSR2)."""
    map_copy = os.path.join(work_dir, name + "." + map_name)
    shutil.copyfile(os.path.join(data_dir, map_name), map_copy)
    server = cls(name, work_dir, args.threads, map_copy)
    changes = iter(range(1, 1000))
    try:
        probe_url = expected_urls(data_dir, [change_code])[change_code]
        start_measured(server, change_code, probe_url, 120.0)

        def apply_change():
            new_url = "https://reload.example.com/changed/%s/%d" % (change_code, next(changes))
            prefix = "/%s " % change_code
            staged = map_copy + ".new"
            with open(map_copy) as src, open(staged, "w") as dst:
                for line in src:
                    dst.write(line_for(change_code, new_url) if line.startswith(prefix) else line)
            os.replace(staged, map_copy)
            server.signal_reload()
            return new_url

        return reload_test(server, codes_file, change_code, apply_change, args)
    finally:
        server.stop()


def ours_reload(name, work_dir, args, ours, codes_file, change_code, old_url):
    """A fresh `shortlink serve` on a private copy of the snapshot directory; each change is a
    snapshot compiled beforehand with change_code edited (serials rising), renamed into the
    directory under load."""
    serve_dir = os.path.join(work_dir, name + "-snapshots")
    os.makedirs(serve_dir)
    for entry in os.listdir(ours["snap_dir"]):
        if entry.endswith(".slsnap"):
            os.link(os.path.join(ours["snap_dir"], entry), os.path.join(serve_dir, entry))
    staged = []
    for index in range(args.reload_rounds + 1):
        new_url = "https://reload.example.com/changed/%s/%d/%d" % (change_code, int(time.time()),
                                                                  index + 1)
        staged.append((stage_changed_snapshot(ours, os.path.join(work_dir, "%s-staging-%d"
                                                                 % (name, index)),
                                              change_code, new_url, old_url, log), new_url))
    pending = iter(staged)
    server = OursServer(name, work_dir, args.threads, args.bin, serve_dir, ours["public_key"])
    try:
        start_measured(server, change_code, old_url, 120.0)
        # Ours answers at once from a lazily verified snapshot and verifies the rest in the
        # background (seconds at 10M): the steady run must start after that, or its p99 holds
        # the cold start's block proofs and flatters the swap ratio.
        wait_verified(server, 120.0)

        def apply_change():
            path, new_url = next(pending)
            os.rename(path, os.path.join(serve_dir, os.path.basename(path)))
            return new_url

        return reload_test(server, codes_file, change_code, apply_change, args)
    finally:
        server.stop()


def profile_ours(server, codes_file, args):
    """One extra wrk run of ours under `perf record` (call graphs), not counted in the figures;
    writes the report to args.profile and returns its top lines."""
    data = args.profile + ".data"
    perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", data, "-p",
                             str(server.proc.pid), "--", "sleep",
                             str(int(wrk_init_s(codes_file, args.wrk_threads) + args.duration + 1))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        run_wrk(server, codes_file, args.duration, args.wrk_threads, args.connections)
        perf.wait(timeout=60)
    finally:
        if perf.poll() is None:
            perf.terminate()
            perf.wait(timeout=10)
    with open(args.profile, "w") as report:
        subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                        "--percent-limit", "0.5", "-g", "none", "--sort", "dso,symbol"],
                       stdout=report, stderr=subprocess.DEVNULL, timeout=300)
    with open(args.profile) as report:
        # "  5.05%  shortlink  [.] symbol   -   -": keep percent, object, kind and full symbol.
        top = [" ".join(line.split("   -")[0].split()) for line in report
               if line.strip() and not line.startswith("#")]
    kernel = sum(float(line.split()[0].rstrip("%")) for line in top
                 if line.endswith("]") is False and "[k]" in line)
    top.insert(0, "kernel symbols >= 0.5%%: %.0f%% of samples" % kernel)
    log("perf profile of ours in %s; top:\n%s" % (args.profile, "\n".join(top[:16])))
    return top[:40]


def count_syscalls(server, codes_file, args):
    """One extra wrk run with `perf stat` counting the server's system calls and context
    switches (tracepoint counters, all processes of the tree); per request."""
    events = "raw_syscalls:sys_enter,context-switches"
    out_path = os.path.join(server.dir, "perf-stat.txt")
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", events, "-o", out_path, "-p",
                             ",".join(str(pid) for pid in server.pids()), "--", "sleep",
                             str(int(wrk_init_s(codes_file, args.wrk_threads) + args.duration + 1))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        figures = run_wrk(server, codes_file, args.duration, args.wrk_threads, args.connections)
        perf.wait(timeout=60)
    finally:
        if perf.poll() is None:
            perf.terminate()
            perf.wait(timeout=10)
    counts = {}
    with open(out_path) as stat:
        for line in stat:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[0].replace(".", "").isdigit():
                counts[fields[2]] = float(fields[0]) / figures["requests"]
    return {"syscalls_per_req": counts.get("raw_syscalls:sys_enter"),
            "context_switches_per_req": counts.get("context-switches")}


def fmt(value, unit=""):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = "%.3g" % value if abs(value) < 100 else "%.0f" % value
    else:
        text = str(value)
    return text + unit


def build_figures(result):
    """Rows of (figure, ours, anchor name, anchor, ratio ours/anchor, spread, target)."""
    steady = result["steady"]
    rows = []

    def row(figure, ours_value, anchor_name, anchor_value, spread="", target="", unit="",
            key=None):
        ratio = None
        if isinstance(ours_value, (int, float)) and isinstance(anchor_value, (int, float)) \
                and anchor_value:
            ratio = ours_value / anchor_value
        if key is not None:
            pair_ratio, pair_text = paired(key, anchor_name)
            if pair_ratio is not None:
                ratio = pair_ratio
                spread = (spread + "; " if spread else "") + pair_text
        rows.append({"figure": figure, "ours": ours_value, "anchor": anchor_name,
                     "anchor_value": anchor_value, "ratio": ratio, "spread": spread,
                     "target": target, "unit": unit})

    def get(server, key):
        return steady.get(server, {}).get(key)

    def paired(key, anchor):
        """Median and spread of ours/anchor computed round by round: each round runs both back
        to back, so the pair shares the box's load at that moment (the load of this shared box
        drifts far more between rounds than within one)."""
        ours_runs = result["runs_raw"].get("ours", [])
        anchor_runs = result["runs_raw"].get(anchor, [])
        ratios = [o[key] / a[key] for o, a in zip(ours_runs, anchor_runs)
                  if o.get(key) is not None and a.get(key)]
        if not ratios:
            return None, ""
        return statistics.median(ratios), "per-round ratios %s" % " ".join(
            "%.2f" % r for r in ratios)

    def spread(key, *servers):
        return " / ".join("%s ±%.0f%%" % (s, get(s, key + "_spread_pct") or 0)
                          for s in servers if s in steady)

    for anchor, target in (("nginx-map", ">= 1.0x"), ("haproxy", ""),
                           ("nginx-const", ">= 0.95x")):
        row("req/s", get("ours", "rps"), anchor, get(anchor, "rps"),
            spread("rps", "ours", anchor), target, key="rps")
    row("server CPU per request", get("ours", "cpu_us_per_req"), "nginx-map",
        get("nginx-map", "cpu_us_per_req"), spread("cpu_us_per_req", "ours", "nginx-map"),
        "<= 0.9x", " us", key="cpu_us_per_req")
    row("server CPU per request", get("ours", "cpu_us_per_req"), "haproxy",
        get("haproxy", "cpu_us_per_req"), spread("cpu_us_per_req", "ours", "haproxy"),
        "", " us", key="cpu_us_per_req")
    row("p50 latency", get("ours", "p50_us"), "nginx-map", get("nginx-map", "p50_us"),
        spread("p50_us", "ours", "nginx-map"), "", " us", key="p50_us")
    row("p99 latency", get("ours", "p99_us"), "nginx-map", get("nginx-map", "p99_us"),
        spread("p99_us", "ours", "nginx-map"), "<= 1.0x", " us", key="p99_us")
    memory = result["memory"]
    to_mb = lambda kib: kib / 1024.0 if kib is not None else None  # noqa: E731
    for anchor in ("nginx-map", "haproxy"):
        row("PSS, %d links" % result["links"], to_mb(memory.get("ours", {}).get("pss_kib")),
            anchor, to_mb(memory.get(anchor, {}).get("pss_kib")), "",
            "<= 0.35x" if anchor == "nginx-map" else "", " MB")
    row("ours RSS beyond the mapped snapshot",
        to_mb(memory.get("ours", {}).get("rss_beyond_snapshot_kib")), "", None, "", "", " MB")
    start = result["start_ms"]
    for anchor in ("nginx-map", "haproxy"):
        row("start to first redirect, %d links" % result["links"], start.get("ours"), anchor,
            start.get(anchor), "", "", " ms")
    if "ours-large" in start:
        row("start to first redirect, %d links" % result["large_links"], start["ours-large"],
            "nginx-map (%d links)" % result["links"], start.get("nginx-map"), "", "< 100 ms",
            " ms")
    reload = result["reload"]

    def per_round(figures):
        rounds = figures.get("rounds") or []
        return "per-round %s; steal %% %s" % (
            " ".join("%.2f%s" % (r["p99_ratio"], "" if r["swap_runs"] == 1 else
                                 " (%d runs)" % r["swap_runs"])
                     for r in rounds if r["p99_ratio"] is not None),
            " ".join("%s/%s" % tuple(r["steal_pct"]) for r in rounds))

    for anchor in ("nginx-map", "haproxy"):
        ours_r, anchor_r = reload.get("ours", {}), reload.get(anchor, {})
        row("reload: change served after", ours_r.get("time_to_served_ms"), anchor,
            anchor_r.get("time_to_served_ms"), "", "", " ms")
        row("reload: failed requests", ours_r.get("failed_requests"), anchor,
            anchor_r.get("failed_requests"), "", "0")
        row("reload: p99 swap / steady", ours_r.get("p99_ratio"), anchor,
            anchor_r.get("p99_ratio"), per_round(ours_r), "<= 2x")
        row("reload: peak PSS", to_mb(ours_r.get("peak_pss_kib")), anchor,
            to_mb(anchor_r.get("peak_pss_kib")), "", "", " MB")
    if "ours-large" in reload:
        large = reload["ours-large"]
        label = "reload %d links" % result["large_links"]
        row(label + ": change served after", large.get("time_to_served_ms"), "", None, "", "",
            " ms")
        row(label + ": failed requests", large.get("failed_requests"), "", None, "", "0")
        row(label + ": p99 swap / steady", large.get("p99_ratio"), "", None, per_round(large),
            "<= 2x")
        row(label + ": peak PSS", to_mb(large.get("peak_pss_kib")), "", None, "", "", " MB")
    return rows


def print_tables(result, out=sys.stdout):
    print("\nServing benchmark %s: %d links, %d server thread(s)/worker(s), wrk -t%d -c%d, "
          "%d run(s) of %d s, medians" % (result["date"], result["links"], result["threads"],
                                          result["wrk_threads"], result["connections"],
                                          result["runs"], result["duration_s"]), file=out)
    print("\n%-12s %10s %9s %9s %11s %9s %10s" % ("server", "req/s", "p50 us", "p99 us",
                                               "CPU us/req", "PSS MB", "start ms"), file=out)
    for name, figures in result["steady"].items():
        memory = result["memory"].get(name, {})
        print("%-12s %10s %9s %9s %11s %9s %10s" % (
            name, fmt(figures["rps"]), fmt(figures["p50_us"]), fmt(figures["p99_us"]),
            fmt(figures["cpu_us_per_req"]),
            fmt(memory["pss_kib"] / 1024.0) if memory.get("pss_kib") is not None else "n/a",
            fmt(result["start_ms"].get(name))), file=out)
    print("\nratio: ours/anchor; for req/s, CPU and latency the median of per-round ratios",
          file=out)
    print("%-42s %12s %-22s %12s %7s %-7s %s" % ("figure", "ours", "anchor", "anchor value",
                                                 "ratio", "target", "spread"), file=out)
    for r in result["figures"]:
        print("%-42s %12s %-22s %12s %7s %-7s %s" % (
            r["figure"], fmt(r["ours"], r["unit"]), r["anchor"],
            fmt(r["anchor_value"], r["unit"]) if r["anchor"] else "",
            ("%.2fx" % r["ratio"]) if r["ratio"] is not None else "", r["target"], r["spread"]),
            file=out)
    if result.get("wrong_answers"):
        print("\nWRONG ANSWERS: %s" % json.dumps(result["wrong_answers"]), file=out)
    for note in result["notes"]:
        print("note: " + note, file=out)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="100k links, 1 run of 3 s, no 10M set (about 1-2 minutes)")
    parser.add_argument("--links", type=int, help="links in the comparison set (default 1M)")
    parser.add_argument("--large-links", type=int,
                        help="links for ours' start and reload figures (default 10M; 0: skip)")
    parser.add_argument("--runs", type=int, help="wrk runs per server (default 3)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run, at most 10")
    parser.add_argument("--reload-duration", type=int, help="seconds per reload wrk run")
    parser.add_argument("--reload-rounds", type=int,
                        help="steady + swap pairs per reload test (default 3, quick 1)")
    parser.add_argument("--threads", type=int, default=1,
                        help="nginx worker_processes = HAProxy nbthread = serve --threads")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--keys", choices=("random", "package"), default="random",
                        help="random base62 codes of 7 characters (default), or package-style "
                             "names of varied length (gen_links.py --keys package)")
    parser.add_argument("--pin", metavar="SERVER_CPUS:WRK_CPUS",
                        help="pin every server process and wrk to these CPU lists (taskset), "
                             "e.g. 1:0")
    parser.add_argument("--bin", default=os.path.join(REPO_DIR, "build-rel", "cli", "shortlink"),
                        help="the shortlink binary (default build-rel/cli/shortlink)")
    parser.add_argument("--skip-ours", action="store_true", help="anchors only")
    parser.add_argument("--skip-reload", action="store_true")
    parser.add_argument("--rebuild-ours", action="store_true",
                        help="re-import and re-compile ours' database and snapshot")
    parser.add_argument("--data-dir", default=os.path.join(BENCH_DIR, "data"))
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--profile", metavar="FILE",
                        help="also run ours once under `perf record` and write the report here, "
                             "and count system calls per request of ours, nginx and HAProxy")
    args = parser.parse_args()
    quick = args.quick
    args.links = args.links or (100_000 if quick else 1_000_000)
    if args.large_links is None:
        args.large_links = 0 if quick else 10_000_000
    args.runs = args.runs or (1 if quick else 3)
    args.duration = args.duration or (3 if quick else 10)
    args.reload_duration = args.reload_duration or (4 if quick else 10)
    args.reload_rounds = args.reload_rounds or (1 if quick else 3)
    if args.duration > 10 or args.reload_duration > 10:
        parser.error("wrk runs are bounded to 10 s (BENCH.md)")
    return args


def main():
    args = parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    if args.pin:
        # One core for the servers (each with its one worker), the other for wrk.
        servers_module.PIN_CPUS, wrk_module.PIN_CPUS = args.pin.split(":")
    data_dir, meta = ensure_data(args.links, args.data_dir, args.seed, args.keys)
    codes_file = os.path.join(data_dir, "codes.txt")
    codes = load_codes(data_dir)
    rng = random.Random(args.seed)
    change_code = codes[0]
    sample = expected_urls(data_dir, rng.sample(codes[1:], min(200, len(codes) - 1)))
    probe_code = codes[1]
    probe_url = sample.get(probe_code) or expected_urls(data_dir, [probe_code])[probe_code]
    change_old_url = expected_urls(data_dir, [change_code])[change_code]

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "links": args.links, "keys": args.keys, "pin": args.pin,
        "large_links": args.large_links, "threads": args.threads,
        "wrk_threads": args.wrk_threads, "connections": args.connections, "runs": args.runs,
        "duration_s": args.duration, "cpus": os.cpu_count(),
        "nginx_dropped_case_collisions": meta["nginx_dropped_case_collisions"],
        "steady": {}, "runs_raw": {}, "memory": {}, "start_ms": {}, "reload": {},
        "wrong_answers": {}, "ours_build": {}, "notes": [],
    }
    with open("/proc/loadavg") as loadavg:
        result["notes"].append("load average at start: " + " ".join(loadavg.read().split()[:3]))
    result["notes"].append("nginx map drops %d code(s) colliding case-insensitively; wrk asks "
                           "only codes every server holds" % meta["nginx_dropped_case_collisions"])
    use_ours = not args.skip_ours
    if use_ours and not os.access(args.bin, os.X_OK):
        result["notes"].append("ours skipped: no binary at %s" % args.bin)
        use_ours = False

    work_dir = tempfile.mkdtemp(prefix="serve-bench-", dir=args.data_dir)
    servers = []
    try:
        ours = None
        if use_ours:
            try:
                ours = prepare_ours(args.bin, data_dir, args.rebuild_ours, log)
                result["ours_build"][str(args.links)] = dict(ours["timings"],
                                                             snapshot_bytes=ours["snapshot_bytes"])
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                result["notes"].append("ours skipped, set-up failed: %s" % str(error)[:400])
                log(result["notes"][-1])
        servers.append(NginxServer("nginx-map", work_dir, args.threads,
                                   os.path.join(data_dir, "nginx.map")))
        if ours:
            servers.append(OursServer("ours", work_dir, args.threads, args.bin, ours["snap_dir"],
                                      ours["public_key"]))
        servers.append(HaproxyServer("haproxy", work_dir, args.threads,
                                     os.path.join(data_dir, "haproxy.map")))
        servers.append(NginxServer("nginx-const", work_dir, args.threads, None))

        for server in list(servers):
            log("starting %s on 127.0.0.1:%d" % (server.name, server.port))
            url = CONST_URL if server.kind == "nginx-const" else probe_url
            try:
                ms = start_measured(server, probe_code, url, 120.0)
                if server.kind == "ours":
                    wait_verified(server, 120.0)  # runs measure serving, not the cold start
            except RuntimeError as error:
                if server.kind != "ours":
                    raise
                # Ours may be half-written while the harness runs: keep the anchors' figures.
                result["notes"].append("ours did not start: %s" % str(error)[:300])
                log(result["notes"][-1])
                server.stop()
                servers.remove(server)
                ours = None
                continue
            if server.kind != "nginx-const":
                result["start_ms"][server.name] = ms
            log("%s answered its first correct redirect after %.0f ms" % (server.name, ms))
            wrong = check_answers(server, sample)
            if wrong:
                result["wrong_answers"][server.name] = wrong[:5]
                log("%s: %d wrong answers of %d, e.g. %s" % (server.name, len(wrong),
                                                            len(sample), wrong[:3]))

        for round_index in range(args.runs):
            order = servers if round_index % 2 == 0 else list(reversed(servers))
            for server in order:
                figures = run_wrk(server, codes_file, args.duration, args.wrk_threads,
                                  args.connections)
                result["runs_raw"].setdefault(server.name, []).append(figures)
                if not server.alive():
                    raise RuntimeError("%s died during the run:\n%s"
                                       % (server.name, server.log_tail()))
                log("round %d %-11s %9.0f req/s p99 %6.0f us  %.2f us CPU/req  errors %d  "
                    "steal %.1f%%" % (round_index + 1, server.name, figures["rps"],
                                      figures["p99_us"] or 0, figures["cpu_us_per_req"] or 0,
                                      figures["errors"], figures["steal_pct"]))
        ours_server = next((srv for srv in servers if srv.kind == "ours"), None)
        if args.profile and ours_server:
            result["profile"] = profile_ours(ours_server, codes_file, args)
            result["syscalls"] = {}
            for server in servers:
                if server.kind in ("ours", "nginx-map", "haproxy"):
                    result["syscalls"][server.name] = count_syscalls(server, codes_file, args)
                    log("%s: %s" % (server.name, result["syscalls"][server.name]))
        for server in servers:
            result["steady"][server.name] = summarize(result["runs_raw"][server.name])
            pids = server.pids()
            memory = {"pss_kib": pss_kib(pids), "processes": len(pids)}
            if server.kind == "ours":
                total, mapped = rss_split_kib(pids, ".slsnap")
                memory.update(rss_kib=total, snapshot_rss_kib=mapped,
                              rss_beyond_snapshot_kib=total - mapped)
            result["memory"][server.name] = memory
        for server in servers:
            server.stop()
        servers = []

        if not args.skip_reload:
            log("reload tests (%d round(s) of %d s steady + %d s with a change, then one more "
                "change with PSS sampled)" % (args.reload_rounds, args.reload_duration,
                                               args.reload_duration))
            result["reload"]["nginx-map"] = anchor_reload(
                NginxServer, "nginx-reload", work_dir, args, data_dir, "nginx.map",
                lambda code, url: '/%s "%s";\n' % (code, url), codes_file, change_code)
            result["reload"]["haproxy"] = anchor_reload(
                HaproxyServer, "haproxy-reload", work_dir, args, data_dir, "haproxy.map",
                lambda code, url: "/%s %s\n" % (code, url), codes_file, change_code)
            if ours:
                try:
                    result["reload"]["ours"] = ours_reload("ours-reload", work_dir, args, ours,
                                                           codes_file, change_code,
                                                           change_old_url)
                except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                    result["notes"].append("ours reload failed: %s" % str(error)[:400])
                    log(result["notes"][-1])
            for name, figures in result["reload"].items():
                log("reload %s: %s" % (name, figures))

        if ours and args.large_links:
            try:
                run_large(args, work_dir, result, servers)
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                result["notes"].append("ours with %d links failed: %s"
                                       % (args.large_links, str(error)[:400]))
                log(result["notes"][-1])
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)

    steals = [r["steal_pct"] for runs in result["runs_raw"].values() for r in runs]
    steals += [s for figures in result["reload"].values() for r in figures.get("rounds", [])
               for s in r["steal_pct"]]
    if steals:
        result["notes"].append("CPU steal during the runs (the host taking cores away): max "
                               "%.1f%%%s" % (max(steals), "; figures from runs above 5% "
                                             "measure the host, rerun" if max(steals) > 5 else ""))
    result["figures"] = build_figures(result)
    print_tables(result)
    if args.json:
        with open(args.json, "w") as json_file:
            json.dump(result, json_file, indent=1)
        log("wrote %s" % args.json)
    return 1 if result["wrong_answers"] else 0


def run_large(args, work_dir, result, servers):
    """Ours with the large (10M) set: start to first redirect, and a reload under load.
    Appends the server it starts to `servers` so that the caller stops it on any error."""
    large_dir, _ = ensure_data(args.large_links, args.data_dir, args.seed)
    large = prepare_ours(args.bin, large_dir, args.rebuild_ours, log)
    result["ours_build"][str(args.large_links)] = large["timings"]
    result["ours_build"][str(args.large_links)]["snapshot_bytes"] = large["snapshot_bytes"]
    large_codes = load_codes(large_dir)
    large_probe = large_codes[1]
    large_url = expected_urls(large_dir, [large_probe])[large_probe]
    server = OursServer("ours-large", work_dir, args.threads, args.bin, large["snap_dir"],
                        large["public_key"])
    servers.append(server)
    result["start_ms"]["ours-large"] = start_measured(server, large_probe, large_url, 120.0)
    log("ours with %d links answered after %.0f ms"
        % (args.large_links, result["start_ms"]["ours-large"]))
    started = time.monotonic()
    wait_verified(server, 120.0)
    result["start_ms"]["ours-large-verified"] = (time.monotonic() - started) * 1000.0
    log("ours with %d links fully verified %.0f ms after that"
        % (args.large_links, result["start_ms"]["ours-large-verified"]))
    pids = server.pids()
    total, mapped = rss_split_kib(pids, ".slsnap")
    result["memory"]["ours-large"] = {"pss_kib": pss_kib(pids), "rss_kib": total,
                                      "snapshot_rss_kib": mapped,
                                      "rss_beyond_snapshot_kib": total - mapped}
    server.stop()
    servers.remove(server)
    if not args.skip_reload:
        large_change = large_codes[0]
        result["reload"]["ours-large"] = ours_reload(
            "ours-large-reload", work_dir, args, large, os.path.join(large_dir, "codes.txt"),
            large_change, expected_urls(large_dir, [large_change])[large_change])
        log("reload ours-large: %s" % result["reload"]["ours-large"])

if __name__ == "__main__":
    sys.exit(main())
