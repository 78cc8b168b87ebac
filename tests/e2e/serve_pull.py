"""End-to-end: `shortlink serve --pull` against a real origin (Debian's nginx serving a directory
laid out by `shortlink publish`, with docs/origin.md's configuration) and against a hostile one (a
small HTTP server in this test that lies: foreign keys, replayed and expired indexes, wrong bytes,
truncated and endless bodies, a slow drip, redirect loops). The host serves what the origin
publishes within seconds, refuses every lie by reason, and never changes what it answers because
of one."""
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from publish_origin import Nginx, read  # noqa: E402
from serve_fixture import ServeCase  # noqa: E402
from serve_tls import Pki  # noqa: E402


class HostileOrigin:
    """An HTTP origin on 127.0.0.1 that serves files from `root`, except for the paths given a
    behaviour in `self.lies`: name -> function(handler)."""

    def __init__(self, root):
        self.root = root
        self.lies = {}
        self.requests = []
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                origin.requests.append(name)
                if name in origin.lies:
                    origin.lies[name](self)
                    return
                path = os.path.join(origin.root, name)
                if not os.path.isfile(path):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with open(path, "rb") as f:
                    data = f.read()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def send(handler, status, body=b"", headers=()):
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    if not any(name == "Content-Length" for name, _ in headers):
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class ServePullTest(ServeCase):

    def setUp(self):
        super().setUp()
        self.build = os.path.join(self.tmp, "build")
        self.origin = os.path.join(self.tmp, "origin")

    def publish(self, *extra, key=None, out=None):
        self.sl("publish", "--key", key or self.key, "--from", self.build, "--out", out or self.origin, *extra)

    def refused(self, reason):
        _, body = self.admin("/metrics")
        for line in body.splitlines():
            if line.startswith(f'shortlink_pull_refused_total{{reason="{reason}"}}'):
                return float(line.split()[-1])
        raise AssertionError(f"no refusal counter for {reason}")

    def location(self, code):
        r = self.get("/" + code)
        return r.status, r.headers.get("location")

    def test_a_published_change_reaches_the_host_in_seconds(self):
        self.compile(self.build)
        self.publish()
        nginx = Nginx(self, self.origin)
        try:
            self.serve("--pull", f"http://127.0.0.1:{nginx.port}/", "--pull-interval", "0.2")
            self.wait_until(lambda: self.get("/abc").status == 302, what="the first snapshot pulled")
            # A new link, published as a patch: served within 5 s (measured).
            self.sl("add", "https://dest.example/new", "--code", "newcode")
            self.compile(self.build, None, "--patch")
            started = time.monotonic()
            self.publish()
            self.wait_until(lambda: self.get("/newcode").status == 302, timeout=5, what="the patch")
            patch_s = time.monotonic() - started
            # A block, published as a deny overlay: served within 2 s.
            self.sl("block", "link", "abc", "--publish", self.build, "--key", self.key)
            started = time.monotonic()
            self.publish()
            self.wait_until(lambda: self.get("/abc").status == 410, timeout=2, what="the block")
            block_s = time.monotonic() - started
            print(f"publish to served: patch {patch_s:.2f} s, block {block_s:.2f} s", file=sys.stderr)
            self.assertGreaterEqual(self.metric("shortlink_pull_files_total"), 3)
            # Unchanged: nginx answers the conditional request with a 304.
            not_modified = self.metric("shortlink_pull_not_modified_total")
            self.wait_until(lambda: self.metric("shortlink_pull_not_modified_total") > not_modified + 2,
                            what="304s for an unchanged index")
            status, ready = self.readyz()
            self.assertEqual(status, 200)
            self.assertLess(ready["pull"]["stale_s"], 5)
            self.assertFalse(ready["pull"]["index_expired"])
            self.assertEqual(self.refused("unreachable"), 0)
            # The origin gone: the host keeps serving, and says how stale it is.
            nginx.stop()
            self.wait_until(lambda: self.refused("unreachable") > 0, what="the origin missed")
            self.assertEqual(self.location("newcode"), (302, "https://dest.example/new"))
            self.assertIn("127.0.0.1", self.readyz()[1]["pull"]["last_error"])
        finally:
            nginx.stop()

    def test_every_lie_of_an_origin_is_refused_and_changes_nothing(self):
        first = self.compile(self.build)
        self.publish("--expires", "1h")
        hostile = HostileOrigin(self.origin)
        try:
            self.serve("--pull", f"http://127.0.0.1:{hostile.port}/", "--pull-interval", "0.1",
                       "--pull-timeout", "1")
            self.wait_until(lambda: self.get("/abc").status == 302, what="the first snapshot pulled")
            good_index = read(os.path.join(self.origin, "index-stable.slindex"))

            def lie(reason, setup, what):
                before = self.refused(reason)
                setup()
                self.wait_until(lambda: self.refused(reason) > before, timeout=10, what=what)
                self.assertEqual(self.location("abc"), (302, "https://dest.example/a"), what)
                self.assertEqual(self.proc.poll(), None)

            # An index signed by another key.
            other_key, _ = self.keygen("other")
            foreign = os.path.join(self.tmp, "foreign")
            os.makedirs(foreign)
            self.sl("compile", "--key", other_key, "--out", foreign)
            self.sl("publish", "--key", other_key, "--out", foreign)
            foreign_index = read(os.path.join(foreign, "index-stable.slindex"))
            lie("bad_index", lambda: hostile.lies.update({"index-stable.slindex": lambda h: send(h, 200, foreign_index)}),
                "an index of a foreign key")
            # A truncated index.
            lie("bad_index", lambda: hostile.lies.update(
                {"index-stable.slindex": lambda h: send(h, 200, good_index[:100])}), "a truncated index")
            # A newer snapshot whose bytes are not the index's.
            self.sl("add", "https://dest.example/x", "--code", "x1")
            second = self.compile(self.build)
            self.publish("--expires", "1h")
            name = os.path.basename(second)
            data = read(second)
            tampered = data[:-1] + bytes([data[-1] ^ 1])
            hostile.lies.clear()
            lie("digest_mismatch", lambda: hostile.lies.update({name: lambda h: send(h, 200, tampered)}),
                "a file with other bytes")
            lie("size_mismatch", lambda: hostile.lies.update(
                {name: lambda h: send(h, 200, data[:500], [("Content-Length", str(len(data)))])}),
                "a truncated file")

            def endless(h):
                h.send_response(200)
                h.send_header("Transfer-Encoding", "chunked")
                h.end_headers()
                try:
                    while True:
                        h.wfile.write(b"1000\r\n" + b"x" * 4096 + b"\r\n")
                except OSError:
                    pass
            lie("too_large", lambda: hostile.lies.update({name: endless}), "an endless body")

            def drip(h):
                h.send_response(200)
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                try:
                    for b in data:
                        h.wfile.write(bytes([b]))
                        h.wfile.flush()
                        time.sleep(0.5)
                except OSError:
                    pass
            lie("unreachable", lambda: hostile.lies.update({name: drip}), "a slow drip")
            lie("redirect_loop", lambda: hostile.lies.update(
                {name: lambda h: send(h, 302, b"", [("Location", "/" + name)])}), "a redirect loop")
            lie("http_status", lambda: hostile.lies.update({name: lambda h: send(h, 500)}), "a 500")
            self.assertEqual(self.get("/x1").status, 404)  # nothing of the newer snapshot got in
            # Honest again: the newer snapshot arrives.
            hostile.lies.clear()
            self.wait_until(lambda: self.get("/x1").status == 302, what="the honest file")
            # A replay of the older index: refused by its serial.
            old_index = good_index
            lie("older_index", lambda: hostile.lies.update(
                {"index-stable.slindex": lambda h: send(h, 200, old_index)}), "a replayed index")
            self.assertEqual(self.get("/x1").status, 302)
            # An expired index: refused, and said in /readyz.
            hostile.lies.clear()
            self.publish("--expires", "1s")
            time.sleep(1.2)
            lie("expired_index", lambda: None, "an expired index")
            self.assertIn("expired", self.readyz()[1]["pull"]["last_error"])
            self.assertEqual(self.readyz()[0], 200)  # still serving: a host never goes dark
            self.assertFalse([n for n in os.listdir(self.snaps) if ".tmp." in n])  # no temporary files left
            self.assertTrue(os.path.exists(first.replace(self.build, self.snaps)))
        finally:
            hostile.stop()

    def test_mirrors_are_tried_in_order_and_state_survives_the_origin(self):
        self.compile(self.build)
        self.publish()
        nginx = Nginx(self, self.origin)
        try:
            dead = f"http://127.0.0.1:{harness.free_port()}/"
            self.serve("--pull", dead, "--pull", f"http://127.0.0.1:{nginx.port}/", "--pull-interval", "0.2")
            self.wait_until(lambda: self.get("/abc").status == 302, what="a pull from the second mirror")
            self.assertGreater(self.refused("unreachable"), 0)
            self.assertEqual(self.readyz()[1]["pull"]["origin"], f"http://127.0.0.1:{nginx.port}/")
        finally:
            nginx.stop()
        # Restarted with no origin at all: it serves its last good files at once. A download a
        # killed server left half done is removed; another process's is left alone.
        self.stop(self.proc)
        dead_pid = subprocess.Popen(["true"])
        dead_pid.wait()
        stale = os.path.join(self.snaps, f".links-1.slsnap.tmp.{dead_pid.pid}.42")
        live = os.path.join(self.snaps, f".links-2.slsnap.tmp.{os.getpid()}.42")
        for path in (stale, live):
            with open(path, "wb") as f:
                f.write(b"partial")
        self.serve("--pull", f"http://127.0.0.1:{harness.free_port()}/")
        self.assertEqual(self.get("/abc").status, 302)
        self.wait_until(lambda: not os.path.exists(stale), what="the stale download removed")
        self.assertTrue(os.path.exists(live))

    def test_https_origin_is_verified(self):
        self.compile(self.build)
        self.publish()
        pki = Pki(os.path.join(self.tmp, "pki"))
        chain, key = pki.leaf("origin", ["localhost"])
        for name, text in (("origin.crt", chain), ("origin.key", key)):
            with open(os.path.join(self.tmp, name), "w") as f:
                f.write(text)
        nginx = Nginx(self, self.origin, tls=(os.path.join(self.tmp, "origin.crt"), os.path.join(self.tmp, "origin.key")))
        try:
            url = f"https://localhost:{nginx.port}/"
            # The system's trust store does not know the test CA: nothing is pulled.
            self.serve("--pull", url, "--pull-interval", "0.2")
            self.wait_until(lambda: self.refused("unreachable") > 0, what="a refused certificate")
            self.assertIn("certificate verify failed", self.readyz()[1]["pull"]["last_error"])
            self.assertEqual(self.get("/abc").status, 503)
            self.stop(self.proc)
            # With the CA, the same origin is trusted; by address, the name does not match.
            self.serve("--pull", url, "--ca", pki.root, "--pull-interval", "0.2")
            self.wait_until(lambda: self.get("/abc").status == 302, what="a pull over HTTPS")
            self.stop(self.proc)
            shutil.rmtree(self.snaps)
            os.mkdir(self.snaps)
            shutil.rmtree(os.path.join(self.tmp, "state"))
            self.serve("--pull", f"https://127.0.0.1:{nginx.port}/", "--ca", pki.root, "--pull-interval", "0.2")
            self.wait_until(lambda: self.refused("unreachable") > 0, what="a name mismatch")
            self.assertEqual(self.get("/abc").status, 503)
        finally:
            nginx.stop()

    def test_canary_then_promote_after_checks(self):
        self.compile(self.build)
        self.publish("--channel", "stable")
        self.publish("--channel", "canary")
        nginx = Nginx(self, self.origin)
        try:
            url = f"http://127.0.0.1:{nginx.port}/"
            _, stable_port, stable_admin = self.serve("--pull", url, "--pull-interval", "0.2",
                                                      "--state-dir", os.path.join(self.tmp, "state-stable"))
            canary_snaps = os.path.join(self.tmp, "canary-snaps")
            os.mkdir(canary_snaps)
            snaps, self.snaps = self.snaps, canary_snaps
            _, canary_port, _ = self.serve("--pull", url, "--channel", "canary", "--pull-interval", "0.2",
                                           "--state-dir", os.path.join(self.tmp, "state-canary"))
            self.snaps = snaps

            def status(port, code):
                self.port = port
                return self.get("/" + code).status

            self.wait_until(lambda: status(stable_port, "abc") == 302 and status(canary_port, "abc") == 302,
                            what="both hosts serving")
            # A new link goes to the canary only; --keep 1 never removes what stable still names.
            self.sl("add", "https://dest.example/v2", "--code", "v2")
            self.compile(self.build)
            self.publish("--channel", "canary", "--keep", "1")
            # Within the second the canary index was fetched, with the same size: nginx gives it the
            # same ETag, and the host must not be told "not modified".
            self.wait_until(lambda: status(canary_port, "v2") == 302, what="the canary serving v2")
            self.assertEqual(status(stable_port, "v2"), 404)
            time.sleep(0.5)
            self.assertEqual(status(stable_port, "abc"), 302)
            stable_index = read(os.path.join(self.origin, "index-stable.slindex"))
            # A check that fails promotes nothing and says why.
            checks = os.path.join(self.tmp, "checks")
            with open(checks, "w") as f:
                f.write(f"# canary hosts\nhttp://127.0.0.1:{canary_port}/v2 https://dest.example/wrong 302\n")
            p = self.sl("promote", "--key", self.key, "--out", self.origin, "--probe-file", checks, expect=5)
            self.assertIn("not promoted: check on line 2 failed", p.stderr)
            self.assertIn("not the expected 'https://dest.example/wrong'", p.stderr)
            self.assertEqual(read(os.path.join(self.origin, "index-stable.slindex")), stable_index)
            # Checks that pass: stable now serves what canary serves.
            with open(checks, "w") as f:
                f.write(f"http://127.0.0.1:{canary_port}/v2 https://dest.example/v2 302\n"
                        f"http://127.0.0.1:{canary_port}/abc https://dest.example/a\n")
            result = json.loads(self.sl("promote", "--key", self.key, "--out", self.origin, "--probe-file", checks,
                                        "--json").stdout)
            self.assertEqual((result["channel"], result["promoted_from"], result["checks_passed"]), ("stable", "canary", 2))
            self.wait_until(lambda: status(stable_port, "v2") == 302, what="stable serving v2 after promotion")
            # Broken check files and channels are usage errors.
            with open(checks, "w") as f:
                f.write("http://127.0.0.1:1/x\n")
            self.assertIn("expected URL LOCATION", self.sl("promote", "--key", self.key, "--out", self.origin,
                                                           "--probe-file", checks, expect=2).stderr)
            with open(checks, "w") as f:
                f.write("http://127.0.0.1:1/x https://a.example/ 99\n")
            self.assertIn("not an HTTP status", self.sl("promote", "--key", self.key, "--out", self.origin,
                                                        "--probe-file", checks, expect=2).stderr)
            self.assertIn("the same channel", self.sl("promote", "--key", self.key, "--out", self.origin,
                                                      "--from", "stable", expect=2).stderr)
            self.assertIn("no such index", self.sl("promote", "--key", self.key, "--out", self.origin,
                                                   "--from", "beta", expect=3).stderr)
        finally:
            nginx.stop()

    def test_bad_options_are_refused(self):
        for args, message in ((["--pull", "ftp://x.example/"], "not an http:// or https:// URL"),
                              (["--pull", "http://x.example/?a=1"], "no query"),
                              (["--pull", "http://u:p@x.example/"], "credentials"),
                              (["--pull", "not a url"], "not an absolute URL"),
                              (["--channel", "canary"], "only used with --pull"),
                              (["--pull", "http://127.0.0.1:1/", "--channel", "Bad"], "starts with"),
                              (["--pull", "http://127.0.0.1:1/", "--ca", "/nonexistent"], "is not a file"),
                              (["--pull", "http://127.0.0.1:1/", "--pull-interval", "0"], "--pull-interval")):
            with self.subTest(args=args):
                p = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, *args, expect=None)
                self.assertIn(p.returncode, (2, 3))
                self.assertIn(message, p.stderr)


if __name__ == "__main__":
    harness.main()
