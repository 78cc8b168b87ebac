"""shortlink serve --geoip end to end: country rules answered from a real MaxMind DB file (written
by tests/e2e/mmdb_writer.py and read by libmaxminddb in the server), the trusted header winning
over it, answers made private, the file replaced while serving (a new version answers, a garbage
or broken one is refused and the old one keeps answering), a file missing or invalid at start,
records that hold no usable country, and `resolve --geoip` agreeing. Clients are told apart by
X-Forwarded-For from a trusted 127.0.0.1."""
import json
import os
import signal

import harness
from mmdb_writer import build, write_mmdb
from serve_fixture import ServeCase

FRANCE = {"192.0.2.0/24": "FR", "2001:db8::/32": "DE", "198.51.100.0/24": {"country": {"iso_code": "fra"}},
          "203.0.113.0/24": {"continent": {"code": "EU"}}, "100.64.0.0/10": {"country": {"iso_code": 33}}}


class ServeGeoIp(ServeCase):
    def setUp(self):
        super().setUp()
        self.sl("add", "https://default.example/shop", "--code", "shop")
        self.sl("rule", "add", "shop", "--if", "country=FR", "--to", "https://shop.example/fr")
        self.sl("rule", "add", "shop", "--if", "country=DE", "--to", "https://shop.example/de")
        self.sl("add", "https://default.example/plain", "--code", "plain")
        self.snapshot = self.compile()
        self.mmdb = write_mmdb(os.path.join(self.tmp, "country.mmdb"), FRANCE, build_epoch=1700000000)

    def start(self, *extra):
        return self.serve("--geoip", self.mmdb, "--trusted-proxy", "127.0.0.1", "--country-header", "CF-IPCountry",
                          "--rescan-interval", "0.1", *extra)

    def shop(self, client, *headers):
        return self.fetch("/shop", ("X-Forwarded-For", client), *headers)

    def fetch(self, target, *headers):
        from serve_fixture import Client
        extra = "".join(f"{n}: {v}\r\n" for n, v in headers)
        with Client(self.port) as c:
            c.send(f"GET {target} HTTP/1.1\r\nHost: x.example\r\n{extra}\r\n".encode())
            r = c.response()
        self.assertIsNotNone(r)
        return r

    def location(self, client, *headers):
        return self.shop(client, *headers).headers.get("location")

    def test_country_rules_read_the_database(self):
        self.start()
        r = self.shop("192.0.2.44")
        self.assertEqual((r.status, r.headers.get("location")), (302, "https://shop.example/fr"))
        # The country comes from the address: no edge cache may share the answer.
        self.assertEqual(r.headers.get("cache-control"), "private, max-age=300")
        self.assertEqual(r.headers.get("vary"), "CF-IPCountry")
        self.assertEqual(self.location("2001:db8:1::5"), "https://shop.example/de")
        self.assertEqual(self.location("[2001:db8::9]:443"), "https://shop.example/de")
        # Not in the database, or no usable code in the record: no country rule holds.
        for client in ("10.1.2.3", "198.51.100.1", "203.0.113.9", "100.64.0.1", "2001:db9::1"):
            with self.subTest(client=client):
                self.assertEqual(self.location(client), "https://default.example/shop")
        # The trusted header wins over the database, either way.
        self.assertEqual(self.location("192.0.2.44", ("CF-IPCountry", "DE")), "https://shop.example/de")
        self.assertEqual(self.location("10.1.2.3", ("CF-IPCountry", "fr")), "https://shop.example/fr")
        # A link without country rules is as cacheable as ever.
        r = self.fetch("/plain", ("X-Forwarded-For", "192.0.2.44"))
        self.assertEqual((r.status, r.headers.get("cache-control")), (302, "max-age=300"))
        _, ready = self.readyz()
        self.assertEqual(ready["geoip"]["path"], self.mmdb)
        self.assertEqual(ready["geoip"]["type"], "Shortlink-Test-Country")
        self.assertEqual(ready["geoip"]["build_epoch"], 1700000000)
        self.assertEqual(self.metric("shortlink_geoip_build_timestamp_seconds"), 1700000000)

    def test_a_new_file_answers_and_a_broken_one_is_refused(self):
        self.start()
        self.assertEqual(self.location("192.0.2.44"), "https://shop.example/fr")
        write_mmdb(self.mmdb, {"192.0.2.0/24": "DE"}, build_epoch=1700000100)
        self.wait_until(lambda: self.location("192.0.2.44") == "https://shop.example/de", what="the new database")
        self.assertEqual(self.metric("shortlink_geoip_reloads_total"), 1)
        self.assertEqual(self.metric("shortlink_geoip_build_timestamp_seconds"), 1700000100)
        self.assertEqual(len(self.log_lines("geoip_reloaded")), 1)

        # Garbage renamed over it: refused, logged once, the loaded database keeps answering.
        tmp = self.mmdb + ".new"
        with open(tmp, "wb") as f:
            f.write(b"this is not a MaxMind DB file\n" * 100)
        os.replace(tmp, self.mmdb)
        self.wait_until(lambda: self.metric("shortlink_geoip_refused_total") == 1, what="the refusal")
        self.assertEqual(self.location("192.0.2.44"), "https://shop.example/de")
        refused = self.log_lines("geoip_refused")
        self.assertEqual(len(refused), 1)
        self.assertIn("is not a valid MaxMind DB file", refused[0]["reason"])
        _, ready = self.readyz()
        self.assertIn("is not a valid MaxMind DB file", ready["geoip"]["last_refused"])

        # Sound metadata over a search tree that points nowhere: the probe lookup refuses it.
        with open(tmp, "wb") as f:
            f.write(build({"192.0.2.0/24": "FR"}, corrupt_tree=True))
        os.replace(tmp, self.mmdb)
        self.wait_until(lambda: self.metric("shortlink_geoip_refused_total") == 2, what="the second refusal")
        self.assertIn("probe lookup failed", self.log_lines("geoip_refused")[1]["reason"])
        self.assertEqual(self.location("192.0.2.44"), "https://shop.example/de")

        # Gone, then back by rename: the loaded one answers meanwhile; a SIGHUP picks it up.
        os.unlink(self.mmdb)
        self.wait_until(lambda: len(self.log_lines("geoip_missing")) == 1, what="the missing file")
        self.assertEqual(self.location("192.0.2.44"), "https://shop.example/de")
        write_mmdb(self.mmdb, {"192.0.2.0/24": "FR"}, build_epoch=1700000200)
        self.proc.send_signal(signal.SIGHUP)
        self.wait_until(lambda: self.location("192.0.2.44") == "https://shop.example/fr", what="the restored file")
        self.assertEqual(self.metric("shortlink_geoip_reloads_total"), 2)
        self.assertEqual(self.proc.poll(), None)

    def test_a_file_missing_or_invalid_at_start_stops_the_server(self):
        missing = os.path.join(self.tmp, "nope.mmdb")
        proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--geoip", missing,
                       "--listen", f"127.0.0.1:{harness.free_port()}", "--admin", "none",
                       "--state-dir", "none", expect=3)
        self.assertIn(f"--geoip: '{missing}' does not exist", proc.stderr)
        bad = os.path.join(self.tmp, "bad.mmdb")
        with open(bad, "wb") as f:
            f.write(b"\xab\xcd\xefMaxMind.com" + b"\x00" * 10)
        proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--geoip", bad,
                       "--listen", f"127.0.0.1:{harness.free_port()}", "--admin", "none",
                       "--state-dir", "none", expect=5)
        self.assertIn(f"GeoIP database {bad} is not a valid MaxMind DB file", proc.stderr)
        empty = os.path.join(self.tmp, "empty.mmdb")
        open(empty, "wb").close()
        proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--geoip", empty,
                       "--listen", f"127.0.0.1:{harness.free_port()}", "--admin", "none",
                       "--state-dir", "none", expect=5)
        self.assertIn("is not a valid MaxMind DB file", proc.stderr)
        proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--geoip", self.tmp,
                       "--listen", f"127.0.0.1:{harness.free_port()}", "--admin", "none",
                       "--state-dir", "none", expect=2)
        self.assertIn("is not a regular file", proc.stderr)

    def test_resolve_agrees(self):
        def resolved(*args):
            out = self.sl("resolve", self.snapshot, "http://x.example/shop", "--trust", self.pub, "--json", *args).stdout
            return json.loads(out)

        self.assertEqual(resolved("--geoip", self.mmdb, "--client-ip", "192.0.2.1")["location"], "https://shop.example/fr")
        self.assertEqual(resolved("--geoip", self.mmdb, "--client-ip", "2001:db8::1")["cache_control"],
                         "private, max-age=300")
        self.assertEqual(resolved("--geoip", self.mmdb, "--client-ip", "192.0.2.1", "--country-header", "CF-IPCountry",
                                  "--header", "CF-IPCountry: DE")["location"], "https://shop.example/de")
        self.assertEqual(resolved("--geoip", self.mmdb, "--client-ip", "127.0.0.1", "--trusted-proxy", "127.0.0.0/8",
                                  "--header", "X-Forwarded-For: 2001:db8::7")["location"], "https://shop.example/de")
        self.assertEqual(resolved("--geoip", self.mmdb)["location"], "https://default.example/shop")
        proc = self.sl("resolve", self.snapshot, "http://x.example/shop", "--geoip",
                       os.path.join(self.tmp, "nope.mmdb"), expect=3)
        self.assertIn("does not exist", proc.stderr)
        with open(os.path.join(self.tmp, "junk.mmdb"), "wb") as f:
            f.write(os.urandom(4096))
        self.sl("resolve", self.snapshot, "http://x.example/shop", "--geoip", os.path.join(self.tmp, "junk.mmdb"),
                expect=5)


if __name__ == "__main__":
    harness.main()
