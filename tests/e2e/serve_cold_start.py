"""Cold start with a lazily verified snapshot (formats/SPEC.md "Lazy validation"): the server
answers before it has hashed the whole file, finishes verification in the background, and drops
a snapshot whose deferred blocks turn out damaged, falling back to the next good one."""
import json
import os
import time
import unittest

import harness
from serve_fixture import Client, ServeCase

N = 4000  # enough links for a snapshot of several 64 KiB blocks


class ServeColdStart(ServeCase):
    def setUp(self):
        super().setUp()
        csv = os.path.join(self.tmp, "many.csv")
        with open(csv, "w") as f:
            f.write("code,url\n")
            for i in range(N):
                f.write(f"m{i:05d},https://many.example/path/{i:05d}/with/some/length\n")
        self.sl("import", csv)

    def sections(self, path):
        info = json.loads(self.sl("inspect", path, "--json").stdout)
        return {s["name"]: s for s in info["sections"]}

    def location(self, code):
        r = self.get("/" + code)
        return r.status, r.headers.get("location")

    def test_answers_then_verifies_in_background(self):
        path = self.compile()
        self.assertGreater(os.path.getsize(path), 3 * 65536)
        self.serve()
        for i in range(0, N, 97):
            self.assertEqual(self.location(f"m{i:05d}"),
                             (302, f"https://many.example/path/{i:05d}/with/some/length"))
        self.wait_until(lambda: self.readyz()[1]["snapshot"]["verified"], what="verification")
        self.assertEqual(self.metric("shortlink_snapshot_verified"), 1)
        with open(self.stderr_path) as f:
            events = [json.loads(line)["event"] for line in f if line.startswith("{")]
        self.assertIn("snapshot_verified", events)
        # Named threads, so an operator can tell the loader from the request threads in top -H.
        names = set()
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            with open(f"/proc/{self.proc.pid}/task/{task}/comm") as f:
                names.add(f.read().strip())
        self.assertTrue({"sl-loader", "sl-worker-0", "sl-worker-1"} <= names, names)

    def test_damage_in_a_deferred_block_falls_back_to_older(self):
        first = self.serial_of(self.compile())
        self.sl("edit", "abc", "--url", "https://dest.example/a2")
        newest = self.compile()
        strings = self.sections(newest)["strings"]
        # Damage well past the first block, which the lazy open proves at once.
        at = strings["offset"] + strings["length"] - 200
        self.assertGreater(at, 2 * 65536)
        with open(newest, "r+b") as f:
            f.seek(at)
            byte = f.read(1)
            f.seek(at)
            f.write(bytes([byte[0] ^ 0xFF]))
        self.serve()
        # Until the fallback, every answer is from a proven block of the newest, or a 503 for the
        # damaged one: never a 404 for a link that exists, never a wrong destination.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, ready = self.readyz()
            if ready["snapshot"] and ready["snapshot"]["serial"] == first:
                break
            for i in range(N - 50, N):
                st, loc = self.location(f"m{i:05d}")
                self.assertIn(st, (302, 503))
                if st == 302:
                    self.assertEqual(loc, f"https://many.example/path/{i:05d}/with/some/length")
        status, ready = self.readyz()
        self.assertEqual(ready["snapshot"]["serial"], first)
        self.assertEqual(ready["last_refused"]["path"], newest)
        self.assertEqual(ready["last_refused"]["reason"], "corrupt")
        self.assertIn("checksum mismatch", ready["last_refused"]["detail"])
        self.assertEqual(self.location("abc"), (302, "https://dest.example/a"))
        self.wait_until(lambda: self.readyz()[1]["snapshot"]["verified"], what="verification")
        self.assertEqual(self.metric('shortlink_snapshot_refused_total{reason="corrupt"}'), 1)
        with open(self.stderr_path) as f:
            events = [json.loads(line)["event"] for line in f if line.startswith("{")]
        # Serial 2 was published lazily, then withdrawn when the background pass met the damage.
        self.assertEqual(events.count("snapshot_loaded"), 2, events)
        self.assertIn("snapshot_withdrawn", events)
        for i in range(N - 50, N):
            self.assertEqual(self.location(f"m{i:05d}")[0], 302)


if __name__ == "__main__":
    unittest.main(verbosity=2)
