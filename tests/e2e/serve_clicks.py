"""`serve --clicks` through a real server: a known mix of people, bots, HEADs, previews, QR
scans and misses gives exactly the expected counts after `stats ingest`; `kill -9` loses at most
the unflushed tail and the next start seals what it left; a full disk drops events and counts
them while every request is still answered; bad options are refused with their exit code."""
import json
import os
import signal
import subprocess
import time

import harness
from serve_fixture import Client, ServeCase

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Mobile Safari/537.36")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
FACEBOOK = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
SLACK = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
CURL = "curl/8.5.0"


class ServeClicks(ServeCase):

    def setUp(self):
        super().setUp()
        self.clicks = os.path.join(self.tmp, "clicks")
        os.mkdir(self.clicks)
        self.stats_db = os.path.join(self.tmp, "stats.db")
        self.compile()

    def send(self, target, ua=None, method="GET", host="x.example", extra=()):
        headers = [f"Host: {host}"] + ([f"User-Agent: {ua}"] if ua else []) + list(extra)
        with Client(self.port) as c:
            c.send(("\r\n".join([f"{method} {target} HTTP/1.1", *headers, "", ""])).encode())
            return c.response(head=(method == "HEAD")).status

    def ingest(self, expect=0):
        proc = self.sl("stats", "ingest", self.clicks, "--stats-db", self.stats_db, "--json", expect=expect)
        return json.loads(proc.stdout)

    def by(self, *args):
        out = json.loads(self.sl("stats", "--stats-db", self.stats_db, "--json", *args).stdout)
        return {r["key"]: r["clicks"] for r in out["rows"]}

    def test_a_known_mix_is_counted_exactly(self):
        self.serve("--clicks", self.clicks)
        # People: three browsers, each its own visitor, a few clicks each (never ten a minute).
        people = 0
        for ua, n in ((CHROME, 4), (IPHONE, 3), (ANDROID, 2)):
            for _ in range(n):
                self.assertEqual(self.send("/abc", ua), 302)
                people += 1
        for _ in range(2):
            self.assertEqual(self.send("/abc?sl_qr=1", IPHONE), 302)  # QR scans, marker stripped
            people += 1
        self.assertEqual(self.send("/typo-on-the-poster", CHROME), 404)  # an orphan visit
        people += 1
        # Bots, each with the reason it is known by.
        counts = {"head": 0, "prefetch": 0, "preview": 0, "crawler": 0, "unfurler": 0,
                  "library": 0, "no_user_agent": 0, "repeat": 0}
        for _ in range(3):
            self.assertEqual(self.send("/abc", CHROME, method="HEAD"), 302)
            counts["head"] += 1
        self.assertEqual(self.send("/abc", CHROME, extra=["Sec-Purpose: prefetch;prerender"]), 302)
        counts["prefetch"] += 1
        self.assertEqual(self.send("/abc", IPHONE, extra=["Purpose: preview"]), 302)
        counts["preview"] += 1
        self.assertEqual(self.send("/abc", GOOGLEBOT), 302)
        counts["crawler"] += 1
        for ua in (FACEBOOK, SLACK):
            self.assertEqual(self.send("/abc", ua), 302)
            counts["unfurler"] += 1
        self.assertEqual(self.send("/abc", CURL), 302)
        counts["library"] += 1
        self.assertEqual(self.send("/abc"), 302)
        counts["no_user_agent"] += 1
        # One visitor asking for one link 14 times in a minute: ten clicks, then four repeats.
        repeat_ua = CHROME + " repeat-test"
        for _ in range(14):
            self.assertEqual(self.send("/q", repeat_ua), 307)
        people += 10
        counts["repeat"] += 4

        proc = self.proc
        self.assertEqual(self.stop(proc), 0)
        summary = self.ingest()
        total = people + sum(counts.values())
        self.assertEqual(summary["events"], total)

        self.assertEqual(self.by("--bots", "only", "--by", "bot", "--outcome", "all"),
                         {k: v for k, v in counts.items() if v})
        everything = json.loads(self.sl("stats", "--stats-db", self.stats_db, "--json",
                                        "--outcome", "all").stdout)
        self.assertEqual(everything["clicks"], people)  # bots excluded by default
        self.assertEqual(self.by("abc", "--by", "qr"), {"qr": 2, "other": 4 + 3 + 2})
        self.assertEqual(self.by("abc", "--by", "os"), {"windows": 4, "ios": 5, "android": 2})
        self.assertEqual(self.by("abc", "--by", "device"), {"desktop": 4, "mobile": 7})
        abc = json.loads(self.sl("stats", "abc", "--stats-db", self.stats_db, "--json", "--unique").stdout)
        self.assertEqual(abc["visitors"], 3)
        orphans = json.loads(self.sl("stats", "--stats-db", self.stats_db, "--json",
                                     "--outcome", "miss").stdout)
        self.assertEqual([(r["code"], r["clicks"]) for r in orphans["rows"]], [("typo-on-the-poster", 1)])

        # No client address anywhere on disk, in any form the test can spell.
        for name in os.listdir(self.clicks):
            with open(os.path.join(self.clicks, name), "rb") as f:
                data = f.read()
            self.assertNotIn(b"127.0.0.1", data, name)
        with open(self.stats_db, "rb") as f:
            self.assertNotIn(b"127.0.0.1", f.read())

    def test_kill_9_loses_at_most_the_unflushed_tail(self):
        proc, _, _ = self.serve("--clicks", self.clicks)
        for _ in range(40):
            self.assertEqual(self.send("/abc", CHROME), 302)
        # A block is appended at least every second: wait for it, then die without warning.
        self.wait_until(lambda: self.metric("shortlink_clicks_recorded_total") >= 40, timeout=10,
                        what="the first block")
        for _ in range(5):
            self.assertEqual(self.send("/abc", IPHONE), 302)  # the tail that may be lost
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        parts = [n for n in os.listdir(self.clicks) if n.endswith(".part")]
        self.assertEqual(len(parts), 1, os.listdir(self.clicks))

        # Ingest reads the dead server's .part up to its last complete block.
        first = self.ingest()
        self.assertGreaterEqual(first["events"], 40)
        self.assertLessEqual(first["events"], 45)

        # The next start seals it; nothing is counted twice.
        self.serve("--clicks", self.clicks)
        self.assertEqual(len(self.log_lines("click_segment_recovered")), 1)
        self.assertEqual([n for n in os.listdir(self.clicks) if n.endswith(".part")], [])
        self.assertEqual(self.send("/abc", ANDROID), 302)
        self.assertEqual(self.stop(self.proc), 0)
        second = self.ingest()
        self.assertEqual(second["events"], 1)
        # Bots included: one visitor asking 40 times a minute is mostly `repeat`.
        everything = json.loads(self.sl("stats", "--stats-db", self.stats_db, "--json",
                                        "--outcome", "all", "--bots", "include").stdout)
        self.assertEqual(everything["clicks"], first["events"] + 1)

    def test_a_full_disk_drops_events_never_answers(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root")
        small = os.path.join(self.tmp, "small")
        os.mkdir(small)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", small],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + mounted.stderr.strip())
        try:
            # Fill it so that the first segment cannot be written at all.
            with open(os.path.join(small, "filler"), "wb") as f:
                try:
                    f.write(b"\0" * (64 << 10))
                except OSError:
                    pass
            self.serve("--clicks", small)
            for _ in range(50):
                self.assertEqual(self.send("/abc", CHROME), 302)
            self.wait_until(lambda: self.metric('shortlink_clicks_dropped_total{reason="write_error"}') >= 50,
                            timeout=10, what="the dropped events to be counted")
            self.assertGreaterEqual(self.metric("shortlink_click_write_errors_total"), 1)
            self.assertEqual(self.metric("shortlink_clicks_recorded_total"), 0)
            # Room again: recording resumes by itself.
            os.unlink(os.path.join(small, "filler"))
            time.sleep(5.5)  # the writer waits five seconds after a failure before retrying
            for _ in range(3):
                self.assertEqual(self.send("/abc", CHROME), 302)
            self.wait_until(lambda: self.metric("shortlink_clicks_recorded_total") >= 3, timeout=10,
                            what="recording to resume")
            self.assertEqual(self.stop(self.proc), 0)
        finally:
            for proc in self.procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
            subprocess.run(["umount", small], capture_output=True)

    def test_bad_click_options_are_refused(self):
        base = ["serve", "--snapshots", self.snaps, "--trust", self.pub, "--listen",
                f"127.0.0.1:{harness.free_port()}", "--admin", "none", "--state-dir", "none"]
        missing = self.sl(*base, "--clicks", os.path.join(self.tmp, "nope"), expect=3)
        self.assertIn("--clicks: '", missing.stderr)
        self.assertIn("is not a directory", missing.stderr)
        for args, message in (
                (["--clicks-networks"], "--clicks-networks is only used with --clicks DIR"),
                (["--country-header", "User-Agent"], "is a standard HTTP header"),
                (["--country-header", "CF IPCountry"], "is not a header name"),
                (["--clicks", self.clicks, "--country-header", "CF IPCountry"], "is not a header name"),
                (["--clicks", self.clicks, "--clicks-buffer", "100"], "--clicks-buffer"),
                (["--clicks", self.clicks, "--clicks-segment-age", "0"], "--clicks-segment-age")):
            with self.subTest(args=args):
                self.assertIn(message, self.sl(*base, *args, expect=2).stderr)
        # One server per directory: the second stops at start and says why.
        self.serve("--clicks", self.clicks)
        second = self.sl(*base, "--clicks", self.clicks, expect=4)
        self.assertIn("another server records clicks in this directory", second.stderr)
        self.assertEqual(self.send("/abc", CHROME), 302)


if __name__ == "__main__":
    harness.main()
