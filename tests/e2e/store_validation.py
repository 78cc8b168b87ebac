"""End-to-end: hostile URLs, codes, hosts, times and options through the real binary. Every bad
input exits 2 with a message and leaves the database unchanged; nothing crashes or hangs."""
import json
import os
import subprocess

import harness
from harness import ShortlinkTestCase

BAD_URLS = [
    "", "example.com", "/relative", "//example.com/x", "javascript:alert(1)", "JAVASCRIPT:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=", "vbscript:x", "file:///etc/passwd", "ftp://example.com/",
    "https://", "https:///x", "https://example.com/a\r\nSet-Cookie: a=b", "https://example.com/\n",
    "https://example.com/a\tb", "https://exa mple.com/", "https://example.com/a b", " https://example.com/",
    "https://user:pw@example.com/", "https://good.example@evil.example/", "https://💩.example/",
    "https://-ü.example/", "https://example.com:99999/", "https://example.com:x/", "https://a!b.example/",
    "https://ü:ü/", "https://example.com/" + "a" * 9 * 1024, "https://example.com/<x>",
    "https://example.com/\x7f", "https:\\\\example.com\\",
]
BAD_CODES = [
    "/a", "a/", "a//b", "..", ".", "a/../b", "a/./b", "a b", "a?b", "a#b", "a%2f", "a:b", "a\\b", "café",
    "аpple", "<x>", "a'b", ".well-known/acme-challenge/x", ".WELL-KNOWN/Acme-Challenge/y", "x" * 129, "a\r\nb",
]
BAD_HOSTS = ["example.com:80", "-x.example", "a..b", "a_b.example", "exa mple.com", "[::1]", "💩.example"]
BAD_TIMES = ["tomorrow", "0m", "-1d", "5y", "2026-02-30T00:00:00Z", "2026-11-28T10:00:00", "1e3m"]


