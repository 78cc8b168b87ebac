#!/usr/bin/env python3
"""TLS serving benchmark: shortlink serve --tls-listen against nginx, same certificate and settings.

Ours against nginx (`listen ... ssl`, the map and `return 301` of bench/serve) on the same ECDSA
P-256 certificate, with the same protocols, ciphers, groups and session settings, in the same
run (BENCH.md).

  bench/tls/run.py --quick                 # 1 round of 3 s per figure and server: under a minute
  bench/tls/run.py --json out.json         # 3 rounds of 8 s: about 3 minutes
  bench/tls/run.py --check                 # start both, check answers and settings, no load

Three ways a client pays for TLS, each measured as req/s and server CPU per request
(utime+stime of every process of the server's tree, from /proc, over the run / requests):
  keep-alive  wrk over https, keep-alive connections, random codes (bench/serve/random_codes.lua)
  resumed     a new connection per request that resumes its session by ticket
              (`openssl s_time -reuse`, several in parallel)
  full        a new connection and a full handshake per request (`openssl s_time -new`)
Each server runs one worker (`serve --threads 1`, nginx `worker_processes 1`) pinned to one CPU
and every client process to the other (taskset, --pin). Runs alternate between the servers,
order reversed every other round; a figure's ratio is the median of the per-round ratios.
Servers run in the foreground on free 127.0.0.1 ports with their files in a temp dir under
bench/data/ and are stopped by PID.
"""
import argparse
import datetime
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(HERE)
REPO_DIR = os.path.dirname(BENCH_DIR)
SERVE_DIR = os.path.join(BENCH_DIR, "serve")
sys.path.insert(0, SERVE_DIR)

import servers  # noqa: E402
from servers import (KEEPALIVE_REQUESTS, OursServer, Server, cpu_counters, cpu_seconds,  # noqa: E402
                     free_port, steal_pct)
from wrk import LUA_SCRIPT, MAX_DURATION_S, parse_wrk  # noqa: E402
from ours import prepare_ours  # noqa: E402


def _load_serve_runner():
    """bench/serve/run.py under another module name (this file is `run` too)."""
    spec = importlib.util.spec_from_file_location("serve_run", os.path.join(SERVE_DIR, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve_run = _load_serve_runner()

MODES = ("keep-alive", "resumed", "full")
# The targets: req/s against nginx's in the same run.
TARGETS = {"keep-alive": 1.0, "full": 0.9}
SERVER_NAME = "bench.test"
# s_time ends a run at the first whole second past -time, so a run lasts -time plus up to 1 s.
S_TIME_SLACK_S = 1


def log(message):
    print("[tls-bench %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


def tls_settings():
    """The protocol settings of `serve --tls-listen`, read from serve/tls_context.h, so that nginx
    is configured with exactly what ours uses."""
    with open(os.path.join(REPO_DIR, "serve", "tls_context.h")) as header:
        text = header.read()

    def constant(name):
        match = re.search(r"\b%s\s*=\s*([^;]*);" % name, text)
        if not match:
            raise RuntimeError("serve/tls_context.h has no %s" % name)
        strings = re.findall(r'"([^"]*)"', match.group(1))
        return "".join(strings) if strings else match.group(1).strip()

    return {"tls12_ciphers": constant("k_tls12_ciphers"),
            "tls13_ciphersuites": constant("k_tls13_ciphersuites"),
            "groups": constant("k_tls_groups"),
            "ticket_lifetime_s": int(constant("k_ticket_lifetime_s"))}


def openssl(directory, *args):
    proc = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), proc.stderr))
    return proc.stdout


