"""End-to-end: a fleet. An origin (Debian's nginx serving a directory laid out by `shortlink
publish`, with docs/origin.md's configuration) and three `shortlink serve --pull` hosts, each in a
network namespace of its own joined to the origin by a veth pair on a bridge, with addresses from
198.18.0.0/15 (reserved for benchmarking) and no default route, so that nothing can reach anywhere
else. A client in the root namespace fails over between the hosts as a load balancer would (on a
connection error or a 5xx, the next host) through every scenario, and not one of its requests
fails:

- a snapshot published at the origin is served by every host within 5 s, a block within 2 s;
- the origin stopped (20 s; 60 s with SHORTLINK_FLEET_FULL=1): every host answers on, and catches
  up when it returns; meanwhile one host is killed with SIGKILL and restarted, and serves its last
  good files at once;
- one host's binary installed anew and upgraded with SIGUSR2 under load (10 times; 100 with
  SHORTLINK_FLEET_FULL=1), with not one connection error;
- bad publishes (a foreign key, an older serial, a truncated file, an expired index): every host
  refuses each one, counts it by reason, and answers as before.

The figures are printed, and as one JSON line starting with "fleet figures:". Where network
namespaces cannot be created (no root, no CAP_SYS_ADMIN), the namespace fleet is skipped with the
reason and the same scenarios run with every host on 127.0.0.1 on ports of its own
(SHORTLINK_FLEET_NETNS=0 chooses that on any machine)."""
import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from serve_fixture import ServeCase  # noqa: E402

FULL = os.environ.get("SHORTLINK_FLEET_FULL") == "1"
OUTAGE_S = 60 if FULL else 20
UPGRADES = 100 if FULL else 10
ROUNDS = 10 if FULL else 5
HOSTS = 3
CLIENT_RATE = 100  # requests per second of the failing-over client: a fleet at work, not a load test
# The hosts poll at serve's default --pull-interval (1 s); after failed polls they back off, to
# at most a minute.
PULL_BACKOFF_MAX_S = 60.0
PREFIX = "slfleet"  # namespaces slfleet-PID-hN, interfaces slfPIDb (bridge) and slfPIDrN (veth)
PR_SET_CHILD_SUBREAPER = 36
SOURCE_DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "origin.md")


def ip(*args, check=True):
    """Runs `ip ARGS`; raises RuntimeError with its stderr when `check` and it fails."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def our_run_alive(pid):
    """A process `pid` that is a run of this test (so its namespaces are not stale)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"fleet" in f.read()
    except OSError:
        return False


def sweep_stale():
    """Removes the namespaces and interfaces a crashed earlier run left behind (its pid is in
    their names), stopping the servers still running in them."""
    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(PREFIX + r"-(\d+)-h\d+", name)
        if not m or our_run_alive(int(m.group(1))):
            continue
        for pid in ip("netns", "pids", name, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        ip("netns", "del", name, check=False)
    for line in ip("-o", "link", "show", check=False).stdout.splitlines():
        m = re.match(r"\d+: (slf(\d+)[br]\d*)[@:]", line)
        if m and not our_run_alive(int(m.group(2))):
            ip("link", "del", m.group(1), check=False)


def namespaces_unavailable():
    """Why this machine cannot give each host a network namespace, or None."""
    if os.environ.get("SHORTLINK_FLEET_NETNS") == "0":
        return "SHORTLINK_FLEET_NETNS=0 asks for the loopback fleet"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) to create network namespaces"
    probe = f"{PREFIX}-{os.getpid()}-h99"
    proc = ip("netns", "add", probe, check=False)
    if proc.returncode != 0:
        return f"cannot create a network namespace (`ip netns add`: {proc.stderr.strip()})"
    ip("netns", "del", probe, check=False)
    return None


