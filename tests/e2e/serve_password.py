"""shortlink serve end to end: password links over HTTP. The form (no-store, no-referrer, a CSP
that loads nothing), a wrong password (403 and the form again), the right one (303, a signed
HttpOnly cookie for that link, then the redirect itself), a cookie for another link, tampered or
signed by another key refused, rate limits (429 with Retry-After) per client and their metrics,
hostile and oversized bodies, pipelining behind a check, redirects that keep their latency while
slow checks run on the pool, the cookie key's file checks and its persistence in the state
directory, split stickiness through the signed sl_split cookie, and the CLI's password input."""
import os
import re
import statistics
import subprocess
import threading
import time
import urllib.parse

import harness
from serve_fixture import Client, ServeCase

PASSWORD = "open sesame"
OTHER_PASSWORD = "another one"


def form_post(target, body, content_type="application/x-www-form-urlencoded", extra=""):
    data = body.encode() if isinstance(body, str) else body
    return (f"POST {target} HTTP/1.1\r\nHost: x.example\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(data)}\r\n{extra}\r\n").encode() + data


class ServePassword(ServeCase):
    def setUp(self):
        super().setUp()
        self.pw_file = self.write("pw.txt", PASSWORD + "\n")
        self.other_file = self.write("other.txt", OTHER_PASSWORD + "\r\n")
        self.sl("add", "https://dest.example/secret?x=1", "--code", "secret", "--password-file", self.pw_file)
        self.sl("add", "https://dest.example/other", "--code", "other", "--password-file", self.other_file)
        self.sl("add", "https://default.example/ab", "--code", "ab")
        self.sl("rule", "add", "ab", "--if", "split=50", "--to", "https://ab.example/a")
        self.sl("rule", "add", "ab", "--if", "split=50", "--to", "https://ab.example/b")
        self.snapshot = self.compile()
        self.cookie_key = self.write("cookie.key", os.urandom(32), mode=0o600)

    def write(self, name, content, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        os.chmod(path, mode)
        return path

    def post(self, target, password, client=None, **kwargs):
        body = "password=" + urllib.parse.quote_plus(password)
        if client is not None:
            client.send(form_post(target, body, **kwargs))
            return client.response()
        with Client(self.port) as c:
            c.send(form_post(target, body, **kwargs))
            return c.response()

    def fetch(self, target, *headers, method="GET"):
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
        with Client(self.port) as c:
            c.send(f"{method} {target} HTTP/1.1\r\nHost: x.example\r\n{extra}\r\n".encode())
            return c.response(head=(method == "HEAD"))

    def assert_private(self, r):
        self.assertEqual(r.headers.get("cache-control"), "no-store", r)
        self.assertEqual(r.headers.get("referrer-policy"), "no-referrer", r)

    def test_form_is_self_contained_and_never_cached(self):
        self.serve("--cookie-key", self.cookie_key)
        r = self.fetch("/secret")
        self.assertEqual(r.status, 200)
        self.assert_private(r)
        self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8")
        self.assertEqual(r.headers["content-security-policy"],
                         "default-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        self.assertNotIn("set-cookie", r.headers)
        self.assertIn(b'<form method="post">', r.body)
        self.assertIn(b'name="password"', r.body)
        self.assertNotIn(b"dest.example", r.body)  # the destination is not given away
        self.assertIsNone(re.search(rb"(src|href)=|<script|<link|<style|url\(", r.body), r.body)
        head = self.fetch("/secret", method="HEAD")
        self.assertEqual((head.status, head.body), (200, b""))
        self.assert_private(head)
        # Links without a password are untouched, and still refuse POST.
        self.assertEqual(self.fetch("/abc").status, 302)
        self.assertEqual(self.post("/abc", PASSWORD).status, 405)
        self.assertEqual(self.post("/", PASSWORD).status, 405)
        self.assertEqual(self.post("/nope", PASSWORD).status, 405)
        # resolve answers GET as the server does.
        out = self.sl("resolve", self.snapshot, "http://x.example/secret", "--trust", self.pub, "--json").stdout
        self.assertIn('"status":200', out)
        self.assertIn('"reason":"password_form"', out)

    def test_wrong_then_right_password_then_cookie(self):
        self.serve("--cookie-key", self.cookie_key)
        wrong = self.post("/secret", "open sesame!")
        self.assertEqual(wrong.status, 403)
        self.assert_private(wrong)
        self.assertIn(b"Wrong password", wrong.body)
        self.assertNotIn("set-cookie", wrong.headers)
        right = self.post("/secret?utm=mail", PASSWORD)
        self.assertEqual(right.status, 303)
        self.assert_private(right)
        self.assertEqual(right.headers["location"], "https://dest.example/secret?x=1&utm=mail")
        cookie = right.headers["set-cookie"]
        self.assertRegex(cookie, r"^sl_pw=\d+\.[0-9a-f]{64}; Path=/secret; Max-Age=43200; HttpOnly; SameSite=Lax$")
        value = cookie.split(";", 1)[0]
        # With the cookie, the link redirects (no-store: the answer depends on the cookie).
        r = self.fetch("/secret", ("Cookie", "theme=dark; " + value))
        self.assertEqual(r.status, 302)
        self.assertEqual(r.headers["location"], "https://dest.example/secret?x=1")
        self.assert_private(r)
        # Not for another link, nor tampered, nor without it.
        self.assertEqual(self.fetch("/other", ("Cookie", value)).status, 200)
        tampered = value[:-1] + ("0" if value[-1] != "0" else "1")
        self.assertEqual(self.fetch("/secret", ("Cookie", tampered)).status, 200)
        later = re.sub(r"=\d+\.", "=99999999999.", value)
        self.assertEqual(self.fetch("/secret", ("Cookie", later)).status, 200)
        self.assertEqual(self.fetch("/secret").status, 200)
        # resolve accepts the cookie with the server's key, and only with it.
        args = [self.snapshot, "http://x.example/secret", "--trust", self.pub, "--header", "Cookie: " + value]
        self.assertIn("HTTP/1.1 302", self.sl("resolve", *args, "--cookie-key", self.cookie_key).stdout)
        self.assertIn("HTTP/1.1 200", self.sl("resolve", *args).stdout)
        self.assertEqual(self.metric('shortlink_password_checks_total{result="ok"}'), 1)
        self.assertEqual(self.metric('shortlink_password_checks_total{result="failed"}'), 1)
        # A new password invalidates the cookie.
        self.sl("edit", "secret", "--password-file", self.pw_file)
        self.compile()
        self.wait_until(lambda: self.fetch("/secret", ("Cookie", value)).status == 200, what="the new snapshot")
        # No password: a plain redirect again, cacheable.
        self.sl("edit", "secret", "--no-password")
        self.compile()
        self.wait_until(lambda: self.fetch("/secret").status == 302, what="the link without password")
        self.assertEqual(self.fetch("/secret").headers["cache-control"], "max-age=300")

    def test_rate_limit_per_client(self):
        self.serve("--cookie-key", self.cookie_key, "--password-attempts", "3")
        with Client(self.port) as c:
            for _ in range(3):
                self.assertEqual(self.post("/secret", "guess", client=c).status, 403)
            limited = self.post("/secret", PASSWORD, client=c)  # even the right one, now
        self.assertEqual(limited.status, 429)
        self.assert_private(limited)
        self.assertTrue(1 <= int(limited.headers["retry-after"]) <= 60, limited.headers)
        self.assertNotIn("set-cookie", limited.headers)
        # The other link is closed to this client too (it is the same address).
        self.assertEqual(self.post("/other", OTHER_PASSWORD).status, 429)
        # GET still shows the form: the limit is on checks.
        self.assertEqual(self.fetch("/secret").status, 200)
        self.assertEqual(self.metric('shortlink_password_checks_total{result="failed"}'), 3)
        self.assertEqual(self.metric('shortlink_password_refused_total{reason="rate_limited"}'), 2)

    def test_rate_limit_per_link(self):
        self.serve("--cookie-key", self.cookie_key, "--password-attempts", "0", "--password-link-attempts", "2")
        for _ in range(2):
            self.assertEqual(self.post("/secret", "guess").status, 403)
        r = self.post("/secret", PASSWORD)
        self.assertEqual(r.status, 429)
        self.assertIn("retry-after", r.headers)
        self.assertEqual(self.post("/other", OTHER_PASSWORD).status, 303)  # another link is open

    def test_hostile_bodies(self):
        self.serve("--cookie-key", self.cookie_key)
        cases = [
            (form_post("/secret", "password=x", content_type="text/plain"), 415),
            (form_post("/secret", '{"password":"x"}', content_type="application/json"), 415),
            (form_post("/secret", "password=x", content_type="multipart/form-data; boundary=z"), 415),
            (form_post("/secret", "password=" + "a" * 5000), 413),
            (form_post("/secret", "password=%zz"), 403),
            (form_post("/secret", "password=%4"), 403),
            (form_post("/secret", "passwd=" + PASSWORD), 403),
            (form_post("/secret", "password="), 403),
            (form_post("/secret", "password=" + "%41" * 1025), 403),
            (form_post("/secret", ""), 403),
            (b"POST /secret HTTP/1.1\r\nHost: x.example\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n", 403),
        ]
        for raw, status in cases:
            with Client(self.port) as c:
                c.send(raw)
                r = c.response()
                self.assertIsNotNone(r, raw[:120])
                self.assertEqual(r.status, status, raw[:120])
                self.assertEqual(r.headers.get("cache-control"), "no-store", raw[:120])
        # None of these was a guess the pool had to check.
        self.assertEqual(self.metric('shortlink_password_checks_total{result="failed"}'), 0)
        # A charset parameter and any case of the type are fine; so is a chunked body.
        self.assertEqual(self.post("/secret", PASSWORD,
                                   content_type="Application/X-WWW-Form-Urlencoded; charset=UTF-8").status, 303)
        body = ("password=" + urllib.parse.quote_plus(PASSWORD)).encode()
        with Client(self.port) as c:
            c.send(b"POST /secret HTTP/1.1\r\nHost: x.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % 5 + body[:5] + b"\r\n" +
                   b"%x\r\n" % (len(body) - 5) + body[5:] + b"\r\n0\r\n\r\n")
            self.assertEqual(c.response().status, 303)
        # A body split across packets, and a request pipelined behind a check, answered in order.
        raw = form_post("/secret", "password=" + urllib.parse.quote_plus(PASSWORD))
        with Client(self.port) as c:
            c.send(raw[:len(raw) - 4])
            time.sleep(0.2)
            c.send(raw[len(raw) - 4:] + b"GET /abc HTTP/1.1\r\nHost: x.example\r\n\r\n" + form_post("/secret", "password=no"))
            first, second, third = c.response(), c.response(), c.response()
        self.assertEqual((first.status, second.status, third.status), (303, 302, 403))
        self.assertEqual(second.headers["location"], "https://dest.example/a")
        # The server is still well after all that.
        self.assertEqual(self.fetch("/abc").status, 302)

    def test_slow_checks_do_not_stall_redirects(self):
        self.serve("--cookie-key", self.cookie_key, "--password-threads", "1", "--password-attempts", "0",
                   "--password-link-attempts", "0")
        connections, per_connection = 4, 6
        done = []

        def guesses(n):
            with Client(self.port, timeout=60) as c:
                for i in range(per_connection):
                    c.send(form_post("/secret", f"password=wrong{n}-{i}"))
                for _ in range(per_connection):
                    done.append(c.response().status)

        started = time.monotonic()
        threads = [threading.Thread(target=guesses, args=(n,)) for n in range(connections)]
        for t in threads:
            t.start()
        latencies = []
        queued = 0.0
        while any(t.is_alive() for t in threads) or not latencies:
            # A fresh connection now and then: --max-requests closes one after 1000.
            with Client(self.port) as c:
                for _ in range(100):
                    begin = time.monotonic()
                    c.send(b"GET /abc HTTP/1.1\r\nHost: x.example\r\n\r\n")
                    self.assertEqual(c.response().status, 302)
                    latencies.append(time.monotonic() - begin)
                    if len(latencies) % 10 == 0:
                        queued = max(queued, self.metric("shortlink_password_queue_depth"))
        for t in threads:
            t.join()
        checks_time = time.monotonic() - started
        self.assertEqual(done, [403] * (connections * per_connection))
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1] if len(latencies) >= 100 else latencies[-1]
        # Checks waited in the pool's queue (one thread, ~30 ms each) for a while in all;
        # redirects meanwhile took a small fraction of that each, never the queue's length.
        self.assertGreaterEqual(queued, 1)
        self.assertGreater(checks_time, 0.2)
        self.assertGreater(len(latencies), 20)
        self.assertLess(statistics.median(latencies), 0.05, latencies[-10:])
        self.assertLess(p99, checks_time / 4, (p99, checks_time))

    def test_pool_queue_full_answers_503(self):
        self.serve("--cookie-key", self.cookie_key, "--password-threads", "1", "--password-queue", "1",
                   "--password-attempts", "0", "--password-link-attempts", "0")
        clients = [Client(self.port, timeout=30) for _ in range(8)]
        try:
            for c in clients:
                c.send(form_post("/secret", "password=nope"))
            statuses = [c.response().status for c in clients]
        finally:
            for c in clients:
                c.sock.close()
        self.assertIn(503, statuses)
        self.assertTrue(set(statuses) <= {403, 503}, statuses)
        self.assertGreaterEqual(self.metric('shortlink_password_refused_total{reason="busy"}'), 1)

    def test_cookie_key_files(self):
        for name, content, mode, message in [
                ("open.key", os.urandom(32), 0o644, "chmod 600"),
                ("short.key", os.urandom(16), 0o600, "16 bytes")]:
            path = self.write(name, content, mode=mode)
            proc = harness.run(["serve", "--snapshots", self.snaps, "--trust", self.pub, "--listen",
                                f"127.0.0.1:{harness.free_port()}", "--admin", "none", "--cookie-key", path,
                                "--state-dir", "none"], timeout=30)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(message, proc.stderr)
        # Without --cookie-key the state directory's key is made once and survives a restart.
        proc, _, _ = self.serve()
        value = self.post("/secret", PASSWORD).headers["set-cookie"].split(";", 1)[0]
        state_key = os.path.join(self.tmp, "state", "cookie.key")
        self.assertEqual(os.stat(state_key).st_mode & 0o777, 0o600)
        self.stop(proc)
        self.serve()
        self.assertEqual(self.fetch("/secret", ("Cookie", value)).status, 302)

    def test_split_cookie_keeps_a_visitor_on_their_variant(self):
        self.serve("--cookie-key", self.cookie_key)
        seen = {}
        for i in range(60):
            r = self.fetch("/ab", ("User-Agent", f"agent-{i}"))
            seen.setdefault(r.headers["location"], (f"agent-{i}", r.headers["set-cookie"]))
            if len(seen) == 2:
                break
        self.assertEqual(len(seen), 2, seen)
        (loc_a, (ua_a, cookie_a)), (loc_b, (ua_b, _)) = sorted(seen.items())
        self.assertRegex(cookie_a, r"^sl_split=\d{1,2}\.[0-9a-f]{64}; Path=/ab; Max-Age=2592000; HttpOnly; SameSite=Lax$")
        value = cookie_a.split(";", 1)[0]
        # B's browser with A's cookie stays on A's variant, and is not told again.
        r = self.fetch("/ab", ("User-Agent", ua_b), ("Cookie", value))
        self.assertEqual(r.headers["location"], loc_a)
        self.assertNotIn("set-cookie", r.headers)
        self.assertTrue(r.headers["cache-control"].startswith("private"), r.headers)
        # A tampered or foreign cookie is ignored: the hash decides, and a good cookie is offered.
        share, mac = value.split("=", 1)[1].split(".")
        forged = f"sl_split={(int(share) + 50) % 100}.{mac}"
        r = self.fetch("/ab", ("User-Agent", ua_b), ("Cookie", forged))
        self.assertEqual(r.headers["location"], loc_b)
        self.assertIn("set-cookie", r.headers)
        # A cookie of this link is not one of another link.
        r = self.fetch("/secret", ("Cookie", value.replace("sl_split", "sl_pw")))
        self.assertEqual(r.status, 200)

    def test_cli_password_input(self):
        missing = self.sl("add", "https://e.example/", "--code", "m", "--password-file", "/nonexistent/pw", expect=3)
        self.assertIn("--password-file /nonexistent/pw", missing.stderr)
        for name, content, message in [("empty", "\n", "empty"), ("blank", "", "empty"),
                                       ("long", "a" * 1025 + "\n", "longer than 1024"),
                                       ("nul", "a\0b\n", "NUL")]:
            path = self.write(name, content)
            r = self.sl("add", "https://e.example/", "--code", name, "--password-file", path, expect=2)
            self.assertIn(message, r.stderr)
            self.assertNotIn("a" * 100, r.stderr)
        self.assertEqual(self.sl("list", "--json").stdout.count('"password":true'), 2)
        # Never on the command line.
        self.sl("add", "https://e.example/", "--code", "p", "--password", "x", expect=2)
        # --password-prompt without a controlling terminal (a new session has none).
        prompt = subprocess.run([harness.BIN, "--db", self.db, "add", "https://e.example/", "--code", "p",
                                 "--password-prompt"], capture_output=True, text=True, timeout=30,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.assertEqual(prompt.returncode, 2, prompt.stderr)
        self.assertIn("needs a terminal", prompt.stderr)
        self.sl("edit", "secret", "--password-file", self.pw_file, "--no-password", expect=2)
        show = self.sl("show", "secret").stdout
        self.assertRegex(show, r"password\s+yes")
        self.assertRegex(self.sl("show", "abc").stdout, r"password\s+no")
        shown = self.sl("show", "secret", "--json").stdout
        self.assertRegex(shown, r'"password_hash":"scrypt\$14\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{64}"')
        self.assertNotIn(PASSWORD, shown)
        # History tells a change of password from no change, and shows no hash.
        self.sl("edit", "secret", "--password-file", self.pw_file)
        history = self.sl("history", "secret", "--json").stdout
        fingerprints = re.findall(r'"password_fingerprint":"([0-9a-f]{8})"', history)
        self.assertGreaterEqual(len(set(fingerprints)), 2, history)
        self.assertNotIn("scrypt$", history)

    def test_export_import_keeps_the_password(self):
        exported = self.sl("export", "--format", "json").stdout
        hashes = re.findall(r'"password_hash":"([^"]+)"', exported)
        self.assertEqual(len(hashes), 2)
        path = self.write("links.jsonl", exported)
        other_db = os.path.join(self.tmp, "other.db")
        harness.run(["init"], db=other_db)
        proc = harness.run(["import", path, "--create-domains"], db=other_db)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        shown = harness.run(["show", "secret", "--json"], db=other_db).stdout
        original = re.search(r'"password_hash":"([^"]+)"', self.sl("show", "secret", "--json").stdout).group(1)
        self.assertIn(f'"password_hash":"{original}"', shown)
        self.assertEqual(re.findall(r'"password_hash":"([^"]+)"', harness.run(["export", "--format", "json"],
                                                                              db=other_db).stdout), hashes)
        # A planted hash with hostile parameters is refused like any invalid field.
        hostile = exported.replace(hashes[0], hashes[0].replace("scrypt$14$8$", "scrypt$20$32$", 1))
        proc = harness.run(["import", self.write("hostile.jsonl", hostile), "--on-conflict", "update"], db=other_db)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("more than 256 MiB", proc.stderr)
        # CSV and YAML cannot carry it and say so; server maps leave the links out.
        csv = self.sl("export", "--format", "csv")
        self.assertIn("2 password-protected link(s) written without their password", csv.stderr)
        self.assertIn("2 password-protected link(s)", self.sl("export", "--format", "yaml").stderr)
        nginx = self.sl("export", "--format", "nginx-map")
        self.assertNotIn("/secret", nginx.stdout)
        self.assertIn("left out: password-protected", nginx.stderr)


if __name__ == "__main__":
    harness.main()
