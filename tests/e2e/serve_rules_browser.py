"""A real browser follows a short link with a device rule and lands where its device belongs.
Headless Chromium, driven through chromedriver's WebDriver protocol as in serve_tls_browser.py,
asks `shortlink serve` (plain HTTP on 127.0.0.1) for a link whose rules send phones to one site
and desktops to another. Emulating a phone (goog:chromeOptions mobileEmulation, chromedriver's
own Pixel 7 profile) it must land on the phone destination; with a desktop Chromium's
User-Agent, on the desktop one; as headless Chromium announces itself (a robot: no form factor),
on the link's own destination. --host-resolver-rules send go.test to the server and the
destinations to a small server started here; every other name fails, so nothing leaves
127.0.0.1.

Needs the Debian packages chromium and chromium-driver (scripts/install-deps.sh installs them).
Without them the test is skipped, unless SHORTLINK_DEPS_INSTALLED=1 says the suite's own
install ran (scripts/test.sh): then a missing browser fails it."""
import http.server
import os
import threading
import unittest

import harness
from serve_tls_browser import BrowserCase, Landing, WebDriver

DESKTOP_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")


class ServeRulesBrowser(BrowserCase):

    def start(self):
        self.sl("domain", "add", "go.test")
        self.sl("add", "http://other.test/landing/default", "--code", "app", "--domain", "go.test")
        self.sl("rule", "add", "app", "--domain", "go.test", "--if", "device=mobile",
                "--to", "http://phone.test/landing/phone")
        self.sl("rule", "add", "app", "--domain", "go.test", "--if", "device=desktop",
                "--to", "http://desk.test/landing/desktop")
        self.compile()
        self.landing = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Landing)
        self.landing.seen = []
        self.landing_thread = threading.Thread(target=self.landing.serve_forever, daemon=True)
        self.landing_thread.start()
        self.serve()
        landing = f"127.0.0.1:{self.landing.server_address[1]}"
        self.rules = (f"MAP go.test 127.0.0.1:{self.port}, MAP phone.test {landing}, MAP desk.test {landing}, "
                      f"MAP other.test {landing}, MAP * ~NOTFOUND")

    def open_browser(self, name, **options):
        self.browser = WebDriver(self.tmp, os.path.join(self.tmp, f"chromedriver-{name}.log"), self.rules,
                                 os.path.join(self.tmp, f"profile-{name}"), **options)


    def land(self, url):
        self.assertIsNone(self.browser.navigate(url))
        return self.browser.command("GET", "/url"), self.browser.command("GET", "/title")

    def test_a_phone_lands_on_the_phone_destination(self):
        self.open_browser("phone", chrome_options={"mobileEmulation": {"deviceName": "Pixel 7"}})
        self.assertEqual(self.land("http://go.test/app"),
                         ("http://phone.test/landing/phone", "landed /landing/phone"))
        self.assertEqual(len(self.landing.seen), 1, self.landing.seen)
        self.assertEqual(self.landing.seen[0]["host"], "phone.test")
        self.assertIn("Android", self.landing.seen[0]["agent"])
        self.assertIn("Mobile", self.landing.seen[0]["agent"])
        # The browser asked shortlink once and followed the redirect it got.
        self.assertEqual(self.metric('shortlink_requests_total{status="302"}'), 1)

    def test_a_desktop_lands_on_the_desktop_destination(self):
        self.open_browser("desktop", extra_args=[f"--user-agent={DESKTOP_UA}", "--window-size=1280,800"])
        self.assertEqual(self.land("http://go.test/app"),
                         ("http://desk.test/landing/desktop", "landed /landing/desktop"))
        self.assertEqual([seen["host"] for seen in self.landing.seen], ["desk.test"])
        self.assertEqual(self.landing.seen[0]["agent"], DESKTOP_UA)

    def test_headless_chromium_as_it_announces_itself_gets_the_links_own_destination(self):
        self.open_browser("headless")
        self.assertEqual(self.land("http://go.test/app"),
                         ("http://other.test/landing/default", "landed /landing/default"))
        self.assertIn("HeadlessChrome", self.landing.seen[0]["agent"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
