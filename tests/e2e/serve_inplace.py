"""shortlink serve against a publisher that changes served files in place: a destination
rewritten inside the live snapshot (same length), the file truncated, identical bytes copied
over it with a plain `cp`, an overlay and a patch truncated while in force. The server must
never crash (SIGBUS) and never answer from bytes that were not verified; a changed file is
judged as a new candidate, and a valid replacement written in place is served once verified."""
import os
import shutil
import signal
import subprocess
import time

import harness
from serve_fixture import ServeCase


class ServeInPlace(ServeCase):

    def start(self):
        self.snapshot = self.compile()
        self.serve("--rescan-interval", "0.2", threads=2)
        self.assertEqual(self.get("/abc").headers.get("location"), "https://dest.example/a")

    def rescan_and_settle(self):
        """Makes the server look at the directory now and gives it time to judge what it finds."""
        self.proc.send_signal(signal.SIGHUP)
        time.sleep(0.6)
        self.assertIsNone(self.proc.poll(), "server died")

    def refused(self):
        return sum(self.metric(f'shortlink_snapshot_refused_total{{reason="{r}"}}')
                   for r in ("signature", "corrupt", "io"))

    def test_destination_rewritten_in_place_is_never_served(self):
        self.start()
        with open(self.snapshot, "r+b") as f:
            data = f.read()
            at = data.index(b"https://dest.example/a")
            f.seek(at)
            f.write(b"https://evil.example/a")
        self.rescan_and_settle()
        for _ in range(20):
            self.assertEqual(self.get("/abc").headers.get("location"), "https://dest.example/a")
        with open(self.stderr_path) as f:
            self.assertIn('"event":"serving_file_changed"', f.read())
        # A restart does not trust the changed file either: it starts from the verified copy.
        self.assertEqual(self.stop(self.proc), 0)
        self.serve("--rescan-interval", "0.2", threads=1)
        self.assertEqual(self.get("/abc").headers.get("location"), "https://dest.example/a")
        self.assertGreaterEqual(self.refused(), 1)

    def test_truncated_served_file_does_not_kill_the_server(self):
        self.start()
        for size in (os.path.getsize(self.snapshot) // 2, 0):
            os.truncate(self.snapshot, size)
            self.rescan_and_settle()
            for code, dest in (("abc", "https://dest.example/a"), ("v", "https://dest.example/v/0")):
                self.assertEqual(self.get("/" + code).headers.get("location"), dest)
        self.assertEqual(self.readyz()[0], 200)

    def test_cp_of_identical_bytes_over_the_served_file(self):
        self.start()
        copy = os.path.join(self.tmp, "copy.slsnap")
        shutil.copyfile(self.snapshot, copy)
        for _ in range(5):
            # cp opens the target with O_TRUNC and writes it again: the file is empty for a moment.
            subprocess.run(["cp", copy, self.snapshot], check=True)
            self.assertEqual(self.get("/abc").headers.get("location"), "https://dest.example/a")
        self.rescan_and_settle()
        self.assertEqual(self.get("/abc").headers.get("location"), "https://dest.example/a")

    def test_valid_replacement_written_in_place_is_served(self):
        self.start()
        self.sl("edit", "abc", "--url", "https://dest.example/a2")
        staging = os.path.join(self.tmp, "staging")
        os.mkdir(staging)
        newer = self.compile(staging)
        # Written under its final name in pieces with pauses between them, as rsync --inplace
        # or a plain cp does: the half-written file is seen, refused, and judged again later.
        with open(newer, "rb") as f:
            data = f.read()
        with open(os.path.join(self.snaps, os.path.basename(newer)), "wb") as f:
            for i in range(0, len(data), 4096):
                f.write(data[i:i + 4096])
                f.flush()
                if i % (16 * 4096) == 0:
                    time.sleep(0.01)
                    self.assertIn(self.get("/abc").headers.get("location"),
                                  ("https://dest.example/a", "https://dest.example/a2"))
        self.wait_until(lambda: self.get("/abc").headers.get("location") == "https://dest.example/a2",
                        what="the replacement to be served")
        self.assertIsNone(self.proc.poll())

    def test_overlay_and_patch_changed_in_place(self):
        self.start()
        out = self.sl("block", "link", "abc", "--publish", self.snaps, "--key", self.key).stdout
        self.assertIn("deny-", out)
        self.wait_until(lambda: self.get("/abc").status == 410, what="the block")
        self.sl("edit", "v", "--url", "https://dest.example/v/1")
        patch = self.compile(None, None, "--patch")
        self.wait_until(lambda: self.get("/v").headers.get("location") == "https://dest.example/v/1",
                        what="the patch")
        overlay = [os.path.join(self.snaps, n) for n in os.listdir(self.snaps) if n.endswith(".sldeny")]
        self.assertEqual(len(overlay), 1)
        for path in (overlay[0], patch):
            os.truncate(path, 100)
        self.rescan_and_settle()
        for _ in range(10):
            self.assertEqual(self.get("/abc").status, 410)
            self.assertEqual(self.get("/v").headers.get("location"), "https://dest.example/v/1")
        # A restart with the published files damaged starts from the state directory's copies.
        self.assertEqual(self.stop(self.proc), 0)
        os.truncate(self.snapshot, 10)
        self.serve("--rescan-interval", "0.2", threads=1)
        self.assertEqual(self.get("/abc").status, 410)
        self.assertEqual(self.get("/v").headers.get("location"), "https://dest.example/v/1")
        self.assertEqual(self.get("/q").headers.get("location"), "https://dest.example/q?x=1")


if __name__ == "__main__":
    harness.main()
