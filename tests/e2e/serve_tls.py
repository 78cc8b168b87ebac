"""TLS listeners end to end: certificates from a private CA made here with the openssl binary,
served by SNI to curl, Python's ssl module and openssl s_client. Three domains get their own
redirect and certificate; wildcard and default files are chosen for names without a file of
their own; a renewed certificate is served without a restart; expired, mismatched and
truncated files are refused while the old certificate keeps serving; TLS 1.0/1.1 and weak
ciphers are refused; plain HTTP to the TLS port and TLS to the plain port are closed; a start
without a usable certificate fails with exit status 2."""
import json
import os
import socket
import ssl
import subprocess
import time
import unittest

import harness
from serve_fixture import ServeCase

CA_CONFIG = """[ca]
default_ca = test
[test]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/issued
serial = {dir}/serial
default_md = sha256
policy = any
unique_subject = no
email_in_dn = no
[any]
commonName = supplied
"""


class Pki:
    """A root CA, an intermediate, and leaves they issue (openssl ca)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(os.path.join(directory, "issued"))
        with open(os.path.join(directory, "index.txt"), "w"):
            pass
        with open(os.path.join(directory, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(directory, "ca.cnf"), "w") as f:
            f.write(CA_CONFIG.format(dir=directory))
        self.root = self.path("root.crt")
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", self.path("root.key"), "-out", self.root, "-days", "3650",
                     "-subj", "/CN=shortlink test root", "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.key("mid")
        self.openssl("req", "-new", "-key", self.path("mid.key"), "-out", self.path("mid.csr"),
                     "-subj", "/CN=shortlink test intermediate")
        self.write("mid.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
        self.openssl("x509", "-req", "-in", self.path("mid.csr"), "-CA", self.root, "-CAkey",
                     self.path("root.key"), "-CAcreateserial", "-days", "3000", "-extfile",
                     self.path("mid.ext"), "-out", self.path("mid.crt"))
        self.count = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()

    def openssl(self, *args):
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=self.dir)
        if proc.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)}: {proc.stderr}")
        return proc

    def key(self, name):
        self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", self.path(name + ".key"))
        return self.read(name + ".key")

    def leaf(self, cn, names, days=90, dates=None, key=None):
        """Issues a leaf for `names`; returns (certificate PEM followed by the intermediate,
        key PEM). `dates` = (start, end) as YYYYMMDDHHMMSSZ instead of `days`; `key` reuses a
        key (a renewal with the same key pair)."""
        self.count += 1
        name = f"leaf{self.count}"
        if key is None:
            key = self.key(name)
        else:
            self.write(name + ".key", key)
        self.openssl("req", "-new", "-key", self.path(name + ".key"), "-out", self.path(name + ".csr"),
                     "-subj", f"/CN={cn}")
        self.write(name + ".ext", "basicConstraints=CA:FALSE\nsubjectAltName=" +
                   ",".join("DNS:" + n for n in names) + "\n")
        validity = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", str(days)]
        self.openssl("ca", "-config", self.path("ca.cnf"), "-batch", "-notext", "-cert",
                     self.path("mid.crt"), "-keyfile", self.path("mid.key"), "-in",
                     self.path(name + ".csr"), "-out", self.path(name + ".crt"),
                     "-extfile", self.path(name + ".ext"), *validity)
        return self.read(name + ".crt") + self.read("mid.crt"), key


def put(directory, name, text):
    """Publishes a file the way a deploy hook should: temporary name, then rename."""
    temp = os.path.join(directory, "." + name + ".tmp")
    with open(temp, "w") as f:
        f.write(text)
    os.rename(temp, os.path.join(directory, name))


class ServeTls(ServeCase):

    def setUp(self):
        super().setUp()
        self.sl("domain", "add", "brand.test", "--root-url", "https://brand.test/home")
        self.sl("add", "https://dest.example/brand", "--code", "b", "--domain", "brand.test")
        self.sl("domain", "add", "s.example.org")
        self.sl("add", "https://dest.example/org", "--code", "o", "--domain", "s.example.org")
        self.compile()
        self.pki = Pki(os.path.join(self.tmp, "pki"))
        self.certs = os.path.join(self.tmp, "certs")
        os.mkdir(self.certs)
        self.go_cert, self.go_key = self.pki.leaf("go cert", ["go.example.com"])
        put(self.certs, "go.example.com.key", self.go_key)
        put(self.certs, "go.example.com.crt", self.go_cert)
        brand_cert, brand_key = self.pki.leaf("brand cert", ["brand.test", "www.brand.test"])
        put(self.certs, "brand.test.pem", brand_key + brand_cert)
        wild_cert, wild_key = self.pki.leaf("wildcard cert", ["*.example.org"], days=10)
        put(self.certs, "_.example.org.pem", wild_cert + wild_key)
        default_cert, default_key = self.pki.leaf("default cert", ["fallback.test"])
        put(self.certs, "default.pem", default_cert + default_key)

    def serve_tls(self, *extra):
        self.tls_port = harness.free_port()
        self.serve("--tls-listen", f"127.0.0.1:{self.tls_port}", "--certs", self.certs, *extra)
        self.assertTrue(harness.wait_for_port(self.tls_port), "TLS listener did not start")

    def context(self):
        ctx = ssl.create_default_context(cafile=self.pki.root)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        return ctx

    def fetch(self, host, target, ctx=None, server_name=True, session=None):
        """GET over TLS with SNI `host`: (status, location, peer certificate dict, TLS socket facts)."""
        ctx = ctx or self.context()
        if not server_name:
            ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host if server_name else None,
                                 session=session) as s:
                s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                headers = dict(line.split(": ", 1) for line in head[1:])
                facts = {"alpn": s.selected_alpn_protocol(), "version": s.version(),
                         "reused": s.session_reused, "session": s.session}
                return int(head[0].split(" ")[1]), headers.get("Location"), s.getpeercert(), facts

    @staticmethod
    def common_name(cert):
        for rdn in cert["subject"]:
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None

    def served_common_name(self, host):
        """The CN of the certificate served for SNI `host` (verification off: it may be a
        certificate this test expects to be refused)."""
        ctx = ssl.create_default_context(cafile=self.pki.root)
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                return self.common_name(s.getpeercert())

    def curl(self, host, target):
        proc = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "--cacert", self.pki.root, "--resolve",
             f"{host}:{self.tls_port}:127.0.0.1", "-w", "%{http_code} %{redirect_url} %{ssl_verify_result}",
             f"https://{host}:{self.tls_port}{target}"], capture_output=True, text=True, timeout=20)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout.split(" ")

    def s_client(self, *args):
        proc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.tls_port}",
                               "-servername", "go.example.com", "-CAfile", self.pki.root, *args],
                              input="", capture_output=True, text=True, timeout=20)
        return proc.returncode, proc.stdout + proc.stderr

    def handshakes(self, result):
        return self.metric(f'shortlink_tls_handshakes_total{{result="{result}"}}')

    def refused(self, reason):
        return self.metric(f'shortlink_tls_certificates_refused_total{{reason="{reason}"}}')

    def test_three_domains_get_their_redirect_and_certificate(self):
        self.serve_tls()
        for host, target, status, location, cn in (
                ("go.example.com", "/docs", 301, "https://docs.example.com/", "go cert"),
                ("brand.test", "/b", 302, "https://dest.example/brand", "brand cert"),
                ("s.example.org", "/o", 302, "https://dest.example/org", "wildcard cert")):
            with self.subTest(host=host):
                got_status, got_location, cert, facts = self.fetch(host, target)
                self.assertEqual(got_status, status)
                self.assertEqual(got_location, location)
                self.assertEqual(self.common_name(cert), cn)
                self.assertIn(("DNS", host if cn != "wildcard cert" else "*.example.org"),
                              cert["subjectAltName"])
                self.assertEqual(facts["alpn"], "http/1.1")
                self.assertIn(facts["version"], ("TLSv1.3", "TLSv1.2"))
        for host, target, expect in (("go.example.com", "/docs", ["301", "https://docs.example.com/", "0"]),
                                     ("brand.test", "/b", ["302", "https://dest.example/brand", "0"]),
                                     ("s.example.org", "/o", ["302", "https://dest.example/org", "0"])):
            with self.subTest(curl=host):
                self.assertEqual(self.curl(host, target), expect)
        # Plain HTTP still answers beside TLS.
        self.assertEqual(self.get("/docs", host="go.example.com").status, 301)
        self.assertGreaterEqual(self.handshakes("completed"), 6)

    def test_wildcard_and_default_selection(self):
        self.serve_tls()
        self.assertEqual(self.served_common_name("other.example.org"), "wildcard cert")
        self.assertEqual(self.served_common_name("a.b.example.org"), "default cert")
        self.assertEqual(self.served_common_name("unknown.test"), "default cert")
        self.assertEqual(self.served_common_name("GO.EXAMPLE.COM"), "go cert")
        # Files, not the names a certificate holds, decide: brand.test.pem also names
        # www.brand.test, which has no file of its own.
        self.assertEqual(self.served_common_name("www.brand.test"), "default cert")
        _, _, cert, _ = self.fetch("127.0.0.1", "/abc", server_name=False)
        self.assertEqual(self.common_name(cert), "default cert")
        # Without default.*, a name with no file of its own ends the handshake.
        os.unlink(os.path.join(self.certs, "default.pem"))
        self.wait_until(lambda: self.metric("shortlink_tls_certificates") == 3, what="default removed")
        with self.assertRaises(ssl.SSLError) as raised:
            self.served_common_name("unknown.test")
        self.assertIn("UNRECOGNIZED_NAME", str(raised.exception).upper())
        self.assertEqual(self.served_common_name("go.example.com"), "go cert")

    def test_renewed_certificate_is_served_without_restart(self):
        self.serve_tls()
        _, _, first, _ = self.fetch("go.example.com", "/docs")
        renewed_cert, renewed_key = self.pki.leaf("go cert renewed", ["go.example.com"])
        # Two renames some time apart, as a slow deploy hook makes them: the new key beside the
        # old certificate is waited for, not refused, and the old pair serves in between.
        put(self.certs, "go.example.com.key", renewed_key)
        time.sleep(0.3)
        self.assertEqual(self.served_common_name("go.example.com"), "go cert")
        put(self.certs, "go.example.com.crt", renewed_cert)
        self.wait_until(lambda: self.served_common_name("go.example.com") == "go cert renewed",
                        what="the renewed certificate")
        status, location, cert, _ = self.fetch("go.example.com", "/docs")
        self.assertEqual((status, location), (301, "https://docs.example.com/"))
        self.assertNotEqual(cert["serialNumber"], first["serialNumber"])
        self.assertEqual(self.proc.poll(), None)
        loaded = [line for line in self.log_lines("certificate_loaded") if line["host"] == "go.example.com"]
        self.assertEqual(len(loaded), 2)
        self.assertEqual(self.log_lines("certificate_refused"), [])

    def test_bad_files_are_refused_and_the_old_certificate_keeps_serving(self):
        self.serve_tls()
        expired_cert, expired_key = self.pki.leaf("expired", ["go.example.com"],
                                                  dates=("20200101000000Z", "20200301000000Z"))
        other_cert, _ = self.pki.leaf("mismatched", ["go.example.com"])
        wrong_name_cert, wrong_name_key = self.pki.leaf("wrong name", ["elsewhere.test"])
        cases = (
            ("expired", [("go.example.com.key", expired_key), ("go.example.com.crt", expired_cert)]),
            ("key_mismatch", [("go.example.com.crt", other_cert), ("go.example.com.key", self.go_key)]),
            ("parse", [("go.example.com.crt", self.go_cert[:len(self.go_cert) // 3])]),
            ("name_mismatch", [("go.example.com.key", wrong_name_key), ("go.example.com.crt", wrong_name_cert)]),
        )
        for reason, files in cases:
            with self.subTest(reason=reason):
                before = self.refused(reason)
                for name, text in files:
                    put(self.certs, name, text)
                self.wait_until(lambda: self.refused(reason) > before, what=f"a {reason} refusal")
                self.assertEqual(self.served_common_name("go.example.com"), "go cert")
                status, location, _, _ = self.fetch("go.example.com", "/docs")
                self.assertEqual((status, location), (301, "https://docs.example.com/"))
                _, ready = self.readyz()
                self.assertEqual(ready["tls"]["last_refused"]["reason"], reason)
                self.assertIn("go.example.com", ready["tls"]["last_refused"]["path"])
                lines = [line for line in self.log_lines("certificate_refused") if line["reason"] == reason]
                self.assertTrue(lines, f"no certificate_refused line for {reason}")
        # Put back, the good pair is served again (it was never replaced).
        put(self.certs, "go.example.com.key", self.go_key)
        put(self.certs, "go.example.com.crt", self.go_cert)
        self.assertEqual(self.served_common_name("go.example.com"), "go cert")

    def test_old_protocols_and_weak_ciphers_are_refused(self):
        self.serve_tls()
        for args, version in ((["-tls1_2"], "TLSv1.2"), (["-tls1_3"], "TLSv1.3")):
            with self.subTest(accepted=args):
                code, out = self.s_client(*args)
                self.assertEqual(code, 0, out)
                self.assertIn(f"New, {version}, Cipher is", out)
                self.assertIn("Verify return code: 0 (ok)", out)
        failed = self.handshakes("failed")
        refused = (
            ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
            ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
            ["-tls1_2", "-cipher", "AES128-SHA"],
            ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA"],
            ["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"],
        )
        for args in refused:
            with self.subTest(refused=args):
                code, out = self.s_client(*args)
                self.assertNotEqual(code, 0, out)
                self.assertIn("Cipher is (NONE)", out)
                self.assertIn("no peer certificate available", out)
                self.assertRegex(out, "alert (protocol version|handshake failure)")
        # The server itself refused each one (not the client's own policy).
        self.wait_until(lambda: self.handshakes("failed") >= failed + len(refused),
                        what="the server to count the refused handshakes")

    def test_plain_http_to_the_tls_port_and_tls_to_the_plain_port_are_closed(self):
        self.serve_tls()
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as s:
            s.sendall(b"GET /abc HTTP/1.1\r\nHost: go.example.com\r\n\r\n")
            started = time.monotonic()
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - started, 3)
            self.assertNotIn(b"HTTP/1.1 302", data)
        ctx = self.context()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
            started = time.monotonic()
            with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                ctx.wrap_socket(raw, server_hostname="go.example.com")
            self.assertLess(time.monotonic() - started, 3)
        self.assertIsNone(self.proc.poll())
        self.assertEqual(self.get("/abc").status, 302)
        self.assertEqual(self.fetch("go.example.com", "/docs")[0], 301)

    def test_handshake_deadline_and_cap(self):
        self.serve_tls("--handshake-timeout", "2", "--max-handshakes", "2")
        # wait_for_port's probe connection is a handshake too until the server sees it close;
        # on a busy machine that can be after the silent ones arrive, taking one's place.
        self.wait_until(lambda: self.metric("shortlink_open_connections") == 0, what="the probe closed")
        silent = [socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) for _ in range(2)]
        try:
            self.wait_until(lambda: self.metric("shortlink_open_connections") == 2, what="two handshakes")
            # A third while two are in progress is closed at once.
            with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as third:
                self.assertEqual(third.recv(10), b"")
            self.assertEqual(self.handshakes("rejected"), 1)
            # The silent ones are closed at the handshake deadline.
            for s in silent:
                s.settimeout(6)
                self.assertEqual(s.recv(10), b"")
            self.assertEqual(self.handshakes("timeout"), 2)
        finally:
            for s in silent:
                s.close()
        self.assertEqual(self.fetch("go.example.com", "/docs")[0], 301)

    def test_sessions_resume_with_tickets(self):
        self.serve_tls()
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version):
                ctx = self.context()
                ctx.maximum_version = version
                _, _, _, first = self.fetch("go.example.com", "/docs", ctx=ctx)
                self.assertFalse(first["reused"])
                status, _, _, second = self.fetch("go.example.com", "/docs", ctx=ctx,
                                                  session=first["session"])
                self.assertEqual(status, 301)
                self.assertTrue(second["reused"])
        self.assertGreaterEqual(self.handshakes("resumed"), 2)

    def test_expiry_in_metrics_and_readyz(self):
        self.serve_tls("--cert-warn-days", "14")
        _, body = self.admin("/metrics")
        days = {}
        for line in body.splitlines():
            if line.startswith("shortlink_tls_certificate_expiry_days{"):
                host = line.split('"')[1]
                days[host] = float(line.split()[-1])
        self.assertEqual(set(days), {"go.example.com", "brand.test", "*.example.org", "default"})
        self.assertTrue(89 < days["go.example.com"] <= 90, days)
        self.assertTrue(9 < days["*.example.org"] <= 10, days)
        status, ready = self.readyz()
        self.assertEqual(status, 200)
        certs = {c["host"]: c for c in ready["tls"]["certificates"]}
        self.assertIsNone(certs["go.example.com"]["warning"])
        # Issued with 10 days of validity a moment ago: 10 days, or 9 once a second has passed.
        self.assertRegex(certs["*.example.org"]["warning"], r"^expires in (9|10) days \(below 14\): renew it$")
        self.assertIn(certs["*.example.org"]["expiry_days"], (9, 10))
        self.assertEqual(certs["brand.test"]["names"], ["brand.test", "www.brand.test"])
        self.assertIsNone(ready["tls"]["last_refused"])

    def test_start_without_a_usable_certificate_fails(self):
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        expired_cert, expired_key = self.pki.leaf("expired", ["go.example.com"],
                                                  dates=("20200101000000Z", "20200301000000Z"))
        bad = os.path.join(self.tmp, "bad")
        os.mkdir(bad)
        put(bad, "go.example.com.pem", expired_cert + expired_key)
        for directory, message in ((empty, "no HOST.crt with HOST.key"),
                                   (bad, "every file was refused; the last: ")):
            with self.subTest(directory=directory):
                proc = harness.run(["serve", "--snapshots", self.snaps, "--trust", self.pub,
                                    "--listen", f"127.0.0.1:{harness.free_port()}", "--admin", "none",
                                    "--tls-listen", f"127.0.0.1:{harness.free_port()}",
                                    "--certs", directory, "--state-dir", "none"], timeout=20)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(f"--tls-listen: no usable certificate in {directory}", proc.stderr)
                self.assertIn(message, proc.stderr)
        proc = harness.run(["serve", "--snapshots", self.snaps, "--trust", self.pub,
                            "--tls-listen", "127.0.0.1:0", "--state-dir", "none"], timeout=20)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("--tls-listen needs --certs DIR", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