class NamespaceNetwork:
    """A bridge in the root namespace holding 198.18.K.1/24 (the origin's address) and, per host,
    a namespace with one end of a veth pair (198.18.K.(11+i)/24) whose other end is on the bridge.
    K is chosen so that no interface of this machine has an address in 198.18.K.0/24. No default
    route anywhere: a host can reach the origin, the client and nothing else."""

    def __init__(self):
        self.pid = os.getpid()
        self.bridge = f"slf{self.pid}b"
        self.namespaces = []
        self.links = []
        used = ip("-o", "addr", "show", check=False).stdout
        start = self.pid % 200
        for step in range(200):
            k = 1 + (start + step) % 200
            if f" 198.18.{k}." not in used:
                break
        else:
            raise RuntimeError("every 198.18.K.0/24 of this machine is in use")
        self.subnet = f"198.18.{k}"
        self.origin_address = f"{self.subnet}.1"
        self.bind_address = self.origin_address
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            self.links.append(self.bridge)
            ip("addr", "add", f"{self.origin_address}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for i in range(HOSTS):
                ns, outer, inner = f"{PREFIX}-{self.pid}-h{i}", f"slf{self.pid}r{i}", f"slf{self.pid}h{i}"
                ip("netns", "add", ns)
                self.namespaces.append(ns)
                ip("link", "add", outer, "type", "veth", "peer", "name", inner)
                self.links.append(outer)
                ip("link", "set", inner, "netns", ns)
                ip("link", "set", outer, "master", self.bridge, "up")
                ip("-n", ns, "link", "set", "lo", "up")
                ip("-n", ns, "addr", "add", f"{self.host_address(i)}/24", "dev", inner)
                ip("-n", ns, "link", "set", inner, "up")
        except BaseException:
            self.remove()
            raise

    def host_address(self, i):
        return f"{self.subnet}.{11 + i}"

    def host_ports(self, i):
        return 8080, 9090  # each host has its address to itself

    def command(self, i, args):
        return ["ip", "netns", "exec", self.namespaces[i]] + args

    def check_isolated(self, case):
        """Every namespace routes 198.18.K.0/24 (and IPv6 link-local) and nothing else."""
        for ns in self.namespaces:
            for family in ("-4", "-6"):
                for line in ip("-n", ns, family, "route", "show", "table", "all").stdout.splitlines():
                    dest = line.split()[0]
                    if dest in ("local", "broadcast", "multicast", "anycast") or dest.startswith("fe80:") \
                            or " dev lo " in line + " ":
                        continue
                    case.assertEqual(dest, f"{self.subnet}.0/24", f"a route out of the test network in {ns}: {line}")
                case.assertEqual(ip("-n", ns, family, "route", "show", "default").stdout.strip(), "")

    def describe(self):
        return f"network namespaces {', '.join(self.namespaces)} on bridge {self.bridge} ({self.subnet}.0/24)"

    def remove(self):
        for ns in self.namespaces:
            for pid in ip("netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            ip("netns", "del", ns, check=False)
        for link in reversed(self.links):
            ip("link", "del", link, check=False)
        self.namespaces, self.links = [], []


class LoopbackNetwork:
    """Every host on 127.0.0.1, on ports of its own."""

    origin_address = "127.0.0.1"
    bind_address = "127.0.0.1"

    def __init__(self):
        self.ports = [(harness.free_port(), harness.free_port()) for _ in range(HOSTS)]

    def host_address(self, i):
        return "127.0.0.1"

    def host_ports(self, i):
        return self.ports[i]

    def command(self, i, args):
        return args

    def check_isolated(self, case):
        pass

    def describe(self):
        return "127.0.0.1 (loopback fallback)"

    def remove(self):
        pass


def wait_for(address, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def http_get(address, port, target, host="x.example", timeout=2.0):
    """One GET on a fresh connection: (status, headers, body). Raises OSError when the connection
    fails or closes without an answer."""
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 "):
        raise OSError(f"no answer: {data[:40]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


class Origin:
    """nginx on ADDRESS:PORT serving `root` with docs/origin.md's server block; stop() and start()
    again on the same address and port."""

    def __init__(self, tmp, root, address):
        with open(SOURCE_DOC, encoding="utf-8") as f:
            block = re.search(r"```nginx\n(.*?)```", f.read(), re.S).group(1)
        self.address = address
        with socket.socket() as s:
            s.bind((address, 0))
            self.port = s.getsockname()[1]
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(os.path.join(self.dir, "tmp"))
        block = block.replace("listen 80;", f"listen {address}:{self.port};").replace("/srv/shortlink-origin", root)
        temp = "".join(f"    {k}_temp_path {self.dir}/tmp;\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(f"daemon off;\nmaster_process off;\npid {self.dir}/nginx.pid;\n"
                    f"error_log {self.dir}/error.log warn;\nevents {{ worker_connections 256; }}\n"
                    f"http {{\n    access_log off;\n{temp}{block}\n}}\n")
        self.proc = None
        self.url = f"http://{address}:{self.port}/"

    def start(self):
        with open(os.path.join(self.dir, "stderr.log"), "ab") as log:
            self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                                          "-c", self.conf], stdout=log, stderr=log)
        if not wait_for(self.address, self.port):
            self.stop()
            raise AssertionError("nginx did not start")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def reap(pid):
    """Collects `pid` if it has exited (a server's successor outlives its parent and comes to this
    process, the subreaper); True once it is gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    except ChildProcessError:
        pass
    return not os.path.exists(f"/proc/{pid}")


class Host:
    """One `shortlink serve --pull` host; `pid` is the process serving now (after upgrades, not
    a child this test started)."""

    def __init__(self, case, i):
        self.case, self.i = case, i
        self.address = case.net.host_address(i)
        self.port, self.admin_port = case.net.host_ports(i)
        self.snaps = os.path.join(case.tmp, f"host{i}", "snapshots")
        self.state = os.path.join(case.tmp, f"host{i}", "state")
        os.makedirs(self.snaps)
        self.proc = None
        self.pid = None

    def start(self):
        args = [self.case.binary, "serve", "--snapshots", self.snaps, "--trust", self.case.pub,
                "--pull", self.case.origin.url, "--listen", f"{self.address}:{self.port}",
                "--admin", f"{self.address}:{self.admin_port}", "--threads", "1", "--state-dir", self.state,
                # The client asks every host for a missing code many times a minute, from one
                # address: a budget for misses would answer it 429.
                "--miss-budget", "0"]
        err = self.case.server_log()
        self.proc = subprocess.Popen(self.case.net.command(self.i, args), stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        self.case.procs.append(self.proc)
        self.pid = self.proc.pid  # `ip netns exec` executes the server in its own place

    def get(self, target, timeout=2.0):
        return http_get(self.address, self.port, target, timeout=timeout)

    def answer(self, code):
        """(status, Location) for /code, or the error."""
        try:
            status, headers, _ = self.get("/" + code)
            return status, headers.get("location")
        except OSError as e:
            return "error", type(e).__name__

    def admin(self, path):
        status, _, body = http_get(self.address, self.admin_port, path, timeout=5)
        return status, body.decode()

    def readyz(self):
        status, body = self.admin("/readyz")
        return status, json.loads(body)

    def metrics(self):
        values = {}
        for line in self.admin("/metrics")[1].splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def refused(self, reason):
        return self.metrics().get(f'shortlink_pull_refused_total{{reason="{reason}"}}', 0.0)

    def serial(self):
        return self.metrics().get("shortlink_pull_index_serial", 0.0)

    def stop(self):
        """SIGTERM to the serving process; its exit status once it drained (None if not ours to
        wait for)."""
        if self.pid is None:
            return None
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                if not os.path.exists(f"/proc/{pid}"):
                    return None
                done, status = 0, 0
            if done == pid:
                if self.proc is not None and self.proc.pid == pid:
                    self.proc.returncode = os.waitstatus_to_exitcode(status)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        return None


class FailoverClient(threading.Thread):
    """Requests at a steady rate, each starting at the next host in turn and going on to the
    others on a connection error, a timeout or a 5xx, as a load balancer would. A request fails
    only when every host failed it; an answer other than the one expected is counted apart."""

    EXPECT = (("abc", 302, "https://dest.example/a"), ("q", 307, "https://dest.example/q?x=1"),
              ("no-such-code", 404, None))

    def __init__(self, hosts, rate):
        super().__init__(daemon=True)
        self.hosts, self.interval = hosts, 1.0 / rate
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.requests = self.failed = self.wrong = self.failovers = 0
        self.attempt_errors = []  # (monotonic time, host index, why)
        self.failures = []

    def run(self):
        n = 0
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            code, status, location = self.EXPECT[n % len(self.EXPECT)]
            answered, errors = None, []
            for k in range(len(self.hosts)):
                host = self.hosts[(n + k) % len(self.hosts)]
                try:
                    got, headers, _ = host.get("/" + code)
                    if got >= 500:
                        raise OSError(f"status {got}")
                    answered = (got, headers.get("location"))
                    break
                except OSError as e:
                    errors.append((time.monotonic(), host.i, repr(e)))
            with self.lock:
                self.requests += 1
                self.attempt_errors += errors
                if errors:
                    self.failovers += 1
                if answered is None:
                    self.failed += 1
                    self.failures.append(f"{time.monotonic():.3f} /{code}: {errors}")
                elif answered != (status, location):
                    self.wrong += 1
                    self.failures.append(f"{time.monotonic():.3f} /{code}: {answered}")
            n += 1
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)
            else:
                next_at = time.monotonic()

    def errors_on(self, host_index, since, until):
        with self.lock:
            return [e for e in self.attempt_errors if e[1] == host_index and since <= e[0] <= until]

    def finish(self):
        self.stop_event.set()
        self.join(timeout=10)


class DirectClient(threading.Thread):
    """Requests to one host only, a new connection each, at a steady rate: every connection error
    or unexpected answer is counted."""

    def __init__(self, host, rate):
        super().__init__(daemon=True)
        self.host, self.interval = host, 1.0 / rate
        self.stop_event = threading.Event()
        self.ok = 0
        self.errors = []

    def run(self):
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            try:
                status, headers, _ = self.host.get("/abc", timeout=5)
                if (status, headers.get("location")) != (302, "https://dest.example/a"):
                    self.errors.append(f"{time.monotonic():.3f} answer {status}")
                else:
                    self.ok += 1
            except OSError as e:
                self.errors.append(f"{time.monotonic():.3f} {e!r}")
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)
            else:
                next_at = time.monotonic()

    def finish(self):
        self.stop_event.set()
        self.join(timeout=10)


def spread(values):
    return {"median_s": round(statistics.median(values), 3), "worst_s": round(max(values), 3), "n": len(values)}


class FleetScenarios:
    """The scenarios; a subclass provides the network (make_network) or skips."""

    def setUp(self):
        super().setUp()
        self.net = None
        self.hosts = []
        self.origin = None
        self.client = None
        self.figures = {"mode": "full" if FULL else "suite", "outage_s": OUTAGE_S, "upgrades": UPGRADES,
                        "rounds": ROUNDS, "hosts": HOSTS, "client_rate_per_s": CLIENT_RATE}
        # Upgraded servers outlive the process that started them: they come to this one.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        atexit.register(self.release)
        try:
            self.net = self.make_network()
            self.figures["network"] = self.net.describe()
            # The hosts run a copy of the binary that the upgrade scenario installs anew.
            os.makedirs(os.path.join(self.tmp, "bin"))
            self.binary = os.path.join(self.tmp, "bin", "shortlink")
            self.install_binary()
            self.build = os.path.join(self.tmp, "build")
            self.origin_dir = os.path.join(self.tmp, "origin")
            for k in range(ROUNDS):
                self.sl("add", f"https://dest.example/b{k}", "--code", f"b{k}")
        except BaseException:
            self.tearDown()  # not called by unittest when setUp fails or skips
            raise

    def release(self):
        """Stops everything this test started and removes its network; safe to call twice (it
        runs at tearDown and, should the interpreter be stopped first, at exit)."""
        client, hosts, origin, net = self.client, self.hosts, self.origin, self.net
        self.client, self.hosts, self.origin, self.net = None, [], None, None
        try:
            if client is not None:
                client.finish()
            for host in hosts:
                host.stop()
            if origin is not None:
                origin.stop()
        finally:
            if net is not None:
                net.remove()

    def tearDown(self):
        try:
            if "network" in self.figures and "printed" not in self.figures:
                print(f"\nfleet figures so far: {json.dumps(self.figures, sort_keys=True)}", file=sys.stderr)
            self.release()
        finally:
            atexit.unregister(self.release)
            super().tearDown()

    def install_binary(self):
        """Installs the built binary at self.binary as a package manager would: a new file
        renamed over the old one, so a running server's executable is then a deleted file."""
        shutil.copy2(harness.BIN, self.binary + ".new")
        os.replace(self.binary + ".new", self.binary)

    def publish(self, *extra, key=None, source=None, out=None):
        args = ["publish", "--key", key or self.key, "--out", out or self.origin_dir, "--json"]
        if source is not False:
            args += ["--from", source or self.build]
        return json.loads(self.sl(*args, *extra).stdout)

    def write_atomically(self, path, data):
        tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def until_every_host(self, predicate, timeout, what, started=None):
        """Seconds from `started` (default now) until predicate(host) held for each host."""
        started = time.monotonic() if started is None else started
        pending = {h.i: h for h in self.hosts}
        took = {}
        while pending:
            for i, host in list(pending.items()):
                try:
                    ok = predicate(host)
                except OSError:
                    ok = False
                if ok:
                    took[i] = time.monotonic() - started
                    del pending[i]
            if pending:
                if time.monotonic() - started > timeout:
                    self.fail(f"timed out after {timeout} s waiting for {what} on host(s) {sorted(pending)}; "
                              f"took so far {took}")
                time.sleep(0.02)
        return [took[i] for i in sorted(took)]

    def answers(self, codes):
        return {h.i: {c: h.answer(c) for c in codes} for h in self.hosts}

    def test_fleet(self):
        self.net.check_isolated(self)
        self.compile(self.build)
        self.publish()
        self.origin = Origin(self.tmp, self.origin_dir, self.net.bind_address)
        self.origin.start()
        self.hosts = [Host(self, i) for i in range(HOSTS)]
        for host in self.hosts:
            host.start()
        for host in self.hosts:
            self.assertTrue(wait_for(host.address, host.port), f"host {host.i} did not start listening")
        self.until_every_host(lambda h: h.answer("abc") == (302, "https://dest.example/a"), 15, "the first pull")
        self.client = FailoverClient(self.hosts, CLIENT_RATE)
        self.client.start()
        started = time.monotonic()

        self.propagation()
        self.outage_and_restart()
        self.upgrades()
        self.bad_publishes()

        self.client.finish()
        c = self.client
        self.figures["client"] = {"requests": c.requests, "failed": c.failed, "wrong": c.wrong,
                                  "failed_over": c.failovers,
                                  "host_errors": [sum(1 for e in c.attempt_errors if e[1] == h.i) for h in self.hosts]}
        self.figures["elapsed_s"] = round(time.monotonic() - started, 1)
        # Every host drains and exits 0 on SIGTERM, the upgraded one included.
        for host in self.hosts:
            pid = host.pid
            self.assertEqual(host.stop(), 0, f"host {host.i} (pid {pid}) did not exit cleanly")
        line = json.dumps(self.figures, sort_keys=True)
        print(f"\nfleet figures: {line}", file=sys.stderr)
        self.report()
        self.figures["printed"] = True
        self.assertGreater(c.requests, CLIENT_RATE * 10)
        self.assertEqual((c.failed, c.wrong), (0, 0), c.failures[:10])

    def report(self):
        f = self.figures
        p, b = f["propagation"]["snapshot"], f["propagation"]["block"]
        o, u = f["origin_outage"], f["upgrade"]
        lines = [
            f"fleet on {f['network']}, {HOSTS} hosts, mode {f['mode']}, {f['elapsed_s']} s",
            f"  snapshot published -> served by every host: median {p['median_s']} s, worst {p['worst_s']} s ({p['n']})",
            f"  block published -> served by every host: median {b['median_s']} s, worst {b['worst_s']} s ({b['n']})",
            f"  origin stopped {o['stopped_s']} s: {o['client_requests']} requests answered meanwhile; "
            f"caught up after its return: median {o['catch_up']['median_s']} s, worst {o['catch_up']['worst_s']} s "
            f"(per host {o['catch_up_per_host_s']}; host 1 restarted meanwhile)",
            f"  kill -9 and restart without the origin: serving the last good files {f['restart']['serving_s']} s "
            f"after the restart",
            f"  bad publishes refused (per host, by reason): "
            + ", ".join(f"{k} {v['refused_per_host']}" for k, v in f["bad_publishes"].items()),
            f"  {u['upgrades']} upgrades in {u['elapsed_s']} s: {u['requests']} direct requests, "
            f"{u['connection_errors']} connection errors",
            f"  failing-over client: {f['client']['requests']} requests, {f['client']['failed']} failed, "
            f"{f['client']['failed_over']} failed over (errors by host {f['client']['host_errors']})",
        ]
        print("\n".join(lines), file=sys.stderr)

    # -- the scenarios ------------------------------------------------------------------------

    def propagation(self):
        """A new full snapshot within 5 s, a block within 2 s, on every host, ROUNDS times."""
        snapshot, block = [], []
        for k in range(ROUNDS):
            self.sl("add", f"https://dest.example/p{k}", "--code", f"p{k}")
            self.compile(self.build)
            started = time.monotonic()
            self.publish()
            snapshot += self.until_every_host(lambda h: h.answer(f"p{k}")[0] == 302, 5,
                                              f"snapshot round {k}", started)
            self.sl("block", "link", f"b{k}", "--publish", self.build, "--key", self.key)
            started = time.monotonic()
            self.publish()
            block += self.until_every_host(lambda h: h.answer(f"b{k}")[0] == 410, 2, f"block round {k}", started)
        self.last_code = f"p{ROUNDS - 1}"
        # Each block holds on through the full snapshots published after it.
        for k in range(ROUNDS):
            self.assertEqual([h.answer(f"b{k}")[0] for h in self.hosts], [410] * HOSTS, f"b{k}")
        self.figures["propagation"] = {"snapshot": spread(snapshot), "block": spread(block)}

    def outage_and_restart(self):
        """The origin stopped for OUTAGE_S: every host answers on. Meanwhile a new snapshot is
        published into the stopped origin's directory, and one host is killed with SIGKILL and
        restarted: it serves its last good files at once. When the origin returns, every host
        catches up."""
        codes = ["abc", self.last_code, "b0", "no-such-code"]
        before = self.answers(codes)
        requests_before = self.client.requests
        stopped = time.monotonic()
        self.origin.stop()
        unreachable = {h.i: h.refused("unreachable") for h in self.hosts}
        self.until_every_host(lambda h: h.refused("unreachable") > unreachable[h.i], 10, "the origin missed")
        self.sl("add", "https://dest.example/o1", "--code", "o1")
        self.compile(self.build)
        self.publish()
        # SIGKILL, and a restart while the origin is still away.
        victim = self.hosts[1]
        os.kill(victim.pid, signal.SIGKILL)
        victim.proc.wait(timeout=10)
        restarted = time.monotonic()
        victim.start()
        while victim.answer(self.last_code) != (302, f"https://dest.example/{self.last_code}"):
            self.assertLess(time.monotonic() - restarted, 10, f"the restarted host: {victim.answer(self.last_code)}")
            time.sleep(0.005)
        serving_s = time.monotonic() - restarted
        self.assertEqual(victim.readyz()[0], 200)
        self.figures["restart"] = {"serving_s": round(serving_s, 3)}
        # Every host answers as before through the whole outage (the client checks between).
        while time.monotonic() - stopped < OUTAGE_S:
            self.assertEqual(self.answers(codes), before, "an answer changed with the origin away")
            self.assertEqual([h.answer("o1")[0] for h in self.hosts], [404] * HOSTS)
            time.sleep(min(2.0, max(0.0, OUTAGE_S - (time.monotonic() - stopped))))
        during = self.client.requests - requests_before
        self.origin.start()
        returned = time.monotonic()
        stopped_s = returned - stopped
        # Polls back off while the origin fails, to at most a minute (with 20% jitter).
        catch_up = self.until_every_host(lambda h: h.answer("o1")[0] == 302, PULL_BACKOFF_MAX_S * 1.2 + 5,
                                         "the catch-up after the origin returned", returned)
        self.figures["origin_outage"] = {"stopped_s": round(stopped_s, 1), "client_requests": during,
                                         "catch_up": spread(catch_up),
                                         "catch_up_per_host_s": [round(t, 3) for t in catch_up]}

    def upgrades(self):
        """UPGRADES times: a new binary installed over the old one, then SIGUSR2, with requests
        on new connections to that host all along; not one fails."""
        host = self.hosts[0]
        direct = DirectClient(host, CLIENT_RATE)
        direct.start()
        started = time.monotonic()
        pids = [host.pid]
        try:
            for n in range(UPGRADES):
                old = host.pid
                self.install_binary()
                os.kill(old, signal.SIGUSR2)
                seen = {}

                def successor_serving():
                    # The pid is taken from the answer that showed it: until the old process has
                    # drained, another /readyz may still be answered by it.
                    status, ready = host.readyz()
                    if status == 200 and ready["pid"] != old:
                        seen["pid"] = ready["pid"]
                        return True
                    return False

                self.until_true(successor_serving, 10, f"upgrade {n + 1}: the new process serving")
                host.pid = seen["pid"]
                deadline = time.monotonic() + 15
                while not reap(old):
                    self.assertLess(time.monotonic(), deadline, f"upgrade {n + 1}: the old process {old} drained")
                    time.sleep(0.01)
                pids.append(host.pid)
            elapsed = time.monotonic() - started
        finally:
            direct.finish()
        self.assertEqual(len(set(pids)), UPGRADES + 1)
        failover_errors = self.client.errors_on(host.i, started, time.monotonic())
        self.figures["upgrade"] = {"upgrades": UPGRADES, "elapsed_s": round(elapsed, 1), "requests": direct.ok,
                                   "connection_errors": len(direct.errors) + len(failover_errors)}
        self.assertEqual(direct.errors, [])
        self.assertEqual(failover_errors, [])
        self.assertGreater(direct.ok, UPGRADES * 5)

    def until_true(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate():
                    return
            except (OSError, ValueError):
                pass
            self.assertLess(time.monotonic(), deadline, f"timed out waiting for {what}")
            time.sleep(0.01)

    def bad_publishes(self):
        """Each bad publish is refused by every host, counted by its reason, and changes no
        answer; a good publish afterwards is taken by all."""
        codes = ["abc", self.last_code, "o1", "b0", "no-such-code"]
        results = {}

        def refused_by_all(reason, make, what):
            before_answers = self.answers(codes)
            before = {h.i: h.refused(reason) for h in self.hosts}
            make()
            self.until_every_host(lambda h: h.refused(reason) > before[h.i], 15, f"{what} refused ({reason})")
            self.assertEqual(self.answers(codes), before_answers, f"an answer changed after {what}")
            after = {h.i: h.refused(reason) - before[h.i] for h in self.hosts}
            results[what] = {"reason": reason, "refused_per_host": [int(after[i]) for i in sorted(after)]}

        def good_publish(what):
            serial = self.publish()["serial"]
            self.until_every_host(lambda h: h.serial() == serial, 15, f"the good publish after {what}")

        # A foreign key: an index (and snapshot) signed by a key the hosts do not trust.
        other_key, _ = self.keygen("other")
        foreign = os.path.join(self.tmp, "foreign")
        os.makedirs(foreign)
        self.sl("compile", "--key", other_key, "--out", foreign)
        refused_by_all("bad_index", lambda: self.publish(key=other_key, source=foreign), "foreign key")
        good_publish("foreign key")

        # An older serial: the index every host took, put back after a newer one.
        index_path = os.path.join(self.origin_dir, "index-stable.slindex")
        older = read_bytes(index_path)
        good_publish("saving the older index")
        refused_by_all("older_index", lambda: self.write_atomically(index_path, older), "older serial")
        good_publish("older serial")

        # A truncated file: a new snapshot published, its file at the origin cut in half. Laid
        # out beside the origin first, so the whole file is never there to be fetched.
        self.sl("add", "https://dest.example/t1", "--code", "t1")
        snap = self.compile(self.build)
        staging = os.path.join(self.tmp, "staging-truncated")
        shutil.copytree(self.origin_dir, staging)
        self.publish(out=staging)
        name = os.path.basename(snap)
        data = read_bytes(os.path.join(staging, name))

        def truncated():
            self.write_atomically(os.path.join(self.origin_dir, name), data[:len(data) // 2])
            self.write_atomically(index_path, read_bytes(os.path.join(staging, "index-stable.slindex")))
        refused_by_all("size_mismatch", truncated, "truncated file")
        self.assertEqual([h.answer("t1")[0] for h in self.hosts], [404] * HOSTS)
        # The whole file in place: every host takes it.
        self.write_atomically(os.path.join(self.origin_dir, name), data)
        self.until_every_host(lambda h: h.answer("t1")[0] == 302, 15, "the repaired file")
        codes.append("t1")

        # An expired index: signed to expire in a second, put at the origin once it has.
        staging = os.path.join(self.tmp, "staging-expired")
        shutil.copytree(self.origin_dir, staging)
        self.publish("--refresh", "--expires", "1s", source=False, out=staging)
        time.sleep(1.5)
        expired = read_bytes(os.path.join(staging, "index-stable.slindex"))
        refused_by_all("expired_index", lambda: self.write_atomically(index_path, expired), "expired index")
        good_publish("expired index")
        self.figures["bad_publishes"] = results


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class NamespaceFleet(FleetScenarios, ServeCase):
    """Each host in a network namespace of its own."""

    def make_network(self):
        reason = NETNS_UNAVAILABLE
        if reason is not None:
            self.skipTest(reason)
        sweep_stale()
        return NamespaceNetwork()


class LoopbackFleet(FleetScenarios, ServeCase):
    """The same scenarios with every host on 127.0.0.1, where namespaces cannot be had."""

    def make_network(self):
        if NETNS_UNAVAILABLE is None:
            self.skipTest("network namespaces are available: NamespaceFleet runs these scenarios")
        return LoopbackNetwork()


NETNS_UNAVAILABLE = namespaces_unavailable()

if __name__ == "__main__":
    # A SIGTERM (a test runner's timeout) still stops the servers and removes the namespaces.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    if NETNS_UNAVAILABLE is not None:
        print(f"fleet: network namespaces unavailable ({NETNS_UNAVAILABLE}); "
              "running the loopback fleet instead", file=sys.stderr)
    harness.main()
