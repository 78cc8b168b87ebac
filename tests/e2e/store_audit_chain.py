"""End-to-end: the audit log cannot be rewritten through SQLite, and `history --verify` catches a
writer who drops the triggers and edits, removes or forges rows. The chain is recomputed here in
Python from the encoding man/shortlink-history.1 documents, so the documentation is tested too."""
import hashlib
import os
import sqlite3
import struct
import subprocess

import harness
from harness import ShortlinkTestCase

COLUMNS = ["id", "at", "actor", "action", "host", "code", "link_id", "before", "after", "last_link_id"]


def encode_value(value):
    if value is None:
        return b"\x00"
    if isinstance(value, int):
        return b"\x01" + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x02" + struct.pack("<d", value)
    if isinstance(value, str):
        data = value.encode()
        return b"\x03" + struct.pack("<Q", len(data)) + data
    return b"\x04" + struct.pack("<Q", len(value)) + bytes(value)


def row_hash(previous, row):
    """SHA-256 of the documented canonical encoding of one row chained to `previous`."""
    data = b"shortlink audit v1\x00" + previous + b"".join(encode_value(v) for v in row)
    return hashlib.sha256(data).digest()


def sqlite_cli(db, sql):
    """Runs SQL with the sqlite3 command-line shell, as an operator would."""
    return subprocess.run(["sqlite3", db, sql], capture_output=True, text=True, timeout=60)


