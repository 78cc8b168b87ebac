"""End-to-end: `shortlink import` is all or nothing. Killed with SIGKILL at random moments, it leaves
either none or all of its rows, an intact database and an audit chain that verifies; on a full disk
or a read-only file system it fails with a clear error and the database is unchanged.

The disk tests mount a small tmpfs, which needs root; they are skipped without it."""
import os
import random
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

import harness
from harness import ShortlinkTestCase, SmallFileSystem

ROWS = 10000
KILLS = 20


def write_csv(path, prefix, rows):
    with open(path, "w") as f:
        f.write("code,url,tags\n")
        for i in range(rows):
            f.write(f"{prefix}{i},https://example.com/{prefix}/{i}?q={i},t{i % 7}\n")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class ImportKilled(ShortlinkTestCase):
    def count_and_check(self):
        """(link count, audit rows) after PRAGMA integrity_check said ok."""
        con = sqlite3.connect(self.db)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            return (con.execute("SELECT count(*) FROM links").fetchone()[0],
                    con.execute("SELECT count(*) FROM audit_log").fetchone()[0])
        finally:
            con.close()

    def test_sigkill_at_random_moments(self):
        seed = int(os.environ.get("SHORTLINK_TEST_SEED", random.SystemRandom().randrange(1 << 32)))
        print(f"seed {seed} (SHORTLINK_TEST_SEED={seed} repeats this run)", flush=True)
        rng = random.Random(seed)
        self.sl("init")
        self.sl("add", "https://example.com/first", "--code", "first")
        env = dict(os.environ)
        env.pop("SHORTLINK_DB", None)
        # How long one import takes here, so the kills spread over all of it (start-up, rows,
        # commit, checkpoint) and a little past it.
        timing = os.path.join(self.tmp, "timing.csv")
        write_csv(timing, "timing", ROWS)
        started = time.monotonic()
        self.sl("import", timing)
        duration = time.monotonic() - started
        count, _ = self.count_and_check()
        committed = 0
        for attempt in range(KILLS):
            csv = os.path.join(self.tmp, f"batch{attempt}.csv")
            write_csv(csv, f"k{attempt}-", ROWS)
            delay = rng.uniform(0, duration * 1.1)
            proc = subprocess.Popen([harness.BIN, "--db", self.db, "import", csv], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            with self.subTest(attempt=attempt, delay=round(delay, 4)):
                after, _ = self.count_and_check()
                self.assertIn(after, (count, count + ROWS), f"killed after {delay:.4f} s")
                committed += after != count
                count = after
                proc = self.sl("history", "--verify")
                self.assertTrue(proc.stdout.startswith("audit log intact: "), proc.stdout)
        print(f"{committed} of {KILLS} killed imports had committed; {count} links", flush=True)
        # The database still takes writes after all that.
        self.sl("add", "https://example.com/last", "--code", "last")
        self.sl("history", "--verify")


@unittest.skipUnless(os.geteuid() == 0, "mounting a tmpfs needs root")
class ImportDiskFaults(ShortlinkTestCase):
    def state(self, db):
        proc = harness.run(["export", "--format", "csv"], db=db)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        history = harness.run(["history", "--json"], db=db)
        self.assertEqual(history.returncode, 0, history.stderr)
        return proc.stdout, history.stdout

    def test_full_disk(self):
        with SmallFileSystem("1m") as fs:
            db = os.path.join(fs.path, "links.db")
            self.assertEqual(harness.run(["init"], db=db).returncode, 0)
            for code in ("a", "b"):
                self.assertEqual(harness.run(["add", f"https://example.com/{code}", "--code", code], db=db).returncode, 0)
            before = self.state(db)
            before_bytes = read_bytes(db)
            csv = os.path.join(self.tmp, "big.csv")  # on the normal disk: only the database is short of space
            write_csv(csv, "big", 20000)
            proc = harness.run(["import", csv], db=db)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertIn("database or disk is full", proc.stderr)
            self.assertEqual(proc.stdout, "")
            self.assertEqual(self.state(db), before)
            self.assertEqual(read_bytes(db), before_bytes)
            self.assertEqual(harness.run(["history", "--verify"], db=db).returncode, 0)
            # Room enough again: the same import goes through whole.
            fs.remount("size=64m")
            proc = harness.run(["import", csv], db=db)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("imported 20000 link(s)", proc.stdout)
            self.assertEqual(harness.run(["history", "--verify"], db=db).returncode, 0)

    def test_read_only_file_system(self):
        with SmallFileSystem("8m") as fs:
            db = os.path.join(fs.path, "links.db")
            self.assertEqual(harness.run(["init"], db=db).returncode, 0)
            self.assertEqual(harness.run(["add", "https://example.com/a", "--code", "a"], db=db).returncode, 0)
            before = self.state(db)
            before_bytes = read_bytes(db)
            csv = os.path.join(self.tmp, "rows.csv")
            write_csv(csv, "ro", 1000)
            fs.remount("ro")
            try:
                proc = harness.run(["import", csv], db=db)
                self.assertNotEqual(proc.returncode, 0)
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn(f"cannot open database {db}: unable to open database file (cannot write in {fs.path}: "
                              "Read-only file system;", proc.stderr)
                self.assertEqual(proc.stdout, "")
                self.assertEqual(read_bytes(db), before_bytes)
                self.assertEqual(sorted(os.listdir(fs.path)), ["links.db"])
            finally:
                fs.remount("rw")
            self.assertEqual(self.state(db), before)


if __name__ == "__main__":
    harness.main()