class StoreValidation(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")

    def assert_refused(self, *args):
        proc = self.sl(*args, expect=2)
        self.assertTrue(proc.stderr.strip(), "no message on stderr")

    def test_table_has_at_least_50_entries(self):
        self.assertGreaterEqual(len(BAD_URLS) + len(BAD_CODES), 50)

    def test_bad_urls(self):
        for url in BAD_URLS:
            with self.subTest(url=url[:60]):
                self.assert_refused("add", url, "--code", "ok")

    def test_bad_codes(self):
        for code in BAD_CODES:
            with self.subTest(code=code):
                self.assert_refused("add", "https://example.com/", "--code", code)

    def test_bad_hosts(self):
        for host in BAD_HOSTS:
            with self.subTest(host=host):
                self.assert_refused("domain", "add", "--", host)

    def test_bad_times_types_tags(self):
        for t in BAD_TIMES:
            with self.subTest(time=t):
                self.assert_refused("add", "https://example.com/", "--expires", t)
        self.assert_refused("add", "https://example.com/", "--type", "303")
        self.assert_refused("add", "https://example.com/", "--tag", "a,b")
        self.assert_refused("add", "https://example.com/", "--not-before", "2d", "--expires", "1d")
        self.assert_refused("list", "--format", "xml")
        self.assert_refused("list", "--status", "gone")

    def test_bad_titles(self):
        self.sl("add", "https://example.com/t", "--code", "t", "--title", "Kept")
        before = self.sl("export", "--format", "json").stdout
        history = self.sl("history", "--json").stdout
        cases = [
            ("two\nlines", "--title: title must be one line of UTF-8 text: control character at byte 3"),
            ("tab\there", "--title: title must be one line of UTF-8 text: control character at byte 3"),
            ("esc \x1b[31mred", "--title: title must be one line of UTF-8 text: control character at byte 4"),
            ("x" * 513, "--title: title is 513 bytes; the limit is 512"),
            ("  " + "\u00e9" * 257, "--title: title is 514 bytes; the limit is 512"),
            ("rlo \u202egnp.exe", "--title: title contains a bidirectional or line-separator character"),
            ("   ", "--title is blank; leave it out for a link without a title"),
            ("", "--title is blank"),
        ]
        for title, message in cases:
            with self.subTest(title=title[:20]):
                proc = self.sl("add", "https://example.com/", "--code", "new", "--title", title, expect=2)
                self.assertIn(message, proc.stderr)
                proc = self.sl("edit", "t", "--title", title, expect=2)
                self.assertIn(message, proc.stderr)
        # Invalid UTF-8 from the command line (a Latin-1 terminal).
        for args in (["add", "https://example.com/", "--code", "new"], ["edit", "t"]):
            proc = subprocess.run([harness.BIN, "--db", self.db, *args, "--title", b"caf\xe9"],
                                  capture_output=True, timeout=30)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(b"--title: title must be one line of UTF-8 text: truncated UTF-8 sequence at byte 3",
                          proc.stderr)
        self.sl("edit", "t", "--title", "x", "--no-title", expect=2)  # one or the other
        self.assertEqual(self.sl("export", "--format", "json").stdout, before)
        self.assertEqual(self.sl("history", "--json").stdout, history)
        # Exactly at the limit, and trimmed: accepted.
        self.sl("edit", "t", "--title", "  " + "y" * 512 + "\t")
        self.assertEqual(json.loads(self.sl("show", "t", "--json").stdout)["title"], "y" * 512)

    def test_nothing_was_written(self):
        for url in BAD_URLS[:10]:
            self.sl("add", url, expect=2)
        self.assertEqual(self.sl("list", "--format", "json").stdout, "")

    def test_bad_root_urls(self):
        self.sl("domain", "add", "go.example.com", "--root-url", "https://example.com/home")
        before = self.sl("domain", "list", "--json").stdout
        for url in BAD_URLS[1:]:  # "" is no root URL at all
            with self.subTest(url=url[:60]):
                for args in (["domain", "add", "new.example.com"], ["domain", "set", "go.example.com"]):
                    proc = self.sl(*args, "--root-url", url, expect=2)
                    self.assertTrue(proc.stderr.startswith("shortlink: error: --root-url: "), proc.stderr)
        self.assertEqual(self.sl("domain", "list", "--json").stdout, before)
        proc = self.sl("domain", "set", "go.example.com", "--root-url", "https://example.com/a\r\nSet-Cookie: a=b",
                       expect=2)
        self.assertEqual(proc.stderr.strip(), "shortlink: error: --root-url: URL contains control character 0x0d at "
                                              "byte 21 (CR/LF or NUL would corrupt the Location header)")
        history = self.sl("history").stdout
        self.assertEqual(history.count("domain-add"), 1)
        self.assertNotIn("domain-set", history)

    def test_compile_refuses_a_root_url_with_control_characters(self):
        # Written around the command line (the sqlite3 shell): the compiler still never writes it.
        self.sl("domain", "add", "go.example.com", "--root-url", "https://example.com/home")
        keys = os.path.join(self.tmp, "keys")
        out = os.path.join(self.tmp, "out")
        self.sl("keygen", "--out", keys, "--name", "ci", input="")
        for bad, shown in (("'https://example.com/' || char(13, 10) || 'Set-Cookie: a=b'", "0x0d at byte 20"),
                           ("'https://example.com/' || char(10)", "0x0a at byte 20"),
                           ("'https://example.com/' || char(9)", "0x09 at byte 20"),
                           ("'https://example.com/' || char(0) || 'x'", "0x00 at byte 20")):
            with self.subTest(bad=bad):
                proc = subprocess.run(["sqlite3", self.db, f"UPDATE domains SET root_url = {bad} "
                                                           "WHERE host = 'go.example.com'"],
                                      capture_output=True, text=True)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                proc = self.sl("compile", "--key", os.path.join(keys, "ci.key"), "--out", out, input="", expect=2)
                self.assertIn(f"domain go.example.com: root URL contains control character {shown}", proc.stderr)
                self.assertEqual(os.listdir(out) if os.path.isdir(out) else [], [])

    def test_messages_name_the_problem(self):
        self.assertIn("control character 0x0d",
                      self.sl("add", "https://example.com/\r\nX: y", expect=2).stderr)
        self.assertIn("reserved", self.sl("add", "https://example.com/", "--code", ".well-known/acme-challenge/x",
                                          expect=2).stderr)
        self.assertIn("--code is empty", self.sl("add", "https://example.com/", "--code", "", expect=2).stderr)

    def test_international_destinations_are_encoded_as_browsers_do(self):
        cases = (
            ("https://BÜCHER.de/straße?q=€#à", "https://xn--bcher-kva.de/stra%C3%9Fe?q=%E2%82%AC#%C3%A0"),
            ("https://аpple.com/", "https://xn--pple-43d.com/"),  # a confusable shows as its A-label
            ("https://日本。jp/", "https://xn--wgv71a.jp/"),
            ("https://-a_b-.example/", "https://-a_b-.example/"),
        )
        for i, (typed, stored) in enumerate(cases):
            with self.subTest(url=typed):
                self.sl("add", typed, "--code", f"i{i}")
                shown = json.loads(self.sl("show", f"i{i}", "--json").stdout)
                self.assertEqual(shown["url"], stored)
        # Bytes that are not UTF-8 are refused by position, never stored.
        proc = subprocess.run([harness.BIN, "--db", self.db, "add",
                               b"https://example.com/\xff", "--code", "bad"], capture_output=True)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(b"URL is not valid UTF-8: malformed UTF-8 at byte 20", proc.stderr)
        self.assertIn("not a valid international name", self.sl("add", "https://💩.example/", expect=2).stderr)

    def test_only_what_serve_answers_itself_is_reserved(self):
        # The health checks and metrics are on the admin listener: on the public one these are
        # ordinary codes, also as the first segment of a longer one.
        for code in ("healthz", "metrics/client", "api", "admin", "static", "favicon.ico", "robots.txt",
                     ".well-known/security.txt", ".well-known/acme-challenge"):
            self.sl("add", "https://example.com/" + code.replace("/", "-"), "--code", code)
        for code in (".well-known/acme-challenge/token", ".Well-Known/ACME-Challenge/x"):
            proc = self.sl("add", "https://example.com/", "--code", code, expect=2)
            self.assertIn(f"code '{code}' is reserved: serve answers /.well-known/acme-challenge/ itself",
                          proc.stderr)
        self.assertIn("'..'", self.sl("add", "https://example.com/", "--code", "a/../b", expect=2).stderr)


if __name__ == "__main__":
    harness.main()
