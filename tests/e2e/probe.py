"""`shortlink probe` end to end against a real `serve --tls-listen` with certificates made here:
a sound certificate (exit 0, names, issuer, days left, the GET's status and Location), one
expiring within --warn-days (6), an expired one and a name it does not cover (5), a chain that
does not verify against the system store (5); and against things that are not a TLS server: a
plain HTTP listener, a closed port and a server that accepts and says nothing (1, within the
timeout); usage errors (2)."""
import json
import os
import re
import shutil
import subprocess
import socket
import ssl
import threading
import time
import unittest

import harness
from serve_fixture import ServeCase
from serve_tls import Pki, put


class TlsServer:
    """A one-certificate TLS server on 127.0.0.1 in a thread (the shortlink server refuses to
    serve an expired certificate, so expired ones are served from here)."""

    def __init__(self, cert_path, key_path):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert_path, key_path)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as s:
                    s.recv(4096)
                    s.sendall(b"HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/\r\n"
                              b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            except (ssl.SSLError, OSError):
                pass

    def close(self):
        self.sock.close()


class Probe(ServeCase):

    def setUp(self):
        super().setUp()
        self.compile()
        self.pki = Pki(os.path.join(self.tmp, "pki"))
        self.certs = os.path.join(self.tmp, "certs")
        os.mkdir(self.certs)
        cert, key = self.pki.leaf("go cert", ["go.example.com", "*.go.example.com"])
        put(self.certs, "go.example.com.pem", cert + key)
        put(self.certs, "_.go.example.com.pem", cert + key)
        cert, key = self.pki.leaf("soon cert", ["soon.example"], days=5)
        put(self.certs, "soon.example.pem", cert + key)
        cert, key = self.pki.leaf("default cert", ["fallback.test"])
        put(self.certs, "default.pem", cert + key)
        self.tls_port = harness.free_port()
        self.serve("--tls-listen", f"127.0.0.1:{self.tls_port}", "--certs", self.certs)
        self.assertTrue(harness.wait_for_port(self.tls_port))
        self.at = f"127.0.0.1:{self.tls_port}"

    def probe(self, *args, expect=0, timeout=30):
        return self.sl("probe", *args, expect=expect, timeout=timeout)

    def probe_json(self, *args, expect=0):
        return json.loads(self.probe(*args, "--json", expect=expect).stdout)

    def test_sound_certificate_and_a_get(self):
        out = self.probe_json("https://go.example.com/docs", "--connect", self.at, "--ca", self.pki.root)
        self.assertEqual(out["exit"], 0)
        self.assertEqual(out["connect"], self.at)
        self.assertEqual(out["servername"], "go.example.com")
        self.assertEqual(out["certificate"]["names"], ["go.example.com", "*.go.example.com"])
        self.assertEqual(out["certificate"]["subject"], "CN=go cert")
        self.assertEqual(out["certificate"]["issuer"], "CN=shortlink test intermediate")
        self.assertIn(out["certificate"]["days_left"], (89, 90))
        self.assertTrue(out["name_covered"])
        self.assertEqual(out["chain"], {"verified": True, "error": None, "trust": self.pki.root})
        self.assertEqual(out["http"], {"status": 301, "location": "https://docs.example.com/"})
        self.assertEqual(out["tls"]["alpn"], "http/1.1")
        self.assertIn(out["tls"]["version"], ("TLSv1.3", "TLSv1.2"))
        self.assertEqual(out["problems"], [])
        # The wildcard name covers one label down; the text form says the same.
        text = self.probe("a.go.example.com", "--connect", self.at, "--servername", "a.go.example.com",
                          "--ca", self.pki.root).stdout
        self.assertIn("name covered: yes", text)
        self.assertIn("chain:        verified", text)
        self.assertNotIn("GET:", text)
        out = self.probe_json("https://go.example.com/nope?x=1", "--connect", self.at, "--ca", self.pki.root)
        self.assertEqual(out["http"], {"status": 404, "location": None})

    def test_expiring_within_warn_days_exits_6(self):
        proc = self.probe("soon.example", "--connect", self.at, "--ca", self.pki.root, expect=6)
        # Five days from its issue a moment ago: 4 or 5 whole days, by when the second turns.
        self.assertRegex(proc.stdout, r"warning: the certificate expires in [45] days \(below --warn-days 14\)")
        self.assertRegex(proc.stderr, "expires in [45] days")
        self.probe("soon.example", "--connect", self.at, "--ca", self.pki.root, "--warn-days", "3")
        out = self.probe_json("soon.example", "--connect", self.at, "--ca", self.pki.root, expect=6)
        self.assertEqual(out["exit"], 6)

    def test_name_not_covered_and_untrusted_chain_exit_5(self):
        out = self.probe_json("other.test", "--connect", self.at, "--ca", self.pki.root, expect=5)
        self.assertFalse(out["name_covered"])
        self.assertEqual(out["certificate"]["subject"], "CN=default cert")
        self.assertIn("the certificate does not cover other.test", out["problems"])
        # Against the system store, the private CA is unknown.
        proc = self.probe("go.example.com", "--connect", self.at, expect=5)
        self.assertIn("problem: the chain does not verify against the system's trusted certificates: "
                      "unable to get local issuer certificate", proc.stdout)
        self.assertIn("name covered: yes", proc.stdout)
        # A CA file that is not the one that issued it.
        other = Pki(os.path.join(self.tmp, "other-pki"))
        out = self.probe_json("go.example.com", "--connect", self.at, "--ca", other.root, expect=5)
        self.assertFalse(out["chain"]["verified"])
        self.assertEqual(out["chain"]["error"], "unable to get local issuer certificate")

    def test_expired_certificate_exits_5(self):
        cert, key = self.pki.leaf("old cert", ["old.example"], dates=("20200101000000Z", "20200401000000Z"))
        cert_path, key_path = os.path.join(self.tmp, "old.crt"), os.path.join(self.tmp, "old.key")
        with open(cert_path, "w") as f:
            f.write(cert)
        with open(key_path, "w") as f:
            f.write(key)
        server = TlsServer(cert_path, key_path)
        try:
            out = self.probe_json("https://old.example/x", "--connect", f"127.0.0.1:{server.port}",
                                  "--ca", self.pki.root, expect=5)
        finally:
            server.close()
        self.assertEqual(out["certificate"]["not_after"], "2020-04-01T00:00:00Z")
        self.assertLess(out["certificate"]["days_left"], -900)
        self.assertIn("the certificate expired on 2020-04-01T00:00:00Z", out["problems"])
        self.assertEqual(out["chain"]["error"], "certificate has expired")
        self.assertEqual(out["http"], {"status": 302, "location": "https://elsewhere.example/"})

    def test_not_a_tls_server_exits_1_quickly(self):
        # The plain HTTP listener answers the ClientHello with a 400.
        started = time.monotonic()
        proc = self.probe("go.example.com", "--connect", f"127.0.0.1:{self.port}", "--timeout", "3", expect=1)
        self.assertIn(f"TLS handshake with 127.0.0.1:{self.port} failed", proc.stderr)
        self.assertLess(time.monotonic() - started, 5)
        # A closed port.
        closed = harness.free_port()
        out = self.probe_json("go.example.com", "--connect", f"127.0.0.1:{closed}", expect=1)
        self.assertEqual(out["exit"], 1)
        self.assertIn(f"cannot connect to 127.0.0.1:{closed}: Connection refused", out["error"])
        # A server that accepts and says nothing: the handshake deadline ends it.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        try:
            started = time.monotonic()
            proc = self.probe("go.example.com", "--connect", f"127.0.0.1:{silent.getsockname()[1]}",
                              "--timeout", "1", expect=1)
            elapsed = time.monotonic() - started
        finally:
            silent.close()
        self.assertIn("timed out after 1 s (the server accepted the connection but did not answer)", proc.stderr)
        self.assertLess(elapsed, 4)
        self.assertIsNone(self.proc.poll())

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"), "needs root for a namespace")
    def test_a_resolver_that_never_answers_is_bounded_by_the_timeout(self):
        # In a network and mount namespace of its own: /etc/resolv.conf names a UDP socket on
        # 127.0.0.1 that reads queries and never answers (glibc alone would wait 5 s x 3 tries).
        resolv = os.path.join(self.tmp, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:5 attempts:3\n")
        sink = ("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                "s.bind(('127.0.0.1',53))\nprint('ready',flush=True)\n"
                "while True: s.recvfrom(2048)\n")
        script = (f"ip link set lo up && mount --bind {resolv} /etc/resolv.conf && "
                  f"{{ timeout 30 python3 -c \"$SINK\" > {self.tmp}/sink.out & }} && "
                  f"for i in $(seq 50); do grep -q ready {self.tmp}/sink.out 2>/dev/null && break; sleep 0.1; done && "
                  f"start=$(date +%s%N); {harness.BIN} probe silent.example --timeout 1; rc=$?; "
                  f"echo \"rc=$rc ms=$(( ($(date +%s%N) - start) / 1000000 ))\"; kill %1")
        proc = subprocess.run(["unshare", "--net", "--mount", "bash", "-c", script], capture_output=True,
                              text=True, timeout=60, env=dict(os.environ, SINK=sink))
        self.assertIn("cannot resolve silent.example: no answer within the timeout", proc.stderr)
        match = re.search(r"rc=(\d+) ms=(\d+)", proc.stdout)
        self.assertIsNotNone(match, proc.stdout + proc.stderr)
        self.assertEqual(match.group(1), "1")
        self.assertLess(int(match.group(2)), 4000)

    def test_plain_http_targets_with_expectations(self):
        plain = f"http://127.0.0.1:{self.port}"
        r = self.probe_json(f"{plain}/abc", "--expect-status", "302", "--expect-location", "https://dest.example/a",
                            "--max-latency", "5000")
        self.assertEqual((r["http"]["status"], r["http"]["location"], r["tls"], r["exit"]),
                         (302, "https://dest.example/a", None, 0))
        self.assertGreaterEqual(r["latency_ms"], 0)
        # A wrong answer is exit 5 and says what it got.
        proc = self.probe(f"{plain}/abc", "--expect-location", "https://dest.example/other", expect=5)
        self.assertIn("Location is 'https://dest.example/a', not the expected 'https://dest.example/other'",
                      proc.stdout)
        proc = self.probe(f"{plain}/nope", "--expect-status", "302", expect=5)
        self.assertIn("the answer is 404, not the expected 302", proc.stderr)
        proc = self.probe(f"{plain}/abc", "--max-latency", "0", expect=5)
        self.assertIn("above --max-latency 0", proc.stderr)

    def test_several_targets_report_the_worst_and_a_textfile(self):
        textfile = os.path.join(self.tmp, "probe.prom")
        dead = f"http://127.0.0.1:{harness.free_port()}/abc"
        proc = self.probe(f"http://127.0.0.1:{self.port}/abc", f"http://127.0.0.1:{self.port}/q", dead,
                          "--json", "--textfile", textfile, expect=1)
        lines = [json.loads(line) for line in proc.stdout.splitlines()]
        self.assertEqual([line["exit"] for line in lines], [0, 0, 1])
        self.assertEqual(lines[1]["http"]["status"], 307)
        self.assertIn("cannot connect", lines[2]["error"])
        with open(textfile) as f:
            text = f.read()
        self.assertIn(f'shortlink_probe_success{{target="http://127.0.0.1:{self.port}/abc"}} 1', text)
        self.assertIn(f'shortlink_probe_success{{target="{dead}"}} 0', text)
        self.assertIn(f'shortlink_probe_http_status{{target="http://127.0.0.1:{self.port}/q"}} 307', text)
        self.assertFalse([n for n in os.listdir(self.tmp) if n.startswith(".probe.prom")])
        # Over TLS the textfile also carries the certificate's expiry.
        self.probe("https://go.example.com/docs", "--connect", self.at, "--ca", self.pki.root,
                   "--textfile", textfile)
        with open(textfile) as f:
            text = f.read()
        self.assertIn('shortlink_probe_http_status{target="https://go.example.com/docs"} 301', text)
        self.assertRegex(text, r'shortlink_probe_certificate_expiry_timestamp_seconds\{target="https://go.example.com/docs"\} \d{10}')
        # Without the dead one, the worst is a wrong answer (5) over a good one.
        self.probe(f"http://127.0.0.1:{self.port}/abc", f"http://127.0.0.1:{self.port}/nope",
                   "--expect-status", "302", expect=5)

    def test_usage_errors_exit_2(self):
        for args, message in (
                (["ftp://go.example.com/"], "only https:// and http:// URLs can be probed"),
                (["https://go.example.com/x", "--expect-status", "42"], "--expect-status"),
                ([""], "no host name"),
                (["go.example.com:0"], "the port must be 1-65535"),
                (["go.example.com:99999"], "the port must be 1-65535"),
                (["go.example.com:https"], "the port must be 1-65535"),
                (["[::1"], "needs its closing ']'"),
                (["go.example.com", "--connect", ":443"], "no host name"),
                (["go.example.com", "--ca", os.path.join(self.tmp, "none.pem")], None),
                (["go.example.com", "--timeout", "0"], None)):
            with self.subTest(args=args):
                proc = self.probe(*args, expect=2)
                if message:
                    self.assertIn(message, proc.stderr)
        not_pem = os.path.join(self.tmp, "not.pem")
        with open(not_pem, "w") as f:
            f.write("hello\n")
        proc = self.probe("go.example.com", "--connect", self.at, "--ca", not_pem, expect=2)
        self.assertIn("not a readable PEM file of certificates", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
