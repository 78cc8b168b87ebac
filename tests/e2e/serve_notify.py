"""systemd readiness protocol (Type=notify): `shortlink serve` sends READY=1 once listening,
RELOADING=1 then READY=1 around a SIGHUP rescan, and STOPPING=1 on SIGTERM, to the datagram
socket named by $NOTIFY_SOCKET, as sd_notify(3) does under systemd."""
import os
import signal
import socket
import subprocess
import time
import unittest

import harness
from serve_fixture import ServeCase


class ServeNotify(ServeCase):
    def test_ready_reloading_stopping(self):
        self.compile()
        path = os.path.join(self.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10)
        self.addCleanup(sock.close)
        port, admin = harness.free_port(), harness.free_port()
        env = dict(os.environ, NOTIFY_SOCKET=path)
        with self.server_log() as err:
            proc = subprocess.Popen(
                [harness.BIN, "serve", "--snapshots", self.snaps, "--trust", self.pub,
                 "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}", "--threads", "1"],
                env=env, stdout=subprocess.DEVNULL, stderr=err)
        self.procs.append(proc)

        def next_message():
            return sock.recv(4096).decode()

        self.assertIn("READY=1", next_message())
        # READY=1 comes after the listeners are bound: a request must be answered now.
        self.port = port
        self.assertEqual(self.get("/abc").status, 302)
        proc.send_signal(signal.SIGHUP)
        self.assertIn("RELOADING=1", next_message())
        self.assertIn("READY=1", next_message())
        proc.send_signal(signal.SIGTERM)
        self.assertIn("STOPPING=1", next_message())
        self.assertEqual(proc.wait(timeout=15), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
