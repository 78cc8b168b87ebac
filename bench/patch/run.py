#!/usr/bin/env python3
"""Incremental publish benchmark: patch publish time under load, patch size and build, CPU cost.

How fast one edit reaches a loaded server as a patch, how big and how slow to build patches are,
and what an applied patch costs a request (BENCH.md).

  bench/patch/run.py --quick              # 100k links everywhere, short runs: about a minute
  bench/patch/run.py --json out.json      # full: 10M links for figures 1 and 2, 1M for figure 3

Figures:
 1. Edit to first correct answer under load (10M links): `serve --threads 1` under wrk (random
    codes, keep-alive, -c128 so that the server's core is saturated: its utime+stime and its
    scheduler demand, on a CPU or runnable, are reported per round); a few seconds into the load,
    `shortlink edit CODE --url NEW` then `shortlink compile --patch --key KEY --out DIR` (the
    served directory), while a keep-alive probe on its own connection polls CODE every 2 ms until
    it answers the new Location. Milliseconds from launching edit, and from launching compile,
    to that answer; the two CLI wall times; the server's patch_loaded log line; failed wrk
    requests. Each round edits another code (the patches are cumulative). Baseline, same run and
    server: one more edit published by a full compile into the directory (the path before
    patches), with back-to-back wrk runs until the probe sees it.
 2. Patch size and build time for 1, 1k and 100k changed links: `shortlink import CSV
    --on-conflict update` (one audit row per link, as a user's bulk change) of N existing codes
    with new URLs, then `compile --patch` (median of --size-runs; one run for the largest),
    bytes per changed link, and the time an idle server takes to apply it. Anchors: the full
    snapshot's size and one full compile of the same database.
 3. Server CPU per request (utime+stime / requests) with a 10k-link patch applied against none:
    two servers on the same base, each started for its run and stopped after it (only one
    exists at a time), order alternating; wrk asks for random codes of the whole set, so most
    lookups miss the patch and fall through to the base. Median of per-round ratios.

Before each figure the runner waits until no other load benchmark runs (`--wait-for`, polled
every 10 s, at most 40 minutes): on two cores, two load tests measure each other. Servers run in
the foreground on free 127.0.0.1 ports with their snapshot and state directories in a temp dir
under bench/data/ and are stopped by PID; the temp dir is removed at the end. The databases it
changes are copies: the cached ones of bench/serve stay as imported.

Reuses bench/serve (data, wrk runs, /proc measurements) and bench/safety (a server with its own
state directory, CLI runner, load detection, table helpers) rather than copying them.
"""
import argparse
import datetime
import functools
import importlib.util
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(HERE)
REPO_DIR = os.path.dirname(BENCH_DIR)
SERVE_DIR = os.path.join(BENCH_DIR, "serve")
sys.path.insert(0, SERVE_DIR)

from servers import KeepAliveProbe, get_once  # noqa: E402
from wrk import MAX_DURATION_S, WrkRun, wait_until  # noqa: E402
from ours import prepare_ours  # noqa: E402


def _load_module(name, path):
    """A benchmark's run.py under another module name (every runner is `run`)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


safety = _load_module("safety_run", os.path.join(BENCH_DIR, "safety", "run.py"))
serve_run = safety.serve_run
ensure_data, load_codes, expected_urls = (serve_run.ensure_data, serve_run.load_codes,
                                          serve_run.expected_urls)
spread_pct, wait_verified, wrk_init_s = (serve_run.spread_pct, serve_run.wait_verified,
                                         serve_run.wrk_init_s)
wait_for_redirect = serve_run.wait_for_redirect
# `shortlink serve` with --state-dir in the temp dir, /readyz and its JSON log lines.
PatchServer = safety.SafetyServer
run_cli, copy_db, link_serve_dir, write_codes = (safety.run_cli, safety.copy_db,
                                                 safety.link_serve_dir, safety.write_codes)
wait_for_load, fmt, median_or_none, range_text = (safety.wait_for_load, safety.fmt,
                                                  safety.median_or_none, safety.range_text)
PROBE_POLL_S = safety.PROBE_POLL_S  # the probe asks every 2 ms

PUBLISH_TARGET_MS = 1000.0  # BENCH.md-style: one edit served under 1 s at 10M links
CPU_TARGET_RATIO = 1.03     # CPU per request with a 10k-link patch <= 1.03x none
PUBLISH_TIMEOUT_S = 30.0    # a patch not served by then is a failure, not a slow figure
# A full compile plus a 10M swap on the saturated box took 13-21 s for the swap alone
# (bench/README.md): back-to-back wrk runs keep the load on until the probe sees it.
BASELINE_TIMEOUT_S = 300.0
OTHER_BENCH_POLL_S = 10.0
OTHER_BENCH_WAIT_S = 40 * 60.0
BUSY_NOTE_PCT = 90.0        # below this the server's core was not saturated by wrk


def log(message):
    print("[patch-bench %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr,
          flush=True)


def _ancestors():
    """This process and its parents: a shell that started us may carry a pattern in its
    command line, and must not count as another benchmark."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def other_benchmarks(patterns):
    """PIDs and command lines (pgrep -f) of running processes matching any pattern."""
    mine = _ancestors()
    found = []
    for pattern in patterns:
        proc = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            pid, _, cmd = line.partition(" ")
            if pid.isdigit() and int(pid) not in mine:
                found.append((int(pid), cmd[:120]))
    return found


def wait_for_quiet(patterns, phase):
    """Waits until no other load benchmark runs (two load tests on two cores measure each
    other). Exits the runner when one still runs after OTHER_BENCH_WAIT_S."""
    deadline = time.monotonic() + OTHER_BENCH_WAIT_S
    reported = False
    while True:
        running = other_benchmarks(patterns)
        if not running:
            if reported:
                log("no other benchmark runs any more: starting %s" % phase)
            return
        if time.monotonic() >= deadline:
            raise SystemExit("another benchmark still runs after %.0f minutes, %s not measured: %s"
                             % (OTHER_BENCH_WAIT_S / 60, phase, running))
        if not reported:
            log("waiting for %s before %s (polling every %.0f s, at most %.0f min)"
                % (running, phase, OTHER_BENCH_POLL_S, OTHER_BENCH_WAIT_S / 60))
            reported = True
        time.sleep(OTHER_BENCH_POLL_S)


