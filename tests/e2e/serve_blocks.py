"""The safety plane end to end: blocks reach a running server under load within a second with no
failed request, survive the next compile, unblock; serials never go back (a fresh database, a
restart without the newest file); rollback reaches a running server; an overlay is applied while
the loader is still verifying a snapshot; damaged, foreign, older and truncated overlays are
refused by serve, verify and resolve alike."""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import harness
from serve_fixture import Client, ServeCase


class Load:
    """Keep-alive clients cycling over paths until stopped; any answer that is not one of the
    statuses a path may have at some point (or a closed connection) is a failure."""

    def __init__(self, port, paths, threads=2):
        self.port, self.paths = port, paths
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures, self.requests = [], 0
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def run(self, index):
        count = 0
        try:
            while not self.stop.is_set():
                # A new connection every 50 rounds, well inside the server's requests per
                # connection (it closes a connection after --max-requests).
                with Client(self.port) as c:
                    for _ in range(50):
                        if self.stop.is_set():
                            break
                        for (host, path), allowed in self.paths.items():
                            c.send(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                            r = c.response()
                            count += 1
                            if r is None or r.status not in allowed:
                                with self.lock:
                                    self.failures.append(f"thread {index}: {host}{path}: {r!r}")
                                return
        except OSError as e:
            with self.lock:
                self.failures.append(f"thread {index}: {e!r}")
        finally:
            with self.lock:
                self.requests += count


class ServeBlocks(ServeCase):

    def setUp(self):
        super().setUp()
        self.sl("add", "https://phish.bad.example/login", "--code", "phish")
        self.sl("add", "https://cdn.evil.example/x", "--code", "evil")

    def block(self, *args, publish=True):
        extra = ["--publish", self.snaps, "--key", self.key] if publish else []
        return self.sl("block", *args, "--reason", "test", *extra)

    def unblock(self, *args):
        return self.sl("unblock", *args, "--publish", self.snaps, "--key", self.key)

    def wait_status(self, path, status, host="x.example", timeout=1.0):
        """Waits for `status` at `path`; returns the seconds it took (fails after `timeout`)."""
        started = time.monotonic()
        self.wait_until(lambda: self.get(path, host=host).status == status, timeout=timeout,
                        what=f"{host}{path} -> {status}")
        return time.monotonic() - started

    def test_blocks_reach_a_server_under_load_within_a_second(self):
        self.compile()
        self.serve("--rescan-interval", "60")
        paths = {("x.example", "/abc"): {302}, ("x.example", "/phish"): {302, 410},
                 ("x.example", "/evil"): {302, 410}, ("go.example.com", "/docs"): {301, 410}}
        with Load(self.port, paths) as load:
            time.sleep(0.3)
            self.block("link", "phish")
            took_link = self.wait_status("/phish", 410)
            self.block("destination", "evil.example")  # a parent domain of cdn.evil.example
            took_dest = self.wait_status("/evil", 410)
            self.block("domain", "go.example.com")
            took_domain = self.wait_status("/docs", 410, host="go.example.com")
            time.sleep(0.3)
        self.assertEqual(load.failures, [])
        self.assertGreater(load.requests, 100)
        print(f"\nblock to 410 under load: link {took_link * 1000:.0f} ms, destination "
              f"{took_dest * 1000:.0f} ms, domain {took_domain * 1000:.0f} ms, "
              f"{load.requests} requests", flush=True)
        # Every request path, HEAD included; never cached; the page never names the destination.
        r = self.get("/phish")
        self.assertEqual(r.headers["cache-control"], "no-store")
        self.assertNotIn("location", r.headers)
        self.assertIn(b"disabled", r.body)
        self.assertNotIn(b"phish.bad", r.body)
        head = self.get("/phish", method="HEAD")
        self.assertEqual((head.status, head.headers["cache-control"]), (410, "no-store"))
        self.assertEqual(self.get("/", host="go.example.com").status, 410)  # the root too
        self.assertEqual(self.get("/nope", host="go.example.com").status, 410)
        self.assertEqual(self.get("/abc").status, 302)
        ready = self.readyz()[1]
        self.assertEqual(ready["overlay"]["links"], 1)
        self.assertEqual(ready["overlay"]["domains"], 1)
        self.assertEqual(ready["overlay"]["destinations"], 1)
        self.assertTrue(ready["overlay"]["in_force"])
        self.assertEqual(self.metric("shortlink_overlay_active"), 1)
        self.assertEqual(self.metric('shortlink_overlay_entries{kind="link"}'), 1)

        # Unblock: the next overlay is the whole set without it.
        self.unblock("domain", "go.example.com")
        self.wait_status("/docs", 301, host="go.example.com")
        self.assertEqual(self.get("/phish").status, 410)

        # The next compile bakes the blocks in and retires the overlay.
        snap = self.compile()
        serial = json.loads(self.sl("inspect", snap, "--json").stdout)["serial"]
        self.wait_until(lambda: self.readyz()[1]["snapshot"]["serial"] == serial, what="compile")
        ready = self.readyz()[1]
        self.assertFalse(ready["overlay"]["in_force"])
        self.assertEqual(ready["snapshot"]["deny_entries"], 2)
        for name in os.listdir(self.snaps):
            if name.endswith(".sldeny"):
                os.remove(os.path.join(self.snaps, name))
        self.assertEqual(self.get("/phish").status, 410)
        self.assertEqual(self.get("/evil").status, 410)
        self.assertEqual(self.get("/docs", host="go.example.com").status, 301)
        # A server that only ever receives snapshots blocks too.
        self.assertIn("410", self.sl("resolve", snap, "http://x.example/phish", "--trust", self.pub).stdout)

    def test_a_key_that_cannot_sign_leaves_the_store_unchanged(self):
        out = os.path.join(self.tmp, "out")
        for key, code in ((self.pub, 2), (os.path.join(self.tmp, "missing.key"), 3)):
            proc = self.sl("block", "link", "phish", "--publish", out, "--key", key, expect=code)
            self.assertIn("key", proc.stderr)
        self.sl("block", "link", "phish", "--publish", out, expect=2)  # --key missing
        self.assertEqual(self.sl("blocks", "--json").stdout, "")
        self.assertFalse(os.path.exists(out))
        self.sl("overlay", "--key", self.pub, "--out", out, expect=2)
        self.sl("rollback", "--to", "1", "--key", self.pub, "--out", out, expect=2)
        damaged = os.path.join(self.tmp, "damaged.key")
        with open(self.key) as f, open(damaged, "w") as g:
            g.write(f.read()[:-40])
        proc = self.sl("block", "link", "phish", "--publish", out, "--key", damaged, expect=5)
        self.assertIn(f"{damaged}: truncated key file (no END line)", proc.stderr)
        self.assertEqual(self.sl("blocks", "--json").stdout, "")

    def test_fresh_database_is_accepted_after_the_old_ones_serials(self):
        for _ in range(3):
            self.compile()
        self.serve()
        old_serial = self.readyz()[1]["snapshot"]["serial"]
        # CI rebuilds the database from scratch, compiling into a directory of its own.
        fresh_db = os.path.join(self.tmp, "fresh.db")
        out = os.path.join(self.tmp, "ci-out")
        self.assertEqual(harness.run(["init"], db=fresh_db).returncode, 0)
        self.assertEqual(harness.run(["add", "https://fresh.example/", "--code", "abc"], db=fresh_db).returncode, 0)
        proc = harness.run(["compile", "--key", self.key, "--out", out, "--json"], db=fresh_db)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        new = json.loads(proc.stdout)
        self.assertGreater(new["serial"], old_serial)
        os.rename(new["path"], os.path.join(self.snaps, os.path.basename(new["path"])))
        self.wait_until(lambda: self.get("/abc").headers.get("location") == "https://fresh.example/",
                        what="the fresh database's snapshot")
        # An explicit serial that is not above what the output holds is refused.
        proc = harness.run(["compile", "--key", self.key, "--out", self.snaps, "--serial",
                            str(new["serial"])], db=fresh_db)
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn("is not above serial", proc.stderr)

    def test_restart_without_the_newest_file_serves_it_from_state(self):
        self.compile()
        newest = self.compile()
        serial = json.loads(self.sl("inspect", newest, "--json").stdout)["serial"]
        proc, _, _ = self.serve()
        self.wait_until(lambda: self.readyz()[1]["snapshot"]["verified"], what="verification")
        self.assertEqual(self.readyz()[1]["snapshot"]["serial"], serial)
        os.remove(newest)
        self.wait_until(lambda: "serving_file_removed" in open(self.stderr_path).read(),
                        what="the removal to be logged")
        self.assertEqual(self.get("/abc").status, 302)
        self.assertEqual(self.stop(proc), 0)
        proc, _, _ = self.serve()
        ready = self.readyz()[1]
        self.assertEqual(ready["snapshot"]["serial"], serial)
        self.assertIn(os.path.join(self.tmp, "state"), ready["snapshot"]["path"])
        self.assertEqual(self.get("/abc").status, 302)
        self.assertEqual(self.stop(proc), 0)
        # It never goes back: with the kept file gone too, the older file in the watched
        # directory is refused, and the server reports not ready rather than serve it.
        for name in os.listdir(os.path.join(self.tmp, "state")):
            if name.endswith(".slsnap"):
                os.remove(os.path.join(self.tmp, "state", name))
        self.serve()
        status, ready = self.readyz()
        self.assertEqual(status, 503)
        self.assertIsNone(ready["snapshot"])
        self.assertEqual(self.metric('shortlink_snapshot_refused_total{reason="rollback"}'), 1)
        self.assertEqual(self.get("/abc").status, 503)

    def test_rollback_reaches_a_running_server(self):
        good = self.compile()
        good_serial = json.loads(self.sl("inspect", good, "--json").stdout)["serial"]
        self.sl("edit", "abc", "--url", "https://broken.example/")
        self.compile()
        self.serve()
        self.assertEqual(self.get("/abc").headers["location"], "https://broken.example/")
        proc = self.sl("rollback", "--to", str(good_serial), "--key", self.key, "--out", self.snaps,
                       "--json")
        self.assertIn("next compile", proc.stderr)
        result = json.loads(proc.stdout)
        self.assertGreater(result["serial"], good_serial)
        self.assertEqual(result["content_of"], good_serial)
        self.wait_until(lambda: self.get("/abc").headers.get("location") == "https://dest.example/a",
                        what="the rolled-back content")
        self.assertEqual(self.readyz()[1]["snapshot"]["serial"], result["serial"])
        history = self.sl("history", "--json").stdout
        self.assertIn("rollback", history)
        # A rollback to a serial that is not there is "not found"; one with a file whose header
        # says otherwise is refused.
        self.sl("rollback", "--to", "12345", "--key", self.key, "--out", self.snaps, expect=3)
        self.sl("rollback", "--to", "12345", "--from", good, "--key", self.key, "--out", self.snaps,
                expect=2)

    def test_overlay_applies_while_the_loader_is_busy_verifying(self):
        # A snapshot big enough that its verification takes a while on a starved idle-class
        # loader: two busy processes at normal priority hold both cores.
        links = os.path.join(self.tmp, "many.csv")
        with open(links, "w") as f:
            f.write("code,url\n")
            for i in range(200000):
                f.write(f"m{i},https://many.example/{i}\n")
        self.compile()
        self.serve("--rescan-interval", "60")
        first = self.readyz()[1]["snapshot"]["serial"]
        self.sl("import", links)
        staging = os.path.join(self.tmp, "staging")
        big = self.compile(staging)
        hogs = [subprocess.Popen([sys.executable, "-c", "import time\nend=time.time()+20\nwhile time.time()<end: pass"])
                for _ in range(2)]
        try:
            time.sleep(0.2)
            os.rename(big, os.path.join(self.snaps, os.path.basename(big)))
            time.sleep(0.2)
            self.block("link", "phish")
            took = self.wait_status("/phish", 410, timeout=1.0)
            still = self.readyz()[1]["snapshot"]["serial"]
        finally:
            for h in hogs:
                h.kill()
                h.wait()
        self.assertEqual(still, first, "the big snapshot should still be verifying")
        print(f"\noverlay applied in {took * 1000:.0f} ms while the loader verified "
              f"a 200k-link snapshot", flush=True)
        self.wait_until(lambda: self.readyz()[1]["snapshot"]["serial"] != first, timeout=60,
                        what="the big snapshot")
        self.assertEqual(self.get("/phish").status, 410)  # baked into the big one? no: overlay newer
        self.assertEqual(self.get("/m7").status, 302)

    def test_bad_overlays_are_refused_everywhere(self):
        self.compile()
        early = os.path.join(self.tmp, "early")
        self.sl("overlay", "--key", self.key, "--out", early)  # valid, signed, and soon older
        [older] = os.listdir(early)
        self.serve("--rescan-interval", "60")
        self.block("link", "phish")
        self.wait_status("/phish", 410)
        [good] = [n for n in os.listdir(self.snaps) if n.endswith(".sldeny")]
        good_serial = int(good[len("deny-"):-len(".sldeny")])
        with open(os.path.join(self.snaps, good), "rb") as f:
            data = f.read()
        # The next, valid overlay (the link unblocked) waits in staging until the end.
        self.sl("unblock", "link", "phish")
        staging = os.path.join(self.tmp, "staging")
        self.sl("overlay", "--key", self.key, "--out", staging)
        [fresh] = os.listdir(staging)
        other_key, _ = self.keygen("other")
        foreign_dir = os.path.join(self.tmp, "foreign")
        self.sl("overlay", "--key", other_key, "--out", foreign_dir)
        [foreign] = os.listdir(foreign_dir)
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x01
        cases = {
            "truncated": data[: len(data) - 100],
            "flipped": bytes(flipped),
            "foreign": open(os.path.join(foreign_dir, foreign), "rb").read(),
            "older": open(os.path.join(early, older), "rb").read(),
        }
        snap = [os.path.join(self.snaps, n) for n in os.listdir(self.snaps) if n.endswith(".slsnap")][0]
        bad = os.path.join(self.tmp, "bad")
        os.mkdir(bad)
        for i, (name, content) in enumerate(cases.items()):
            # Names promise more than any real serial: the server must judge the header.
            path = os.path.join(bad, f"deny-{good_serial + 1000 + i}.sldeny")
            with open(path, "wb") as f:
                f.write(content)
            if name != "older":
                proc = self.sl("verify", path, "--trust", self.pub, expect=5)
                self.assertIn(path, proc.stderr)
                self.sl("resolve", snap, "http://x.example/phish", "--trust", self.pub,
                        "--overlay", path, expect=5)
            os.rename(path, os.path.join(self.snaps, os.path.basename(path)))
        subprocess.run(["kill", "-HUP", str(self.proc.pid)], check=True)
        self.wait_until(lambda: self.metric('shortlink_overlay_refused_total{reason="signature"}') >= 1
                        and self.metric('shortlink_overlay_refused_total{reason="corrupt"}') >= 1
                        and self.metric('shortlink_overlay_refused_total{reason="rollback"}') >= 1,
                        what="refusals")
        self.assertEqual(self.metric('shortlink_overlay_refused_total{reason="signature"}')
                         + self.metric('shortlink_overlay_refused_total{reason="corrupt"}'), 3)
        self.assertEqual(self.get("/phish").status, 410, "the current overlay keeps serving")
        self.assertEqual(self.readyz()[1]["overlay"]["serial"], good_serial)
        # resolve beside the snapshot skips the bad files just as the server does.
        out = self.sl("resolve", snap, "http://x.example/phish", "--trust", self.pub, "--json")
        self.assertEqual(json.loads(out.stdout)["status"], 410)
        self.assertIn("skipping", out.stderr)
        # The valid newer overlay takes over once published.
        os.rename(os.path.join(staging, fresh), os.path.join(self.snaps, fresh))
        self.wait_status("/phish", 302)


if __name__ == "__main__":
    harness.main()
