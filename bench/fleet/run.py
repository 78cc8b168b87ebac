#!/usr/bin/env python3
"""Fleet benchmark: how fast and how cheaply a change travels from `publish` to a pulling host.

Not a ratio benchmark: there is no anchor a user would run side by side (the figures are absolute
times and bytes on this shared machine, against the fleet targets of BENCH.md: publish to served
under 5 s, a block under 2 s, an idle pulling host near 0% CPU).

  nice bench/fleet/run.py                         # 1M links (the default)
  nice bench/fleet/run.py --links 1000000 --links 10000000 --json out.json

Setup per link count: the links of bench/gen_links.py imported into a database (cached in
bench/data/<N>/ours/ by bench/serve), a private copy of it, a compile into a build directory,
`publish --from build --out origin`, Debian's nginx serving the origin on 127.0.0.1 with the
server block of docs/origin.md, and one `shortlink serve --pull` host with its defaults
(--pull-interval 1, --pull-snapshot-interval 2) and its own snapshot and state directories, all in
a temp dir under bench/data/, stopped by PID and removed at the end.

Figures (each change in --rounds rounds; medians with every value):
 1. Publish to served: milliseconds from the index being written (its mtime, as the last step of
    `compile|overlay --publish ORIGIN`) to the host answering the change, a probe asking for the
    changed code every 5 ms: a full snapshot (one link edited, `compile --publish`), the same
    with `--zstd`, a patch (`compile --patch --publish`) and a block (`block link` then
    `overlay --publish`, answered 410). Snapshot rounds are 6 s apart, beyond the snapshot
    interval, so they measure the transfer and not the wait. The command's own wall time is
    reported beside (compile and publish, not part of the figure).
 2. Bytes pulled per change: the host's shortlink_pull_received_bytes_total across the change
    (the index and every body), for each kind of change above.
 3. Idle CPU: utime+stime of the pulling host over --idle-seconds with nothing published (every
    poll a 304), from /proc/PID/stat, as a share of one core.
 4. Upgrade: SIGUSR2 to the host; milliseconds until /readyz reports the new pid and the new
    process answers a code correctly.
"""
import argparse
import datetime
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(HERE)
REPO_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(BENCH_DIR, "serve"))

from ours import prepare_ours  # noqa: E402
from servers import free_port, get_once  # noqa: E402


def _load_module(name, path):
    """A benchmark's run.py under another module name (every runner is `run`)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


safety = _load_module("safety_run", os.path.join(BENCH_DIR, "safety", "run.py"))
serve_run = safety.serve_run

PROBE_POLL_S = 0.005
CHANGE_TIMEOUT_S = 60.0
SNAPSHOT_SPACING_S = 6.0  # beyond serve's default --pull-snapshot-interval (2 s) with room to spare


def log(message):
    print("[fleet-bench %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


class Nginx:
    """nginx in the foreground on a free 127.0.0.1 port, serving `root` with docs/origin.md's block."""

    def __init__(self, work_dir, root):
        with open(os.path.join(REPO_DIR, "docs", "origin.md"), encoding="utf-8") as f:
            block = re.search(r"```nginx\n(.*?)```", f.read(), re.S).group(1)
        self.port = free_port()
        self.dir = os.path.join(work_dir, "nginx")
        os.makedirs(os.path.join(self.dir, "tmp"))
        block = block.replace("listen 80;", "listen 127.0.0.1:%d;" % self.port).replace("/srv/shortlink-origin", root)
        temp = "".join("    %s_temp_path %s/tmp;\n" % (k, self.dir) for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
                    "events { worker_connections 256; }\nhttp {\n    access_log off;\n%s%s\n}\n"
                    % (self.dir, self.dir, temp, block))
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"), "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: get_once(self.port, "/")[0] is not None, 10, "nginx to listen")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


