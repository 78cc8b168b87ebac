"""`shortlink serve` behind a real edge cache: Varnish (the Debian package) on 127.0.0.1 in front
of it, with a minimal VCL, so what the answers say to caches is proven against one.

- A plain link is answered from Varnish's cache: the second request is a hit (two transaction
  ids in X-Varnish, an Age header) and never reaches serve (its request counter stays put).
- A link whose rule reads the device (User-Agent) answers "private": Varnish passes every such
  request to serve, and an iPhone and a desktop each get their own destination, never the
  other's, in any order.
- A link whose rule reads the country from the trusted header (`serve --country-header`) names
  that header in Vary: Varnish keeps one object per country and hands each country its own.
- With serve stopped, Varnish keeps answering a cached plain link past its max-age, within the
  domain's stale-if-error window.

How Varnish 7.1 (Debian 12) treats RFC 5861: it takes max-age (s-maxage first) as the object's
TTL and stale-while-revalidate as its grace; it has no stale-if-error of its own. Within grace
an expired object is delivered at once while a background fetch runs; when that fetch fails
(the backend is down) the object stays and keeps being delivered until grace ends. So grace is
what stale-if-error asks for, and the VCL below sets it from stale-if-error when the answer
carries one. Everything else is Varnish's built-in VCL: it does not store answers marked
private or no-store, and honours Vary.

Needs the Debian package varnish (scripts/install-deps.sh installs it). Without it the test is
skipped, unless SHORTLINK_DEPS_INSTALLED=1 says the suite's own install ran: then it fails."""
import os
import shutil
import signal
import subprocess
import time

import harness
from serve_fixture import Client, ServeCase

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
DESKTOP = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Safari/537.36")

VCL = r"""vcl 4.1;
import std;

backend serve {
    .host = "127.0.0.1";
    .port = "%(port)d";
}

sub vcl_backend_response {
    # stale-if-error as grace (see the test's docstring); the built-in VCL does the rest.
    if (beresp.http.Cache-Control ~ "stale-if-error=[0-9]+") {
        set beresp.grace = std.duration(
            regsub(beresp.http.Cache-Control, "^.*stale-if-error=([0-9]+).*$", "\1") + "s", beresp.grace);
    }
}
"""


