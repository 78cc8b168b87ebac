#!/usr/bin/env python3
"""Click logging benchmark (BENCH.md: "CPU per request with click logging on"): the same
`shortlink serve` with and without --clicks, and nginx map as the load anchor, in one run.

Every server answers the same random codes over keep-alive connections (bench/serve's wrk
script) with a browser's headers (User-Agent, Referer, Accept-Language, Client Hints), so the
click writer classifies what a real visit sends. Rounds alternate the order of the servers.
Reported, from one run:

  - at full speed (wrk, closed loop): req/s of each and the events dropped there, where the
    server has no idle time left and the writer, which only uses idle time, falls behind;
  - at the load nginx map sustains (its median req/s of the full-speed rounds, or --fixed-rate,
    offered at a fixed rate by h2load, open loop): CPU per request with clicks on / off (target at
    most 1.05x), p99 on / off (at most 1.05x), each the median of the rounds' ratios, and the
    events dropped (target 0). On a two-core box h2load may not reach nginx's rate: the rounds
    print the rate achieved, and --fixed-rate sets one both servers get;
  - compressed bytes per event on disk.

CPU per request is compared at a fixed rate because at full speed a writer starved of idle time
does less than its work, which would flatter clicks on.

Usage: bench/clicks/run.py [--links N] [--runs R] [--duration S] [--pin 1:0] [--json FILE]
Load runs are bounded (at most 10 s each) and only touch 127.0.0.1. Needs wrk and h2load
(Debian: wrk, nghttp2-client).
"""
import argparse
import datetime
import json
import os
import shutil
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "serve"))

import servers as servers_module  # noqa: E402
import wrk as wrk_module  # noqa: E402
from ours import prepare_ours  # noqa: E402
from run import ensure_data, expected_urls, load_codes, start_measured, wait_verified  # noqa: E402
from servers import NginxServer, OursServer, cpu_seconds  # noqa: E402
from wrk import WrkRun  # noqa: E402

BROWSER_HEADERS = [
    "User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Referer: https://news.example.org/articles/spring-campaign",
    "Accept-Language: de-DE,de;q=0.9,en;q=0.8",
    "Sec-CH-UA-Mobile: ?1",
    'Sec-CH-UA-Platform: "Android"',
]


def log(message):
    print("[clicks-bench] " + message, file=sys.stderr, flush=True)


class OursClicks(OursServer):
    def __init__(self, name, work_dir, threads, binary, snap_dir, trust, clicks_dir):
        super().__init__(name, work_dir, threads, binary, snap_dir, trust)
        self.clicks_dir = clicks_dir

    def command(self):
        return super().command() + ["--clicks", self.clicks_dir]


def run_wrk(server, codes_file, duration, threads, connections):
    run = WrkRun(server, codes_file, duration, threads, connections)
    at = run.cmd.index("--latency")
    for header in BROWSER_HEADERS:
        run.cmd[at:at] = ["-H", header]
    return run.start().wait()


def h2load_paths(codes, path, count, seed):
    """A file of `count` random request paths for h2load -i (it cycles through them)."""
    rng = random.Random(seed)
    with open(path, "w") as out:
        for _ in range(count):
            out.write("/" + rng.choice(codes) + "\n")
    return path


def run_fixed_rate(server, paths_file, rate, duration, connections, log_file):
    """`rate` requests per second for `duration` seconds from h2load (open loop: requests leave on
    its clock, not when answers come back). Returns achieved req/s, p99 from h2load's per-request
    log, the server's CPU per request and failures."""
    per_client = max(1, round(rate / connections))
    cmd = ["h2load", "--h1", "-t", "1", "-c", str(connections), "--rps", str(per_client),
           "-D", str(duration), "-i", paths_file, "-B", "http://127.0.0.1:%d" % server.port,
           "--log-file", log_file]
    for header in BROWSER_HEADERS:
        cmd += ["-H", header]
    if wrk_module.PIN_CPUS is not None:
        cmd = ["taskset", "-c", wrk_module.PIN_CPUS] + cmd
    cpu_before = cpu_seconds(server.pids())
    started = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=duration + 60)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(server.pids()) - cpu_before
    if proc.returncode != 0:
        raise RuntimeError("h2load failed (%d):\n%s" % (proc.returncode, proc.stdout))
    latencies = []
    failed = 0
    with open(log_file) as rows:
        for row in rows:
            fields = row.split("\t")
            if len(fields) < 3:
                continue
            if not fields[1].startswith("30"):
                failed += 1
            latencies.append(int(fields[2]))
    os.unlink(log_file)
    if not latencies:
        raise RuntimeError("h2load logged no request:\n" + proc.stdout)
    latencies.sort()
    return {"offered_rps": per_client * connections, "rps": len(latencies) / elapsed,
            "requests": len(latencies), "p99_us": latencies[int(0.99 * (len(latencies) - 1))],
            "server_cpu_s": cpu, "cpu_us_per_req": cpu * 1e6 / len(latencies), "errors": failed}


