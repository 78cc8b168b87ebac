"""The command line itself, as a newcomer meets it: a mistyped command is named and the nearest
command suggested (exit 2, nothing touched), global options before the command are skipped when
looking for it, and a word far from every command points at --help. Python 3 standard library
only."""
import os

import harness


class UnknownCommand(harness.ShortlinkTestCase):
    def test_typo_suggests_the_nearest_command(self):
        for typed, meant in (("lst", "list"), ("shwo", "show"), ("serv", "serve"), ("ad", "add"),
                             ("stat", "stats"), ("exprot", "export"), ("compiel", "compile")):
            proc = self.sl(typed, expect=2)
            self.assertEqual(proc.stderr.strip(),
                             f"shortlink: error: unknown command '{typed}' (did you mean {meant}?)")
            self.assertEqual(proc.stdout, "")
        self.assertFalse(os.path.exists(self.db), "an unknown command created the database")

    def test_global_options_are_skipped(self):
        proc = harness.run(["--actor", "ci", "--db", self.db, "lsit"])
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown command 'lsit' (did you mean list?)", proc.stderr)

    def test_far_from_every_command(self):
        proc = self.sl("frobnicate", expect=2)
        self.assertEqual(proc.stderr.strip(), "shortlink: error: unknown command 'frobnicate'; "
                                              "`shortlink --help` lists the commands")

    def test_known_commands_and_no_command_are_unchanged(self):
        self.sl("init")
        self.assertEqual(self.sl("list").returncode, 0)
        proc = self.sl(expect=2)
        self.assertIn("A subcommand is required", proc.stderr)
        self.assertIn("shortlink", self.sl("--version").stdout)


class PastedShortUrl(harness.ShortlinkTestCase):
    """Every command that names one link takes the short URL as printed or scanned."""

    def setUp(self):
        super().setUp()
        self.sl("init")
        self.sl("domain", "add", "go.example.com")
        self.sl("add", "https://example.com/spring", "--code", "spring", "--domain", "go.example.com")

    def test_commands_take_the_short_url(self):
        url = "https://go.example.com/spring"
        self.assertIn("https://example.com/spring", self.sl("show", url).stdout)
        self.assertIn("https://example.com/spring", self.sl("show", "HTTPS://GO.Example.com/spring/").stdout)
        self.assertEqual(self.sl("edit", url, "--type", "301").stdout.strip(), "edited " + url)
        self.assertEqual(self.sl("disable", url).stdout.strip(), "disabled " + url)
        self.assertEqual(self.sl("enable", url).stdout.strip(), "enabled " + url)
        self.assertIn("edit", self.sl("history", url).stdout)
        self.assertEqual(self.sl("delete", url).stdout.strip(), "deleted " + url)
        self.assertEqual(self.sl("restore", url).stdout.strip(), "restored " + url)

    def test_bad_short_urls(self):
        cases = [
            (["show", "https://nowhere.example/spring"], 3, "short URL host 'nowhere.example' is not a domain"),
            (["show", "https://go.example.com/spring", "--domain", "other.example"], 2,
             "--domain other.example conflicts with the short URL's host go.example.com"),
            (["show", "https://go.example.com/"], 2, "has no code after the host"),
            (["show", "ftp://go.example.com/spring"], 2, "is not http or https"),
            (["show", "https://go.example.com/spring?x=1"], 2, "has a query or fragment"),
            (["show", "https://go.example.com/nope"], 3, "no link 'nope' on domain 'go.example.com'"),
        ]
        for args, code, message in cases:
            with self.subTest(args=args):
                proc = self.sl(*args, expect=code)
                self.assertIn(message, proc.stderr)


if __name__ == "__main__":
    harness.main()
