"""Certificate changes under load: not one request fails. Python threads keep a TLS listener busy
for a few seconds with keep-alive connections (request after request on one connection), new
connections (a full handshake per request) and resumed ones (a new connection per request with
the previous session's ticket), every answer checked. Meanwhile a renewal (a new key and
certificate for the same name, each written to a temporary file and renamed into --certs, the
way certbot's deploy hook leaves them) must be served without a restart to every connection that
starts after the first one got it; then an expired certificate, a certificate beside the key of
another one, and a truncated certificate must each be refused (counted in /metrics, logged)
while the renewed certificate keeps serving. serve_tls.py covers each of these one request at a
time; this is the same under load, with zero failures."""
import os
import socket
import ssl
import threading
import time
import unittest

import harness
from serve_fixture import Client, ServeCase
from serve_tls import Pki, put

HOST = "go.example.com"
TARGET = "/docs"
LOCATION = "https://docs.example.com/"
KEEP_ALIVE_CLIENTS = 2
NEW_CONNECTION_CLIENTS = 2
RESUMING_CLIENTS = 1
SETTLE_S = 0.6        # load after each change, before the next one
CHANGE_TIMEOUT_S = 10


class TlsClient(Client):
    """serve_fixture's raw HTTP/1.1 client over an established TLS connection."""

    def __init__(self, tls):  # noqa: super().__init__ would open a plain connection
        self.sock = tls
        self.buf = b""

    def get(self, request):
        self.send(request)
        response = self.response()
        if response is None:
            raise ConnectionError("closed before a whole response")
        return response


