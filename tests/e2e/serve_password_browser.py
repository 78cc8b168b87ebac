"""A real browser opens a password-protected short link, is shown the form, submits a wrong
password and is refused, submits the right one and lands on the destination; the next visit goes
straight through on the cookie. Headless Chromium driven through chromedriver's WebDriver
protocol, as in serve_tls_browser.py (plain HTTP here): --host-resolver-rules send go.test to
`shortlink serve --listen` on 127.0.0.1 and dest.test to a small HTTP server started here; every
other name fails to resolve, so nothing leaves 127.0.0.1.

Needs the Debian packages chromium and chromium-driver (scripts/install-deps.sh installs them).
Without them the test is skipped, unless SHORTLINK_DEPS_INSTALLED=1 says the suite's own install
ran (scripts/test.sh): then a missing browser fails it."""
import http.server
import os
import threading
import time
import unittest

import harness
from serve_tls_browser import BrowserCase, Landing, WebDriver

PASSWORD = "correct horse battery staple"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element reference key


class RefererLanding(Landing):
    """The destination site, also noting the Referer each request came with."""

    def do_GET(self):
        self.server.referers.append(self.headers.get("Referer"))
        super().do_GET()


class ServePasswordBrowser(BrowserCase):

    def start(self):
        self.sl("domain", "add", "go.test")
        pw = os.path.join(self.tmp, "pw.txt")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        self.sl("add", "http://dest.test/landing/board?src=mail", "--code", "board", "--domain", "go.test",
                "--password-file", pw)
        self.compile()
        self.landing = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RefererLanding)
        self.landing.seen = []
        self.landing.referers = []
        self.landing_thread = threading.Thread(target=self.landing.serve_forever, daemon=True)
        self.landing_thread.start()
        self.serve()
        rules = (f"MAP go.test 127.0.0.1:{self.port}, MAP dest.test 127.0.0.1:{self.landing.server_address[1]}, "
                 "MAP * ~NOTFOUND")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.browser = WebDriver(self.home, os.path.join(self.tmp, "chromedriver.log"), rules,
                                 os.path.join(self.tmp, "browser-profile"))


    def element(self, css):
        value = self.browser.command("POST", "/element", {"using": "css selector", "value": css})
        self.assertIn(ELEMENT, value, value)
        return value[ELEMENT]

    def page_text(self):
        return self.browser.command("POST", "/execute/sync", {"script": "return document.body.innerText",
                                                              "args": []})

    def submit(self, password):
        field = self.element("input[name=password]")
        self.assertIsNone(self.browser.command("POST", f"/element/{field}/value", {"text": password}))
        self.assertIsNone(self.browser.command("POST", f"/element/{self.element('button[type=submit]')}/click", {}))

    def wait_for_url(self, predicate, what):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            url = self.browser.command("GET", "/url")
            if predicate(url) and self.browser.command("POST", "/execute/sync", {
                    "script": "return document.readyState", "args": []}) == "complete":
                return url
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what} (at {self.browser.command('GET', '/url')})")

    def test_form_then_destination_then_cookie(self):
        self.assertIsNone(self.browser.navigate("http://go.test/board"))
        self.assertEqual(self.browser.command("GET", "/url"), "http://go.test/board")
        self.assertEqual(self.browser.command("GET", "/title"), "Password required")
        self.assertIn("protected by a password", self.page_text())
        # A wrong password: the form again, saying so; the destination is never asked.
        self.submit("not it")
        self.wait_for_url(lambda url: url == "http://go.test/board", "the refused form")
        self.assertIn("Wrong password", self.page_text())
        self.assertEqual(self.landing.seen, [])
        # The right one: the browser follows the 303 to the destination.
        self.submit(PASSWORD)
        url = self.wait_for_url(lambda url: url.startswith("http://dest.test/"), "the destination")
        self.assertEqual(url, "http://dest.test/landing/board?src=mail")
        self.assertEqual(self.browser.command("GET", "/title"), "landed /landing/board?src=mail")
        self.assertEqual([seen["path"] for seen in self.landing.seen], ["/landing/board?src=mail"])
        # No Referer reached the destination (Referrer-Policy: no-referrer on the 303).
        self.assertEqual(self.landing.referers, [None])
        self.assertEqual(self.metric('shortlink_password_checks_total{result="ok"}'), 1)
        self.assertEqual(self.metric('shortlink_password_checks_total{result="failed"}'), 1)
        # The cookie (HttpOnly: no script sees it) lets the next visit straight through.
        self.assertIsNone(self.browser.navigate("http://go.test/board"))
        self.assertEqual(self.browser.command("GET", "/url"), "http://dest.test/landing/board?src=mail")
        self.assertEqual(len(self.landing.seen), 2)
        self.assertGreaterEqual(self.metric('shortlink_requests_total{status="302"}'), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