class Host:
    """`shortlink serve --pull` with its own snapshot and state directories."""

    def __init__(self, binary, work_dir, origin_url, public_key):
        self.dir = os.path.join(work_dir, "host")
        os.makedirs(os.path.join(self.dir, "snaps"))
        self.port, self.admin_port = free_port(), free_port()
        self.log = open(os.path.join(self.dir, "serve.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--snapshots", os.path.join(self.dir, "snaps"), "--state-dir",
             os.path.join(self.dir, "state"), "--trust", public_key, "--pull", origin_url, "--threads", "1",
             "--listen", "127.0.0.1:%d" % self.port, "--admin", "127.0.0.1:%d" % self.admin_port],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.pid = self.proc.pid

    def admin(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.admin_port, path), timeout=2) as r:
                return r.read().decode()
        except urllib.error.HTTPError as error:
            return error.read().decode()
        except OSError:
            return ""

    def metric(self, name):
        for line in self.admin("/metrics").splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def last_pulled(self):
        """Unix time of the last file the host pulled into its directory (its "pulled" log line)."""
        last = None
        with open(self.log.name, errors="replace") as lines:
            for line in lines:
                if '"event":"pulled"' in line:
                    stamp = json.loads(line)["ts"]
                    last = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                        tzinfo=datetime.timezone.utc).timestamp()
        return last

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.exists("/proc/%d" % self.pid):
            time.sleep(0.1)  # an upgraded process is not our child
        self.log.close()


def wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(PROBE_POLL_S)
    raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout_s, what))


def answers(host, code, status, location=None):
    got_status, got_location = get_once(host.port, "/" + code, timeout=0.5)
    return got_status == status and (location is None or got_location == location)


def timed_change(host, index_path, command, code, status, location, what):
    """Runs `command` (which publishes), then waits for the host to answer the change. Returns
    (ms from the index written to served, command seconds, bytes the host received, ms from the
    index written to the last file pulled into the host's directory)."""
    received = host.metric("shortlink_pull_received_bytes_total")
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, text=True)
    command_s = time.monotonic() - started
    written_wall = os.stat(index_path).st_mtime_ns / 1e9
    wait_for(lambda: answers(host, code, status, location), CHANGE_TIMEOUT_S, what)
    served_ms = (time.time() - written_wall) * 1000
    time.sleep(1.5)  # the index poll and any file still arriving are counted too
    pulled_ms = (host.last_pulled() - written_wall) * 1000
    return served_ms, command_s, host.metric("shortlink_pull_received_bytes_total") - received, pulled_ms


