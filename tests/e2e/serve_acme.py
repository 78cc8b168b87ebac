"""ACME HTTP-01 challenges end to end (serve --acme-webroot): a token file is answered on the
plain listener, text/plain, for GET and HEAD; a missing token, a hostile one (dots, slashes,
percent-encoding, NUL, overlong) or a file that is a symbolic link, FIFO, directory or too big
is 404 and never reveals a byte outside the webroot; other paths still answer links; the TLS
listener does not serve challenges; the webroot may be removed and made again between runs;
and scripts/certbot-deploy-hook.sh installs a renewed certificate that the server then serves."""
import os
import shutil
import socket
import ssl
import subprocess
import unittest

import harness
from serve_fixture import Client, ServeCase
from serve_tls import Pki, put

TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
KEY_AUTHORIZATION = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                    "certbot-deploy-hook.sh")


class ServeAcme(ServeCase):

    def setUp(self):
        super().setUp()
        self.compile()
        self.webroot = os.path.join(self.tmp, "acme")
        os.mkdir(self.webroot)
        with open(os.path.join(self.webroot, TOKEN), "w") as f:
            f.write(KEY_AUTHORIZATION)
        with open(os.path.join(self.tmp, "secret"), "w") as f:
            f.write("SECRET private key material\n")

    def raw(self, target, method="GET", host="go.example.com", port=None):
        with Client(port or self.port) as c:
            c.send(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("latin-1"))
            return c.response(head=(method == "HEAD"))

    def test_challenge_is_answered_from_the_webroot(self):
        self.serve("--acme-webroot", self.webroot)
        r = self.raw(f"/.well-known/acme-challenge/{TOKEN}")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.decode(), KEY_AUTHORIZATION)
        self.assertEqual(r.headers["content-type"], "text/plain")
        self.assertEqual(r.headers["cache-control"], "no-store")
        self.assertEqual(int(r.headers["content-length"]), len(KEY_AUTHORIZATION))
        # Any Host: the CA asks for the name being validated, which may have no domain here.
        self.assertEqual(self.raw(f"/.well-known/acme-challenge/{TOKEN}", host="new.example").status, 200)
        head = self.raw(f"/.well-known/acme-challenge/{TOKEN}", method="HEAD")
        self.assertEqual(head.status, 200)
        self.assertEqual(int(head.headers["content-length"]), len(KEY_AUTHORIZATION))
        self.assertEqual(head.body, b"")
        # Keep-alive: the next request on the connection is a link again.
        with Client(self.port) as c:
            c.send(f"GET /.well-known/acme-challenge/{TOKEN} HTTP/1.1\r\nHost: x.example\r\n\r\n"
                   "GET /abc HTTP/1.1\r\nHost: x.example\r\n\r\n".encode())
            self.assertEqual(c.response().status, 200)
            second = c.response()
            self.assertEqual(second.status, 302)
            self.assertEqual(second.headers["location"], "https://dest.example/a")
        self.assertEqual(self.raw("/docs").status, 301)
        self.assertEqual(self.raw("/.well-known/acme-challenge/missing").status, 404)
        # Other methods are not challenges.
        self.assertEqual(self.raw(f"/.well-known/acme-challenge/{TOKEN}", method="POST").status, 405)
        self.assertEqual(self.metric('shortlink_acme_challenges_total{result="served"}'), 4)
        self.assertEqual(self.metric('shortlink_acme_challenges_total{result="not_found"}'), 1)

    def test_hostile_tokens_and_files_never_escape_the_webroot(self):
        os.symlink(os.path.join(self.tmp, "secret"), os.path.join(self.webroot, "link"))
        os.mkdir(os.path.join(self.webroot, "dir"))
        os.mkfifo(os.path.join(self.webroot, "fifo"))
        with open(os.path.join(self.webroot, "big"), "w") as f:
            f.write("x" * 4097)
        with open(os.path.join(self.webroot, "a.b"), "w") as f:
            f.write("dotted")
        self.serve("--acme-webroot", self.webroot)
        prefix = "/.well-known/acme-challenge/"
        for target in (prefix + "../secret", prefix + "..%2Fsecret", prefix + "%2e%2e%2fsecret",
                       prefix + "..", prefix + ".", prefix, prefix + "a.b", prefix + "link",
                       prefix + "dir", prefix + "fifo", prefix + "big", prefix + TOKEN + "/",
                       prefix + TOKEN + "?x=1", prefix + "%00", prefix + TOKEN + "%00",
                       prefix + "/" + TOKEN, prefix + "a" * 129, prefix + "%41"):
            with self.subTest(target=target):
                r = self.raw(target)
                self.assertEqual(r.status, 404)
                self.assertNotIn(b"SECRET", r.body)
                self.assertNotIn(b"dotted", r.body)
        # Bytes the request parser refuses never reach the webroot at all.
        for target in (prefix + "a\x00b", prefix + "a b"):
            with self.subTest(target=repr(target)):
                r = self.raw(target)
                self.assertTrue(r is None or r.status == 400, r)
        # Only the exact prefix is a challenge; a near miss is a link lookup.
        self.assertEqual(self.raw(f"/.well-known/ACME-challenge/{TOKEN}").status, 404)
        self.assertIsNone(self.proc.poll())

    def test_webroot_may_be_removed_and_made_again(self):
        self.serve("--acme-webroot", self.webroot)
        shutil.rmtree(self.webroot)
        self.assertEqual(self.raw(f"/.well-known/acme-challenge/{TOKEN}").status, 404)
        os.mkdir(self.webroot)
        with open(os.path.join(self.webroot, "second"), "w") as f:
            f.write("second.thumb")
        r = self.raw("/.well-known/acme-challenge/second")
        self.assertEqual((r.status, r.body), (200, b"second.thumb"))

    def test_without_the_option_the_path_is_a_link_lookup(self):
        self.serve()
        r = self.raw(f"/.well-known/acme-challenge/{TOKEN}")
        self.assertEqual(r.status, 404)
        self.assertNotIn(KEY_AUTHORIZATION.encode(), r.body)

    def test_missing_webroot_is_refused_at_start(self):
        proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--listen",
                       f"127.0.0.1:{harness.free_port()}", "--admin", "none", "--state-dir", "none",
                       "--acme-webroot", os.path.join(self.tmp, "nope"), expect=3)
        self.assertIn("--acme-webroot: '", proc.stderr)
        self.assertIn("is not a directory", proc.stderr)

    def test_tls_listener_does_not_serve_challenges_and_the_hook_installs_renewals(self):
        pki = Pki(os.path.join(self.tmp, "pki"))
        certs = os.path.join(self.tmp, "certs")
        os.mkdir(certs)
        cert, key = pki.leaf("first cert", ["go.example.com"])
        put(certs, "go.example.com.pem", cert + key)
        tls_port = harness.free_port()
        self.serve("--acme-webroot", self.webroot, "--tls-listen", f"127.0.0.1:{tls_port}",
                   "--certs", certs)
        self.assertTrue(harness.wait_for_port(tls_port))
        self.assertEqual(self.served_cn(pki, tls_port), "first cert")
        ctx = ssl.create_default_context(cafile=pki.root)
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="go.example.com") as s:
                s.sendall(f"GET /.well-known/acme-challenge/{TOKEN} HTTP/1.1\r\nHost: go.example.com\r\n"
                          "Connection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 404 "), data[:40])
        self.assertNotIn(KEY_AUTHORIZATION.encode(), data)

        # A renewal by certbot: its lineage directory, then the deploy hook.
        os.remove(os.path.join(certs, "go.example.com.pem"))
        lineage = os.path.join(self.tmp, "live", "go.example.com")
        os.makedirs(lineage)
        renewed, renewed_key = pki.leaf("renewed cert", ["go.example.com", "*.example.com"])
        with open(os.path.join(lineage, "fullchain.pem"), "w") as f:
            f.write(renewed)
        with open(os.path.join(lineage, "privkey.pem"), "w") as f:
            f.write(renewed_key)
        env = dict(os.environ, SHORTLINK_CERTS=certs, RENEWED_LINEAGE=lineage,
                   RENEWED_DOMAINS="go.example.com *.example.com")
        proc = subprocess.run(["sh", HOOK], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(sorted(os.listdir(certs)), ["_.example.com.crt", "_.example.com.key",
                                                     "go.example.com.crt", "go.example.com.key"])
        self.assertEqual(os.stat(os.path.join(certs, "go.example.com.key")).st_mode & 0o077, 0)
        # The hook installs one name after the other; each is served once its pair is in place.
        self.wait_until(lambda: self.served_cn(pki, tls_port) == "renewed cert",
                        what="the renewed certificate to be served")
        self.wait_until(lambda: self.served_cn(pki, tls_port, "other.example.com") == "renewed cert",
                        what="the renewed wildcard certificate to be served")
        # A name that is not a host name is refused before anything is written.
        env["RENEWED_DOMAINS"] = "../evil"
        proc = subprocess.run(["sh", HOOK], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("'../evil' is not a host name", proc.stderr)
        self.assertEqual(len(os.listdir(certs)), 4)

    @staticmethod
    def served_cn(pki, port, host="go.example.com"):
        ctx = ssl.create_default_context(cafile=pki.root)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=host) as s:
                    for rdn in s.getpeercert()["subject"]:
                        for k, v in rdn:
                            if k == "commonName":
                                return v
        except (ssl.SSLError, ConnectionError):
            return None  # between a removal and the new files: no certificate for the name
        return None


if __name__ == "__main__":
    unittest.main(verbosity=2)
