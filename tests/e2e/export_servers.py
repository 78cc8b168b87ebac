"""End-to-end: `shortlink export --format nginx-map|haproxy-map|cloudflare-csv`. The maps are
loaded, with the sample configurations of docs/fallback-servers.md, into Debian's nginx and
HAProxy on 127.0.0.1, and every link (and variants of its request) must answer as
`shortlink serve` answers on the same store: the same status and Location for every redirect,
and never a redirect where serve does not redirect, except the links the report says it
dropped. The Cloudflare CSV is parsed and checked row by row against the store. Python 3
standard library only."""
import csv
import http.client
import io
import json
import os
import re
import shutil
import signal
import subprocess
import unittest
import urllib.parse

import harness
import serve_fixture

SOURCE_DOC = os.path.join(harness.SOURCE_DIR, "docs", "fallback-servers.md")

# (domain, code, destination, extra `add` args); domain None: the default domain.
LINKS = [
    ("go.example.com", "abc", "https://dest.example/a", []),
    ("go.example.com", "Abc", "https://dest.example/upper", []),        # differs only in case
    ("go.example.com", "t302", "https://dest.example/q?x=1", ["--type", "302"]),
    ("go.example.com", "t307", "https://dest.example/f#top", ["--type", "307"]),
    ("go.example.com", "t308", "https://dest.example/n?k=v#frag", ["--type", "308", "--no-forward-query"]),
    ("go.example.com", "uni", "https://dest.example/%C3%BCn%C3%AF/p%C3%A4th?q=%C3%A4", []),
    ("go.example.com", "pct", "https://dest.example/a%20b?c=%2F", []),
    ("go.example.com", "price", "https://dest.example/price$5?x=$y", []),
    ("go.example.com", "docs/v2.1_x~y", "https://dest.example/docs", []),
    ("go.example.com", "qend", "https://dest.example/e?", []),
    ("go.example.com", "sale", "https://dest.example/sale", ["--expires", "2099-01-01T00:00:00Z"]),
    ("go.example.com", "old", "https://dest.example/old", ["--expires", "2020-01-01T00:00:00Z"]),
    ("go.example.com", "soon", "https://dest.example/soon", ["--not-before", "2099-01-01T00:00:00Z"]),
    ("go.example.com", "off", "https://dest.example/off", []),
    ("go.example.com", "gone", "https://dest.example/gone", []),
    ("go.example.com", "blk", "https://dest.example/blk", []),
    ("go.example.com", "evil", "https://www.evil.example/x", []),
    ("ci.example.com", "Mixed", "https://dest.example/mixed", []),
    ("ci.example.com", "fwd", "https://dest.example/fwd", ["--forward-query"]),
    ("ci.example.com", "t301", "https://dest.example/301", ["--type", "301"]),
    ("sus.example.com", "s1", "https://dest.example/s1", []),
    (None, "home", "https://dest.example/home", []),
    (None, "Case", "https://dest.example/case", ["--type", "308"]),
]


