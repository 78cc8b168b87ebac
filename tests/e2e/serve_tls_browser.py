"""A real browser follows an HTTPS short link. Headless Chromium, driven through chromedriver's
WebDriver protocol (HTTP on 127.0.0.1), trusts a private CA the test makes the way a user trusts
one on Linux: the root is imported with certutil into the NSS database of a temporary HOME, and
no certificate error is ignored. --host-resolver-rules send go.test to `shortlink serve
--tls-listen` on 127.0.0.1 and dest.test to a small HTTPS server started here (a certificate of
the same CA); every other name fails to resolve, so nothing leaves 127.0.0.1. The browser must
land on the destination with the query forwarded; a name whose certificate another CA issued
must stop at the browser's certificate error, which shows that the trust comes from the database.

Needs the Debian packages chromium, chromium-driver and libnss3-tools (scripts/install-deps.sh
installs them). Without them the test is skipped, unless SHORTLINK_DEPS_INSTALLED=1 says the
suite's own install ran (scripts/test.sh): then a missing browser fails it."""
import http.server
import json
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

import harness
from serve_fixture import ServeCase
from serve_tls import Pki, put

TOOLS = {"chromium": "chromium", "chromedriver": "chromium-driver", "certutil": "libnss3-tools"}
DRIVER_START_S = 20      # chromedriver answering /status
SESSION_START_S = 60     # the browser started (a cold start on a busy box takes seconds)
PAGE_LOAD_MS = 20000     # one navigation, redirects included
STOP_S = 10


def process_tree(root):
    """(pid, start time) of root and its live descendants, from /proc."""
    children, starts = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        starts[int(entry)] = fields[19]
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in starts:
            found.append((pid, starts[pid]))
        todo.extend(children.get(pid, []))
    return found


