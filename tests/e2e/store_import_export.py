"""End-to-end: import and export. Round trip into a new database, a bad row failing the whole
import with its line number, --skip-invalid, --dry-run, --on-conflict, JSON Lines, stdin."""
import json
import os

import harness
from harness import ShortlinkTestCase

CSV = (
    "code,url,domain,type,expires,not_before,tags,status,title\r\n"
    "a,https://example.com/a,,301,2030-01-01T00:00:00Z,,x;y,active,\"Sale, \"\"20%\"\" off\"\r\n"
    "\"b/c\",\"https://example.com/b?x=1,2\",go.example,,,2029-01-01T00:00:00Z,,disabled,Caf\u00e9 \u2014 menu\r\n"
    "d,https://example.com/d,*,,,,,deleted,\r\n"
)


class StoreImportExport(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")
        self.sl("domain", "add", "go.example")
        self.csv = os.path.join(self.tmp, "in.csv")
        with open(self.csv, "w", newline="") as f:
            f.write(CSV)

    def count(self, db=None):
        proc = harness.run(["list", "--format", "json"], db=db or self.db)
        return len(proc.stdout.splitlines())

    def test_round_trip_csv_and_json(self):
        self.assertIn("imported 3", self.sl("import", self.csv).stdout)
        for fmt in ("csv", "json"):
            with self.subTest(format=fmt):
                out = os.path.join(self.tmp, "export." + fmt)
                self.sl("export", "--format", fmt, "-o", out)
                db2 = os.path.join(self.tmp, f"second-{fmt}.db")
                harness.run(["init"], db=db2)
                harness.run(["domain", "add", "go.example"], db=db2)
                proc = harness.run(["import", out, "--format", fmt], db=db2)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                first = self.sl("export").stdout
                second = harness.run(["export"], db=db2).stdout
                self.assertEqual(first, second)
                self.assertIn("disabled", second)
                self.assertIn('"https://example.com/b?x=1,2"', second)
                titles = {l["code"]: l["title"] for l in map(json.loads, harness.run(
                    ["export", "--format", "json"], db=db2).stdout.splitlines())}
                self.assertEqual(titles, {"a": 'Sale, "20%" off', "b/c": "Caf\u00e9 \u2014 menu", "d": None})

    def test_round_trip_into_new_database_creates_domains(self):
        # Non-default domains, every status, tags, times, type and query forwarding.
        self.sl("domain", "add", "b.example")
        self.sl("add", "https://example.com/t", "--code", "docs/setup", "--domain", "b.example", "--type", "308",
                "--tag", "team:x", "--tag", "a", "--expires", "2031-02-03T04:05:06Z",
                "--not-before", "2029-01-01T00:00:00Z", "--no-forward-query", "--title", "Setup: the quick way")
        self.sl("add", "https://example.com/d", "--code", "gone", "--domain", "b.example")
        self.sl("delete", "gone", "--domain", "b.example")
        self.sl("import", self.csv)
        first = self.sl("export").stdout
        self.assertIn("b.example", first)
        self.assertIn("go.example", first)
        for fmt in ("csv", "json"):
            with self.subTest(format=fmt):
                out = os.path.join(self.tmp, "rt." + fmt)
                self.sl("export", "--format", fmt, "-o", out)
                db2 = os.path.join(self.tmp, f"fresh-{fmt}.db")
                harness.run(["init"], db=db2)
                refused = harness.run(["import", out], db=db2)
                self.assertEqual(refused.returncode, 3, refused.stderr)
                self.assertIn("--create-domains", refused.stderr)
                self.assertIn("does not exist", refused.stderr)
                self.assertEqual(harness.run(["export"], db=db2).stdout.count("\n"), 1)  # header only
                dry = harness.run(["import", out, "--create-domains", "--dry-run"], db=db2)
                self.assertEqual(dry.returncode, 0, dry.stderr)
                self.assertIn("would create 2 domain(s)", dry.stdout)
                self.assertNotIn("b.example", harness.run(["domain", "list"], db=db2).stdout)
                proc = harness.run(["import", out, "--create-domains"], db=db2)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("imported 5 link(s)", proc.stdout)
                self.assertIn("created 2 domain(s)", proc.stdout)
                self.assertEqual(harness.run(["export"], db=db2).stdout, first)
                self.assertEqual(harness.run(["export", "--format", "json"], db=db2).stdout.count("\n"), 5)
                shown = json.loads(harness.run(["show", "docs/setup", "--domain", "b.example", "--json"], db=db2).stdout)
                self.assertEqual(shown["tags"], ["a", "team:x"])
                self.assertEqual(shown["type"], 308)
                self.assertEqual(shown["title"], "Setup: the quick way")
                self.assertEqual(shown["status"], "active")
                self.assertIn("2031-02-03T04:05:06", shown["expires"])
                self.assertIn("2029-01-01T00:00:00", shown["not_before"])
                gone = json.loads(harness.run(["show", "gone", "--domain", "b.example", "--json"], db=db2).stdout)
                self.assertEqual(gone["status"], "deleted")
                audit = [json.loads(l) for l in harness.run(["history", "--json"], db=db2).stdout.splitlines()]
                added = sorted(e["domain"] for e in audit if e["action"] == "domain-add")
                self.assertEqual(added, ["b.example", "go.example"])

    def test_create_domains_default_domain_option_and_hostile_host(self):
        rows = "code,url\nq,https://example.com/q\n"
        proc = self.sl("import", "-", "--domain", "New.Example", input=rows, expect=3)
        self.assertIn("--create-domains", proc.stderr)
        self.assertIn("imported 1 link(s)", self.sl("import", "-", "--domain", "New.Example", "--create-domains",
                                                     input=rows).stdout)
        self.assertEqual(json.loads(self.sl("show", "q", "--domain", "new.example", "--json").stdout)["url"],
                         "https://example.com/q")
        bad = "code,url,domain\nr,https://example.com/r,bad_host!\n"
        proc = self.sl("import", "-", "--create-domains", input=bad, expect=2)
        self.assertIn("line 2", proc.stderr)
        self.assertNotIn("bad_host", self.sl("domain", "list").stdout)

    def test_history_shows_each_imported_link(self):
        self.sl("--actor", "carol", "import", self.csv)
        entries = [json.loads(l) for l in self.sl("history", "b/c", "--domain", "go.example", "--json").stdout.splitlines()]
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0]["action"], "import")
        self.assertEqual(entries[0]["actor"], "carol")
        self.assertEqual(entries[0]["code"], "b/c")
        self.assertIsNone(entries[0]["before"])
        after = entries[0]["after"]
        self.assertEqual(after["url"], "https://example.com/b?x=1,2")
        self.assertEqual(after["status"], "disabled")
        self.assertEqual(after["domain"], "go.example")
        self.assertEqual(after["version"], 1)
        a = [json.loads(l) for l in self.sl("history", "a", "--json").stdout.splitlines()]
        self.assertEqual(a[0]["after"]["tags"], ["x", "y"])
        self.assertEqual(a[0]["after"]["type"], 301)
        # The import's rows have the same shape as add's.
        self.sl("add", "https://example.com/z", "--code", "z")
        z = [json.loads(l) for l in self.sl("history", "z", "--json").stdout.splitlines()]
        self.assertEqual(sorted(z[0]["after"].keys()), sorted(after.keys()))
        everything = [json.loads(l) for l in self.sl("history", "--json").stdout.splitlines()]
        imports = [e for e in everything if e["action"] == "import"]
        self.assertEqual(sorted(e["code"] for e in imports), ["a", "b/c", "d"])

    def test_bad_row_fails_whole_import_with_line(self):
        with open(self.csv, "a", newline="") as f:
            f.write("e,javascript:alert(1)\r\n")
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("code,url\nok1,https://example.com/1\nok2,https://example.com/2\nbad,javascript:x\n")
        proc = self.sl("import", bad, expect=2)
        self.assertIn("line 4", proc.stderr)
        self.assertIn("javascript", proc.stderr)
        self.assertEqual(self.count(), 0)

    def test_skip_invalid(self):
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("code,url\nok1,https://example.com/1\n.well-known/acme-challenge/t,https://example.com/2\nok3,ftp://x/\nok4,https://x.example/\n")
        proc = self.sl("import", bad, "--skip-invalid")
        self.assertIn("imported 2", proc.stdout)
        self.assertIn("line 3", proc.stderr)
        self.assertIn("line 4", proc.stderr)
        self.assertEqual(self.count(), 2)

    def test_dry_run_changes_nothing(self):
        before = os.path.getsize(self.db)
        proc = self.sl("import", self.csv, "--dry-run")
        self.assertIn("would import 3", proc.stdout)
        self.assertEqual(self.count(), 0)
        self.assertEqual(self.sl("history", "--json").stdout.count('"import"'), 0)
        self.assertLessEqual(os.path.getsize(self.db), before)

    def test_on_conflict(self):
        self.sl("import", self.csv)
        proc = self.sl("import", self.csv, expect=4)
        self.assertIn("line 2", proc.stderr)
        self.assertIn("imported 0 link(s), updated 0, skipped 3", self.sl("import", self.csv, "--on-conflict", "skip").stdout)
        changed = os.path.join(self.tmp, "changed.csv")
        with open(changed, "w") as f:
            f.write("code,url\na,https://changed.example/\n")
        self.sl("import", changed, "--on-conflict", "update")
        link = json.loads(self.sl("show", "a", "--json").stdout)
        self.assertEqual(link["url"], "https://changed.example/")
        self.assertEqual(link["version"], 2)
        self.assertEqual(link["tags"], [])

    def test_duplicates_within_a_file_keep_file_order(self):
        # Rows are inserted ordered by code, not by line: "b" twice and "a" after them must still
        # behave as in file order (first insert wins, the later line conflicts, skips or updates).
        rows = "code,url\nb,https://example.com/first\nb,https://example.com/second\na,https://example.com/a\n"
        proc = self.sl("import", "-", input=rows, expect=4)
        self.assertIn("line 3:", proc.stderr)
        self.assertIn("nothing was imported", proc.stderr)
        self.assertEqual(self.count(), 0)
        self.assertIn("imported 2 link(s), updated 0, skipped 1", self.sl("import", "-", "--on-conflict", "skip", input=rows).stdout)
        self.assertEqual(json.loads(self.sl("show", "b", "--json").stdout)["url"], "https://example.com/first")
        db2 = os.path.join(self.tmp, "update.db")
        harness.run(["init"], db=db2)
        harness.run(["import", "-", "--on-conflict", "update"], db=db2, input=rows)
        link = json.loads(harness.run(["show", "b", "--json"], db=db2).stdout)
        self.assertEqual(link["url"], "https://example.com/second")
        self.assertEqual(link["version"], 2)
        actions = [json.loads(l)["action"] for l in harness.run(["history", "b", "--json"], db=db2).stdout.splitlines()]
        self.assertEqual(actions, ["import-update", "import"])

    def test_case_twins_on_a_case_insensitive_domain_meet_in_file_order(self):
        # In byte order "ABC" sorts before "abc"; the import must still keep the line that came first.
        self.sl("domain", "add", "ci.example", "--case-insensitive")
        rows = "code,url,domain\nzz,https://example.com/zz,ci.example\nabc,https://example.com/lower,ci.example\n" \
               "ABC,https://example.com/upper,ci.example\nAbd,https://example.com/abd,ci.example\n"
        proc = self.sl("import", "-", input=rows, expect=4)
        self.assertIn("line 4:", proc.stderr)
        self.assertIn("imported 3 link(s), updated 0, skipped 1", self.sl("import", "-", "--on-conflict", "skip", input=rows).stdout)
        codes = [json.loads(l)["code"] for l in self.sl("list", "--domain", "ci.example", "--format", "json").stdout.splitlines()]
        self.assertEqual(sorted(codes), ["Abd", "abc", "zz"])
        # Enough rows for 16-row INSERTs, with a case twin of a row in the same batch.
        many = "code,url,domain\n" + "".join(f"k{i:02},https://example.com/{i},ci.example\n" for i in range(20))
        many += "K05,https://example.com/twin,ci.example\n"
        proc = self.sl("import", "-", input=many, expect=4)
        self.assertIn("line 22:", proc.stderr)
        self.assertIn("imported 20 link(s), updated 0, skipped 1", self.sl("import", "-", "--on-conflict", "skip", input=many).stdout)
        link = json.loads(self.sl("show", "k05", "--domain", "ci.example", "--json").stdout)
        self.assertEqual(link["url"], "https://example.com/5")

    def test_errors_in_a_large_file_name_the_earliest_line(self):
        # Rows are validated in batches of 4096 on two threads; the error reported must still be
        # the first one in the file, and a malformed record must not hide an earlier bad row.
        good = ["code,url"] + [f"c{i},https://example.com/{i}" for i in range(10000)]
        rows = list(good)
        rows[7001] = "c7000,javascript:alert(1)"    # line 7002, second half of the second batch
        rows[9001] = "c9000,ftp://example.com/"    # line 9002, a later batch
        proc = self.sl("import", "-", input="\n".join(rows) + "\n", expect=2)
        self.assertIn("line 7002:", proc.stderr)
        self.assertNotIn("line 9002", proc.stderr)
        self.assertEqual(self.count(), 0)
        proc = self.sl("import", "-", "--skip-invalid", input="\n".join(rows) + "\n")
        self.assertIn("imported 9998 link(s)", proc.stdout)
        self.assertIn("line 7002:", proc.stderr)
        self.assertIn("line 9002:", proc.stderr)
        broken = list(good)
        broken[5000] = "c4999,https://example.com/\x01"   # line 5001: control character
        broken[5002] = 'c5001,"unterminated'                # line 5003: malformed CSV, same batch
        proc = self.sl("import", "-", input="\n".join(broken) + "\n", expect=2)
        self.assertIn("line 5001:", proc.stderr)
        proc = self.sl("import", "-", "--skip-invalid", input="\n".join(broken) + "\n", expect=2)
        self.assertIn("line 5003: unterminated quoted field", proc.stderr)
        self.assertEqual(self.count(), 9998)  # only the --skip-invalid import above
        # Again over the links now present: batched inserts fall back to row-by-row outcomes.
        proc = self.sl("import", "-", input="\n".join(good) + "\n", expect=4)
        self.assertIn("line 2:", proc.stderr)
        self.assertIn("imported 2 link(s), updated 0, skipped 9998",
                      self.sl("import", "-", "--on-conflict", "skip", input="\n".join(good) + "\n").stdout)
        self.assertIn("imported 0 link(s), updated 10000, skipped 0",
                      self.sl("import", "-", "--on-conflict", "update", input="\n".join(good) + "\n").stdout)

    def test_json_lines_from_stdin_and_default_domain(self):
        lines = '{"code":"j1","url":"https://example.com/1","tags":["a"]}\n\n{"code":"j2","url":"https://example.com/2","type":308}\n'
        self.sl("import", "-", "--format", "json", "--domain", "go.example", input=lines)
        link = json.loads(self.sl("show", "j2", "--domain", "go.example", "--json").stdout)
        self.assertEqual(link["type"], 308)

    def test_hostile_files(self):
        # (input, exit code, the whole error line): each names the file, what is wrong and where.
        cases = {
            "empty": ("", 2, "empty input: a CSV header row with code,url is required (nothing was imported)"),
            "no header columns": ("foo,bar\n1,2\n", 2,
                                  "line 1: unknown columns 'foo', 'bar' (known: domain, code, url, type, expires, "
                                  "not_before, tags, status, forward_query, title); map them with --map COLUMN=FIELD or "
                                  "drop them with --ignore-unknown-columns (nothing was imported)"),
            "unterminated quote": ('code,url\n"a,https://example.com/\n', 2,
                                   "line 2: unterminated quoted field (nothing was imported)"),
            "wrong field count": ("code,url\na,https://example.com/,extra\n", 2,
                                  "line 2: 3 fields, the header has 2 (nothing was imported)"),
            "unknown domain": ("code,url,domain\na,https://example.com/,nope.example\n", 3,
                               "line 2: domain 'nope.example' does not exist (add it with `shortlink domain add "
                               "nope.example`, or import with --create-domains) (nothing was imported)"),
            "nul byte": ("code,url\na\x00,https://example.com/\n", 2,
                         "line 2: column 'code': code contains 0x00 at byte 1; allowed: A-Z a-z 0-9 - _ . ~ and / "
                         "between segments (nothing was imported)"),
            "stray quote": ('code,url\na"b,https://example.com/\n', 2,
                            "line 2: quote inside an unquoted field (nothing was imported)"),
            "title with a control character": ('code,url,title\na,https://example.com/,"a\x1b[2Jb"\n', 2,
                                               "line 2: column 'title': title must be one line of UTF-8 text: "
                                               "control character at byte 1 (nothing was imported)"),
            "title too long": ("code,url,title\na,https://example.com/," + "t" * 513 + "\n", 2,
                               "line 2: column 'title': title is 513 bytes; the limit is 512 (nothing was imported)"),
        }
        for name, (text, code, message) in cases.items():
            with self.subTest(case=name):
                proc = self.sl("import", "-", input=text, expect=code)
                self.assertEqual(proc.stderr, f"shortlink: error: stdin: {message}\n")
        bad_json = {
            '{"code": "a"': "invalid JSON: Missing a comma or '}' after an object member.",
            '[1,2]': "expected a JSON object",
            '{"code":"a","url":"https://example.com/","evil":1}':
                "unknown key 'evil'; map it with --map COLUMN=FIELD or drop it with --ignore-unknown-columns",
            '{"code":1.5,"url":"https://example.com/"}': "key 'code' has the wrong type",
            '{"code":"a","url":"https://example.com/","title":"\\u202egnp.exe"}':
                "column 'title': title contains a bidirectional or line-separator character",
            '{"code":"a","url":"https://example.com/","title":{"en":"Sale"}}': "key 'title' has the wrong type",
            '{"code":"a","url":"https://example.com/"} {"code":"b"}':
                "invalid JSON: The document root must not be followed by other values.",
        }
        for text, message in bad_json.items():
            with self.subTest(json=text):
                proc = self.sl("import", "-", "--format", "json", input=text + "\n", expect=2)
                self.assertEqual(proc.stderr, f"shortlink: error: stdin: line 1: {message} (nothing was imported)\n")
        self.assertEqual(self.count(), 0)
        missing = os.path.join(self.tmp, "missing.csv")
        proc = self.sl("import", missing, expect=3)
        self.assertEqual(proc.stderr, f"shortlink: error: cannot open {missing}\n")

    def test_binary_header_is_escaped_in_the_error(self):
        proc = self.sl("import", "-", input=b"\x1b[2J\xff\xfe,url\na,https://example.com/\n", expect=2)
        self.assertIn(b"unknown column '\\x1b[2J\\xff\\xfe'", proc.stderr)
        self.assertNotIn(b"\x1b", proc.stderr)
        self.assertEqual(self.count(), 0)


if __name__ == "__main__":
    harness.main()
