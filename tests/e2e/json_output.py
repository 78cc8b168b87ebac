"""End-to-end: one JSON form of a link and of a domain across show, list, export, history,
inspect and diff (man/shortlink.1, JSON OUTPUT), --json on verify, import, keygen and backup,
list's effective state and filters, and diff's domain changes with old -> new values, run as a
user would."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# Every field of a link object, in order (man/shortlink.1, JSON OUTPUT).
STORED_LINK_KEYS = ["domain", "code", "url", "status", "state", "type", "forward_query", "effective_type",
                    "effective_forward_query", "not_before", "expires", "reserved", "expired_url", "tags", "rules", "password", "title",
                    "version", "created_at",
                    "updated_at", "short_url"]
COMPILED_LINK_KEYS = ["domain", "code", "url", "status", "state", "effective_type", "effective_forward_query",
                      "not_before", "expires", "reserved", "expired_url", "rules", "password", "short_url"]
AUDIT_LINK_KEYS = ["domain", "code", "url", "status", "type", "forward_query", "not_before", "expires", "reserved",
                   "expired_url", "tags",
                   "rules", "password", "title", "version", "short_url"]
DOMAIN_KEYS = ["host", "is_default", "default_type", "root_url", "case_insensitive", "forward_query",
               "cache_max_age", "negative_max_age", "https_redirect", "hsts_max_age", "hsts_include_subdomains",
               "not_found_url", "expired_url", "not_found_text", "gone_text", "permanent_max_age",
               "stale_while_revalidate", "stale_if_error", "cache_scope", "miss_budget", "country_header"]


def lines(text):
    return [json.loads(l) for l in text.splitlines()]


class JsonOutputTest(harness.ShortlinkTestCase):

    def setUp(self):
        super().setUp()
        self.sl("init")
        self.sl("domain", "add", "go.example.com", "--default-type", "301")
        self.sl("add", "https://example.com/live", "--code", "Live", "--domain", "go.example.com",
                "--tag", "spring", "--title", "Spring sale \u2014 \"live\" caf\u00e9 menu, now")
        self.sl("add", "https://example.com/old", "--code", "old", "--domain", "go.example.com",
                "--expires", "2020-01-01T00:00:00Z", "--type", "307", "--tag", "spring")
        self.sl("add", "https://example.com/later", "--code", "later", "--not-before", "2099-01-01T00:00:00Z")
        self.sl("add", "https://example.com/off", "--code", "off", "--no-forward-query")
        self.sl("disable", "off")
        self.keys = os.path.join(self.tmp, "keys")
        self.out = os.path.join(self.tmp, "out")
        self.sl("keygen", "--out", self.keys, "--name", "ci", input="")
        self.key = os.path.join(self.keys, "ci.key")
        self.pub = os.path.join(self.keys, "ci.pub")

    def compile(self):
        return json.loads(self.sl("compile", "--key", self.key, "--out", self.out, "--json", input="").stdout)

    def assert_times(self, obj, keys):
        for key in keys:
            if obj[key] is not None:
                self.assertRegex(obj[key], RFC3339_UTC, f"{key} of {obj}")

    # -- one schema ----------------------------------------------------------------------------

    def test_link_object_is_the_same_everywhere(self):
        shown = json.loads(self.sl("show", "old", "--domain", "go.example.com", "--json").stdout)
        self.assertEqual(list(shown), STORED_LINK_KEYS)
        self.assertEqual(shown["expires"], "2020-01-01T00:00:00Z")
        self.assert_times(shown, ["not_before", "expires", "created_at", "updated_at"])
        listed = {l["code"]: l for l in lines(self.sl("list", "--json").stdout)}
        exported = {l["code"]: l for l in lines(self.sl("export", "--format", "jsonl").stdout)}
        # The same object, field for field (the state and times are of the same second or close).
        for source in (listed, exported):
            self.assertEqual(list(source["old"]), STORED_LINK_KEYS)
            self.assertEqual({k: v for k, v in source["old"].items() if k != "updated_at"},
                             {k: v for k, v in shown.items() if k != "updated_at"})
        added = json.loads(self.sl("add", "https://example.com/n", "--code", "n", "--json").stdout)
        self.assertEqual(list(added), STORED_LINK_KEYS)
        edited = json.loads(self.sl("edit", "n", "--url", "https://example.com/n2", "--json").stdout)
        self.assertEqual((list(edited), edited["version"]), (STORED_LINK_KEYS, 2))
        snap = self.compile()["path"]
        inspected = json.loads(self.sl("inspect", snap, "--links", "--json").stdout)
        compiled = {l["code"]: l for l in inspected["links"]}
        self.assertEqual(list(compiled["old"]), COMPILED_LINK_KEYS)
        for key in COMPILED_LINK_KEYS:
            self.assertEqual(compiled["old"][key], shown[key], key)
        self.assertEqual(shown["title"], None)  # no title: null
        live = json.loads(self.sl("show", "Live", "--domain", "go.example.com", "--json").stdout)
        self.assertEqual(live["title"], "Spring sale \u2014 \"live\" caf\u00e9 menu, now")
        self.assertEqual((listed["Live"]["title"], exported["Live"]["title"]), (live["title"], live["title"]))
        self.assertNotIn("title", compiled["Live"])  # snapshots hold no titles
        history = lines(self.sl("history", "old", "--domain", "go.example.com", "--json").stdout)
        self.assertEqual(list(history[0]["after"]), AUDIT_LINK_KEYS)
        self.assertEqual(history[0]["after"]["expires"], "2020-01-01T00:00:00Z")
        self.assertEqual(history[0]["after"]["domain"], "go.example.com")
        self.assertRegex(history[0]["at"], RFC3339_UTC)

    def test_effective_fields(self):
        listed = {l["code"]: l for l in lines(self.sl("list", "--json").stdout)}
        self.assertEqual({c: l["state"] for c, l in listed.items()},
                         {"Live": "active", "old": "expired", "later": "not_yet_valid", "off": "disabled"})
        self.assertEqual({c: l["status"] for c, l in listed.items()},
                         {"Live": "active", "old": "active", "later": "active", "off": "disabled"})
        # The link's own type wins; else the domain's default (301 here, 302 on the default domain).
        self.assertEqual({c: (l["type"], l["effective_type"]) for c, l in listed.items()},
                         {"Live": (None, 301), "old": (307, 307), "later": (None, 302), "off": (None, 302)})
        self.assertEqual((listed["off"]["forward_query"], listed["off"]["effective_forward_query"]), (False, False))
        self.assertEqual((listed["Live"]["forward_query"], listed["Live"]["effective_forward_query"]), (None, True))
        details = self.sl("show", "old", "--domain", "go.example.com").stdout
        self.assertIn("state         expired", details)
        self.assertIn("type          307\n", details)
        self.assertIn("type          301 (domain default)",
                      self.sl("show", "Live", "--domain", "go.example.com").stdout)

    def test_domain_object_is_the_same_everywhere(self):
        self.sl("domain", "set", "go.example.com", "--root-url", "https://example.com/", "--cache-max-age", "60")
        shown = json.loads(self.sl("domain", "show", "go.example.com", "--json").stdout)
        self.assertEqual(list(shown), DOMAIN_KEYS)
        listed = [d for d in lines(self.sl("domain", "list", "--json").stdout) if d["host"] == "go.example.com"]
        self.assertEqual(listed, [shown])
        snap = self.compile()["path"]
        inspected = [d for d in json.loads(self.sl("inspect", snap, "--json").stdout)["domains"]
                     if d["host"] == "go.example.com"]
        self.assertEqual(inspected, [shown])
        entry = [e for e in lines(self.sl("history", "--json").stdout) if e["action"] == "domain-set"][0]
        self.assertEqual(entry["after"], shown)
        self.assertEqual(list(entry["before"]), DOMAIN_KEYS)
        self.assertEqual((entry["before"]["cache_max_age"], entry["before"]["root_url"]), (300, ""))

    def test_export_round_trips_through_import(self):
        exported = self.sl("export", "--format", "jsonl").stdout
        copy = os.path.join(self.tmp, "copy.db")
        harness.run(["init"], db=copy)
        harness.run(["domain", "add", "go.example.com", "--default-type", "301"], db=copy)
        proc = harness.run(["import", "-", "--format", "json", "--json"], db=copy, input=exported)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["added"], 4)
        again = harness.run(["export", "--format", "jsonl"], db=copy).stdout
        drop = ("created_at", "updated_at", "version")
        strip = lambda text: [{k: v for k, v in l.items() if k not in drop} for l in lines(text)]  # noqa: E731
        self.assertEqual(strip(again), strip(exported))

    # -- list: effective state and filters --------------------------------------------------------

    def codes(self, *args):
        return [l["code"] for l in lines(self.sl("list", "--json", *args).stdout)]

    def test_list_table_shows_state_and_effective_type(self):
        table = self.sl("list").stdout.splitlines()
        self.assertEqual(table[0].split(), ["DOMAIN", "CODE", "STATE", "TYPE", "URL"])
        rows = {line.split()[1]: line.split() for line in table[1:]}
        self.assertEqual(rows["old"][2:4], ["expired", "307"])
        self.assertEqual(rows["Live"][2:4], ["active", "301"])
        self.assertEqual(rows["later"][2:4], ["not_yet_valid", "302"])
        self.assertEqual(rows["off"][2:4], ["disabled", "302"])
        # --titles adds the column before URL, 24 characters wide, a long title cut with "...".
        titled = self.sl("list", "--titles").stdout.splitlines()
        self.assertEqual(titled[0].split(), ["DOMAIN", "CODE", "STATE", "TYPE", "TITLE", "URL"])
        live = [l for l in titled if " Live " in l][0]
        self.assertIn(" Spring sale \u2014 \"live\" ... https://example.com/live", live)
        old = [l for l in titled if " old " in l][0]
        self.assertIn(" 307  -" + " " * 24 + "https://example.com/old", old)
        self.assertEqual(titled[0].index("URL"), live.index("https://"))
        proc = self.sl("list", "--titles", "--json", expect=2)
        self.assertIn("--titles is for the table", proc.stderr)
        self.assertIn("title         Spring sale", self.sl("show", "Live", "--domain", "go.example.com").stdout)
        self.assertIn("title         -\n", self.sl("show", "old", "--domain", "go.example.com").stdout)

    def test_list_filters(self):
        self.assertEqual(self.codes("--state", "expired"), ["old"])
        self.assertEqual(self.codes("--state", "not_yet_valid"), ["later"])
        self.assertEqual(self.codes("--state", "active"), ["Live"])
        self.assertEqual(self.codes("--state", "disabled"), ["off"])
        self.assertEqual(self.codes("--state", "deleted"), [])
        self.assertEqual(sorted(self.codes("--status", "active")), ["Live", "later", "old"])
        self.assertEqual(self.codes("--tag", "spring"), ["Live", "old"])
        self.assertEqual(self.codes("--domain", "go.example.com"), ["Live", "old"])
        # The search is a substring of the code, the URL or the title, ASCII case ignored.
        self.assertEqual(self.codes("--search", "LIVE"), ["Live"])
        self.assertEqual(self.codes("--search", "SPRING SALE"), ["Live"])
        self.assertEqual(self.codes("--search", "caf\u00e9 menu"), ["Live"])
        self.assertEqual(self.codes("--search", "example.com/LAT"), ["later"])
        self.assertEqual(self.codes("--search", "nowhere"), [])
        # Filters combine with AND; --limit counts what passes them.
        self.assertEqual(self.codes("--tag", "spring", "--state", "active"), ["Live"])
        self.assertEqual(self.codes("--tag", "spring", "--search", "old", "--state", "active"), [])
        self.assertEqual(self.codes("--domain", "go.example.com", "--state", "expired", "--limit", "1"), ["old"])
        self.assertEqual(self.codes("--state", "disabled", "--limit", "1"), ["off"])
        table = self.sl("list", "--state", "expired").stdout.splitlines()
        self.assertEqual(len(table), 2)
        self.assertIn("old", table[1])

    def test_list_refuses_bad_filters(self):
        for args, message in ((["--state", "gone"], "--state 'gone': expected active, disabled, deleted, "
                                                    "not_yet_valid or expired"),
                              (["--state", "EXPIRED"], "--state 'EXPIRED'"),
                              (["--state", ""], "--state ''"),
                              (["--state", "expired\x01"], "--state 'expired\\x01'"),
                              (["--search", ""], "--search: empty text")):
            proc = self.sl("list", *args, expect=2)
            self.assertIn(message, proc.stderr)
            self.assertEqual(proc.stdout, "")
        proc = self.sl("list", "--domain", "nowhere.example", "--state", "active", expect=3)
        self.assertIn("nowhere.example", proc.stderr)

    # -- diff ------------------------------------------------------------------------------------

    def test_diff_reports_domain_and_link_changes_old_to_new(self):
        first = self.compile()
        self.sl("domain", "set", "go.example.com", "--default-type", "302", "--root-url", "https://example.com/",
                "--cache-max-age", "60")
        self.sl("domain", "add", "new.example")
        self.sl("edit", "later", "--url", "https://example.com/later2", "--expires", "2098-01-01T00:00:00Z",
                "--not-before", "2097-01-01T00:00:00Z")
        second = self.compile()
        d = json.loads(self.sl("diff", first["path"], second["path"], "--json").stdout)
        self.assertEqual([x["host"] for x in d["domains"]["added"]], ["new.example"])
        self.assertEqual(list(d["domains"]["added"][0]), DOMAIN_KEYS)
        self.assertEqual(d["domains"]["removed"], [])
        [go] = d["domains"]["changed"]
        self.assertEqual(go["host"], "go.example.com")
        self.assertEqual(go["changed"], ["default_type", "root_url", "cache_max_age"])
        self.assertEqual(go["changes"], {"default_type": {"old": 301, "new": 302},
                                         "root_url": {"old": "", "new": "https://example.com/"},
                                         "cache_max_age": {"old": 300, "new": 60}})
        changed = {c["code"]: c for c in d["changed"]}
        # Live follows its domain's default type; old has its own and does not change.
        self.assertEqual(sorted(changed), ["Live", "later"])
        self.assertEqual(changed["Live"]["changes"], {"effective_type": {"old": 301, "new": 302}})
        self.assertEqual(changed["later"]["changes"],
                         {"url": {"old": "https://example.com/later", "new": "https://example.com/later2"},
                          "not_before": {"old": "2099-01-01T00:00:00Z", "new": "2097-01-01T00:00:00Z"},
                          "expires": {"old": None, "new": "2098-01-01T00:00:00Z"}})
        self.assertEqual(d["summary"]["domains_added"], 1)
        self.assertEqual(d["summary"]["domains_changed"], 1)
        self.assertEqual(d["summary"]["changed"], 2)
        text = self.sl("diff", first["path"], second["path"]).stdout
        self.assertIn("+ domain new.example\n", text)
        self.assertIn("~ domain go.example.com\n    default_type: 301 -> 302\n"
                      "    root_url: - -> https://example.com/\n    cache_max_age: 300 -> 60\n", text)
        self.assertIn("    url: https://example.com/later -> https://example.com/later2\n", text)
        self.assertIn("    expires: - -> 2098-01-01T00:00:00Z\n", text)
        self.assertIn("2 changed; domains: 1 added, 0 removed, 1 changed", text)

    def test_diff_reports_removed_domain(self):
        self.sl("domain", "add", "gone.example")
        first = self.compile()
        self.sl("domain", "remove", "gone.example")
        second = self.compile()
        d = json.loads(self.sl("diff", first["path"], second["path"], "--json").stdout)
        self.assertEqual([x["host"] for x in d["domains"]["removed"]], ["gone.example"])
        self.assertIn("- domain gone.example\n", self.sl("diff", first["path"], second["path"]).stdout)

    # -- verify, import ----------------------------------------------------------------------------

    def test_verify_json(self):
        result = self.compile()
        ok = json.loads(self.sl("verify", result["path"], "--trust", self.pub, "--json").stdout)
        self.assertEqual(ok, {"file": result["path"], "valid": True, "reason": None, "kind": "snapshot",
                              "serial": result["serial"], "base": None, "link_count": 4, "domain_count": 2,
                              "entries": None, "channel": None, "expires_at": None, "files": None,
                              "key_id": result["key_id"], "digest": result["digest"]})
        with open(result["path"], "rb") as f:
            data = f.read()
        bad = os.path.join(self.tmp, "bad.slsnap")
        with open(bad, "wb") as f:
            f.write(data[:len(data) // 2])
        proc = self.sl("verify", bad, "--trust", self.pub, "--json", expect=5)
        verdict = json.loads(proc.stdout)
        self.assertEqual((verdict["file"], verdict["valid"], verdict["key_id"]), (bad, False, None))
        self.assertIn("truncated", verdict["reason"])
        self.assertIn("truncated", proc.stderr)
        missing = os.path.join(self.tmp, "missing.slsnap")
        proc = self.sl("verify", missing, "--trust", self.pub, "--json", expect=3)
        self.assertFalse(json.loads(proc.stdout)["valid"])
        proc = self.sl("verify", result["path"], "--trust", self.key, "--json", expect=2)
        self.assertEqual(proc.stdout, "")  # a bad --trust is a usage error, not a verdict

    def test_import_json(self):
        rows = "code,url,owner\nx1,https://example.com/1,First\nbad code,https://example.com/2,\n" \
               "x3,https://example.com/3,Third\nLive,https://example.com/4,\n"
        proc = self.sl("import", "-", "--format", "csv", "--domain", "go.example.com", "--skip-invalid",
                       "--on-conflict", "skip", "--ignore-unknown-columns", "--json", input=rows)
        result = json.loads(proc.stdout)
        self.assertEqual({k: result[k] for k in ("file", "format", "dry_run", "added", "updated", "skipped",
                                                 "invalid", "domains_created")},
                         {"file": "stdin", "format": "csv", "dry_run": False, "added": 2, "updated": 0,
                          "skipped": 1, "invalid": 1, "domains_created": None})
        self.assertEqual([(n["line"], n["column"]) for n in result["notes"]], [(1, "owner")])
        [row] = result["invalid_rows"]
        self.assertEqual((row["line"], row["item"]), (3, None))
        self.assertIn("code", row["message"])
        self.assertIn("skipped", proc.stderr)  # warnings still go to stderr
        dry = json.loads(self.sl("import", "-", "--format", "csv", "--dry-run", "--create-domains", "--json",
                                 input="domain,code,url\nfresh.example,y,https://example.com/y\n").stdout)
        self.assertEqual((dry["dry_run"], dry["added"], dry["domains_created"]), (True, 1, 1))
        proc = self.sl("import", "-", "--format", "csv", "--json", input="code,url\nbad code,https://e.com/\n",
                       expect=2)
        self.assertEqual(proc.stdout, "")  # a failed import prints no object
        self.assertIn("nothing was imported", proc.stderr)

    def test_keygen_and_backup_json(self):
        key = json.loads(self.sl("keygen", "--out", self.keys, "--name", "k2", "--json", input="").stdout)
        self.assertEqual(key, {"key_id": key["key_id"], "secret_key": os.path.join(self.keys, "k2.key"),
                               "public_key": os.path.join(self.keys, "k2.pub"), "encrypted": False})
        self.assertRegex(key["key_id"], r"^[0-9a-f]{16}$")
        self.assertIn(key["key_id"], self.sl("verify", self.compile_with(os.path.join(self.keys, "k2.key")),
                                             "--trust", key["public_key"]).stdout)
        out = os.path.join(self.tmp, "links.slbak")
        backup = json.loads(self.sl("backup", out, "--json").stdout)
        self.assertEqual((backup["database"], backup["backup"], backup["bytes"]), (self.db, out, os.path.getsize(out)))
        self.assertRegex(backup["created_at"], RFC3339_UTC)
        self.assertRegex(backup["sha256"], r"^[0-9a-f]{64}$")
        self.assertGreater(backup["database_bytes"], 0)
        self.assertEqual(self.sl("backup", out, "--json", expect=4).stdout, "")

    def compile_with(self, key):
        return json.loads(self.sl("compile", "--key", key, "--out", self.out, "--json", input="").stdout)["path"]


if __name__ == "__main__":
    harness.main()