def copy_keys(secret_key, public_key, key_dir):
    """A private copy of the bench key pair (the brief of every runner: touch no cached file)."""
    os.makedirs(key_dir)
    copies = []
    for path in (secret_key, public_key):
        copies.append(shutil.copy2(path, os.path.join(key_dir, os.path.basename(path))))
    return copies


def last_json(stdout):
    """The JSON object a `--json` command printed (its last line starting with `{`)."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def write_update_csv(path, codes, url_for):
    """`code,url,type` rows for `shortlink import --on-conflict update` (type 301 as imported)."""
    with open(path, "w") as out:
        out.write("code,url,type\n")
        for code in codes:
            out.write("%s,%s,301\n" % (code, url_for(code)))
    return path


class CommandChain(threading.Thread):
    """Runs commands one after the other (the next only if the previous exited 0) and records
    each one's launch and exit, monotonic and wall clock. The caller polls the server meanwhile."""

    def __init__(self, commands):
        super().__init__(daemon=True)
        self.commands = commands
        self.steps = []

    def run(self):
        for cmd in self.commands:
            step = {"cmd": cmd, "launch": time.monotonic(), "launch_wall": time.time()}
            self.steps.append(step)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            step.update(exit=time.monotonic(), exit_wall=time.time(), rc=proc.returncode,
                        stdout=proc.stdout, stderr=proc.stderr)
            if proc.returncode != 0:
                return

    def check(self):
        for step in self.steps:
            if step.get("rc") != 0:
                raise RuntimeError("`%s` failed (%s): %s" % (" ".join(step["cmd"]), step.get("rc"),
                                                            step.get("stderr", "")[-1000:]))
        if len(self.steps) != len(self.commands):
            raise RuntimeError("the publish commands did not all run")


