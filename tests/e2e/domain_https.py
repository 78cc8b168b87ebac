"""A domain's HTTPS policy end to end: `domain set --https-redirect --hsts N
--hsts-include-subdomains` is stored, audited, shown and compiled; a plain listener answers 308
to https://HOST with the request's path and query for every path of that domain (the Location
host is the domain's, never the path's), except ACME challenges; a TLS listener answers as
before and adds Strict-Transport-Security, never on plain HTTP; bad values are refused with
exit status 2; `resolve` and `inspect` show the policy; a database made before the policy
existed is migrated."""
import json
import os
import socket
import sqlite3
import ssl
import unittest

import harness
from serve_fixture import Client, ServeCase
from serve_tls import Pki, put

HSTS = "max-age=31536000; includeSubDomains"


class DomainHttps(ServeCase):

    def setUp(self):
        super().setUp()
        self.sl("domain", "set", "go.example.com", "--https-redirect", "--hsts", "31536000",
                "--hsts-include-subdomains")
        self.sl("domain", "add", "plain.example")
        self.sl("add", "https://dest.example/p", "--code", "p", "--domain", "plain.example")

    def raw(self, request, port=None):
        with Client(port or self.port) as c:
            c.send(request.encode("latin-1"))
            return c.response(head=request.startswith("HEAD"))

    def plain(self, target, host="go.example.com", method="GET"):
        return self.raw(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n")

    def tls_get(self, host, target):
        """(status, headers dict with lowercase names) over TLS with SNI `host`."""
        ctx = ssl.create_default_context(cafile=self.pki.root)
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(head[0].split(" ")[1]), headers

    def serve_both(self):
        self.compile()
        self.pki = Pki(os.path.join(self.tmp, "pki"))
        certs = os.path.join(self.tmp, "certs")
        os.mkdir(certs)
        cert, key = self.pki.leaf("go", ["go.example.com"])
        put(certs, "go.example.com.pem", cert + key)
        cert, key = self.pki.leaf("plain", ["plain.example"])
        put(certs, "plain.example.pem", cert + key)
        self.webroot = os.path.join(self.tmp, "acme")
        os.mkdir(self.webroot)
        with open(os.path.join(self.webroot, "tok"), "w") as f:
            f.write("tok.thumb")
        self.tls_port = harness.free_port()
        self.serve("--tls-listen", f"127.0.0.1:{self.tls_port}", "--certs", certs,
                   "--acme-webroot", self.webroot)
        self.assertTrue(harness.wait_for_port(self.tls_port))

    def test_plain_http_is_redirected_for_every_path(self):
        self.serve_both()
        cases = [
            ("/docs", "https://go.example.com/docs"),
            ("/docs?x=1&y=%20z", "https://go.example.com/docs?x=1&y=%20z"),
            ("/no-such-code", "https://go.example.com/no-such-code"),
            ("/", "https://go.example.com/"),
            ("/?q", "https://go.example.com/?q"),
            ("//evil.example/x", "https://go.example.com//evil.example/x"),
            ("/a%2F..%2Fb", "https://go.example.com/a%2F..%2Fb"),
            ("/" + "x" * 2000, "https://go.example.com/" + "x" * 2000),
            ("/q?a=<b>", "https://go.example.com/q?a=%3Cb%3E"),
        ]
        for target, location in cases:
            with self.subTest(target=target[:40]):
                r = self.plain(target)
                self.assertEqual(r.status, 308)
                self.assertEqual(r.headers["location"], location)
                self.assertNotIn("strict-transport-security", r.headers)
        # The host as normalized, from the Host header or an absolute-form target, never the path.
        for request, location in (
                ("GET /docs HTTP/1.1\r\nHost: GO.Example.COM.:8080\r\n\r\n", "https://go.example.com/docs"),
                ("GET http://go.example.com:80/docs?x=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n",
                 "https://go.example.com/docs?x=1"),
                ("GET http://go.example.com HTTP/1.1\r\nHost: go.example.com\r\n\r\n", "https://go.example.com/"),
                ("GET http://go.example.com?z=1 HTTP/1.1\r\nHost: go.example.com\r\n\r\n",
                 "https://go.example.com/?z=1"),
                ("GET /docs HTTP/1.0\r\nHost: go.example.com\r\n\r\n", "https://go.example.com/docs")):
            with self.subTest(request=request.split("\r\n")[0]):
                r = self.raw(request)
                self.assertEqual(r.status, 308)
                self.assertEqual(r.headers["location"], location)
        head = self.plain("/docs", method="HEAD")
        self.assertEqual((head.status, head.headers["location"], head.body), (308, "https://go.example.com/docs", b""))
        # Every method: a 308 keeps the method and body, so a form posted over HTTP is posted again
        # over HTTPS. A request body is read past, and the connection carries the next request.
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
            with self.subTest(method=method):
                r = self.plain("/form?x=1", method=method)
                self.assertEqual((r.status, r.headers["location"]), (308, "https://go.example.com/form?x=1"))
        with Client(self.port) as c:
            c.send(b"POST /form HTTP/1.1\r\nHost: go.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   b"Content-Length: 11\r\n\r\npassword=hiGET /docs HTTP/1.1\r\nHost: go.example.com\r\n\r\n")
            first, second = c.response(), c.response()
        self.assertEqual((first.status, first.headers["location"]), (308, "https://go.example.com/form"))
        self.assertEqual((second.status, second.headers["location"]), (308, "https://go.example.com/docs"))
        # Elsewhere only GET and HEAD are answered.
        self.assertEqual(self.plain("/p", host="plain.example", method="POST").status, 405)
        self.assertEqual(self.plain("/docs", host="go.example.com@evil.example").status, 400)
        # ACME challenges are exempt: the CA must reach them over HTTP.
        r = self.plain("/.well-known/acme-challenge/tok")
        self.assertEqual((r.status, r.body), (200, b"tok.thumb"))
        # Other domains are untouched.
        r = self.plain("/p", host="plain.example")
        self.assertEqual((r.status, r.headers["location"]), (302, "https://dest.example/p"))
        self.assertEqual(self.plain("/abc", host="x.example").status, 302)

    def test_tls_answers_carry_hsts(self):
        self.serve_both()
        status, headers = self.tls_get("go.example.com", "/docs")
        self.assertEqual(status, 301)
        self.assertEqual(headers["location"], "https://docs.example.com/")
        self.assertEqual(headers["strict-transport-security"], HSTS)
        status, headers = self.tls_get("go.example.com", "/missing")
        self.assertEqual(status, 404)
        self.assertEqual(headers["strict-transport-security"], HSTS)
        status, headers = self.tls_get("plain.example", "/p")
        self.assertEqual(status, 302)
        self.assertNotIn("strict-transport-security", headers)
        # The TLS listener never redirects to itself.
        status, headers = self.tls_get("go.example.com", "/")
        self.assertEqual((status, headers["location"]), (302, "https://www.example.com/"))

    def test_settings_turn_off_and_the_default_domain_redirects_to_the_requested_host(self):
        self.sl("domain", "set", "go.example.com", "--no-https-redirect", "--hsts", "0")
        self.sl("domain", "set", "*", "--https-redirect")
        self.compile()
        self.serve()
        r = self.plain("/docs")
        self.assertEqual((r.status, r.headers["location"]), (301, "https://docs.example.com/"))
        r = self.plain("/abc?x=1", host="Some.Other.Example:8080")
        self.assertEqual((r.status, r.headers["location"]), (308, "https://some.other.example/abc?x=1"))
        r = self.plain("/abc", host="[::1]:8080")
        self.assertEqual((r.status, r.headers["location"]), (308, "https://[::1]/abc"))
        # A host a Location must not name as it is: refused, not redirected.
        for host in ("a&b.example", "a'b", "a$b"):
            with self.subTest(host=host):
                r = self.plain("/abc", host=host)
                self.assertEqual(r.status, 400)
                self.assertNotIn("location", r.headers)

    def test_cli_stores_shows_audits_and_refuses_bad_values(self):
        shown = json.loads(self.sl("domain", "show", "go.example.com", "--json").stdout)
        self.assertEqual((shown["https_redirect"], shown["hsts_max_age"], shown["hsts_include_subdomains"]),
                         (True, 31536000, True))
        text = self.sl("domain", "show", "go.example.com").stdout
        self.assertIn("https redirect:       yes", text)
        self.assertIn("hsts:                 max-age=31536000; includeSubDomains", text)
        table = self.sl("domain", "list").stdout.splitlines()
        self.assertIn("HTTPS", table[0])
        self.assertIn("HSTS", table[0])
        go_row = [line for line in table if line.startswith("go.example.com")][0]
        self.assertIn("308", go_row)
        self.assertIn("31536000+sub", go_row)
        plain_row = [line for line in table if line.startswith("plain.example")][0].split()
        self.assertEqual(plain_row[6:8], ["no", "-"])
        listed = [json.loads(l) for l in self.sl("domain", "list", "--json").stdout.splitlines()]
        self.assertEqual([d["https_redirect"] for d in listed if d["host"] == "plain.example"], [False])
        entry = json.loads([l for l in self.sl("history", "--json", "--limit", "50").stdout.splitlines()
                            if '"domain-set"' in l][0])
        self.assertEqual(entry["before"]["https_redirect"], False)
        self.assertEqual(entry["after"]["https_redirect"], True)
        self.assertEqual(entry["after"]["hsts_max_age"], 31536000)
        self.sl("history", "--verify")
        for value, message in (("-1", "--hsts: '-1' is not a number of seconds"),
                               ("abc", "--hsts: 'abc' is not a number of seconds"),
                               ("1.5", "--hsts: '1.5' is not a number of seconds"),
                               ("", "--hsts: '' is not a number of seconds"),
                               ("+5", "--hsts: '+5' is not a number of seconds"),
                               ("10s", "--hsts: '10s' is not a number of seconds"),
                               ("4294967296", "--hsts: 4294967296 is out of range (0 to 4294967295 seconds)"),
                               ("99999999999999999999999", "is out of range")):
            with self.subTest(value=value):
                proc = self.sl("domain", "set", "plain.example", "--hsts", value, expect=2)
                self.assertIn(message, proc.stderr)
        proc = self.sl("domain", "set", "plain.example", "--https-redirect", "--no-https-redirect", expect=2)
        self.assertIn("excludes", proc.stderr)
        self.sl("domain", "show", "nope.example", expect=3)
        # Nothing was changed by the refused commands.
        shown = json.loads(self.sl("domain", "show", "plain.example", "--json").stdout)
        self.assertEqual((shown["https_redirect"], shown["hsts_max_age"]), (False, 0))
        added = json.loads(self.sl("domain", "add", "new.example", "--https-redirect", "--hsts", "600",
                                   "--json").stdout)
        self.assertEqual((added["https_redirect"], added["hsts_max_age"], added["hsts_include_subdomains"]),
                         (True, 600, False))

    def test_resolve_and_inspect_show_the_policy(self):
        snapshot = self.compile()
        proc = self.sl("resolve", snapshot, "http://go.example.com/docs?x=1", "--trust", self.pub, "--json")
        answer = json.loads(proc.stdout)
        self.assertEqual((answer["status"], answer["reason"], answer["location"]),
                         (308, "https_redirect", "https://go.example.com/docs?x=1"))
        self.assertIsNone(answer["strict_transport_security"])
        answer = json.loads(self.sl("resolve", snapshot, "https://go.example.com/docs", "--trust", self.pub,
                                    "--json").stdout)
        self.assertEqual((answer["status"], answer["strict_transport_security"]), (301, HSTS))
        text = self.sl("resolve", snapshot, "https://go.example.com/docs", "--trust", self.pub).stdout
        self.assertIn("Strict-Transport-Security: " + HSTS, text)
        inspected = json.loads(self.sl("inspect", snapshot, "--json").stdout)
        go = [d for d in inspected["domains"] if d["host"] == "go.example.com"][0]
        self.assertEqual((go["https_redirect"], go["hsts_max_age"], go["hsts_include_subdomains"]),
                         (True, 31536000, True))
        self.assertIn("https redirect, hsts 31536000 includeSubDomains", self.sl("inspect", snapshot).stdout)

    def test_database_from_before_the_policy_is_migrated(self):
        con = sqlite3.connect(self.db, isolation_level=None)
        con.execute("ALTER TABLE domains DROP COLUMN country_header")  # migration 7
        for column in ("not_found_url", "expired_url", "not_found_text", "gone_text", "permanent_max_age_s",
                       "stale_while_revalidate_s", "stale_if_error_s", "cache_scope", "miss_budget"):  # migration 6
            con.execute(f"ALTER TABLE domains DROP COLUMN {column}")
        con.execute("ALTER TABLE links DROP COLUMN expired_url")
        con.execute("ALTER TABLE links DROP COLUMN reserved")
        for column in ("https_redirect", "hsts_max_age_s", "hsts_include_subdomains"):
            con.execute(f"ALTER TABLE domains DROP COLUMN {column}")
        con.execute("ALTER TABLE links DROP COLUMN title")  # migration 5
        con.execute("PRAGMA user_version = 3")
        con.close()
        listed = [json.loads(l) for l in self.sl("domain", "list", "--json").stdout.splitlines()]
        self.assertEqual({d["host"]: d["https_redirect"] for d in listed},
                         {"*": False, "go.example.com": False, "plain.example": False})
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 7)
        con.close()
        self.sl("domain", "set", "go.example.com", "--https-redirect")
        self.sl("history", "--verify")


if __name__ == "__main__":
    unittest.main(verbosity=2)