def make_certificates(directory):
    """A root, an intermediate and an ECDSA P-256 leaf for bench.test and 127.0.0.1, all with
    the openssl command. Returns (chain: the leaf then the intermediate, key, root) paths."""
    os.makedirs(directory)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl(directory, "req", "-x509", *ec, "-keyout", "root.key", "-out", "root.crt", "-days", "30",
            "-subj", "/CN=shortlink bench root", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(os.path.join(directory, "ca.ext"), "w") as ext:
        ext.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    with open(os.path.join(directory, "leaf.ext"), "w") as ext:
        ext.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                  "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s,IP:127.0.0.1\n" % SERVER_NAME)
    openssl(directory, "req", "-new", *ec, "-keyout", "mid.key", "-out", "mid.csr",
            "-subj", "/CN=shortlink bench intermediate")
    openssl(directory, "x509", "-req", "-in", "mid.csr", "-CA", "root.crt", "-CAkey", "root.key",
            "-CAcreateserial", "-days", "30", "-extfile", "ca.ext", "-out", "mid.crt")
    openssl(directory, "req", "-new", *ec, "-keyout", "leaf.key", "-out", "leaf.csr",
            "-subj", "/CN=" + SERVER_NAME)
    openssl(directory, "x509", "-req", "-in", "leaf.csr", "-CA", "mid.crt", "-CAkey", "mid.key",
            "-CAcreateserial", "-days", "30", "-extfile", "leaf.ext", "-out", "leaf.crt")
    chain = os.path.join(directory, "chain.pem")
    with open(chain, "w") as out:
        for name in ("leaf.crt", "mid.crt"):
            with open(os.path.join(directory, name)) as part:
                out.write(part.read())
    return chain, os.path.join(directory, "leaf.key"), os.path.join(directory, "root.crt")


class OursTls(OursServer):
    """`shortlink serve` with a TLS listener; the certificate is default.crt/default.key, so every
    client gets it whatever server name it sends (s_time sends none, wrk the address)."""

    def __init__(self, name, work_dir, binary, snap_dir, trust, chain, key):
        super().__init__(name, work_dir, 1, binary, snap_dir, trust)
        self.tls_port = free_port()
        self.certs = os.path.join(self.dir, "certs")
        os.makedirs(self.certs)
        shutil.copyfile(chain, os.path.join(self.certs, "default.crt"))
        shutil.copyfile(key, os.path.join(self.certs, "default.key"))

    def command(self):
        return super().command() + ["--tls-listen", "127.0.0.1:%d" % self.tls_port,
                                    "--certs", self.certs, "--state-dir", "none"]

    def handshakes(self):
        """shortlink_tls_handshakes_total by result, from /metrics."""
        url = "http://127.0.0.1:%d/metrics" % self.admin_port
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        return {m.group(1): float(m.group(2)) for m in
                re.finditer(r'^shortlink_tls_handshakes_total\{result="(\w+)"\} (\S+)$', text, re.M)}


class NginxTls(Server):
    """nginx with bench/serve's map behind an ssl listener (nginx-tls.conf.in)."""

    kind = "nginx"

    def __init__(self, name, work_dir, map_path, chain, key, settings):
        super().__init__(name, work_dir, 1)
        self.tls_port = self.port
        with open(os.path.join(HERE, "nginx-tls.conf.in")) as template:
            text = template.read()
        values = {"PORT": self.port, "DIR": self.dir, "MAP": map_path, "CHAIN": chain, "KEY": key,
                  "KEEPALIVE_REQUESTS": KEEPALIVE_REQUESTS,
                  "TLS12_CIPHERS": settings["tls12_ciphers"],
                  "TLS13_CIPHERSUITES": settings["tls13_ciphersuites"],
                  "GROUPS": settings["groups"], "TICKET_LIFETIME": settings["ticket_lifetime_s"]}
        for name_, value in values.items():
            text = text.replace("@%s@" % name_, str(value))
        with open(os.path.join(self.dir, "nginx.conf"), "w") as conf:
            conf.write(text)

    def command(self):
        return ["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                "-c", os.path.join(self.dir, "nginx.conf")]


# CPU list every client process is pinned to (taskset), or None.
CLIENT_CPUS = None


def pinned(command):
    return ["taskset", "-c", CLIENT_CPUS] + command if CLIENT_CPUS else command


def s_time_request(code):
    """What `openssl s_time -www` sends is "GET <www> HTTP/1.0\\r\\n\\r\\n": this path makes that a
    request with a Host header (the same one wrk and the checks send) and one harmless header."""
    return "/%s HTTP/1.0\r\nHost: %s\r\nX-Bench:" % (code, SERVER_NAME)


def tls_get(port, root, raw_request):
    """Sends raw_request over a verified TLS connection (SNI bench.test): (status, Location)."""
    context = ssl.create_default_context(cafile=root)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=SERVER_NAME) as tls:
            tls.sendall(raw_request.encode())
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    return int(head[0].split(" ")[1]), headers.get("Location")


