"""End-to-end: `shortlink apply` and `export --format yaml`. Plan exit codes, apply, idempotence,
--prune, changes shown old -> new, the actor in the history, the export round trip, one
transaction, and hostile files (malformed, tabs, unknown keys, wrong types, duplicates, large,
deeply nested, not UTF-8, empty, an alias bomb) refused with the file, line and column."""
import json
import os
import time

import harness
from harness import ShortlinkTestCase

LINKS = """\
domains:
  - host: go.example.com
    default_type: 301
links:
  - domain: go.example.com   # absent: the default domain
    code: spring
    url: https://example.com/spring
    tags: [promo]
  - code: docs
    url: https://example.com/docs
"""

# Every field of a link and a domain, every state: what a round trip must keep.
RICH = """\
domains:
  - host: "*"
    default_type: 307
    root_url: https://example.com/home
  - host: ci.example
    default_type: 308
    case_insensitive: true
    forward_query: false
    cache_max_age: 600
    negative_max_age: 5
    https_redirect: true
    hsts_max_age: 31536000
    hsts_include_subdomains: true
links:
  - code: a
    url: https://example.com/a?x=1
    type: 301
    forward_query: true
    not_before: 2026-01-01T00:00:00Z
    expires: 2030-06-01T12:00:00+02:00
    tags: [x, y]
    title: 'Spring sale: 20% off \u2014 caf\u00e9 "menu" # not a comment'
  - {domain: ci.example, code: Docs/Setup, url: "https://example.com/b", status: disabled, title: "2024"}
  - {code: "2024", url: "https://example.com/c", status: deleted, forward_query: false, title: "null"}
  - {code: "null", url: "https://example.com/d", tags: ["no"], title: "- [x] {y}: z"}
"""


