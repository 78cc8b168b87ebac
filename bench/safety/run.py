#!/usr/bin/env python3
"""Safety-plane benchmark: how fast a block reaches a loaded server, what a large deny overlay
costs a request, and how long `shortlink overlay` takes (BENCH.md targets).

  bench/safety/run.py --quick              # 100k links, short runs: about a minute
  bench/safety/run.py --json out.json      # full: 10M links for the block, 1M for the CPU figure

Figures:
 1. Block to first 410 under load (10M links): `serve --threads 1` under wrk (random codes,
    keep-alive); a few seconds into the load, the time from launching
    `shortlink block link CODE --publish DIR --key KEY` until a keep-alive probe on its own
    connection first gets 410 for CODE (polled every 2 ms). Median, min and max of --rounds runs,
    split into CLI exit and the server's overlay_loaded log line; failed wrk requests. Then the
    same while a freshly compiled 10M snapshot is being verified: the snapshot is renamed into
    the directory, the block launched a second later, and /readyz read at the first 410 must
    still report the old serial.
 2. Server CPU per request (utime+stime / requests) with a 100k-entry deny overlay against no
    overlay: two servers on the same snapshot, wrk runs alternating, median of per-round ratios.
 3. `shortlink overlay` wall time for the 100k-entry deny set (median of --overlay-runs), and the
    file size, against the same command with a deny set of one entry (its fixed cost).

Servers run in the foreground on free 127.0.0.1 ports with their snapshot and state directories
in a temp dir under bench/data/ and are stopped by PID; the temp dir is removed at the end. The
databases it blocks in are copies: the cached ones of bench/serve stay as imported.
"""
import argparse
import functools
import datetime
import importlib.util
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(HERE)
REPO_DIR = os.path.dirname(BENCH_DIR)
SERVE_DIR = os.path.join(BENCH_DIR, "serve")
sys.path.insert(0, SERVE_DIR)

from servers import KeepAliveProbe, OursServer, cpu_seconds, get_once  # noqa: E402
from wrk import MAX_DURATION_S, WrkRun, run_wrk, wait_until  # noqa: E402
from ours import prepare_ours  # noqa: E402


