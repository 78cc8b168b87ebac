"""shortlink serve end to end: the client's address behind --trusted-proxy (ip rules and the
click log's visitors read the forwarded address; hostile X-Forwarded-For never becomes the
client; `resolve` agrees), and the miss budget: misses past --miss-budget answered 429 with
Retry-After, hits from the same address still answered, other addresses unaffected, the table
bounded under thousands of addresses, and every count in /metrics."""
import json
import os
import re

import harness
from serve_fixture import Client, ServeCase


class ClientCase(ServeCase):
    def setUp(self):
        super().setUp()
        self.sl("add", "https://default.example/where", "--code", "where")
        self.sl("rule", "add", "where", "--if", "ip=192.0.2.0/24,2001:db8::/32", "--to", "https://remote.example/")
        self.sl("rule", "add", "where", "--if", "ip=127.0.0.0/8", "--to", "https://local.example/")
        self.sl("rule", "add", "where", "--if", "ip=10.0.0.0/8", "--to", "https://proxy.example/")
        self.snapshot = self.compile()

    def ask(self, target, *headers, client=None):
        extra = "".join(f"{n}: {v}\r\n" for n, v in headers)
        own = client is None
        c = Client(self.port) if own else client
        try:
            c.send(f"GET {target} HTTP/1.1\r\nHost: x.example\r\n{extra}\r\n".encode())
            r = c.response()
        finally:
            if own:
                c.sock.close()
        self.assertIsNotNone(r, target)
        return r

    def where(self, *forwarded):
        return self.ask("/where", *[("X-Forwarded-For", f) for f in forwarded]).headers.get("location")

    def metric_labeled(self, name, labels):
        _, body = self.admin("/metrics")
        for line in body.splitlines():
            if line.startswith(f"{name}{{{labels}}} "):
                return float(line.split()[-1])
        raise AssertionError(f"metric {name}{{{labels}}} not found")


class TrustedProxy(ClientCase):
    def test_the_forwarded_client_is_read_only_from_a_trusted_peer(self):
        self.serve()
        self.assertEqual(self.where("192.0.2.7"), "https://local.example/")  # 127.0.0.1 is not trusted
        self.stop(self.proc)
        self.serve("--trusted-proxy", "127.0.0.1", "--trusted-proxy", "10.0.0.0/8")
        cases = [
            (["192.0.2.7"], "https://remote.example/"),
            (["1.1.1.1, 192.0.2.7"], "https://remote.example/"),  # the client's own entry on the left
            (["192.0.2.7, 10.1.1.1, 10.2.2.2"], "https://remote.example/"),  # a chain of trusted proxies
            (["2001:db8::5"], "https://remote.example/"),
            (["[2001:db8::5]:8443"], "https://remote.example/"),
            (["192.0.2.7:51000"], "https://remote.example/"),
            (["198.51.100.1", "192.0.2.7"], "https://remote.example/"),  # lines are one list
            (["192.0.2.7", "198.51.100.1"], "https://default.example/where"),
            ([" , 192.0.2.7 ,, "], "https://remote.example/"),
            (["10.3.3.3"], "https://proxy.example/"),  # all trusted: the left-most reached
            ([], "https://local.example/"),
        ]
        for forwarded, location in cases:
            with self.subTest(forwarded=forwarded):
                self.assertEqual(self.where(*forwarded), location)
        self.assertEqual(self.metric_labeled("shortlink_forwarded_requests_total", 'result="forwarded"'), 10)

    def test_hostile_forwarded_for_never_becomes_the_client(self):
        self.serve("--trusted-proxy", "127.0.0.0/8", "--trusted-proxy", "10.0.0.0/8")
        hostile = [
            "garbage",
            "192.0.2.7, garbage",  # garbage right of the proxy: it stops the walk
            "unknown",
            "fe80::1%eth0",
            "[fe80::1%25eth0]:80",
            "192.0.2.7:99999",
            "192.0.2.300",
            "192.0.2.7 192.0.2.8",
            "\"192.0.2.7\"",
            "for=192.0.2.7",
            "a" * 6000,
        ]
        for value in hostile:
            with self.subTest(value=value[:40]):
                self.assertEqual(self.where(value), "https://local.example/")
        self.assertEqual(self.metric_labeled("shortlink_forwarded_requests_total", 'result="malformed"'), len(hostile))
        # Garbage left of the real client is never reached.
        self.assertEqual(self.where("<script>, 999.9.9.9, 192.0.2.7"), "https://remote.example/")
        # An endless list of trusted addresses: the walk stops at a proxy, never at a forged entry.
        endless = ", ".join(["192.0.2.7"] + ["10.0.0.1"] * 600)
        self.assertEqual(self.where(endless), "https://proxy.example/")
        self.assertEqual(self.metric_labeled("shortlink_forwarded_requests_total", 'result="too_long"'), 1)
        # A header past --max-header-bytes is refused as any other.
        r = self.ask("/where", ("X-Forwarded-For", "192.0.2.7, " * 2000))
        self.assertEqual(r.status, 431)
        # Control bytes are refused by the parser before anything reads them.
        with Client(self.port) as c:
            c.send(b"GET /where HTTP/1.1\r\nHost: x.example\r\nX-Forwarded-For: 192.0.2.7\x00\r\n\r\n")
            self.assertEqual(c.response().status, 400)
        self.assertIsNone(self.proc.poll())

    def test_bad_trusted_proxy_values_are_refused(self):
        for value, message in (("10.0.0.1/8", "'10.0.0.1/8' has bits set after its /8 prefix (the network is 10.0.0.0/8)"),
                               ("10.0.0.0/33", "the prefix length must be 0 to 32"),
                               ("proxy.example", "is not an IPv4 or IPv6 address or network"),
                               ("fe80::1%eth0", "an address with a zone names an interface"),
                               ("", "is not an IPv4 or IPv6 address")):
            with self.subTest(value=value):
                proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--trusted-proxy", value,
                               "--state-dir", "none", "--admin", "none", expect=2)
                self.assertIn(f"--trusted-proxy: ", proc.stderr)
                self.assertIn(message, proc.stderr)
                proc = self.sl("resolve", self.snapshot, "http://x.example/where", "--trusted-proxy", value, expect=2)
                self.assertIn(message, proc.stderr)

    def test_resolve_agrees_with_the_server(self):
        self.serve("--trusted-proxy", "127.0.0.1")
        for forwarded in (["192.0.2.7"], ["1.1.1.1, 192.0.2.7"], ["198.51.100.1", "192.0.2.7"], ["garbage"],
                          ["[2001:db8::5]:1"]):
            with self.subTest(forwarded=forwarded):
                served = self.where(*forwarded)
                args = [a for f in forwarded for a in ("--header", f"X-Forwarded-For: {f}")]
                resolved = json.loads(self.sl("resolve", self.snapshot, "http://x.example/where", "--trust", self.pub,
                                              "--json", "--client-ip", "127.0.0.1", "--trusted-proxy", "127.0.0.1",
                                              *args).stdout)
                self.assertEqual(resolved["location"], served)
        proc = self.sl("resolve", self.snapshot, "http://x.example/where", "--trusted-proxy", "127.0.0.1",
                       "--header", "X-Forwarded-For: 192.0.2.7", expect=2)
        self.assertIn("needs --client-ip", proc.stderr)


