"""End-to-end: `shortlink backup` and `shortlink restore --backup` run as a user would, and every
broken or hostile input refused with a message naming the file and its documented exit code
(man/shortlink-backup.1, man/shortlink-restore.1): 2 not a backup or a bad destination, 3 not
found, 4 would overwrite, 5 fails verification, 1 the system refused (no space, read-only). A
refused restore leaves the target database byte for byte as it was.

The disk tests mount a small tmpfs, which needs root; they are skipped without it."""
import hashlib
import json
import os
import sqlite3
import struct
import threading
import time
import unittest

import backup_file
import harness
from harness import ShortlinkTestCase, SmallFileSystem


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


class BackupCommands(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")
        self.import_links((f"c{i}", f"https://example.com/{i}") for i in range(50))
        self.backup = os.path.join(self.tmp, "links.slbak")
        self.target = os.path.join(self.tmp, "restored.db")

    def links(self, db):
        proc = harness.run(["list", "--format", "json"], db=db)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return sorted((l["domain"], l["code"], l["url"], l["title"]) for l in map(json.loads, proc.stdout.splitlines()))

    def restore(self, backup, *extra, expect=0, db=None):
        proc = harness.run(["restore", "--backup", backup, *extra], db=db or self.target)
        self.assertEqual(proc.returncode, expect, f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def error(self, proc):
        self.assertTrue(proc.stderr.startswith("shortlink: error: "), proc.stderr)
        return proc.stderr[len("shortlink: error: "):].strip()

    def test_round_trip(self):
        self.sl("edit", "c1", "--title", "Caf\u00e9 \u2014 the first")
        proc = self.sl("backup", self.backup)
        self.assertRegex(proc.stdout, rf"^backed up {self.db} to {self.backup}: \d+ bytes, \d+ compressed, "
                                      r"sha256 [0-9a-f]{64}\n$")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["links.db", "links.slbak"])  # no temporary file left
        data = read_bytes(self.backup)
        self.assertEqual(data[:8], backup_file.MAGIC)
        database_bytes, payload_bytes = struct.unpack_from("<QQ", data, 16)
        self.assertEqual(len(data), backup_file.HEADER_SIZE + payload_bytes)
        proc = self.restore(self.backup)
        self.assertIn(f"restored {self.target} from {self.backup} (backup of ", proc.stdout)
        self.assertEqual(self.links(self.target), self.links(self.db))
        self.assertIn(("*", "c1", "https://example.com/1", "Caf\u00e9 \u2014 the first"), self.links(self.target))
        self.assertEqual(os.path.getsize(self.target) >= database_bytes, True)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["links.db", "links.slbak", "restored.db"])
        # The restore is in the restored database's own audit log, and its chain still holds.
        history = [json.loads(l) for l in harness.run(["history", "--json"], db=self.target).stdout.splitlines()]
        self.assertEqual(history[0]["action"], "restore-backup")
        self.assertEqual(history[0]["after"]["backup"], self.backup)
        self.assertEqual(history[0]["after"]["sha256"], data[40:72].hex())
        self.assertEqual(harness.run(["history", "--verify"], db=self.target).returncode, 0)
        # The restored database is an ordinary one: writes go on.
        self.assertEqual(harness.run(["add", "https://example.com/new", "--code", "new"], db=self.target).returncode, 0)

    def test_backup_refuses_to_overwrite(self):
        self.sl("backup", self.backup)
        before = read_bytes(self.backup)
        proc = self.sl("backup", self.backup, expect=4)
        self.assertEqual(self.error(proc), f"backup {self.backup} already exists; pass --force to replace it")
        self.assertEqual(read_bytes(self.backup), before)
        self.sl("add", "https://example.com/more", "--code", "more")
        self.sl("backup", self.backup, "--force")
        self.assertNotEqual(read_bytes(self.backup), before)

    def test_backup_bad_destinations(self):
        proc = self.sl("backup", self.tmp, expect=2)
        self.assertEqual(self.error(proc), f"backup {self.tmp} is a directory; give the backup file's name, such as "
                                           f"{self.tmp}/shortlink.slbak")
        proc = self.sl("backup", self.tmp, "--force", expect=2)
        self.assertIn("is a directory", proc.stderr)
        proc = self.sl("backup", "-", expect=2)
        self.assertIn("not standard output", proc.stderr)
        missing = os.path.join(self.tmp, "no", "such", "dir", "x.slbak")
        proc = self.sl("backup", missing, expect=1)
        self.assertIn(f"cannot write backup {missing}: cannot create {os.path.dirname(missing)}/.x.slbak.db.tmp.",
                      proc.stderr)
        self.assertIn("No such file or directory", proc.stderr)
        proc = harness.run(["backup", self.backup], db=os.path.join(self.tmp, "absent.db"))
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("absent.db does not exist", proc.stderr)
        self.assertFalse(os.path.exists(self.backup))

    def test_restore_refuses_existing_target(self):
        self.sl("backup", self.backup)
        harness.run(["init"], db=self.target)
        before = read_bytes(self.target)
        proc = self.restore(self.backup, expect=4)
        self.assertEqual(self.error(proc), f"database {self.target} exists; a restore replaces all of it: pass --force")
        self.assertEqual(read_bytes(self.target), before)
        proc = self.restore(self.backup, db=self.tmp, expect=2)
        self.assertEqual(self.error(proc), f"database {self.tmp} is not a regular file")
        # --force replaces it whole.
        self.restore(self.backup, "--force")
        self.assertEqual(self.links(self.target), self.links(self.db))

    def test_force_over_a_live_connection(self):
        """A process that has the old database open sees the restored content at its next
        transaction; its open read transaction keeps the old one until it ends."""
        self.sl("backup", self.backup)
        harness.run(["init"], db=self.target)
        harness.run(["add", "https://example.com/old", "--code", "old"], db=self.target)
        live = sqlite3.connect(self.target, isolation_level=None)
        try:
            live.execute("BEGIN")
            self.assertEqual(live.execute("SELECT count(*) FROM links").fetchone()[0], 1)
            self.restore(self.backup, "--force")
            self.assertEqual(live.execute("SELECT count(*) FROM links").fetchone()[0], 1)  # its snapshot
            live.execute("COMMIT")
            self.assertEqual(live.execute("SELECT count(*) FROM links").fetchone()[0], 50)
            self.assertEqual(live.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        finally:
            live.close()
        self.assertEqual(self.links(self.target), self.links(self.db))
        self.assertEqual(harness.run(["history", "--verify"], db=self.target).returncode, 0)

    def test_force_waits_for_a_writer(self):
        """A process in a write transaction on the old database holds the restore back until it
        commits; the restore then replaces the database whole."""
        self.sl("backup", self.backup)
        harness.run(["init"], db=self.target)
        writer = sqlite3.connect(self.target, isolation_level=None, check_same_thread=False)
        writer.execute("BEGIN IMMEDIATE")
        releaser = threading.Timer(1.5, writer.execute, ("COMMIT",))
        releaser.start()
        try:
            started = time.monotonic()
            self.restore(self.backup, "--force")
            self.assertGreaterEqual(time.monotonic() - started, 1.4)
        finally:
            releaser.join()
            writer.close()
        self.assertEqual(self.links(self.target), self.links(self.db))

    def test_force_over_a_damaged_target(self):
        self.sl("backup", self.backup)
        write_bytes(self.target, b"this database was overwritten by mistake" * 100)
        write_bytes(self.target + "-wal", b"\0" * 4096)  # left by the damaged file
        self.restore(self.backup, expect=4)
        self.restore(self.backup, "--force")
        self.assertEqual(self.links(self.target), self.links(self.db))
        self.assertFalse(os.path.exists(self.target + "-wal"))

    def test_orphan_wal_is_not_replayed(self):
        self.sl("backup", self.backup)
        write_bytes(self.target + "-wal", b"\0" * 4096)
        proc = self.restore(self.backup, expect=4)
        self.assertEqual(self.error(proc), f"{self.target}-wal exists; a restore replaces all of it: pass --force")
        self.restore(self.backup, "--force")
        self.assertEqual(self.links(self.target), self.links(self.db))

    def hostile(self, name, data, expect, message=None, prefix=None):
        """Restoring the bytes `data` fails with `expect` and `message` (or a message starting with
        `prefix`; {path} is the file), and changes nothing: no fresh target is created, an existing
        one replaced with --force stays byte for byte the same, and no temporary file is left."""
        path = os.path.join(self.tmp, name)
        write_bytes(path, data)
        fresh = os.path.join(self.tmp, "fresh.db")
        before = read_bytes(self.db)
        for db, extra in ((fresh, []), (self.db, ["--force"])):
            proc = self.restore(path, *extra, expect=expect, db=db)
            if message is not None:
                self.assertEqual(self.error(proc), message.format(path=path))
            if prefix is not None:
                self.assertTrue(self.error(proc).startswith(prefix.format(path=path)), proc.stderr)
        self.assertFalse(os.path.exists(fresh))
        self.assertEqual(read_bytes(self.db), before)
        self.assertEqual(sorted(f for f in os.listdir(self.tmp) if f.startswith(".")), [])
        return proc

    def test_hostile_backups(self):
        self.sl("backup", self.backup)
        good = read_bytes(self.backup)
        damaged = "backup {path}: "
        self.hostile("empty.slbak", b"", 2, "backup {path} is empty, not a shortlink backup")
        self.hostile("magic.slbak", b"SQLite format 3\0" + good[16:], 2,
                     "backup {path} is not a shortlink backup (wrong magic)")
        self.hostile("short.slbak", good[:50], 5, damaged + "truncated: 50 bytes, shorter than the 104-byte header")
        self.hostile("cut.slbak", good[:-10], 5, damaged + f"truncated: {len(good) - 10} of {len(good)} bytes")
        self.hostile("long.slbak", good + b"\0", 5,
                     damaged + f"1 bytes after the end of the payload (byte {len(good)})")
        future = bytearray(good)
        future[8:12] = struct.pack("<I", 2)
        self.hostile("future.slbak", bytes(future), 5,
                     "backup {path} is format version 2; this shortlink reads version 1")
        for offset in (16, 40, 80):  # a size, the database digest, the header's own digest
            flipped = bytearray(good)
            flipped[offset] ^= 0x04
            self.hostile(f"header{offset}.slbak", bytes(flipped), 5, damaged + "header checksum mismatch (bytes 0..103)")
        for offset in (backup_file.HEADER_SIZE + 20, len(good) // 2, len(good) - 2):
            flipped = bytearray(good)
            flipped[offset] ^= 0x01
            self.hostile(f"payload{offset}.slbak", bytes(flipped), 5, prefix=damaged)

    def test_zstd_bomb(self):
        """A tiny file whose frame declares 1 GiB: refused before a byte is decompressed, whether
        the header says otherwise or says the same (the window that size needs is over the cap)."""
        small = b"x" * 1000
        bomb = backup_file.rle_frame(0, 1 << 30)
        self.assertLess(len(bomb), 40000)
        data = backup_file.header(len(small), len(bomb), hashlib.sha256(small).digest()) + bomb
        self.hostile("bomb.slbak", data, 5, "backup {path}: the zstd frame declares 1073741824 bytes; the header says 1000")
        honest = backup_file.header(1 << 30, len(bomb), hashlib.sha256(b"").digest()) + bomb
        path = os.path.join(self.tmp, "honest-bomb.slbak")
        write_bytes(path, honest)
        fresh = os.path.join(self.tmp, "fresh.db")
        proc = self.restore(path, expect=5, db=fresh)
        self.assertEqual(self.error(proc), f"backup {path}: the zstd frame needs a window over 8 MiB, more than a "
                                           "reader allows")
        self.assertFalse(os.path.exists(fresh))

    def test_valid_backup_of_wrong_databases(self):
        other = os.path.join(self.tmp, "other.db")
        conn = sqlite3.connect(other)
        conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes(body) VALUES ('not links')")
        conn.commit()
        conn.close()
        proc = self.hostile("other.slbak", backup_file.backup_of(read_bytes(other)), 5,
                            message="backup {path} does not hold a usable shortlink database: not a shortlink database: "
                                    "the copy (an SQLite database without the shortlink schema)")

    def test_valid_backup_of_garbage(self):
        path = os.path.join(self.tmp, "garbage.slbak")
        write_bytes(path, backup_file.backup_of(b"just some bytes, not a database at all" * 10))
        proc = self.restore(path, expect=5)
        self.assertTrue(self.error(proc).startswith(f"backup {path} does not hold a usable shortlink database: "
                                                    "not a shortlink database: the copy (not an SQLite database)"), proc.stderr)
        self.assertFalse(os.path.exists(self.target))

    def test_valid_backup_of_a_damaged_database(self):
        """Checksums fit but the database inside fails SQLite's integrity check."""
        copy = os.path.join(self.tmp, "damaged.db")
        write_bytes(copy, read_bytes(self.db))
        conn = sqlite3.connect(copy)
        # Point an index at an empty page of its own: the index no longer lists the table's rows.
        index = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'links' "
                             "AND sql IS NOT NULL LIMIT 1").fetchone()[0]
        conn.execute("CREATE TABLE spare(x)")
        spare_root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'spare'").fetchone()[0]
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = ?", (spare_root, index))
        conn.execute("DELETE FROM sqlite_master WHERE name = 'spare'")
        conn.commit()
        conn.close()
        path = os.path.join(self.tmp, "damaged.slbak")
        write_bytes(path, backup_file.backup_of(read_bytes(copy)))
        proc = self.restore(path, expect=5)
        self.assertEqual(self.error(proc), f"backup {path} holds a damaged database: integrity check: "
                                           "database disk image is malformed")
        self.assertFalse(os.path.exists(self.target))

    def test_missing_and_directory_backups(self):
        missing = os.path.join(self.tmp, "missing.slbak")
        proc = self.restore(missing, expect=3)
        self.assertEqual(self.error(proc), f"cannot open backup {missing}: No such file or directory")
        proc = self.restore(self.tmp, expect=2)
        self.assertEqual(self.error(proc), f"backup {self.tmp} is not a regular file")
        proc = self.sl("restore", expect=2)
        self.assertIn("restore needs CODE (a deleted link) or --backup FILE", proc.stderr)
        proc = self.sl("restore", "c1", "--backup", missing, expect=2)  # one or the other
        proc = self.sl("restore", "c1", "--force", expect=2)  # --force needs --backup


@unittest.skipUnless(os.geteuid() == 0, "mounting a tmpfs needs root")
class BackupDiskFaults(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")
        self.import_links((f"r{i}", f"https://example.com/a/rather/long/path/{i}?with=query&and=more")
                          for i in range(20000))
        self.backup = os.path.join(self.tmp, "links.slbak")
        self.sl("backup", self.backup)

    def test_backup_on_a_full_disk(self):
        # No room for the uncompressed copy: SQLite says so, naming the copy beside OUT.
        with SmallFileSystem("256k") as fs:
            out = os.path.join(fs.path, "links.slbak")
            proc = self.sl("backup", out, expect=1)
            self.assertIn(f"cannot back up {self.db}: cannot copy the database into {fs.path}/.links.slbak.db.tmp.",
                          proc.stderr)
            self.assertIn("database or disk is full", proc.stderr)
            self.assertEqual(os.listdir(fs.path), [])
        # Room for the copy but not for the compressed file beside it.
        size = (os.path.getsize(self.db) + 4095) // 4096 * 4096 + 16384
        with SmallFileSystem(str(size)) as fs:
            out = os.path.join(fs.path, "links.slbak")
            proc = self.sl("backup", out, expect=1)
            self.assertIn(f"backup {out}: write: No space left on device", proc.stderr)
            self.assertEqual(os.listdir(fs.path), [])

    def test_backup_on_a_read_only_file_system(self):
        with SmallFileSystem("8m") as fs:
            fs.remount("ro")
            try:
                proc = self.sl("backup", os.path.join(fs.path, "links.slbak"), expect=1)
                self.assertIn(f"cannot write backup {fs.path}/links.slbak: cannot create {fs.path}/.links.slbak.db.tmp.",
                              proc.stderr)
                self.assertIn("Read-only file system", proc.stderr)
            finally:
                fs.remount("rw")
            self.assertEqual(os.listdir(fs.path), [])

    def test_restore_without_room(self):
        with SmallFileSystem("256k") as fs:
            target = os.path.join(fs.path, "links.db")
            proc = harness.run(["restore", "--backup", self.backup], db=target)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertRegex(proc.stderr, rf"not enough space in {fs.path} to restore: the database is \d+ bytes, "
                                          r"\d+ are free")
            self.assertEqual(os.listdir(fs.path), [])

    def test_restore_fills_the_disk_midway(self):
        """Room for the database by the free-space check, but not for the -wal and -shm its checks
        need: the restore fails as a runtime error and leaves nothing behind."""
        database_bytes = struct.unpack_from("<Q", read_bytes(self.backup), 16)[0]
        size = (database_bytes + 4095) // 4096 * 4096 + 8192
        with SmallFileSystem(str(size)) as fs:
            target = os.path.join(fs.path, "links.db")
            proc = harness.run(["restore", "--backup", self.backup], db=target)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertIn(target, proc.stderr)
            self.assertEqual(os.listdir(fs.path), [])

if __name__ == "__main__":
    harness.main()
