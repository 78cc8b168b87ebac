"""End-to-end: `shortlink rule add|list|remove|move` on a temporary database with the real binary:
canonical conditions, positions, refusals with their exit codes and messages (nothing changed),
rules in show (text and JSON), in history, and through export/import of JSON Lines."""
import json
import os
import sqlite3

import harness
from harness import ShortlinkTestCase


class RuleCommands(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")
        self.sl("add", "https://example.com/app", "--code", "app")

    def rules(self, code="app", *extra):
        out = self.sl("rule", "list", code, "--json", *extra).stdout
        return [json.loads(line) for line in out.splitlines()]

    def version(self, code="app"):
        return json.loads(self.sl("show", code, "--json").stdout)["version"]

    def test_add_list_move_remove(self):
        out = self.sl("rule", "add", "app", "--if", "device=iOS,ipados", "--to", "https://Apps.example/ios").stdout
        self.assertEqual(out.strip(), "rule added to /app")
        self.sl("rule", "add", "app", "--if", "device=android", "--if", "lang=pt_br", "--to",
                "https://apps.example/android", "--type", "307")
        self.sl("rule", "add", "app", "--if", "country=fr,be", "--to", "https://example.com/fr", "--at", "1")
        self.assertEqual(self.rules(), [
            {"index": 1, "if": ["country=FR,BE"], "to": "https://example.com/fr", "type": None},
            {"index": 2, "if": ["device=ios,ipados"], "to": "https://apps.example/ios", "type": None},
            {"index": 3, "if": ["device=android", "lang=pt-BR"], "to": "https://apps.example/android", "type": 307},
        ])
        text = self.sl("rule", "list", "app").stdout.splitlines()
        self.assertEqual(text[0], "1  if country=FR,BE -> https://example.com/fr")
        self.assertEqual(text[2], "3  if device=android lang=pt-BR -> https://apps.example/android (307)")
        self.assertEqual(text[3], "   otherwise -> https://example.com/app")

        self.sl("rule", "move", "app", "1", "--to", "3")
        self.assertEqual([r["if"][0] for r in self.rules()], ["device=ios,ipados", "device=android", "country=FR,BE"])
        self.assertEqual(self.sl("rule", "remove", "app", "2").stdout.strip(), "rule removed from /app")
        self.assertEqual([r["if"][0] for r in self.rules()], ["device=ios,ipados", "country=FR,BE"])
        self.assertEqual(self.version(), 6)

    def test_rules_on_a_named_domain_and_by_short_url(self):
        self.sl("domain", "add", "go.example")
        self.sl("add", "https://example.com/d", "--code", "d", "--domain", "go.example")
        self.sl("rule", "add", "https://go.example/d", "--if", "query=utm_source=mail", "--to", "https://example.com/m")
        self.assertEqual(self.rules("d", "--domain", "go.example")[0]["if"], ["query=utm_source=mail"])
        self.sl("rule", "list", "d", expect=3)  # not on the default domain

    def test_refusals_are_precise_and_change_nothing(self):
        self.sl("rule", "add", "app", "--if", "split=70", "--to", "https://example.com/b")
        before = self.version()
        cases = [
            (["--if", "device=iphone"], 2, "condition 'device=iphone': unknown device 'iphone'"),
            (["--if", "country=UK"], 2, "condition 'country=UK': 'UK' is not an ISO 3166-1 country code"),
            (["--if", "ip=10.1.2.3/8"], 2, "has bits set after its /8 prefix (the network is 10.0.0.0/8)"),
            (["--if", "ip=10.0.0.0/40"], 2, "the prefix length must be 0 to 32"),
            (["--if", "lang=english"], 2, "'english' is not a language"),
            (["--if", "colour=red"], 2, "unknown condition 'colour'"),
            (["--if", "split=31"], 2, "the splits add up to 101%, more than 100%: split=70 (rule 1), split=31 (rule 2)"),
            (["--if", "split=0"], 2, "1 to 100"),
            (["--if", "device=ios", "--if", "device=android"], 2, "a rule has one device condition"),
            (["--if", "after=2026-02-01T00:00:00Z", "--if", "before=2026-01-01T00:00:00Z"], 2, "never hold together"),
            (["--if", "device=ios", "--type", "303"], 2, "303"),
            (["--if", "device=ios", "--at", "5"], 3, "a new one goes at 1 to 2"),
        ]
        for extra, code, message in cases:
            with self.subTest(extra=extra):
                proc = self.sl("rule", "add", "app", *extra, "--to", "https://example.com/x", expect=code)
                self.assertIn(message, proc.stderr)
        proc = self.sl("rule", "add", "app", "--if", "device=ios", "--to", "ftp://example.com/x", expect=2)
        self.assertIn("ftp", proc.stderr)
        self.sl("rule", "add", "app", "--to", "https://example.com/x", expect=2)  # --if is required
        self.assertIn("has no rule 4 (it has 1 to 1)", self.sl("rule", "remove", "app", "4", expect=3).stderr)
        self.assertIn("has no rule 2", self.sl("rule", "move", "app", "1", "--to", "2", expect=3).stderr)
        self.sl("rule", "remove", "app", "0", expect=2)
        self.sl("rule", "remove", "app", "x", expect=2)
        self.sl("rule", "list", "nope", expect=3)
        self.sl("rule", "bogus", "app", expect=2)
        self.assertEqual(self.version(), before)
        self.assertEqual(len(self.rules()), 1)

    def test_show_and_history(self):
        self.sl("rule", "add", "app", "--if", "device=ios", "--if", "after=2030-01-01T01:00:00+01:00", "--to",
                "https://apps.example/ios", "--type", "301")
        shown = self.sl("show", "app").stdout
        self.assertIn("rules         1\n  1. if device=ios after=2030-01-01T00:00:00Z -> https://apps.example/ios (301)\n",
                      shown)
        link = json.loads(self.sl("show", "app", "--json").stdout)
        self.assertEqual(link["rules"], [{"if": ["device=ios", "after=2030-01-01T00:00:00Z"],
                                          "to": "https://apps.example/ios", "type": 301}])
        self.sl("rule", "remove", "app", "1")
        history = [json.loads(line) for line in self.sl("history", "app", "--json").stdout.splitlines()]
        self.assertEqual([h["action"] for h in history], ["rule-remove", "rule-add", "add"])
        self.assertEqual(history[0]["before"]["rules"], link["rules"])
        self.assertEqual(history[0]["after"]["rules"], [])
        self.assertEqual(history[2]["after"]["rules"], [])
        self.assertIn("rule-remove", self.sl("history", "app").stdout)
        self.sl("history", "--verify")

    def test_export_import_round_trip(self):
        self.sl("rule", "add", "app", "--if", "ip=192.0.2.0/24,2001:db8::/32", "--to", "https://example.com/office")
        self.sl("rule", "add", "app", "--if", "split=30", "--to", "https://example.com/b", "--type", "307")
        exported = self.sl("export", "--format", "jsonl").stdout
        other = os.path.join(self.tmp, "other.db")
        path = os.path.join(self.tmp, "links.jsonl")
        with open(path, "w") as f:
            f.write(exported)
        harness.run(["init"], db=other)
        proc = harness.run(["import", path], db=other)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = harness.run(["rule", "list", "app", "--json"], db=other)
        self.assertEqual([json.loads(line) for line in proc.stdout.splitlines()], self.rules())

        # --on-conflict update: a row without "rules" keeps them, "rules": [] removes them.
        row = json.loads(exported.splitlines()[0])
        del row["rules"]
        row["url"] = "https://example.com/moved"
        with open(path, "w") as f:
            f.write(json.dumps(row) + "\n")
        self.sl("import", path, "--on-conflict", "update")
        self.assertEqual(len(self.rules()), 2)
        row["rules"] = []
        with open(path, "w") as f:
            f.write(json.dumps(row) + "\n")
        self.sl("import", path, "--on-conflict", "update")
        self.assertEqual(self.rules(), [])

    def test_import_refuses_bad_rules_with_the_line(self):
        path = os.path.join(self.tmp, "bad.jsonl")
        rows = [{"code": "ok", "url": "https://example.com/ok", "rules": [{"if": ["lang=fr"], "to": "https://e.com/fr"}]},
                {"code": "bad", "url": "https://example.com/bad", "rules": [{"if": ["country=XX"], "to": "https://e.com"}]}]
        with open(path, "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
        proc = self.sl("import", path, expect=2)
        self.assertIn("line 2", proc.stderr)
        self.assertIn("condition 'country=XX'", proc.stderr)
        self.sl("show", "ok", expect=3)  # one transaction: nothing imported
        self.sl("import", path, "--skip-invalid")
        self.assertEqual(self.rules("ok")[0]["if"], ["lang=fr"])


    def compile(self, *extra):
        keys = os.path.join(self.tmp, "keys")
        if not os.path.exists(keys):
            self.sl("keygen", "--out", keys, "--name", "k")
        out = os.path.join(self.tmp, "snaps")
        self.sl("compile", "--key", os.path.join(keys, "k.key"), "--out", out, *extra)
        return out

    def inspect_links(self, path):
        shown = json.loads(self.sl("inspect", "--links", "--json", path).stdout)
        return {link["code"]: link["rules"] for link in shown["links"]}

    def test_compiled_rules_read_back_as_written(self):
        self.sl("add", "https://example.com/plain", "--code", "plain")
        self.sl("rule", "add", "app", "--if", "device=ios,android", "--if", "lang=fr,en-US", "--to",
                "https://apps.example/x", "--type", "307")
        self.sl("rule", "add", "app", "--if", "ip=10.0.0.0/8,2001:db8::/32", "--if", "country=FR", "--to",
                "https://example.com/ip")
        self.sl("rule", "add", "app", "--if", "query=a=b", "--if", "after=2020-01-01T00:00:00Z", "--if",
                "before=2030-01-01T00:00:00Z", "--if", "split=30", "--to", "https://example.com/q")
        self.sl("rule", "add", "app", "--if", "split=70", "--to", "https://example.com/r")
        out = self.compile()
        [snap] = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".slsnap")]
        self.sl("verify", "--trust", os.path.join(self.tmp, "keys", "k.pub"), snap)
        stored = [{k: r[k] for k in ("if", "to", "type")} for r in self.rules()]
        self.assertEqual(self.inspect_links(snap), {"app": stored, "plain": []})
        self.assertIn("    rule 4: if split=70 -> https://example.com/r\n",
                      self.sl("inspect", "--links", snap).stdout)

        # A patch carries the rules of the links it holds.
        self.sl("rule", "remove", "app", "1")
        self.compile("--patch")
        [patch] = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".slpatch")]
        self.assertEqual(self.inspect_links(patch), {"app": stored[1:]})
        diff = self.sl("diff", "--json", snap, patch, expect=None).stdout
        self.assertIn("rules", diff)

    def test_compile_refuses_rules_the_store_would_refuse(self):
        # Written behind the store's back: compile checks them again and names the link.
        con = sqlite3.connect(self.db)
        con.execute("""UPDATE links SET rules = '[{"if":["device=pc"],"to":"https://e.com/"}]' WHERE code = 'app'""")
        con.commit()
        con.close()
        keys = os.path.join(self.tmp, "keys")
        self.sl("keygen", "--out", keys, "--name", "k")
        proc = self.sl("compile", "--key", os.path.join(keys, "k.key"), "--out", os.path.join(self.tmp, "s"),
                       expect=2)
        self.assertIn("link app: rule 1: condition 'device=pc': unknown device 'pc'", proc.stderr)


if __name__ == "__main__":
    harness.main()
