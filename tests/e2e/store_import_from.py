"""End-to-end: `import --from` another shortener's export. Each sample in tests/import_samples/
is imported and exported again (--format json), and every field that maps is compared; what has
no place is said once per column; hostile files of every format fail with the file, line and
column, a documented exit code, and the database unchanged."""
import json
import os

import harness
from harness import ShortlinkTestCase

SAMPLES = os.path.join(harness.SOURCE_DIR, "tests", "import_samples")

# What each sample must become: (domain, code) -> the exported fields that map.
BITLY = {
    ("bit.ly", "3xKq9Zp"): {"url": "https://www.example.com/spring-sale?utm_source=newsletter",
                            "created_at": "2024-03-01T09:15:00Z", "title": "Spring sale"},
    ("links.example.com", "docs"): {"url": "https://docs.example.com/getting-started/", "tags": [],
                                    "created_at": "2023-11-20T16:02:41Z", "title": "Getting started"},
}
EXPECTED = {
    "bitly.csv": ("bitly", {
        **BITLY,
        ("bit.ly", "3xKq9Zp"): dict(BITLY[("bit.ly", "3xKq9Zp")], tags=["Spring-Sale", "social"]),
        ("bit.ly", "4aBcDeF"): {"url": "https://blog.example.org/2024/01/new-year", "tags": ["blog"],
                                "status": "active", "created_at": "2024-01-02T08:00:00Z", "title": "New year post"},
    }, ["archived", "custom_bitlinks", "tags"]),
    "bitly.json": ("bitly", {
        **BITLY,
        ("bit.ly", "3xKq9Zp"): dict(BITLY[("bit.ly", "3xKq9Zp")], tags=["social", "spring"]),
        ("links.example.com", "docs"): dict(BITLY[("links.example.com", "docs")],
                                            title="Getting started \u00b7 Example Docs"),
    }, ["created_by"]),
    "yourls.csv": ("yourls", {
        ("go.example", "docs"): {"url": "https://docs.example.org/", "created_at": "2019-05-14T10:22:31Z",
                                 "title": "Example docs"},
        ("go.example", "1a"): {"url": "https://www.example.org/blog/2020/hello-world",
                               "created_at": "2020-02-01T18:00:00Z", "title": "Hello world"},
        # Quoted, with quotes, UTF-8 and a trailing space, which is trimmed.
        ("go.example", "meetup"): {"url": "https://events.example.org/meetup?id=77",
                                   "created_at": "2024-01-02T03:04:05Z",
                                   "title": "Meetup in May \u2014 Caf\u00e9 \"Zur Linde\""},
    }, ["ip", "clicks"]),
    "shlink.csv": ("shlink", {
        ("s.example.com", "launch"): {"url": "https://www.example.com/product/launch", "tags": ["launch", "product"],
                                      "created_at": "2024-02-10T11:30:00Z", "title": "Product launch"},
        ("go.example.net", "jobs"): {"url": "https://careers.example.net/", "tags": ["hiring"],
                                     "created_at": "2023-09-01T06:00:00Z", "title": None},
    }, ["visits"]),
    "shlink.json": ("shlink", {
        ("s.example.com", "launch"): {"url": "https://www.example.com/product/launch", "tags": ["launch", "product"],
                                      "created_at": "2024-02-10T11:30:00Z", "not_before": "2024-02-09T23:00:00Z",
                                      "expires": "2025-02-09T23:00:00Z", "forward_query": True,
                                      "title": "Product launch"},
        ("go.example.net", "jobs"): {"url": "https://careers.example.net/", "forward_query": False,
                                     "expires": None, "not_before": None, "title": None},
    }, ["meta.maxVisits", "crawlable", "visitsSummary"]),
    "kutt.json": ("kutt", {
        ("kutt.example.com", "promo"): {"url": "https://shop.example.com/promo", "status": "active",
                                        "expires": "2025-04-05T10:11:12Z", "created_at": "2024-04-05T10:11:12Z",
                                        "title": None},
        ("kutt.example.com", "old-offer"): {"url": "https://shop.example.com/offer-2023", "status": "disabled"},
    }, ["description", "visit_count"]),
    "kutt.csv": ("kutt", {
        ("kutt.example.com", "promo"): {"url": "https://shop.example.com/promo", "expires": "2025-04-05T10:11:12Z"},
        ("kutt.example.com", "old-offer"): {"url": "https://shop.example.com/offer-2023", "expires": None},
    }, ["description", "visit_count"]),
    "cloudflare.csv": ("cloudflare", {
        ("www.example.com", "contact"): {"url": "https://www.example.net/contact-us", "type": 301,
                                         "forward_query": False},
        ("www.example.com", "pricing"): {"url": "https://www.example.net/plans", "type": 308, "forward_query": True},
        ("www.example.com", "old-blog"): {"url": "https://blog.example.net/", "type": 301, "forward_query": False},
    }, []),
}