def _load_serve_runner():
    """bench/serve/run.py under another module name (this file is `run` too)."""
    spec = importlib.util.spec_from_file_location("serve_run", os.path.join(SERVE_DIR, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve_run = _load_serve_runner()
ensure_data, load_codes, expected_urls = (serve_run.ensure_data, serve_run.load_codes,
                                          serve_run.expected_urls)
spread_pct, wait_verified = serve_run.spread_pct, serve_run.wait_verified

BLOCK_TARGET_MS = 1000.0   # BENCH.md: block to first 410 under 1 s
CPU_TARGET_RATIO = 1.03    # BENCH.md: CPU per request with a 100k-entry overlay <= 1.03x none
PROBE_POLL_S = 0.002       # the probe asks for the blocked code every 2 ms
BLOCK_TIMEOUT_S = 30.0     # a block not served by then is a failure, not a slow figure
# The 100k-entry deny set of figures 2 and 3: link blocks on codes wrk never asks for (so every
# request takes the probe-and-miss path), destination hosts no link uses, and hosts standing
# for served domains blocked and then removed (the blocks table keeps such rows; a live domain
# would need links of its own). Every kind present costs a request one more probe.
DENY_MIX = {"link": 60_000, "destination": 20_000, "domain": 20_000}
TLDS = ["com", "net", "org", "info", "xyz", "top", "ru", "io", "biz", "site"]


def log(message):
    print("[safety-bench %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr,
          flush=True)


class SafetyServer(OursServer):
    """`shortlink serve` with its state directory inside the benchmark's temp dir (the default
    would be the user's ~/.local/state, and a state dir remembers serials across runs)."""

    def __init__(self, name, work_dir, threads, binary, snap_dir, trust):
        super().__init__(name, work_dir, threads, binary, snap_dir, trust)
        self.state_dir = os.path.join(self.dir, "state")

    def command(self):
        return super().command() + ["--state-dir", self.state_dir]

    def readyz(self):
        url = "http://127.0.0.1:%d/readyz" % self.admin_port
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return json.loads(reply.read().decode())
        except urllib.error.HTTPError as error:  # 503 before a snapshot is loaded
            return json.loads(error.read().decode() or "{}")

    def log_events(self, event):
        """The server's JSON log lines of one event, with their time as Unix seconds."""
        found = []
        with open(self.log_path, errors="replace") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == event:
                    stamp = datetime.datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
                    record["unix"] = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
                    found.append(record)
        return found


def run_cli(binary, args, db=None, timeout=1800):
    """Runs one shortlink command; (seconds, stdout). Raises on a non-zero exit."""
    cmd = [binary] + (["--db", db] if db else []) + args
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError("`%s` failed (%d): %s%s" % (" ".join(cmd), proc.returncode,
                                                      proc.stdout[-1000:], proc.stderr[-1000:]))
    return seconds, proc.stdout


def copy_db(src, dst):
    """A private copy of a bench database (closed, so the file plus its WAL are consistent)."""
    for suffix in ("", "-wal"):
        if os.path.exists(src + suffix):
            shutil.copyfile(src + suffix, dst + suffix)
    return dst


def link_serve_dir(src_snapshot, serve_dir):
    """A served directory of its own holding a hard link to the cached snapshot."""
    os.makedirs(serve_dir)
    os.link(src_snapshot, os.path.join(serve_dir, os.path.basename(src_snapshot)))
    return serve_dir


def write_codes(path, codes):
    with open(path, "w") as out:
        out.write("\n".join(codes) + "\n")
    return path


def default_domain_folds(db):
    """Whether the default domain folds codes to lowercase (blocks store the folded code)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT case_insensitive FROM domains WHERE is_default = 1").fetchone()
    return bool(row and row[0])


def wait_for_load(server, timeout_s, window_s=0.05):
    """Monotonic time at which wrk's load reached the server: the first window in which the
    server used more than 40% of a core (it idles at ~0 before; wrk first reads its codes)."""
    deadline = time.monotonic() + timeout_s
    last_t, last_cpu = time.monotonic(), cpu_seconds(server.pids())
    while time.monotonic() < deadline:
        time.sleep(window_s)
        now, cpu = time.monotonic(), cpu_seconds(server.pids())
        if cpu - last_cpu > 0.4 * (now - last_t):
            return last_t
        last_t, last_cpu = now, cpu
    raise RuntimeError("no load reached %s within %.0f s" % (server.name, timeout_s))


def timed_block(binary, db, code, serve_dir, secret_key, probe):
    """Launches `shortlink block link CODE --publish serve_dir`; polls /CODE on the probe's
    keep-alive connection every 2 ms until it answers 410. Returns the milliseconds from the
    launch to the CLI's exit and to the first 410, the CLI's JSON, and the probe's other answers."""
    cmd = [binary, "--db", db, "block", "link", code, "--reason", "safety bench",
           "--publish", serve_dir, "--key", secret_key, "--json"]
    outcome = {}

    def wait_exit(proc):
        stdout, stderr = proc.communicate()
        outcome.update(exit_t=time.monotonic(), rc=proc.returncode, stdout=stdout, stderr=stderr)

    launch_wall = time.time()
    launch = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiter = threading.Thread(target=wait_exit, args=(proc,), daemon=True)
    waiter.start()
    first_410, polls, other = None, 0, {}
    while time.monotonic() - launch < BLOCK_TIMEOUT_S:
        status, _ = probe.get("/" + code)
        polls += 1
        if status == 410:
            first_410 = time.monotonic()
            break
        if status != 301:
            other[str(status)] = other.get(str(status), 0) + 1
        time.sleep(PROBE_POLL_S)
    waiter.join(timeout=BLOCK_TIMEOUT_S)
    if outcome.get("rc") != 0:
        raise RuntimeError("`%s` failed (%s): %s" % (" ".join(cmd), outcome.get("rc"),
                                                    outcome.get("stderr", "")[-1000:]))
    lines = [json.loads(line) for line in outcome["stdout"].splitlines() if line.startswith("{")]
    overlay = next((line for line in lines if "serial" in line), {})
    return {"code": code, "launch_wall": launch_wall,
            "cli_exit_ms": (outcome["exit_t"] - launch) * 1000.0,
            "first_410_ms": (first_410 - launch) * 1000.0 if first_410 else None,
            "overlay_serial": overlay.get("serial"), "overlay_entries": overlay.get("entries"),
            "overlay_bytes": overlay.get("bytes"), "probe_polls": polls,
            "probe_other_answers": other}


def overlay_loaded_ms(server, serial, launch_wall):
    """Milliseconds from the CLI's launch to the server's overlay_loaded line for serial (the
    log's clock has millisecond resolution)."""
    for record in server.log_events("overlay_loaded"):
        if record.get("serial") == serial:
            return (record["unix"] - launch_wall) * 1000.0
    return None


def block_round(server, args, codes_file, db, code, url, serve_dir, secret_key, staged=None):
    """One wrk run with a block args.block_at seconds into the load. With `staged` (a compiled
    snapshot in a staging dir), the snapshot is renamed into serve_dir one second before the
    block, and /readyz is read at the first 410."""
    probe = KeepAliveProbe(server.port)
    try:
        status, location = probe.get("/" + code)
        if status != 301 or location != url:
            raise RuntimeError("/%s answers %s %s before its block, expected 301 %s"
                               % (code, status, location, url))
        old_serial = server.readyz()["snapshot"]["serial"]
        run = WrkRun(server, codes_file, args.duration, args.wrk_threads, args.connections)
        run.start()
        load = wait_for_load(server, 120.0)
        swap = {}
        if staged:
            wait_until(load + args.block_at - 1.0)
            swap["renamed_wall"] = time.time()
            os.rename(staged, os.path.join(serve_dir, os.path.basename(staged)))
        wait_until(load + args.block_at)
        block = timed_block(args.bin, db, code, serve_dir, secret_key, probe)
        if staged:
            ready = server.readyz()
            swap["serial_at_first_410"] = ready["snapshot"]["serial"]
            swap["old_serial"] = old_serial
            swap["old_still_served"] = ready["snapshot"]["serial"] == old_serial
        figures = run.wait()
    finally:
        probe.close()
    if not server.alive():
        raise RuntimeError("%s died during the run:\n%s" % (server.name, server.log_tail()))
    block["overlay_loaded_ms"] = overlay_loaded_ms(server, block["overlay_serial"],
                                                   block["launch_wall"])
    ready = server.readyz()
    overlay = ready.get("overlay") or {}
    block["readyz_overlay_serial"] = overlay.get("serial")
    block["readyz_overlay_links"] = overlay.get("links")
    block.update({key: figures[key] for key in ("rps", "requests", "errors", "socket_errors",
                                                "bad_status", "p99_us", "steal_pct")})
    if staged:
        block.update(swap)
    return block


def wait_swapped(server, serial, renamed_wall, timeout_s):
    """Waits until the server publishes `serial`; milliseconds from the rename to its
    snapshot_loaded log line."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in server.log_events("snapshot_loaded"):
            if record.get("serial") == serial:
                return (record["unix"] - renamed_wall) * 1000.0
        time.sleep(0.2)
    raise RuntimeError("%s did not publish serial %d within %.0f s:\n%s"
                       % (server.name, serial, timeout_s, server.log_tail()))


def figure_block(args, work_dir, result):
    """Figure 1 and its variant during a swap, on the large set."""
    data_dir, _ = ensure_data(args.large_links, args.data_dir, args.seed)
    ours = prepare_ours(args.bin, data_dir, args.rebuild_ours, log)
    result["builds"][str(args.large_links)] = dict(ours["timings"],
                                                   snapshot_bytes=ours["snapshot_bytes"])
    log("copying the %d-link database" % args.large_links)
    db = copy_db(ours["db"], os.path.join(work_dir, "block.db"))
    fold = default_domain_folds(db)
    codes = load_codes(data_dir)
    rng = random.Random(args.seed + 1)
    chosen = rng.sample(codes, args.rounds + args.swap_rounds)
    urls = expected_urls(data_dir, chosen)
    # wrk never asks for the codes this figure blocks: every non-3xx answer it counts is a
    # failure, and the probe alone sees the 410s.
    chosen_set = set(chosen)
    wrk_codes = write_codes(os.path.join(work_dir, "block-codes.txt"),
                            [c for c in codes if c not in chosen_set])
    serve_dir = link_serve_dir(ours["snapshot"], os.path.join(work_dir, "block-snapshots"))
    server = SafetyServer("block", work_dir, args.threads, args.bin, serve_dir,
                          ours["public_key"])
    rounds, swap_rounds = [], []
    try:
        server.start()
        probe_code = chosen[0]
        if serve_run.wait_for_redirect(server.port, probe_code, urls[probe_code], 120.0) is None:
            raise RuntimeError("server gave no redirect:\n" + server.log_tail())
        wait_verified(server, 300.0)
        for index, code in enumerate(chosen[:args.rounds]):
            block = block_round(server, args, wrk_codes, db, code.lower() if fold else code,
                                urls[code], serve_dir, ours["secret_key"])
            rounds.append(block)
            log("block round %d: first 410 after %s ms (CLI exit %.0f ms, overlay loaded %s ms), "
                "%d requests, %d errors, steal %.1f%%"
                % (index + 1, fmt(block["first_410_ms"]), block["cli_exit_ms"],
                   fmt(block["overlay_loaded_ms"]), block["requests"], block["errors"],
                   block["steal_pct"]))
            time.sleep(1.0)
        for index, code in enumerate(chosen[args.rounds:]):
            staging = os.path.join(work_dir, "staging-%d" % index)
            os.makedirs(staging)
            seconds, out = run_cli(args.bin, ["compile", "--key", ours["secret_key"], "--out",
                                              staging], db=db)
            staged = [os.path.join(staging, n) for n in os.listdir(staging)
                      if n.endswith(".slsnap")]
            if len(staged) != 1:
                raise RuntimeError("compile wrote %s into %s" % (staged, staging))
            staged_serial = int(os.path.basename(staged[0]).split("-")[1].split(".")[0])
            log("staged a fresh %d-link snapshot, serial %d (compile %.1f s)"
                % (args.large_links, staged_serial, seconds))
            block = block_round(server, args, wrk_codes, db, code.lower() if fold else code,
                                urls[code], serve_dir, ours["secret_key"], staged=staged[0])
            block["staged_serial"] = staged_serial
            block["compile_s"] = seconds
            block["swap_published_ms"] = wait_swapped(server, staged_serial,
                                                      block["renamed_wall"], 300.0)
            wait_verified(server, 300.0)
            swap_rounds.append(block)
            log("swap round %d: first 410 after %s ms (CLI exit %.0f ms), /readyz at that "
                "moment: serial %d (old %d), the new snapshot published %.0f ms after its rename, "
                "%d errors, steal %.1f%%"
                % (index + 1, fmt(block["first_410_ms"]), block["cli_exit_ms"],
                   block["serial_at_first_410"], block["old_serial"], block["swap_published_ms"],
                   block["errors"], block["steal_pct"]))
            time.sleep(1.0)
    finally:
        server.stop()
    result["block"] = {"links": args.large_links, "rounds": rounds, "swap_rounds": swap_rounds}


def deny_rows(rng, codes, fold, now):
    """(kind, host, code, reason, actor, created_at) rows of the DENY_MIX set; link codes taken
    from `codes`."""
    rows = [("link", "*", c.lower() if fold else c, "bench", "bench", now) for c in codes]
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    seen = set()
    for kind in ("destination", "domain"):
        wanted = len(rows) + DENY_MIX[kind]
        while len(rows) < wanted:
            label = "".join(rng.choice(letters[:26]) for _ in range(rng.randint(5, 12)))
            host = "%s-%s.%s" % (label, "".join(rng.choice(letters) for _ in range(4)),
                                 rng.choice(TLDS))
            if kind == "destination" and rng.random() < 0.3:
                host = "login." + host  # some blocks name a subdomain
            if host not in seen:
                seen.add(host)
                rows.append((kind, host, "", "bench", "bench", now))
    return rows


def insert_blocks(db, rows):
    """The blocks in one transaction, directly into the blocks table (100k `shortlink block`
    calls would take hours); no audit rows."""
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO blocks (kind, host, code, reason, actor, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)", rows)


def overlay_total(ready):
    overlay = ready.get("overlay") or {}
    return sum(overlay.get(key) or 0 for key in ("links", "domains", "destinations"))


def figure_cpu_and_build(args, work_dir, result):
    """Figure 2 (CPU per request with a 100k-entry overlay vs none) and figure 3 (overlay build
    time), on the comparison set."""
    data_dir, _ = ensure_data(args.links, args.data_dir, args.seed)
    ours = prepare_ours(args.bin, data_dir, args.rebuild_ours, log)
    result["builds"][str(args.links)] = dict(ours["timings"],
                                             snapshot_bytes=ours["snapshot_bytes"])
    deny_db = copy_db(ours["db"], os.path.join(work_dir, "deny.db"))
    one_db = copy_db(ours["db"], os.path.join(work_dir, "one.db"))
    fold = default_domain_folds(deny_db)
    codes = load_codes(data_dir)
    rng = random.Random(args.seed + 2)
    blocked = rng.sample(codes, DENY_MIX["link"])
    blocked_set = set(blocked)
    requested = [c for c in codes if c not in blocked_set]
    wrk_codes = write_codes(os.path.join(work_dir, "cpu-codes.txt"), requested)
    now = int(time.time())
    rows = deny_rows(rng, blocked, fold, now)
    started = time.monotonic()
    insert_blocks(deny_db, rows)
    log("inserted %d blocks (%s) in %.1f s; wrk asks for the other %d codes"
        % (len(rows), ", ".join("%s %d" % kv for kv in DENY_MIX.items()),
           time.monotonic() - started, len(requested)))
    insert_blocks(one_db, rows[:1])

    # Figure 3: alternating builds of the 100k set and of a one-entry set (the fixed cost).
    builds = {"100k": [], "1": []}
    outputs = {}
    for index in range(args.overlay_runs):
        order = [("100k", deny_db), ("1", one_db)]
        for name, db in order if index % 2 == 0 else reversed(order):
            out_dir = os.path.join(work_dir, "overlay-" + name)
            seconds, out = run_cli(args.bin, ["overlay", "--key", ours["secret_key"], "--out",
                                              out_dir, "--json"], db=db)
            builds[name].append(seconds * 1000.0)
            outputs[name] = json.loads(out)
    log("overlay build: 100k entries %s ms, 1 entry %s ms; %d bytes"
        % (" ".join("%.0f" % v for v in builds["100k"]),
           " ".join("%.0f" % v for v in builds["1"]), outputs["100k"]["bytes"]))
    result["overlay_build"] = {"entries": outputs["100k"]["entries"],
                               "bytes": outputs["100k"]["bytes"],
                               "one_entry_bytes": outputs["1"]["bytes"],
                               "ms": builds["100k"], "one_entry_ms": builds["1"]}

    # Figure 2: two servers on the same snapshot, one with the newest 100k overlay.
    plain_dir = link_serve_dir(ours["snapshot"], os.path.join(work_dir, "plain-snapshots"))
    deny_dir = link_serve_dir(ours["snapshot"], os.path.join(work_dir, "deny-snapshots"))
    os.link(outputs["100k"]["path"], os.path.join(deny_dir,
                                                  os.path.basename(outputs["100k"]["path"])))
    servers = [SafetyServer("no-overlay", work_dir, args.threads, args.bin, plain_dir,
                            ours["public_key"]),
               SafetyServer("overlay-100k", work_dir, args.threads, args.bin, deny_dir,
                            ours["public_key"])]
    plain, denying = servers
    sample = expected_urls(data_dir, rng.sample(requested, 200))
    runs = {server.name: [] for server in servers}
    try:
        for server in servers:
            server.start()
            code, url = next(iter(sample.items()))
            if serve_run.wait_for_redirect(server.port, code, url, 120.0) is None:
                raise RuntimeError("%s gave no redirect:\n%s" % (server.name, server.log_tail()))
            wait_verified(server, 300.0)
        ready = denying.readyz()
        loaded = overlay_total(ready)
        if loaded != len(rows) or not ready["overlay"]["in_force"]:
            raise RuntimeError("the overlay server holds %d entries (in force: %s), expected %d"
                               % (loaded, ready["overlay"].get("in_force"), len(rows)))
        if plain.readyz().get("overlay"):
            raise RuntimeError("the plain server has an overlay")
        wrong = []
        for server in servers:
            for code, url in sample.items():
                status, location = get_once(server.port, "/" + code)
                if status != 301 or location != url:
                    wrong.append((server.name, code, status, location))
            for code in blocked[:20]:
                status, _ = get_once(server.port, "/" + code)
                if status != (410 if server is denying else 301):
                    wrong.append((server.name, code, status))
        if wrong:
            raise RuntimeError("wrong answers: %s" % wrong[:5])
        result["cpu"] = {"overlay_entries": loaded, "overlay_kinds": ready["overlay"],
                         "requested_codes": len(requested)}
        for index in range(args.cpu_rounds):
            order = servers if index % 2 == 0 else list(reversed(servers))
            for server in order:
                figures = run_wrk(server, wrk_codes, args.duration, args.wrk_threads,
                                  args.connections)
                if not server.alive():
                    raise RuntimeError("%s died:\n%s" % (server.name, server.log_tail()))
                runs[server.name].append(figures)
                log("cpu round %d %-12s %8.0f req/s  %.3f us CPU/req  p99 %.0f us  errors %d  "
                    "steal %.1f%%" % (index + 1, server.name, figures["rps"],
                                      figures["cpu_us_per_req"], figures["p99_us"] or 0,
                                      figures["errors"], figures["steal_pct"]))
        if args.profile:
            result["cpu"]["profile"] = profile_deny_share(denying, wrk_codes, args, work_dir)
    finally:
        for server in servers:
            server.stop()
    result["cpu"]["runs"] = runs


# The request path's deny check: DenySet::blocks*/find and the entry hash (formats/deny.cpp).
DENY_SYMBOLS = ("DenySet::", "entry_tag")


def profile_deny_share(server, codes_file, args, work_dir):
    """One extra wrk run of the server under `perf record` (no call graphs); the share of its
    samples in the deny check. CPU time per request of two runs differs by 10% and more on this
    shared box, a sample share within one run does not: with a share s, the overlay costs about
    1 / (1 - s) of the plain path. Writes the report to args.profile; returns the share in %."""
    data = os.path.join(work_dir, "perf-deny.data")
    seconds = int(serve_run.wrk_init_s(codes_file, args.wrk_threads) + args.duration + 1)
    perf = subprocess.Popen(["perf", "record", "-F", "999", "-o", data, "-p",
                             str(server.proc.pid), "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        figures = run_wrk(server, codes_file, args.duration, args.wrk_threads, args.connections)
        perf.wait(timeout=60)
    finally:
        if perf.poll() is None:
            perf.terminate()
            perf.wait(timeout=10)
    report = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                             "--sort", "dso,symbol", "--percent-limit", "0"],
                            capture_output=True, text=True, timeout=300).stdout
    with open(args.profile, "w") as out:
        out.write(report)
    share, top = 0.0, []
    for line in report.splitlines():
        fields = line.split()
        if not fields or not fields[0].endswith("%") or line.lstrip().startswith("#"):
            continue
        pct = float(fields[0].rstrip("%"))
        if any(symbol in line for symbol in DENY_SYMBOLS):
            share += pct
            symbol = " ".join(f for f in fields[3:] if f != "-")
            top.append("%.2f%% %s" % (pct, symbol.replace("shortlink::formats::", "")[:80]))
    log("perf: %.2f%% of %s's samples in the deny check (%s); report in %s"
        % (share, server.name, "; ".join(top), args.profile))
    return {"deny_share_pct": share, "deny_symbols": top, "rps": figures["rps"],
            "steal_pct": figures["steal_pct"]}


def fmt(value, unit=""):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = "%.3g" % value if abs(value) < 100 else "%.0f" % value
    else:
        text = str(value)
    return text + unit


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def range_text(values, unit=" ms"):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    return "min %s max %s (±%.0f%%); %s" % (fmt(min(values), unit), fmt(max(values), unit),
                                           spread_pct(values),
                                           " ".join(fmt(v) for v in values))


def add_figure(rows, figure, ours, anchor="", anchor_value=None, ratio=None, target="",
               spread="", unit=""):
    """Appends one table row; the ratio is ours / anchor_value unless given."""
    if ratio is None and isinstance(ours, (int, float)) and anchor_value:
        ratio = ours / anchor_value
    rows.append({"figure": figure, "ours": ours, "anchor": anchor,
                 "anchor_value": anchor_value, "ratio": ratio, "target": target,
                 "spread": spread, "unit": unit})


def build_figures(result):
    """Rows of (figure, ours, anchor, anchor value, ratio, target, spread)."""
    rows = []
    row = functools.partial(add_figure, rows)

    block = result.get("block")
    if block:
        label = "%dM" % (block["links"] // 1_000_000) if block["links"] >= 1_000_000 else \
            "%dk" % (block["links"] // 1000)
        for key, title, rounds in (("rounds", "", block["rounds"]),
                                   ("swap_rounds", " during a swap", block["swap_rounds"])):
            if not rounds:
                continue
            first = [r["first_410_ms"] for r in rounds]
            row("block to first 410, %s links%s" % (label, title), median_or_none(first),
                "target", BLOCK_TARGET_MS, target="< 1 s", spread=range_text(first), unit=" ms")
            cli = [r["cli_exit_ms"] for r in rounds]
            row("  of which: CLI exit after", median_or_none(cli), spread=range_text(cli),
                unit=" ms")
            loaded = [r["overlay_loaded_ms"] for r in rounds]
            row("  of which: server logged overlay_loaded", median_or_none(loaded),
                spread=range_text(loaded), unit=" ms")
            row("  failed requests (wrk errors, %s requests)"
                % fmt(sum(r["requests"] for r in rounds)),
                sum(r["errors"] for r in rounds), target="0",
                spread="socket %d, non-2xx/3xx %d" % (sum(r["socket_errors"] for r in rounds),
                                                      sum(r["bad_status"] for r in rounds)))
            if key == "swap_rounds":
                row("  old snapshot still served at first 410",
                    "%d of %d" % (sum(1 for r in rounds if r["old_still_served"]), len(rounds)),
                    target="all")
                published = [r["swap_published_ms"] for r in rounds]
                row("  new snapshot published after its rename", median_or_none(published),
                    spread=range_text(published), unit=" ms")
    cpu = result.get("cpu")
    if cpu and cpu.get("runs"):
        plain, denying = cpu["runs"]["no-overlay"], cpu["runs"]["overlay-100k"]
        ratios = [d["cpu_us_per_req"] / p["cpu_us_per_req"] for p, d in zip(plain, denying)]
        row("CPU per request, %s-entry overlay" % fmt(cpu["overlay_entries"]),
            median_or_none([r["cpu_us_per_req"] for r in denying]), "no overlay",
            median_or_none([r["cpu_us_per_req"] for r in plain]), ratio=statistics.median(ratios),
            target="<= %.2fx" % CPU_TARGET_RATIO, unit=" us",
            spread="per-round ratios %s; overlay ±%.0f%% / none ±%.0f%%" % (
                " ".join("%.3f" % r for r in ratios),
                spread_pct([r["cpu_us_per_req"] for r in denying]),
                spread_pct([r["cpu_us_per_req"] for r in plain])))
        rps_ratios = [d["rps"] / p["rps"] for p, d in zip(plain, denying)]
        row("req/s, %s-entry overlay" % fmt(cpu["overlay_entries"]),
            median_or_none([r["rps"] for r in denying]), "no overlay",
            median_or_none([r["rps"] for r in plain]), ratio=statistics.median(rps_ratios),
            spread="per-round ratios %s" % " ".join("%.3f" % r for r in rps_ratios))
        row("  failed requests", sum(r["errors"] for r in plain + denying), target="0")
        profile = cpu.get("profile")
        if profile:
            share = profile["deny_share_pct"]
            row("  perf: its samples in the deny check (ratio 1/(1-s))", share,
                ratio=1.0 / (1.0 - share / 100.0), target="<= %.2fx" % CPU_TARGET_RATIO,
                unit="%", spread="; ".join(profile["deny_symbols"]))
    build = result.get("overlay_build")
    if build:
        row("overlay build, %s entries" % fmt(build["entries"]), median_or_none(build["ms"]),
            "1 entry", median_or_none(build["one_entry_ms"]), unit=" ms",
            spread="100k: %s / 1: %s" % (range_text(build["ms"]),
                                         range_text(build["one_entry_ms"])))
        row("overlay file size, %s entries" % fmt(build["entries"]), build["bytes"] / 1e6,
            unit=" MB", spread="%.1f bytes/entry (1 entry: %d bytes)"
            % (build["bytes"] / build["entries"], build["one_entry_bytes"]))
    return rows


def print_tables(result, out=sys.stdout):
    print("\nSafety-plane benchmark %s, commit %s: serve --threads %d, wrk -t%d -c%d, runs of %d s"
          % (result["date"], result["commit"], result["threads"], result["wrk_threads"],
             result["connections"], result["duration_s"]), file=out)
    print("%-52s %10s %-11s %12s %7s %-7s %s" % ("figure", "ours", "anchor", "anchor value",
                                                 "ratio", "target", "spread"), file=out)
    for r in result["figures"]:
        print("%-52s %10s %-11s %12s %7s %-7s %s" % (
            r["figure"], fmt(r["ours"], r["unit"]), r["anchor"],
            fmt(r["anchor_value"], r["unit"]) if r["anchor"] else "",
            ("%.3fx" % r["ratio"]) if r["ratio"] is not None else "", r["target"], r["spread"]),
            file=out)
    for note in result["notes"]:
        print("note: " + note, file=out)


def steal_notes(result):
    """Per-run CPU steal: above 5% a run measured the host more than the server."""
    steals = []
    block = result.get("block") or {}
    for key in ("rounds", "swap_rounds"):
        steals += [("%s %d" % (key, i + 1), r["steal_pct"]) for i, r in
                   enumerate(block.get(key, []))]
    for name, runs in ((result.get("cpu") or {}).get("runs") or {}).items():
        steals += [("%s run %d" % (name, i + 1), r["steal_pct"]) for i, r in enumerate(runs)]
    if not steals:
        return []
    noisy = [("%s %.1f%%" % s) for s in steals if s[1] > 5]
    return ["CPU steal per run: max %.1f%%%s" % (
        max(s[1] for s in steals),
        "; noisy (over 5%%, rerun): %s" % ", ".join(noisy) if noisy else "")]


def git_commit():
    try:
        head = subprocess.run(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO_DIR, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True).stdout
        return head + ("+dirty tree" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="100k links everywhere, short and few runs: about a minute")
    parser.add_argument("--large-links", type=int,
                        help="links for the block figure (default 10M; quick 100k)")
    parser.add_argument("--links", type=int,
                        help="links for the CPU and overlay-build figures (default 1M)")
    parser.add_argument("--rounds", type=int, help="block runs (default 5, quick 2)")
    parser.add_argument("--swap-rounds", type=int,
                        help="block runs during a snapshot swap (default 3, quick 1; 0 skips)")
    parser.add_argument("--cpu-rounds", type=int,
                        help="rounds of one run per server, order alternating (default 10, quick 1)")
    parser.add_argument("--overlay-runs", type=int, help="overlay builds of each set (default 5)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10, quick 4)")
    parser.add_argument("--block-at", type=float,
                        help="seconds into the load when the block is launched (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="serve --threads")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--bin", default=os.path.join(REPO_DIR, "build-bench", "cli", "shortlink"),
                        help="the shortlink binary (default build-bench/cli/shortlink)")
    parser.add_argument("--commit", help="commit the binary was built from, for the record "
                                         "(default: the repository's HEAD, flagged if dirty)")
    parser.add_argument("--skip-block", action="store_true", help="skip figure 1")
    parser.add_argument("--skip-cpu", action="store_true", help="skip figures 2 and 3")
    parser.add_argument("--rebuild-ours", action="store_true",
                        help="re-import and re-compile the cached databases and snapshots")
    parser.add_argument("--data-dir", default=os.path.join(BENCH_DIR, "data"))
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--profile", metavar="FILE",
                        help="one extra run of the overlay server under `perf record`: the share "
                             "of its samples in the deny check; the perf report goes to FILE")
    args = parser.parse_args()
    quick = args.quick
    args.large_links = args.large_links or (100_000 if quick else 10_000_000)
    args.links = args.links or (100_000 if quick else 1_000_000)
    args.rounds = args.rounds or (2 if quick else 5)
    if args.swap_rounds is None:
        args.swap_rounds = 1 if quick else 3
    args.cpu_rounds = args.cpu_rounds or (1 if quick else 10)
    args.overlay_runs = args.overlay_runs or (3 if quick else 5)
    args.duration = args.duration or (4 if quick else 10)
    args.block_at = args.block_at or (1.5 if quick else 2.0)
    if args.duration > MAX_DURATION_S:
        parser.error("wrk runs are bounded to %d s (BENCH.md)" % MAX_DURATION_S)
    if args.block_at + 1.0 > args.duration:
        parser.error("--block-at must leave at least 1 s of the run after the block")
    if args.links <= DENY_MIX["link"]:
        parser.error("--links must exceed the %d blocked links" % DENY_MIX["link"])
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
        "commit": args.commit or git_commit(), "binary": os.path.abspath(args.bin),
        "threads": args.threads, "wrk_threads": args.wrk_threads,
        "connections": args.connections, "duration_s": args.duration, "cpus": os.cpu_count(),
        "deny_mix": DENY_MIX, "builds": {}, "notes": [],
    }
    with open("/proc/loadavg") as loadavg:
        result["notes"].append("load average at start: " + " ".join(loadavg.read().split()[:3]))
    work_dir = tempfile.mkdtemp(prefix="safety-bench-", dir=args.data_dir)
    try:
        if not args.skip_block:
            figure_block(args, work_dir, result)
        if not args.skip_cpu:
            figure_cpu_and_build(args, work_dir, result)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    with open("/proc/loadavg") as loadavg:
        result["notes"].append("load average at the end: " + " ".join(loadavg.read().split()[:3]))
    result["notes"] += steal_notes(result)
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