class EdgeVarnish(ServeCase):
    def setUp(self):
        if shutil.which("varnishd") is None:
            if os.environ.get("SHORTLINK_DEPS_INSTALLED") == "1":
                self.fail("missing Debian package varnish, although the suite's install ran "
                          "(scripts/install-deps.sh lists it)")
            self.skipTest("needs the Debian package varnish (scripts/install-deps.sh installs it)")
        super().setUp()
        self.varnish = None
        # The default domain: long-lived, public answers with a stale-if-error window.
        self.sl("domain", "set", "*", "--cache-max-age", "300", "--stale-if-error", "120",
                "--cache-scope", "public")
        # A domain whose answers expire at once, to see Varnish answer past max-age.
        self.sl("domain", "add", "stale.example", "--cache-max-age", "1", "--stale-if-error", "120")
        self.sl("add", "https://dest.example/cached", "--code", "plain")
        self.sl("add", "https://dest.example/kept", "--code", "kept", "--domain", "stale.example")
        self.sl("add", "https://default.example/app", "--code", "app")
        self.sl("rule", "add", "app", "--if", "device=ios", "--to", "https://apps.example/ios")
        self.sl("add", "https://default.example/shop", "--code", "shop")
        self.sl("rule", "add", "shop", "--if", "country=BE", "--to", "https://shop.example/be")
        self.compile()
        self.serve("--country-header", "X-Country")
        self.start_varnish()

    def tearDown(self):
        if self.varnish is not None and self.varnish.poll() is None:
            self.varnish.send_signal(signal.SIGTERM)
            try:
                self.varnish.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.varnish.kill()
                self.varnish.wait(timeout=10)
        super().tearDown()

    def start_varnish(self):
        vcl = os.path.join(self.tmp, "edge.vcl")
        with open(vcl, "w") as f:
            f.write(VCL % {"port": self.port})
        self.edge_port = harness.free_port()
        log = self.server_log()
        # -F: in the foreground, so the PID is varnishd's own; -j none: no jail (the work
        # directory is the test's, which a dropped-privilege user could not enter).
        self.varnish = subprocess.Popen(
            ["varnishd", "-F", "-j", "none", "-n", os.path.join(self.tmp, "varnish"), "-f", vcl,
             "-a", f"127.0.0.1:{self.edge_port}", "-s", "malloc,16m", "-T", "none",
             "-p", "default_grace=0", "-p", "default_keep=0"],
            stdout=log, stderr=log)
        log.close()
        self.assertTrue(harness.wait_for_port(self.edge_port, timeout=30), "varnishd did not start listening")

    def edge(self, target, host="edge.example", headers=()):
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
        with Client(self.edge_port, timeout=10) as c:
            c.send(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
            r = c.response()
        self.assertIsNotNone(r, f"no answer from Varnish for {target}")
        return r

    def backend_requests(self):
        _, body = self.admin("/metrics")
        return sum(float(line.split()[-1]) for line in body.splitlines()
                   if line.startswith("shortlink_requests_total{"))

    @staticmethod
    def hit(r):
        # X-Varnish holds this request's id, and on a hit also the id of the one that stored it.
        return len(r.headers.get("x-varnish", "").split()) == 2

    def test_plain_links_are_served_from_the_edge(self):
        first = self.edge("/plain")
        self.assertEqual(first.status, 302)
        self.assertEqual(first.headers["location"], "https://dest.example/cached")
        self.assertEqual(first.headers["cache-control"], "public, max-age=300, stale-if-error=120")
        self.assertFalse(self.hit(first))
        before = self.backend_requests()
        for _ in range(3):
            again = self.edge("/plain")
            self.assertEqual(again.headers["location"], "https://dest.example/cached")
            self.assertTrue(self.hit(again), again.headers)
            self.assertIn("age", again.headers)
        self.assertEqual(self.backend_requests(), before, "a cached answer reached serve")

    def test_device_answers_are_never_shared(self):
        before = self.backend_requests()
        for ua, to in [(IPHONE, "https://apps.example/ios"), (DESKTOP, "https://default.example/app"),
                       (IPHONE, "https://apps.example/ios"), (DESKTOP, "https://default.example/app"),
                       (DESKTOP, "https://default.example/app"), (IPHONE, "https://apps.example/ios")]:
            r = self.edge("/app", headers=[("User-Agent", ua)])
            self.assertEqual(r.headers["location"], to, ua)
            self.assertTrue(r.headers["cache-control"].startswith("private"), r.headers)
            self.assertFalse(self.hit(r), r.headers)
        self.assertEqual(self.backend_requests(), before + 6, "a private answer was kept by the edge")

    def test_country_answers_vary_on_the_trusted_header(self):
        answers = {"BE": "https://shop.example/be", "FR": "https://default.example/shop"}
        seen_hit = {"BE": False, "FR": False}
        for country in ["BE", "FR", "BE", "FR", "FR", "BE"]:
            r = self.edge("/shop", headers=[("X-Country", country)])
            self.assertEqual(r.headers["location"], answers[country], country)
            self.assertEqual(r.headers.get("vary"), "X-Country")
            seen_hit[country] = seen_hit[country] or self.hit(r)
        # Each country's answer was kept, and handed only to that country.
        self.assertEqual(seen_hit, {"BE": True, "FR": True})

    def test_stale_if_error_keeps_answering_with_serve_stopped(self):
        first = self.edge("/kept", host="stale.example")
        self.assertEqual(first.headers["cache-control"], "max-age=1, stale-if-error=120")
        self.proc.kill()  # serve, by PID
        self.proc.wait(timeout=10)
        time.sleep(2.5)  # past max-age: only stale-if-error lets the edge answer now
        for _ in range(2):
            r = self.edge("/kept", host="stale.example")
            self.assertEqual(r.status, 302)
            self.assertEqual(r.headers["location"], "https://dest.example/kept")
            self.assertGreaterEqual(int(r.headers["age"]), 2)
        # A link the edge never stored has nothing to fall back on.
        self.assertEqual(self.edge("/plain", host="stale.example").status, 503)


if __name__ == "__main__":
    harness.main()