def publish_round(server, args, codes_file, code, old_url, new_url, commands, max_runs,
                  timeout_s):
    """A wrk run with `commands` (edit, then a compile) launched args.publish_at seconds into the
    load; a keep-alive probe on its own connection polls /code every 2 ms until it answers
    new_url. While the change is not served and fewer than max_runs runs were made, another wrk
    run starts back to back (its load about 0.1 s after the previous one ends), so a slow full
    swap is also under load. Returns the timings, the wrk figures and the probe's other answers."""
    probe = KeepAliveProbe(server.port)
    init = wrk_init_s(codes_file, args.wrk_threads)
    runs = []
    try:
        status, location = probe.get("/" + code)
        if status != 301 or location != old_url:
            raise RuntimeError("/%s answers %s %s before its edit, expected 301 %s"
                               % (code, status, location, old_url))
        runs.append(WrkRun(server, codes_file, args.duration, args.wrk_threads,
                           args.publish_connections).start())
        load = wait_for_load(server, 120.0)
        window = SchedWindow(server)
        run_ends = load + args.duration
        wait_until(load + args.publish_at)
        chain = CommandChain(commands)
        chain.start()
        launched = time.monotonic()
        first, polls, other = None, 0, {}
        while time.monotonic() - launched < timeout_s:
            status, location = probe.get("/" + code)
            polls += 1
            if status == 301 and location == new_url:
                first = time.monotonic()
                break
            if status != 301 or location != old_url:
                key = "%s %s" % (status, location if status != 301 else "(another URL)")
                other[key] = other.get(key, 0) + 1
            if len(runs) < max_runs and time.monotonic() >= run_ends + 0.1 - init:
                runs.append(WrkRun(server, codes_file, args.duration, args.wrk_threads,
                                   args.publish_connections).start())
                run_ends = time.monotonic() + init + args.duration
            time.sleep(PROBE_POLL_S)
        chain.join(timeout=BASELINE_TIMEOUT_S)
    finally:
        probe.close()
        results = [run.wait() for run in runs]
    sched = window.close()
    chain.check()
    others = other_benchmarks(args.wait_for)
    if not server.alive():
        raise RuntimeError("%s died during the run:\n%s" % (server.name, server.log_tail()))
    edit, compile_step = chain.steps[0], chain.steps[-1]
    compiled = last_json(compile_step["stdout"])
    requests = sum(r["requests"] for r in results)
    cpu = sum(r["server_cpu_s"] for r in results)
    return {
        "code": code,
        "first_new_ms": (first - edit["launch"]) * 1000.0 if first else None,
        "first_new_after_compile_launch_ms":
            (first - compile_step["launch"]) * 1000.0 if first else None,
        "edit_cli_ms": (edit["exit"] - edit["launch"]) * 1000.0,
        "compile_cli_ms": (compile_step["exit"] - compile_step["launch"]) * 1000.0,
        "compile_launch_wall": compile_step["launch_wall"],
        "served_under_load": bool(first and first <= run_ends),
        # Positive: the change was served this long after the last wrk run's load ended.
        "served_after_load_end_ms": (first - run_ends) * 1000.0 if first else None,
        "compiled": {k: compiled.get(k) for k in ("kind", "serial", "base", "link_count",
                                                  "bytes", "seconds")},
        "probe_polls": polls, "probe_other_answers": other,
        "wrk_runs": len(results), "requests": requests,
        "rps": statistics.median(r["rps"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "socket_errors": sum(r["socket_errors"] for r in results),
        "bad_status": sum(r["bad_status"] for r in results),
        "p99_us": max(r["p99_us"] or 0 for r in results),
        "server_busy_pct": 100.0 * cpu / (args.duration * len(results)),
        "steal_pct": max(r["steal_pct"] for r in results),
        "other_benchmarks_at_end": others,
        **sched,
    }


def sched_seconds(pids):
    """(run, wait) seconds summed over every thread of the processes
    (/proc/<pid>/task/<tid>/schedstat): time on a CPU and time runnable but waiting for one. On
    this shared box other processes can take part of the server's core while it always has work:
    run + wait over the wall time says how much of a core it wanted, run alone what it got."""
    run = wait = 0
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as stat:
                    fields = stat.read().split()
            except OSError:
                continue
            run += int(fields[0])
            wait += int(fields[1])
    return run / 1e9, wait / 1e9


class SchedWindow:
    """The server's CPU demand over a window: made when wrk's load has reached the server,
    closed after the runs ended."""

    def __init__(self, server):
        self.server = server
        self.start = time.monotonic()
        self.before = sched_seconds(server.pids())

    def close(self):
        wall = time.monotonic() - self.start
        run, wait = sched_seconds(self.server.pids())
        ran, waited = run - self.before[0], wait - self.before[1]
        return {"sched_ran_pct": 100.0 * ran / wall, "sched_waited_pct": 100.0 * waited / wall,
                "sched_demand_pct": 100.0 * (ran + waited) / wall}


def log_loaded_ms(server, event, serial, since_wall):
    """Milliseconds from since_wall to the server's `event` log line for serial (the log's clock
    has millisecond resolution)."""
    for record in server.log_events(event):
        if record.get("serial") == serial:
            return (record["unix"] - since_wall) * 1000.0
    return None


def figure_publish(args, work_dir, result):
    """Figure 1 and its full-compile baseline, on the large set."""
    wait_for_quiet(args.wait_for, "figure 1 (publish under load)")
    data_dir, _ = ensure_data(args.large_links, args.data_dir, args.seed)
    ours = prepare_ours(args.bin, data_dir, args.rebuild_ours, log)
    result["builds"][str(args.large_links)] = dict(ours["timings"],
                                                   snapshot_bytes=ours["snapshot_bytes"])
    log("copying the %d-link database and its keys" % args.large_links)
    db = copy_db(ours["db"], os.path.join(work_dir, "publish.db"))
    secret, public = copy_keys(ours["secret_key"], ours["public_key"],
                               os.path.join(work_dir, "publish-keys"))
    codes = load_codes(data_dir)
    rng = random.Random(args.seed + 3)
    chosen = rng.sample(codes, args.rounds + (1 if args.baseline else 0))
    urls = expected_urls(data_dir, chosen)
    # wrk never asks for the edited codes: the probe alone watches them change.
    chosen_set = set(chosen)
    wrk_codes = write_codes(os.path.join(work_dir, "publish-codes.txt"),
                            [c for c in codes if c not in chosen_set])
    serve_dir = link_serve_dir(ours["snapshot"], os.path.join(work_dir, "publish-snapshots"))
    server = PatchServer("publish", work_dir, args.threads, args.bin, serve_dir, public)
    rounds, baseline = [], None
    stamp = int(time.time())

    def commands(code, new_url, patch):
        return [[args.bin, "--db", db, "edit", code, "--url", new_url],
                [args.bin, "--db", db, "compile"] + (["--patch"] if patch else []) +
                ["--key", secret, "--out", serve_dir, "--json"]]

    try:
        server.start()
        if wait_for_redirect(server.port, chosen[0], urls[chosen[0]], 120.0) is None:
            raise RuntimeError("server gave no redirect:\n" + server.log_tail())
        wait_verified(server, 300.0)
        for index, code in enumerate(chosen[:args.rounds]):
            new_url = "https://patch.example.com/edited/%d/round-%d/%s" % (stamp, index + 1, code)
            entry = publish_round(server, args, wrk_codes, code, urls[code], new_url,
                                  commands(code, new_url, True), 1, PUBLISH_TIMEOUT_S)
            entry["patch_loaded_ms"] = log_loaded_ms(server, "patch_loaded",
                                                     entry["compiled"]["serial"],
                                                     entry["compile_launch_wall"])
            patch = server.readyz().get("patch") or {}
            entry["readyz_patch"] = {k: patch.get(k) for k in ("serial", "base", "links", "bytes")}
            rounds.append(entry)
            log("publish round %d: /%s new after %s ms from edit (%s ms from compile; edit CLI "
                "%.0f ms, compile CLI %.0f ms, patch_loaded %s ms after compile launch), patch of "
                "%s links, %d requests, %d errors, server busy %.0f%% (demand %.0f%%), steal %.1f%%"
                % (index + 1, code, fmt(entry["first_new_ms"]),
                   fmt(entry["first_new_after_compile_launch_ms"]), entry["edit_cli_ms"],
                   entry["compile_cli_ms"], fmt(entry["patch_loaded_ms"]),
                   entry["readyz_patch"]["links"], entry["requests"], entry["errors"],
                   entry["server_busy_pct"], entry["sched_demand_pct"], entry["steal_pct"]))
            time.sleep(1.0)
        if args.baseline:
            code = chosen[-1]
            new_url = "https://patch.example.com/edited/%d/full/%s" % (stamp, code)
            log("baseline: the same change by a full compile into the served directory, under "
                "load until served (at most %d wrk runs)" % args.baseline_runs)
            baseline = publish_round(server, args, wrk_codes, code, urls[code], new_url,
                                     commands(code, new_url, False), args.baseline_runs,
                                     BASELINE_TIMEOUT_S)
            baseline["snapshot_loaded_ms"] = log_loaded_ms(server, "snapshot_loaded",
                                                           baseline["compiled"]["serial"],
                                                           baseline["compile_launch_wall"])
            log("baseline: /%s new after %s ms from edit (compile CLI %.0f ms, snapshot_loaded "
                "%s ms after compile launch), %d wrk runs, served under load: %s, %d errors, "
                "steal %.1f%%" % (code, fmt(baseline["first_new_ms"]), baseline["compile_cli_ms"],
                                  fmt(baseline["snapshot_loaded_ms"]), baseline["wrk_runs"],
                                  baseline["served_under_load"], baseline["errors"],
                                  baseline["steal_pct"]))
    finally:
        server.stop()
    result["publish"] = {"links": args.large_links, "rounds": rounds, "baseline": baseline}


def figure_patch_size(args, work_dir, result):
    """Figure 2: import N updates, compile --patch, on the size set; an idle server applies each
    patch (how long that takes); one full compile of the same database as the time anchor."""
    wait_for_quiet(args.wait_for, "figure 2 (patch size and build time)")
    data_dir, _ = ensure_data(args.size_links, args.data_dir, args.seed)
    ours = prepare_ours(args.bin, data_dir, args.rebuild_ours, log)
    result["builds"][str(args.size_links)] = dict(ours["timings"],
                                                  snapshot_bytes=ours["snapshot_bytes"])
    log("copying the %d-link database and its keys" % args.size_links)
    db = copy_db(ours["db"], os.path.join(work_dir, "size.db"))
    secret, public = copy_keys(ours["secret_key"], ours["public_key"],
                               os.path.join(work_dir, "size-keys"))
    serve_dir = link_serve_dir(ours["snapshot"], os.path.join(work_dir, "size-snapshots"))
    codes = load_codes(data_dir)
    rng = random.Random(args.seed + 4)
    changed = rng.sample(codes, max(args.sizes))
    stamp = int(time.time())
    server = PatchServer("size", work_dir, args.threads, args.bin, serve_dir, public)
    sizes = []
    try:
        server.start()
        if wait_for_redirect(server.port, changed[0], expected_urls(data_dir, changed[:1])[
                changed[0]], 120.0) is None:
            raise RuntimeError("server gave no redirect:\n" + server.log_tail())
        wait_verified(server, 300.0)
        for count in sorted(args.sizes):
            # Every stage imports its N codes with new URLs (the first codes of the last stage
            # again): N distinct links changed since the base, N audit rows from this import.
            csv_path = write_update_csv(
                os.path.join(work_dir, "update-%d.csv" % count), changed[:count],
                lambda c: "https://patch.example.com/bulk/%d/n%d/%s" % (stamp, count, c))
            import_s, out = run_cli(args.bin, ["import", csv_path, "--on-conflict", "update"],
                                    db=db)
            runs = args.size_runs if count < max(args.sizes) else args.largest_size_runs
            entry = {"changed": count, "import_ms": import_s * 1000.0, "import_out": out.strip(),
                     "compile_ms": [], "compile_internal_ms": [], "apply_ms": [],
                     "apply_from_launch_ms": []}
            for _ in range(runs):
                launch_wall = time.time()
                seconds, out = run_cli(args.bin, ["compile", "--patch", "--key", secret, "--out",
                                                  serve_dir, "--json"], db=db)
                exit_wall = time.time()
                compiled = last_json(out)
                entry["compile_ms"].append(seconds * 1000.0)
                entry["compile_internal_ms"].append((compiled.get("seconds") or 0) * 1000.0)
                entry.update(bytes=compiled.get("bytes"), link_count=compiled.get("link_count"),
                             kind=compiled.get("kind"))
                # The idle server applies it on its control thread: time from the compile's exit
                # to the server's patch_loaded line (negative: before the CLI had exited).
                deadline = time.monotonic() + PUBLISH_TIMEOUT_S
                while time.monotonic() < deadline and \
                        (server.readyz().get("patch") or {}).get("serial") != compiled["serial"]:
                    time.sleep(0.01)
                loaded = log_loaded_ms(server, "patch_loaded", compiled["serial"], exit_wall)
                entry["apply_ms"].append(loaded)
                entry["apply_from_launch_ms"].append(
                    loaded + (exit_wall - launch_wall) * 1000.0 if loaded is not None else None)
            if entry["link_count"] != count:
                result["notes"].append("the %d-change patch holds %s links" %
                                       (count, entry["link_count"]))
            sizes.append(entry)
            log("patch of %d changed links: import %.0f ms (%s); compile --patch %s ms (internal "
                "%s ms); %s bytes, %.1f bytes/link; idle server applied %s ms after the CLI exit"
                % (count, entry["import_ms"], entry["import_out"],
                   " ".join("%.0f" % v for v in entry["compile_ms"]),
                   " ".join("%.0f" % v for v in entry["compile_internal_ms"]),
                   entry["bytes"], entry["bytes"] / count,
                   " ".join(fmt(v) for v in entry["apply_ms"])))
            others = other_benchmarks(args.wait_for)
            if others:
                result["notes"].append("another benchmark ran at the end of the %d-change "
                                       "stage: %s" % (count, others))
    finally:
        server.stop()
    full = None
    if args.full_compile_runs:
        full_dir = os.path.join(work_dir, "size-full")
        full = {"compile_ms": []}
        for _ in range(args.full_compile_runs):
            seconds, out = run_cli(args.bin, ["compile", "--key", secret, "--out", full_dir,
                                              "--json"], db=db)
            full["compile_ms"].append(seconds * 1000.0)
            full["bytes"] = last_json(out).get("bytes")
            shutil.rmtree(full_dir, ignore_errors=True)
        log("full compile of the same database: %s ms, %s bytes"
            % (" ".join("%.0f" % v for v in full["compile_ms"]), full["bytes"]))
    result["patch_size"] = {"links": args.size_links, "snapshot_bytes": ours["snapshot_bytes"],
                            "sizes": sizes, "full_compile": full}


# The path a patch adds to: the snapshot reader (Snapshot::lookup, view_of_slot, the key hash)
# and the PatchedSnapshot layer over it. A patched server runs the reader twice a request (the
# patch first, then the base on a miss); everything else a request costs is the same on both.
LOOKUP_SYMBOLS = ("shortlink::formats::", "PatchedSnapshot")


def lookup_share(perf_data):
    """(share in % of the samples in LOOKUP_SYMBOLS, the largest of them, the report text)."""
    report = subprocess.run(["perf", "report", "-i", perf_data, "--stdio", "--no-children",
                             "--sort", "symbol", "--percent-limit", "0"],
                            capture_output=True, text=True, timeout=300).stdout
    share, top = 0.0, []
    for line in report.splitlines():
        fields = line.split()
        if not fields or line.lstrip().startswith("#") or not fields[0].endswith("%"):
            continue
        if any(symbol in line for symbol in LOOKUP_SYMBOLS):
            pct = float(fields[0].rstrip("%"))
            share += pct
            if pct >= 0.1:
                name = " ".join(f for f in fields[2:] if f != "-")
                name = name.replace("shortlink::formats::", "")
                top.append("%.2f%% %s" % (pct, name[:60]))
    return share, top, report


def profile_lookup(servers, start, codes_file, args, work_dir):
    """One extra wrk run of each server under `perf record` (no call graphs): the share of its
    samples in the lookup path. Two runs' CPU per request differ by 10% and more on this box, a
    share within one run hardly: with shares p (patch) and n (none) and the rest of a request
    costing the same, the patch costs (1 - n) / (1 - p) of the plain path. Reports go to
    args.profile."""
    shares = {}
    with open(args.profile, "w") as out:
        for server in servers:
            data = os.path.join(work_dir, "perf-%s.data" % server.name)
            seconds = int(wrk_init_s(codes_file, args.wrk_threads) + args.duration + 1)
            try:
                start(server)
                perf = subprocess.Popen(["perf", "record", "-F", "999", "-o", data, "-p",
                                         str(server.proc.pid), "--", "sleep", str(seconds)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
                try:
                    figures = WrkRun(server, codes_file, args.duration, args.wrk_threads,
                                     args.connections).start().wait()
                    perf.wait(timeout=60)
                finally:
                    if perf.poll() is None:
                        perf.terminate()
                        perf.wait(timeout=10)
            finally:
                server.stop()
                server.seen_pids.clear()
            share, top, report = lookup_share(data)
            shares[server.name] = {"share_pct": share, "symbols": top, "rps": figures["rps"],
                                   "cpu_us_per_req": figures["cpu_us_per_req"],
                                   "steal_pct": figures["steal_pct"]}
            out.write("==== %s\n%s\n" % (server.name, report))
            log("perf: %.2f%% of %s's samples in the lookup path (%s)"
                % (share, server.name, "; ".join(top)))
    return shares


def figure_cpu(args, work_dir, result):
    """Figure 3: CPU per request with a 10k-link patch applied against none, on the CPU set."""
    wait_for_quiet(args.wait_for, "figure 3 (CPU per request)")
    data_dir, _ = ensure_data(args.links, args.data_dir, args.seed)
    ours = prepare_ours(args.bin, data_dir, args.rebuild_ours, log)
    result["builds"][str(args.links)] = dict(ours["timings"],
                                             snapshot_bytes=ours["snapshot_bytes"])
    db = copy_db(ours["db"], os.path.join(work_dir, "cpu.db"))
    secret, public = copy_keys(ours["secret_key"], ours["public_key"],
                               os.path.join(work_dir, "cpu-keys"))
    codes = load_codes(data_dir)
    rng = random.Random(args.seed + 5)
    patched = rng.sample(codes, args.patch_links)
    new_urls = {c: "https://patch.example.com/cpu/%s/%d" % (c, i) for i, c in enumerate(patched)}
    csv_path = write_update_csv(os.path.join(work_dir, "cpu-update.csv"), patched, new_urls.get)
    run_cli(args.bin, ["import", csv_path, "--on-conflict", "update"], db=db)
    plain_dir = link_serve_dir(ours["snapshot"], os.path.join(work_dir, "cpu-plain-snapshots"))
    patch_dir = link_serve_dir(ours["snapshot"], os.path.join(work_dir, "cpu-patch-snapshots"))
    _, out = run_cli(args.bin, ["compile", "--patch", "--key", secret, "--out", patch_dir,
                                "--json"], db=db)
    compiled = last_json(out)
    if compiled.get("link_count") != args.patch_links:
        raise RuntimeError("the patch holds %s links, expected %d"
                           % (compiled.get("link_count"), args.patch_links))
    # wrk asks for every code of the set: patch hits are args.patch_links / len(codes) of them.
    codes_file = os.path.join(data_dir, "codes.txt")
    patched_set = set(patched)
    sample = expected_urls(data_dir, rng.sample([c for c in codes if c not in patched_set], 200))
    servers = [PatchServer("no-patch", work_dir, args.threads, args.bin, plain_dir, public),
               PatchServer("patch-%dk" % (args.patch_links // 1000), work_dir, args.threads,
                           args.bin, patch_dir, public)]
    plain, patching = servers
    runs = {server.name: [] for server in servers}
    checked = set()

    def start(server):
        server.start()
        code, url = next(iter(sample.items()))
        if wait_for_redirect(server.port, code, url, 120.0) is None:
            raise RuntimeError("%s gave no redirect:\n%s" % (server.name, server.log_tail()))
        wait_verified(server, 300.0)
        patch = server.readyz().get("patch")
        links = (patch or {}).get("links")
        if (server is patching and links != args.patch_links) or (server is plain and patch):
            raise RuntimeError("%s serves a patch of %s links" % (server.name, links))
        if server.name in checked:
            return
        checked.add(server.name)
        wrong = []
        for code, url in sample.items():
            status, location = get_once(server.port, "/" + code)
            if status != 301 or location != url:
                wrong.append((server.name, code, status, location))
        old = expected_urls(data_dir, patched[:20])
        for code in patched[:20]:
            want = new_urls[code] if server is patching else old[code]
            status, location = get_once(server.port, "/" + code)
            if status != 301 or location != want:
                wrong.append((server.name, code, status, location))
        if wrong:
            raise RuntimeError("wrong answers: %s" % wrong[:5])

    wait_for_quiet(args.wait_for, "figure 3's runs")
    try:
        for index in range(args.cpu_rounds):
            order = servers if index % 2 == 0 else list(reversed(servers))
            for server in order:
                try:
                    start(server)
                    run = WrkRun(server, codes_file, args.duration, args.wrk_threads,
                                 args.connections).start()
                    wait_for_load(server, 120.0)
                    window = SchedWindow(server)
                    figures = run.wait()
                    figures.update(window.close())
                    if not server.alive():
                        raise RuntimeError("%s died:\n%s" % (server.name, server.log_tail()))
                finally:
                    server.stop()
                    # Server.stop kills every PID it ever saw: forget the stopped ones, so a
                    # later stop never signals a recycled PID.
                    server.seen_pids.clear()
                figures["server_busy_pct"] = 100.0 * figures["server_cpu_s"] / args.duration
                figures["other_benchmarks_at_end"] = other_benchmarks(args.wait_for)
                runs[server.name].append(figures)
                log("cpu round %d %-10s %8.0f req/s  %.3f us CPU/req  p99 %.0f us  errors %d  "
                    "busy %.0f%% (demand %.0f%%)  steal %.1f%%"
                    % (index + 1, server.name, figures["rps"], figures["cpu_us_per_req"],
                       figures["p99_us"] or 0, figures["errors"], figures["server_busy_pct"],
                       figures["sched_demand_pct"], figures["steal_pct"]))
        profile = profile_lookup(servers, start, codes_file, args, work_dir) \
            if args.profile else None
    finally:
        for server in servers:
            server.stop()
    result["cpu"] = {"links": args.links, "patch_links": args.patch_links,
                     "patch_bytes": compiled.get("bytes"), "requested_codes": len(codes),
                     "names": [plain.name, patching.name], "runs": runs, "profile": profile}


def links_label(count):
    if count >= 1_000_000:
        return "%gM" % (count / 1_000_000)
    return "%gk" % (count / 1000) if count >= 1000 else str(count)


def build_figures(result):
    """Rows of (figure, ours, anchor, anchor value, ratio, target, spread)."""
    rows = []
    row = functools.partial(safety.add_figure, rows)

    publish = result.get("publish")
    if publish and publish["rounds"]:
        rounds, base = publish["rounds"], publish["baseline"]
        first = [r["first_new_ms"] for r in rounds]
        label = links_label(publish["links"])
        if base and base["first_new_ms"]:
            row("edit to first new Location, %s links, patch" % label, median_or_none(first),
                "full compile", base["first_new_ms"], target="< 1 s", unit=" ms",
                spread=range_text(first))
        else:
            row("edit to first new Location, %s links, patch" % label, median_or_none(first),
                "target", PUBLISH_TARGET_MS, target="< 1 s", unit=" ms", spread=range_text(first))
        for key, title in (("first_new_after_compile_launch_ms", "  compile launch to new Location"),
                           ("edit_cli_ms", "  of which: edit CLI"),
                           ("compile_cli_ms", "  of which: compile --patch CLI"),
                           ("patch_loaded_ms", "  server logged patch_loaded, from compile launch")):
            values = [r[key] for r in rounds]
            row(title, median_or_none(values), spread=range_text(values), unit=" ms")
        row("  patch at the last round (links, bytes)", "%s, %s" % (
            rounds[-1]["readyz_patch"]["links"], rounds[-1]["readyz_patch"]["bytes"]))
        row("  failed requests (wrk errors, %s requests)"
            % fmt(sum(r["requests"] for r in rounds)), sum(r["errors"] for r in rounds),
            target="0", spread="socket %d, non-2xx/3xx %d; probe's other answers %d" % (
                sum(r["socket_errors"] for r in rounds), sum(r["bad_status"] for r in rounds),
                sum(sum(r["probe_other_answers"].values()) for r in rounds)))
        busy = [r["server_busy_pct"] for r in rounds]
        row("  server core busy under wrk (utime+stime)", median_or_none(busy), target="~100%",
            unit="%", spread=range_text(busy, unit="%"))
        demand = [r["sched_demand_pct"] for r in rounds]
        row("  server demand: on CPU + runnable waiting", median_or_none(demand), unit="%",
            spread="waiting %s" % range_text([r["sched_waited_pct"] for r in rounds], unit="%"))
        if base:
            row("baseline: edit to first new Location, full compile", base["first_new_ms"],
                unit=" ms", spread="compile CLI %s ms, snapshot_loaded %s ms after compile "
                "launch; %d wrk runs; served under load: %s (%s ms after the load's end); %d "
                "errors in %s requests"
                % (fmt(base["compile_cli_ms"]), fmt(base["snapshot_loaded_ms"]), base["wrk_runs"],
                   "yes" if base["served_under_load"] else "no",
                   fmt(base.get("served_after_load_end_ms")), base["errors"],
                   fmt(base["requests"])))
    sizes = result.get("patch_size")
    if sizes:
        label = links_label(sizes["links"])
        full = sizes.get("full_compile")
        full_ms = median_or_none(full["compile_ms"]) if full else None
        for entry in sizes["sizes"]:
            row("compile --patch, %s changed of %s" % (fmt(entry["changed"]), label),
                median_or_none(entry["compile_ms"]), "full compile" if full_ms else "",
                full_ms, unit=" ms",
                spread="%s; internal %s ms; import of the %s updates %.0f ms" % (
                    range_text(entry["compile_ms"]),
                    " ".join("%.0f" % v for v in entry["compile_internal_ms"]),
                    fmt(entry["changed"]), entry["import_ms"]))
            row("  patch size", entry["bytes"], "full snapshot", sizes["snapshot_bytes"],
                unit=" B", spread="%.1f bytes per changed link" % (entry["bytes"] /
                                                                    entry["changed"]))
            applied = entry["apply_from_launch_ms"]
            row("  idle server logged patch_loaded, from compile launch", median_or_none(applied),
                unit=" ms", spread=range_text(applied))
        ordered = sorted(sizes["sizes"], key=lambda e: e["changed"])
        if len(ordered) >= 2 and ordered[-1]["changed"] > ordered[0]["changed"]:
            small, large = ordered[0], ordered[-1]
            row("  marginal patch bytes per changed link",
                (large["bytes"] - small["bytes"]) / (large["changed"] - small["changed"]),
                unit=" B", spread="fixed part (1-change patch) %d B" % small["bytes"])
    cpu = result.get("cpu")
    if cpu and cpu.get("runs"):
        plain, patched = (cpu["runs"][name] for name in cpu["names"])
        ratios = [p["cpu_us_per_req"] / n["cpu_us_per_req"] for n, p in zip(plain, patched)]
        row("CPU per request, %s-link patch on %s" % (fmt(cpu["patch_links"]),
                                                       links_label(cpu["links"])),
            median_or_none([r["cpu_us_per_req"] for r in patched]), "no patch",
            median_or_none([r["cpu_us_per_req"] for r in plain]), ratio=statistics.median(ratios),
            target="<= %.2fx" % CPU_TARGET_RATIO, unit=" us",
            spread="per-round ratios %s; patch ±%.0f%% / none ±%.0f%%" % (
                " ".join("%.3f" % r for r in ratios),
                spread_pct([r["cpu_us_per_req"] for r in patched]),
                spread_pct([r["cpu_us_per_req"] for r in plain])))
        rps_ratios = [p["rps"] / n["rps"] for n, p in zip(plain, patched)]
        row("req/s, %s-link patch" % fmt(cpu["patch_links"]),
            median_or_none([r["rps"] for r in patched]), "no patch",
            median_or_none([r["rps"] for r in plain]), ratio=statistics.median(rps_ratios),
            spread="per-round ratios %s" % " ".join("%.3f" % r for r in rps_ratios))
        busy = [r["server_busy_pct"] for r in plain + patched]
        row("  server core busy under wrk (utime+stime)", median_or_none(busy), unit="%",
            spread=range_text(busy, unit="%"))
        demand = [r.get("sched_demand_pct") for r in plain + patched]
        row("  server demand: on CPU + runnable waiting", median_or_none(demand), unit="%",
            spread="waiting %s" % range_text([r.get("sched_waited_pct") for r in plain + patched],
                                             unit="%"))
        row("  failed requests", sum(r["errors"] for r in plain + patched), target="0")
        profile = cpu.get("profile")
        if profile:
            none_share, patch_share = (profile[name]["share_pct"] for name in cpu["names"])
            row("  perf: samples in the lookup path, patch / none", patch_share, "no patch",
                none_share, ratio=(1.0 - none_share / 100.0) / (1.0 - patch_share / 100.0),
                target="<= %.2fx" % CPU_TARGET_RATIO, unit="%",
                spread="ratio implied (1-n)/(1-p); patch: %s; none: %s" % (
                    "; ".join(profile[cpu["names"][1]]["symbols"]),
                    "; ".join(profile[cpu["names"][0]]["symbols"])))
    return rows


def print_tables(result, out=sys.stdout):
    print("\nIncremental publish benchmark %s, commit %s: serve --threads %d, wrk -t%d, -c%d "
          "(publish) and -c%d (CPU), runs of %d s"
          % (result["date"], result["commit"], result["threads"], result["wrk_threads"],
             result["publish_connections"], result["connections"], result["duration_s"]),
          file=out)
    print("%-52s %10s %-13s %12s %7s %-7s %s" % ("figure", "ours", "anchor", "anchor value",
                                                 "ratio", "target", "spread"), file=out)
    for r in result["figures"]:
        print("%-52s %10s %-13s %12s %7s %-7s %s" % (
            r["figure"], fmt(r["ours"], r["unit"]), r["anchor"],
            fmt(r["anchor_value"], r["unit"]) if r["anchor"] else "",
            ("%.3fx" % r["ratio"]) if r["ratio"] is not None else "", r["target"], r["spread"]),
            file=out)
    for note in result["notes"]:
        print("note: " + note, file=out)


def runs_with_names(result):
    """(name, figures) of every load run: the publish rounds, the baseline, the CPU runs."""
    publish = result.get("publish") or {}
    named = [("publish round %d" % (i + 1), r) for i, r in enumerate(publish.get("rounds") or [])]
    if publish.get("baseline"):
        named.append(("baseline", publish["baseline"]))
    for name, runs in ((result.get("cpu") or {}).get("runs") or {}).items():
        named += [("%s run %d" % (name, i + 1), r) for i, r in enumerate(runs)]
    return named


def run_notes(result):
    """Per-run CPU steal (above 5% a run measured the host more than the server), runs where wrk
    did not saturate the server's core, and runs another benchmark overlapped."""
    named = runs_with_names(result)
    steals = [(name, run["steal_pct"]) for name, run in named]
    idle = [(name, run["server_busy_pct"]) for name, run in named if name != "baseline"]
    notes = []
    if steals:
        noisy = ["%s %.1f%%" % s for s in steals if s[1] > 5]
        notes.append("CPU steal per run: max %.1f%% (%s)%s" % (
            max(s[1] for s in steals), " ".join("%.1f" % s[1] for s in steals),
            "; noisy (over 5%%, rerun): %s" % ", ".join(noisy) if noisy else ""))
    overlapped = [name for name, run in named
                  if run.get("other_benchmarks_at_end")]
    if overlapped:
        notes.append("ANOTHER BENCHMARK RAN during (at the end of) these runs, rerun them: %s"
                     % ", ".join(overlapped))
    unsaturated = ["%s %.0f%%" % s for s in idle if s[1] < BUSY_NOTE_PCT]
    if unsaturated:
        notes.append("server core under %.0f%% busy (wrk did not saturate it): %s"
                     % (BUSY_NOTE_PCT, ", ".join(unsaturated)))
    return notes


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="100k links everywhere, short and few runs: about a minute")
    parser.add_argument("--large-links", type=int,
                        help="links for the publish figure (default 10M; quick 100k)")
    parser.add_argument("--size-links", type=int,
                        help="links for the patch size figure (default 10M; quick 100k)")
    parser.add_argument("--links", type=int,
                        help="links for the CPU figure (default 1M; quick 100k)")
    parser.add_argument("--rounds", type=int, help="publish runs (default 5, quick 2)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the full-compile publish after the patch rounds")
    parser.add_argument("--baseline-runs", type=int, default=15,
                        help="at most this many back-to-back wrk runs for the full-compile "
                             "baseline (default 15: a 10M compile took 69 s and its swap 68 s "
                             "more on the busy box)")
    parser.add_argument("--publish-at", type=float,
                        help="seconds into the load when edit is launched (default 2, quick 1.5)")
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")],
                        help="changed links of figure 2, comma-separated (default 1,1000,100000; "
                             "quick 1,1000,10000)")
    parser.add_argument("--size-runs", type=int, default=3,
                        help="compile --patch runs per size but the largest (default 3)")
    parser.add_argument("--largest-size-runs", type=int, default=1,
                        help="compile --patch runs of the largest size (default 1)")
    parser.add_argument("--full-compile-runs", type=int, default=1,
                        help="full compiles of the size database, figure 2's anchor (default 1; "
                             "0 skips)")
    parser.add_argument("--patch-links", type=int, default=10_000,
                        help="links in figure 3's patch (default 10000)")
    parser.add_argument("--cpu-rounds", type=int,
                        help="rounds of one run per server, order alternating (default 10, "
                             "quick 1)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10, quick 4)")
    parser.add_argument("--threads", type=int, default=1, help="serve --threads")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32,
                        help="wrk connections of figure 3 (default 32, as bench/serve and "
                             "bench/safety)")
    parser.add_argument("--publish-connections", type=int, default=128,
                        help="wrk connections of figure 1 (default 128: at 10M links one wrk "
                             "thread with 32 left the server's core 5-40%% idle on this box)")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--bin", default=os.path.join(REPO_DIR, "build-bench", "cli", "shortlink"),
                        help="the shortlink binary (default build-bench/cli/shortlink)")
    parser.add_argument("--commit", help="commit the binary was built from, for the record "
                                         "(default: the repository's HEAD, flagged if dirty)")
    parser.add_argument("--skip-publish", action="store_true", help="skip figure 1")
    parser.add_argument("--skip-size", action="store_true", help="skip figure 2")
    parser.add_argument("--skip-cpu", action="store_true", help="skip figure 3")
    parser.add_argument("--wait-for", action="append",
                        help="pgrep -f pattern of another load benchmark to wait for before each "
                             "figure (repeatable; default bench/safety/run.py and "
                             "bench/serve/run.py)")
    parser.add_argument("--rebuild-ours", action="store_true",
                        help="re-import and re-compile the cached databases and snapshots")
    parser.add_argument("--data-dir", default=os.path.join(BENCH_DIR, "data"))
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--profile", metavar="FILE",
                        help="figure 3: one extra run of each server under `perf record`: the "
                             "share of its samples in the lookup path; reports written to FILE")
    args = parser.parse_args()
    quick = args.quick
    args.large_links = args.large_links or (100_000 if quick else 10_000_000)
    args.size_links = args.size_links or (100_000 if quick else 10_000_000)
    args.links = args.links or (100_000 if quick else 1_000_000)
    args.rounds = args.rounds or (2 if quick else 5)
    args.publish_at = args.publish_at or (1.5 if quick else 2.0)
    args.sizes = args.sizes or ([1, 1000, 10_000] if quick else [1, 1000, 100_000])
    args.cpu_rounds = args.cpu_rounds or (1 if quick else 10)
    args.duration = args.duration or (4 if quick else 10)
    args.wait_for = args.wait_for or ["bench/safety/run.py", "bench/serve/run.py"]
    if args.duration > MAX_DURATION_S:
        parser.error("wrk runs are bounded to %d s (BENCH.md)" % MAX_DURATION_S)
    if args.publish_at + 1.0 > args.duration:
        parser.error("--publish-at must leave at least 1 s of the run after the edit")
    if max(args.sizes) > args.size_links or args.patch_links >= args.links:
        parser.error("more changed links than links")
    return args


