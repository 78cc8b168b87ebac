"""shortlink stats against segments written by gen_clicks (bench/stats/gen_clicks.cpp): ingest
counts every event once however often it runs, reads a .part up to its last whole block and
continues after it grows and is sealed, reports a damaged segment precisely and ingests the
others (exit 5); the numbers equal those counted here from the generator's own record of every
event; retention prunes raw events while rollups keep answering; export writes every raw event
with the documented columns; hostile input gets a precise message and exit code."""
import csv
import io
import json
import os
import shutil
import subprocess
import time
import unittest
from collections import defaultdict

import harness

GEN = os.environ.get("SHORTLINK_GEN_CLICKS", "build/tests/gen_clicks")
DAY_MS = 86_400_000
START_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z
REDIRECT, MISS, PASSWORD_OK = 0, 2, 14
EXPORT_COLUMNS = ["time", "time_ms", "domain", "code", "outcome", "status", "method", "rule", "device", "os",
                  "browser", "bot", "is_bot", "qr", "tls", "country", "referrer", "network", "serial", "visitor"]


def gen(out, events, seed=1, extra=(), truth=None):
    os.makedirs(out, exist_ok=True)
    args = [GEN, "--out", out, "--events", str(events), "--seed", str(seed), *map(str, extra)]
    if truth:
        args += ["--truth", truth]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def read_truth(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def counts(events, by=lambda e: e["domain"] + "/" + e["code"], outcomes=(REDIRECT, PASSWORD_OK), bots="exclude"):
    """Clicks and visitors per group as `stats` defines them: a visitor once per day, link, outcome,
    person/bot class and group value."""
    clicks = defaultdict(int)
    seen = set()
    visitors = defaultdict(int)
    for e in events:
        is_bot = e["bot"] != 0
        if (bots == "exclude" and is_bot) or (bots == "only" and not is_bot):
            continue
        if outcomes is not None and e["outcome"] not in outcomes:
            continue
        key = by(e)
        clicks[key] += 1
        unique = (e["time_ms"] // DAY_MS, e["domain"], e["code"], e["outcome"], is_bot, key, e["visitor"])
        if unique not in seen:
            seen.add(unique)
            visitors[key] += 1
    return clicks, visitors


def segments(directory):
    return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.startswith("clicks-"))


def block_offsets(path):
    """Byte offsets of every block of a segment (SPEC.md: 64-byte header, 24-byte block headers)."""
    with open(path, "rb") as f:
        data = f.read()
    offsets, at = [], 64
    while at + 24 <= len(data) and data[at:at + 4] == b"SLCB":
        offsets.append(at)
        at += 24 + int.from_bytes(data[at + 4:at + 8], "little")
    return offsets, data


class StatsCommands(harness.ShortlinkTestCase):

    def setUp(self):
        super().setUp()
        self.clicks = os.path.join(self.tmp, "clicks")
        self.stats_db = os.path.join(self.tmp, "analytics.db")

    def stats(self, *args, expect=0):
        return self.sl("stats", *args, "--stats-db", self.stats_db, expect=expect)

    def query(self, *args):
        return json.loads(self.stats(*args, "--json").stdout)

    def ingest(self, *args, expect=0):
        proc = self.stats("ingest", self.clicks, "--retain", "10000d", "--json", *args, expect=expect)
        return json.loads(proc.stdout), proc

    def test_numbers_equal_the_events_and_ingest_twice_counts_once(self):
        truth = os.path.join(self.tmp, "truth.jsonl")
        gen(self.clicks, 6000, seed=7, extra=["--links", 300, "--days", 4, "--segment-events", 1500,
                                              "--block-events", 200], truth=truth)
        events = read_truth(truth)
        first, _ = self.ingest()
        self.assertEqual((first["segments"], first["segments_complete"], first["events"]), (4, 4, 6000))
        again, _ = self.ingest()
        self.assertEqual((again["events"], again["segments_read"]), (0, 0))
        # The database next to the links database when --stats-db is not given.
        proc = self.sl("stats", "--top", "1", "--json", expect=None)
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("no stats database at " + os.path.join(self.tmp, "stats.db"), proc.stderr)

        clicks, visitors = counts(events)
        top = self.query("--top", "5")
        self.assertEqual(top["clicks"], sum(clicks.values()))
        self.assertEqual(top["visitors"], sum(visitors.values()))
        self.assertEqual(top["groups"], len(clicks))
        self.assertEqual(len(top["rows"]), 5)
        for row in top["rows"]:
            self.assertEqual(row["clicks"], clicks[row["key"]], row["key"])
            self.assertEqual(row["visitors"], visitors[row["key"]], row["key"])
        self.assertEqual([r["clicks"] for r in top["rows"]], sorted(clicks.values(), reverse=True)[:5])

        one = top["rows"][0]
        single = self.query(one["code"], "--domain", one["domain"])
        self.assertEqual((single["clicks"], single["visitors"]), (one["clicks"], one["visitors"]))

        days, day_visitors = counts(events, by=lambda e: time.strftime("%Y-%m-%d", time.gmtime(e["time_ms"] // 1000)))
        series = self.query("--by", "day", "--bots", "include", "--outcome", "all")
        all_days, _ = counts(events, by=lambda e: time.strftime("%Y-%m-%d", time.gmtime(e["time_ms"] // 1000)),
                             outcomes=None, bots="include")
        self.assertEqual({r["key"]: r["clicks"] for r in series["rows"]}, dict(all_days))
        people = self.query("--by", "day")
        self.assertEqual({r["key"]: (r["clicks"], r["visitors"]) for r in people["rows"]},
                         {k: (days[k], day_visitors[k]) for k in days})

        countries, country_visitors = counts(events, by=lambda e: e["country"])
        by_country = self.query("--by", "country", "--top", "100")
        self.assertEqual({r["key"]: (r["clicks"], r["visitors"]) for r in by_country["rows"]},
                         {k: (countries[k], country_visitors[k]) for k in countries})

        # Orphan visits: the codes nobody made, bots included.
        misses, _ = counts(events, outcomes=(MISS,), bots="include")
        orphans = self.query("--outcome", "miss", "--bots", "include", "--top", "3")
        self.assertEqual(orphans["clicks"], sum(misses.values()))
        self.assertEqual([r["clicks"] for r in orphans["rows"]], sorted(misses.values(), reverse=True)[:3])

        bots, _ = counts(events, by=lambda e: e["bot"], bots="only")
        self.assertEqual(self.query("--bots", "only")["clicks"], sum(bots.values()))

        csv_rows = list(csv.reader(io.StringIO(self.stats("--by", "device", "--format", "csv", "--unique").stdout)))
        self.assertEqual(csv_rows[0], ["device", "clicks", "visitors"])
        self.assertEqual(sum(int(r[1]) for r in csv_rows[1:]), sum(clicks.values()))

        table = self.stats("--by", "referrer").stdout
        self.assertIn("(none)", table)
        self.assertIn("REFERRER", table)

    def test_part_is_read_to_its_last_block_and_continues_after_it_grows(self):
        gen(self.clicks, 3000, extra=["--segment-events", 1000, "--block-events", 100, "--part"])
        part = [p for p in segments(self.clicks) if p.endswith(".part")]
        self.assertEqual(len(part), 1)
        offsets, data = block_offsets(part[0])
        self.assertEqual(len(offsets), 10)
        # Cut in the middle of the fourth block's payload: three whole blocks so far.
        with open(part[0], "wb") as f:
            f.write(data[:offsets[3] + 40])
        report, proc = self.ingest()
        self.assertEqual((report["events"], report["segments_waiting"], report["problems"]), (2300, 1, []))
        self.assertEqual(proc.stderr, "")
        # Grown: the rest of the blocks, still unsealed.
        with open(part[0], "wb") as f:
            f.write(data)
        report, _ = self.ingest()
        self.assertEqual(report["events"], 700)
        self.assertEqual(self.query("--bots", "include", "--outcome", "all")["clicks"], 3000)
        # Sealed and renamed: nothing new, the segment is complete.
        sealed = subprocess.run([GEN, "--seal", part[0]], capture_output=True, text=True, timeout=30)
        self.assertEqual(sealed.returncode, 0, sealed.stderr)
        self.assertFalse(os.path.exists(part[0]))
        report, _ = self.ingest()
        self.assertEqual((report["events"], report["segments_complete"], report["segments_waiting"]), (0, 3, 0))
        self.assertEqual(self.query("--bots", "include", "--outcome", "all")["clicks"], 3000)

    def test_damaged_segment_is_reported_and_the_others_ingested(self):
        truth = os.path.join(self.tmp, "truth.jsonl")
        gen(self.clicks, 3000, extra=["--segment-events", 1000, "--block-events", 100], truth=truth)
        paths = segments(self.clicks)
        self.assertEqual(len(paths), 3)
        offsets, data = block_offsets(paths[1])
        damaged = bytearray(data)
        damaged[offsets[4] + 24 + 10] ^= 0x20  # a byte of the fifth block's payload
        with open(paths[1], "wb") as f:
            f.write(damaged)
        # Hostile neighbours: not a segment, an empty file, a damaged header.
        junk = os.path.join(self.clicks, "clicks-20251201T000000Z-0123456789abcdef0123456789abcdef.slclicks")
        with open(junk, "w") as f:
            f.write("not a segment at all, but long enough to hold a header of sixty-four bytes.")
        empty = os.path.join(self.clicks, "clicks-20251201T000000Z-00000000000000000000000000000000.slclicks")
        open(empty, "w").close()
        header = bytearray(data)
        header[20] ^= 1
        bad_header = os.path.join(self.clicks, "clicks-20251201T000001Z-11111111111111111111111111111111.slclicks")
        with open(bad_header, "wb") as f:
            f.write(header)

        for _ in range(2):
            report, proc = self.ingest(expect=5)
            self.assertIn(f"{paths[1]}: at byte {offsets[4]} (block 5): block check mismatch", proc.stderr)
            self.assertIn(f"{junk}: not a click segment (bad magic)", proc.stderr)
            self.assertIn(f"{empty}: not a click segment: 0 bytes", proc.stderr)
            self.assertIn(f"{bad_header}: header check mismatch", proc.stderr)
            self.assertIn("4 damaged segment(s)", proc.stderr)
            self.assertEqual(len(report["problems"]), 4)
        events = read_truth(truth)
        kept = [e for i, e in enumerate(events) if not (1000 + 400 <= i < 2000)]
        all_clicks = self.query("--bots", "include", "--outcome", "all")
        self.assertEqual(all_clicks["clicks"], len(kept))
        clicks, _ = counts(kept)
        self.assertEqual(self.query()["clicks"], sum(clicks.values()))

    def test_retention_prunes_raw_events_and_keeps_rollups(self):
        # Three days of events ending three hours ago: all of them older than --retain 1h.
        start = int(time.time() * 1000) - 3 * DAY_MS - 3 * 3_600_000
        gen(self.clicks, 4000, extra=["--start", start, "--days", 3, "--segment-events", 1000])
        self.ingest()
        before = self.query("--by", "day", "--unique")
        first_day = time.strftime("%Y-%m-%d", time.gmtime(start // 1000))
        hours = self.query("--by", "hour", "--since", first_day)
        self.assertEqual(hours["clicks"], before["clicks"])
        countries = self.query("--by", "country", "--top", "50")

        proc = self.stats("ingest", self.clicks, "--retain", "1h", "--json")
        pruned = json.loads(proc.stdout)
        self.assertEqual(pruned["pruned_events"], 4000)
        self.assertEqual(self.query("--by", "day", "--unique")["rows"], before["rows"])
        self.assertEqual(self.query("--by", "country", "--top", "50")["rows"], countries["rows"])
        refused = self.stats("--by", "hour", "--since", first_day, expect=2)
        self.assertIn("--by hour reads raw events", refused.stderr)
        self.assertIn("give --since " + pruned["raw_since"], refused.stderr)
        partial = self.stats("--since", "60h", expect=2)
        self.assertIn("not at midnight UTC", partial.stderr)
        self.assertEqual(self.stats("export").stdout, "")

    def test_export_writes_every_raw_event(self):
        truth = os.path.join(self.tmp, "truth.jsonl")
        gen(self.clicks, 500, extra=["--segment-events", 200], truth=truth)
        self.ingest()
        events = read_truth(truth)
        lines = self.stats("export").stdout.splitlines()
        self.assertEqual(len(lines), 500)
        rows = [json.loads(line) for line in lines]
        self.assertEqual(list(rows[0].keys()), EXPORT_COLUMNS)
        by_key = {(e["time_ms"], format(int(e["visitor"]), "016x")): e for e in events}
        for row in rows:
            e = by_key[(row["time_ms"], row["visitor"])]
            self.assertEqual((row["domain"], row["code"], row["country"], row["referrer"]),
                             (e["domain"], e["code"], e["country"], e["referrer"]))
            self.assertEqual(row["is_bot"], e["bot"] != 0)
            self.assertEqual(row["qr"], e["flags"] & 1 == 1)
            self.assertEqual(row["status"], e["status"])
            self.assertTrue(row["time"].endswith("Z") and len(row["time"]) == 24, row["time"])
        out = os.path.join(self.tmp, "clicks.csv")
        first_day = time.strftime("%Y-%m-%d", time.gmtime(events[0]["time_ms"] // 1000))
        self.stats("export", "--format", "csv", "--out", out, "--until", first_day)
        with open(out, newline="") as f:
            table = list(csv.reader(f))
        self.assertEqual(table[0], EXPORT_COLUMNS)
        first_day_events = [e for e in events if e["time_ms"] < (events[0]["time_ms"] // DAY_MS + 1) * DAY_MS]
        self.assertEqual(len(table) - 1, len(first_day_events))
        self.assertTrue(all(r[12] in ("true", "false") for r in table[1:]))

    def test_hostile_input(self):
        gen(self.clicks, 200)
        missing = os.path.join(self.tmp, "nope")
        proc = self.stats("ingest", missing, expect=3)
        self.assertIn(f"click directory {missing} does not exist", proc.stderr)
        self.assertFalse(os.path.exists(self.stats_db))
        afile = os.path.join(self.tmp, "afile")
        open(afile, "w").close()
        self.assertIn("is not a directory", self.stats("ingest", afile, expect=2).stderr)
        self.assertIn("no stats database", self.stats(expect=3).stderr)
        self.assertIn("--retain", self.stats("ingest", self.clicks, "--retain", "5m", expect=2).stderr)
        self.assertFalse(os.path.exists(self.stats_db))

        with open(self.stats_db, "w") as f:
            f.write("a text file, not SQLite")
        proc = self.stats("ingest", self.clicks, expect=2)
        self.assertIn(f"not a shortlink stats database: {self.stats_db} (not an SQLite database)", proc.stderr)
        with open(self.stats_db) as f:
            self.assertEqual(f.read(), "a text file, not SQLite")
        self.sl("init")
        proc = self.sl("stats", "ingest", self.clicks, "--stats-db", self.db, expect=2)
        self.assertIn("it is a shortlink links database", proc.stderr)
        os.remove(self.stats_db)

        self.ingest()
        for top in ("0", "-1", "99999999999999999999999", "ten"):
            proc = self.stats("--top", top, expect=2)
            self.assertIn("--top", proc.stderr)
        self.assertEqual(len(self.query("--top", "9223372036854775807")["rows"]), self.query()["groups"])
        for since in ("yesterday", "2025-13-01", "2025-12-01T00:00:00", "-3d"):
            self.assertIn("--since", self.stats("--since", since, expect=2).stderr)
        self.assertIn("is not before --until", self.stats("--since", "2025-12-02", "--until", "2025-12-01",
                                                         expect=2).stderr)
        self.assertIn("unknown grouping", self.stats("--by", "week", expect=2).stderr)
        self.assertIn("unknown outcome 'mis'", self.stats("--outcome", "redirect,mis", expect=2).stderr)
        self.assertIn("does not apply to a series", self.stats("--by", "day", "--top", "3", expect=2).stderr)
        self.stats("--bots", "sometimes", expect=2)
        self.stats("export", "--format", "parquet", expect=2)

    @unittest.skipIf(os.geteuid() == 0, "root reads files whatever their mode")
    def test_unreadable_segment_exits_1_after_the_others(self):
        gen(self.clicks, 300, extra=["--segment-events", 100])
        locked = segments(self.clicks)[1]
        os.chmod(locked, 0)
        report, proc = self.ingest(expect=1)
        self.assertEqual(report["events"], 200)
        self.assertIn("unreadable segment", proc.stderr)
        os.chmod(locked, 0o644)
        report, _ = self.ingest()
        self.assertEqual(report["events"], 100)


if __name__ == "__main__":
    harness.main()
