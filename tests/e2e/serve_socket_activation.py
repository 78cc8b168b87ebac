"""End-to-end: `shortlink serve` started with listening sockets from a service manager, by
systemd's own systemd-socket-activate (Debian's systemd package): a plain, a TLS and the admin
listener named as a .socket unit's FileDescriptorName= names them, and what is refused: a passed
descriptor that is not a listening TCP socket, --listen beside passed sockets, a tls socket
without --certs."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from serve_fixture import ServeCase  # noqa: E402
from serve_tls import Pki, put  # noqa: E402


@unittest.skipUnless(shutil.which("systemd-socket-activate"), "needs systemd-socket-activate (systemd)")
class SocketActivation(ServeCase):

    def activate(self, sockets, *extra):
        """systemd-socket-activate listening on `sockets` [(name, port)], then exec'ing serve on
        the first connection. Returns the process."""
        args = ["systemd-socket-activate"]
        for _, port in sockets:
            args += ["-l", f"127.0.0.1:{port}"]
        args += ["--fdname=" + ":".join(name for name, _ in sockets)]
        args += [harness.BIN, "serve", "--snapshots", self.snaps, "--trust", self.pub,
                 "--state-dir", os.path.join(self.tmp, "state"), *extra]
        err = self.server_log()
        self.stderr_path = err.name
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        self.procs.append(proc)
        for _, port in sockets:
            self.assertTrue(harness.wait_for_port(port), "systemd-socket-activate did not listen")
        self.proc = proc
        return proc

    def test_plain_tls_and_admin_sockets(self):
        self.compile()
        pki = Pki(os.path.join(self.tmp, "pki"))
        certs = os.path.join(self.tmp, "certs")
        os.mkdir(certs)
        cert, key = pki.leaf("go", ["go.example.com"])
        put(certs, "go.example.com.pem", cert + key)
        web, tls, admin = harness.free_port(), harness.free_port(), harness.free_port()
        proc = self.activate([("web", web), ("tls", tls), ("admin", admin)], "--certs", certs)
        self.port, self.admin_port = web, admin
        # The first connection makes systemd-socket-activate exec the server; it is answered.
        self.assertEqual(self.get("/abc").status, 302)
        self.assertEqual(self.readyz()[0], 200)
        ctx = ssl.create_default_context(cafile=pki.root)
        with socket.create_connection(("127.0.0.1", tls), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="go.example.com") as s:
                s.sendall(b"GET /docs HTTP/1.1\r\nHost: go.example.com\r\nConnection: close\r\n\r\n")
                self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 301"))
        inherited = [line for line in self.log_lines("listening") if line.get("inherited")]
        self.assertEqual(sorted((line["port"], line["tls"]) for line in inherited), sorted([(web, False), (tls, True)]))
        self.assertEqual(self.stop(proc), 0)

    def test_refusals(self):
        self.compile()
        cases = [
            # A descriptor that is not a socket.
            (["sh", "-c", f'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" 3<{self.pub}', harness.BIN, "serve",
              "--snapshots", self.snaps, "--trust", self.pub], "descriptor 3 is not a listening TCP socket"),
        ]
        for args, message in cases:
            p = subprocess.run(args, capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(message, p.stderr)
        for extra, message in ((["--listen", "127.0.0.1:1"], "--listen 127.0.0.1:1: the service manager passed listening sockets, and none"),
                               ([], "a socket named tls needs --certs")):
            port = harness.free_port()
            names = "web" if extra else "tls"
            p = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", f"--fdname={names}",
                                  harness.BIN, "serve", "--snapshots", self.snaps, "--trust", self.pub, *extra],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                self.assertTrue(harness.wait_for_port(port))
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    pass
                _, err = p.communicate(timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            self.assertEqual(p.returncode, 2, err)
            self.assertIn(message, err)


if __name__ == "__main__":
    harness.main()
