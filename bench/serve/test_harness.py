#!/usr/bin/env python3
"""Self-tests of the serving harness's parsing and data generation (no servers, a few seconds):
python3 -m unittest discover -s bench/serve -p 'test_*.py'"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import gen_links  # noqa: E402
from wrk import parse_wrk  # noqa: E402

WRK_OK = """Running 3s test @ http://127.0.0.1:38080
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   255.69us  368.56us  10.59ms   98.53%
    Req/Sec   123.96k    15.46k  162.45k    66.67%
  Latency Distribution
     50%  224.00us
     75%  265.00us
     90%  314.00us
     99%    1.90ms
  368742 requests in 3.00s, 144.10MB read
Requests/sec: 122882.54
Transfer/sec:     48.02MB
"""

WRK_ERRORS = WRK_OK.replace(
    "  368742 requests",
    "  Socket errors: connect 2, read 3, write 0, timeout 1\n"
    "  Non-2xx or 3xx responses: 7\n  368742 requests")


class ParseWrkTest(unittest.TestCase):
    def test_CleanRunHasNoErrors(self):
        result = parse_wrk(WRK_OK)
        self.assertEqual(result["requests"], 368742)
        self.assertAlmostEqual(result["rps"], 122882.54)
        self.assertAlmostEqual(result["p50_us"], 224.0)
        self.assertAlmostEqual(result["p99_us"], 1900.0)
        self.assertEqual(result["errors"], 0)

    def test_SocketErrorsAndBadStatusAreFailures(self):
        result = parse_wrk(WRK_ERRORS)
        self.assertEqual(result["socket_errors"], 6)
        self.assertEqual(result["bad_status"], 7)
        self.assertEqual(result["errors"], 13)

    def test_SecondsLatencyUnit(self):
        self.assertAlmostEqual(parse_wrk(WRK_OK.replace("1.90ms", "1.50s"))["p99_us"], 1.5e6)

    def test_TruncatedOutputIsAnError(self):
        with self.assertRaises(ValueError):
            parse_wrk("Running 3s test @ http://127.0.0.1:1\nunable to connect\n")


class GenLinksTest(unittest.TestCase):
    def test_CaseCollisionsDropTheLaterCode(self):
        self.assertEqual(gen_links.case_collisions(["abC", "xyz", "ABc", "abc", "XyZ"]),
                         ["ABc", "abc", "XyZ"])

    def test_SameSeedSameFilesAndShapes(self):
        with tempfile.TemporaryDirectory() as tmp:
            outputs = []
            for name in ("a", "b"):
                out = os.path.join(tmp, name)
                subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE),
                                                             "gen_links.py"), "2000", out],
                               check=True, capture_output=True)
                with open(os.path.join(out, "links.csv")) as csv_file:
                    outputs.append(csv_file.read())
            self.assertEqual(outputs[0], outputs[1])
            lines = outputs[0].splitlines()
            self.assertEqual(lines[0], "code,url,type")
            self.assertEqual(len(lines), 2001)
            for line in lines[1:]:
                code, url, kind = line.split(",")
                self.assertEqual(len(code), 7)
                self.assertTrue(code.isalnum() and code.isascii())
                self.assertTrue(40 <= len(url) <= 120, url)
                self.assertTrue(url.startswith("https://"))
                self.assertNotIn("//", url[len("https://"):])
                self.assertEqual(kind, "301")
            with open(os.path.join(tmp, "a", "meta.json")) as meta_file:
                meta = json.load(meta_file)
            with open(os.path.join(tmp, "a", "nginx.map")) as nginx_map:
                self.assertEqual(len(nginx_map.readlines()),
                                 2000 - meta["nginx_dropped_case_collisions"])

    def test_ZeroLinksRefused(self):
        proc = subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE),
                                                            "gen_links.py"), "0", "/tmp/x-none"],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("at least 1", proc.stderr)


if __name__ == "__main__":
    unittest.main()
