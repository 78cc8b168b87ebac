"""shortlink serve end to end: every answer over real sockets, HEAD, keep-alive, pipelining,
limits, the admin listener, startup with a bad newest snapshot or none, and `resolve`
agreeing with the server."""
import json
import os
import socket
import threading
import time

import harness
from serve_fixture import Client, ServeCase


class ServeAnswers(ServeCase):

    def test_every_answer(self):
        self.compile()
        self.serve()
        cases = [
            # target, host, status, location, cache-control
            ("/abc", "x.example", 302, "https://dest.example/a", "max-age=300"),
            ("/abc/", "x.example", 302, "https://dest.example/a", None),
            ("/%61bc", "x.example", 302, "https://dest.example/a", None),
            ("/abc?utm=1", "x.example", 302, "https://dest.example/a?utm=1", None),
            ("/q?utm=1", "x.example", 307, "https://dest.example/q?x=1&utm=1", None),
            ("/frag?utm=1", "x.example", 302, "https://dest.example/f?utm=1#top", None),
            ("/nofwd?utm=1", "x.example", 302, "https://dest.example/n", None),
            ("/Case", "x.example", 302, "https://dest.example/case", None),
            ("/CASE", "x.example", 404, None, None),
            ("/DOCS", "Go.Example.com:8080", 301, "https://docs.example.com/", "max-age=3600"),
            ("http://go.example.com/docs", "x.example", 301, "https://docs.example.com/", None),
            ("/", "go.example.com", 302, "https://www.example.com/", None),  # domain default type
            ("/", "x.example", 404, None, None),
            ("/nope", "go.example.com", 404, None, "max-age=10"),
            ("/off", "x.example", 410, None, None),
            ("/gone", "x.example", 410, None, None),
            ("/old", "x.example", 410, None, None),
            ("/soon", "x.example", 404, None, "no-store"),  # not started: nothing to cache
            ("/%zz", "x.example", 400, None, None),
        ]
        for target, host, status, location, cache in cases:
            with self.subTest(target=target, host=host):
                r = self.get(target, host)
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.headers.get("location"), location)
                if cache:
                    self.assertEqual(r.headers.get("cache-control"), cache)
                self.assertIn("date", r.headers)
                self.assertEqual(int(r.headers["content-length"]), len(r.body))
                if location:
                    self.assertIn(location.replace("&", "&amp;").encode(), r.body)
        r = self.get("/abc", method="POST")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["allow"], "GET, HEAD")
        r = self.get("/abc", method="DELETE")
        self.assertEqual(r.status, 405)

    def test_head_has_no_body(self):
        self.compile()
        self.serve()
        with Client(self.port) as c:
            c.send(b"HEAD /abc HTTP/1.1\r\nHost: a\r\n\r\nGET /abc HTTP/1.1\r\nHost: a\r\n\r\n")
            head = c.response(head=True)
            get = c.response()
        self.assertEqual(head.status, 302)
        self.assertEqual(head.body, b"")
        self.assertEqual(head.headers["content-length"], get.headers["content-length"])
        self.assertEqual(head.headers["location"], get.headers["location"])

    def test_keep_alive_and_pipelining_in_order(self):
        self.compile()
        self.serve()
        with Client(self.port) as c:
            c.send(b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(c.response().status, 302)
            self.assertFalse(c.closed(0.2))
            batch = (b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"HEAD /docs HTTP/1.1\r\nHost: go.example.com\r\n\r\n"
                     b"GET /off HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"POST /abc HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                     b"GET /q HTTP/1.1\r\nHost: a\r\n\r\n")
            # Split mid-request too: pipelined bytes may arrive in any chunking.
            c.send(batch[:37])
            time.sleep(0.05)
            c.send(batch[37:])
            statuses = [c.response().status, c.response(head=True).status, c.response().status,
                        c.response().status, c.response().status]
            self.assertEqual(statuses, [404, 301, 410, 405, 307])
            self.assertFalse(c.closed(0.2))

    def test_pipelined_burst_to_a_slow_reader_arrives_whole(self):
        # More answers than the socket buffers hold: the server's send stops part way, the rest
        # waits for the client to read, and every answer still arrives whole and in order.
        self.compile()
        self.serve("--max-requests", "100000")
        count = 4000
        codes = [("abc", 302), ("nope", 404), ("q", 307)]
        burst = b"".join(b"GET /%s HTTP/1.1\r\nHost: a\r\n\r\n" % codes[i % 3][0].encode()
                         for i in range(count))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", self.port))
        sock.settimeout(10)
        c = Client.__new__(Client)
        c.sock, c.buf = sock, b""
        sender = threading.Thread(target=sock.sendall, args=(burst,), daemon=True)
        sender.start()
        time.sleep(0.5)  # let the server fill its side before anything is read
        with c:
            statuses = []
            for _ in range(count):
                r = c.response()
                self.assertIsNotNone(r, "connection closed after %d answers" % len(statuses))
                statuses.append(r.status)
            sender.join(timeout=10)
            self.assertEqual(statuses, [codes[i % 3][1] for i in range(count)])
            self.assertFalse(c.closed(0.2))

    def test_http10_and_connection_close(self):
        self.compile()
        self.serve()
        with Client(self.port) as c:
            c.send(b"GET /abc HTTP/1.0\r\n\r\n")
            r = c.response()
            self.assertEqual(r.status, 302)
            self.assertTrue(c.closed())
        with Client(self.port) as c:
            c.send(b"GET /abc HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.response()
            self.assertEqual(r.headers.get("connection"), "keep-alive")
            self.assertFalse(c.closed(0.2))
        with Client(self.port) as c:
            c.send(b"GET /abc HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.response().headers.get("connection"), "close")
            self.assertTrue(c.closed())

    def test_limits_requests_connections_and_idle(self):
        self.compile()
        self.serve("--max-requests", "3", "--max-connections", "2", "--keepalive-timeout", "0.5",
                   "--header-timeout", "1", threads=1)
        with Client(self.port) as c:
            for i in range(3):
                c.send(b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n")
                r = c.response()
                self.assertEqual(r.status, 302)
            self.assertEqual(r.headers.get("connection"), "close")
            self.assertTrue(c.closed())
        with Client(self.port) as a, Client(self.port) as b:
            time.sleep(0.01)  # waiting times are kept in milliseconds: a's answer comes later
            a.send(b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(a.response().status, 302)
            with Client(self.port) as third:
                # At the limit the newcomer takes the place of b, which has waited longest
                # without sending a byte (a's clock restarted with its answer), and is served.
                self.assertTrue(b.closed(2.0), "b should make room for the third connection")
                third.send(b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n")
                self.assertEqual(third.response().status, 302)
            # Idle keep-alive timeout closes a.
            self.assertTrue(a.closed(3.0))
        with Client(self.port) as silent:
            # Never sends a byte: the header timeout closes it.
            self.assertTrue(silent.closed(3.0))
        self.assertEqual(self.metric("shortlink_connections_evicted_total"), 1)
        self.assertEqual(self.metric("shortlink_connections_rejected_total"), 0)
        self.assertGreaterEqual(self.metric('shortlink_timeouts_total{kind="idle"}'), 1)
        self.assertGreaterEqual(self.metric('shortlink_timeouts_total{kind="header"}'), 1)

    def test_admin_endpoints_and_metrics(self):
        serial = self.serial_of(self.compile())
        self.serve()
        self.get("/abc")
        self.get("/nope")
        self.assertEqual(self.admin("/healthz"), (200, "ok\n"))
        status, ready = self.readyz()
        self.assertEqual(status, 200)
        self.assertTrue(ready["ready"])
        self.assertEqual(ready["snapshot"]["serial"], serial)
        self.assertEqual(ready["snapshot"]["links"], len(self.links_all()))
        self.assertFalse(ready["snapshot"]["expired"])
        self.assertEqual(self.metric('shortlink_requests_total{status="302"}'), 1)
        self.assertEqual(self.metric('shortlink_requests_total{status="404"}'), 1)
        self.assertEqual(self.metric("shortlink_snapshot_serial"), serial)
        self.assertEqual(self.metric("shortlink_request_duration_seconds_count"), 2)
        self.assertEqual(self.admin("/nothing")[0], 404)
        # Admin paths are never answered on the public listener.
        self.assertEqual(self.get("/metrics").status, 404)
        self.assertEqual(self.get("/readyz").status, 404)

    def links_all(self):
        from serve_fixture import GO_LINKS, LINKS
        return LINKS + GO_LINKS

    def test_no_snapshot_503_until_one_arrives(self):
        self.serve()
        self.assertEqual(self.get("/abc").status, 503)
        status, ready = self.readyz()
        self.assertEqual(status, 503)
        self.assertFalse(ready["ready"])
        self.compile()  # published by rename into the watched directory
        self.wait_until(lambda: self.get("/abc").status == 302, what="inotify pickup")
        self.assertEqual(self.readyz()[0], 200)

    def test_corrupt_newest_falls_back_to_older(self):
        first = self.serial_of(self.compile())
        self.sl("edit", "abc", "--url", "https://dest.example/a2")
        newest = self.compile()
        with open(newest, "r+b") as f:
            f.seek(os.path.getsize(newest) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
        self.serve()
        self.assertEqual(self.get("/abc").headers["location"], "https://dest.example/a")
        status, ready = self.readyz()
        self.assertEqual(ready["snapshot"]["serial"], first)
        self.assertEqual(ready["last_refused"]["path"], newest)
        self.assertEqual(ready["last_refused"]["reason"], "corrupt")
        self.assertEqual(self.metric('shortlink_snapshot_refused_total{reason="corrupt"}'), 1)

    def test_untrusted_and_older_snapshots_are_refused(self):
        old = self.compile()
        first = self.serial_of(old)
        self.serve()
        other_key, _ = self.keygen("other")
        self.sl("edit", "abc", "--url", "https://dest.example/evil")
        staging = os.path.join(self.tmp, "staging")
        os.mkdir(staging)
        foreign = self.compile(staging, other_key)
        os.rename(foreign, os.path.join(self.snaps, os.path.basename(foreign)))
        self.wait_until(lambda: self.readyz()[1]["last_refused"] is not None, what="refusal")
        self.assertEqual(self.readyz()[1]["last_refused"]["reason"], "signature")
        self.assertEqual(self.get("/abc").headers["location"], "https://dest.example/a")
        # A validly signed but older snapshot under a new name: rollback.
        with open(old, "rb") as f, open(os.path.join(staging, "links-1000.slsnap"), "wb") as g:
            g.write(f.read())
        os.rename(os.path.join(staging, "links-1000.slsnap"), os.path.join(self.snaps, "links-1000.slsnap"))
        self.wait_until(lambda: self.readyz()[1]["last_refused"]["reason"] == "rollback",
                        what="rollback refusal")
        self.assertEqual(self.metric('shortlink_snapshot_refused_total{reason="signature"}'), 1)
        self.assertEqual(self.readyz()[1]["snapshot"]["serial"], first)

    def test_expired_snapshot_keeps_serving_flagged(self):
        # compile refuses a not-after in the past, so take one that passes in a second.
        self.sl("compile", "--key", self.key, "--out", self.snaps, "--not-after", "1s")
        self.serve()
        time.sleep(2.1)
        self.assertEqual(self.get("/abc").status, 302)
        status, ready = self.readyz()
        self.assertEqual(status, 200)
        self.assertTrue(ready["snapshot"]["expired"])
        self.assertEqual(self.metric("shortlink_snapshot_expired"), 1)

    def test_sighup_rescans(self):
        self.compile()
        self.serve("--rescan-interval", "3600")
        self.sl("edit", "abc", "--url", "https://dest.example/hup")
        staging = os.path.join(self.tmp, "staging")
        os.mkdir(staging)
        path = self.compile(staging)
        # Copy (no rename, no close-write event on a watched name) so only SIGHUP can find it.
        os.link(path, os.path.join(self.snaps, os.path.basename(path)))
        time.sleep(0.3)
        self.proc.send_signal(1)
        self.wait_until(lambda: self.get("/abc").headers.get("location") == "https://dest.example/hup",
                        what="SIGHUP reload")

    def test_resolve_agrees_with_server(self):
        path = self.compile()
        self.serve()
        for url in ["http://x.example/abc?utm=1", "http://go.example.com/DOCS", "http://x.example/nope",
                    "http://x.example/off", "http://go.example.com/", "http://x.example/q?z=2"]:
            with self.subTest(url=url):
                proc = self.sl("resolve", path, "--trust", self.pub, url, "--json")
                resolved = json.loads(proc.stdout)
                r = self.get(url)  # absolute-form target, as a proxy sends it
                self.assertEqual(resolved["status"], r.status)
                self.assertEqual(resolved["location"], r.headers.get("location"))
                self.assertEqual(resolved["cache_control"], r.headers.get("cache-control"))
                self.assertTrue(resolved["signature_checked"])
        text = self.sl("resolve", path, "--trust", self.pub, "http://x.example/abc").stdout
        self.assertIn("HTTP/1.1 302 Found\nLocation: https://dest.example/a\n", text)
        at = self.sl("resolve", path, "http://x.example/soon", "--at", "2099-06-01T00:00:00Z", "--json")
        self.assertEqual(json.loads(at.stdout)["status"], 302)

    def test_forwarded_parameters_replace_the_destinations(self):
        self.sl("add", "https://dest.example/p?utm_source=qr&id=7#top", "--code", "camp")
        path = self.compile()
        self.serve()
        url = "http://x.example/camp?utm_source=sms&x=1"
        merged = "https://dest.example/p?id=7&utm_source=sms&x=1#top"
        both = "https://dest.example/p?utm_source=qr&id=7&utm_source=sms&x=1#top"
        self.assertEqual(self.get(url).headers["location"], merged)
        self.assertEqual(json.loads(self.sl("resolve", path, url, "--json").stdout)["location"], merged)
        self.assertEqual(json.loads(self.sl("resolve", path, url, "--json", "--query-params", "keep-both")
                                    .stdout)["location"], both)
        self.stop(self.proc)
        self.serve("--query-params", "keep-both")
        self.assertEqual(self.get(url).headers["location"], both)
        proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--query-params", "merge", expect=2)
        self.assertIn("--query-params: merge not in {replace,keep-both}", proc.stderr)

    def test_resolve_hostile_input(self):
        path = self.compile()
        other_key, other_pub = self.keygen("other")
        self.sl("resolve", path, "--trust", other_pub, "http://x/abc", expect=5)
        self.sl("resolve", path, "not-a-url", expect=2)
        self.sl("resolve", path, "http://x/%zz", expect=2)
        missing = os.path.join(self.tmp, "missing.slsnap")
        proc = self.sl("resolve", missing, "http://x/abc", expect=3)
        self.assertEqual(proc.stderr, f"shortlink: error: {missing}: no such file\n")
        with open(os.path.join(self.tmp, "junk.slsnap"), "wb") as f:
            f.write(b"\0" * 300)
        self.sl("resolve", os.path.join(self.tmp, "junk.slsnap"), "http://x/abc", expect=5)

    def test_bad_options(self):
        self.compile()
        self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--listen", "localhost:80",
                expect=2)
        self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--listen", "127.0.0.1:99999",
                expect=2)
        self.sl("serve", "--snapshots", os.path.join(self.tmp, "none"), "--trust", self.pub, expect=3)
        none = os.path.join(self.tmp, "none.pub")
        proc = self.sl("serve", "--snapshots", self.snaps, "--trust", none, expect=3)
        self.assertIn(f"public key {none} does not exist", proc.stderr)

    def test_config_file(self):
        self.compile()
        port, admin = harness.free_port(), harness.free_port()
        config = os.path.join(self.tmp, "serve.toml")
        with open(config, "w") as f:
            f.write(f'snapshots = "{self.snaps}"\ntrust = ["{self.pub}"]\n'
                    f'listen = ["127.0.0.1:{port}"]\nadmin = "127.0.0.1:{admin}"\nthreads = 1\n'
                    f'max-requests = 2\n')
        import subprocess
        with self.server_log() as err:
            proc = subprocess.Popen([harness.BIN, "serve", "--config", config],
                                    stdout=subprocess.DEVNULL, stderr=err)
        self.procs.append(proc)
        self.assertTrue(harness.wait_for_port(port))
        self.port, self.admin_port = port, admin
        with Client(port) as c:
            c.send(b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n" * 2)
            c.response()
            self.assertEqual(c.response().headers.get("connection"), "close")
        self.assertEqual(self.stop(proc), 0)


if __name__ == "__main__":
    harness.main()