class ForwardedClicks(ClientCase):
    def visitors(self, trusted):
        clicks = os.path.join(self.tmp, f"clicks-{trusted}")
        os.mkdir(clicks)
        self.serve("--clicks", clicks, *(["--trusted-proxy", "127.0.0.1"] if trusted else []))
        for client in ("192.0.2.1", "192.0.2.2", "198.51.100.3", "192.0.2.1"):
            r = self.ask("/abc", ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"),
                         ("X-Forwarded-For", client))
            self.assertEqual(r.status, 302)
        self.assertEqual(self.stop(self.proc), 0)
        stats_db = os.path.join(self.tmp, f"stats-{trusted}.db")
        self.sl("stats", "ingest", clicks, "--stats-db", stats_db)
        out = json.loads(self.sl("stats", "abc", "--stats-db", stats_db, "--json", "--unique").stdout)
        self.assertEqual(out["clicks"], 4)
        return out["visitors"]

    def test_the_click_log_counts_the_forwarded_client(self):
        self.assertEqual(self.visitors(trusted=False), 1)  # all of them the proxy, 127.0.0.1
        self.assertEqual(self.visitors(trusted=True), 3)   # three clients behind it


class MissBudget(ClientCase):
    def test_misses_past_the_budget_are_answered_429_and_hits_never(self):
        self.serve("--miss-budget", "5", "--trusted-proxy", "127.0.0.1")
        scanner = ("X-Forwarded-For", "192.0.2.66")
        with Client(self.port) as c:
            for i in range(5):
                self.assertEqual(self.ask(f"/guess{i}", scanner, client=c).status, 404)
            r = self.ask("/guess5", scanner, client=c)
            self.assertEqual(r.status, 429)
            self.assertEqual(r.headers.get("cache-control"), "no-store")
            retry = int(r.headers["retry-after"])
            self.assertTrue(1 <= retry <= 60, retry)
            self.assertIn(b"Too Many Requests", r.body)
            # A link that exists is answered as ever, from the same client.
            r = self.ask("/abc", scanner, client=c)
            self.assertEqual((r.status, r.headers.get("location")), (302, "https://dest.example/a"))
            r = self.ask("/where", scanner, client=c)
            self.assertEqual(r.status, 302)
            self.assertEqual(self.ask("/guess6", scanner, client=c).status, 429)
        # Another address, and the proxy itself, are unaffected.
        self.assertEqual(self.ask("/guess0", ("X-Forwarded-For", "192.0.2.67")).status, 404)
        self.assertEqual(self.ask("/guess0").status, 404)
        # An unknown host is a miss too.
        self.assertEqual(self.ask("/x", scanner).status, 429)
        self.assertEqual(self.metric("shortlink_misses_limited_total"), 3)
        self.assertEqual(self.metric_labeled("shortlink_requests_total", 'status="429"'), 3)
        self.assertEqual(self.metric("shortlink_miss_budget_per_minute"), 5)
        self.assertEqual(self.metric("shortlink_miss_budget_clients"), 3)

    def test_a_domain_budget_replaces_the_servers(self):
        self.sl("domain", "add", "tight.example", "--miss-budget", "2")
        self.compile()
        self.serve("--miss-budget", "50")

        def miss(host, code):
            with Client(self.port) as c:
                c.send(f"GET /{code} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                return c.response().status

        self.assertEqual([miss("tight.example", f"g{i}") for i in range(3)], [404, 404, 429])
        # The count is the client's: on a domain with the server's budget it is not yet spent.
        self.assertEqual(miss("x.example", "g9"), 404)
        self.assertEqual(self.metric("shortlink_misses_limited_total"), 1)

    def test_misses_sent_to_a_not_found_url_count_too(self):
        self.sl("domain", "add", "soft.example", "--miss-budget", "2", "--not-found-url", "https://soft.example/search")
        self.sl("add", "https://dest.example/real", "--code", "real", "--domain", "soft.example")
        self.compile()
        self.serve("--miss-budget", "50")

        def ask(code):
            with Client(self.port) as c:
                c.send(f"GET /{code} HTTP/1.1\r\nHost: soft.example\r\n\r\n".encode())
                return c.response()

        self.assertEqual([ask(f"g{i}").status for i in range(3)], [302, 302, 429])
        self.assertEqual(ask("g3").headers.get("retry-after") is not None, True)
        self.assertEqual(ask("real").headers.get("location"), "https://dest.example/real")  # hits never
        self.assertEqual(self.metric("shortlink_misses_limited_total"), 2)

    def test_an_ipv6_client_counts_by_its_64(self):
        self.serve("--miss-budget", "3", "--trusted-proxy", "127.0.0.1")
        for i in range(3):
            self.assertEqual(self.ask("/nope", ("X-Forwarded-For", f"2001:db8:0:1::{i + 1}")).status, 404)
        self.assertEqual(self.ask("/nope", ("X-Forwarded-For", "2001:db8:0:1::99")).status, 429)
        self.assertEqual(self.ask("/nope", ("X-Forwarded-For", "2001:db8:0:2::1")).status, 404)

    def test_memory_stays_bounded_with_many_addresses(self):
        self.serve("--miss-budget", "2", "--trusted-proxy", "127.0.0.1", threads=1)

        def rss_kib():
            with open(f"/proc/{self.proc.pid}/status") as f:
                return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

        with Client(self.port) as c:
            for i in range(200):
                self.ask("/nope", ("X-Forwarded-For", f"198.18.{i // 250}.{i % 250}"), client=c)
        before = rss_kib()
        answered = 0
        for start in range(0, 6000, 500):  # within --max-requests per connection
            with Client(self.port) as c:
                for i in range(start, start + 500):
                    r = self.ask("/nope", ("X-Forwarded-For", f"198.19.{i // 250}.{i % 250}"), client=c)
                    answered += r.status == 404
        self.assertEqual(answered, 6000)  # one miss each: none is over
        after = rss_kib()
        self.assertLess(after - before, 2048, (before, after))
        clients = self.metric("shortlink_miss_budget_clients")
        self.assertGreater(clients, 5000)
        self.assertLessEqual(clients, self.metric("shortlink_miss_budget_slots"))

    def test_no_budget_and_bad_values(self):
        self.serve("--miss-budget", "0")
        for _ in range(150):
            self.assertEqual(self.ask("/nope").status, 404)
        self.assertEqual(self.metric("shortlink_misses_limited_total"), 0)
        self.stop(self.proc)
        # The default budget holds without the option.
        self.serve(miss_budget=None)
        statuses = [self.ask(f"/nope{i}").status for i in range(MissBudgetDefault.k_default + 1)]
        self.assertEqual(statuses.count(404), MissBudgetDefault.k_default)
        self.assertEqual(statuses[-1], 429)
        for value in ("-1", "abc", "1.5", "99999999999"):
            with self.subTest(value=value):
                proc = self.sl("serve", "--snapshots", self.snaps, "--trust", self.pub, "--miss-budget", value,
                               "--state-dir", "none", "--admin", "none", expect=2)
                self.assertIn("--miss-budget", proc.stderr)


class MissBudgetDefault:
    k_default = 120


if __name__ == "__main__":
    harness.main()
