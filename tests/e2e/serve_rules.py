"""shortlink serve end to end: a link's rules answered over HTTP for every condition kind
(device from User-Agent and Client Hints, Accept-Language, the --country-header, the peer
address, query, time, split), Vary and Cache-Control on those answers, --country-header
without --clicks, `resolve` agreeing with the server, and splits that keep a visitor on their
variant and divide 2000 visitors within 3 points of their shares. All clients are 127.0.0.1,
so visitors differ by User-Agent."""
import collections
import json

import harness
from serve_fixture import Client, ServeCase

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")
IPAD = ("Mozilla/5.0 (iPad; CPU OS 13_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.0 Mobile/15E148 Safari/604.1")
ANDROID_FROZEN = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Safari/537.36")
WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Safari/537.36")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

RULES = {
    "app": [(["device=ios"], "https://apps.example/ios", "308"),
            (["device=ipados"], "https://apps.example/ipad", None),
            (["device=mobile"], "https://apps.example/phone", None),
            (["device=android"], "https://apps.example/android", None),
            (["device=windows,macos,linux"], "https://apps.example/desktop", "307")],
    "docs": [(["lang=fr"], "https://docs.example/fr", None), (["lang=pt-BR"], "https://docs.example/br", None)],
    "shop": [(["country=BE"], "https://shop.example/be", None),
             (["country=FR", "lang=en"], "https://shop.example/fr-en", None)],
    "local": [(["ip=127.0.0.0/8"], "https://local.example/", None)],
    "remote": [(["ip=192.0.2.0/24,2001:db8::/32"], "https://remote.example/", None)],
    "poster": [(["query=src=qr"], "https://poster.example/qr", None)],
    "launch": [(["after=2020-01-01T00:00:00Z", "before=2099-01-01T00:00:00Z"], "https://launch.example/now", None),
               (["after=2099-01-01T00:00:00Z"], "https://launch.example/later", None)],
    "ab": [(["split=20"], "https://ab.example/a", None), (["split=30"], "https://ab.example/b", None),
           (["split=50"], "https://ab.example/c", "307")],
}


