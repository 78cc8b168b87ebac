#!/usr/bin/env python3
"""Self-tests of the safety benchmark's data and tables (no servers, about a second):
python3 -m unittest discover -s bench/safety -p 'test_*.py'"""
import importlib.util
import os
import random
import sqlite3
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("safety_run", os.path.join(HERE, "run.py"))
safety = importlib.util.module_from_spec(_spec)
sys.argv = sys.argv[:1]
_spec.loader.exec_module(safety)

sys.path.insert(0, os.path.dirname(HERE))
import gen_links  # noqa: E402


class DenyRowsTest(unittest.TestCase):
    def rows(self, fold=False):
        codes = ["Ab%05d" % i for i in range(safety.DENY_MIX["link"])]
        return safety.deny_rows(random.Random(7), codes, fold, 1700000000)

    def test_MixHasExactCountsAndNoDuplicates(self):
        rows = self.rows()
        for kind, count in safety.DENY_MIX.items():
            self.assertEqual(count, sum(1 for r in rows if r[0] == kind), kind)
        self.assertEqual(len(rows), len({(r[0], r[1], r[2]) for r in rows}))

    def test_HostsMatchNoLinkDestination(self):
        # A blocked host that is a link's destination host or a parent of it would turn the
        # probe-and-miss path into 410s (and blocking "com" would block everything).
        link_hosts = set(gen_links.HOSTS)
        parents = {".".join(h.split(".")[i:]) for h in link_hosts for i in range(len(h.split(".")))}
        for kind, host, code, *_ in self.rows():
            if kind == "link":
                self.assertEqual("*", host)
                continue
            self.assertEqual("", code)
            self.assertNotIn(host, parents)
            self.assertGreaterEqual(host.count("."), 1)
            self.assertEqual(host, host.lower())

    def test_FoldedDomainStoresLowercaseCodes(self):
        self.assertTrue(all(r[2] == r[2].lower() for r in self.rows(fold=True) if r[0] == "link"))

    def test_RowsFitTheBlocksTable(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "t.db")
            with sqlite3.connect(db) as conn:
                conn.execute("CREATE TABLE blocks (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                             "host TEXT NOT NULL, code TEXT NOT NULL DEFAULT '', reason TEXT, "
                             "actor TEXT NOT NULL, created_at INTEGER NOT NULL, "
                             "UNIQUE (kind, host, code))")
            safety.insert_blocks(db, self.rows())
            with sqlite3.connect(db) as conn:
                self.assertEqual(sum(safety.DENY_MIX.values()),
                                 conn.execute("SELECT count(*) FROM blocks").fetchone()[0])


class FiguresTest(unittest.TestCase):
    def test_CpuRatioIsTheMedianOfPerRoundRatios(self):
        run = lambda cpu, rps: {"cpu_us_per_req": cpu, "rps": rps, "errors": 0}  # noqa: E731
        result = {"cpu": {"overlay_entries": 100000, "runs": {
            "no-overlay": [run(10.0, 100), run(10.0, 100), run(20.0, 100)],
            "overlay-100k": [run(10.2, 100), run(11.0, 100), run(20.0, 100)]}}}
        rows = safety.build_figures(result)
        cpu = next(r for r in rows if r["figure"].startswith("CPU per request"))
        self.assertAlmostEqual(1.02, cpu["ratio"])
        self.assertEqual("<= 1.03x", cpu["target"])

    def test_FailedRequestsCountWrkErrorsOfEveryRound(self):
        block = {"first_410_ms": 100.0, "cli_exit_ms": 110.0, "overlay_loaded_ms": 95.0,
                 "requests": 10, "errors": 1, "socket_errors": 1, "bad_status": 0}
        result = {"block": {"links": 10_000_000, "rounds": [block, dict(block, errors=0,
                                                                        socket_errors=0)],
                            "swap_rounds": []}}
        rows = safety.build_figures(result)
        failed = next(r for r in rows if "failed requests" in r["figure"])
        self.assertEqual(1, failed["ours"])
        self.assertTrue(rows[0]["figure"].startswith("block to first 410, 10M"))


if __name__ == "__main__":
    unittest.main()