def kill_if_same(pid, start):
    """SIGKILL to pid if it is still the process that started at `start` (not a reused PID)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[19] != start:
                return
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


class Landing(http.server.BaseHTTPRequestHandler):
    """The destination site: a page whose title names the path it was asked for."""

    def do_GET(self):
        self.server.seen.append({"path": self.path, "host": self.headers.get("Host"),
                                 "agent": self.headers.get("User-Agent", "")})
        body = (f"<!doctype html><html><head><title>landed {self.path}</title>"
                f"<link rel=icon href='data:,'></head>"  # no request for /favicon.ico
                f"<body><p>{self.headers.get('Host')}{self.path}</p></body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class WebDriver:
    """A chromedriver process and one browser session, spoken to over HTTP (W3C WebDriver)."""

    def __init__(self, home, log_path, resolver_rules, user_data_dir, extra_args=(), chrome_options=None):
        """`extra_args` are added to the browser's command line, `chrome_options` to
        goog:chromeOptions (say, mobileEmulation)."""
        self.port = harness.free_port()
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                   XDG_CACHE_HOME=os.path.join(home, ".cache"))
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["chromedriver", f"--port={self.port}", "--allowed-ips=127.0.0.1"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True)
        self.session = None
        self.seen = set()
        deadline = time.monotonic() + DRIVER_START_S
        while True:
            try:
                if self.call("GET", "/status", timeout=2)["value"].get("ready"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"chromedriver did not start (log: {log_path})")
            time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={user_data_dir}", f"--host-resolver-rules={resolver_rules}",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps",
                "--disable-extensions", "--metrics-recording-only", "--password-store=basic", *extra_args]
        reply = self.call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "acceptInsecureCerts": False,
            "timeouts": {"pageLoad": PAGE_LOAD_MS, "script": 5000},
            "goog:chromeOptions": {"binary": shutil.which("chromium"), "args": args, **(chrome_options or {})}}}},
            timeout=SESSION_START_S)
        if "sessionId" not in reply["value"]:
            self.stop()
            raise AssertionError(f"no browser session: {reply['value']}")
        self.session = reply["value"]["sessionId"]
        self.remember_processes()

    def remember_processes(self):
        self.seen.update(process_tree(self.proc.pid))

    def call(self, method, path, body=None, timeout=PAGE_LOAD_MS / 1000 + 10):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())

    def command(self, method, path, body=None):
        """A command of the session: its value, or {"error": ..., "message": ...}."""
        return self.call(method, f"/session/{self.session}{path}", body)["value"]

    def navigate(self, url):
        """Loads url (following redirects); None, or the error WebDriver reports."""
        value = self.command("POST", "/url", {"url": url})
        self.remember_processes()
        return value

    def stop(self):
        """Ends the session (the browser quits), then chromedriver by PID, then SIGKILL to any
        process of the tree seen alive before that did not end with it."""
        if self.session is not None and self.proc.poll() is None:
            try:
                self.call("DELETE", f"/session/{self.session}", timeout=STOP_S)
            except OSError:
                pass
            self.session = None
        self.remember_processes()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_S)
        for pid, start in sorted(self.seen):
            if pid != self.proc.pid:
                kill_if_same(pid, start)


class BrowserCase(ServeCase):
    """A server test that drives headless Chromium: without the Debian packages in TOOLS it is
    skipped, or fails after the suite's own install (SHORTLINK_DEPS_INSTALLED=1). setUp() calls
    start(), which starts what the test needs (self.browser, self.landing); tearDown() stops them."""

    TOOLS = {"chromium": "chromium", "chromedriver": "chromium-driver"}

    def setUp(self):
        missing = [package for tool, package in self.TOOLS.items() if shutil.which(tool) is None]
        if missing:
            if os.environ.get("SHORTLINK_DEPS_INSTALLED") == "1":
                self.fail(f"missing Debian packages {', '.join(missing)}, although the suite's "
                          "install ran (scripts/install-deps.sh lists them)")
            self.skipTest(f"needs the Debian packages {', '.join(missing)} "
                          "(scripts/install-deps.sh installs them)")
        super().setUp()
        self.browser = None
        self.landing = None
        try:
            self.start()
        except BaseException:  # tearDown does not run after a setUp that raised
            self.tearDown()
            raise

    def start(self):
        raise NotImplementedError

    def tearDown(self):
        try:
            if getattr(self, "browser", None) is not None:
                self.browser.stop()
            if getattr(self, "landing", None) is not None:
                self.landing.shutdown()
                self.landing.server_close()
        finally:
            super().tearDown()


class ServeTlsBrowser(BrowserCase):
    TOOLS = TOOLS

    def start(self):
        self.sl("domain", "add", "go.test")
        self.sl("add", "https://dest.test/landing/spring?src=qr", "--code", "launch", "--domain", "go.test")
        self.sl("domain", "add", "untrusted.test")
        self.sl("add", "https://dest.test/landing/never", "--code", "launch", "--domain", "untrusted.test")
        self.compile()
        self.pki = Pki(os.path.join(self.tmp, "pki"))
        other_ca = Pki(os.path.join(self.tmp, "other-pki"))
        self.certs = os.path.join(self.tmp, "certs")
        os.mkdir(self.certs)
        cert, key = self.pki.leaf("go.test", ["go.test"])
        put(self.certs, "go.test.pem", cert + key)
        cert, key = other_ca.leaf("untrusted.test", ["untrusted.test"])
        put(self.certs, "untrusted.test.pem", cert + key)
        dest_cert, dest_key = self.pki.leaf("dest.test", ["dest.test"])
        self.pki.write("dest.pem", dest_cert + dest_key)

        # The user's NSS database: the test root, trusted to identify web sites.
        self.home = os.path.join(self.tmp, "home")
        nssdb = os.path.join(self.home, ".pki", "nssdb")
        os.makedirs(nssdb)
        for args in (["-N", "--empty-password"],
                     ["-A", "-n", "shortlink test root", "-t", "C,,", "-i", self.pki.root]):
            proc = subprocess.run(["certutil", "-d", "sql:" + nssdb, *args], capture_output=True,
                                  text=True, timeout=30)
            self.assertEqual(proc.returncode, 0, proc.stderr)

        self.landing = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Landing)
        self.landing.seen = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pki.path("dest.pem"))
        self.landing.socket = context.wrap_socket(self.landing.socket, server_side=True)
        self.landing_thread = threading.Thread(target=self.landing.serve_forever, daemon=True)
        self.landing_thread.start()

        self.tls_port = harness.free_port()
        self.serve("--tls-listen", f"127.0.0.1:{self.tls_port}", "--certs", self.certs)
        self.assertTrue(harness.wait_for_port(self.tls_port), "TLS listener did not start")
        rules = (f"MAP go.test 127.0.0.1:{self.tls_port}, MAP untrusted.test 127.0.0.1:{self.tls_port}, "
                 f"MAP dest.test 127.0.0.1:{self.landing.server_address[1]}, MAP * ~NOTFOUND")
        self.browser = WebDriver(self.home, os.path.join(self.tmp, "chromedriver.log"), rules,
                                 os.path.join(self.tmp, "browser-profile"))


    def page_text(self):
        return self.browser.command("POST", "/execute/sync", {"script": "return document.body.innerText",
                                                              "args": []})

    def test_browser_follows_a_short_link_to_its_destination(self):
        self.assertIsNone(self.browser.navigate("https://go.test/launch?campaign=b1"))
        self.assertEqual(self.browser.command("GET", "/url"),
                         "https://dest.test/landing/spring?src=qr&campaign=b1")
        self.assertEqual(self.browser.command("GET", "/title"), "landed /landing/spring?src=qr&campaign=b1")
        self.assertEqual(self.page_text(), "dest.test/landing/spring?src=qr&campaign=b1")
        self.assertEqual(len(self.landing.seen), 1, self.landing.seen)
        self.assertEqual(self.landing.seen[0]["host"], "dest.test")
        self.assertIn("Chrome", self.landing.seen[0]["agent"])
        # The browser's TLS handshake and the redirect were shortlink's.
        self.assertGreaterEqual(self.metric('shortlink_tls_handshakes_total{result="completed"}'), 1)
        self.assertGreaterEqual(self.metric('shortlink_requests_total{status="302"}'), 1)

    def test_a_certificate_from_another_ca_stops_the_browser(self):
        # Chromium shows its interstitial in place of the page (WebDriver's navigation succeeds
        # and lands on it): the address stays, the redirect is never followed.
        self.assertIsNone(self.browser.navigate("https://untrusted.test/launch"))
        self.assertEqual(self.browser.command("GET", "/url"), "https://untrusted.test/launch")
        self.assertEqual(self.browser.command("GET", "/title"), "Privacy error")
        self.assertIn("NET::ERR_CERT_AUTHORITY_INVALID", self.page_text())
        self.assertEqual(self.landing.seen, [])
        # The same browser, trusting the same database, still follows the trusted name.
        self.assertIsNone(self.browser.navigate("https://go.test/launch"))
        self.assertEqual(self.browser.command("GET", "/url"), "https://dest.test/landing/spring?src=qr")
        self.assertEqual([seen["path"] for seen in self.landing.seen], ["/landing/spring?src=qr"])

if __name__ == "__main__":
    unittest.main(verbosity=2)
