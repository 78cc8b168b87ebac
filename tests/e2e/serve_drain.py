"""SIGTERM under load and SIGHUP storms. Once a drain begins every answer says Connection: close
and its connection closes after it, so a busy keep-alive client never sends a request on a
connection the server is about to close; requests already received are answered, and the
process exits 0. A storm of SIGHUPs is coalesced into a few reloads and log lines."""
import os
import signal
import socket
import threading
import time
import unittest

from serve_fixture import ServeCase

CLIENTS = 4
REQUEST = b"GET /abc HTTP/1.1\r\nHost: x.example\r\n\r\n"


class KeepAliveClient(threading.Thread):
    """Sends requests back to back on one keep-alive connection until the server closes it or
    `stop` is set; records every response and how the connection ended."""

    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.responses = []   # (received at, status, headers, body complete)
        self.ending = None    # "closed after close", "closed after keep-alive", "incomplete", ...

    def run(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        buf = b""
        try:
            while not self.stop.is_set():
                try:
                    sock.sendall(REQUEST)
                except OSError:
                    self.ending = "send failed after " + self.last_kind()
                    return
                while b"\r\n\r\n" not in buf:
                    chunk = self.recv(sock)
                    if not chunk:
                        self.ending = ("incomplete" if buf else "closed after " + self.last_kind())
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers["content-length"])
                while len(buf) < length:
                    chunk = self.recv(sock)
                    if not chunk:
                        self.responses.append((time.monotonic(), int(lines[0].split()[1]), headers, False))
                        self.ending = "incomplete"
                        return
                    buf += chunk
                buf = buf[length:]
                self.responses.append((time.monotonic(), int(lines[0].split()[1]), headers, True))
                if headers.get("connection") == "close":
                    self.ending = "closed after close" if self.recv(sock) == b"" else "open after close"
                    return
            self.ending = "stopped"
        finally:
            sock.close()

    @staticmethod
    def recv(sock):
        try:
            return sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return b""

    def last_kind(self):
        if not self.responses:
            return "nothing"
        return "close" if self.responses[-1][2].get("connection") == "close" else "keep-alive"


class ServeDrain(ServeCase):

    def test_sigterm_under_keep_alive_load_loses_no_request(self):
        self.compile()
        proc, port, _ = self.serve("--drain-timeout", "5", "--max-requests", "1000000")
        stop = threading.Event()
        clients = [KeepAliveClient(port, stop) for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        time.sleep(1.0)
        for c in clients:
            self.assertGreater(len(c.responses), 10, "the clients are not getting answers")
        sigterm_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=10), 0)
        stop.set()
        for c in clients:
            c.join(timeout=10)
            self.assertFalse(c.is_alive())
        for i, c in enumerate(clients):
            with self.subTest(client=i):
                self.assertTrue(all(r[3] for r in c.responses), "an incomplete response")
                self.assertTrue(all(r[1] == 302 for r in c.responses))
                # Busy until the end: the connection's last answer came after SIGTERM, said
                # Connection: close, and the server closed it after that answer, not before
                # answering the request the client had sent next.
                self.assertGreater(c.responses[-1][0], sigterm_at)
                self.assertEqual(c.ending, "closed after close")
        self.assertEqual(len(self.log_lines("stopped")), 1)

    def test_sighup_storm_is_coalesced(self):
        self.compile()
        proc, _, _ = self.serve()
        before = self.get("/abc")
        # Paced a little, or the kernel merges most of them into one pending signal.
        for _ in range(500):
            os.kill(proc.pid, signal.SIGHUP)
            time.sleep(0.002)
        time.sleep(1.0)
        self.assertIsNone(proc.poll())
        after = self.get("/abc")
        self.assertEqual((after.status, after.headers["location"]),
                         (before.status, before.headers["location"]))
        reloads = self.log_lines("reload")
        self.assertGreaterEqual(len(reloads), 1)
        # One reload per second of storm at most, plus one for signals during its rescan.
        self.assertLessEqual(len(reloads), 4, f"{len(reloads)} reload lines for one storm")
        self.assertLessEqual(sum(r.get("signals", 1) for r in reloads), 500)
        self.assertEqual(self.stop(proc), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