class Fallback:
    """nginx or HAProxy on a free port of 127.0.0.1 with an export, stopped by its PID."""

    def __init__(self, case, kind, export_path):
        self.port = harness.free_port()
        self.dir = os.path.join(case.tmp, kind)
        os.makedirs(os.path.join(self.dir, "tmp"))
        config = sample_config(kind)
        if kind == "nginx":
            config = (config.replace("listen 80 default_server", f"listen 127.0.0.1:{self.port} default_server")
                      .replace("/etc/nginx/shortlink-links.conf", export_path))
            temp = "".join(f"    {k}_temp_path {self.dir}/tmp;\n"
                           for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            main = (f"daemon off;\nmaster_process off;\npid {self.dir}/nginx.pid;\n"
                    f"error_log {self.dir}/error.log warn;\nevents {{ worker_connections 64; }}\n"
                    f"http {{\n    access_log off;\n{temp}{config}\n}}\n")
            path = os.path.join(self.dir, "nginx.conf")
            args = ["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"), "-c", path]
        else:
            config = (config.replace("bind :80", f"bind 127.0.0.1:{self.port}")
                      .replace("/etc/haproxy/shortlink.map", export_path))
            main = ("global\n    maxconn 256\ndefaults\n    mode http\n    timeout client 5s\n"
                    f"    timeout connect 5s\n    timeout server 5s\n{config}\n")
            path = os.path.join(self.dir, "haproxy.cfg")
            args = ["haproxy", "-db", "-f", path]
        with open(path, "w") as f:
            f.write(main)
        self.log = open(os.path.join(self.dir, "stderr.log"), "w+b")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        if not harness.wait_for_port(self.port):
            self.log.seek(0)
            output = self.log.read().decode(errors="replace")
            self.stop()
            raise AssertionError(f"{kind} did not start:\n{output}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def sample_config(kind):
    """The ```nginx or ```haproxy block of docs/fallback-servers.md: the test runs what the
    documentation tells a user to write."""
    with open(SOURCE_DOC, encoding="utf-8") as f:
        doc = f.read()
    match = re.search(r"```" + kind + r"\n(.*?)```", doc, re.S)
    if not match:
        raise AssertionError(f"no ```{kind} block in {SOURCE_DOC}")
    return match.group(1)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def get(port, host, target):
    """(status, Location or None) of a GET over HTTP/1.1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", target, headers={"Host": host})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader("Location")
    finally:
        conn.close()


def swap_case(code):
    return code.swapcase()


class ExportServersTest(serve_fixture.ServeCase):
    def setUp(self):
        harness.ShortlinkTestCase.setUp(self)
        self.procs, self.logs = [], []
        self.fallbacks = []
        self.snaps = os.path.join(self.tmp, "snaps")
        os.mkdir(self.snaps)
        self.sl("init")
        self.sl("domain", "add", "go.example.com", "--default-type", "301",
                "--root-url", "https://www.example.com/home?from=go")
        self.sl("domain", "add", "ci.example.com", "--case-insensitive", "--no-forward-query")
        self.sl("domain", "add", "sus.example.com")
        for domain, code, dest, extra in LINKS:
            where = ["--domain", domain] if domain else []
            self.sl("add", dest, "--code", code, *where, *extra)
        self.sl("disable", "off", "--domain", "go.example.com")
        self.sl("delete", "gone", "--domain", "go.example.com")
        self.sl("block", "link", "blk", "--domain", "go.example.com")
        self.sl("block", "destination", "evil.example")
        self.sl("block", "domain", "sus.example.com")
        self.key, self.pub = self.keygen("main")
        self.compile()
        self.serve()

    def tearDown(self):
        for fallback in self.fallbacks:
            fallback.stop()
        super().tearDown()

    def export(self, fmt, *extra):
        """Writes the export to a file; returns (path, report lines)."""
        path = os.path.join(self.tmp, f"export-{fmt}-{len(extra)}")
        proc = self.sl("export", "--format", fmt, "-o", path, *extra)
        self.assertEqual(proc.stdout, "")
        return path, proc.stderr.splitlines()

    def requests(self, only_host=None):
        """(host, target) pairs: every stored link (all states) with variants of its request, every
        root, and misses. Default-domain links are asked for under a host no domain has."""
        links = [json.loads(line) for line in self.sl("export", "--format", "jsonl").stdout.splitlines()]
        out = []
        for link in links:
            host = link["domain"] if link["domain"] != "*" else "other.example"
            if only_host and link["domain"] != only_host:
                continue
            code = link["code"]
            out += [(host, f"/{code}"), (host, f"/{code}?utm=1&b=%2F"), (host, f"/{code}/"),
                    (host, f"/{swap_case(code)}"), (host, f"/{swap_case(code)}?z=1"), (host, f"/{code}?"),
                    (host, "/%" + format(ord(code[0]), "02X") + code[1:]),
                    (host.upper() + ".", f"/{code}")]
        hosts = ["go.example.com", "ci.example.com", "other.example"]
        if only_host:
            hosts = [only_host]
        for host in hosts:
            out += [(host, "/"), (host, "/?a=1"), (host, "/nope"), (host, "/abc/def")]
        return out

    def compare(self, fallback_port, requests, dropped):
        """Every request answers on the fallback as on serve; a link in `dropped` may answer 404
        where serve redirects. Returns the number of redirects compared."""
        redirects = 0
        for host, target in requests:
            with self.subTest(host=host, target=target):
                want = get(self.port, host, target)
                got = get(fallback_port, host, target)
                if 300 <= want[0] < 400:
                    path = urllib.parse.unquote(target.split("?")[0]).strip("/")
                    if (host.lower().rstrip("."), path) in dropped:
                        self.assertEqual(got, (404, None))
                        continue
                    self.assertEqual(got, want)
                    redirects += 1
                else:
                    # serve's 404 or 410: the fallback must not redirect.
                    self.assertEqual(got, (404, None), f"serve answered {want}")
        return redirects

    def dropped_from(self, report):
        """(host as requested, code) of the links the report says were dropped (first examples)."""
        out = set()
        for line in report:
            m = re.search(r"dropped: .*\(first: ([^/]+)/(.*)\)$", line)
            if m:
                host = m.group(1) if m.group(1) != "*" else "other.example"
                out.add((host, m.group(2)))
        return out

    def test_nginx_map_answers_as_serve(self):
        path, report = self.export("nginx-map")
        text = read(path)
        self.assertRegex(text.splitlines()[0],
                         r"^# shortlink export --format nginx-map: \d+ redirects from .*links\.db at \d{4}-")
        self.assertIn("${shortlink_dollar}", text)
        self.assertNotIn("$5", text)  # the '$' of the destination never reaches nginx raw
        joined = "\n".join(report)
        for expected in ("1 link dropped: the code differs only in case", "first: go.example.com/abc)",
                         "1 link written with '$' as ${shortlink_dollar}", "left out: disabled",
                         "left out: deleted", "3 links left out: blocked", "left out: expired",
                         "left out: not yet valid", "kept with an expiry the target cannot enforce"):
            self.assertIn(expected, joined)
        self.assertEqual(len(report), len(set(report)), "one line per reason")
        dropped = self.dropped_from(report)
        self.assertEqual(dropped, {("go.example.com", "abc")})  # "Abc" sorts first and is kept
        fallback = Fallback(self, "nginx", path)
        self.fallbacks.append(fallback)
        redirects = self.compare(fallback.port, self.requests(), dropped)
        self.assertGreater(redirects, 40)

    def test_nginx_one_domain_map_keys_on_the_path(self):
        path, report = self.export("nginx-map", "--domain", "Go.Example.COM")
        text = read(path)
        self.assertIn('"/Abc" "301 ? /Abc https://dest.example/upper";', text)
        self.assertNotIn("ci.example.com", text)
        self.assertNotIn("$shortlink_domain", text)
        fallback = Fallback(self, "nginx", path)
        self.fallbacks.append(fallback)
        requests = self.requests(only_host="go.example.com")
        self.assertGreater(self.compare(fallback.port, requests, self.dropped_from(report)), 20)

    def test_haproxy_map_answers_as_serve(self):
        path, report = self.export("haproxy-map")
        text = read(path)
        self.assertTrue(text.startswith("# shortlink export --format haproxy-map: "))
        self.assertIn("https://dest.example/price$5?x=$y", text)  # literal in a map value
        # HAProxy's lookup is exact: codes differing only in case are both kept.
        self.assertEqual(self.dropped_from(report), set())
        self.assertIn("3 links left out: blocked", "\n".join(report))
        fallback = Fallback(self, "haproxy", path)
        self.fallbacks.append(fallback)
        self.assertGreater(self.compare(fallback.port, self.requests(), set()), 40)

    def test_cloudflare_csv_rows_match_the_store(self):
        path, report = self.export("cloudflare-csv")
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        self.assertEqual(rows[0], ["source_url", "target_url", "status_code", "preserve_query_string",
                                   "include_subdomains", "subpath_matching", "preserve_path_suffix"])
        got = {}
        for row in rows[1:]:
            self.assertEqual(len(row), 7, row)
            self.assertNotRegex(row[0], r"^[a-z]+://", "no scheme: both http and https")
            self.assertIn(row[2], {"301", "302", "307", "308"})
            for flag in row[3:]:
                self.assertIn(flag, {"true", "false"})
            self.assertEqual(row[4:], ["false", "false", "false"])
            self.assertNotIn(row[0], got, "Cloudflare refuses duplicate source URLs")
            got[row[0]] = (row[1], int(row[2]), row[3] == "true")
        # What serve redirects on the named domains, asked of serve itself: the code as stored
        # (lowercase on the case-insensitive domain, where every spelling answers alike).
        want = {}
        for host, target in self.requests():
            if host not in ("go.example.com", "ci.example.com") or re.search(r"[?%]|./$", target):
                continue
            status, location = get(self.port, host, target)
            if 300 <= status < 400:
                code = target[1:].lower() if host == "ci.example.com" else target[1:]
                want[f"{host}/{code}"] = (location, status)
        self.assertIn("go.example.com/", want)  # the root URL
        self.assertEqual({k: v[:2] for k, v in got.items()}, want)
        # Forwarding as the store says: go.example.com forwards by default, ci.example.com does not.
        self.assertTrue(got["go.example.com/abc"][2])
        self.assertFalse(got["go.example.com/t308"][2])
        self.assertFalse(got["ci.example.com/mixed"][2])
        self.assertTrue(got["ci.example.com/fwd"][2])
        joined = "\n".join(report)
        self.assertIn("2 links dropped: on the default domain", joined)
        self.assertIn("written in its stored (lowercase) spelling only", joined)

    def test_hostile_inputs(self):
        proc = self.sl("export", "--format", "apache-map", expect=2)
        self.assertIn("apache-map", proc.stderr)
        proc = self.sl("export", "--format", "nginx-map", "--domain", "nosuch.example.com", expect=3)
        self.assertIn("nosuch.example.com", proc.stderr)
        self.assertEqual(proc.stdout, "")
        proc = self.sl("export", "--format", "csv", "--domain", "nosuch.example.com", expect=3)
        proc = self.sl("export", "--format", "haproxy-map", "--domain", "bad host!", expect=2)
        # A directory that cannot be created, whoever runs the test (root ignores modes).
        blocker = os.path.join(self.tmp, "blocker")
        with open(blocker, "w") as f:
            f.write("a file, not a directory\n")
        proc = self.sl("export", "--format", "nginx-map", "-o", os.path.join(blocker, "links.conf"), expect=1)
        self.assertIn("cannot create " + os.path.join(blocker, "links.conf"), proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.assertEqual(read(blocker), "a file, not a directory\n")

if __name__ == "__main__":
    if not shutil.which("nginx") or not shutil.which("haproxy"):
        raise SystemExit("export_servers: needs Debian's nginx and haproxy (apt-get install nginx-light haproxy)")
    harness.main()
