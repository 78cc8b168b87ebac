"""End-to-end: how files travel from a publisher to pulling hosts. `--publish ORIGIN` on compile,
overlay and rollback (the same publish as `shortlink publish`, files first and index last); index
serials that never go back, even from a publisher whose clock is behind; the two paces of a host
(overlays every poll, snapshots at most every --pull-snapshot-interval); and the zstd transport
form, served by Debian's nginx with docs/origin.md's configuration and by a hostile origin that
sends bombs, truncated frames, garbage and bodies of the wrong size, each refused by reason while
the host keeps serving and falls back to the plain file."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from publish_origin import Nginx, read  # noqa: E402
from serve_fixture import ServeCase  # noqa: E402
from serve_pull import HostileOrigin, send  # noqa: E402


def zstd(data, *args):
    """Compresses `data` with Debian's zstd command-line tool."""
    return subprocess.run(["zstd", "-q", "-c", *args], input=data, stdout=subprocess.PIPE, check=True).stdout


class PullTransportTest(ServeCase):

    def setUp(self):
        super().setUp()
        self.build = os.path.join(self.tmp, "build")
        self.origin = os.path.join(self.tmp, "origin")

    def index(self, origin=None, channel="stable"):
        path = os.path.join(origin or self.origin, f"index-{channel}.slindex")
        return json.loads(self.sl("inspect", path, "--json").stdout)

    def refused(self, reason):
        _, body = self.admin("/metrics")
        for line in body.splitlines():
            if line.startswith(f'shortlink_pull_refused_total{{reason="{reason}"}}'):
                return float(line.split()[-1])
        raise AssertionError(f"no refusal counter for {reason}")

    def test_publish_option_of_compile_overlay_and_rollback(self):
        # compile --publish: the snapshot in --out, then the origin's index naming it.
        out = json.loads(self.sl("compile", "--key", self.key, "--out", self.build, "--json",
                                 "--publish", self.origin, "--channel", "canary", "--expires", "1h").stdout)
        snap = os.path.basename(out["path"])
        self.assertEqual(out["published"]["channel"], "canary")
        self.assertEqual([f["name"] for f in out["published"]["files"]], [snap])
        self.assertEqual(read(os.path.join(self.origin, snap)), read(out["path"]))
        self.assertEqual([f["name"] for f in self.index(channel="canary")["files"]], [snap])
        self.assertFalse(os.path.exists(os.path.join(self.origin, "index-stable.slindex")))
        # Without --publish nothing is published, and "published" is null.
        plain = json.loads(self.sl("compile", "--key", self.key, "--out", self.build, "--json").stdout)
        self.assertIsNone(plain["published"])
        # overlay --publish: the new overlay is named beside the newest snapshot; text output
        # names the index too.
        self.sl("block", "link", "abc")
        text = self.sl("overlay", "--key", self.key, "--out", self.build, "--publish", self.origin).stdout
        self.assertIn(os.path.join(self.origin, "index-stable.slindex"), text)
        names = [f["name"] for f in self.index()["files"]]
        self.assertEqual(names[0], os.path.basename(plain["path"]))
        self.assertTrue(names[1].startswith("deny-"), names)
        # rollback --publish --zstd: the rollback is the newest snapshot, offered compressed too.
        back = json.loads(self.sl("rollback", "--to", str(self.serial_of(out["path"])), "--key", self.key,
                                  "--out", self.build, "--json", "--publish", self.origin, "--zstd").stdout)
        files = back["published"]["files"]
        self.assertEqual(files[0]["name"], os.path.basename(back["path"]))
        self.assertEqual(files[0]["zstd"]["name"], files[0]["name"] + ".zst")
        packed = read(os.path.join(self.origin, files[0]["zstd"]["name"]))
        self.assertEqual(len(packed), files[0]["zstd"]["bytes"])
        self.assertEqual(subprocess.run(["zstd", "-q", "-d", "-c"], input=packed, stdout=subprocess.PIPE,
                                        check=True).stdout, read(back["path"]))
        # Publishing in place: --publish naming --out itself copies nothing.
        again = json.loads(self.sl("compile", "--key", self.key, "--out", self.build, "--json",
                                   "--publish", self.build).stdout)
        self.assertEqual(again["published"]["copied"], [])
        self.assertTrue(os.path.exists(os.path.join(self.build, "index-stable.slindex")))

    def test_publish_option_refusals(self):
        for command in (["compile"], ["overlay"], ["rollback", "--to", "1"]):
            with self.subTest(command=command):
                base = ["--key", self.key, "--out", self.build]
                p = self.sl(*command, *base, "--channel", "canary", expect=None)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("--publish", p.stderr)
                p = self.sl(*command, *base, "--publish", self.origin, "--channel", "Bad", expect=2)
                self.assertIn("starts with a lowercase letter", p.stderr)
                p = self.sl(*command, *base, "--publish", self.origin, "--expires", "2001-01-01T00:00:00Z", expect=2)
                self.assertIn("--expires must be in the future", p.stderr)
        # Refused before any work: nothing was compiled.
        self.assertFalse(os.path.exists(self.build) and os.listdir(self.build))
        # A publish that fails after the compile: the origin holds other bytes under the name.
        first = self.compile(self.build)
        os.makedirs(self.origin)
        self.sl("add", "https://dest.example/z", "--code", "zz")
        serial = self.serial_of(first) + 10**9
        with open(os.path.join(self.origin, f"links-{serial}.slsnap"), "wb") as f:
            f.write(b"not what compile writes")
        p = self.sl("compile", "--key", self.key, "--out", self.build, "--serial", str(serial),
                    "--publish", self.origin, expect=4)
        self.assertIn("a published file is never replaced", p.stderr)
        self.assertIn(f"publish it with 'shortlink publish --key KEY --from {self.build} --out {self.origin}'",
                      p.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.build, f"links-{serial}.slsnap")))
        self.assertFalse(os.path.exists(os.path.join(self.origin, "index-stable.slindex")))

    def test_index_serial_never_goes_back(self):
        # A snapshot from a publisher whose clock runs 30 days ahead of ours.
        ahead = int(time.time() * 1000) + 30 * 86400 * 1000
        snap = self.compile(self.build, None, "--serial", str(ahead))
        first = json.loads(self.sl("publish", "--key", self.key, "--from", self.build, "--out", self.origin,
                                   "--json").stdout)
        # Above the file it names, though the clock is far below it.
        self.assertGreater(first["serial"], ahead)
        # A second machine, starting from an empty directory with only the origin's current index
        # copied in (docs/origin.md), and the same files: still above.
        fresh = os.path.join(self.tmp, "fresh")
        os.makedirs(fresh)
        with open(os.path.join(fresh, "index-stable.slindex"), "wb") as f:
            f.write(read(os.path.join(self.origin, "index-stable.slindex")))
        second = json.loads(self.sl("publish", "--key", self.key, "--from", self.build, "--out", fresh,
                                    "--json").stdout)
        self.assertGreater(second["serial"], first["serial"])
        # Another channel's index counts too: a canary published above stable lifts stable.
        canary = json.loads(self.sl("publish", "--key", self.key, "--out", fresh, "--channel", "canary",
                                    "--json").stdout)
        self.assertGreater(canary["serial"], second["serial"])
        stable = json.loads(self.sl("publish", "--key", self.key, "--out", fresh, "--json").stdout)
        self.assertGreater(stable["serial"], canary["serial"])
        # Without --from, the files in the directory lift it as well.
        third = os.path.join(self.tmp, "third")
        os.makedirs(third)
        os.link(snap, os.path.join(third, os.path.basename(snap)))
        later = int(time.time() * 1000) + 60 * 86400 * 1000
        self.sl("compile", "--key", self.key, "--out", third, "--patch", "--serial", str(later))
        own = json.loads(self.sl("publish", "--key", self.key, "--out", third, "--json").stdout)
        self.assertGreater(own["serial"], later)

    def test_overlays_do_not_wait_for_the_snapshot_interval(self):
        self.compile(self.build)
        self.sl("publish", "--key", self.key, "--from", self.build, "--out", self.origin)
        nginx = Nginx(self, self.origin)
        try:
            self.serve("--pull", f"http://127.0.0.1:{nginx.port}/", "--pull-interval", "0.2",
                       "--pull-snapshot-interval", "6")
            self.wait_until(lambda: self.get("/abc").status == 302, what="the first snapshot pulled")
            first_at = time.monotonic()
            # A second full snapshot right away: it waits for the interval.
            self.sl("add", "https://dest.example/s2", "--code", "s2")
            self.compile(self.build)
            self.sl("publish", "--key", self.key, "--from", self.build, "--out", self.origin)
            self.wait_until(lambda: self.metric("shortlink_pull_snapshots_deferred_total") >= 1, timeout=5,
                            what="the second snapshot deferred")
            self.assertEqual(self.get("/s2").status, 404)
            # A block meanwhile: its overlay is fetched at the next poll, over the old snapshot.
            self.sl("block", "link", "abc", "--publish", self.build, "--key", self.key)
            started = time.monotonic()
            self.sl("publish", "--key", self.key, "--from", self.build, "--out", self.origin)
            self.wait_until(lambda: self.get("/abc").status == 410, timeout=2, what="the block, within 2 s")
            block_s = time.monotonic() - started
            if time.monotonic() - first_at < 5:
                self.assertEqual(self.get("/s2").status, 404, "the snapshot came before its interval")
            # The snapshot then arrives at the first poll after the interval, though the index
            # did not change again (the host keeps what it still has to fetch).
            self.wait_until(lambda: self.get("/s2").status == 302, timeout=12, what="the deferred snapshot")
            snapshot_s = time.monotonic() - first_at
            self.assertGreaterEqual(snapshot_s, 4.5)
            self.assertEqual(self.get("/abc").status, 410)  # the snapshot bakes the same block in
            print(f"block {block_s:.2f} s; deferred snapshot {snapshot_s:.2f} s after the first", file=sys.stderr)
            self.assertEqual(len(self.log_lines("pull_deferred")), 1)
        finally:
            nginx.stop()
        p = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--pull-snapshot-interval", "3",
                    expect=2)
        self.assertIn("--pull-snapshot-interval is only used with --pull URL", p.stderr)

    def test_zstd_forms_are_preferred_and_checked(self):
        self.compile(self.build)
        published = json.loads(self.sl("publish", "--key", self.key, "--from", self.build, "--out", self.origin,
                                        "--zstd", "--json").stdout)
        snap = published["files"][0]
        self.assertLess(snap["zstd"]["bytes"], snap["bytes"])
        listed = self.index()["files"][0]
        self.assertEqual(listed["zstd"], snap["zstd"])
        self.assertEqual(json.loads(self.sl("verify", os.path.join(self.origin, "index-stable.slindex"),
                                            "--trust", self.pub, "--json").stdout)["files"], 1)
        nginx = Nginx(self, self.origin)
        try:
            status, headers, body = nginx.get(snap["zstd"]["name"])
            self.assertEqual((status, len(body)), (200, snap["zstd"]["bytes"]))
            self.assertIn("immutable", headers.get("Cache-Control"))
            self.serve("--pull", f"http://127.0.0.1:{nginx.port}/", "--pull-interval", "0.2")
            self.wait_until(lambda: self.get("/abc").status == 302, what="the snapshot pulled compressed")
            # The server may load the file the moment it is renamed into place, a moment before
            # the puller counts it.
            self.wait_until(lambda: self.metric("shortlink_pull_zstd_files_total") == 1, timeout=5,
                            what="the compressed fetch counted")
            self.assertEqual(self.metric("shortlink_pull_zstd_fallbacks_total"), 0)
            self.assertLess(self.metric("shortlink_pull_received_bytes_total"), snap["bytes"])
            self.assertEqual(read(os.path.join(self.snaps, snap["name"])),
                             read(os.path.join(self.origin, snap["name"])))
            pulled = self.log_lines("pulled")
            self.assertEqual((pulled[0]["form"], pulled[0]["transfer_bytes"]), ("zstd", snap["zstd"]["bytes"]))
            # A refresh keeps offering the compressed form; a publish without --zstd stops.
            refreshed = json.loads(self.sl("publish", "--key", self.key, "--out", self.origin, "--refresh",
                                           "--json").stdout)
            self.assertEqual(refreshed["files"][0]["zstd"], snap["zstd"])
            os.unlink(os.path.join(self.origin, snap["zstd"]["name"]))
            p = self.sl("publish", "--key", self.key, "--out", self.origin, "--refresh", expect=3)
            self.assertIn(snap["zstd"]["name"] + ", which is gone", p.stderr)
            plain = json.loads(self.sl("publish", "--key", self.key, "--from", self.build, "--out", self.origin,
                                       "--json").stdout)
            self.assertIsNone(plain["files"][0]["zstd"])
        finally:
            nginx.stop()
        self.assertIn("--refresh", self.sl("publish", "--key", self.key, "--out", self.origin, "--refresh",
                                           "--zstd", expect=2).stderr)

    def test_hostile_zstd_forms_are_refused_and_the_plain_file_fetched(self):
        self.compile(self.build)
        self.sl("publish", "--key", self.key, "--from", self.build, "--out", self.origin, "--expires", "1h")
        hostile = HostileOrigin(self.origin)
        try:
            self.serve("--pull", f"http://127.0.0.1:{hostile.port}/", "--pull-interval", "0.1",
                       "--pull-timeout", "2", "--pull-snapshot-interval", "0")
            self.wait_until(lambda: self.get("/abc").status == 302, what="the first snapshot pulled")
            self.sl("add", "https://dest.example/x", "--code", "x1")
            second = self.compile(self.build)
            # While the compressed form lies, the plain file fails too: nothing changes.
            name = os.path.basename(second)
            packed_name = name + ".zst"
            hostile.lies[name] = lambda h: send(h, 500)
            hostile.lies[packed_name] = lambda h: send(h, 500)
            entry = json.loads(self.sl("publish", "--key", self.key, "--from", self.build, "--out", self.origin,
                                       "--zstd", "--expires", "1h", "--json").stdout)["files"][0]
            self.assertEqual((entry["name"], entry["zstd"]["name"]), (name, packed_name))
            packed = read(os.path.join(self.origin, packed_name))
            self.assertEqual(len(packed), entry["zstd"]["bytes"])
            bomb = zstd(b"\0" * (entry["bytes"] * 200), "-19")
            self.assertLessEqual(len(bomb), len(packed))

            def lie(reason, behaviour, what):
                before, fallbacks = self.refused(reason), self.metric("shortlink_pull_zstd_fallbacks_total")
                hostile.lies[packed_name] = behaviour
                # Failed polls back off (up to 6.4 s at this interval): generous deadlines.
                self.wait_until(lambda: self.refused(reason) > before, timeout=20, what=what)
                self.wait_until(lambda: self.metric("shortlink_pull_zstd_fallbacks_total") > fallbacks,
                                timeout=20, what=what + ": the fallback")
                self.assertEqual(self.get("/abc").status, 302, what)
                self.assertEqual(self.get("/x1").status, 404, what)
                self.assertIsNone(self.proc.poll())

            lie("decompressed_too_large", lambda h: send(h, 200, bomb), "a zstd bomb")
            lie("size_mismatch", lambda h: send(h, 200, packed[:len(packed) // 2]), "a truncated frame")
            lie("size_mismatch", lambda h: send(h, 200, packed[:len(packed) // 2],
                                                [("Content-Length", str(len(packed)))]),
                "a frame cut off mid-body")
            lie("bad_compression", lambda h: send(h, 200, os.urandom(len(packed))), "garbage")
            lie("too_large", lambda h: send(h, 200, packed + b"\0" * 64), "a body longer than the index says")
            self.assertFalse([n for n in os.listdir(self.snaps) if ".tmp." in n])
            # The plain file honest again, the compressed form still lying: the fallback serves.
            del hostile.lies[name]
            self.wait_until(lambda: self.get("/x1").status == 302, timeout=20,
                            what="the plain file after the fallback")
            self.assertEqual(read(os.path.join(self.snaps, name)), read(second))
            self.assertEqual(self.metric("shortlink_pull_zstd_files_total"), 0)
            self.assertTrue(any("fetching the plain file instead" in line.get("detail", "")
                                for line in self.log_lines("pull_refused")))
        finally:
            hostile.stop()


if __name__ == "__main__":
    harness.main()
