"""Shared fixture of the serve end-to-end tests (serve_*.py): a database with known links, keys,
snapshots compiled with the real CLI, a `shortlink serve` process on 127.0.0.1, and a small raw
HTTP/1.1 client that can send arbitrary bytes and tell whether the server closed the connection.
Python 3 standard library only."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import harness

# (code, destination, extra `shortlink add` args) on the default domain.
LINKS = [
    ("abc", "https://dest.example/a", []),
    ("q", "https://dest.example/q?x=1", ["--type", "307"]),
    ("frag", "https://dest.example/f#top", []),
    ("nofwd", "https://dest.example/n", ["--no-forward-query"]),
    ("off", "https://dest.example/off", []),
    ("gone", "https://dest.example/gone", []),
    ("old", "https://dest.example/old", ["--expires", "2020-01-01T00:00:00Z"]),
    ("soon", "https://dest.example/soon", ["--not-before", "2099-01-01T00:00:00Z"]),
    ("Case", "https://dest.example/case", []),
    ("v", "https://dest.example/v/0", []),
]
GO_LINKS = [("docs", "https://docs.example.com/", ["--type", "301"])]


class ServeCase(harness.ShortlinkTestCase):
    """A test with a populated database, a key pair and helpers to run a server."""

    def setUp(self):
        super().setUp()
        self.procs = []
        self.logs = []
        self.snaps = os.path.join(self.tmp, "snaps")
        os.mkdir(self.snaps)
        self.sl("init")
        self.sl("domain", "add", "go.example.com", "--root-url", "https://www.example.com/",
                "--case-insensitive", "--cache-max-age", "3600", "--negative-max-age", "10")
        for code, dest, extra in LINKS:
            self.sl("add", dest, "--code", code, *extra)
        for code, dest, extra in GO_LINKS:
            self.sl("add", dest, "--code", code, "--domain", "go.example.com", *extra)
        self.sl("disable", "off")
        self.sl("delete", "gone")
        self.key, self.pub = self.keygen("main")

    def tearDown(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            for f in (proc.stdout, proc.stderr):
                if f:
                    f.close()
        try:
            for path in self.logs:
                with open(path, "rb") as f:
                    harness.assert_no_sanitizer_report(f.read(), f"the server ({path})")
        finally:
            super().tearDown()

    def server_log(self):
        """A new file for a server's stderr (pass it as Popen's stderr and close it after); it is
        checked for sanitizer reports when the test ends."""
        path = os.path.join(self.tmp, f"serve-{len(self.logs)}.log")
        self.logs.append(path)
        return open(path, "wb")

    def keygen(self, name):
        self.sl("keygen", "--out", self.tmp, "--name", name)
        return os.path.join(self.tmp, name + ".key"), os.path.join(self.tmp, name + ".pub")

    def compile(self, out=None, key=None, *extra):
        """Compiles into `out` (default the served directory); returns the snapshot path."""
        proc = self.sl("compile", "--key", key or self.key, "--out", out or self.snaps,
                       "--keep", "100000", "--json", *extra)
        return json.loads(proc.stdout)["path"]

    @staticmethod
    def serial_of(path):
        """The serial a published file's name carries (links-<serial>.slsnap)."""
        name = os.path.basename(path)
        return int(name[name.index("-") + 1:name.index(".")])

    def serve(self, *extra, threads=2, wait_ready=True, preexec_fn=None, miss_budget=0):
        """Starts `shortlink serve` on free ports; returns (proc, port, admin_port).
        `preexec_fn` runs in the child before exec (say, to lower a resource limit).
        `miss_budget`: --miss-budget unless `extra` gives it. Every client of these tests is
        127.0.0.1, and a test that sends thousands of misses is not about the budget, so it is
        off (0) unless asked for; None leaves the server's default."""
        port, admin = harness.free_port(), harness.free_port()
        args = [harness.BIN, "serve", "--snapshots", self.snaps, "--trust", self.pub,
                "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}",
                "--threads", str(threads)] + [str(a) for a in extra]
        if "--miss-budget" not in args and miss_budget is not None:
            args += ["--miss-budget", str(miss_budget)]
        if "--state-dir" not in args:
            # Each test keeps its state to itself (the default is shared by the whole host).
            args += ["--state-dir", os.path.join(self.tmp, "state")]
        err = self.server_log()
        self.stderr_path = err.name
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=preexec_fn)
        err.close()
        self.procs.append(proc)
        self.assertTrue(harness.wait_for_port(port), "server did not start listening")
        self.assertTrue(harness.wait_for_port(admin), "admin listener did not start")
        self.port, self.admin_port, self.proc = port, admin, proc
        return proc, port, admin

    def stop(self, proc, timeout=15):
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout)

    def admin(self, path):
        """GET on the admin listener: (status, body)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def readyz(self):
        status, body = self.admin("/readyz")
        return status, json.loads(body)

    def log_lines(self, event):
        """The server's JSON log lines (stderr) whose event is `event`, parsed."""
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            lines = [json.loads(line) for line in f if line.startswith("{")]
        return [line for line in lines if line.get("event") == event]

    def cpu_seconds(self, proc):
        """User plus system CPU time the process has used so far (/proc/PID/stat)."""
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name):
        _, body = self.admin("/metrics")
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise AssertionError(f"metric {name} not found")

    def wait_until(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        self.fail(f"timed out waiting for {what}")

    def get(self, target, host="x.example", method="GET"):
        """One request on a fresh connection: Response."""
        with Client(self.port) as c:
            c.send(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            return c.response(head=(method == "HEAD"))


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self):
        return f"Response({self.status}, {self.headers}, {self.body!r})"


class Client:
    """A raw HTTP/1.1 connection: send bytes, read responses, detect close."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return False
        if not chunk:
            return False
        self.buf += chunk
        return True

    def response(self, head=False):
        """Reads one response; None if the connection closed first."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                return None
        head_bytes, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            if not self._fill():
                return None
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(status, headers, body)

    def closed(self, wait=1.0):
        """True when the server closes the connection within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        if chunk:
            self.buf += chunk
            return False
        return True
