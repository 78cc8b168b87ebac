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


if __name__ == "__main__":
    harness.main()
