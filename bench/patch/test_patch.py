#!/usr/bin/env python3
"""Self-tests of the incremental publish benchmark's helpers and tables (no servers, about a
second): python3 -m unittest discover -s bench/patch -p 'test_*.py'"""
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("patch_run", os.path.join(HERE, "run.py"))
patch = importlib.util.module_from_spec(_spec)
sys.argv = sys.argv[:1]
_spec.loader.exec_module(patch)


def publish_round(first, errors=0):
    return {"first_new_ms": first, "first_new_after_compile_launch_ms": first - 5,
            "edit_cli_ms": 5.0, "compile_cli_ms": first - 20, "patch_loaded_ms": first - 30,
            "readyz_patch": {"links": 3, "bytes": 999}, "requests": 1000, "errors": errors,
            "socket_errors": 0, "bad_status": errors, "probe_other_answers": {},
            "server_busy_pct": 99.0, "steal_pct": 0.5,
            "sched_demand_pct": 100.0, "sched_waited_pct": 1.0}


class HelpersTest(unittest.TestCase):
    def test_UpdateCsvHasHeaderAndOneRowPerCode(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = patch.write_update_csv(os.path.join(tmp, "u.csv"), ["aB1", "zz9"],
                                          lambda c: "https://x.example/" + c)
            with open(path) as f:
                self.assertEqual(["code,url,type", "aB1,https://x.example/aB1,301",
                                  "zz9,https://x.example/zz9,301"], f.read().splitlines())

    def test_LastJsonSkipsProgressLines(self):
        self.assertEqual({"serial": 2}, patch.last_json('compiling\n{"serial": 1}\n{"serial": 2}\n'))
        self.assertEqual({}, patch.last_json("no json\n"))

    def test_OtherBenchmarksIgnoresOwnAncestors(self):
        # A parent whose command line holds the pattern is this runner's own shell.
        marker = "patch-bench-selftest-%d" % os.getpid()
        self.assertEqual([], patch.other_benchmarks([marker]))
        other = subprocess.Popen(["sh", "-c", "sleep 5; :", marker])
        try:
            found = patch.other_benchmarks([marker])
            self.assertIn(other.pid, [pid for pid, _ in found])
        finally:
            other.kill()
            other.wait()


class FiguresTest(unittest.TestCase):
    def test_PublishRowsCompareWithTheFullCompileBaseline(self):
        base = dict(publish_round(40000.0), compiled={}, snapshot_loaded_ms=39000.0,
                    wrk_runs=5, served_under_load=True)
        result = {"publish": {"links": 10_000_000, "baseline": base,
                              "rounds": [publish_round(v) for v in (300.0, 200.0, 400.0)]}}
        rows = patch.build_figures(result)
        self.assertEqual(300.0, rows[0]["ours"])
        self.assertEqual("full compile", rows[0]["anchor"])
        self.assertAlmostEqual(300.0 / 40000.0, rows[0]["ratio"])
        failed = [r for r in rows if r["target"] == "0"]
        self.assertEqual([0], [r["ours"] for r in failed])

    def test_FailedRequestsAreCounted(self):
        result = {"publish": {"links": 100_000, "baseline": None,
                              "rounds": [publish_round(100.0, errors=2)]}}
        failed = [r for r in patch.build_figures(result) if r["target"] == "0"]
        self.assertEqual([2], [r["ours"] for r in failed])

    def test_CpuRatioIsTheMedianOfPerRoundRatios(self):
        def run(cpu):
            return {"cpu_us_per_req": cpu, "rps": 100.0, "errors": 0, "server_busy_pct": 100.0,
                    "sched_demand_pct": 100.0, "sched_waited_pct": 1.0}
        result = {"cpu": {"links": 1_000_000, "patch_links": 10_000, "names": ["a", "b"],
                          "runs": {"a": [run(10.0), run(10.0), run(10.0)],
                                   "b": [run(10.1), run(12.0), run(10.2)]}}}
        row = patch.build_figures(result)[0]
        self.assertAlmostEqual(1.02, row["ratio"])

    def test_SizeRowsGiveBytesPerLink(self):
        result = {"patch_size": {"links": 10_000_000, "snapshot_bytes": 1_000_000_000,
                                 "full_compile": {"compile_ms": [30000.0]}, "sizes": [
                                     {"changed": 1, "compile_ms": [50.0], "bytes": 900,
                                      "compile_internal_ms": [10.0], "import_ms": 5.0,
                                      "apply_ms": [1.0], "apply_from_launch_ms": [40.0]},
                                     {"changed": 1001, "compile_ms": [90.0], "bytes": 60900,
                                      "compile_internal_ms": [40.0], "import_ms": 50.0,
                                      "apply_ms": [2.0], "apply_from_launch_ms": [80.0]}]}}
        rows = patch.build_figures(result)
        marginal = [r for r in rows if "marginal" in r["figure"]][0]
        self.assertEqual(60.0, marginal["ours"])


if __name__ == "__main__":
    unittest.main()
