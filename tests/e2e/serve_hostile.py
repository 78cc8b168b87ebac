"""shortlink serve against malformed and hostile requests: a table of raw requests with the
expected status and whether the server closes the connection, plus slow-header (slowloris)
and oversized-input limits. Each row runs on its own connection."""
import time

import harness
from serve_fixture import Client, ServeCase

H = b"Host: x.example\r\n"
BIG = b"a" * 9000

# (name, raw request bytes, expected status, connection closed after the response)
TABLE = [
    ("bare LF line endings", b"GET /abc HTTP/1.1\nHost: a\n\n", 400, True),
    ("missing Host in HTTP/1.1", b"GET /abc HTTP/1.1\r\n\r\n", 400, True),
    ("duplicate Host", b"GET /abc HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, True),
    ("CL then TE", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, True),
    ("TE then CL", b"POST /abc HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400, True),
    ("duplicate equal CL", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400, True),
    ("duplicate different CL", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy", 400, True),
    ("CL list", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: 1, 1\r\n\r\nx", 400, True),
    ("CL not a number", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: abc\r\n\r\n", 400, True),
    ("CL negative", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400, True),
    ("CL with plus", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: +1\r\n\r\nx", 400, True),
    ("CL overflow", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\n", 400, True),
    ("TE gzip", b"POST /abc HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 400, True),
    ("TE chunked then gzip", b"POST /abc HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400, True),
    ("TE xchunked", b"POST /abc HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n", 400, True),
    ("TE twice", b"POST /abc HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, True),
    ("TE with space before colon", b"POST /abc HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, True),
    ("obs-fold", b"GET /abc HTTP/1.1\r\n" + H + b"X-A: b\r\n  c\r\n\r\n", 400, True),
    ("obs-fold after empty value", b"GET /abc HTTP/1.1\r\n" + H + b"X-A:\r\n c\r\n\r\n", 400, True),
    ("obs-fold on Host", b"GET /abc HTTP/1.1\r\nHost: a\r\n\t.example\r\n\r\n", 400, True),
    ("header without colon", b"GET /abc HTTP/1.1\r\n" + H + b"NoColon\r\n\r\n", 400, True),
    ("empty header name", b"GET /abc HTTP/1.1\r\n" + H + b": x\r\n\r\n", 400, True),
    ("non-token header name", b"GET /abc HTTP/1.1\r\n" + H + b"X(a): x\r\n\r\n", 400, True),
    ("control byte in value", b"GET /abc HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400, True),
    ("NUL in target", b"GET /ab\x00c HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("space in target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("HTTP/2.0 request line", b"GET /abc HTTP/2.0\r\n" + H + b"\r\n", 505, True),
    ("HTTP/3.0 request line", b"GET /abc HTTP/3.0\r\n" + H + b"\r\n", 505, True),
    ("HTTP/2.0 without a target", b"GET HTTP/2.0\r\n" + H + b"\r\n", 400, True),
    ("HTTP/0.9 request", b"GET /abc\r\n\r\n", 400, True),
    ("bad version token", b"GET /abc HTTP/1.1x\r\n" + H + b"\r\n", 400, True),
    ("lowercase version", b"GET /abc http/1.1\r\n" + H + b"\r\n", 400, True),
    ("request line too long", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + H + b"\r\n", 431, True),
    ("header too large", b"GET /abc HTTP/1.1\r\n" + H + b"X-Big: " + BIG + b"\r\n\r\n", 431, True),
    ("too many headers", b"GET /abc HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(120)) + b"\r\n", 431, True),
    ("bad chunk size", b"POST /abc HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, True),
    ("chunk over body limit", b"POST /abc HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nfffffff\r\nabc", 413, True),
    ("CL over body limit", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: 5000000\r\n\r\n", 413, True),
    ("garbage bytes", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, True),
    ("empty lines then garbage", b"\r\n\r\n\x16\x03\x01\x02\x00\r\n\r\n", 400, True),
    ("bare CR before a request", b"\rGET /abc HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("bare CR in the request line", b"GET /abc\rHTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("raw brackets in the path", b"GET /a[b] HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("space in the query", b"GET /abc?a=1 2 HTTP/1.1\r\n" + H + b"\r\n", 400, True),
    ("HTTP/1.2 without Host", b"GET /abc HTTP/1.2\r\n\r\n", 400, True),
    # Well framed but not answerable: the connection stays usable.
    ("unknown method", b"BREW /abc HTTP/1.1\r\n" + H + b"\r\n", 405, False),
    ("POST with body", b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello", 405, False),
    ("POST chunked body", b"POST /abc HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 405, False),
    ("OPTIONS asterisk", b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n", 405, False),
    ("CONNECT authority", b"CONNECT go.example.com:443 HTTP/1.1\r\n" + H + b"\r\n", 405, False),
    ("absolute-form ftp", b"GET ftp://go.example.com/docs HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("absolute-form userinfo", b"GET http://u:p@go.example.com/docs HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("asterisk target on GET", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("bad percent encoding", b"GET /%zz HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("truncated percent", b"GET /ab%4 HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("Host with userinfo", b"GET /abc HTTP/1.1\r\nHost: user@a.example\r\n\r\n", 400, False),
    ("Host with bad port", b"GET /abc HTTP/1.1\r\nHost: a.example:http\r\n\r\n", 400, False),
    ("Host with space", b"GET /abc HTTP/1.1\r\nHost: a b\r\n\r\n", 400, False),
    ("header-injection attempt in target", b"GET /abc%0d%0aSet-Cookie:x HTTP/1.1\r\n" + H + b"\r\n", 404, False),
    ("path traversal", b"GET /../../etc/passwd HTTP/1.1\r\n" + H + b"\r\n", 404, False),
    ("overlong code", b"GET /" + b"b" * 5000 + b" HTTP/1.1\r\n" + H + b"\r\n", 404, False),
    ("empty Host uses default domain", b"GET /abc HTTP/1.1\r\nHost:\r\n\r\n", 302, False),
    ("obs-text in a value is tolerated", b"GET /abc HTTP/1.1\r\n" + H + b"X-A: \xe9\r\n\r\n", 302, False),
    ("GET with body is answered", b"GET /abc HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nxyz", 302, False),
    ("HTTP/1.0 without Host", b"GET /abc HTTP/1.0\r\n\r\n", 302, True),
    # What real clients send, accepted as nginx does.
    ("raw [ ] { } | ^ ` \\ in the query (curl -g)", b"GET /abc?a[0]={x}|^`\\ HTTP/1.1\r\n" + H + b"\r\n", 302, False),
    ("raw quote and angle brackets in the query", b"GET /abc?q=\"<b>\" HTTP/1.1\r\n" + H + b"\r\n", 302, False),
    ("UTF-8 bytes in the query", b"GET /abc?q=caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 302, False),
    ("empty line before the request", b"\r\nGET /abc HTTP/1.1\r\n" + H + b"\r\n", 302, False),
    ("empty lines before the request", b"\r\n\r\n\r\nGET /abc HTTP/1.1\r\n" + H + b"\r\n", 302, False),
    ("HTTP/1.2 is read as HTTP/1.1", b"GET /abc HTTP/1.2\r\n" + H + b"\r\n", 302, False),
    ("HTTP/1.9 is read as HTTP/1.1", b"GET /abc HTTP/1.9\r\n" + H + b"\r\n", 302, False),
]

# Query forwarding of what clients send raw: (request target, Location the server must send).
FORWARDED = [
    ("/abc?a[0]=1&b={x}", "https://dest.example/a?a%5B0%5D=1&b=%7Bx%7D"),
    ("/abc?p=a|b^c`d\\e", "https://dest.example/a?p=a%7Cb%5Ec%60d%5Ce"),
    ("/abc?q=\"<script>\"", "https://dest.example/a?q=%22%3Cscript%3E%22"),
    ("/q?k=[1]", "https://dest.example/q?x=1&k=%5B1%5D"),
    ("/frag?k=[1]", "https://dest.example/f?k=%5B1%5D#top"),
    ("/abc?already=%5B", "https://dest.example/a?already=%5B"),
]


class ServeHostile(ServeCase):

    def test_raw_request_table(self):
        self.assertGreaterEqual(len(TABLE), 40)
        self.compile()
        self.serve()
        for name, raw, status, closes in TABLE:
            with self.subTest(name=name):
                with Client(self.port) as c:
                    c.send(raw)
                    r = c.response()
                    self.assertIsNotNone(r, "no response before close")
                    self.assertEqual(r.status, status, r)
                    self.assertEqual(int(r.headers["content-length"]), len(r.body))
                    if closes:
                        self.assertEqual(r.headers.get("connection"), "close")
                        self.assertTrue(c.closed(), "connection should close")
                    else:
                        self.assertNotIn("connection", r.headers)
                        # Still usable: a follow-up request on the same connection is answered.
                        c.send(b"GET /abc HTTP/1.1\r\n" + H + b"\r\n")
                        follow = c.response()
                        self.assertIsNotNone(follow)
                        self.assertEqual(follow.status, 302)
                    self.assertNotIn("set-cookie", r.headers)
        # The server survived all of it.
        self.assertEqual(self.get("/abc").status, 302)
        self.assertIsNone(self.proc.poll())

    def test_raw_query_bytes_are_forwarded_encoded(self):
        self.compile()
        self.serve()
        for target, location in FORWARDED:
            with self.subTest(target=target):
                with Client(self.port) as c:
                    c.send(b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\n" + H + b"\r\n")
                    r = c.response()
                    self.assertIn(r.status, (302, 307), r)  # /q is a 307 link
                    self.assertEqual(r.headers["location"], location)
                    # The page repeats the Location, HTML-escaped: no raw quote or bracket.
                    self.assertIn(location.replace("&", "&amp;").encode(), r.body)

    def test_pipelined_requests_after_empty_lines(self):
        self.compile()
        self.serve()
        with Client(self.port) as c:
            request = b"GET /abc HTTP/1.1\r\n" + H + b"\r\n"
            c.send(request + b"\r\n" + request + b"\r\n\r\n" + request)
            for _ in range(3):
                r = c.response()
                self.assertIsNotNone(r)
                self.assertEqual(r.status, 302)
            # An empty line split from its request by a pause is still ignored.
            c.send(b"\r")
            time.sleep(0.1)
            c.send(b"\n" + request)
            self.assertEqual(c.response().status, 302)

    def test_smuggled_request_after_rejection_is_not_answered(self):
        self.compile()
        self.serve()
        with Client(self.port) as c:
            c.send(b"POST /abc HTTP/1.1\r\n" + H + b"Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"0\r\n\r\nGET /abc HTTP/1.1\r\n" + H + b"\r\n")
            self.assertEqual(c.response().status, 400)
            self.assertIsNone(c.response(), "a second response means the smuggled request was parsed")

    def test_slow_header_is_cut_off(self):
        self.compile()
        self.serve("--header-timeout", "1")
        with Client(self.port) as c:
            started = time.monotonic()
            c.send(b"GET /abc HTTP/1.1\r\n")
            # Trickle bytes like a slowloris client; the deadline counts from the first byte.
            closed = False
            for _ in range(20):
                time.sleep(0.2)
                try:
                    c.send(b"X: y\r\n")
                except OSError:
                    closed = True
                    break
                if c.closed(0.01):
                    closed = True
                    break
            elapsed = time.monotonic() - started
            self.assertTrue(closed or c.closed(2.0), "slow header was not cut off")
            self.assertLess(elapsed, 3.5)
        self.assertGreaterEqual(self.metric('shortlink_timeouts_total{kind="header"}'), 1)
        self.assertEqual(self.get("/abc").status, 302)

    def test_many_idle_connections_do_not_block_service(self):
        self.compile()
        self.serve("--max-connections", "50")
        idle = [Client(self.port) for _ in range(40)]
        try:
            self.assertEqual(self.get("/abc").status, 302)
        finally:
            for c in idle:
                c.sock.close()


if __name__ == "__main__":
    harness.main()
