"""From a real server to `shortlink stats`: `serve --clicks DIR` records the requests sent here,
`stats ingest` reads the live .part while the server writes, then again after SIGTERM sealed it,
and every request is counted once: clicks, the visitor who came twice counted once, the QR scan,
the orphan visit, the bots, the country from --country-header (or the header a domain trusts
instead) and the referrer."""
import json
import os

import harness
from serve_fixture import Client, ServeCase

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


class StatsFromServe(ServeCase):

    def request(self, target, host="x.example", method="GET", headers=()):
        with Client(self.port) as c:
            lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", *headers, "", ""]
            c.send("\r\n".join(lines).encode())
            return c.response(head=(method == "HEAD"))

    def query(self, *args):
        return json.loads(self.sl("stats", "--stats-db", self.stats_db, "--json", *args).stdout)

    def test_requests_to_a_server_are_counted_once(self):
        self.sl("domain", "set", "go.example.com", "--country-header", "X-Geo")
        self.compile()
        clicks = os.path.join(self.tmp, "clicks")
        os.mkdir(clicks)
        self.stats_db = os.path.join(self.tmp, "stats.db")
        proc, _, _ = self.serve("--clicks", clicks, "--country-header", "CF-IPCountry")
        person = [f"User-Agent: {BROWSER}", "CF-IPCountry: DE", "Referer: https://news.example.org/item?id=1"]
        self.assertEqual(self.request("/abc", headers=person).status, 302)
        self.assertEqual(self.request("/abc", headers=person).status, 302)
        self.assertEqual(self.request("/abc?sl_qr=1", headers=[f"User-Agent: {BROWSER}", "CF-IPCountry: FR"]).status,
                         302)
        self.assertEqual(self.request("/docs", host="go.example.com", headers=person + ["X-Geo: JP"]).status, 301)
        self.assertEqual(self.request("/no-such-code", headers=person).status, 404)
        self.assertEqual(self.request("/abc", method="HEAD", headers=[f"User-Agent: {BROWSER}"]).status, 302)
        self.assertEqual(self.request("/abc", headers=["User-Agent: curl/8.5.0"]).status, 302)

        # While the server writes: whatever it has flushed is read, nothing twice later.
        self.wait_until(lambda: any(n.endswith(".part") and os.path.getsize(os.path.join(clicks, n)) > 64
                                    for n in os.listdir(clicks)), timeout=10, what="a block in the .part")
        live = json.loads(self.sl("stats", "ingest", clicks, "--stats-db", self.stats_db, "--json").stdout)
        self.assertEqual(live["segments_waiting"], 1)
        self.assertEqual(self.stop(proc), 0)
        self.assertFalse(any(n.endswith(".part") for n in os.listdir(clicks)))
        done = json.loads(self.sl("stats", "ingest", clicks, "--stats-db", self.stats_db, "--json").stdout)
        self.assertEqual(live["events"] + done["events"], 7)
        self.assertEqual(done["segments_complete"], 1)

        everything = self.query("--outcome", "all", "--bots", "include")
        self.assertEqual(everything["clicks"], 7)
        abc = self.query("abc")
        # One person (one address and User-Agent, one day): two visits and a QR scan.
        self.assertEqual((abc["clicks"], abc["visitors"]), (3, 1))
        self.assertEqual({r["key"]: r["clicks"] for r in self.query("abc", "--by", "qr")["rows"]},
                         {"qr": 1, "other": 2})
        self.assertEqual({r["key"]: r["clicks"] for r in self.query("abc", "--by", "country")["rows"]},
                         {"DE": 2, "FR": 1})
        # go.example.com trusts X-Geo, not the server's CF-IPCountry.
        self.assertEqual({r["key"]: r["clicks"] for r in
                          self.query("docs", "--domain", "go.example.com", "--by", "country")["rows"]}, {"JP": 1})
        self.assertEqual({r["key"]: r["clicks"] for r in self.query("--by", "referrer")["rows"]},
                         {"news.example.org": 3, "": 1})
        links = {r["key"]: r["clicks"] for r in self.query()["rows"]}
        self.assertEqual(links, {"x.example/abc": 3, "go.example.com/docs": 1})
        orphans = self.query("--outcome", "miss", "--bots", "include")
        self.assertEqual([(r["code"], r["clicks"]) for r in orphans["rows"]], [("no-such-code", 1)])
        bots = {r["key"]: r["clicks"] for r in self.query("--bots", "only", "--by", "bot")["rows"]}
        self.assertEqual(bots, {"head": 1, "library": 1})
        exported = [json.loads(line) for line in
                    self.sl("stats", "export", "--stats-db", self.stats_db).stdout.splitlines()]
        self.assertEqual(len(exported), 7)
        self.assertEqual(sorted(e["code"] for e in exported if e["outcome"] == "redirect"),
                         ["abc", "abc", "abc", "abc", "abc", "docs"])


if __name__ == "__main__":
    harness.main()
