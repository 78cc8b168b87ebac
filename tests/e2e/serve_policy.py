"""Lifetimes, fallbacks and cache policy over HTTP: a domain's not-found and expired URLs, a
link's own expired URL, the 404 and 410 texts, links that have not started and reserved codes
(404, no-store, nothing of the destination), the cap on permanent redirects, stale-* and
public/private, `edit`'s warning about a long-lived permanent redirect, and hostile input to
every new option. `shortlink resolve` answers each request as the server does."""
import json
import os
import sqlite3

import harness
from serve_fixture import ServeCase


class PolicyTest(ServeCase):
    def setUp(self):
        super().setUp()
        self.sl("domain", "add", "pol.example", "--default-type", "301", "--cache-max-age", "604800",
                "--negative-max-age", "20", "--not-found-url", "https://pol.example/search",
                "--expired-url", "https://pol.example/ended", "--gone-text", "This campaign is over <b>",
                "--not-found-text", "No such link.", "--stale-while-revalidate", "30",
                "--stale-if-error", "86400", "--cache-scope", "public", "--miss-budget", "120")
        self.sl("add", "https://dest.example/perm", "--code", "perm", "--domain", "pol.example")
        self.sl("add", "https://dest.example/temp", "--code", "temp", "--domain", "pol.example", "--type", "302")
        self.sl("add", "https://dest.example/old", "--code", "old", "--domain", "pol.example",
                "--expires", "2020-01-01T00:00:00Z")
        self.sl("add", "https://dest.example/own", "--code", "own", "--domain", "pol.example",
                "--expires", "2020-01-01T00:00:00Z", "--expired-url", "https://own.example/after")
        self.sl("add", "https://dest.example/off", "--code", "off", "--domain", "pol.example")
        self.sl("disable", "https://pol.example/off")
        self.sl("add", "https://secret.example/launch", "--code", "launch", "--domain", "pol.example", "--reserve")
        self.sl("add", "https://secret.example/later", "--code", "later", "--domain", "pol.example",
                "--not-before", "2099-01-01T00:00:00Z")

    def check_resolve(self, path, url, r):
        resolved = json.loads(self.sl("resolve", path, "--trust", self.pub, url, "--json").stdout)
        self.assertEqual(resolved["status"], r.status, url)
        self.assertEqual(resolved["location"], r.headers.get("location"), url)
        self.assertEqual(resolved["cache_control"], r.headers.get("cache-control"), url)

    def test_fallbacks_texts_and_cache_policy(self):
        path = self.compile()
        self.serve()
        H = "pol.example"
        cases = [
            # target, status, location, cache-control
            ("/perm", 301, "https://dest.example/perm",
             "public, max-age=86400, stale-while-revalidate=30, stale-if-error=86400"),
            ("/temp", 302, "https://dest.example/temp",
             "public, max-age=604800, stale-while-revalidate=30, stale-if-error=86400"),
            ("/nope?utm=1", 302, "https://pol.example/search", "public, max-age=20"),
            ("/old", 302, "https://pol.example/ended", "public, max-age=20"),
            ("/own", 302, "https://own.example/after", "public, max-age=20"),
            ("/off", 302, "https://pol.example/ended", "public, max-age=20"),
            ("/launch", 404, None, "no-store"),
            ("/later", 404, None, "no-store"),
        ]
        for target, status, location, cache in cases:
            with self.subTest(target=target):
                r = self.get(target, H)
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.headers.get("location"), location)
                self.assertEqual(r.headers.get("cache-control"), cache)
                self.assertNotIn(b"secret.example", r.body)
                self.check_resolve(path, f"http://{H}{target}", r)
        r = self.get("/launch", H)
        self.assertIn(b"<p>No such link.</p>", r.body)
        # The domain's 410 text, HTML-escaped, once the expired URL is gone.
        self.sl("domain", "set", H, "--no-expired-url", "--no-not-found-url", "--cache-scope", "private")
        self.compile()
        self.wait_until(lambda: self.get("/old", H).status == 410, what="the new snapshot")
        r = self.get("/old", H)
        self.assertIn(b"<p>This campaign is over &lt;b&gt;</p>", r.body)
        self.assertEqual(r.headers.get("cache-control"), "private, max-age=20")
        self.assertEqual(self.get("/nope", H).status, 404)
        self.assertEqual(self.get("/own", H).headers.get("location"), "https://own.example/after")
        # A plain domain's answers are as they were: no section 8 directive leaks to it.
        r = self.get("/abc", "x.example")
        self.assertEqual(r.headers.get("cache-control"), "max-age=300")

    def test_reserved_code_goes_live(self):
        self.compile()
        self.serve()
        show = json.loads(self.sl("show", "https://pol.example/launch", "--json").stdout)
        self.assertTrue(show["reserved"])
        self.assertEqual(show["state"], "not_yet_valid")
        listed = self.sl("list", "--domain", "pol.example", "--state", "not_yet_valid").stdout
        self.assertIn("launch", listed)
        self.assertEqual(self.get("/launch", "pol.example").status, 404)
        self.sl("edit", "https://pol.example/launch", "--no-reserve")
        self.compile()
        self.wait_until(lambda: self.get("/launch", "pol.example").status == 301, what="the link going live")
        self.assertEqual(self.get("/launch", "pol.example").headers["location"], "https://secret.example/launch")
        history = self.sl("history", "https://pol.example/launch", "--json").stdout.splitlines()
        images = [json.loads(line) for line in history]
        self.assertTrue(any(i["before"] and i["before"].get("reserved") for i in images), history)
        # Reserving again takes the start time away; an exported line carries the reservation.
        self.sl("edit", "https://pol.example/later", "--reserve")
        exported = [json.loads(line) for line in self.sl("export", "--format", "json").stdout.splitlines()]
        later = next(l for l in exported if l["code"] == "later")
        self.assertTrue(later["reserved"])
        self.assertIsNone(later["not_before"])
        own = next(l for l in exported if l["code"] == "own")
        self.assertEqual(own["expired_url"], "https://own.example/after")

    def test_export_import_round_trip_keeps_expired_url_and_reservation(self):
        out = os.path.join(self.tmp, "links.jsonl")
        with open(out, "w") as f:
            f.write(self.sl("export", "--format", "json", "--domain", "pol.example").stdout)
        other = os.path.join(self.tmp, "other.db")
        harness.run(["init"], db=other)
        harness.run(["domain", "add", "pol.example"], db=other)
        proc = harness.run(["import", out, "--from", "jsonl"], db=other)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with sqlite3.connect(other) as db:
            rows = dict(db.execute("SELECT code, expired_url || '|' || reserved FROM links"))
        self.assertEqual(rows["own"], "https://own.example/after|0")
        self.assertEqual(rows["launch"], "|1")
        self.assertEqual(rows["perm"], "|0")

    def test_edit_warns_about_a_long_lived_permanent_redirect(self):
        proc = self.sl("domain", "set", "pol.example", "--permanent-max-age", "172800")
        proc = self.sl("edit", "https://pol.example/perm", "--url", "https://dest.example/new")
        self.assertIn("warning: https://pol.example/perm was answered 301 with max-age=172800", proc.stderr)
        self.assertIn("for up to 2 days", proc.stderr)
        # Temporary redirects, and permanent ones capped at an hour, change quietly.
        proc = self.sl("edit", "https://pol.example/temp", "--url", "https://dest.example/t2")
        self.assertEqual(proc.stderr, "")
        self.sl("domain", "set", "pol.example", "--permanent-max-age", "3600")
        proc = self.sl("edit", "https://pol.example/perm", "--url", "https://dest.example/new2")
        self.assertEqual(proc.stderr, "")

    def test_bad_input_is_refused(self):
        bad = [
            (["domain", "set", "pol.example", "--not-found-url", "javascript:alert(1)"], "--not-found-url"),
            (["domain", "set", "pol.example", "--expired-url", "https://x.example/\r\nSet-Cookie: a"], "--expired-url"),
            (["domain", "set", "pol.example", "--expired-url", ""], "--expired-url"),
            (["domain", "set", "pol.example", "--permanent-max-age", "-1"], "--permanent-max-age"),
            (["domain", "set", "pol.example", "--stale-if-error", "4294967296"], "out of range"),
            (["domain", "set", "pol.example", "--stale-while-revalidate", "1e3"], "not a number"),
            (["domain", "set", "pol.example", "--miss-budget", "+5"], "--miss-budget"),
            (["domain", "set", "pol.example", "--cache-scope", "shared"], "--cache-scope"),
            (["domain", "set", "pol.example", "--gone-text", "two\nlines"], "--gone-text"),
            (["domain", "set", "pol.example", "--not-found-text", "   "], "blank"),
            (["domain", "set", "pol.example", "--not-found-text", "x" * 600], "--not-found-text"),
            (["add", "https://dest.example/", "--expired-url", "ftp://x.example/"], "--expired-url"),
            (["edit", "https://pol.example/perm", "--expired-url", "not a url"], "--expired-url"),
        ]
        for args, what in bad:
            with self.subTest(args=args[:4]):
                proc = self.sl(*args, expect=2)
                self.assertIn(what, proc.stderr)
        self.sl("add", "https://dest.example/", "--reserve", "--not-before", "1d", expect=2)
        self.sl("edit", "https://pol.example/perm", "--reserve", "--not-before", "1d", expect=2)
        # Nothing of that reached the domain.
        shown = json.loads(self.sl("domain", "show", "pol.example", "--json").stdout)
        self.assertEqual(shown["expired_url"], "https://pol.example/ended")
        self.assertEqual(shown["permanent_max_age"], 86400)
        self.assertEqual(shown["cache_scope"], "public")
        self.assertEqual(shown["miss_budget"], 120)

    def test_hostile_policies_section_is_refused_by_serve_and_verify(self):
        path = self.compile()
        with open(path, "rb") as f:
            data = bytearray(f.read())
        # Section 8's table entry: flip a byte of its first record (a string offset) without
        # re-signing: the checksum and the signature both refuse it.
        count = int.from_bytes(data[60:64], "little")
        for i in range(count):
            entry = 128 + 32 * i
            if int.from_bytes(data[entry:entry + 4], "little") == 8:
                offset = int.from_bytes(data[entry + 8:entry + 16], "little")
                data[offset + 64 + 3] ^= 0x40
                break
        else:
            self.fail("no section 8 in a snapshot with domain policies")
        bad = os.path.join(self.tmp, "bad.slsnap")
        with open(bad, "wb") as f:
            f.write(bytes(data))
        proc = self.sl("verify", bad, "--trust", self.pub, expect=5)
        self.assertIn("section 8 (policies)", proc.stderr)


if __name__ == "__main__":
    harness.main()
