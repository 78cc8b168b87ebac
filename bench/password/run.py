#!/usr/bin/env python3
"""Password-check benchmark: how many password checks a second the pool does while redirects
keep their p99 (BENCH.md: a slow hash never stalls a redirect).

  bench/password/run.py --quick              # 100k links, 1 round of 4 s per mode
  bench/password/run.py --json out.json      # 1M links, 5 rounds of 10 s per mode

Each round runs one `shortlink serve` (--threads, --password-threads) on a snapshot of the
bench links plus one password link, twice, in alternating order:
  - redirects alone: wrk on random codes (keep-alive), for --duration seconds;
  - redirects with checks: the same wrk run while --posters connections each post the password
    form back to back (half wrong, half right; attempt limits off, so every post is checked).
With --load F (0 < F < 1), wrk does not saturate the server: a first unpaced run of redirects
alone measures its capacity, and every run after it paces each connection to F of that rate
(SHORTLINK_WRK_DELAY_MS, bench/serve/random_codes.lua), the way a production host runs with
headroom; without it, wrk saturates the server's worker and both cores.
Figures per mode: wrk's req/s and p50/p99 latency; with checks, the checks a second the pool
completed (shortlink_password_checks_total over the run) and 503s for a full queue. The result is
the median over rounds of the per-round ratio p99(with checks) / p99(alone), with its spread, and
the median checks a second. The server is stopped by PID after each run; its files live in a
temp dir under bench/data/ that is removed at the end.
"""
import argparse
import datetime
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(HERE)
REPO_DIR = os.path.dirname(BENCH_DIR)
SERVE_DIR = os.path.join(BENCH_DIR, "serve")
sys.path.insert(0, SERVE_DIR)

from servers import OursServer  # noqa: E402
from wrk import MAX_DURATION_S, WrkRun  # noqa: E402
from ours import prepare_ours  # noqa: E402

PASSWORD = "bench password"
CODE = "pw-bench"


