#!/usr/bin/env python3
"""Click logging benchmark (BENCH.md: "CPU per request with click logging on"): the same
`shortlink serve` with and without --clicks, and nginx map as the load anchor, in one run.

Every server answers the same random codes over keep-alive connections (bench/serve's wrk
script) with a browser's headers (User-Agent, Referer, Accept-Language, Client Hints), so the
click writer classifies what a real visit sends. Rounds alternate the order of the servers.
Reported, from one run:

  - CPU per request with clicks on / off (target at most 1.05x), p99 on / off (at most 1.05x),
    req/s of each;
  - events dropped (buffer full or write errors) at full speed, which is above the load nginx
    map sustains in the same run (target 0);
  - events recorded against requests answered, and compressed bytes per event on disk.

Usage: bench/clicks/run.py [--links N] [--runs R] [--duration S] [--pin 1:0] [--json FILE]
Load runs are bounded (wrk -d at most 10 s) and only touch 127.0.0.1.
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "serve"))

import servers as servers_module  # noqa: E402
import wrk as wrk_module  # noqa: E402
from ours import prepare_ours  # noqa: E402
from run import ensure_data, expected_urls, load_codes, start_measured, wait_verified  # noqa: E402
from servers import NginxServer, OursServer  # noqa: E402
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
        # SIGTERM drains and seals: every recorded event is on disk before the figures are read.
        after = metrics(clicks_server)
        clicks_server.stop()
        disk = sum(os.path.getsize(os.path.join(clicks_dir, f)) for f in os.listdir(clicks_dir)
                   if ".slclicks" in f)
        recorded = after.get("shortlink_clicks_recorded_total", 0) - before.get("shortlink_clicks_recorded_total", 0)
        answered_n = answered(after) - answered(before)
        result["clicks"] = {
            "answered": answered_n,
            "recorded_at_last_scrape": recorded,
            "dropped_buffer_full": after.get('shortlink_clicks_dropped_total{reason="buffer_full"}', 0),
            "dropped_write_error": after.get('shortlink_clicks_dropped_total{reason="write_error"}', 0),
            "segment_bytes_on_disk": disk,
        }
    finally:
        for server in servers:
            server.stop()

    def med(name, key):
        return statistics.median(r[key] for r in result["runs"][name])

    c = result["clicks"]
    result["figures"] = {
        "cpu_per_req_on_off": med("ours-clicks", "cpu_us_per_req") / med("ours", "cpu_us_per_req"),
        "p99_on_off": med("ours-clicks", "p99_us") / med("ours", "p99_us"),
        "rps_on_off": med("ours-clicks", "rps") / med("ours", "rps"),
        "rps_clicks_vs_nginx_map": med("ours-clicks", "rps") / med("nginx-map", "rps"),
        "dropped": c["dropped_buffer_full"] + c["dropped_write_error"],
        "bytes_per_event": c["segment_bytes_on_disk"] / max(1.0, c["answered"]),
    }
    shutil.rmtree(work_dir, ignore_errors=True)
    print("figure                         value      target")
    f = result["figures"]
    print("CPU/request clicks on/off      %.3fx     <= 1.05x" % f["cpu_per_req_on_off"])
    print("p99 clicks on/off              %.3fx     <= 1.05x" % f["p99_on_off"])
    print("req/s clicks on/off            %.3fx" % f["rps_on_off"])
    print("req/s clicks on / nginx map    %.3fx     (>= 1: drops counted above nginx's load)"
          % f["rps_clicks_vs_nginx_map"])
    print("events dropped                 %d         0" % f["dropped"])
    print("bytes per event on disk        %.1f" % f["bytes_per_event"])
    for name in result["runs"]:
        print("%-12s median %9.0f req/s  p99 %6.0f us  %.2f us CPU/req"
              % (name, med(name, "rps"), med(name, "p99_us"), med(name, "cpu_us_per_req")))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