class ApplyCommands(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")
        self.file = self.write("links.yaml", LINKS)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        return path

    def links(self, db=None):
        """Every link as `export --format jsonl` writes it, without what the store stamps."""
        out = harness.run(["export", "--format", "jsonl"], db=db or self.db)
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        for row in rows:
            for key in ("version", "created_at", "updated_at"):
                row.pop(key)
        return sorted(rows, key=lambda r: (r["domain"], r["code"]))

    def domains(self, db=None):
        out = harness.run(["domain", "list", "--json"], db=db or self.db)
        return sorted((json.loads(line) for line in out.stdout.splitlines()), key=lambda d: d["host"])

    def history(self):
        out = self.sl("history", "--json")
        return [json.loads(line) for line in out.stdout.splitlines()]

    def test_plan_exit_codes_apply_and_idempotence(self):
        plan = self.sl("apply", self.file, "--plan", expect=2)
        self.assertEqual(plan.stderr, "")
        self.assertIn("+ domain go.example.com\n    default_type: 301\n", plan.stdout)
        self.assertIn("+ link go.example.com/spring\n    url: https://example.com/spring\n    tags: [promo]\n",
                      plan.stdout)
        self.assertIn("plan: 3 to add, 0 to change, 0 to remove", plan.stdout)
        self.assertEqual(self.links(), [])  # --plan changed nothing
        applied = self.sl("apply", self.file)
        self.assertIn("applied: 3 added, 0 changed, 0 removed", applied.stdout)
        self.assertEqual([(r["domain"], r["code"]) for r in self.links()], [("*", "docs"), ("go.example.com", "spring")])
        rows = len(self.history())
        again = self.sl("apply", self.file)
        self.assertEqual(again.stdout, f"no changes: the store matches {self.file}\n")
        self.assertEqual(len(self.history()), rows)
        self.assertEqual(self.sl("apply", self.file, "--plan").stdout, f"no changes: the store matches {self.file}\n")
        self.sl("apply", self.file, "--plan", "--prune")  # every link is listed: exit 0

    def test_changes_show_old_and_new(self):
        self.sl("apply", self.file)
        changed = self.write("changed.yaml", LINKS.replace("/spring\n", "/spring-2027\n    type: 308\n")
                             .replace("[promo]", "[promo, q1]") + "    status: disabled\n")
        plan = self.sl("apply", changed, "--plan", expect=2)
        self.assertIn("~ link go.example.com/spring\n"
                      "    url: https://example.com/spring -> https://example.com/spring-2027\n"
                      "    type: (none) -> 308\n"
                      "    tags: [promo] -> [promo, q1]\n", plan.stdout)
        self.assertIn("~ link */docs\n    status: active -> disabled\n", plan.stdout)
        data = json.loads(self.sl("apply", changed, "--plan", "--json", expect=2).stdout)
        self.assertEqual((data["changes"], data["applied"], data["add"], data["change"], data["remove"]),
                         (True, False, 0, 2, 0))
        step = data["steps"][0]
        self.assertEqual((step["kind"], step["domain"], step["code"], step["line"]), ("link", "go.example.com", "spring", 5))
        self.assertIn({"field": "type", "before": None, "after": "308"}, step["fields"])
        self.sl("apply", changed)
        spring = json.loads(self.sl("show", "spring", "--domain", "go.example.com", "--json").stdout)
        self.assertEqual((spring["url"], spring["type"], spring["tags"]), ("https://example.com/spring-2027", 308, ["promo", "q1"]))
        self.assertEqual(json.loads(self.sl("show", "docs", "--json").stdout)["status"], "disabled")

    def test_prune_soft_deletes_and_listing_restores(self):
        self.sl("apply", self.file)
        self.sl("add", "https://example.com/manual", "--code", "manual")
        only_spring = self.write("spring.yaml", LINKS.split("  - code: docs")[0])
        plain = self.sl("apply", only_spring, "--plan", expect=0)  # without --prune, unlisted links stay
        self.assertIn("no changes", plain.stdout)
        plan = self.sl("apply", only_spring, "--plan", "--prune", expect=2)
        self.assertIn("- link */docs\n    status: active -> deleted\n", plan.stdout)
        self.assertIn("- link */manual\n", plan.stdout)
        self.sl("apply", only_spring, "--prune")
        for code in ("docs", "manual"):
            self.assertEqual(json.loads(self.sl("show", code, "--json").stdout)["status"], "deleted")
        self.sl("domain", "show", "go.example.com")  # domains are never removed
        self.sl("apply", only_spring, "--plan", "--prune")  # deleted links are not pruned again
        # Listed again, a deleted link is restored with the file's fields.
        self.sl("apply", self.file, "--prune")
        docs = json.loads(self.sl("show", "docs", "--json").stdout)
        self.assertEqual((docs["status"], docs["url"]), ("active", "https://example.com/docs"))
        actions = [r["action"] for r in self.history() if r["code"] == "docs"]
        self.assertEqual(actions[:2], ["restore", "delete"])

    def test_history_records_the_actor(self):
        self.sl("--actor", "ci-bot", "apply", self.file)
        rows = self.history()
        mine = [(r["actor"], r["action"], r["domain"], r["code"]) for r in rows if r["actor"] == "ci-bot"]
        self.assertIn(("ci-bot", "add", "go.example.com", "spring"), mine)
        self.assertIn(("ci-bot", "domain-add", "go.example.com", ""), mine)
        self.assertEqual(len(mine), 3)
        self.sl("history", "--verify")

    def test_export_round_trip(self):
        rich = self.write("rich.yaml", RICH)
        self.sl("apply", rich)
        exported = self.sl("export", "--format", "yaml").stdout
        self.assertIn('code: "2024"', exported)
        self.assertIn("status: deleted", exported)
        titles = {(l["domain"], l["code"]): l["title"] for l in self.links()}
        self.assertEqual(titles, {("*", "a"): 'Spring sale: 20% off \u2014 caf\u00e9 "menu" # not a comment',
                                  ("ci.example", "Docs/Setup"): "2024", ("*", "2024"): "null",
                                  ("*", "null"): "- [x] {y}: z"})
        out = self.write("exported.yaml", exported)
        self.sl("apply", out, "--plan", "--prune")  # the same database: no changes
        to_file = os.path.join(self.tmp, "o.yaml")
        self.sl("export", "--format", "yaml", "-o", to_file)
        with open(to_file) as f:
            self.assertEqual(f.read(), exported)
        fresh = os.path.join(self.tmp, "fresh.db")
        self.assertEqual(harness.run(["init"], db=fresh).returncode, 0)
        applied = harness.run(["apply", out], db=fresh)
        self.assertEqual(applied.returncode, 0, applied.stderr)
        self.assertEqual(self.links(fresh), self.links())
        self.assertEqual(self.domains(fresh), self.domains())
        self.assertEqual(len(self.links()), 4)
        one = harness.run(["export", "--format", "yaml", "--domain", "ci.example"], db=fresh).stdout
        self.assertIn("host: ci.example", one)
        self.assertNotIn("https://example.com/a", one)

    def test_titles_plan_apply_and_round_trip(self):
        self.sl("apply", self.file)
        titled = self.write("titled.yaml", LINKS.replace("    tags: [promo]\n", "    tags: [promo]\n    title: Spring sale\n"))
        plan = self.sl("apply", titled, "--plan", expect=2)
        self.assertIn("~ link go.example.com/spring\n    title: (none) -> Spring sale\n", plan.stdout)
        self.sl("apply", titled)
        self.assertEqual(self.sl("show", "spring", "--domain", "go.example.com", "--json").stdout.count("Spring sale"), 1)
        entry = [e for e in self.history() if e["action"] == "edit"][0]
        self.assertEqual((entry["before"]["title"], entry["after"]["title"]), (None, "Spring sale"))
        # What export writes plans no change; an edit made outside the file shows up, and applying
        # the file sets it back.
        exported = self.write("exported.yaml", self.sl("export", "--format", "yaml").stdout)
        with open(exported, encoding="utf-8") as f:
            self.assertIn("title: Spring sale", f.read())
        self.assertEqual(self.sl("apply", exported, "--plan").stdout, f"no changes: the store matches {exported}\n")
        self.sl("edit", "spring", "--domain", "go.example.com", "--title", "Renamed by hand")
        plan = self.sl("apply", exported, "--plan", expect=2)
        self.assertIn("    title: Renamed by hand -> Spring sale\n", plan.stdout)
        self.sl("edit", "spring", "--domain", "go.example.com", "--no-title")
        plan = self.sl("apply", exported, "--plan", expect=2)
        self.assertIn("    title: (none) -> Spring sale\n", plan.stdout)
        self.sl("apply", exported)
        self.assertEqual(self.sl("apply", exported, "--plan").stdout, f"no changes: the store matches {exported}\n")
        # A title that is not one line of text is refused where it is, and nothing is applied.
        before = self.links()
        for value, message in (('"a\\u0007b"', "title: title must be one line of UTF-8 text: control character at byte 1"),
                               ("x" * 513, "title: title is 513 bytes; the limit is 512"),
                               ("[a]", "title takes a title, found a list")):
            bad = self.write("bad.yaml", LINKS.replace("    tags: [promo]\n", f"    tags: [promo]\n    title: {value}\n"))
            proc = self.sl("apply", bad, expect=2)
            self.assertIn(f"{bad}: line 9, column 12: {message}", proc.stderr)
            self.assertEqual(self.links(), before)

    def test_stdin(self):
        plan = self.sl("apply", "-", "--plan", input=LINKS, expect=2)
        self.assertIn("plan: 3 to add", plan.stdout)
        bad = self.sl("apply", "-", input="links: [\n", expect=2)
        self.assertTrue(bad.stderr.startswith("shortlink: error: stdin: line 2, column 1: "), bad.stderr)

    def test_one_invalid_link_among_valid_ones_applies_nothing(self):
        before_rows = len(self.history())
        bad = self.write("bad.yaml", LINKS + "  - code: broken\n    url: not a url\n  - code: fine\n    url: https://e.com/\n")
        proc = self.sl("apply", bad, expect=2)
        self.assertTrue(proc.stderr.startswith(f"shortlink: error: {bad}: line 12, column 10: url: "), proc.stderr)
        self.assertEqual(self.links(), [])
        self.assertEqual(len(self.history()), before_rows)

    def test_failure_midway_through_the_transaction_leaves_the_database(self):
        # Two codes that differ only in case, then a file making their domain case-insensitive
        # after other changes: the store refuses that step, and the steps before it are undone.
        self.sl("apply", self.file)
        self.sl("add", "https://example.com/S", "--code", "Spring", "--domain", "go.example.com")
        links, domains, rows = self.links(), self.domains(), len(self.history())
        text = ("domains:\n  - host: new.example\n  - host: go.example.com\n    default_type: 301\n"
                "    case_insensitive: true\nlinks:\n  - code: docs\n    url: https://example.com/docs-2\n")
        proc = self.sl("apply", self.write("ci.yaml", text), expect=4)
        self.assertIn("ci.yaml: line 3, column 5: cannot make go.example.com case-insensitive", proc.stderr)
        self.assertIn("(nothing was applied)", proc.stderr)
        self.assertEqual((self.links(), self.domains(), len(self.history())), (links, domains, rows))
        self.sl("history", "--verify")

    def test_refused_files_name_file_line_and_column(self):
        head = "links:\n  - code: a\n    url: https://example.com/\n"
        cases = [
            ("malformed", "links: ]\n", 2, "line 1, column 8: illegal flow end"),
            ("tabs", "links:\n\t- code: a\n", 2, "line 2, column 1: a tab in the indentation"),
            ("unknown key", head + "    titel: x\n", 2, "line 4, column 5: unknown key 'titel' in a link"),
            ("wrong type", head + "    type: \"301\"\n", 2, "line 4, column 11: type takes a redirect type"),
            ("wrong type list", head + "    tags: promo\n", 2, "line 4, column 11: tags takes a list of tags"),
            ("yes is no boolean", head + "    forward_query: yes\n", 2, "line 4, column 20: forward_query takes true or false"),
            ("duplicate code", head + "  - code: a\n    url: https://example.com/2\n", 2,
             "line 4, column 5: link */a is listed twice (first at line 2, column 5)"),
            ("duplicate key", head + "    url: https://example.com/2\n", 2, "line 4, column 5: key 'url' is given twice"),
            ("invalid code", "links:\n  - code: ../x\n    url: https://example.com/\n", 2, "line 2, column 11: code: "),
            ("kept by the store", head + "    version: 2\n", 2, "line 4, column 5: key 'version' is kept by the store"),
            ("relative time", head + "    expires: 7d\n", 2, "line 4, column 14: expires: '7d' is relative to now"),
            ("unknown domain", "links:\n  - {domain: nowhere.example, code: a, url: 'https://e.com/'}\n", 3,
             "line 2, column 5: link 'a' is on domain 'nowhere.example'"),
            ("not utf-8", b"links:\n  - code: a\n    url: https://example.com/\xff\xfe\n", 2, "line 3: not UTF-8"),
            ("nul byte", b"links: []\n\x00\n", 2, "line 2, column 1: control character \\x00"),
            ("empty", "", 2, "no YAML document"),
            ("comments only", "# nothing\n", 2, "no YAML document"),
            ("a scalar", "links\n", 2, "line 1, column 1: the document is a single value"),
            ("two documents", "links: []\n---\nlinks: []\n", 2, "line 2, column 1: a second YAML document"),
            ("explicit tag", head + "    status: !!str active\n", 2, "line 4, column 13: an explicit YAML tag"),
        ]
        for name, text, code, message in cases:
            with self.subTest(name):
                path = self.write("case.yaml", text)
                for args in ([], ["--plan"]):
                    proc = self.sl("apply", path, *args, expect=code)
                    self.assertEqual(proc.stdout, "")
                    prefix = f"shortlink: error: {path}: {message}"
                    self.assertTrue(proc.stderr.startswith(prefix), f"{proc.stderr!r} does not start with {prefix!r}")
                    self.assertEqual(proc.stderr.count("\n"), 1)
        self.assertEqual(self.links(), [])
        missing = os.path.join(self.tmp, "missing.yaml")
        self.assertEqual(self.sl("apply", missing, expect=3).stderr, f"shortlink: error: cannot open {missing}\n")
        self.assertIn("is a directory", self.sl("apply", self.tmp, expect=2).stderr)

    def test_alias_bomb_is_refused_at_once(self):
        # "Billion laughs": nine levels of nine aliases each, 9^9 entries if expanded.
        text = "domains: &l0 [{host: a.example}]\n"
        for level in range(1, 10):
            text += f"x{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]\n"
        bomb = "domains: &l0 []\nlinks: [" + ", ".join(["*l0"] * 9) + "]\n"
        for name, body in (("keys", text), ("aliases", bomb)):
            with self.subTest(name):
                start = time.monotonic()
                proc = self.sl("apply", self.write("lol.yaml", body), "--plan", expect=2, timeout=30)
                self.assertLess(time.monotonic() - start, 10)
                self.assertIn("lol.yaml: line ", proc.stderr)
        proc = self.sl("apply", self.write("lol.yaml", bomb), expect=2)
        self.assertIn("line 2, column 9: an alias: a links file takes no aliases", proc.stderr)

    def test_large_and_deep_files_are_bounded(self):
        # 10 MB of valid links is read, planned and applied; the second plan says no changes.
        lines = ["links:"]
        size, i = 0, 0
        while size < 10 * 1024 * 1024:
            entry = f"  - code: c{i}\n    url: https://example.com/some/path/{i}?q=1\n    tags: [t{i % 7}, bulk]"
            lines.append(entry)
            size += len(entry) + 1
            i += 1
        big = self.write("big.yaml", "\n".join(lines) + "\n")
        start = time.monotonic()
        data = json.loads(self.sl("apply", big, "--json", timeout=300).stdout)
        self.assertEqual(data["add"], i)
        self.assertIn("no changes", self.sl("apply", big, "--plan", timeout=300).stdout)
        print(f"10 MB file, {i} links: applied and planned again in {time.monotonic() - start:.1f} s")
        # 10 MB of nesting or of one value, and a file over the 64 MiB bound: refused quickly.
        hostile = [
            ("deep flow", "links: " + "[" * (10 * 1024 * 1024) + "\n", "line 1, column 24: collections nested more than 16 deep"),
            ("deep block", "links:\n" + "".join(" " * (2 * n) + "-\n" for n in range(1, 3000)), "line 66, column 131: indented 130 columns"),
            ("long value", "links:\n  - code: a\n    url: https://e.com/" + "a" * (10 * 1024 * 1024) + "\n",
             "line 3, column 10: url: URL is 10485774 bytes; the limit is 8192"),
        ]
        for name, text, message in hostile:
            with self.subTest(name):
                start = time.monotonic()
                proc = self.sl("apply", self.write("hostile.yaml", text), "--plan", expect=2, timeout=60)
                self.assertLess(time.monotonic() - start, 15)
                self.assertIn(message, proc.stderr)
        huge = os.path.join(self.tmp, "huge.yaml")
        with open(huge, "wb") as f:
            f.truncate(65 * 1024 * 1024)  # sparse: no disk is used
        proc = self.sl("apply", huge, "--plan", expect=2, timeout=60)
        self.assertIn("larger than 64 MiB", proc.stderr)


if __name__ == "__main__":
    harness.main()
