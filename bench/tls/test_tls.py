#!/usr/bin/env python3
"""Self-tests of the TLS benchmark's parsing and settings (no servers, about a second):
python3 -m unittest discover -s bench/tls -p 'test_*.py'"""
import importlib.util
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("tls_run", os.path.join(HERE, "run.py"))
tls = importlib.util.module_from_spec(_spec)
sys.argv = sys.argv[:1]
_spec.loader.exec_module(tls)

# What `openssl s_time -reuse -time 1 -www ...` (OpenSSL 3.0) prints.
REUSE_OUTPUT = """Collecting connection statistics for 1 seconds


Now timing with session id reuse.
starting
rrrrr*rrr

9 connections in 0.05s; 180.00 connections/user sec, bytes read 2772
9 connections in 2 real seconds, 308 bytes read per connection
"""
NEW_OUTPUT = """Collecting connection statistics for 1 seconds
****

4 connections in 0.02s; 200.00 connections/user sec, bytes read 1232
4 connections in 2 real seconds, 308 bytes read per connection
"""


class STimeTest(unittest.TestCase):
    def test_CountsConnectionsAndResumedOnes(self):
        self.assertEqual(tls.parse_s_time(REUSE_OUTPUT), (9, 8, 308))
        self.assertEqual(tls.parse_s_time(NEW_OUTPUT), (4, 0, 308))

    def test_RefusesOutputItCannotRead(self):
        with self.assertRaises(ValueError):
            tls.parse_s_time("connect: Connection refused\nconnect:errno=111\n")
        # A progress line that does not hold one mark per connection is not trusted.
        with self.assertRaises(ValueError):
            tls.parse_s_time(NEW_OUTPUT.replace("****", "***"))

    def test_RequestCarriesAHostHeader(self):
        request = "GET %s HTTP/1.0\r\n\r\n" % tls.s_time_request("abc")
        self.assertEqual(request, "GET /abc HTTP/1.0\r\nHost: bench.test\r\nX-Bench: HTTP/1.0\r\n\r\n")


class SettingsTest(unittest.TestCase):
    def test_ReadsWhatTheServerUses(self):
        settings = tls.tls_settings()
        self.assertIn("ECDHE-ECDSA-AES128-GCM-SHA256", settings["tls12_ciphers"].split(":"))
        self.assertIn("TLS_AES_128_GCM_SHA256", settings["tls13_ciphersuites"].split(":"))
        self.assertEqual(settings["groups"].split(":")[0], "X25519")
        self.assertGreater(settings["ticket_lifetime_s"], 0)
        for value in settings.values():
            self.assertNotIn('"', str(value))


if __name__ == "__main__":
    unittest.main()