class StoreImportFrom(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")
        self.sl("domain", "add", "go.example")

    def exported(self):
        rows = [json.loads(l) for l in self.sl("export", "--format", "json").stdout.splitlines()]
        return {(r["domain"], r["code"]): r for r in rows}

    def test_each_sample_round_trips(self):
        for name, (source, expected, dropped) in EXPECTED.items():
            with self.subTest(sample=name):
                db = os.path.join(self.tmp, name + ".db")
                harness.run(["init"], db=db)
                proc = harness.run(["import", "--from", source, os.path.join(SAMPLES, name), "--create-domains",
                                    "--domain", "go.example"], db=db)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn(f"imported {len(expected)} link(s)", proc.stdout)
                rows = [json.loads(l) for l in harness.run(["export", "--format", "json"], db=db).stdout.splitlines()]
                got = {(r["domain"], r["code"]): r for r in rows}
                self.assertEqual(set(got), set(expected))
                for key, fields in expected.items():
                    for field, value in fields.items():
                        have = got[key].get(field)
                        if field == "tags":
                            have = sorted(have or [])
                        self.assertEqual(have, value, f"{key} {field}")
                # What has no place is said once per column, naming the file and the line.
                for column in dropped:
                    notes = [l for l in proc.stderr.splitlines() if f"column '{column}'" in l]
                    self.assertEqual(len(notes), 1, proc.stderr)
                    self.assertIn(f"shortlink: note: {os.path.join(SAMPLES, name)}: line ", notes[0])
                # And the export imports back as shortlink's own JSON Lines, unchanged.
                out = os.path.join(self.tmp, name + ".jsonl")
                harness.run(["export", "--format", "json", "-o", out], db=db)
                db2 = os.path.join(self.tmp, name + ".2.db")
                harness.run(["init"], db=db2)
                again = harness.run(["import", "--from", "jsonl", out, "--create-domains"], db=db2)
                self.assertEqual(again.returncode, 0, again.stderr)
                self.assertEqual(harness.run(["export"], db=db2).stdout, harness.run(["export"], db=db).stdout)
                # No column a link now keeps is reported as dropped.
                self.assertNotIn("no title", proc.stderr)
                self.assertNotIn("column 'title'", proc.stderr)

    def test_map_and_ignore_unknown_columns(self):
        path = os.path.join(self.tmp, "other.csv")
        with open(path, "w", newline="") as f:
            f.write("Slug,Destination,Owner,Notes\r\nhello,https://example.com/hello,alice,x\r\n")
        before = self.sl("export").stdout
        proc = self.sl("import", path, expect=2)
        self.assertIn(f"{path}: line 1: unknown columns 'Slug', 'Destination', 'Owner', 'Notes'", proc.stderr)
        self.assertIn("--ignore-unknown-columns", proc.stderr)
        proc = self.sl("import", path, "--map", "slug=code", "--map", "DESTINATION=url", "--domain", "go.example",
                       expect=2)
        self.assertIn("unknown columns 'Owner', 'Notes'", proc.stderr)
        self.assertEqual(self.sl("export").stdout, before)
        proc = self.sl("import", path, "--map", "slug=code", "--map", "DESTINATION=url", "--map", "Notes=-",
                       "--ignore-unknown-columns", "--domain", "go.example")
        self.assertIn("imported 1 link(s)", proc.stdout)
        self.assertEqual(proc.stderr.count("column 'Owner': ignored"), 1, proc.stderr)
        self.assertNotIn("Notes", proc.stderr)
        self.assertEqual(self.exported()[("go.example", "hello")]["url"], "https://example.com/hello")
        proc = self.sl("import", path, "--map", "slug=name", expect=2)
        self.assertIn("--map 'slug=name': unknown field 'name'", proc.stderr)
        self.assertIn("title", proc.stderr)  # the fields it may name
        proc = self.sl("import", path, "--map", "slug=code", "--map", "DESTINATION=url", "--map", "Notes=title",
                       "--map", "Owner=-", "--domain", "go.example", "--on-conflict", "update")
        self.assertIn("updated 1", proc.stdout)
        self.assertEqual(self.exported()[("go.example", "hello")]["title"], "x")
        proc = self.sl("import", path, "--from", "bitly", "--format", "json", expect=2)
        self.assertIn("disagree", proc.stderr)

    def test_options_work_for_every_source(self):
        path = os.path.join(SAMPLES, "yourls.csv")
        dry = self.sl("import", "--from", "yourls", path, "--dry-run")
        self.assertIn("dry run: would import 3 link(s)", dry.stdout)
        self.assertEqual(len(self.exported()), 0)
        self.sl("import", "--from", "yourls", path)
        again = self.sl("import", "--from", "yourls", path, expect=4)
        self.assertIn(f"{path}: line ", again.stderr)
        self.assertIn("already exists", again.stderr)
        skip = self.sl("import", "--from", "yourls", path, "--on-conflict", "skip")
        self.assertIn("skipped 3 existing", skip.stdout)
        with open(path, "rb") as f:
            proc = self.sl("import", "--from", "yourls", "-", "--on-conflict", "skip", input=f.read())
        self.assertIn(b"imported 0 link(s)", proc.stdout)

    def test_cloudflare_refuses_what_a_link_cannot_express(self):
        path = os.path.join(self.tmp, "cf.csv")
        with open(path, "w") as f:
            f.write("www.example.com/a,https://example.net/a\nwww.example.com/b,https://example.net/b,301,,TRUE\n")
        proc = self.sl("import", "--from", "cloudflare", path, "--create-domains", expect=2)
        self.assertIn(f"{path}: line 2: column 'include_subdomains': include_subdomains is true", proc.stderr)
        self.assertEqual(len(self.exported()), 0)
        proc = self.sl("import", "--from", "cloudflare", path, "--create-domains", "--skip-invalid")
        self.assertIn("imported 1 link(s)", proc.stdout)
        self.assertIn("skipped", proc.stderr)

    def test_hostile_files_of_every_format(self):
        # format -> (a good header or first object, a good row)
        shapes = {
            "csv": ("code,url,expires", "a,https://example.com/a,"),
            "bitly": ("link,long_url,created_at", "https://go.example/a,https://example.com/a,"),
            "yourls": ("keyword,url,timestamp", "a,https://example.com/a,"),
            "shlink": ("shortCode,longUrl,dateCreated", "a,https://example.com/a,"),
            "kutt": ("address,target,created_at", "a,https://example.com/a,"),
            "cloudflare": (None, "go.example/a,https://example.com/a"),
        }
        time_column = {"csv": "expires", "bitly": "created_at", "yourls": "timestamp", "shlink": "dateCreated",
                       "kutt": "created_at"}
        self.sl("add", "https://example.com/kept", "--code", "kept", "--domain", "go.example")
        before = self.sl("export").stdout
        for source, (header, row) in shapes.items():
            top = [header] if header else []
            cases = {
                "truncated": ("\n".join(top + [row, row.split(",")[0] + ',"https://exa']), 2,
                              "unterminated quoted field"),
                "too many fields": ("\n".join(top + [row, row + ",x,y,z,w,v,u"]), 2, "fields"),
                "invalid url": ("\n".join(top + [row.replace("https://example.com/a", "javascript:alert(1)")]), 2,
                                "scheme 'javascript' is not allowed"),
                "crlf and duplicate codes": ("\r\n".join(top + [row, row]) + "\r\n", 4, "already exists"),
                "bom and binary": (b"\xef\xbb\xbf" + "\n".join(top).encode() + b"\n\x00\xff\xfe\x01garbage\n", 2, ""),
                "empty": ("", 2, "empty input"),
                "huge field": ("\n".join(top + [row.replace("/a", "/" + "a" * (2 << 20))]), 2, "longer than"),
            }
            if source in time_column:
                cases["bad time"] = ("\n".join(top + [row + "2024-02-30T99:00:00Z"]), 2,
                                     f"column '{time_column[source]}'")
                cases["wrong columns"] = ("Foo,Bar\n1,2\n", 2, "line 1: unknown columns 'Foo', 'Bar'")
            else:
                cases["wrong columns"] = ("x\n", 2, "line 1: 1 field")
            for case, (text, code, message) in cases.items():
                with self.subTest(source=source, case=case):
                    path = os.path.join(self.tmp, f"{source}-{case.replace(' ', '-')}.in")
                    with open(path, "wb") as f:
                        f.write(text if isinstance(text, bytes) else text.encode())
                    proc = self.sl("import", "--from", source, path, "--domain", "go.example", expect=code)
                    self.assertIn(f"shortlink: error: {path}: ", proc.stderr)
                    if case != "empty":
                        self.assertRegex(proc.stderr, r": line \d+(, item \d+)?: ")
                    self.assertIn(message, proc.stderr)
                    self.assertIn("nothing was imported", proc.stderr)
                    self.assertEqual(self.sl("export").stdout, before)


if __name__ == "__main__":
    harness.main()
