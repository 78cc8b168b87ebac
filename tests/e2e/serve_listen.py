"""A server owns its listen addresses: a second `shortlink serve` on an address another server
listens on (public or admin, with or without SO_REUSEPORT) fails at start with exit status 4 and
says which address is taken, instead of joining the SO_REUSEPORT group and taking half the
traffic. A restart right after a server closed connections (TIME_WAIT) still binds."""
import os
import socket
import subprocess
import unittest

import harness
from serve_fixture import Client, ServeCase

H = b"Host: x.example\r\n"


def serve_args(case, port, admin):
    return [harness.BIN, "serve", "--snapshots", case.snaps, "--trust", case.pub,
            "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}", "--threads", "2",
            "--state-dir", os.path.join(case.tmp, "state-second")]


class ServeListen(ServeCase):

    def start_second(self, port, admin):
        """Runs a second server that must fail at once: (exit status, stderr)."""
        try:
            proc = subprocess.run(serve_args(self, port, admin), capture_output=True, text=True,
                                  timeout=5)
        except subprocess.TimeoutExpired:
            self.fail("the second server started on a taken address")
        return proc.returncode, proc.stderr

    def test_second_server_on_the_same_listen_address_fails(self):
        self.compile()
        self.serve()
        status, err = self.start_second(self.port, harness.free_port())
        self.assertEqual(status, 4, err)
        self.assertIn(f"address already in use: 127.0.0.1:{self.port} (another server is listening)", err)
        # The first server still gets every connection.
        for _ in range(20):
            self.assertEqual(self.get("/abc").status, 302)

    def test_second_server_on_the_same_admin_address_fails(self):
        self.compile()
        self.serve()
        free = harness.free_port()
        status, err = self.start_second(free, self.admin_port)
        self.assertEqual(status, 4, err)
        self.assertIn(f"admin address already in use: 127.0.0.1:{self.admin_port}", err)
        # It gave up before listening on its free public port.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", free), timeout=1).close()

    def test_foreign_listeners_are_refused(self):
        self.compile()
        for reuse_port in (False, True):
            with self.subTest(reuse_port=reuse_port):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
                    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if reuse_port:
                        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    other.bind(("127.0.0.1", 0))
                    other.listen(16)
                    port = other.getsockname()[1]
                    status, err = self.start_second(port, harness.free_port())
                    self.assertEqual(status, 4, err)
                    self.assertIn(f"address already in use: 127.0.0.1:{port}", err)

    def test_restart_binds_despite_time_wait(self):
        self.compile()
        proc, port, admin = self.serve()
        for _ in range(10):
            with Client(port) as c:
                # The server closes first, so its side of each connection sits in TIME_WAIT.
                c.send(b"GET /abc HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
                self.assertEqual(c.response().status, 302)
                self.assertTrue(c.closed())
        self.assertEqual(self.stop(proc), 0)
        second = subprocess.Popen(serve_args(self, port, admin), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.procs.append(second)
        self.assertTrue(harness.wait_for_port(port), "the restarted server did not listen")
        self.assertIsNone(second.poll())
        self.assertEqual(self.get("/abc").status, 302)
        self.assertEqual(self.stop(second), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
