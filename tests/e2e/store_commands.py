"""End-to-end: every store command's happy path and documented exit codes, on a temporary
database, running the real binary."""
import json
import os
import sqlite3

import harness
from harness import ShortlinkTestCase


class StoreCommands(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")

    def test_init_refuses_to_clobber(self):
        proc = self.sl("init", expect=4)
        self.assertIn("already exists", proc.stderr)

    def test_missing_database_is_not_found(self):
        proc = harness.run(["list"], db=os.path.join(self.tmp, "nope.db"))
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("shortlink init", proc.stderr)

    def test_db_from_environment(self):
        proc = harness.run(["list", "--format", "csv"], env={"SHORTLINK_DB": self.db})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(proc.stdout.startswith("domain,code,url"))

    def test_add_show_list(self):
        out = self.sl("add", "https://Example.com/a/../docs", "--code", "docs/setup", "--tag", "team",
                      "--expires", "7d", "--type", "301").stdout
        self.assertEqual(out.strip(), "/docs/setup")
        link = json.loads(self.sl("show", "docs/setup", "--json").stdout)
        self.assertEqual(link["url"], "https://example.com/docs")
        self.assertEqual(link["type"], 301)
        self.assertEqual(link["tags"], ["team"])
        self.assertEqual(link["status"], "active")
        self.assertIsNotNone(link["expires"])
        auto = self.sl("add", "https://example.com/auto", "--json").stdout
        code = json.loads(auto)["code"]
        self.assertEqual(len(code), 7)
        lines = self.sl("list", "--format", "json").stdout.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertEqual(len(self.sl("list", "--tag", "team", "--json").stdout.splitlines()), 1)
        self.assertEqual(len(self.sl("list", "--limit", "1", "--json").stdout.splitlines()), 1)
        self.assertIn("docs/setup", self.sl("list").stdout)

    def test_show_unknown_is_not_found(self):
        self.sl("show", "nope", expect=3)
        self.sl("show", "x", "--domain", "unknown.example", expect=3)

    def test_duplicate_code_is_conflict(self):
        self.sl("add", "https://example.com/", "--code", "dup")
        proc = self.sl("add", "https://example.com/", "--code", "dup", expect=4)
        self.assertIn("already exists", proc.stderr)

    def test_domains(self):
        self.sl("domain", "add", "Go.Example.COM", "--default-type", "308", "--root-url", "https://example.com/",
                "--case-insensitive", "--no-forward-query", "--cache-max-age", "600", "--negative-max-age", "5")
        domains = [json.loads(l) for l in self.sl("domain", "list", "--json").stdout.splitlines()]
        go = [d for d in domains if d["host"] == "go.example.com"][0]
        self.assertEqual(go["default_type"], 308)
        self.assertTrue(go["case_insensitive"])
        self.assertFalse(go["forward_query"])
        self.assertEqual(go["cache_max_age"], 600)
        self.sl("domain", "add", "go.example.com", expect=4)
        self.sl("add", "https://example.com/x", "--domain", "go.example.com", "--code", "Docs")
        proc = self.sl("add", "https://example.com/y", "--domain", "go.example.com", "--code", "docs", expect=4)
        self.assertIn("ignores case", proc.stderr)
        self.sl("domain", "set", "go.example.com", "--default-type", "302", "--forward-query")
        go = json.loads(self.sl("domain", "set", "go.example.com", "--cache-max-age", "1", "--json").stdout)
        self.assertEqual(go["default_type"], 302)
        self.assertTrue(go["forward_query"])
        self.sl("domain", "remove", "go.example.com", expect=4)
        self.sl("domain", "remove", "go.example.com", "--force")
        self.sl("show", "Docs", "--domain", "go.example.com", expect=3)
        self.sl("domain", "remove", "*", expect=2)
        self.sl("domain", "add", "bücher.example")
        self.assertIn("xn--bcher-kva.example", self.sl("domain", "list").stdout)

    def test_edit_and_states(self):
        self.sl("add", "https://example.com/1", "--code", "c", "--tag", "old")
        link = json.loads(self.sl("edit", "c", "--url", "https://example.com/2", "--add-tag", "new",
                                  "--remove-tag", "old", "--expires", "2030-01-01T00:00:00Z", "--json").stdout)
        self.assertEqual(link["url"], "https://example.com/2")
        self.assertEqual(link["tags"], ["new"])
        self.assertEqual(link["expires"], "2030-01-01T00:00:00Z")
        self.assertEqual(link["version"], 2)
        link = json.loads(self.sl("edit", "c", "--no-expires", "--json").stdout)
        self.assertIsNone(link["expires"])
        self.sl("edit", "c", expect=2)
        self.sl("edit", "missing", "--url", "https://example.com/", expect=3)
        self.assertEqual(self.sl("disable", "c").stdout.strip(), "disabled /c")
        self.assertEqual(json.loads(self.sl("show", "c", "--json").stdout)["status"], "disabled")
        self.sl("enable", "c")
        self.sl("delete", "c")
        self.sl("enable", "c", expect=4)
        self.assertEqual(len(self.sl("list", "--status", "deleted", "--json").stdout.splitlines()), 1)
        self.sl("restore", "c")
        self.sl("restore", "c", expect=4)
        self.assertEqual(json.loads(self.sl("show", "c", "--json").stdout)["status"], "active")

    def test_history_newest_first_with_actor(self):
        self.sl("--actor", "alice", "add", "https://example.com/1", "--code", "h")
        self.sl("edit", "h", "--url", "https://example.com/2", "--actor", "bob")
        self.sl("disable", "h")
        entries = [json.loads(l) for l in self.sl("history", "h", "--json").stdout.splitlines()]
        self.assertEqual([e["action"] for e in entries], ["disable", "edit", "add"])
        self.assertEqual(entries[1]["actor"], "bob")
        self.assertEqual(entries[2]["actor"], "alice")
        self.assertEqual(entries[1]["before"]["url"], "https://example.com/1")
        self.assertEqual(entries[1]["after"]["url"], "https://example.com/2")
        self.assertIn("disable", self.sl("history").stdout.splitlines()[0])
        self.sl("history", "nope", expect=3)

    def test_init_records_its_actor(self):
        other = os.path.join(self.tmp, "other.db")
        proc = harness.run(["--actor", "carol", "init"], db=other)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        entries = [json.loads(l) for l in
                   harness.run(["history", "--json"], db=other).stdout.splitlines()]
        self.assertEqual([(e["action"], e["actor"]) for e in entries], [("init", "carol")])

    def test_audit_log_refuses_update_and_delete_via_sqlite(self):
        self.sl("add", "https://example.com/1", "--code", "a")
        con = sqlite3.connect(self.db)
        for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
            with self.assertRaises(sqlite3.IntegrityError) as ctx:
                con.execute(sql)
            self.assertIn("append-only", str(ctx.exception))
        con.close()

    def test_help_and_version(self):
        self.assertEqual(harness.run(["--version"]).returncode, 0)
        for cmd in ("add", "import", "domain"):
            self.assertEqual(harness.run([cmd, "--help"]).returncode, 0)
        self.assertEqual(harness.run(["add"], db=self.db).returncode, 2)


    def test_database_from_before_titles_is_migrated(self):
        self.sl("add", "https://example.com/old", "--code", "old", "--tag", "t")
        before = json.loads(self.sl("show", "old", "--json").stdout)
        # The database as the last build without titles left it: schema 4, no title column.
        con = sqlite3.connect(self.db, isolation_level=None)
        con.execute("ALTER TABLE domains DROP COLUMN country_header")  # migration 7
        for column in ("not_found_url", "expired_url", "not_found_text", "gone_text", "permanent_max_age_s",
                       "stale_while_revalidate_s", "stale_if_error_s", "cache_scope", "miss_budget"):  # migration 6
            con.execute(f"ALTER TABLE domains DROP COLUMN {column}")
        con.execute("ALTER TABLE links DROP COLUMN expired_url")
        con.execute("ALTER TABLE links DROP COLUMN reserved")
        con.execute("ALTER TABLE links DROP COLUMN title")
        con.execute("PRAGMA user_version = 4")
        con.close()
        shown = json.loads(self.sl("show", "old", "--json").stdout)
        self.assertIsNone(shown["title"])
        self.assertEqual(shown, before)
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 7)
        con.close()
        self.sl("edit", "old", "--title", "Old page")
        self.assertEqual(json.loads(self.sl("show", "old", "--json").stdout)["title"], "Old page")
        self.sl("history", "--verify")


if __name__ == "__main__":
    harness.main()
