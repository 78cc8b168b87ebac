"""End-to-end: `shortlink publish` lays a directory out as a static origin, and Debian's nginx,
configured with the sample of docs/origin.md, serves it: the index fetched over HTTP verifies and
names files whose size and SHA-256 match what is downloaded. Then the hostile paths: foreign keys,
damaged files, names that would change their bytes, bad channels and expiries, a refresh of an
index whose files are gone."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

SOURCE_DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "origin.md")


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Nginx:
    """nginx on a free port of 127.0.0.1 serving `root` with docs/origin.md's server block; over
    TLS with `tls` = (certificate chain file, key file)."""

    def __init__(self, case, root, tls=None):
        with open(SOURCE_DOC, encoding="utf-8") as f:
            block = re.search(r"```nginx\n(.*?)```", f.read(), re.S).group(1)
        self.port = harness.free_port()
        self.dir = os.path.join(case.tmp, "nginx")
        os.makedirs(os.path.join(self.dir, "tmp"))
        listen = f"listen 127.0.0.1:{self.port};"
        if tls:
            listen = f"listen 127.0.0.1:{self.port} ssl;\n    ssl_certificate {tls[0]};\n    ssl_certificate_key {tls[1]};"
        block = block.replace("listen 80;", listen).replace("/srv/shortlink-origin", root)
        temp = "".join(f"    {k}_temp_path {self.dir}/tmp;\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(f"daemon off;\nmaster_process off;\npid {self.dir}/nginx.pid;\n"
                    f"error_log {self.dir}/error.log warn;\nevents {{ worker_connections 64; }}\n"
                    f"http {{\n    access_log off;\n{temp}{block}\n}}\n")
        self.log = open(os.path.join(self.dir, "stderr.log"), "w+b")
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"), "-c", path],
                                     stdout=self.log, stderr=self.log)
        if not harness.wait_for_port(self.port):
            self.stop()
            raise AssertionError("nginx did not start")

    def get(self, name, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/{name}", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), b""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class PublishOriginTest(harness.ShortlinkTestCase):

    def setUp(self):
        super().setUp()
        self.sl("init")
        self.keys = os.path.join(self.tmp, "keys")
        self.sl("keygen", "--out", self.keys, "--name", "ci", input="")
        self.key = os.path.join(self.keys, "ci.key")
        self.pub = os.path.join(self.keys, "ci.pub")
        self.build = os.path.join(self.tmp, "build")
        self.origin = os.path.join(self.tmp, "origin")
        self.sl("add", "https://example.com/a", "--code", "abc")

    def compile(self, *extra):
        return json.loads(self.sl("compile", "--key", self.key, "--out", self.build, "--json", *extra, input="").stdout)

    def publish(self, *extra, expect=0):
        return self.sl("publish", "--key", self.key, "--out", self.origin, *extra, expect=expect, input="")

    def index(self, channel="stable"):
        path = os.path.join(self.origin, f"index-{channel}.slindex")
        return json.loads(self.sl("inspect", path, "--json").stdout)

    def test_published_origin_served_by_nginx(self):
        snap = self.compile()
        self.sl("add", "https://example.com/b", "--code", "new")
        patch = self.compile("--patch")
        self.sl("block", "link", "abc")
        overlay = json.loads(self.sl("overlay", "--key", self.key, "--out", self.build, "--json", input="").stdout)
        result = json.loads(self.publish("--from", self.build, "--json").stdout)
        names = [os.path.basename(p) for p in (snap["path"], patch["path"], overlay["path"])]
        self.assertEqual([f["name"] for f in result["files"]], names)
        self.assertEqual(sorted(os.listdir(self.origin)), sorted(names + ["index-stable.slindex"]))
        # What nginx serves is what the index promises.
        nginx = Nginx(self, self.origin)
        try:
            status, headers, body = nginx.get("index-stable.slindex")
            self.assertEqual((status, headers.get("Cache-Control")), (200, "no-cache"))
            fetched = os.path.join(self.tmp, "fetched.slindex")
            with open(fetched, "wb") as f:
                f.write(body)
            verdict = json.loads(self.sl("verify", fetched, "--trust", self.pub, "--json").stdout)
            self.assertEqual((verdict["kind"], verdict["channel"], verdict["files"]), ("origin index", "stable", 3))
            listed = json.loads(self.sl("inspect", fetched, "--json").stdout)
            for entry in listed["files"]:
                status, headers, data = nginx.get(entry["name"])
                self.assertEqual(status, 200)
                self.assertIn("immutable", headers.get("Cache-Control"))
                self.assertEqual(len(data), entry["bytes"])
                self.assertEqual(hashlib.sha256(data).hexdigest(), entry["sha256"])
            # A poller asking again for an unchanged index gets 304 without a body.
            status, headers, _ = nginx.get("index-stable.slindex")
            status, _, body = nginx.get("index-stable.slindex", {"If-None-Match": headers["ETag"]})
            self.assertEqual((status, body), (304, b""))
            self.assertEqual(nginx.get("anything-else")[0], 404)
        finally:
            nginx.stop()

    def test_serials_only_go_up_and_refresh_keeps_the_files(self):
        self.compile()
        first = json.loads(self.publish("--from", self.build, "--json").stdout)
        again = json.loads(self.publish("--from", self.build, "--json").stdout)
        self.assertGreater(again["serial"], first["serial"])
        self.assertEqual(again["copied"], [])  # nothing new to copy: the same bytes are there
        refreshed = json.loads(self.publish("--refresh", "--expires", "1h", "--json").stdout)
        self.assertTrue(refreshed["refreshed"])
        self.assertGreater(refreshed["serial"], again["serial"])
        self.assertEqual(refreshed["files"], again["files"])
        self.assertGreater(refreshed["expires_at"], again["expires_at"])
        # A channel of its own over the same files.
        self.publish("--channel", "canary")
        self.assertEqual(self.index("canary")["channel"], "canary")
        # Publishing in place: the compile's own directory is the origin.
        self.compile()
        in_place = json.loads(self.sl("publish", "--key", self.key, "--out", self.build, "--json").stdout)
        self.assertEqual(in_place["copied"], [])
        self.assertTrue(os.path.exists(os.path.join(self.build, "index-stable.slindex")))
        # --keep prunes what no index names any more.
        for _ in range(3):
            self.compile()
        self.publish("--from", self.build, "--keep", "2")
        snaps = [n for n in os.listdir(self.origin) if n.endswith(".slsnap")]
        self.assertEqual(len(snaps), 2)
        self.assertIn(self.index()["files"][0]["name"], snaps)

    def test_hostile_and_broken_input(self):
        snap = self.compile()
        other = os.path.join(self.tmp, "other")
        self.sl("keygen", "--out", other, "--name", "x", input="")
        # A key that signed nothing here: nothing to publish.
        p = self.sl("publish", "--key", os.path.join(other, "x.key"), "--out", self.origin, "--from", self.build,
                    expect=3)
        self.assertIn("no snapshot there verifies against key", p.stderr)
        self.assertIn("not among the 1 trusted key", p.stderr)  # each skipped file says why
        self.assertFalse(os.path.exists(os.path.join(self.origin, "index-stable.slindex")))
        # A damaged newer snapshot is skipped with a warning; the older good one is published.
        self.sl("add", "https://example.com/z", "--code", "zzz")
        newer = self.compile()
        with open(newer["path"], "r+b") as f:
            f.seek(os.path.getsize(newer["path"]) // 2)
            f.write(b"\xff\xff\xff\xff")
        p = self.publish("--from", self.build, "--json")
        self.assertIn("skipping", p.stderr)
        self.assertEqual(json.loads(p.stdout)["files"][0]["serial"], snap["serial"])
        os.remove(newer["path"])
        # A published name never changes its bytes.
        name = os.path.basename(snap["path"])
        with open(os.path.join(self.origin, name), "r+b") as f:
            f.seek(200)
            f.write(b"\x00\x01")
        before = read(os.path.join(self.origin, "index-stable.slindex"))
        p = self.publish("--from", self.build, expect=4)
        self.assertIn("holds other bytes than", p.stderr)
        self.assertEqual(read(os.path.join(self.origin, "index-stable.slindex")), before)
        shutil.copy(snap["path"], os.path.join(self.origin, name))
        # Usage errors.
        for args, message in ((["--channel", "Canary"], "starts with a lowercase letter"),
                              (["--channel", "a/b"], "only a-z"),
                              (["--channel", "x" * 33], "at most 32"),
                              (["--expires", "2001-01-01T00:00:00Z"], "must be in the future"),
                              (["--expires", "soon"], "--expires"),
                              (["--keep", "0", "--from", self.build], "at least 1"),
                              (["--refresh", "--from", self.build], "excludes")):
            with self.subTest(args=args):
                p = self.publish(*args, expect=2)
                self.assertIn(message, p.stderr)
        self.assertIn("no such directory", self.publish("--from", os.path.join(self.tmp, "nope"), expect=3).stderr)
        self.assertIn("no such index", self.publish("--refresh", "--channel", "beta", expect=3).stderr)
        # A refresh never vouches for files that are gone or changed size.
        self.publish("--from", self.build)
        target = os.path.join(self.origin, name)
        with open(target, "ab") as f:
            f.write(b"x")
        self.assertIn("publish again", self.publish("--refresh", expect=5).stderr)
        os.remove(target)
        self.assertIn("which is gone", self.publish("--refresh", expect=3).stderr)
        # A damaged or foreign index: verify says so; a new publish replaces it with a warning.
        shutil.copy(snap["path"], target)
        index = os.path.join(self.origin, "index-stable.slindex")
        with open(index, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x20
        with open(index, "wb") as f:
            f.write(bytes(data))
        self.sl("verify", index, "--trust", self.pub, expect=5)
        p = self.publish()
        self.assertIn("replacing an index that does not verify", p.stderr)
        self.sl("verify", index, "--trust", self.pub)
        self.sl("verify", index, "--trust", os.path.join(other, "x.pub"), expect=5)
        with open(index, "wb") as f:
            f.write(bytes(data[:100]))
        self.assertIn("truncated", self.sl("verify", index, "--trust", self.pub, expect=5).stderr)
        # An expired index fails verify but inspect still shows it.
        self.publish("--expires", "2s")
        time.sleep(2.5)
        self.assertIn("expired at", self.sl("verify", index, "--trust", self.pub, expect=5).stderr)
        self.assertTrue(json.loads(self.sl("inspect", index, "--json").stdout)["expired"])


if __name__ == "__main__":
    harness.main()