class ServeRules(ServeCase):
    def setUp(self):
        super().setUp()
        for code, rules in RULES.items():
            self.sl("add", f"https://default.example/{code}", "--code", code)
            for conditions, to, kind in rules:
                self.sl("rule", "add", code, *[a for c in conditions for a in ("--if", c)], "--to", to,
                        *(["--type", kind] if kind else []))
        self.snapshot = self.compile()
        # No --clicks: the country header feeds rules on its own.
        self.serve("--country-header", "CF-IPCountry")

    def ask(self, client, target, headers=(), method="GET"):
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
        client.send(f"{method} {target} HTTP/1.1\r\nHost: x.example\r\n{extra}\r\n".encode())
        response = client.response(head=(method == "HEAD"))
        self.assertIsNotNone(response, target)
        return response

    def ask_all(self, target, user_agents):
        """The Location each User-Agent gets, a few hundred requests per keep-alive connection."""
        locations = {}
        for start in range(0, len(user_agents), 250):
            with Client(self.port) as c:
                for ua in user_agents[start:start + 250]:
                    r = self.ask(c, target, [("User-Agent", ua)])
                    self.assertEqual(r.status, 307 if r.headers["location"] == "https://ab.example/c" else 302)
                    self.assertEqual(r.headers.get("cache-control"), "private, max-age=300")
                    locations[ua] = r.headers["location"]
        return locations

    def fetch(self, target, *headers, method="GET"):
        with Client(self.port) as c:
            return self.ask(c, target, headers, method)

    def test_device_rules(self):
        cases = [
            ([("User-Agent", IPHONE)], 308, "https://apps.example/ios"),
            ([("User-Agent", IPAD)], 302, "https://apps.example/ipad"),
            ([("User-Agent", ANDROID_FROZEN), ("Sec-CH-UA-Mobile", "?1"), ("Sec-CH-UA-Platform", '"Android"')],
             302, "https://apps.example/phone"),
            ([("User-Agent", ANDROID_FROZEN)], 302, "https://apps.example/android"),
            ([("User-Agent", WINDOWS)], 307, "https://apps.example/desktop"),
            ([("User-Agent", WINDOWS), ("Sec-CH-UA-Platform", '"Linux"')], 307, "https://apps.example/desktop"),
            ([("User-Agent", GOOGLEBOT)], 302, "https://default.example/app"),
            ([], 302, "https://default.example/app"),
        ]
        for headers, status, location in cases:
            with self.subTest(headers=headers):
                r = self.fetch("/app", *headers)
                self.assertEqual((r.status, r.headers.get("location")), (status, location))
                self.assertEqual(r.headers.get("cache-control"), "private, max-age=300")
                self.assertNotIn("vary", r.headers)
        head = self.fetch("/app", ("User-Agent", IPHONE), method="HEAD")
        self.assertEqual((head.status, head.headers["location"], head.body), (308, "https://apps.example/ios", b""))

    def test_language_rules(self):
        for value, location in (("fr-CH, fr;q=0.9, en;q=0.8", "https://docs.example/fr"),
                                ("en;q=0.5, pt-BR", "https://docs.example/br"),
                                ("pt-PT", "https://default.example/docs"),
                                ("de, fr;q=0", "https://default.example/docs")):
            with self.subTest(value=value):
                r = self.fetch("/docs", ("Accept-Language", value))
                self.assertEqual(r.headers.get("location"), location)
                self.assertEqual(r.headers.get("vary"), "Accept-Language")
                self.assertEqual(r.headers.get("cache-control"), "max-age=300")

    def test_country_rules_read_the_trusted_header(self):
        for headers, location in (([("CF-IPCountry", "BE")], "https://shop.example/be"),
                                  ([("cf-ipcountry", "fr"), ("Accept-Language", "en-US")], "https://shop.example/fr-en"),
                                  ([("CF-IPCountry", "FR"), ("Accept-Language", "fr")], "https://default.example/shop"),
                                  ([("X-Country", "BE")], "https://default.example/shop"),
                                  ([], "https://default.example/shop")):
            with self.subTest(headers=headers):
                r = self.fetch("/shop", *headers)
                self.assertEqual(r.headers.get("location"), location)
                self.assertEqual(r.headers.get("vary"), "Accept-Language, CF-IPCountry")
                self.assertEqual(r.headers.get("cache-control"), "max-age=300")

    def test_a_domain_trusts_its_own_country_header(self):
        """domain set --country-header: that domain's country rules read its header and no other;
        the rest keep the server's --country-header."""
        for bad, message in (("Host", "is a standard HTTP header"), ("X Country", "is not a header name"),
                             ("X-Country:", "is not a header name"), ("", "is empty; use --no-country-header"),
                             ("X" * 65, "is not a header name")):
            with self.subTest(bad=bad):
                self.assertIn(message, self.sl("domain", "add", "eu.example", "--country-header", bad, expect=2).stderr)
        self.sl("domain", "add", "eu.example", "--country-header", "X-Country-Code")
        self.assertIn("country header:       X-Country-Code", self.sl("domain", "show", "eu.example").stdout)
        self.sl("domain", "set", "eu.example", "--country-header", "X", "--no-country-header", expect=2)
        self.sl("add", "https://default.example/eu", "--code", "shop", "--domain", "eu.example")
        self.sl("rule", "add", "shop", "--domain", "eu.example", "--if", "country=BE", "--to", "https://eu.example/be")
        snapshot = self.compile()
        self.stop(self.proc)
        self.serve("--country-header", "CF-IPCountry")

        def fetch(host, *headers):
            with Client(self.port) as c:
                extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
                c.send(f"GET /shop HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
                return c.response()

        for headers, location in (([("X-Country-Code", "BE")], "https://eu.example/be"),
                                  ([("x-country-code", " be ")], "https://eu.example/be"),
                                  ([("CF-IPCountry", "BE")], "https://default.example/eu"),
                                  ([("X-Country-Code", ""), ("X-Country-Code", "BE")], "https://eu.example/be"),
                                  ([], "https://default.example/eu")):
            with self.subTest(headers=headers):
                r = fetch("eu.example", *headers)
                self.assertEqual(r.headers.get("location"), location)
                self.assertEqual(r.headers.get("vary"), "X-Country-Code")
                self.assertEqual(r.headers.get("cache-control"), "max-age=300")
                args = [a for name, value in headers for a in ("--header", f"{name}: {value}")]
                resolved = json.loads(self.sl("resolve", snapshot, "http://eu.example/shop", "--trust", self.pub,
                                              "--json", "--country-header", "CF-IPCountry", *args).stdout)
                self.assertEqual((resolved["location"], resolved["vary"]), (location, "X-Country-Code"))
        # The default domain still reads CF-IPCountry, and not the other domain's header.
        self.assertEqual(fetch("x.example", ("CF-IPCountry", "BE")).headers.get("location"), "https://shop.example/be")
        self.assertEqual(fetch("x.example", ("X-Country-Code", "BE")).headers.get("location"),
                         "https://default.example/shop")
        # Back to the server's header.
        self.sl("domain", "set", "eu.example", "--no-country-header")
        self.assertIn('"country_header":""', self.sl("domain", "show", "eu.example", "--json").stdout)

    def test_ip_rules_read_the_peer_address(self):
        r = self.fetch("/local")
        self.assertEqual((r.headers.get("location"), r.headers.get("cache-control")),
                         ("https://local.example/", "private, max-age=300"))
        # A forwarded-for header is not the peer: it is not trusted.
        r = self.fetch("/remote", ("X-Forwarded-For", "192.0.2.7"))
        self.assertEqual(r.headers.get("location"), "https://default.example/remote")

    def test_query_and_time_rules(self):
        r = self.fetch("/poster?src=qr&utm=1")
        self.assertEqual(r.headers.get("location"), "https://poster.example/qr?src=qr&utm=1")
        self.assertEqual(self.fetch("/poster?src=bus").headers.get("location"),
                         "https://default.example/poster?src=bus")
        r = self.fetch("/launch")
        self.assertEqual(r.headers.get("location"), "https://launch.example/now")
        self.assertEqual(r.headers.get("cache-control"), "max-age=300")

    def test_plain_links_are_unchanged(self):
        r = self.fetch("/abc", ("User-Agent", IPHONE), ("Accept-Language", "fr"), ("CF-IPCountry", "BE"))
        self.assertEqual((r.status, r.headers.get("location"), r.headers.get("cache-control")),
                         (302, "https://dest.example/a", "max-age=300"))
        self.assertNotIn("vary", r.headers)

    def test_resolve_agrees_with_the_server(self):
        cases = [("/app", [("User-Agent", IPHONE)]),
                 ("/app", [("User-Agent", ANDROID_FROZEN), ("Sec-CH-UA-Mobile", "?1")]),
                 ("/docs", [("Accept-Language", "en;q=0.5, pt-BR")]),
                 ("/shop", [("CF-IPCountry", "FR"), ("Accept-Language", "en")]),
                 ("/local", []),
                 ("/poster?src=qr", [])] + [("/ab", [("User-Agent", f"agent {i}")]) for i in range(8)]
        for target, headers in cases:
            with self.subTest(target=target, headers=headers):
                served = self.fetch(target, *headers)
                args = [a for name, value in headers for a in ("--header", f"{name}: {value}")]
                resolved = json.loads(self.sl("resolve", self.snapshot, "http://x.example" + target, "--trust", self.pub,
                                              "--json", "--client-ip", "127.0.0.1", "--country-header", "CF-IPCountry",
                                              *args).stdout)
                self.assertEqual(resolved["status"], served.status)
                self.assertEqual(resolved["location"], served.headers.get("location"))
                self.assertEqual(resolved["cache_control"], served.headers.get("cache-control"))
                self.assertEqual(resolved["vary"], served.headers.get("vary"))

    def test_split_keeps_visitors_and_divides_them(self):
        shares = {"https://ab.example/a": 20, "https://ab.example/b": 30, "https://ab.example/c": 50}
        visitors = [f"Mozilla/5.0 (X11; Linux x86_64) Visitor/{i}" for i in range(2000)]
        first = self.ask_all("/ab", visitors)
        counts = collections.Counter(first.values())
        print(f"split over {len(visitors)} visitors: {dict(counts)}")
        self.assertEqual(set(counts), set(shares))
        for location, share in shares.items():
            self.assertAlmostEqual(100 * counts[location] / len(visitors), share, delta=3, msg=location)
        # Every visitor comes back to their variant, on other connections (other workers too).
        self.assertEqual(self.ask_all("/ab", visitors[:600]), {ua: first[ua] for ua in visitors[:600]})
        for ua in visitors[600:620]:
            self.assertEqual(self.fetch("/ab", ("User-Agent", ua)).headers["location"], first[ua], ua)
        # And across a restart: nothing is remembered, the share is a hash.
        self.stop(self.proc)
        self.serve("--country-header", "CF-IPCountry")
        self.assertEqual(self.ask_all("/ab", visitors[:300]), {ua: first[ua] for ua in visitors[:300]})

if __name__ == "__main__":
    harness.main()