class StoreAuditChain(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init", "--actor", "alice")
        self.sl("add", "https://example.com/a", "--code", "a", "--actor", "alice")
        self.sl("add", "https://example.com/b", "--code", "b", "--actor", "alice")
        self.sl("edit", "a", "--url", "https://example.com/a2", "--actor", "bob")
        self.sl("disable", "b", "--actor", "bob")
        self.sl("import", "-", input="code,url\n" + "".join(f"i{i},https://example.com/i{i}\n" for i in range(40)))

    def rows(self):
        with sqlite3.connect(self.db) as con:
            return con.execute(f"SELECT {', '.join(COLUMNS)}, hash FROM audit_log ORDER BY id").fetchall()

    def verify(self, expect):
        return self.sl("history", "--verify", expect=expect)

    def tamper(self, *statements):
        """A writer who drops the triggers first, through the sqlite3 shell."""
        sql = ("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; "
               "DROP TRIGGER IF EXISTS audit_log_no_overwrite; " + " ".join(statements))
        proc = sqlite_cli(self.db, sql)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_chain_matches_the_documented_encoding(self):
        rows = self.rows()
        self.assertEqual([r[0] for r in rows], list(range(1, len(rows) + 1)))
        previous = bytes(32)
        for row in rows:
            self.assertEqual(row_hash(previous, row[:-1]), row[-1], f"row {row[0]}")
            previous = row[-1]
        proc = self.verify(0)
        self.assertEqual(proc.stdout.strip(),
                         f"audit log intact: {len(rows)} rows, last row {len(rows)}, hash {previous.hex()}")

    def all_rows(self):
        with sqlite3.connect(self.db) as con:
            return con.execute("SELECT * FROM audit_log ORDER BY id").fetchall()

    def test_replace_and_upsert_are_refused(self):
        before = self.all_rows()
        forged = "1, 0, 'mallory', 'init', '*', '', NULL, NULL, NULL, NULL"
        for sql in [
            f"REPLACE INTO audit_log (id, at, actor, action, host, code, link_id, before, after, last_link_id) "
            f"VALUES ({forged});",
            f"INSERT OR REPLACE INTO audit_log (id, at, actor, action, host, code, link_id, before, after, "
            f"last_link_id) VALUES ({forged});",
            f"INSERT INTO audit_log (id, at, actor, action, host, code, link_id, before, after, last_link_id) "
            f"VALUES ({forged}) ON CONFLICT (id) DO UPDATE SET actor = 'mallory';",
            f"INSERT INTO audit_log (id, at, actor, action, host, code, link_id, before, after, last_link_id) "
            f"VALUES ({forged}) ON CONFLICT DO NOTHING; UPDATE audit_log SET actor = 'mallory' WHERE id = 1;",
            f"PRAGMA recursive_triggers = ON; REPLACE INTO audit_log (id, at, actor, action, host, code, link_id, "
            f"before, after, last_link_id) VALUES ({forged});",
            "UPDATE OR REPLACE audit_log SET actor = 'mallory' WHERE id = 2;",
            "DELETE FROM audit_log WHERE id = 3;",
        ]:
            with self.subTest(sql=sql):
                proc = sqlite_cli(self.db, sql)
                self.assertNotEqual(proc.returncode, 0, sql)
                self.assertIn("audit_log is append-only", proc.stderr)
                self.assertEqual(self.all_rows(), before)
        history = self.sl("history").stdout
        self.assertNotIn("mallory", history)
        self.verify(0)

    def test_edited_row_is_named(self):
        self.tamper("UPDATE audit_log SET actor = 'mallory' WHERE id = 3;")
        proc = self.verify(5)
        self.assertIn("audit row 3: its hash does not match its contents chained to row 2", proc.stderr)

    def test_edited_row_with_its_hash_recomputed_is_caught_at_the_next(self):
        rows = self.rows()
        forged = list(rows[2][:-1])
        forged[2] = "mallory"
        new_hash = row_hash(rows[1][-1], forged)
        self.tamper(f"UPDATE audit_log SET actor = 'mallory', hash = X'{new_hash.hex()}' WHERE id = 3;")
        proc = self.verify(5)
        self.assertIn("audit row 4: its hash does not match its contents chained to row 3", proc.stderr)

    def test_retyped_value_is_caught(self):
        # The same bytes as a blob: SQLite keeps that type whatever the column's affinity.
        self.tamper("UPDATE audit_log SET actor = CAST(actor AS BLOB) WHERE id = 5;")
        self.assertIn("audit row 5: its hash does not match", self.verify(5).stderr)

    def test_removed_rows_are_named(self):
        self.tamper("DELETE FROM audit_log WHERE id = 4;")
        self.assertIn("audit row 5: follows row 3: row 4 is missing", self.verify(5).stderr)
        self.tamper("DELETE FROM audit_log WHERE id BETWEEN 6 AND 9;")
        self.assertIn("audit row 5: follows row 3: row 4 is missing", self.verify(5).stderr)

    def test_removed_first_rows_are_named(self):
        self.tamper("DELETE FROM audit_log WHERE id <= 2;")
        self.assertIn("audit row 3: the log starts here: rows 1 to 2 are missing", self.verify(5).stderr)

    def test_renumbered_rows_are_caught(self):
        self.tamper("DELETE FROM audit_log WHERE id = 4;", "UPDATE audit_log SET id = id - 1 WHERE id > 4;")
        self.assertIn("audit row 4: its hash does not match its contents chained to row 3", self.verify(5).stderr)

    def test_forged_rows_are_named(self):
        last = len(self.rows())
        self.tamper(f"INSERT INTO audit_log (id, at, actor, action, host, code) "
                    f"VALUES ({last + 1}, 1, 'mallory', 'add', '*', 'x');")
        self.assertIn(f"audit row {last + 1}: has no chain hash", self.verify(5).stderr)
        self.tamper(f"UPDATE audit_log SET hash = randomblob(32) WHERE id = {last + 1};")
        self.assertIn(f"audit row {last + 1}: its hash does not match", self.verify(5).stderr)

    def test_rows_removed_from_the_end_after_a_compile_are_caught(self):
        keys = os.path.join(self.tmp, "keys")
        self.sl("keygen", "--out", keys, "--name", "ci", input="")
        self.sl("compile", "--key", os.path.join(keys, "ci.key"), "--out", os.path.join(self.tmp, "out"), input="")
        self.verify(0)
        last = len(self.rows())
        self.tamper(f"DELETE FROM audit_log WHERE id >= {last - 1};")
        proc = self.verify(5)
        self.assertIn(f"audit row {last - 1}: missing: the log ends at row {last - 2} but serial", proc.stderr)

    def test_new_rows_keep_chaining_after_a_break(self):
        # A broken log is reported, never repaired: later changes chain on and the break stays.
        self.tamper("UPDATE audit_log SET actor = 'mallory' WHERE id = 2;")
        self.sl("add", "https://example.com/c", "--code", "c")
        self.assertIn("audit row 2:", self.verify(5).stderr)

    def test_verify_refuses_other_options(self):
        self.sl("history", "--verify", "a", expect=2)
        self.sl("history", "--verify", "--json", expect=2)
        self.sl("history", "--verify", "--limit", "3", expect=2)


if __name__ == "__main__":
    harness.main()