class Load:
    """Client threads against the TLS port until stop(); every failure is kept with what it was."""

    def __init__(self, port, cafile):
        self.port = port
        self.context = ssl.create_default_context(cafile=cafile)
        self.context.set_alpn_protocols(["http/1.1"])
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.handshakes = []   # (monotonic start, monotonic end, serial, resumed) per new connection
        self.requests = {"keep-alive": 0, "new": 0, "resumed": 0}
        self.keep_alive_connections = 0
        self.threads = [threading.Thread(target=self.keep_alive, daemon=True) for _ in range(KEEP_ALIVE_CLIENTS)]
        self.threads += [threading.Thread(target=self.new_connections, args=(False,), daemon=True)
                         for _ in range(NEW_CONNECTION_CLIENTS)]
        self.threads += [threading.Thread(target=self.new_connections, args=(True,), daemon=True)
                         for _ in range(RESUMING_CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=15)
        self.assert_stopped()

    def assert_stopped(self):
        alive = [t for t in self.threads if t.is_alive()]
        if alive:
            raise AssertionError(f"{len(alive)} load threads did not stop")

    def fail(self, kind, error):
        with self.lock:
            self.failures.append(f"{kind}: {type(error).__name__}: {error}")

    def check(self, response):
        if response.status != 301 or response.headers.get("location") != LOCATION:
            raise AssertionError(f"answered {response.status} {response.headers.get('location')}")

    def connect(self, session=None):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            return self.context.wrap_socket(raw, server_hostname=HOST, session=session)
        except BaseException:
            raw.close()
            raise

    def keep_alive(self):
        request = f"GET {TARGET} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        try:
            with self.connect() as tls:
                with self.lock:
                    self.keep_alive_connections += 1
                client = TlsClient(tls)
                while not self.stopping.is_set():
                    self.check(client.get(request))
                    with self.lock:
                        self.requests["keep-alive"] += 1
        except Exception as error:  # noqa: BLE001 - every failure is reported by the test
            self.fail("keep-alive", error)

    def new_connections(self, resume):
        kind = "resumed" if resume else "new"
        request = f"GET {TARGET} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
        session = None
        while not self.stopping.is_set():
            try:
                started = time.monotonic()
                with self.connect(session if resume else None) as tls:
                    serial = tls.getpeercert()["serialNumber"] if not tls.session_reused else None
                    self.check(TlsClient(tls).get(request))
                    ended = time.monotonic()
                    with self.lock:
                        self.requests[kind] += 1
                        self.handshakes.append((started, ended, serial, tls.session_reused))
                    session = tls.session
            except Exception as error:  # noqa: BLE001
                self.fail(kind, error)
                return

    def serials_started_after(self, moment):
        with self.lock:
            return {serial for started, _, serial, _ in self.handshakes if started > moment and serial}

    def first_seen(self, serial):
        """When the first connection that got `serial` ended, or None."""
        with self.lock:
            ends = [ended for _, ended, s, _ in self.handshakes if s == serial]
        return min(ends) if ends else None


class ServeTlsRenewal(ServeCase):

    def setUp(self):
        super().setUp()
        self.compile()
        self.pki = Pki(os.path.join(self.tmp, "pki"))
        self.certs = os.path.join(self.tmp, "certs")
        os.mkdir(self.certs)
        self.first_cert, self.first_key = self.pki.leaf("first", [HOST])
        put(self.certs, HOST + ".key", self.first_key)
        put(self.certs, HOST + ".crt", self.first_cert)
        self.tls_port = harness.free_port()
        # Keep-alive connections must last the whole test: no per-connection request limit.
        self.serve("--tls-listen", f"127.0.0.1:{self.tls_port}", "--certs", self.certs,
                   "--max-requests", "100000000")
        self.assertTrue(harness.wait_for_port(self.tls_port), "TLS listener did not start")

    def serial(self, pem):
        """The serial number of a PEM certificate (the first of `pem`), in hex as Python's
        getpeercert() prints it."""
        self.pki.write("serial.pem", pem)
        out = self.pki.openssl("x509", "-noout", "-serial", "-in", self.pki.path("serial.pem")).stdout
        return out.strip().split("=", 1)[1]

    def refused(self, reason):
        return self.metric(f'shortlink_tls_certificates_refused_total{{reason="{reason}"}}')

    def handshakes(self, result):
        return self.metric(f'shortlink_tls_handshakes_total{{result="{result}"}}')

    def test_renewal_and_bad_files_under_load_fail_no_request(self):
        first = self.serial(self.first_cert)
        renewed_cert, renewed_key = self.pki.leaf("renewed", [HOST])
        renewed = self.serial(renewed_cert)
        expired_cert, expired_key = self.pki.leaf("expired", [HOST], dates=("20200101000000Z", "20200301000000Z"))
        other_cert, _ = self.pki.leaf("another key's", [HOST])
        failed_before = self.handshakes("failed")

        load = Load(self.tls_port, self.pki.root)
        load.start()
        try:
            time.sleep(SETTLE_S)
            self.assertEqual(load.serials_started_after(0), {first}, load.failures)

            # The renewal: key, then certificate, each renamed into place.
            renewing = time.monotonic()
            put(self.certs, HOST + ".key", renewed_key)
            put(self.certs, HOST + ".crt", renewed_cert)
            deadline = time.monotonic() + CHANGE_TIMEOUT_S
            while load.first_seen(renewed) is None and time.monotonic() < deadline and not load.failures:
                time.sleep(0.02)
            served = load.first_seen(renewed)
            self.assertIsNotNone(served, f"the renewal was not served within {CHANGE_TIMEOUT_S} s")
            time.sleep(SETTLE_S)
            self.assertEqual(load.serials_started_after(served), {renewed})
            self.assertLess(served - renewing, CHANGE_TIMEOUT_S)

            # Bad files, each under load: refused, and the renewed certificate keeps serving.
            cases = (
                ("expired", [(HOST + ".key", expired_key), (HOST + ".crt", expired_cert)]),
                ("key_mismatch", [(HOST + ".crt", other_cert)]),
                ("parse", [(HOST + ".crt", renewed_cert[:len(renewed_cert) // 3])]),
            )
            for reason, files in cases:
                with self.subTest(reason=reason):
                    before = self.refused(reason)
                    changed = time.monotonic()
                    for name, text in files:
                        put(self.certs, name, text)
                    self.wait_until(lambda: self.refused(reason) > before, timeout=CHANGE_TIMEOUT_S,
                                    what=f"a {reason} refusal")
                    time.sleep(SETTLE_S)
                    self.assertEqual(load.serials_started_after(changed), {renewed})
                    lines = [line for line in self.log_lines("certificate_refused")
                             if line["reason"] == reason and line["path"].endswith(HOST + ".crt")]
                    self.assertTrue(lines, f"no certificate_refused line for {reason}")
        finally:
            load.stop()

        self.assertEqual(load.failures, [])
        self.assertEqual(load.keep_alive_connections, KEEP_ALIVE_CLIENTS,
                         "a keep-alive connection was closed under the clients")
        # The load was real: enough of every kind of request to have crossed every change.
        self.assertGreater(load.requests["keep-alive"], 200, load.requests)
        self.assertGreater(load.requests["new"], 40, load.requests)
        self.assertGreater(load.requests["resumed"], 10, load.requests)
        resumed = [started for started, _, _, reused in load.handshakes if reused]
        self.assertGreater(len(resumed), 10, "sessions were not resumed")
        # Tickets outlive a certificate change (their keys belong to the listener).
        self.assertTrue(any(started > served for started in resumed), "no session resumed after the renewal")
        self.assertEqual(self.handshakes("failed"), failed_before)
        self.assertIsNone(self.proc.poll())
        loaded = [line for line in self.log_lines("certificate_loaded") if line["host"] == HOST]
        self.assertEqual(len(loaded), 2, loaded)


if __name__ == "__main__":
    unittest.main(verbosity=2)
