"""Incremental publish end to end: edits published as patches reach a running server without a
full swap; a newer patch supersedes an older one; a full compile retires them; a patch for a base
the server does not hold waits for it; damaged, truncated, foreign-signed and older patches are
refused while the current state keeps serving. A randomized run checks that a base plus its
newest patch answers every key exactly as a full compile of the same database."""
import json
import os
import random
import subprocess
import time

import harness
from serve_fixture import GO_LINKS, LINKS, ServeCase


class ServePatches(ServeCase):

    def patch(self, out=None, key=None):
        proc = self.sl("compile", "--patch", "--key", key or self.key, "--out", out or self.snaps,
                       "--keep", "100", "--json")
        return json.loads(proc.stdout)

    def location(self, code, host="x.example"):
        r = self.get("/" + code, host=host)
        return r.status, r.headers.get("location")

    def test_patches_reach_a_running_server(self):
        base = self.serial_of(self.compile())
        self.serve("--rescan-interval", "60")
        self.sl("edit", "abc", "--url", "https://dest.example/a-patched")
        self.sl("add", "https://dest.example/brand-new", "--code", "new")
        self.sl("disable", "v")
        self.sl("delete", "q")
        self.sl("domain", "add", "fresh.example")
        self.sl("add", "https://dest.example/fresh", "--code", "f", "--domain", "fresh.example")
        first = self.patch()
        self.assertEqual(first["kind"], "patch")
        self.assertEqual(first["base"], base)
        self.assertLess(first["bytes"], 4096)
        self.wait_until(lambda: self.location("abc") == (302, "https://dest.example/a-patched"),
                        timeout=2, what="the patch")
        self.assertEqual(self.location("new"), (302, "https://dest.example/brand-new"))
        self.assertEqual(self.get("/v").status, 410)
        self.assertEqual(self.get("/q").status, 410)
        self.assertEqual(self.location("f", host="fresh.example"), (302, "https://dest.example/fresh"))
        self.assertEqual(self.location("frag")[0], 302)  # unchanged links come from the base
        self.assertEqual(self.location("docs", host="go.example.com")[0], 301)
        ready = self.readyz()[1]
        self.assertEqual(ready["snapshot"]["serial"], base)  # no full swap happened
        self.assertEqual(ready["patch"]["serial"], first["serial"])
        self.assertEqual(ready["patch"]["base"], base)
        self.assertEqual(self.metric("shortlink_patch_base_serial"), base)

        # A second patch holds every change since the base, the first one's included.
        self.sl("edit", "abc", "--url", "https://dest.example/a-again")
        self.sl("domain", "set", "go.example.com", "--default-type", "308")
        second = self.patch()
        self.wait_until(lambda: self.location("abc") == (302, "https://dest.example/a-again"),
                        timeout=2, what="the second patch")
        self.assertEqual(self.location("new"), (302, "https://dest.example/brand-new"))
        # The domain's default changed: all its links are in the patch (the domain is complete).
        self.assertEqual(self.get("/docs", host="go.example.com").status, 301)  # its own type
        self.assertEqual(self.readyz()[1]["patch"]["serial"], second["serial"])

        # A full compile retires both.
        full = self.serial_of(self.compile())
        self.wait_until(lambda: self.readyz()[1]["snapshot"]["serial"] == full, what="the full swap")
        self.wait_until(lambda: self.readyz()[1]["patch"] is None, what="the patch to retire")
        self.assertEqual(self.location("abc"), (302, "https://dest.example/a-again"))
        self.assertEqual(self.location("f", host="fresh.example"), (302, "https://dest.example/fresh"))

    def test_a_patch_waits_for_its_base(self):
        self.compile()
        self.serve("--rescan-interval", "60")
        staging = os.path.join(self.tmp, "staging")
        self.sl("edit", "abc", "--url", "https://dest.example/a2")
        base = json.loads(self.sl("compile", "--key", self.key, "--out", staging, "--json").stdout)
        self.sl("edit", "abc", "--url", "https://dest.example/a3")
        patch = self.patch(staging)
        os.rename(patch["path"], os.path.join(self.snaps, os.path.basename(patch["path"])))
        time.sleep(0.5)
        self.assertIsNone(self.readyz()[1]["patch"])
        self.assertEqual(self.location("abc"), (302, "https://dest.example/a"))
        os.rename(base["path"], os.path.join(self.snaps, os.path.basename(base["path"])))
        self.wait_until(lambda: self.location("abc") == (302, "https://dest.example/a3"),
                        what="the base, then its patch")
        self.assertEqual(self.readyz()[1]["patch"]["serial"], patch["serial"])

    def test_bad_patches_are_refused(self):
        self.compile()
        self.sl("edit", "abc", "--url", "https://dest.example/old-patch")
        older = self.patch()  # valid, and soon older than the one served: kept aside
        os.rename(older["path"], os.path.join(self.tmp, "older.slpatch"))
        older["path"] = os.path.join(self.tmp, "older.slpatch")
        self.serve("--rescan-interval", "60")
        self.sl("edit", "abc", "--url", "https://dest.example/good")
        good = self.patch()
        self.wait_until(lambda: self.location("abc") == (302, "https://dest.example/good"),
                        what="the good patch")
        with open(good["path"], "rb") as f:
            data = f.read()
        other_key, _ = self.keygen("other")
        # Another key's compile finds no base it can read in the served directory.
        proc = self.sl("compile", "--patch", "--key", other_key, "--out", self.snaps, expect=3)
        self.assertIn("cannot write a patch", proc.stderr)
        # A patch the server cannot trust: the base compiled elsewhere with the other key.
        foreign_out = os.path.join(self.tmp, "foreign")
        self.sl("compile", "--key", other_key, "--out", foreign_out)
        self.sl("edit", "abc", "--url", "https://evil.example/")
        foreign = self.patch(foreign_out, other_key)
        with open(foreign["path"], "rb") as f:
            foreign_bytes = f.read()
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x01
        cases = {"flipped": bytes(flipped), "truncated": data[:-80],
                 "older": open(older["path"], "rb").read(), "foreign": foreign_bytes}
        base = good["base"]
        for i, (name, content) in enumerate(cases.items()):
            path = os.path.join(self.tmp, f"patch-{base}-{good['serial'] + 1000 + i}.slpatch")
            with open(path, "wb") as f:
                f.write(content)
            if name != "older":
                self.sl("verify", path, "--trust", self.pub, expect=5)
            if name == "foreign":  # its header names another base: rename it for ours
                data_f = bytearray(content)
                data_f[64:72] = base.to_bytes(8, "little")
                with open(path, "wb") as f:
                    f.write(bytes(data_f))
            os.rename(path, os.path.join(self.snaps, os.path.basename(path)))
        subprocess.run(["kill", "-HUP", str(self.proc.pid)], check=True)
        self.wait_until(lambda: self.metric('shortlink_patch_refused_total{reason="rollback"}') >= 1
                        and self.metric('shortlink_patch_refused_total{reason="corrupt"}')
                        + self.metric('shortlink_patch_refused_total{reason="signature"}') >= 3,
                        what="refusals")
        self.assertEqual(self.location("abc"), (302, "https://dest.example/good"))
        self.assertEqual(self.readyz()[1]["patch"]["serial"], good["serial"])

    def test_base_plus_patch_answers_as_a_full_compile(self):
        seed = int(os.environ.get("SHORTLINK_TEST_SEED", random.randrange(1 << 30)))
        print(f"\nrandom seed: {seed} (replay with SHORTLINK_TEST_SEED={seed})", flush=True)
        rng = random.Random(seed)
        out = os.path.join(self.tmp, "out")
        hosts = ["*", "go.example.com"]
        codes = {"*": [c for c, _, _ in LINKS], "go.example.com": [c for c, _, _ in GO_LINKS]}
        self.sl("compile", "--key", self.key, "--out", out)
        published = {"patch": 0, "full": 0}
        for step in range(40):
            op = rng.choice(["add", "edit", "disable", "enable", "delete", "restore", "domain-type",
                             "domain-add", "block", "publish"])
            host = rng.choice(hosts)
            dom = [] if host == "*" else ["--domain", host]
            if op == "add":
                code = f"r{step}"
                self.sl("add", f"https://dest.example/r/{step}", "--code", code, *dom)
                codes[host].append(code)
            elif op in ("edit", "disable", "enable", "delete", "restore") and codes[host]:
                code = rng.choice(codes[host])
                args = ["edit", code, "--url", f"https://dest.example/e/{step}"] if op == "edit" else [op, code]
                self.sl(*args, *dom, expect=None)
            elif op == "domain-type" and host != "*":
                self.sl("domain", "set", host, "--default-type", rng.choice(["301", "302", "307", "308"]))
            elif op == "domain-add":
                new = f"d{step}.example"
                self.sl("domain", "add", new, "--default-type", "307")
                hosts.append(new)
                codes[new] = []
            elif op == "block" and codes[host]:
                self.sl("block", "link", rng.choice(codes[host]), *dom, expect=None)
            if op == "publish" or rng.random() < 0.3:
                kind = rng.choice(["--patch", "--patch", ""])
                self.sl("compile", "--key", self.key, "--out", out, "--keep", "100",
                        *([kind] if kind else []))
                published["patch" if kind else "full"] += 1
        self.sl("compile", "--patch", "--key", self.key, "--out", out, "--keep", "100")
        check = os.path.join(self.tmp, "check")
        self.sl("compile", "--key", self.key, "--out", check)
        [full] = [os.path.join(check, n) for n in os.listdir(check) if n.endswith(".slsnap")]
        base = max((n for n in os.listdir(out) if n.endswith(".slsnap")), key=lambda n: self.serial_of(n))
        urls = [f"http://{'x.example' if h == '*' else h}/{c}" for h in hosts for c in codes[h]]
        urls += ["http://x.example/none", "http://go.example.com/", "http://nohost.example/abc"]

        def answers(*args):
            proc = self.sl("resolve", *args, *urls, "--trust", self.pub, "--json", "--no-overlay")
            return [(a["url"], a["status"], a["location"], a["cache_control"])
                    for a in map(json.loads, proc.stdout.splitlines())]

        patched = answers(os.path.join(out, base))
        self.assertIn('"patch_serial":', self.sl("resolve", os.path.join(out, base), urls[0], "--json",
                                                 "--trust", self.pub).stdout)
        self.assertEqual(patched, answers(full))
        print(f"{len(urls)} keys agree after {published} publishes", flush=True)


if __name__ == "__main__":
    harness.main()
