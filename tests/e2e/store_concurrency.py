"""End-to-end: two processes writing the same database at once. WAL plus the busy timeout and
BEGIN IMMEDIATE make both succeed; no write is lost, the audit log has every change and its hash
chain has no fork (each row appended in the transaction of its change)."""
import json
import os
import subprocess

import harness
from harness import ShortlinkTestCase

N = 40


class StoreConcurrency(ShortlinkTestCase):
    def test_two_writers(self):
        self.sl("init")
        big = os.path.join(self.tmp, "big.csv")
        with open(big, "w") as f:
            f.write("code,url\n")
            for i in range(20000):
                f.write(f"bulk{i},https://example.com/{i}\n")
        env = dict(os.environ)
        env.pop("SHORTLINK_DB", None)
        # Writer 1: a large import (one long transaction). Writer 2: many single adds.
        importer = subprocess.Popen([harness.BIN, "--db", self.db, "import", big], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        script = "; ".join(f'"{harness.BIN}" --db "{self.db}" add https://example.com/a{i} --code a{i} || exit 1'
                           for i in range(N))
        adder = subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        try:
            out1, err1 = importer.communicate(timeout=120)
            out2, err2 = adder.communicate(timeout=120)
        finally:
            for p in (importer, adder):
                if p.poll() is None:
                    p.kill()
        harness.assert_no_sanitizer_report(err1, "the import")
        harness.assert_no_sanitizer_report(err2, "an add")
        self.assertEqual(importer.returncode, 0, err1)
        self.assertEqual(adder.returncode, 0, err2)
        links = self.sl("list", "--format", "json").stdout.splitlines()
        self.assertEqual(len(links), 20000 + N)
        history = [json.loads(l) for l in self.sl("history", "--json").stdout.splitlines()]
        self.assertEqual(sum(1 for h in history if h["action"] == "add"), N)
        # One audit row per imported link, each naming its link.
        imports = [h for h in history if h["action"] == "import"]
        self.assertEqual(len(imports), 20000)
        self.assertTrue(all(h["code"] and h["after"]["code"] == h["code"] for h in imports))
        # One chain through both writers' rows: ids 1..n with no gap, and every hash fits.
        rows = 1 + N + 20000
        self.assertEqual(self.sl("history", "--verify").stdout.split(",")[0], f"audit log intact: {rows} rows")


if __name__ == "__main__":
    harness.main()
