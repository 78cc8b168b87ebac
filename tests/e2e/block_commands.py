"""End-to-end: block, unblock and blocks on a temporary database, running the real binary. Every
target form (code, /code, short URL), every documented exit code with its message, the JSON
output, the audit trail, and hostile input that must leave the database exactly as it was."""
import json
import re
import sqlite3

import harness
from harness import ShortlinkTestCase

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class BlockCommands(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")
        self.sl("domain", "add", "go.example.com")
        self.sl("domain", "add", "ci.example", "--case-insensitive")
        self.sl("add", "https://example.com/spring", "--code", "spring", "--domain", "go.example.com")
        self.sl("add", "https://example.com/docs", "--code", "Docs", "--domain", "ci.example")
        self.sl("add", "https://evil.example/login", "--code", "home")

    def blocks(self):
        return [json.loads(line) for line in self.sl("blocks", "--json").stdout.splitlines()]

    def dump(self):
        con = sqlite3.connect(self.db)
        try:
            return "\n".join(con.iterdump())
        finally:
            con.close()

    def refused(self, *args, expect, message):
        """Runs a command that must fail with `expect` and `message` on stderr, and change nothing."""
        before = self.dump()
        proc = self.sl(*args, expect=expect)
        self.assertIn(message, proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.assertEqual(self.dump(), before, f"shortlink {args} changed the database")
        return proc

    # ---- the three kinds and their target forms ------------------------------------------------

    def test_block_link_by_code_and_domain(self):
        out = self.sl("--actor", "alice", "block", "link", "spring", "--domain", "Go.Example.COM",
                      "--reason", "phishing flyer").stdout
        self.assertEqual(out, "blocked link go.example.com/spring\n")
        [block] = self.blocks()
        self.assertEqual(set(block), {"kind", "host", "code", "reason", "actor", "created_at"})
        self.assertEqual((block["kind"], block["host"], block["code"], block["reason"], block["actor"]),
                         ("link", "go.example.com", "spring", "phishing flyer", "alice"))
        self.assertRegex(block["created_at"], RFC3339)

    def test_block_link_by_short_url(self):
        for url in ("https://go.example.com/spring", "HTTP://GO.example.com:8080/spring/",
                    "http://go.example.com/%73pring"):
            with self.subTest(url=url):
                self.assertEqual(self.sl("block", "link", url).stdout, "blocked link go.example.com/spring\n")
                self.assertEqual(self.sl("unblock", "link", url).stdout, "unblocked link go.example.com/spring\n")
        # --domain may repeat the URL's host.
        self.sl("block", "link", "https://go.example.com/spring", "--domain", "go.example.com")
        self.assertEqual([(b["host"], b["code"]) for b in self.blocks()], [("go.example.com", "spring")])

    def test_block_link_of_default_domain(self):
        self.assertEqual(self.sl("block", "link", "home").stdout, "blocked link */home\n")
        self.assertEqual(self.sl("unblock", "link", "/home").stdout, "unblocked link */home\n")
        self.assertEqual(self.sl("block", "link", "/home", "--domain", "*").stdout, "blocked link */home\n")

    def test_block_link_in_any_state(self):
        self.sl("delete", "spring", "--domain", "go.example.com")
        self.sl("block", "link", "https://go.example.com/spring")
        self.sl("restore", "spring", "--domain", "go.example.com")
        self.assertEqual(len(self.blocks()), 1)  # a block is not a link state

    def test_case_insensitive_domain_folds_the_code(self):
        block = json.loads(self.sl("block", "link", "https://ci.example/DOCS", "--json").stdout)
        self.assertEqual((block["host"], block["code"]), ("ci.example", "docs"))
        self.refused("block", "link", "dOcS", "--domain", "ci.example", expect=4,
                     message="link 'docs' on domain 'ci.example' is already blocked")
        self.sl("unblock", "link", "Docs", "--domain", "ci.example")
        self.assertEqual(self.blocks(), [])

    def test_block_domain(self):
        self.assertEqual(self.sl("block", "domain", "GO.example.com", "--reason", "sold").stdout,
                         "blocked domain go.example.com\n")
        self.assertEqual(self.sl("block", "domain", "*").stdout, "blocked domain *\n")
        self.assertEqual([(b["kind"], b["host"], b["code"]) for b in self.blocks()],
                         [("domain", "*", ""), ("domain", "go.example.com", "")])
        self.assertEqual(self.sl("unblock", "domain", "*").stdout, "unblocked domain *\n")

    def test_block_destination(self):
        self.assertEqual(self.sl("block", "destination", "Evil.Example.", "--reason", "malware").stdout,
                         "blocked destination evil.example\n")
        self.assertEqual(self.sl("block", "destination", "bücher.example").stdout,
                         "blocked destination xn--bcher-kva.example\n")
        # Before any link points at it.
        self.sl("block", "destination", "not-yet-used.example")
        self.assertEqual([b["host"] for b in self.blocks()],
                         ["evil.example", "not-yet-used.example", "xn--bcher-kva.example"])

    def test_json_of_block_and_unblock_is_the_record(self):
        made = json.loads(self.sl("--actor", "bob", "block", "destination", "evil.example", "--reason",
                                  "Phishing über Flyer", "--json").stdout)
        self.assertEqual(made, self.blocks()[0])
        self.assertEqual(made["reason"], "Phishing über Flyer")
        lifted = json.loads(self.sl("unblock", "destination", "evil.example", "--json").stdout)
        self.assertEqual(lifted, made)

    def test_blocks_table_and_order(self):
        self.sl("block", "destination", "evil.example", "--reason", "malware")
        self.sl("block", "domain", "go.example.com")
        self.sl("block", "link", "home")
        self.sl("block", "link", "https://go.example.com/spring", "--reason", "phishing")
        lines = self.sl("blocks").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["KIND", "TARGET", "SINCE", "BY", "REASON"])
        rows = [line.split(None, 4) for line in lines[1:]]
        self.assertEqual([(r[0], r[1], r[4]) for r in rows],
                         [("link", "*/home", "-"), ("link", "go.example.com/spring", "phishing"),
                          ("domain", "go.example.com", "-"), ("destination", "evil.example", "malware")])
        for r in rows:
            self.assertRegex(r[2], RFC3339)
        self.assertEqual([b["kind"] for b in self.blocks()], ["link", "link", "domain", "destination"])

    def test_empty_deny_set(self):
        self.assertEqual(self.sl("blocks", "--json").stdout, "")
        self.assertEqual(self.sl("blocks").stdout.split(), ["KIND", "TARGET", "SINCE", "BY", "REASON"])

    def test_history_shows_block_and_unblock(self):
        self.sl("--actor", "alice", "block", "link", "https://go.example.com/spring", "--reason", "phishing")
        self.sl("--actor", "bob", "unblock", "link", "spring", "--domain", "go.example.com")
        entries = [json.loads(l) for l in
                   self.sl("history", "spring", "--domain", "go.example.com", "--json").stdout.splitlines()]
        self.assertEqual([(e["action"], e["actor"]) for e in entries],
                         [("unblock", "bob"), ("block", "alice"), ("add", entries[2]["actor"])])
        image = {"kind": "link", "host": "go.example.com", "code": "spring", "reason": "phishing"}
        self.assertEqual((entries[0]["before"], entries[0]["after"]), (image, None))
        self.assertEqual((entries[1]["before"], entries[1]["after"]), (None, image))
        text = self.sl("history", "spring", "--domain", "go.example.com").stdout.splitlines()
        self.assertRegex(text[0], r"bob +unblock +link go\.example\.com/spring \(phishing\)$")
        self.assertRegex(text[1], r"alice +block +link go\.example\.com/spring \(phishing\)$")

        self.sl("block", "destination", "evil.example", "--reason", "malware")
        self.sl("block", "domain", "go.example.com")
        full = self.sl("history", "--limit", "2").stdout.splitlines()
        self.assertRegex(full[0], r" block +domain go\.example\.com$")
        self.assertRegex(full[1], r" block +destination evil\.example \(malware\)$")
        domain_entries = self.sl("history", "--domain", "go.example.com", "--json").stdout.splitlines()
        self.assertEqual(json.loads(domain_entries[0])["after"]["kind"], "domain")

    # ---- documented exit codes and their messages ----------------------------------------------

    def test_usage_errors_exit_2(self):
        cases = [
            (("block", "user", "x"), "A subcommand is required"),
            (("block",), "A subcommand is required"),
            (("block", "link"), "CODE_OR_SHORT_URL is required"),
            (("block", "link", "bad code"), "code contains 0x20 at byte 3"),
            (("block", "link", "spring", "--domain", "go.example.com:443"), "must not include a port"),
            (("block", "link", "https://go.example.com/spring?utm=1"), "has a query or fragment"),
            (("block", "link", "https://go.example.com/spring#top"), "has a query or fragment"),
            (("block", "link", "ftp://go.example.com/spring"), "is not http or https"),
            (("block", "link", "https://user@go.example.com/spring"), "contains user info"),
            (("block", "link", "https://go.example.com/"), "has no code after the host"),
            (("block", "link", "https://go.example.com/spring", "--domain", "ci.example"),
             "--domain ci.example conflicts with the short URL's host go.example.com"),
            (("block", "domain", ""), "HOST is empty (the default domain is '*')"),
            (("block", "destination", "https://evil.example/x"), "is a URL; give the host alone"),
            (("block", "destination", "evil.example:8443"), "has a port"),
            (("block", "destination", "*.evil.example"), "already covers its subdomains"),
            (("block", "destination", "evil.example", "--reason", "two\nlines"), "reason must be one line"),
            (("block", "domain", "go.example.com", "--reason", "x" * 513), "limit is 512"),
            (("block", "link", "spring", "--domain", "go.example.com", "--reason", "a", "--bogus"), "--bogus"),
            (("unblock", "destination", "user@evil.example"), "user info"),
            (("unblock", "domain", "go.example.com", "--reason", "x"), "--reason"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                proc = self.refused(*args, expect=2, message=message)
                self.assertLess(len(proc.stderr), 2000)

    def test_not_found_exit_3(self):
        cases = [
            (("block", "link", "autumn", "--domain", "go.example.com"),
             "no link 'autumn' on domain 'go.example.com' to block"),
            (("block", "link", "spring"), "no link 'spring' on domain '*' to block"),
            (("block", "link", "spring", "--domain", "nowhere.example"), "domain 'nowhere.example' does not exist"),
            (("block", "link", "https://nowhere.example/spring"),
             "short URL host 'nowhere.example' is not a domain in the store"),
            (("block", "domain", "nowhere.example"), "domain 'nowhere.example' does not exist"),
            (("unblock", "link", "https://go.example.com/spring"),
             "link 'spring' on domain 'go.example.com' is not blocked"),
            (("unblock", "domain", "go.example.com"), "domain 'go.example.com' is not blocked"),
            (("unblock", "destination", "evil.example"), "destination host 'evil.example' is not blocked"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                self.refused(*args, expect=3, message=message)
        proc = harness.run(["blocks"], db=self.db + ".missing")
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("shortlink init", proc.stderr)

    def test_conflict_exit_4_names_the_first_block(self):
        self.sl("--actor", "alice", "block", "link", "spring", "--domain", "go.example.com", "--reason", "phishing")
        proc = self.refused("--actor", "bob", "block", "link", "https://go.example.com/spring", "--reason", "again",
                            expect=4, message="link 'spring' on domain 'go.example.com' is already blocked since ")
        self.assertRegex(proc.stderr.strip(),
                         r"^shortlink: error: link 'spring' on domain 'go\.example\.com' is already blocked since "
                         r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ by alice: phishing$")
        self.sl("block", "destination", "evil.example")
        self.refused("block", "destination", "EVIL.example", expect=4, message="no reason given")
        self.sl("block", "domain", "*")
        self.refused("block", "domain", "*", expect=4, message="domain '*' is already blocked")

    def test_unblock_then_block_again(self):
        self.sl("block", "domain", "go.example.com", "--reason", "first")
        self.sl("unblock", "domain", "go.example.com")
        self.sl("block", "domain", "go.example.com", "--reason", "second")
        self.assertEqual([b["reason"] for b in self.blocks()], ["second"])

    # ---- hostile input -------------------------------------------------------------------------

    def test_hostile_input_never_changes_the_database(self):
        self.sl("block", "destination", "evil.example")  # a deny set that must survive untouched
        long_host = "a" * 100000
        subcommand = "A subcommand is required"
        # (arguments, exit code, what the error says)
        cases = [
            (("block", "link", ""), 2, "error: code is empty"),
            (("block", "link", "", "--domain", ""), 2, "error: code is empty"),
            (("block", "domain", ""), 2, "error: HOST is empty (the default domain is '*')"),
            (("block", "destination", ""), 2, "error: destination host is empty"),
            (("unblock", "link", ""), 2, "error: code is empty"),
            (("unblock", "destination", ""), 2, "error: destination host is empty"),
            (("block", "domain", long_host), 2, "error: host '" + "a" * 253 + "...'"),
            (("block", "destination", long_host), 2,
             "error: destination host is 100000 bytes; a host name is at most 253"),
            (("block", "destination", long_host[:300] + ".example"), 2, "error: host '" + "a" * 253 + "...'"),
            (("block", "link", "spring", "--domain", long_host), 2, "error: host '" + "a" * 253 + "...'"),
            (("block", "link", "https://" + long_host + "/spring"), 2,
             "error: short URL is 100015 bytes; the limit is 8192"),
            (("block", "link", "x" * 100000), 2, "error: code is 100000 bytes; the limit is 128"),
            (("block", "domain", "go.example.com\x1b[2J"), 2, "error: host 'go.example.com\\x1b[2J': control character"),
            (("block", "destination", "evil\r\n.example"), 2,
             "error: destination host contains control character 0x0d at byte 4"),
            (("block", "destination", "evil.example\x07"), 2,
             "error: destination host contains control character 0x07 at byte 12"),
            (("block", "link", "spring\x01", "--domain", "go.example.com"), 2, "error: code contains 0x01 at byte 6"),
            (("block", "link", "https://go.example.com/spring%0a"), 2, "error: code contains 0x0a at byte 6"),
            (("block", "link", "https://go.example.com/spr ing"), 2,
             "error: 'https://go.example.com/spr ing' is not a short URL (expected http(s)://HOST/CODE)"),
            (("block", "link", "https://go.example.com/spring?x=1"), 2, "has a query or fragment"),
            (("block", "link", "https://unknown.example/spring"), 3,
             "error: short URL host 'unknown.example' is not a domain in the store"),
            (("block", "link", "https://go.example.com/../etc/passwd"), 2, "error: code '../etc/passwd' has a '..' segment"),
            (("block", "link", "javascript://go.example.com/spring"), 2, "is not http or https"),
            (("block", "domain", "go.example.com", "--reason", "\x1b]0;pwned\x07"), 2,
             "error: reason must be one line of UTF-8 text: control character at byte 0"),
            (("block", "domain", "go.example.com", "--reason", "rtl \u202e override"), 2,
             "error: reason contains a bidirectional or line-separator character"),
            (("block", "user", "spring"), 2, subcommand),
            (("block", "links", "spring"), 2, subcommand),
            (("unblock", "everything"), 2, subcommand),
            (("block", "destination", "evil.example", "--reason", "dup"), 4,
             "error: destination host 'evil.example' is already blocked since "),
        ]
        before = self.dump()
        for args, code, message in cases:
            with self.subTest(args=tuple(a[:40] for a in args)):
                proc = self.sl(*args, expect=code)
                self.assertIn(message, proc.stderr[:2000])
                self.assertEqual(proc.stdout, "")
                self.assertLess(len(proc.stderr), 2000)
                for control in ("\x1b", "\x07", "\x01", "\r"):
                    self.assertNotIn(control, proc.stderr)
                self.assertEqual(self.dump(), before)


if __name__ == "__main__":
    harness.main()
