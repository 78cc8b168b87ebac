"""End-to-end: the restore drill an operator runs. Back up a database while writers keep adding
links, restore the backup elsewhere, compile both, and compare what the snapshots serve.

The backup must be the database at one commit: each writer adds its links one by one, in order,
so the backup holds, of each writer, exactly its first n links (no gap), and nothing the original
does not hold. The restored database compiles to a snapshot holding exactly the links it lists,
and the original's final snapshot differs from it only by links added after the backup. A second
backup once the writers stop restores to a database whose snapshot equals the original's."""
import json
import os
import subprocess
import sys
import time

import harness
from harness import ShortlinkTestCase

WRITERS = 3
PER_WRITER = 150
SEED_LINKS = 3000


class RestoreDrill(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.keys = os.path.join(self.tmp, "keys")
        self.sl("init")
        self.sl("domain", "add", "go.example.com", "--default-type", "301")
        self.sl("keygen", "--out", self.keys, "--name", "drill", input="")
        self.import_links([("go.example.com" if i % 2 else "", f"seed{i}", f"https://example.com/seed/{i}", f"t{i % 7}")
                           for i in range(SEED_LINKS)], columns="domain,code,url,tags")

    def listed(self, db):
        proc = harness.run(["list", "--format", "json"], db=db)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return {(l["domain"], l["code"]): l["url"] for l in map(json.loads, proc.stdout.splitlines())}

    def compile(self, db, name):
        out = os.path.join(self.tmp, "snap-" + name)
        proc = harness.run(["compile", "--key", os.path.join(self.keys, "drill.key"), "--out", out, "--json"],
                           db=db, input="")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)["path"]

    def diff(self, old, new):
        proc = harness.run(["diff", old, new, "--json"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def served(self, snapshot):
        """Every link `snapshot` holds, as (host, code) -> destination: its diff from a snapshot of
        an empty database lists them all as added."""
        if not hasattr(self, "empty_snapshot"):
            empty = os.path.join(self.tmp, "empty.db")
            self.assertEqual(harness.run(["init"], db=empty).returncode, 0)
            self.assertEqual(harness.run(["domain", "add", "go.example.com"], db=empty).returncode, 0)
            self.empty_snapshot = self.compile(empty, "empty")
        d = self.diff(self.empty_snapshot, snapshot)
        self.assertEqual(d["removed"], [])
        return {(l["domain"], l["code"]): l["url"] for l in d["added"]}

    def restore(self, backup, name):
        db = os.path.join(self.tmp, name)
        proc = harness.run(["restore", "--backup", backup], db=db)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return db

    def test_drill(self):
        env = dict(os.environ)
        env.pop("SHORTLINK_DB", None)
        writers = []
        for w in range(WRITERS):
            script = "; ".join(
                f'"{harness.BIN}" --db "{self.db}" add https://example.com/w{w}/{i} --code w{w}-{i} '
                f'{"--domain go.example.com" if w % 2 else ""} >/dev/null || exit 1'
                for i in range(PER_WRITER))
            writers.append(subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True))
        backup = os.path.join(self.tmp, "during.slbak")
        try:
            # Back up once the writers are under way.
            deadline = time.monotonic() + 60
            while len(self.listed(self.db)) < SEED_LINKS + 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            proc = harness.run(["backup", backup], db=self.db)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            for p in writers:
                _, err = p.communicate(timeout=300)
                harness.assert_no_sanitizer_report(err, "a writer")
                self.assertEqual(p.returncode, 0, err)
        finally:
            for p in writers:
                if p.poll() is None:
                    p.kill()

        original = self.listed(self.db)
        self.assertEqual(len(original), SEED_LINKS + WRITERS * PER_WRITER)
        restored_db = self.restore(backup, "restored.db")
        restored = self.listed(restored_db)

        # One commit's state: a subset of the original, with a prefix of each writer's links.
        self.assertLessEqual(restored.items(), original.items())
        self.assertEqual(sum(1 for k in restored if k[1].startswith("seed")), SEED_LINKS)
        taken = []
        for w in range(WRITERS):
            host = "go.example.com" if w % 2 else "*"
            n = sum(1 for k in restored if k[1].startswith(f"w{w}-"))
            self.assertEqual({k for k in restored if k[1].startswith(f"w{w}-")},
                             {(host, f"w{w}-{i}") for i in range(n)}, f"writer {w}: not a prefix")
            taken.append(n)
        print(f"the backup holds {taken} of each writer's {PER_WRITER} links", file=sys.stderr)
        self.assertGreater(sum(taken), 0)  # the backup ran while the writers wrote
        self.assertLess(sum(taken), WRITERS * PER_WRITER)

        # Compile both: the restored snapshot serves exactly what the restored database lists, and
        # the original's differs from it only by the links added after the backup.
        restored_snapshot = self.compile(restored_db, "restored")
        original_snapshot = self.compile(self.db, "original")
        self.assertEqual(self.served(restored_snapshot), restored)
        self.assertEqual(self.served(original_snapshot), original)
        d = self.diff(restored_snapshot, original_snapshot)
        self.assertEqual(d["removed"], [])
        self.assertEqual(d["changed"], [])
        self.assertEqual({(l["domain"], l["code"]) for l in d["added"]}, original.keys() - restored.keys())

        # The restored database's audit log holds the restore and its chain verifies.
        self.assertEqual(harness.run(["history", "--verify"], db=restored_db).returncode, 0)

        # At rest, a backup restores to the same links: the two snapshots serve the same.
        quiet = os.path.join(self.tmp, "quiet.slbak")
        self.assertEqual(harness.run(["backup", quiet], db=self.db).returncode, 0)
        quiet_db = self.restore(quiet, "quiet.db")
        d = self.diff(original_snapshot, self.compile(quiet_db, "quiet"))
        self.assertEqual((d["added"], d["removed"], d["changed"]), ([], [], []))


if __name__ == "__main__":
    harness.main()