def main():
    args = parse_args()
    # A SIGTERM (a stopped job, a timeout) unwinds like an error, so that the finally blocks stop
    # the servers by PID and remove the temp dir.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if not os.access(args.bin, os.X_OK):
        sys.exit("no shortlink binary at %s (see bench/README.md, or pass --bin)" % args.bin)
    os.makedirs(args.data_dir, exist_ok=True)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": args.commit or safety.git_commit(), "binary": os.path.abspath(args.bin),
        "threads": args.threads, "wrk_threads": args.wrk_threads,
        "connections": args.connections, "publish_connections": args.publish_connections,
        "duration_s": args.duration, "cpus": os.cpu_count(),
        "builds": {}, "notes": [],
    }
    with open("/proc/loadavg") as loadavg:
        result["notes"].append("load average at start: " + " ".join(loadavg.read().split()[:3]))
    binary_mtime = os.path.getmtime(args.bin)
    work_dir = tempfile.mkdtemp(prefix="patch-bench-", dir=args.data_dir)
    try:
        if not args.skip_publish:
            figure_publish(args, work_dir, result)
        if not args.skip_size:
            figure_patch_size(args, work_dir, result)
        if not args.skip_cpu:
            figure_cpu(args, work_dir, result)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    with open("/proc/loadavg") as loadavg:
        result["notes"].append("load average at the end: " + " ".join(loadavg.read().split()[:3]))
    if os.path.getmtime(args.bin) != binary_mtime:
        result["notes"].append("THE BINARY WAS REBUILT during the run: the figures mix builds")
    result["notes"] += run_notes(result)
    result["figures"] = build_figures(result)
    print_tables(result)
    if args.json:
        with open(args.json, "w") as json_file:
            json.dump(result, json_file, indent=1)
        log("wrote %s" % args.json)
    failed = [r for r in result["figures"] if r["target"] == "0" and r["ours"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
