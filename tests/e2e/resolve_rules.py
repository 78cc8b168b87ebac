"""End-to-end: `shortlink resolve --header/--client-ip/--country-header` answers a link's rules as
the server would, one snapshot compiled from a real database with a link per condition kind:
destinations, redirect types, the rule that answered, Vary and Cache-Control; and refuses
malformed headers, addresses and country header names with exit 2."""
import json
import os

import harness
from harness import ShortlinkTestCase

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")
ANDROID_FROZEN = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Safari/537.36")
WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Safari/537.36")


class ResolveRules(ShortlinkTestCase):
    def setUp(self):
        super().setUp()
        self.sl("init")
        rules = {
            "app": [(["device=ios,ipados"], "https://apps.example/ios", "308"),
                    (["device=mobile"], "https://apps.example/phone", None),
                    (["device=android"], "https://apps.example/android", None)],
            "docs": [(["lang=fr"], "https://docs.example/fr", None), (["lang=en-GB"], "https://docs.example/uk", None)],
            "shop": [(["country=BE,LU"], "https://shop.example/benelux", None)],
            "intra": [(["ip=10.0.0.0/8,2001:db8::/32"], "https://intra.example/", None)],
            "poster": [(["query=src=qr"], "https://poster.example/qr", None), (["query=promo"], "https://poster.example/p", None)],
            "launch": [(["after=2030-01-01T00:00:00Z"], "https://launch.example/live", None),
                       (["before=2025-01-01T00:00:00Z"], "https://launch.example/old", None)],
            "ab": [(["split=50"], "https://ab.example/a", "307"), (["split=50"], "https://ab.example/b", None)],
        }
        for code, link_rules in rules.items():
            self.sl("add", f"https://default.example/{code}", "--code", code)
            for conditions, to, kind in link_rules:
                self.sl("rule", "add", code, *[a for c in conditions for a in ("--if", c)], "--to", to,
                        *(["--type", kind] if kind else []))
        self.sl("add", "https://default.example/plain", "--code", "plain")
        keys = os.path.join(self.tmp, "keys")
        self.sl("keygen", "--out", keys, "--name", "k")
        self.pub = os.path.join(keys, "k.pub")
        out = os.path.join(self.tmp, "snaps")
        self.sl("compile", "--key", os.path.join(keys, "k.key"), "--out", out)
        [self.snap] = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".slsnap")]

    def resolve(self, path, *args, at=None):
        extra = ["--at", at] if at else []
        proc = self.sl("resolve", self.snap, "http://x.example/" + path, "--trust", self.pub, "--json", *extra, *args)
        return json.loads(proc.stdout)

    def test_device_rules(self):
        r = self.resolve("app", "--header", "User-Agent: " + IPHONE)
        self.assertEqual((r["status"], r["location"], r["rule"]), (308, "https://apps.example/ios", 1))
        self.assertTrue(r["cache_control"].startswith("private, max-age="))
        self.assertIsNone(r["vary"])
        # Client Hints settle Chrome's frozen Android User-Agent: a phone, then a tablet.
        r = self.resolve("app", "--header", "user-agent: " + ANDROID_FROZEN, "--header", "Sec-CH-UA-Mobile: ?1",
                         "--header", 'Sec-CH-UA-Platform: "Android"')
        self.assertEqual((r["status"], r["location"], r["rule"]), (302, "https://apps.example/phone", 2))
        r = self.resolve("app", "--header", "User-Agent: " + ANDROID_FROZEN)
        self.assertEqual((r["location"], r["rule"]), ("https://apps.example/android", 3))
        r = self.resolve("app", "--header", "User-Agent: " + WINDOWS)
        self.assertEqual((r["location"], r["rule"]), ("https://default.example/app", None))
        self.assertTrue(r["cache_control"].startswith("private, max-age="))

    def test_language_rules_vary_on_accept_language(self):
        r = self.resolve("docs", "--header", "Accept-Language: de;q=0.5, fr-CH, en;q=0.9")
        self.assertEqual((r["location"], r["rule"], r["vary"]), ("https://docs.example/fr", 1, "Accept-Language"))
        self.assertTrue(r["cache_control"].startswith("max-age="))
        r = self.resolve("docs", "--header", "Accept-Language: en-gb, fr;q=0.8")
        self.assertEqual((r["location"], r["rule"]), ("https://docs.example/uk", 2))
        r = self.resolve("docs", "--header", "Accept-Language: en")
        self.assertEqual((r["location"], r["rule"], r["vary"]), ("https://default.example/docs", None, "Accept-Language"))

    def test_country_rules_need_the_trusted_header(self):
        args = ("--header", "CF-IPCountry: be")
        r = self.resolve("shop", *args)
        self.assertEqual((r["location"], r["vary"]), ("https://default.example/shop", None))
        r = self.resolve("shop", *args, "--country-header", "cf-ipcountry")
        self.assertEqual((r["location"], r["rule"], r["vary"]), ("https://shop.example/benelux", 1, "cf-ipcountry"))
        r = self.resolve("shop", "--header", "CF-IPCountry: FR", "--country-header", "CF-IPCountry")
        self.assertEqual((r["location"], r["vary"]), ("https://default.example/shop", "CF-IPCountry"))

    def test_ip_rules(self):
        for ip, want in (("10.200.0.1", 1), ("2001:db8::7", 1), ("::ffff:10.1.2.3", 1), ("192.0.2.1", None),
                         ("2001:db9::1", None)):
            with self.subTest(ip=ip):
                r = self.resolve("intra", "--client-ip", ip)
                self.assertEqual(r["rule"], want)
                self.assertTrue(r["cache_control"].startswith("private, "))
        self.assertIsNone(self.resolve("intra")["rule"])  # no address: no ip condition holds

    def test_query_and_time_rules(self):
        r = self.resolve("poster?src=qr&x=1")
        self.assertEqual((r["location"], r["rule"]), ("https://poster.example/qr?src=qr&x=1", 1))
        self.assertEqual(self.resolve("poster?promo")["rule"], 2)
        self.assertIsNone(self.resolve("poster?src=QR")["rule"])
        self.assertIsNone(self.resolve("launch", at="2027-01-01T00:00:00Z")["rule"])
        self.assertEqual(self.resolve("launch", at="2024-06-01T00:00:00Z")["rule"], 2)
        live = self.resolve("launch", at="2030-01-01T00:00:00Z")
        self.assertEqual((live["location"], live["rule"]), ("https://launch.example/live", 1))
        # Ten seconds before the launch, no cache may keep the old answer past it.
        self.assertEqual(self.resolve("launch", at="2029-12-31T23:59:50Z")["cache_control"], "max-age=10")

    def test_split_is_stable_and_divides_visitors(self):
        first = [self.resolve("ab", "--header", f"User-Agent: visitor {i}", "--client-ip", "192.0.2.1") for i in range(40)]
        again = [self.resolve("ab", "--header", f"User-Agent: visitor {i}", "--client-ip", "192.0.2.1") for i in range(40)]
        self.assertEqual([r["rule"] for r in first], [r["rule"] for r in again])
        self.assertEqual({r["rule"] for r in first}, {1, 2})
        for r in first:
            self.assertEqual(r["status"], 307 if r["rule"] == 1 else 302)

    def test_text_output_names_vary(self):
        text = self.sl("resolve", self.snap, "http://x.example/docs", "--header", "Accept-Language: fr").stdout
        self.assertIn("Location: https://docs.example/fr\n", text)
        self.assertIn("Vary: Accept-Language\n", text)
        plain = self.sl("resolve", self.snap, "http://x.example/plain", "--json").stdout
        self.assertEqual((json.loads(plain)["vary"], json.loads(plain)["rule"]), (None, None))

    def test_bad_client_options_are_refused(self):
        for args, message in (
                (["--header", "User-Agent"], "--header: 'User-Agent' is not 'Name: value'"),
                (["--header", ": x"], "is not 'Name: value'"),
                (["--header", "User Agent: x"], "is not 'Name: value'"),
                (["--header", "User-Agent: a\rb"], "the value of 'User-Agent' holds a control character"),
                (["--header", "User-Agent: a\nSet-Cookie: b"], "holds a control character"),
                (["--client-ip", "10.0.0.256"], "--client-ip: '10.0.0.256' is not an IPv4 or IPv6 address"),
                (["--client-ip", "10.0.0.0/8"], "is not an IPv4 or IPv6 address"),
                (["--client-ip", ""], None),
                (["--country-header", "User-Agent"], "is a standard HTTP header"),
                (["--country-header", "CF IPCountry"], "is not a header name")):
            with self.subTest(args=args):
                proc = self.sl("resolve", self.snap, "http://x.example/app", *args, expect=0 if message is None else 2)
                if message is not None:
                    self.assertIn(message, proc.stderr)
                    self.assertEqual(proc.stdout, "")


if __name__ == "__main__":
    harness.main()