def run_links(args, count, result):
    data_dir, _ = serve_run.ensure_data(count, os.path.join(BENCH_DIR, "data"), args.seed)
    ours = prepare_ours(args.binary, data_dir, False, log)
    codes = serve_run.load_codes(data_dir)
    work = tempfile.mkdtemp(prefix="fleet-", dir=os.path.join(BENCH_DIR, "data"))
    nginx = host = None
    figures = {"links": count, "snapshot_bytes": ours["snapshot_bytes"], "changes": {}}
    try:
        db = safety.copy_db(ours["db"], os.path.join(work, "links.db"))
        key, pub = ours["secret_key"], ours["public_key"]
        build, origin = os.path.join(work, "build"), os.path.join(work, "origin")
        cli = [args.binary, "--db", db]
        fold = safety.default_domain_folds(db)
        log("%d links: compile and publish the starting point" % count)
        subprocess.run(cli + ["compile", "--key", key, "--out", build, "--publish", origin], check=True,
                       capture_output=True)
        nginx = Nginx(work, origin)
        host = Host(args.binary, work, "http://127.0.0.1:%d/" % nginx.port, pub)
        started = time.monotonic()
        wait_for(lambda: answers(host, codes[0], 301), 600, "the host's first snapshot")
        figures["first_pull_s"] = time.monotonic() - started
        index = os.path.join(origin, "index-stable.slindex")
        changes = figures["changes"]

        def record(kind, served_ms, command_s, received, pulled_ms):
            entry = changes.setdefault(kind, {"served_ms": [], "pulled_ms": [], "command_s": [], "received_bytes": []})
            entry["served_ms"].append(round(served_ms, 1))
            entry["pulled_ms"].append(round(pulled_ms, 1))
            entry["command_s"].append(round(command_s, 2))
            entry["received_bytes"].append(int(received))
            log("%s: pulled %.0f ms and served %.0f ms after the index, command %.1f s, %d bytes pulled"
                % (kind, pulled_ms, served_ms, command_s, received))

        n = 0
        for zstd in (False, True):
            kind = "snapshot" + (" zstd" if zstd else "")
            for _ in range(args.rounds):
                n += 1
                code, url = codes[n], "https://fleet.example/snapshot/%d" % n
                subprocess.run(cli + ["edit", code, "--url", url], check=True, capture_output=True)
                time.sleep(SNAPSHOT_SPACING_S)
                record(kind, *timed_change(host, index, cli + ["compile", "--key", key, "--out", build, "--publish",
                                                               origin] + (["--zstd"] if zstd else []),
                                           code, 301, url, kind))
        for _ in range(args.rounds):
            n += 1
            code, url = codes[n], "https://fleet.example/patch/%d" % n
            subprocess.run(cli + ["edit", code, "--url", url], check=True, capture_output=True)
            record("patch", *timed_change(host, index, cli + ["compile", "--key", key, "--out", build, "--patch",
                                                              "--publish", origin], code, 301, url, "a patch"))
        for _ in range(args.rounds):
            n += 1
            code = codes[n]
            subprocess.run(cli + ["block", "link", code.lower() if fold else code], check=True, capture_output=True)
            record("block", *timed_change(host, index, cli + ["overlay", "--key", key, "--out", build, "--publish",
                                                              origin], code, 410, None, "a block"))
        # Idle: nothing published; every poll is a 304.
        time.sleep(2)
        before_cpu, before_wall = host.cpu_seconds(), time.monotonic()
        polls = host.metric("shortlink_pull_polls_total")
        time.sleep(args.idle_seconds)
        cpu = host.cpu_seconds() - before_cpu
        wall = time.monotonic() - before_wall
        figures["idle"] = {"seconds": round(wall, 1), "cpu_s": round(cpu, 3), "cpu_pct": round(100 * cpu / wall, 3),
                           "polls": int(host.metric("shortlink_pull_polls_total") - polls)}
        log("idle: %.3f s CPU over %.0f s (%.3f%% of a core), %d polls"
            % (cpu, wall, figures["idle"]["cpu_pct"], figures["idle"]["polls"]))
        # Upgrade: SIGUSR2, until the new process reports itself and answers.
        upgrades = []
        probe_code = codes[0]
        for _ in range(args.rounds):
            old = host.pid
            started = time.monotonic()
            os.kill(old, signal.SIGUSR2)

            def upgraded():
                try:
                    pid = json.loads(host.admin("/readyz") or "{}").get("pid")
                except ValueError:
                    return False
                if pid and pid != old and answers(host, probe_code, 301):
                    host.pid = pid
                    return True
                return False
            done = wait_for(upgraded, 60, "the upgraded process")
            upgrades.append(round((done - started) * 1000, 1))
            wait_for(lambda: not os.path.exists("/proc/%d/stat" % old) or _zombie(old), 30, "the old process to exit")
            log("upgrade: %.0f ms" % upgrades[-1])
            time.sleep(1)
        figures["upgrade_ms"] = upgrades
    finally:
        if host:
            host.stop()
        if nginx:
            nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    result["runs"].append(figures)


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def median_text(values, unit):
    if not values:
        return "-"
    return "%s%s (%s)" % (_num(statistics.median(values)), unit, ", ".join(_num(v) for v in values))


def _num(v):
    return "%.0f" % v if abs(v) >= 100 else "%.2f" % v


def print_tables(result, out=sys.stdout):
    for run in result["runs"]:
        print("\n%d links (snapshot %.1f MB; first pull %.1f s)" % (run["links"], run["snapshot_bytes"] / 1e6,
                                                                  run["first_pull_s"]), file=out)
        print("| change | index written to served, median (each) | of which to the file in place | bytes pulled, median "
              "| command wall s |", file=out)
        print("|---|---|---|---|---|", file=out)
        for kind, entry in run["changes"].items():
            print("| %s | %s | %s | %d | %s |" % (kind, median_text(entry["served_ms"], " ms"),
                                                 median_text(entry["pulled_ms"], " ms"),
                                                 statistics.median(entry["received_bytes"]),
                                                 median_text(entry["command_s"], "")), file=out)
        idle = run["idle"]
        print("| idle host | %.3f s CPU over %.0f s = %.3f%% of a core, %d polls (304) | | | |"
              % (idle["cpu_s"], idle["seconds"], idle["cpu_pct"], idle["polls"]), file=out)
        print("| upgrade (SIGUSR2 to the new pid answering) | %s | | | |" % median_text(run["upgrade_ms"], " ms"),
              file=out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--links", type=int, action="append", help="link count (repeatable; default 1000000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--binary", default=os.path.join(REPO_DIR, "build", "cli", "shortlink"))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    args.binary = os.path.abspath(args.binary)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": safety.git_commit(), "runs": []}
    for count in args.links or [1000000]:
        run_links(args, count, result)
    print_tables(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
