"""shortlink stats report renders in a real browser and says what `stats --json` says. Headless
Chromium loads the file with the network cut off (every host resolves nowhere), so a report that
needed anything beyond itself would show it; the DOM it rendered is parsed here and every number
of every section is compared with the query `stats --json` answers for the same question.

Needs the Debian package chromium (scripts/install-deps.sh installs it); without it the test is
skipped, unless SHORTLINK_DEPS_INSTALLED=1 says the suite's own install ran: then it fails."""
import html.parser
import json
import os
import shutil
import signal
import subprocess
import unittest

import harness
from stats_commands import gen

BROWSER_S = 60  # a cold start of Chromium on a busy two-core box takes seconds


class Cells(html.parser.HTMLParser):
    """Collects, per section id, the rows' data-key and their clicks/visitors cells, the summary
    cards, and every src/href and script element (there must be none that loads anything)."""

    def __init__(self):
        super().__init__()
        self.sections = {}
        self.cards = {}
        self.section = None
        self.row = None
        self.cell = None
        self.card = None
        self.scripts = 0
        self.references = []
        self.svg = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id")
            self.sections.setdefault(self.section, {})
        if tag == "tr" and "data-key" in a:
            self.row = a["data-key"]
            self.sections[self.section][self.row] = {}
        if tag == "td" and a.get("class") in ("clicks", "visitors"):
            self.cell = a["class"]
        if tag == "div" and a.get("class") == "value":
            self.card = a.get("data-key")
        if tag == "script":
            self.scripts += 1
        if tag == "svg":
            self.svg += 1
        for name in ("src", "href"):
            if name in a:
                self.references.append(a[name])

    def handle_endtag(self, tag):
        if tag == "tr":
            self.row = None
        if tag == "td":
            self.cell = None
        if tag == "div":
            self.card = None

    def handle_data(self, data):
        if self.row is not None and self.cell is not None and data.strip():
            self.sections[self.section][self.row][self.cell] = int(data)
        if self.card is not None and data.strip():
            self.cards[self.card] = int(data)


class StatsReportBrowser(harness.ShortlinkTestCase):

    def setUp(self):
        if shutil.which("chromium") is None:
            if os.environ.get("SHORTLINK_DEPS_INSTALLED") == "1":
                self.fail("missing Debian package chromium, although the suite's install ran")
            self.skipTest("needs the Debian package chromium (scripts/install-deps.sh installs it)")
        super().setUp()

    def dump_dom(self, path):
        """The DOM Chromium built from the file, with a profile of its own and no network."""
        profile = os.path.join(self.tmp, "profile")
        args = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--dump-dom", "file://" + path]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, env={**os.environ, "HOME": self.tmp})
        try:
            out, err = proc.communicate(timeout=BROWSER_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the browser and its helpers
            proc.communicate()
            raise AssertionError("chromium did not finish")
        self.assertEqual(proc.returncode, 0, err[-2000:])
        return out

    def test_report_renders_and_its_numbers_are_the_queries(self):
        clicks = os.path.join(self.tmp, "clicks")
        stats_db = os.path.join(self.tmp, "stats.db")
        gen(clicks, 5000, seed=3, extra=["--links", 200, "--days", 5, "--segment-events", 2000])
        self.sl("stats", "ingest", clicks, "--retain", "10000d", "--stats-db", stats_db)
        report = os.path.join(self.tmp, "report.html")
        self.sl("stats", "report", "--out", report, "--stats-db", stats_db)
        with open(report) as f:
            source = f.read()
        self.assertNotIn("<script", source)
        self.assertNotIn("http://", source)
        self.assertNotIn("https://", source)

        dom = Cells()
        dom.feed(self.dump_dom(report))
        self.assertEqual(dom.scripts, 0)
        self.assertEqual(dom.references, [])
        self.assertGreater(dom.svg, 10)

        def query(*args):
            return json.loads(self.sl("stats", "--stats-db", stats_db, "--json", *args).stdout)

        def rows(result):
            return {r["key"]: {"clicks": r["clicks"], "visitors": r["visitors"]} for r in result["rows"]}

        totals = query("--top", "10")
        self.assertEqual(dom.cards["clicks"], totals["clicks"])
        self.assertEqual(dom.cards["visitors"], totals["visitors"])
        self.assertEqual(dom.sections["links"], rows(totals))
        self.assertEqual(dom.sections["days"], rows(query("--by", "day")))
        self.assertEqual(dom.sections["countries"], rows(query("--by", "country")))
        self.assertEqual(dom.sections["devices"], rows(query("--by", "device")))
        self.assertEqual(dom.sections["referrers"], rows(query("--by", "referrer")))
        bots = query("--by", "bot", "--bots", "include", "--top", "100")
        self.assertEqual(dom.sections["bots"], rows(bots))
        self.assertEqual(dom.cards["bot-clicks"], bots["clicks"] - rows(bots)["person"]["clicks"])
        qr = query("--by", "qr")
        self.assertEqual(dom.sections["qr"], rows(qr))
        self.assertEqual(dom.cards["qr-clicks"], rows(qr)["qr"]["clicks"])
        orphans = query("--outcome", "miss", "--bots", "include")
        self.assertEqual(dom.sections["orphans"], rows(orphans))
        self.assertEqual(dom.cards["orphan-visits"], orphans["clicks"])
        self.assertGreater(len(dom.sections["links"]), 5)
        self.assertGreater(orphans["clicks"], 0)


if __name__ == "__main__":
    harness.main()