def check_answers(server, root, sample):
    """Every sampled code answers 301 with its URL, over TLS, as HTTP/1.1 and as s_time asks."""
    wrong = []
    for code, url in sample.items():
        for request in ("GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (code, SERVER_NAME),
                        "GET %s HTTP/1.0\r\n\r\n" % s_time_request(code)):
            got = tls_get(server.tls_port, root, request)
            if got != (301, url):
                wrong.append((code, request.split("\r\n")[0], got))
    if wrong:
        raise RuntimeError("%s answered wrongly over TLS: %s" % (server.name, wrong[:5]))


def negotiated(port, root, protocol=None):
    """Protocol, cipher suite, signature and key exchange a default OpenSSL client gets (with
    protocol "tls1_2": one limited to TLS 1.2)."""
    proc = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-brief",
                           "-servername", SERVER_NAME, "-alpn", "http/1.1", "-CAfile", root]
                          + (["-" + protocol] if protocol else []), input="",
                          capture_output=True, text=True, timeout=20)
    facts = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Protocol version", "Ciphersuite", "Signature type", "Hash used",
                           "Server Temp Key", "ALPN protocol", "Verification"):
            facts[key.strip()] = value.strip()
    return facts


def measured(server, commands, deadline_s, align=False):
    """Runs the client commands at once and returns (their outputs, server CPU seconds, wall
    seconds, steal %). With align the start waits for a whole second plus 50 ms, so that s_time
    processes (which stop at a whole second) all end together."""
    if align:
        now = time.time()
        time.sleep(1.05 - (now - int(now)) if now - int(now) > 0.05 else 0.05 - (now - int(now)))
    cpu_before = cpu_seconds(server.pids())
    counters_before = cpu_counters()
    started = time.monotonic()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True) for c in commands]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=max(1.0, deadline_s - (time.monotonic() - started)))[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    wall = time.monotonic() - started
    cpu = cpu_seconds(server.pids()) - cpu_before
    steal = steal_pct(counters_before, cpu_counters())
    for proc, output in zip(procs, outputs):
        if proc.returncode != 0:
            raise RuntimeError("%s failed (%d) against %s:\n%s" % (" ".join(proc.args), proc.returncode,
                                                                    server.name, output[-2000:]))
    return outputs, cpu, wall, steal


def run_keep_alive(server, codes_file, args):
    command = pinned(["wrk", "-t", "1", "-c", str(args.connections), "-d", "%ds" % args.duration,
                      "--latency", "-s", LUA_SCRIPT, "https://127.0.0.1:%d" % server.tls_port,
                      "--", codes_file])
    outputs, cpu, wall, steal = measured(server, [command], args.duration + 60)
    result = parse_wrk(outputs[0])
    return {"rps": result["rps"], "requests": result["requests"], "errors": result["errors"],
            "p99_us": result["p99_us"], "server_cpu_s": cpu, "server_busy_pct": 100.0 * cpu / wall,
            "cpu_us_per_req": cpu * 1e6 / result["requests"] if result["requests"] else None,
            "steal_pct": steal}


S_TIME_FIRST = re.compile(r"\n\n(\d+) connections in [0-9.]+s;")
S_TIME_TOTAL = re.compile(r"(\d+) connections in (\d+) real seconds, (\d+) bytes read per connection")


def parse_s_time(output):
    """(connections, resumed connections, bytes read per connection) of one s_time run. Before
    its totals s_time prints one character per connection on one line: 'r' for a resumed
    session, '*' for a new TLS 1.2 or 1.3 one."""
    first, total = S_TIME_FIRST.search(output), S_TIME_TOTAL.search(output)
    if not first or not total:
        raise ValueError("openssl s_time printed no totals:\n" + output[-2000:])
    progress = output[:first.start()].rsplit("\n", 1)[-1]
    if set(progress) - set("r*") or len(progress) != int(total.group(1)):
        raise ValueError("unexpected s_time progress line %r" % progress[:200])
    return int(total.group(1)), progress.count("r"), int(total.group(3))


def run_s_time(server, mode, code, args):
    """args.handshake_clients `openssl s_time` processes at once, each making new connections
    (-new: full handshakes; -reuse: resuming its session) that fetch one redirect."""
    # No trust store: the chain is not verified (as wrk does not), and the client does not
    # look for an issuer in /etc/ssl/certs at every handshake.
    command = pinned(["openssl", "s_time", "-connect", "127.0.0.1:%d" % server.tls_port,
                      "-new" if mode == "full" else "-reuse", "-time", str(args.duration),
                      "-no-CAfile", "-no-CApath", "-no-CAstore", "-www", s_time_request(code)]
                     + (["-tls1_2"] if args.tls12 else []))
    before = server.handshakes() if isinstance(server, OursTls) else None
    outputs, cpu, wall, steal = measured(server, [command] * args.handshake_clients,
                                         args.duration + S_TIME_SLACK_S + 30, align=True)
    connections = reused = 0
    per_connection = []
    for output in outputs:
        count, resumed, bytes_read = parse_s_time(output)
        connections += count
        reused += resumed
        per_connection.append(bytes_read)
    result = {"rps": connections / wall, "requests": connections, "resumed": reused,
              "bytes_per_connection": per_connection, "server_cpu_s": cpu,
              "server_busy_pct": 100.0 * cpu / wall,
              "cpu_us_per_req": cpu * 1e6 / connections if connections else None,
              "steal_pct": steal, "wall_s": wall}
    if before is not None:
        after = server.handshakes()
        result["server_handshakes"] = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return result


def spread_pct(values):
    return serve_run.spread_pct(values)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def figures(result):
    """Rows: figure, ours, nginx, ratio (median of per-round), per-round ratios, target."""
    rows = []
    for mode in [m for m in MODES if m in result["runs"]]:
        runs = result["runs"][mode]
        for key, label, unit in (("rps", "req/s", ""), ("cpu_us_per_req", "server CPU per request", " us"),
                                 ("p99_us", "p99 latency", " us"),
                                 ("server_busy_pct", "server core busy", "%")):
            ours = [r.get(key) for r in runs["ours"]]
            nginx = [r.get(key) for r in runs["nginx"]]
            if not ours or any(v is None for v in ours + nginx):
                continue  # p99 is wrk's (keep-alive); s_time reports none
            ratios = [o / n for o, n in zip(ours, nginx) if n]
            target = TARGETS.get(mode) if key == "rps" else None
            rows.append({"figure": "%s: %s" % (mode, label), "unit": unit,
                         "ours": median(ours), "nginx": median(nginx), "ratio": median(ratios),
                         "per_round": ratios, "target": target,
                         "spread": "ours ±%.0f%% / nginx ±%.0f%%" % (spread_pct(ours), spread_pct(nginx))})
    return rows


def fmt(value, unit=""):
    if value is None:
        return "n/a"
    return ("%.3g" % value if abs(value) < 100 else "%.0f" % value) + unit


def print_tables(result, out=sys.stdout):
    print("\nTLS benchmark %s, commit %s: one server worker pinned to CPU %s, clients on CPU %s; "
          "%d round(s) of %d s; wrk -t1 -c%d (keep-alive), %d s_time processes (handshakes, %s)"
          % (result["date"], result["commit"], result["pin"][0], result["pin"][1], result["rounds"],
             result["duration_s"], result["connections"], result["handshake_clients"],
             result["handshakes_over"]), file=out)
    print("%-34s %10s %10s %7s %-8s %-22s %s" % ("figure", "ours", "nginx", "ratio", "target",
                                                 "per-round ratios", "spread"), file=out)
    for row in result["figures"]:
        target = (">= %.1fx" % row["target"]) if row["target"] else ""
        print("%-34s %10s %10s %6.2fx %-8s %-22s %s" % (
            row["figure"], fmt(row["ours"], row["unit"]), fmt(row["nginx"], row["unit"]), row["ratio"],
            target, " ".join("%.2f" % r for r in row["per_round"]), row["spread"]), file=out)
    for note in result["notes"]:
        print("note: " + note, file=out)


def git_commit():
    try:
        head = subprocess.run(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO_DIR, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout
        return head + ("+dirty tree" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s per figure and server")
    parser.add_argument("--check", action="store_true",
                        help="start both servers, check their answers and TLS settings, measure nothing")
    parser.add_argument("--links", type=int, default=100_000, help="link set (bench/gen_links.py)")
    parser.add_argument("--rounds", type=int, help="rounds of one run per figure and server (default 3)")
    parser.add_argument("--duration", type=int, help="seconds per run (default 8, quick 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (keep-alive)")
    parser.add_argument("--handshake-clients", type=int, default=8,
                        help="openssl s_time processes at once (resumed and full)")
    parser.add_argument("--tls12", action="store_true",
                        help="handshakes over TLS 1.2 (s_time -tls1_2); keep-alive stays on wrk's TLS 1.3")
    parser.add_argument("--pin", default="1:0", help="SERVER_CPUS:CLIENT_CPUS for taskset ('' for none)")
    parser.add_argument("--modes", default=",".join(MODES), help="subset of " + ",".join(MODES))
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--bin", default=os.path.join(REPO_DIR, "build", "cli", "shortlink"),
                        help="the shortlink binary (default build/cli/shortlink, scripts/build.sh's -O2 build)")
    parser.add_argument("--commit", help="commit the binary was built from (default: HEAD, flagged if dirty)")
    parser.add_argument("--rebuild-ours", action="store_true", help="re-import and re-compile ours' data")
    parser.add_argument("--data-dir", default=os.path.join(BENCH_DIR, "data"))
    parser.add_argument("--json", help="write the results as JSON to this file")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (3 if args.quick else 8)
    args.modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in args.modes):
        parser.error("--modes takes a subset of " + ",".join(MODES))
    # Every run is bounded to 10 s; s_time may run one second past its -time.
    if args.duration + S_TIME_SLACK_S > MAX_DURATION_S:
        parser.error("runs are bounded to %d s: --duration at most %d"
                     % (MAX_DURATION_S, MAX_DURATION_S - S_TIME_SLACK_S))
    return args


def main():
    global CLIENT_CPUS
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if not os.access(args.bin, os.X_OK):
        sys.exit("no shortlink binary at %s (build it, or pass --bin)" % args.bin)
    for tool in ("nginx", "wrk", "openssl", "taskset"):
        if shutil.which(tool) is None:
            sys.exit("%s is missing (SHORTLINK_WITH_BENCH=1 bash scripts/install-deps.sh)" % tool)
    server_cpus, _, client_cpus = args.pin.partition(":")
    servers.PIN_CPUS = server_cpus or None
    CLIENT_CPUS = client_cpus or None
    settings = tls_settings()
    os.makedirs(args.data_dir, exist_ok=True)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": args.commit or git_commit(), "binary": os.path.abspath(args.bin),
              "links": args.links, "rounds": args.rounds, "duration_s": args.duration,
              "connections": args.connections, "handshake_clients": args.handshake_clients,
              "pin": [server_cpus or "any", client_cpus or "any"], "settings": settings,
              "handshakes_over": "TLS 1.2" if args.tls12 else "TLS 1.3",
              "certificate": "ECDSA P-256 leaf + intermediate (chain of 2), signature ecdsa-with-SHA256",
              "runs": {m: {"ours": [], "nginx": []} for m in args.modes}, "notes": []}
    with open("/proc/loadavg") as loadavg:
        result["notes"].append("load average at start: " + " ".join(loadavg.read().split()[:3]))
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    result["notes"].append("CPU steal since boot: %.1f%%" % (100.0 * fields[7] / sum(fields)))

    data_dir, _ = serve_run.ensure_data(args.links, args.data_dir, args.seed)
    ours_data = prepare_ours(args.bin, data_dir, args.rebuild_ours, log)
    codes = serve_run.load_codes(data_dir)
    codes_file = os.path.join(data_dir, "codes.txt")
    sample = serve_run.expected_urls(data_dir, codes[:: max(1, len(codes) // 50)][:50])
    probe_code = next(iter(sample))

    work_dir = tempfile.mkdtemp(prefix="tls-bench-", dir=args.data_dir)
    started = []
    try:
        chain, key, root = make_certificates(os.path.join(work_dir, "pki"))
        ours = OursTls("ours", work_dir, args.bin, ours_data["snap_dir"], ours_data["public_key"], chain, key)
        nginx = NginxTls("nginx", work_dir, os.path.join(data_dir, "nginx.map"), chain, key, settings)
        for server in (ours, nginx):
            server.start()
            started.append(server)
        for server in (ours, nginx):
            if not tls_ready(server, root, probe_code, sample[probe_code]):
                raise RuntimeError("%s did not start:\n%s" % (server.name, server.log_tail()))
        serve_run.wait_verified(ours, 120.0)
        for server in (ours, nginx):
            check_answers(server, root, sample)
        facts = {s.name: negotiated(s.tls_port, root) for s in (ours, nginx)}
        if args.tls12:
            facts = {s.name: [facts[s.name], negotiated(s.tls_port, root, "tls1_2")] for s in (ours, nginx)}
        result["negotiated"] = facts
        if facts["ours"] != facts["nginx"]:
            raise RuntimeError("the servers negotiate differently: %s" % facts)
        log("both negotiate %s" % facts["ours"])
        if args.check:
            return

        for index in range(args.rounds):
            order = [ours, nginx] if index % 2 == 0 else [nginx, ours]
            for mode in args.modes:
                for server in order:
                    if mode == "keep-alive":
                        run = run_keep_alive(server, codes_file, args)
                    else:
                        run = run_s_time(server, mode, probe_code, args)
                    result["runs"][mode][server.name].append(run)
                    log("round %d %s %s: %.0f req/s, %s us CPU per request, server core %.0f%% busy, "
                        "steal %.1f%%%s" % (
                        index + 1, mode, server.name, run["rps"], fmt(run["cpu_us_per_req"]),
                        run["server_busy_pct"], run["steal_pct"], (", resumed %d of %d" % (run["resumed"], run["requests"]))
                        if "resumed" in run else ""))
        check_runs(result)
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    with open("/proc/loadavg") as loadavg:
        result["notes"].append("load average at the end: " + " ".join(loadavg.read().split()[:3]))
    steals = [r["steal_pct"] for m in result["runs"].values() for s in m.values() for r in s]
    result["notes"].append("CPU steal per run: max %.1f%%" % max(steals))
    for facts in (result["negotiated"]["ours"] if args.tls12 else [result["negotiated"]["ours"]]):
        result["notes"].append("negotiated by both: %s" % ", ".join("%s %s" % kv for kv in facts.items()))
    result["figures"] = figures(result)
    print_tables(result)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


def tls_ready(server, root, code, url):
    """Polls until the server gives a correct redirect over TLS (nginx has no plain listener)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if tls_get(server.tls_port, root, "GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % (code, SERVER_NAME)) == (301, url):
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def check_runs(result):
    """Fails the benchmark when a run did not measure what it says: errors under wrk, resumption
    that did not happen (or happened in the full-handshake runs), an answer of another size."""
    problems = []
    for mode, by_server in result["runs"].items():
        for name, runs in by_server.items():
            for index, run in enumerate(runs):
                where = "%s %s run %d" % (mode, name, index + 1)
                if run.get("errors"):
                    problems.append("%s: %d errors" % (where, run["errors"]))
                if mode == "resumed" and run["resumed"] < 0.95 * run["requests"]:
                    problems.append("%s: only %d of %d connections resumed" % (where, run["resumed"], run["requests"]))
                if mode == "full" and run["resumed"]:
                    problems.append("%s: %d connections resumed" % (where, run["resumed"]))
    if problems:
        raise RuntimeError("runs that measured something else:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
