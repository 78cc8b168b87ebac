"""End-to-end: keygen, compile, verify, inspect and diff run as a user would, including the
hostile paths (corrupt file, untrusted key, wrong passphrase, public key given as secret) and
a compile killed midway that must leave no file under a final name."""
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


class SnapshotCommandsTest(harness.ShortlinkTestCase):

    def setUp(self):
        super().setUp()
        self.sl("init")
        self.keys = os.path.join(self.tmp, "keys")
        self.out = os.path.join(self.tmp, "out")
        self.sl("keygen", "--out", self.keys, "--name", "ci", input="")
        self.key = os.path.join(self.keys, "ci.key")
        self.pub = os.path.join(self.keys, "ci.pub")

    def compile(self, *extra, expect=0, env=None):
        return self.sl("compile", "--key", self.key, "--out", self.out, *extra, expect=expect,
                       env=env, input="")

    def test_round_trip_and_inspect(self):
        self.sl("add", "https://example.com/a", "--code", "abc")
        self.sl("add", "https://example.com/b", "--code", "docs/v2", "--type", "301")
        self.sl("add", "https://example.com/c", "--code", "gone")
        self.sl("delete", "gone")
        proc = self.compile("--json", "--not-after", "7d")
        result = json.loads(proc.stdout)
        # Serials are Unix milliseconds at least (formats/SPEC.md "Serials").
        self.assertGreater(result["serial"], 1700000000000)
        self.assertEqual(result["link_count"], 3)  # the deleted link is compiled, not dropped
        self.assertEqual(os.path.basename(result["path"]), f"links-{result['serial']}.slsnap")
        self.assertEqual(len(result["digest"]), 64)
        path = result["path"]
        verify = self.sl("verify", path, "--trust", self.pub)
        self.assertIn("ok", verify.stdout)
        info = json.loads(self.sl("inspect", path, "--json").stdout)
        self.assertEqual(info["link_count"], 3)
        self.assertEqual([s["name"] for s in info["sections"]],
                         ["domains", "index", "slots", "strings", "digests"])
        self.assertEqual(info["digest"], result["digest"])  # compile records the signed digest
        self.assertIsNotNone(info["not_after"])
        self.assertEqual(info["domains"][0]["host"], "*")
        human = self.sl("inspect", path).stdout
        self.assertIn("bits/key", human)

    def test_diff_reports_added_removed_changed(self):
        self.sl("add", "https://example.com/a", "--code", "keep")
        self.sl("add", "https://example.com/b", "--code", "change")
        self.sl("add", "https://example.com/c", "--code", "drop")
        first = json.loads(self.compile("--json").stdout)
        self.sl("edit", "change", "--url", "https://example.com/b2")
        self.sl("disable", "drop")
        self.sl("add", "https://example.com/n", "--code", "new")
        second = json.loads(self.compile("--json").stdout)
        self.assertGreater(second["serial"], first["serial"])
        d = json.loads(self.sl("diff", first["path"], second["path"], "--json").stdout)
        self.assertEqual(d["summary"], {"old_serial": first["serial"], "new_serial": second["serial"],
                                        "added": 1, "removed": 0, "changed": 2, "domains_added": 0,
                                        "domains_removed": 0, "domains_changed": 0})
        self.assertEqual(d["added"][0]["code"], "new")
        changed = {c["code"]: c["changed"] for c in d["changed"]}
        self.assertEqual(changed, {"change": ["url"], "drop": ["status"]})
        changes = {c["code"]: c["changes"] for c in d["changed"]}
        self.assertEqual(changes, {"change": {"url": {"old": "https://example.com/b", "new": "https://example.com/b2"}},
                                   "drop": {"status": {"old": "active", "new": "disabled"}}})
        self.assertEqual(d["domains"], {"removed": [], "added": [], "changed": []})

    def test_keep_prunes_old_snapshots(self):
        self.sl("add", "https://example.com/a", "--code", "abc")
        paths = [json.loads(self.compile("--keep", "2", "--json").stdout)["path"] for _ in range(4)]
        names = sorted(n for n in os.listdir(self.out) if not n.startswith("."))
        self.assertEqual(names, sorted(os.path.basename(p) for p in paths[2:]))

    def test_corrupt_file_and_untrusted_key_rejected(self):
        self.sl("add", "https://example.com/a", "--code", "abc")
        path = json.loads(self.compile("--json").stdout)["path"]
        with open(path, "rb") as f:
            data = bytearray(f.read())
        info = json.loads(self.sl("inspect", path, "--json").stdout)
        slots = [s for s in info["sections"] if s["name"] == "slots"][0]
        data[slots["offset"] + 5] ^= 0x10
        bad = os.path.join(self.tmp, "bad.slsnap")
        write_bytes(bad, bytes(data))
        proc = self.sl("verify", bad, "--trust", self.pub, expect=5)
        self.assertIn("section 3 (slots) checksum mismatch", proc.stderr)
        write_bytes(bad, bytes(data[:len(data) // 2]))
        proc = self.sl("verify", bad, "--trust", self.pub, expect=5)
        self.assertIn("truncated", proc.stderr)
        self.sl("keygen", "--out", self.keys, "--name", "other", input="")
        proc = self.sl("verify", path, "--trust", os.path.join(self.keys, "other.pub"), expect=5)
        self.assertIn("not among the 1 trusted", proc.stderr)
        self.sl("verify", path, "--trust", os.path.join(self.keys, "other.pub"),
                "--trust", self.pub)
        self.sl("verify", os.path.join(self.tmp, "missing.slsnap"), "--trust", self.pub, expect=3)
        proc = self.sl("verify", path, "--trust", self.key, expect=2)
        self.assertIn("is a secret key", proc.stderr)

    def test_encrypted_key_and_wrong_passphrase(self):
        env = {"SHORTLINK_KEY_PASSPHRASE": "correct horse"}
        self.sl("keygen", "--out", self.keys, "--name", "enc", env=env, input="")
        with open(os.path.join(self.keys, "enc.key")) as f:
            self.assertIn("ENCRYPTED PRIVATE KEY", f.read())
        self.assertEqual(os.stat(os.path.join(self.keys, "enc.key")).st_mode & 0o777, 0o600)
        self.sl("add", "https://example.com/a", "--code", "abc")
        self.key = os.path.join(self.keys, "enc.key")
        proc = self.compile(expect=5, env={"SHORTLINK_KEY_PASSPHRASE": "wrong"})
        self.assertIn("wrong passphrase", proc.stderr)
        proc = self.compile(expect=5)  # no passphrase and no terminal
        self.assertIn("is encrypted", proc.stderr)
        self.compile(env=env)
        proc = self.sl("keygen", "--out", self.keys, "--name", "enc2", "--encrypt", input="",
                       expect=2)
        self.assertIn("--encrypt needs a terminal", proc.stderr)
        self.key = self.pub
        proc = self.compile(expect=2)
        self.assertIn("is a public key", proc.stderr)
        # keygen refuses to overwrite, and --force replaces
        self.sl("keygen", "--out", self.keys, "--name", "ci", input="", expect=4)
        self.sl("keygen", "--out", self.keys, "--name", "ci", "--force", input="")

    def test_kill_during_compile_leaves_no_final_file(self):
        rng = random.Random(7)
        csv = os.path.join(self.tmp, "links.csv")
        with open(csv, "w") as f:
            f.write("code,url\n")
            for i in range(40000):
                f.write("k%06d,https://example.com/%s\n" % (i, "x" * rng.randint(20, 80)))
        self.sl("import", csv)
        delays = [0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3]
        print("kill delays:", delays)
        killed = 0
        for delay in delays:
            proc = subprocess.Popen([harness.BIN, "--db", self.db, "compile", "--key", self.key,
                                     "--out", self.out], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
            _, err = proc.communicate(timeout=60)
            harness.assert_no_sanitizer_report(err, "a compile killed after %s s" % delay)
            if os.path.isdir(self.out):
                for name in os.listdir(self.out):
                    if name.endswith(".slsnap"):
                        # A file under a final name must be complete and valid.
                        self.sl("verify", os.path.join(self.out, name), "--trust", self.pub)
        self.assertGreater(killed, 0, "compile finished before any kill; make the data larger")
        self.compile()
        finals = [n for n in os.listdir(self.out) if n.endswith(".slsnap")]
        self.assertTrue(finals)
        for name in finals:
            self.sl("verify", os.path.join(self.out, name), "--trust", self.pub)


if __name__ == "__main__":
    harness.main()