def dropped(m):
    return (m.get('shortlink_clicks_dropped_total{reason="buffer_full"}', 0)
            + m.get('shortlink_clicks_dropped_total{reason="write_error"}', 0))


def metrics(server):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.admin_port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def answered(m):
    return sum(v for k, v in m.items() if k.startswith("shortlink_requests_total{"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--links", type=int, default=1000000)
    parser.add_argument("--keys", choices=["random", "package"], default="package")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pin", metavar="SERVER_CPUS:WRK_CPUS")
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                       "build-rel", "cli", "shortlink"))
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(HERE), "data"))
    parser.add_argument("--rebuild-ours", action="store_true",
                        help="re-import and re-compile ours' database and snapshot")
    parser.add_argument("--fixed-rate", type=float,
                        help="req/s offered in the fixed-rate rounds (default: nginx map's median at "
                             "full speed); pick one h2load reaches on this machine, see the achieved rates")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.pin:
        servers_module.PIN_CPUS, wrk_module.PIN_CPUS = args.pin.split(":")

    os.makedirs(args.data_dir, exist_ok=True)
    data_dir, _ = ensure_data(args.links, args.data_dir, args.seed, args.keys)
    codes_file = os.path.join(data_dir, "codes.txt")
    codes = load_codes(data_dir)
    probe_code = codes[1]
    probe_url = expected_urls(data_dir, [probe_code])[probe_code]
    ours = prepare_ours(args.bin, data_dir, args.rebuild_ours, log)

    work_dir = tempfile.mkdtemp(prefix="clicks-bench-", dir=args.data_dir)
    clicks_dir = os.path.join(work_dir, "clicks")
    os.makedirs(clicks_dir)
    servers = [
        NginxServer("nginx-map", work_dir, args.threads, os.path.join(data_dir, "nginx.map")),
        OursServer("ours", work_dir, args.threads, args.bin, ours["snap_dir"], ours["public_key"]),
        OursClicks("ours-clicks", work_dir, args.threads, args.bin, ours["snap_dir"],
                   ours["public_key"], clicks_dir),
    ]
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "links": args.links, "keys": args.keys, "pin": args.pin, "runs": {},
              "connections": args.connections, "duration_s": args.duration}
    with open("/proc/loadavg") as loadavg:
        result["load_average_at_start"] = loadavg.read().split()[:3]
    try:
        for server in servers:
            start_measured(server, probe_code, probe_url, 120.0)
            if server.kind == "ours":
                wait_verified(server, 120.0)
        clicks_server = servers[2]
        before = metrics(clicks_server)
        for round_index in range(args.runs):
            order = servers if round_index % 2 == 0 else list(reversed(servers))
            for server in order:
                figures = run_wrk(server, codes_file, args.duration, args.wrk_threads, args.connections)
                result["runs"].setdefault(server.name, []).append(figures)
                log("round %d %-12s %9.0f req/s  p99 %6.0f us  %.2f us CPU/req  errors %d"
                    % (round_index + 1, server.name, figures["rps"], figures["p99_us"] or 0,
                       figures["cpu_us_per_req"] or 0, figures["errors"]))
        full_speed = metrics(clicks_server)
        result["dropped_full_speed"] = dropped(full_speed) - dropped(before)

        # The same two servers at the load nginx map sustained, offered at a fixed rate.
        rate = args.fixed_rate or statistics.median(r["rps"] for r in result["runs"]["nginx-map"])
        result["fixed_rate"] = {"rate": rate, "runs": {}, "dropped": 0}
        paths_file = h2load_paths(codes, os.path.join(work_dir, "paths.txt"), 200000, args.seed)
        time.sleep(2)  # the writer catches up on what full speed left in its buffers
        for round_index in range(args.runs):
            pair = servers[1:] if round_index % 2 == 0 else list(reversed(servers[1:]))
            for server in pair:
                m_before = metrics(clicks_server)
                figures = run_fixed_rate(server, paths_file, rate, args.duration, args.connections,
                                         os.path.join(work_dir, "h2load.log"))
                if server is clicks_server:
                    time.sleep(0.2)  # two drain intervals: what was answered is recorded or dropped
                    result["fixed_rate"]["dropped"] += dropped(metrics(clicks_server)) - dropped(m_before)
                result["fixed_rate"]["runs"].setdefault(server.name, []).append(figures)
                log("fixed %d %-12s %9.0f req/s  p99 %6.0f us  %.2f us CPU/req  errors %d"
                    % (round_index + 1, server.name, figures["rps"], figures["p99_us"],
                       figures["cpu_us_per_req"], figures["errors"]))
        # SIGTERM drains and seals: every recorded event is on disk before the figures are read.
        after = metrics(clicks_server)
        clicks_server.stop()
        disk = sum(os.path.getsize(os.path.join(clicks_dir, f)) for f in os.listdir(clicks_dir)
                   if ".slclicks" in f)
        recorded = after.get("shortlink_clicks_recorded_total", 0) - before.get("shortlink_clicks_recorded_total", 0)
        result["clicks"] = {
            "answered": answered(after) - answered(before),
            "recorded_at_last_scrape": recorded,
            "dropped_buffer_full": after.get('shortlink_clicks_dropped_total{reason="buffer_full"}', 0),
            "dropped_write_error": after.get('shortlink_clicks_dropped_total{reason="write_error"}', 0),
            "segment_bytes_on_disk": disk,
        }
    finally:
        for server in servers:
            server.stop()

    def med(name, key, runs=None):
        return statistics.median(r[key] for r in (runs or result["runs"])[name])

    fixed = result["fixed_rate"]["runs"]
    c = result["clicks"]

    def paired(key):
        # Each round's on/off ratio (the two ran back to back), then the median: the box's speed
        # drifts between rounds more than click logging costs.
        return statistics.median(on[key] / off[key] for on, off in zip(fixed["ours-clicks"], fixed["ours"]))

    result["figures"] = {
        "cpu_per_req_on_off": paired("cpu_us_per_req"),
        "p99_on_off": paired("p99_us"),
        "dropped_at_nginx_load": result["fixed_rate"]["dropped"],
        "rps_on_off_full_speed": med("ours-clicks", "rps") / med("ours", "rps"),
        "rps_clicks_vs_nginx_map_full_speed": med("ours-clicks", "rps") / med("nginx-map", "rps"),
        "dropped_full_speed": result["dropped_full_speed"],
        "bytes_per_event": c["segment_bytes_on_disk"] / max(1.0, c["recorded_at_last_scrape"]),
    }
    shutil.rmtree(work_dir, ignore_errors=True)
    f = result["figures"]
    print("at a fixed %.0f req/s offered (%s)   value      target"
          % (result["fixed_rate"]["rate"], "--fixed-rate" if args.fixed_rate else "nginx map's load"))
    print("  CPU/request clicks on/off                %.3fx     <= 1.05x" % f["cpu_per_req_on_off"])
    print("  p99 clicks on/off                        %.3fx     <= 1.05x" % f["p99_on_off"])
    print("  events dropped                           %d         0" % f["dropped_at_nginx_load"])
    print("at full speed")
    print("  req/s clicks on/off                      %.3fx" % f["rps_on_off_full_speed"])
    print("  req/s clicks on / nginx map              %.3fx" % f["rps_clicks_vs_nginx_map_full_speed"])
    print("  events dropped (no idle time left)       %d" % f["dropped_full_speed"])
    print("bytes per event on disk                    %.1f" % f["bytes_per_event"])
    for name in result["runs"]:
        print("%-12s full speed %9.0f req/s  p99 %6.0f us  %.2f us CPU/req"
              % (name, med(name, "rps"), med(name, "p99_us"), med(name, "cpu_us_per_req")))
    for name in fixed:
        print("%-12s fixed rate %9.0f req/s  p99 %6.0f us  %.2f us CPU/req"
              % (name, med(name, "rps", fixed), med(name, "p99_us", fixed), med(name, "cpu_us_per_req", fixed)))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