def _load_serve_runner():
    """bench/serve/run.py under another module name (this file is `run` too)."""
    spec = importlib.util.spec_from_file_location("serve_run", os.path.join(SERVE_DIR, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve_run = _load_serve_runner()


def log(message):
    print("[password-bench %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


class PasswordServer(OursServer):
    def __init__(self, name, work_dir, threads, binary, snap_dir, trust, password_threads):
        super().__init__(name, work_dir, threads, binary, snap_dir, trust)
        self.password_threads = password_threads

    def command(self):
        return super().command() + [
            "--state-dir", os.path.join(self.dir, "state"),
            "--password-threads", str(self.password_threads), "--password-queue", "256",
            "--password-attempts", "0", "--password-link-attempts", "0"]

    def metric(self, name):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin_port, timeout=5) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
        raise RuntimeError("metric %s not found" % name)

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.admin_port, timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server not ready: %s" % self.log_tail())


class Poster(threading.Thread):
    """One keep-alive connection posting the form back to back until stopped. A 503 (the pool's
    queue is full) is honoured as a browser's visitor would: nothing is posted again until its
    Retry-After has passed. Posting again at once would measure how fast this process can be
    turned away, a load of its own on the redirect worker and on this machine's two cores."""

    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.statuses = {}

    def run(self):
        bodies = [("password=" + p.replace(" ", "+")).encode() for p in ("wrong guess", PASSWORD)]
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf, i = b"", 0
            while not self.stop.is_set():
                body = bodies[i % 2]
                i += 1
                sock.sendall(b"POST /%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (CODE.encode(), len(body), body))
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                status = int(head.split(b" ", 2)[1])
                length, retry_after = 0, 1
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                    elif name.strip().lower() == b"retry-after":
                        retry_after = int(value)
                while len(buf) < length:
                    buf += sock.recv(65536)
                buf = buf[length:]
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if status == 503:
                    self.stop.wait(retry_after)


def prepare(args, work_dir):
    data_dir, _ = serve_run.ensure_data(args.links, args.data_dir, args.seed)
    ours = prepare_ours(args.bin, data_dir, args.rebuild_ours, log)
    db = os.path.join(work_dir, "links.db")
    for suffix in ("", "-wal"):
        if os.path.exists(ours["db"] + suffix):
            shutil.copyfile(ours["db"] + suffix, db + suffix)
    pw = os.path.join(work_dir, "pw.txt")
    with open(pw, "w") as f:
        f.write(PASSWORD + "\n")
    snap_dir = os.path.join(work_dir, "snapshots")
    os.makedirs(snap_dir)
    for command in (["add", "https://bench.example/protected", "--code", CODE, "--password-file", pw],
                    ["compile", "--key", ours["secret_key"], "--out", snap_dir]):
        subprocess.run([args.bin, "--db", db] + command, check=True, capture_output=True, timeout=1800)
    return data_dir, snap_dir, ours["public_key"]


def one_run(args, work_dir, snap_dir, trust, codes_file, with_checks, index):
    server = PasswordServer("run-%d-%s" % (index, "checks" if with_checks else "alone"), work_dir,
                            args.threads, args.bin, snap_dir, trust, args.password_threads)
    server.start()
    try:
        server.wait_ready()
        stop = threading.Event()
        posters = [Poster(server.port, stop) for _ in range(args.posters if with_checks else 0)]
        checks_before = sum(server.metric('shortlink_password_checks_total{result="%s"}' % r) for r in ("ok", "failed"))
        busy_before = server.metric('shortlink_password_refused_total{reason="busy"}')
        for p in posters:
            p.start()
        started = time.monotonic()
        result = WrkRun(server, codes_file, args.duration, args.wrk_threads, args.connections).start().wait()
        elapsed = time.monotonic() - started
        checks = sum(server.metric('shortlink_password_checks_total{result="%s"}' % r) for r in ("ok", "failed"))
        result["checks_per_s"] = (checks - checks_before) / elapsed
        result["busy_503"] = server.metric('shortlink_password_refused_total{reason="busy"}') - busy_before
        stop.set()
        for p in posters:
            p.join(timeout=30)
        result["post_statuses"] = {}
        for p in posters:
            for status, n in p.statuses.items():
                result["post_statuses"][status] = result["post_statuses"].get(status, 0) + n
        return result
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k links, 1 round of 4 s per mode")
    parser.add_argument("--links", type=int, help="bench links (default 1M, quick 100k)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 1)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10, quick 4)")
    parser.add_argument("--threads", type=int, default=1, help="serve --threads")
    parser.add_argument("--password-threads", type=int, default=2, help="serve --password-threads")
    parser.add_argument("--posters", type=int, default=8, help="connections posting the form")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--load", type=float, help="pace redirects to this share of the measured capacity (0..1)")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--bin", default=os.path.join(REPO_DIR, "build-bench", "cli", "shortlink"))
    parser.add_argument("--rebuild-ours", action="store_true")
    parser.add_argument("--data-dir", default=os.path.join(BENCH_DIR, "data"))
    parser.add_argument("--json", help="write the results as JSON to this file")
    args = parser.parse_args()
    args.links = args.links or (100_000 if args.quick else 1_000_000)
    args.rounds = args.rounds or (1 if args.quick else 5)
    args.duration = args.duration or (4 if args.quick else 10)
    if args.load is not None and not 0 < args.load < 1:
        parser.error("--load is a share of capacity, between 0 and 1")
    if args.duration > MAX_DURATION_S:
        parser.error("wrk runs are bounded to %d s (BENCH.md)" % MAX_DURATION_S)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if not os.access(args.bin, os.X_OK):
        sys.exit("no shortlink binary at %s (see bench/README.md, or pass --bin)" % args.bin)
    os.makedirs(args.data_dir, exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix="password-bench-", dir=args.data_dir)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "binary": os.path.abspath(args.bin), "links": args.links, "threads": args.threads,
              "password_threads": args.password_threads, "posters": args.posters,
              "duration_s": args.duration, "cpus": os.cpu_count(), "load": args.load, "rounds": []}
    try:
        data_dir, snap_dir, trust = prepare(args, work_dir)
        codes_file = os.path.join(data_dir, "codes.txt")
        if args.load is not None:
            capacity = one_run(args, work_dir, snap_dir, trust, codes_file, False, -1)["rps"]
            # Each connection's pace: its share of the rate, less nothing for the answer's own
            # time (microseconds against milliseconds).
            delay_ms = max(1, round(args.connections * 1000 / (capacity * args.load)))
            os.environ["SHORTLINK_WRK_DELAY_MS"] = str(delay_ms)
            result["capacity_rps"] = capacity
            result["delay_ms"] = delay_ms
            log("capacity %.0f req/s; pacing %d connections at %d ms (%.0f req/s)" % (
                capacity, args.connections, delay_ms, args.connections * 1000 / delay_ms))
        for r in range(args.rounds):
            order = [False, True] if r % 2 == 0 else [True, False]
            runs = {}
            for with_checks in order:
                runs["checks" if with_checks else "alone"] = one_run(args, work_dir, snap_dir, trust, codes_file,
                                                                     with_checks, r)
            runs["p99_ratio"] = runs["checks"]["p99_us"] / runs["alone"]["p99_us"]
            log("round %d: p99 %.0f us alone, %.0f us with %.1f checks/s (ratio %.2f)" % (
                r + 1, runs["alone"]["p99_us"], runs["checks"]["p99_us"], runs["checks"]["checks_per_s"],
                runs["p99_ratio"]))
            result["rounds"].append(runs)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    ratios = [r["p99_ratio"] for r in result["rounds"]]
    result["p99_ratio_median"] = statistics.median(ratios)
    result["p99_ratio_spread"] = [min(ratios), max(ratios)]
    result["checks_per_s_median"] = statistics.median(r["checks"]["checks_per_s"] for r in result["rounds"])
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
