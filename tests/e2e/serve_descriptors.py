"""Descriptor exhaustion is a normal event: with more idle connections than RLIMIT_NOFILE lets
the server accept, accept() fails with EMFILE. The server pauses accepting (instead of retrying
at once on both cores), logs a bounded number of lines, counts the failures in /metrics by errno
(the admin listener's too),
says at start that --max-connections does not fit, and answers again by itself once the idle
connections close."""
import resource
import socket
import time
import unittest

from serve_fixture import ServeCase

NOFILE = 64
IDLE = 120


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


class ServeDescriptors(ServeCase):

    def test_descriptor_exhaustion_pauses_accepting_and_recovers(self):
        self.compile()
        proc, port, _ = self.serve("--max-connections", "1000", preexec_fn=low_nofile)
        self.assertEqual(self.get("/abc").status, 302)
        warned = self.log_lines("descriptor_limit")
        self.assertEqual(len(warned), 1, "no warning that --max-connections cannot fit")
        self.assertEqual(warned[0]["nofile"], NOFILE)
        self.assertLess(warned[0]["connections_that_fit"], 1000)

        idle = []
        try:
            for _ in range(IDLE):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(0.5)  # the server runs out of descriptors
            # The admin listener cannot accept either; it pauses the same way.
            idle.append(socket.create_connection(("127.0.0.1", self.admin_port), timeout=5))
            before = self.cpu_seconds(proc)
            time.sleep(3.0)
            used = self.cpu_seconds(proc) - before
            # Retrying accept() at once keeps both request threads busy: about 6 s in 3 s.
            self.assertLess(used, 0.3, f"{used:.2f} s of CPU in 3 s while out of descriptors")
            self.assertIsNone(proc.poll())
        finally:
            for s in idle:
                s.close()

        # Once the idle connections are gone, requests are answered again without help.
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            try:
                status = self.get("/abc").status
                break
            except OSError:
                time.sleep(0.1)
        self.assertEqual(status, 302)
        self.assertGreater(self.metric('shortlink_accept_errors_total{errno="EMFILE"}'), 0)
        failed = self.log_lines("accept_failed")
        self.assertGreater(len(failed), 0)
        # At most one line per listener per 5 s (two request threads, the admin listener).
        self.assertLessEqual(len(failed), 9, f"{len(failed)} accept_failed lines")
        self.assertGreater(sum(line["failures"] for line in failed), len(failed) - 1)
        self.assertEqual(failed[0]["errno"], "EMFILE")
        self.assertIn("admin", {line["listener"] for line in failed})
        # Every failure a line reports is counted, the admin listener's too.
        counted = sum(self.metric(f'shortlink_accept_errors_total{{errno="{e}"}}')
                      for e in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM", "other"))
        self.assertGreaterEqual(counted, sum(line["failures"] for line in failed))
        self.assertEqual(self.stop(proc), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
