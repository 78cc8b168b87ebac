"""`shortlink compile` under faults: killed with SIGKILL at random moments while a server answers
from the same directory, a full disk (a small tmpfs), a read-only output directory. Never a
partial file under a final name, the database intact and unchanged by a failed run, stale
temporary files removed by the next run, and the running server never answers wrongly.
The tmpfs needs root; that test is skipped without it."""
import json
import os
import re
import random
import sqlite3
import subprocess
import threading
import time

import harness
from serve_fixture import Client, ServeCase

LINKS = 60000
KILLS = 20


def db_rows(db):
    """Everything a failed compile must leave as it was."""
    con = sqlite3.connect(db)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("links", "domains", "snapshots", "audit_log")}
    finally:
        con.close()


def integrity(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


class Checker:
    """Keep-alive requests for known links until stopped; every answer must be the right one."""

    def __init__(self, port, expected):
        self.port, self.expected = port, expected
        self.stop = threading.Event()
        self.failures, self.count = [], 0
        self.thread = threading.Thread(target=self.run)

    def run(self):
        codes = list(self.expected)
        rng = random.Random(7)
        try:
            while not self.stop.is_set():
                # A new connection every 200 requests (the server closes one after 1000).
                with Client(self.port) as c:
                    for _ in range(200):
                        if self.stop.is_set():
                            break
                        code = rng.choice(codes)
                        c.send(f"GET /{code} HTTP/1.1\r\nHost: x.example\r\n\r\n".encode())
                        r = c.response()
                        self.count += 1
                        if r is None or r.status != 301 or r.headers.get("location") != self.expected[code]:
                            self.failures.append((code, r))
                            return
        except OSError as e:
            self.failures.append(repr(e))


class CompileFaults(ServeCase):

    def setUp(self):
        super().setUp()
        csv = os.path.join(self.tmp, "links.csv")
        with open(csv, "w") as f:
            f.write("code,url,type\n")
            for i in range(LINKS):
                f.write(f"f{i},https://dest.example/f/{i},301\n")
        self.sl("import", csv)
        self.expected = {f"f{i}": f"https://dest.example/f/{i}" for i in range(0, LINKS, 997)}

    def published(self):
        return sorted(n for n in os.listdir(self.snaps) if not n.startswith("."))

    def temp_files(self, where=None):
        return sorted(n for n in os.listdir(where or self.snaps) if ".tmp." in n)

    def test_kill_9_at_random_moments(self):
        self.compile()
        self.serve("--rescan-interval", "0.2", threads=2)
        checker = Checker(self.port, self.expected)
        checker.thread.start()
        started = time.monotonic()
        self.compile()
        duration = time.monotonic() - started
        rng = random.Random(int(os.environ.get("SHORTLINK_FAULT_SEED", "20261202")))
        killed = 0
        try:
            for _ in range(KILLS):
                before = set(self.published())
                proc = subprocess.Popen([harness.BIN, "--db", self.db, "compile", "--key", self.key,
                                         "--out", self.snaps, "--keep", "100000"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0, duration * 1.1))
                proc.kill()
                if proc.wait() == -9:
                    killed += 1
                self.assertEqual(integrity(self.db), "ok")
                for name in set(self.published()) - before:
                    # Only a file that was completely written may appear under a final name.
                    self.sl("verify", os.path.join(self.snaps, name), "--trust", self.pub)
        finally:
            checker.stop.set()
            checker.thread.join(timeout=30)
        self.assertEqual(checker.failures, [])
        self.assertGreater(checker.count, 100)
        self.assertGreaterEqual(killed, KILLS // 2, "most runs should have been killed mid-way")
        # The next compile removes the temporary files the killed runs left, and says so.
        left = self.temp_files()
        proc = self.sl("compile", "--key", self.key, "--out", self.snaps, "--keep", "100000")
        self.assertEqual(self.temp_files(), [])
        if left:
            self.assertIn("left by a writer that no longer runs", proc.stderr)
        for name in self.published():
            self.sl("verify", os.path.join(self.snaps, name), "--trust", self.pub)
        print(f"\ncompile killed {killed} of {KILLS} times; {checker.count} answers checked", flush=True)

    def test_full_disk_and_read_only_directory(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        small = os.path.join(self.tmp, "small")
        os.mkdir(small)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", small]).returncode != 0:
            self.skipTest("this machine does not let the test mount a tmpfs")
        try:
            before = db_rows(self.db)
            proc = self.sl("compile", "--key", self.key, "--out", small, expect=1)
            self.assertRegex(proc.stderr, r"^shortlink: error: " + re.escape(small) +
                             r"/links-\d+\.slsnap: write: No space left on device\n$")
            self.assertEqual(os.listdir(small), [], "nothing partial, not even a temporary file")
            self.assertEqual(db_rows(self.db), before, "a failed compile changes nothing")
            self.assertEqual(integrity(self.db), "ok")
        finally:
            subprocess.run(["umount", small], check=False)
        ro = os.path.join(self.tmp, "ro")
        os.mkdir(ro)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,ro", "tmpfs", ro], check=True)
        try:
            before = db_rows(self.db)
            proc = self.sl("compile", "--key", self.key, "--out", ro, expect=1)
            self.assertIn("Read-only file system", proc.stderr)
            self.assertEqual(db_rows(self.db), before)
        finally:
            subprocess.run(["umount", ro], check=False)
        # And a compile into a directory that works afterwards succeeds with a fresh serial.
        result = json.loads(self.sl("compile", "--key", self.key, "--out", self.snaps, "--json").stdout)
        self.sl("verify", result["path"], "--trust", self.pub)


if __name__ == "__main__":
    harness.main()
