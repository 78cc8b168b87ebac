"""shortlink serve hot swap and shutdown: a thousand snapshot arrivals (valid, corrupt,
signed by an untrusted key, older) during a bounded keep-alive load with zero failed requests
and every answer consistent with a published snapshot; SIGTERM drains in-flight requests."""
import os
import re
import shutil
import socket
import threading
import time

import harness
from serve_fixture import Client, ServeCase

LOAD_THREADS = 4
VERSION = re.compile(r"^https://dest\.example/v/(\d+)$")


class Load:
    """Keep-alive clients asking for /v until stopped; records every answer."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.seen = set()
        self.requests = 0
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(LOAD_THREADS)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def run(self, index):
        count, seen = 0, set()
        try:
            while not self.stop.is_set():
                # A new connection every 50 requests: swaps meet both old and new connections.
                with Client(self.port) as c:
                    last = -1
                    for _ in range(50):
                        if self.stop.is_set():
                            break
                        c.send(b"GET /v HTTP/1.1\r\nHost: x.example\r\n\r\n")
                        r = c.response()
                        count += 1
                        if r is None or r.status != 302:
                            self.fail(f"thread {index}: {r!r}")
                            return
                        m = VERSION.match(r.headers.get("location", ""))
                        if not m:
                            self.fail(f"thread {index}: bad location {r.headers}")
                            return
                        n = int(m.group(1))
                        # One connection stays on one worker, whose snapshot only moves forward.
                        if n < last:
                            self.fail(f"thread {index}: went back from v{last} to v{n}")
                            return
                        last = n
                        seen.add(n)
        except OSError as e:
            self.fail(f"thread {index}: {e!r}")
        finally:
            with self.lock:
                self.requests += count
                self.seen |= seen


class ServeSwap(ServeCase):

    def mapped_files(self):
        """The signed files the server has mapped (their sealed copies: /memfd:NAME)."""
        with open(f"/proc/{self.proc.pid}/maps") as f:
            names = {parts[5].strip() for parts in (line.split(None, 5) for line in f) if len(parts) == 6}
        return {n for n in names if n.startswith("/memfd:") and ".sl" in n}

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def test_hot_swap_under_load(self):
        events = int(os.environ.get("SHORTLINK_SWAP_EVENTS", "1000"))
        self.compile()
        self.serve("--rescan-interval", "0.5", threads=2)
        staging = os.path.join(self.tmp, "staging")
        os.mkdir(staging)
        other_key, _ = self.keygen("other")
        valid_versions = {0}
        valid_files = []
        time.sleep(0.3)
        start_mapped, start_fds = len(self.mapped_files()), self.open_fds()
        self.assertEqual(start_mapped, 1)
        load = Load(self.port)
        load.start()
        kinds = {"valid": 0, "corrupt": 0, "untrusted": 0, "older": 0}
        try:
            for i in range(1, events + 1):
                kind = ["valid", "valid", "valid", "corrupt", "valid", "untrusted", "valid", "older"][i % 8]
                if kind != "valid" and not valid_files:
                    kind = "valid"
                kinds[kind] += 1
                if kind == "valid":
                    self.sl("edit", "v", "--url", f"https://dest.example/v/{i}")
                    path = self.compile(staging)
                    valid_versions.add(i)
                    valid_files.append(path)
                    target = os.path.join(self.snaps, os.path.basename(path))
                    shutil.copyfile(path, path + ".tmp")
                    os.rename(path + ".tmp", target)
                elif kind == "corrupt":
                    with open(valid_files[-1], "rb") as f:
                        data = bytearray(f.read())
                    data[(i * 7919) % len(data)] ^= 0x5A
                    tmp = os.path.join(staging, f"bad-{i}.tmp")
                    with open(tmp, "wb") as f:
                        f.write(bytes(data))
                    os.rename(tmp, os.path.join(self.snaps, f"bad-{i}.slsnap"))
                elif kind == "untrusted":
                    self.sl("edit", "v", "--url", f"https://evil.example/v/{i}")
                    path = self.compile(staging, other_key)
                    os.rename(path, os.path.join(self.snaps, os.path.basename(path)))
                    self.sl("edit", "v", "--url", f"https://dest.example/v/{max(valid_versions)}")
                else:  # older: a validly signed snapshot whose serial is below the serving one
                    tmp = os.path.join(staging, f"old-{i}.tmp")
                    shutil.copyfile(valid_files[len(valid_files) // 2], tmp)
                    os.rename(tmp, os.path.join(self.snaps, f"old-{i}.slsnap"))
            last = max(valid_versions)
            self.wait_until(lambda: self.get("/v").headers.get("location") == f"https://dest.example/v/{last}",
                            what="the last snapshot")
            time.sleep(0.3)
        finally:
            load.finish()
        self.assertEqual(load.failures, [])
        self.assertGreater(load.requests, 500)
        self.assertTrue(load.seen <= valid_versions, load.seen - valid_versions)
        self.assertGreater(len(load.seen), 5, "load should have seen several snapshots")
        # Valid files that arrive while the loader is busy are passed over for the newest one,
        # and how many depends on the machine's load (78% swapped in one run on two cores shared
        # with the other tests); far fewer would mean the loader stalls.
        swaps = self.metric("shortlink_snapshot_swaps_total")
        self.assertGreaterEqual(swaps, 0.5 * kinds["valid"])
        self.assertGreaterEqual(self.metric('shortlink_snapshot_refused_total{reason="corrupt"}'), 1)
        self.assertGreaterEqual(self.metric('shortlink_snapshot_refused_total{reason="signature"}'), 1)
        self.assertGreaterEqual(self.metric('shortlink_snapshot_refused_total{reason="rollback"}'), 1)
        self.assertEqual(self.metric('shortlink_requests_total{status="500"}'), 0)
        # Old snapshots are unmapped once no request uses them, and no descriptor leaks: back to
        # what the server held before the load, give or take the one swap that may be settling.
        self.wait_until(lambda: len(self.mapped_files()) <= start_mapped + 1, timeout=5,
                        what=f"mappings to return to {start_mapped}: {self.mapped_files()}")
        self.wait_until(lambda: self.open_fds() <= start_fds, timeout=5,
                        what=f"descriptors to return to {start_fds}")
        print(f"\nswap load: {load.requests} requests, {kinds}, swaps {swaps:.0f}, "
              f"{len(load.seen)} versions seen", flush=True)

    def test_sigterm_drains_in_flight_requests(self):
        self.compile()
        proc, port, _ = self.serve("--drain-timeout", "5", threads=1)
        idle = Client(port)
        idle.send(b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(idle.response().status, 302)
        busy = Client(port)
        busy.send(b"GET /abc HTTP/1.1\r\nHost: a\r\n")  # header not finished yet
        time.sleep(0.1)
        started = time.monotonic()
        proc.send_signal(15)
        self.assertTrue(idle.closed(2.0), "idle connection should be closed at once")
        time.sleep(0.2)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        busy.send(b"\r\n")
        r = busy.response()
        self.assertEqual(r.status, 302)
        self.assertEqual(r.headers.get("connection"), "close")
        self.assertTrue(busy.closed(2.0))
        self.assertEqual(proc.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 4.0)
        idle.sock.close()
        busy.sock.close()
        with open(self.stderr_path) as f:
            log = f.read()
        self.assertIn('"event":"draining"', log)
        self.assertIn('"event":"stopped"', log)

    def test_sigterm_deadline_bounds_a_stuck_client(self):
        self.compile()
        proc, port, _ = self.serve("--drain-timeout", "1", threads=1)
        stuck = Client(port)
        stuck.send(b"GET /abc HTTP/1.1\r\n")
        time.sleep(0.1)
        started = time.monotonic()
        proc.send_signal(15)
        self.assertEqual(proc.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 3.0)
        stuck.sock.close()


if __name__ == "__main__":
    harness.main()
