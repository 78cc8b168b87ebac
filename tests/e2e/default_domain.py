"""End-to-end: the default domain (--default-domain, SHORTLINK_DOMAIN, the config file) and the
hint a code on the wrong domain gets; which source wins, and hostile config files."""
import json
import os

import harness
from harness import ShortlinkTestCase


class DefaultDomain(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")
        self.sl("domain", "add", "go.example.com")
        self.sl("domain", "add", "b.example.org")
        self.config_home = os.path.join(self.tmp, "config")
        os.makedirs(os.path.join(self.config_home, "shortlink"))
        self.config = os.path.join(self.config_home, "shortlink", "config.toml")

    def run_with(self, *args, env=None, expect=0):
        proc = harness.run(list(args), db=self.db, env={"XDG_CONFIG_HOME": self.config_home, **(env or {})})
        self.assertEqual(proc.returncode, expect, proc.stderr)
        return proc

    def write_config(self, text):
        with open(self.config, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)

    def test_a_bare_code_uses_the_default_domain(self):
        env = {"SHORTLINK_DOMAIN": "go.example.com"}
        self.assertEqual(self.run_with("add", "https://example.com/s", "--code", "spring", env=env).stdout,
                         "https://go.example.com/spring\n")
        for command in (["show", "spring", "--json"], ["edit", "spring", "--type", "301", "--json"],
                        ["disable", "spring", "--json"], ["enable", "spring", "--json"]):
            with self.subTest(command=command[0]):
                link = json.loads(self.run_with(*command, env=env).stdout)
                self.assertEqual((link["domain"], link["code"]), ("go.example.com", "spring"))
        self.assertIn("spring", self.run_with("history", "spring", env=env).stdout)
        # --domain, "/CODE" and a pasted short URL name their domain themselves.
        self.run_with("add", "https://example.com/c", "--code", "spring", "--domain", "*", env=env)
        self.assertEqual(json.loads(self.run_with("show", "/spring", "--json", env=env).stdout)["domain"], "*")
        self.assertEqual(json.loads(self.run_with("show", "spring", "--domain", "*", "--json", env=env).stdout)["domain"], "*")
        self.assertEqual(json.loads(self.run_with("show", "https://go.example.com/spring", "--json",
                                                  env={"SHORTLINK_DOMAIN": "b.example.org"}).stdout)["domain"],
                         "go.example.com")
        # list still covers every domain.
        self.assertEqual(len(self.run_with("list", "--format", "json", env=env).stdout.splitlines()), 2)

    def test_a_code_on_another_domain_is_named_in_the_error(self):
        self.sl("add", "https://example.com/s", "--code", "spring", "--domain", "go.example.com")
        proc = self.run_with("show", "spring", expect=3)
        self.assertEqual(proc.stderr, "shortlink: error: no link 'spring' on domain '*'; go.example.com has it: "
                                      "add --domain go.example.com\n")
        self.sl("add", "https://example.com/s", "--code", "spring", "--domain", "b.example.org")
        proc = self.run_with("delete", "spring", expect=3)
        self.assertIn("b.example.org, go.example.com have it: add --domain HOST", proc.stderr)
        self.assertEqual(self.run_with("show", "nowhere", expect=3).stderr,
                         "shortlink: error: no link 'nowhere' on domain '*'\n")

    def test_command_line_beats_environment_beats_config_file(self):
        self.write_config('default-domain = "b.example.org"\n[add]\ntype = "308"\n')
        added = json.loads(self.run_with("add", "https://example.com/1", "--code", "one", "--json").stdout)
        self.assertEqual((added["domain"], added["type"]), ("b.example.org", 308))
        env = {"SHORTLINK_DOMAIN": "go.example.com"}
        self.assertEqual(json.loads(self.run_with("add", "https://example.com/2", "--code", "two", "--json",
                                                  env=env).stdout)["domain"], "go.example.com")
        self.assertEqual(json.loads(self.run_with("--default-domain", "*", "add", "https://example.com/3",
                                                  "--code", "three", "--json", env=env).stdout)["domain"], "*")
        other = os.path.join(self.tmp, "other.toml")
        with open(other, "w") as f:
            f.write('default-domain = "go.example.com"\n')
        self.assertEqual(json.loads(self.run_with("add", "https://example.com/4", "--code", "four", "--json",
                                                  env={"SHORTLINK_CONFIG": other}).stdout)["domain"], "go.example.com")

    def test_hostile_config_files_and_values(self):
        before = self.sl("export", "--format", "jsonl").stdout
        cases = [
            ('bogus = 1\n', "'bogus' is not an option"),
            ('[add]\ntipe = "301"\n', "'add.tipe' is not an option"),
            ('default-domain = "bad host!"\n', "--default-domain: host 'bad host!' contains ' '"),
            ('\udcff\x00garbage\n', "'\\xff' is not an option"),
        ]
        for text, message in cases:
            with self.subTest(config=text):
                self.write_config(text)
                proc = self.run_with("add", "https://example.com/x", expect=2)
                self.assertIn(message, proc.stderr)
        os.remove(self.config)
        proc = self.run_with("--config", os.path.join(self.tmp, "missing.toml"), "show", "x", expect=2)
        self.assertEqual(proc.stderr, f"shortlink: error: config file {self.tmp}/missing.toml cannot be read\n")
        proc = self.run_with("show", "x", env={"SHORTLINK_DOMAIN": "a..b"}, expect=2)
        self.assertIn("empty label", proc.stderr)
        proc = self.run_with("show", "x", "--default-domain", "nowhere.example", expect=3)
        self.assertIn("nowhere.example", proc.stderr)
        self.assertEqual(self.sl("export", "--format", "jsonl").stdout, before)


if __name__ == "__main__":
    harness.main()
