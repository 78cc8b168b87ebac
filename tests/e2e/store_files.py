"""End-to-end: the database is one file between commands (the WAL is checkpointed and removed when a
command ends, on success and on error), so a plain copy of it is complete; and a file that is not a
shortlink database is refused with a precise message and exit code 2, byte for byte untouched."""
import json
import os
import shutil
import sqlite3
import subprocess

import harness
from harness import ShortlinkTestCase


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class StoreFiles(ShortlinkTestCase):
    def side_files(self, path):
        return [p for p in (path + "-wal", path + "-shm", path + "-journal") if os.path.exists(p)]

    def test_copy_of_the_database_alone_is_complete(self):
        self.sl("init")
        self.sl("domain", "add", "go.example.com")
        self.sl("add", "https://example.com/a", "--code", "a")
        self.sl("add", "https://example.com/b", "--code", "b", "--domain", "go.example.com")
        self.sl("import", "-", input="code,url\nc,https://example.com/c\nd,https://example.com/d\n")
        self.sl("edit", "a", "--url", "https://example.com/a2")
        self.sl("disable", "d")
        self.sl("add", "https://example.com/a", "--code", "a", expect=4)  # an error path too
        self.sl("show", "nope", expect=3)
        self.assertEqual(self.side_files(self.db), [])
        copy = os.path.join(self.tmp, "copy.db")
        shutil.copyfile(self.db, copy)
        proc = harness.run(["list", "--format", "json"], db=copy)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        links = sorted((l["domain"], l["code"], l["url"]) for l in map(json.loads, proc.stdout.splitlines()))
        self.assertEqual(links, [("*", "a", "https://example.com/a2"), ("*", "c", "https://example.com/c"),
                                 ("*", "d", "https://example.com/d"), ("go.example.com", "b", "https://example.com/b")])
        proc = harness.run(["history", "--verify"], db=copy)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_failed_command_leaves_no_wal(self):
        self.sl("init")
        self.sl("add", "https://example.com/a", "--code", "a")
        # Invalid input, a conflict and a failed import (rolled back): each exits through main's handler.
        self.sl("add", "not a url", "--code", "x", expect=2)
        self.sl("import", "-", input="code,url\nok,https://example.com/ok\nbad,ftp://example.com/\n", expect=2)
        self.sl("domain", "remove", "nope.example", expect=3)
        self.assertEqual(self.side_files(self.db), [])
        copy = os.path.join(self.tmp, "copy.db")
        shutil.copyfile(self.db, copy)
        proc = harness.run(["list", "--format", "csv"], db=copy)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(proc.stdout.splitlines()), 2)  # the header and link a

    def assert_refused(self, path, why):
        """Every command refuses `path` naming it, exit 2, and leaves it and its directory as they were."""
        before = read_bytes(path)
        listing = sorted(os.listdir(os.path.dirname(path)))
        for args in (["list"], ["add", "https://example.com/x", "--code", "x"], ["history", "--verify"],
                     ["import", "-"], ["domain", "list"]):
            with self.subTest(args=args):
                proc = harness.run(args, db=path, input="code,url\nx,https://example.com/x\n")
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(proc.stdout, "")
                self.assertEqual(proc.stderr.strip(), f"shortlink: error: not a shortlink database: {path} ({why})")
                self.assertEqual(read_bytes(path), before)
                self.assertEqual(sorted(os.listdir(os.path.dirname(path))), listing)

    def test_empty_file_is_refused(self):
        path = os.path.join(self.tmp, "empty.db")
        open(path, "wb").close()
        self.assert_refused(path, "an empty file; `shortlink init` creates a database")
        self.assertEqual(os.path.getsize(path), 0)

    def test_random_file_is_refused(self):
        path = os.path.join(self.tmp, "random.db")
        with open(path, "wb") as f:
            f.write(os.urandom(8192))
        self.assert_refused(path, "not an SQLite database")

    def test_short_file_is_refused(self):
        path = os.path.join(self.tmp, "short.db")
        with open(path, "wb") as f:
            f.write(b"SQLite")
        self.assert_refused(path, "not an SQLite database")

    def test_sqlite_header_without_a_database_is_refused(self):
        path = os.path.join(self.tmp, "header.db")
        with open(path, "wb") as f:
            f.write(b"SQLite format 3\x00" + os.urandom(4080))
        self.assert_refused(path, "not an SQLite database")

    def test_foreign_sqlite_databases_are_refused(self):
        cases = [
            ("blank.db", [], "an SQLite database without the shortlink schema"),
            ("notes.db", ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
                          "INSERT INTO notes (body) VALUES ('keep me')", "PRAGMA user_version = 3"],
             "an SQLite database without the shortlink schema"),
            ("other.db", ["CREATE TABLE t (x)", "PRAGMA application_id = 1234"],
             "the SQLite database of another program, application_id 0x000004d2"),
            ("lookalike.db", ["CREATE TABLE domains (x)", "CREATE TABLE links (x)", "CREATE TABLE audit_log (x)",
                              "CREATE TABLE snapshots (x)"],
             "an SQLite database without the shortlink schema"),
        ]
        for name, statements, why in cases:
            path = os.path.join(self.tmp, name)
            con = sqlite3.connect(path, isolation_level=None)
            con.execute("PRAGMA page_size = 4096")
            for sql in statements:
                con.execute(sql)
            con.execute("VACUUM")  # a blank database gets its header written too
            con.commit()
            con.close()
            with self.subTest(name=name):
                self.assert_refused(path, why)

    def test_foreign_wal_database_is_refused_untouched(self):
        path = os.path.join(self.tmp, "walled.db")
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
        self.assert_refused(path, "an SQLite database without the shortlink schema")

    def test_newer_database_is_refused_untouched(self):
        self.sl("init")
        self.sl("add", "https://example.com/a", "--code", "a")
        proc = subprocess.run(["sqlite3", self.db, "PRAGMA user_version = 99"], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        before = read_bytes(self.db)
        known = None
        for args in (["list"], ["add", "https://example.com/x", "--code", "x"]):
            proc = self.sl(*args, expect=2)
            self.assertIn(f"shortlink: error: cannot use database {self.db}: made by a newer shortlink: schema 99, "
                          "this build knows ", proc.stderr)
            known = proc.stderr.split("this build knows ")[1].split(" ")[0]
            self.assertEqual(read_bytes(self.db), before)
        self.assertLess(int(known), 99)

    def test_init_still_creates_and_refuses_to_clobber(self):
        path = os.path.join(self.tmp, "empty.db")
        open(path, "wb").close()
        proc = harness.run(["init"], db=path)
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertEqual(os.path.getsize(path), 0)
        self.sl("init")
        self.assertEqual(self.side_files(self.db), [])
        self.sl("list")
        with sqlite3.connect(self.db) as con:
            self.assertEqual(con.execute("PRAGMA application_id").fetchone()[0], 0x534C4E4B)


if __name__ == "__main__":
    harness.main()
