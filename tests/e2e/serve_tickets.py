"""TLS session tickets with keys that rotate while the server runs (--tls-ticket-rotation):
`openssl s_client -sess_out/-sess_in` resumes a session (Reused) with the current key and,
after one rotation, with the previous one; a ticket from before two rotations names a key that
is gone and gets a full handshake (New), although it is well inside the session lifetime. Also:
ALPN http/1.1 is negotiated and TLS 1.0/1.1 are refused; the option needs --tls-listen."""
import os
import subprocess
import time
import unittest

import harness
from serve_fixture import ServeCase
from serve_tls import Pki, put

ROTATION_S = 3


class ServeTickets(ServeCase):

    def setUp(self):
        super().setUp()
        self.compile()
        self.pki = Pki(os.path.join(self.tmp, "pki"))
        certs = os.path.join(self.tmp, "certs")
        os.mkdir(certs)
        cert, key = self.pki.leaf("go cert", ["go.example.com"])
        put(certs, "go.example.com.pem", cert + key)
        self.tls_port = harness.free_port()
        self.serve("--tls-listen", f"127.0.0.1:{self.tls_port}", "--certs", certs,
                   "--tls-ticket-rotation", str(ROTATION_S))
        self.assertTrue(harness.wait_for_port(self.tls_port))

    def s_client(self, *args):
        """One GET through openssl s_client; its output (stdout and stderr)."""
        request = "GET /docs HTTP/1.1\r\nHost: go.example.com\r\nConnection: close\r\n\r\n"
        proc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.tls_port}",
                               "-servername", "go.example.com", "-CAfile", self.pki.root, "-ign_eof", *args],
                              input=request, capture_output=True, text=True, timeout=20)
        return proc.returncode, proc.stdout + proc.stderr

    def rotations(self):
        return len(self.log_lines("tls_ticket_keys_rotated"))

    def wait_for_rotation(self):
        """Returns just after the next rotation."""
        seen = self.rotations()
        self.wait_until(lambda: self.rotations() > seen, timeout=ROTATION_S + 5, what="a ticket key rotation")

    def session(self, version, name):
        path = os.path.join(self.tmp, name)
        code, out = self.s_client(version, "-sess_out", path)
        self.assertEqual(code, 0, out)
        self.assertIn("HTTP/1.1 301", out)
        self.assertIn("New, ", out)
        self.assertTrue(os.path.getsize(path) > 0)
        return path

    def resumed(self, version, path):
        code, out = self.s_client(version, "-sess_in", path)
        self.assertEqual(code, 0, out)
        self.assertIn("HTTP/1.1 301", out)
        self.assertIn("Verify return code: 0 (ok)", out)
        return "Reused, " in out

    def test_resumption_survives_one_rotation_not_two(self):
        for version in ("-tls1_2", "-tls1_3"):
            with self.subTest(version=version):
                self.wait_for_rotation()
                ticket = self.session(version, "sess" + version)
                self.assertTrue(self.resumed(version, ticket), "the current key resumes")
                self.wait_for_rotation()
                self.assertTrue(self.resumed(version, ticket), "the previous key resumes")
                self.wait_for_rotation()
                self.assertFalse(self.resumed(version, ticket), "a key two rotations old is gone")
                # The session lifetime (2 hours) did not end it: only the rotation did.
                fresh = self.session(version, "fresh" + version)
                self.assertTrue(self.resumed(version, fresh))
        self.assertGreaterEqual(self.metric('shortlink_tls_handshakes_total{result="resumed"}'), 6)

    def test_alpn_http11_and_old_protocols_refused(self):
        code, out = self.s_client("-alpn", "h2,http/1.1")
        self.assertEqual(code, 0, out)
        self.assertIn("ALPN protocol: http/1.1", out)
        for old in ("-tls1", "-tls1_1"):
            with self.subTest(version=old):
                code, out = self.s_client(old, "-cipher", "DEFAULT@SECLEVEL=0")
                self.assertNotEqual(code, 0, out)
                self.assertIn("Cipher is (NONE)", out)

    def test_rotation_needs_tls_listen(self):
        proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--state-dir", "none",
                       "--admin", "none", "--listen", f"127.0.0.1:{harness.free_port()}",
                       "--tls-ticket-rotation", "60", expect=2)
        self.assertIn("--tls-ticket-rotation is only used with --tls-listen", proc.stderr)
        proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--state-dir", "none",
                       "--tls-ticket-rotation", "0", expect=2)
        self.assertIn("--tls-ticket-rotation", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
