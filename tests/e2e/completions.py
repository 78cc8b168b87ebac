"""End-to-end: the shell completions in real bash, fish and zsh. File arguments offer the files
of their kind and the directories that may hold them (a name with a space stays one word);
directory options offer directories only; every command of the binary is completed."""
import os
import shutil
import subprocess
import unittest

import harness

COMPLETIONS = os.path.join(harness.SOURCE_DIR, "completions")

BASH_DRIVER = r"""
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_shortlink
printf '%s\n' "${COMPREPLY[@]}"
"""


class Completions(harness.ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.dir = os.path.join(self.tmp, "work")
        os.makedirs(os.path.join(self.dir, "snapshots"))
        os.makedirs(os.path.join(self.dir, "keys"))
        for name in ("links-00000000000000000001.slsnap", "my links.slsnap", "deny-1.sldeny",
                     "notes.txt", "ci.key", "ci.pub", "links.csv"):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write("x")

    def bash(self, *words):
        proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "bash",
                               os.path.join(COMPLETIONS, "shortlink.bash"), "shortlink", *words],
                              cwd=self.dir, capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return [line for line in proc.stdout.splitlines() if line]

    def test_bash_file_arguments_offer_their_files_and_directories(self):
        self.assertEqual(self.bash("verify", "sn"), ["snapshots"])
        offered = self.bash("verify", "")
        for name in ("links-00000000000000000001.slsnap", "my links.slsnap", "deny-1.sldeny", "snapshots", "keys"):
            self.assertIn(name, offered)
        self.assertNotIn("notes.txt", offered)
        self.assertIn("my links.slsnap", self.bash("inspect", "my"))
        self.assertEqual(sorted(self.bash("compile", "--key", "")), ["ci.key", "keys", "snapshots"])
        self.assertEqual(sorted(self.bash("resolve", "--trust", "")), ["ci.pub", "keys", "snapshots"])
        self.assertIn("links.csv", self.bash("import", "li"))
        self.assertIn("notes.txt", self.bash("--db", "n"))

    def test_bash_directory_options_offer_directories_only(self):
        self.assertEqual(self.bash("serve", "--snapshots", "s"), ["snapshots"])
        self.assertEqual(sorted(self.bash("compile", "--out", "")), ["keys", "snapshots"])
        self.assertEqual(sorted(self.bash("keygen", "--out", "")), ["keys", "snapshots"])

    def test_bash_completes_every_command_and_option_values(self):
        commands = self.bash("")
        for command in harness.run(["--help"]).stdout.split("Subcommands:")[1].split("\n"):
            name = command.strip().split(" ")[0]
            if name:
                self.assertIn(name, commands)
        self.assertEqual(sorted(self.bash("serve", "--query-params", "")), ["keep-both", "replace"])
        self.assertIn("--query-params", self.bash("serve", "--q"))

    @unittest.skipUnless(shutil.which("fish"), "fish is not installed")
    def test_fish_file_arguments_offer_files_and_directories(self):
        def fish(line):
            proc = subprocess.run(["fish", "--no-config", "-c",
                                   f"source {os.path.join(COMPLETIONS, 'shortlink.fish')}; complete -C'{line}'"],
                                  cwd=self.dir, capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            return [line.split("\t")[0] for line in proc.stdout.splitlines()]
        self.assertEqual(fish("shortlink verify sn"), ["snapshots/"])
        self.assertIn("my links.slsnap", fish("shortlink inspect my"))
        self.assertEqual(fish("shortlink serve --snapshots s"), ["snapshots/"])
        self.assertEqual(sorted(fish("shortlink serve --query-params ")), ["keep-both", "replace"])

    @unittest.skipUnless(shutil.which("zsh"), "zsh is not installed")
    def test_zsh_completion_parses_and_names_files_for_file_arguments(self):
        path = os.path.join(COMPLETIONS, "_shortlink")
        proc = subprocess.run(["zsh", "-n", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(path) as f:
            text = f.read()
        for spec in ("'1:snapshot, patch, overlay or index:_files -g \"*.sl(snap|deny|patch|index)\"'",
                     "'--snapshots[snapshot directory]:dir:_files -/'", "'1:file:_files'"):
            self.assertIn(spec, text)


if __name__ == "__main__":
    harness.main()
