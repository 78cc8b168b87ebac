#!/usr/bin/env python3
"""Regenerates the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/) with the built
binary (snapshots, overlays, patches and keys are made by the real commands; keys are converted
with the openssl command for the DER seeds).

    python3 tests/fuzz/make_corpus.py build/cli/shortlink [TARGET...]

Seeds named valid-* must be accepted by their target's harness and bad-* refused
(tests/fuzz/fuzz_targets.h); the replay test checks both on every run. Inputs the fuzzer found
are not made here: they are committed by hand under the same naming, and this script leaves
every file it does not write alone. Run it after a format change and commit the result with the
change (formats/SPEC.md).
"""
import base64
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HEADER = 128
ENTRY = 32


def sl(binary, db, *args):
    subprocess.run([binary, "--db", db, *args], check=True, capture_output=True)


def compile_db(binary, work, name, links, blocks=(), command="compile", edits=(), rules=(), setup=(),
               passwords=()):
    """Compiles a database of `links` with `blocks` (shortlink block arguments); with command
    "overlay" returns the deny overlay instead of the snapshot; with `edits` (shortlink
    arguments run after a full compile), the patch that holds them."""
    db = os.path.join(work, name + ".db")
    out = os.path.join(work, name)
    os.makedirs(out)
    sl(binary, db, "init")
    for host, code, url in links:
        if host != "*":
            subprocess.run([binary, "--db", db, "domain", "add", host], capture_output=True)
        sl(binary, db, "add", url, "--code", code, *([] if host == "*" else ["--domain", host]))
    for args in setup:
        sl(binary, db, *args)
    for rule in rules:
        sl(binary, db, "rule", "add", *rule)
    for code, password, *extra in passwords:
        path = os.path.join(work, name + "-" + code + ".pw")
        with open(path, "w") as f:
            f.write(password + "\n")
        sl(binary, db, "edit", code, "--password-file", path, *extra)
    for block in blocks:
        sl(binary, db, "block", *block)
    sl(binary, db, command, "--key", os.path.join(work, "k.key"), "--out", out)
    suffix = ".slsnap" if command == "compile" else ".sldeny"
    if edits:
        for edit in edits:
            sl(binary, db, *edit)
        sl(binary, db, "compile", "--patch", "--key", os.path.join(work, "k.key"), "--out", out)
        suffix = ".slpatch"
    [found] = [f for f in os.listdir(out) if f.endswith(suffix)]
    with open(os.path.join(out, found), "rb") as f:
        return bytearray(f.read())


def publish_index(binary, work, name):
    """The origin index `shortlink publish` writes over the directory compile_db made for `name`."""
    out = os.path.join(work, name)
    subprocess.run([binary, "publish", "--key", os.path.join(work, "k.key"), "--out", out], check=True,
                   capture_output=True)
    with open(os.path.join(out, "index-stable.slindex"), "rb") as f:
        return bytearray(f.read())


def section(data, type_):
    count = struct.unpack_from("<I", data, 60)[0]
    for i in range(count):
        t, _, off, length, _ = struct.unpack_from("<IIQQQ", data, HEADER + i * ENTRY)
        if t == type_:
            return HEADER + i * ENTRY, off, length
    raise SystemExit(f"no section {type_}")


def reader_seeds(binary, work):
    """Snapshots, deny overlays, patches and origin indexes, and each damaged in one named way."""
    subprocess.run([binary, "keygen", "--out", work, "--name", "k"], check=True,
                   capture_output=True)
    seeds = {
        "valid-empty": compile_db(binary, work, "empty", []),
        "valid-one-link": compile_db(binary, work, "one", [("*", "abc", "https://a.example/x")]),
        "valid-two-domains": compile_db(binary, work, "two", [
            ("*", "docs/setup", "https://a.example/setup?x=1"),
            ("go.example", "a.b~c", "https://b.example/%C3%BC"),
            ("go.example", "k1", "https://c.example/"),
        ]),
    }
    blocked = [("*", "abc", "https://a.example/x"), ("go.example", "k1", "https://c.example/")]
    blocks = [("link", "abc"), ("domain", "go.example"), ("destination", "evil.example")]
    seeds["valid-snapshot-with-deny"] = compile_db(binary, work, "snapdeny", blocked, blocks)
    seeds["valid-overlay"] = compile_db(binary, work, "overlay", blocked, blocks, "overlay")
    seeds["valid-overlay-empty"] = compile_db(binary, work, "overlay0", [], (), "overlay")
    seeds["valid-patch"] = compile_db(binary, work, "patch", blocked, [("link", "abc")],
                                      edits=[("edit", "abc", "--url", "https://a.example/y"),
                                             ("domain", "set", "go.example", "--default-type", "308"),
                                             ("add", "https://n.example/", "--code", "new")])
    seeds["valid-snapshot-with-rules"] = compile_db(binary, work, "rules", blocked, rules=[
        ("abc", "--if", "device=ios,android", "--if", "lang=fr,en-US", "--to", "https://a.example/app", "--type", "307"),
        ("abc", "--if", "ip=10.0.0.0/8,2001:db8::/32", "--if", "country=FR", "--to", "https://a.example/ip"),
        ("abc", "--if", "query=a=b", "--if", "after=2020-01-01T00:00:00Z", "--if", "before=2030-01-01T00:00:00Z",
         "--if", "split=30", "--to", "https://a.example/q"),
        ("abc", "--if", "split=70", "--if", "query=debug", "--to", "https://a.example/r")])
    seeds["valid-snapshot-with-policies"] = compile_db(binary, work, "policies", blocked, setup=[
        ("domain", "set", "go.example", "--not-found-url", "https://go.example/search", "--expired-url",
         "https://go.example/ended", "--gone-text", "Over.", "--stale-if-error", "600", "--cache-scope", "public"),
        ("add", "https://n.example/x", "--code", "ended", "--domain", "go.example", "--expires", "2020-01-01T00:00:00Z",
         "--expired-url", "https://n.example/after"),
        ("add", "https://n.example/r", "--code", "reserved", "--reserve")])
    # A password link without rules (a list of 0 rules and a password block) and one with rules.
    seeds["valid-snapshot-with-passwords"] = compile_db(binary, work, "passwords", blocked, rules=[
        ("k1", "--domain", "go.example", "--if", "split=40", "--to", "https://a.example/split")],
        passwords=[("abc", "pw"), ("k1", "pw2", "--domain", "go.example")])
    one = seeds["valid-one-link"]
    bad = {}
    bad["bad-magic"] = bytearray(b"\x89SLSNAX\n") + one[8:]
    bad["bad-truncated-header"] = one[:100]
    bad["bad-truncated-half"] = one[: len(one) // 2]
    v = bytearray(one)
    struct.pack_into("<I", v, 8, 99)
    bad["bad-version-too-new"] = v
    v = bytearray(one)
    struct.pack_into("<I", v, 8, 1)
    bad["bad-version-1-too-old"] = v
    v = bytearray(one)
    struct.pack_into("<I", v, 8, 2)
    bad["bad-version-2-too-old"] = v
    v = bytearray(one)
    struct.pack_into("<I", v, 56, 2)  # a snapshot that claims to be an overlay
    bad["bad-kind-mismatch"] = v
    overlay = seeds["valid-overlay"]
    v = bytearray(overlay)
    _, off, _ = section(v, 6)
    struct.pack_into("<Q", v, off, 1 << 30)  # entry count over the limit
    bad["bad-deny-entry-count-huge"] = v
    v = bytearray(overlay)
    _, off, _ = section(v, 6)
    struct.pack_into("<Q", v, off + 24, 3)  # table size not a power of two
    bad["bad-deny-table-size-bad"] = v
    v = bytearray(overlay)
    _, off, length = section(v, 6)
    table = struct.unpack_from("<Q", v, off + 24)[0]
    for e in range(off + 64, off + 64 + 16 * table, 16):
        if struct.unpack_from("<Q", v, e)[0] != 0:
            struct.pack_into("<Q", v, e + 8, 1 << 40)  # record offset far out
            break
    bad["bad-deny-record-offset-out-of-bounds"] = v
    v = bytearray(overlay)
    _, off, length = section(v, 6)
    for e in range(off + 64, off + 64 + 16 * table, 16):
        if struct.unpack_from("<Q", v, e)[0] != 0:
            struct.pack_into("<Q", v, e, struct.unpack_from("<Q", v, e)[0] ^ 0x100)  # wrong tag
            break
    bad["bad-deny-tag-mismatch"] = v
    bad["bad-overlay-truncated"] = overlay[: len(overlay) - 70]
    v = bytearray(seeds["valid-patch"])
    struct.pack_into("<Q", v, 64, 0)  # a patch without a base
    bad["bad-patch-base-zero"] = v
    v = bytearray(seeds["valid-two-domains"])
    _, off, _ = section(v, 2)
    struct.pack_into("<Q", v, off + 16, 1 << 40)
    bad["bad-index-bucket-count-huge"] = v
    v = bytearray(seeds["valid-two-domains"])
    _, off, length = section(v, 3)
    for s in range(off, off + length, 16):
        if struct.unpack_from("<I", v, s + 4)[0] & 0x40:
            struct.pack_into("<Q", v, s + 8, 1 << 33)
            break
    bad["bad-slot-offset-out-of-bounds"] = v
    v = bytearray(one)
    _, off, _ = section(v, 15)
    struct.pack_into("<Q", v, off, 1000)  # not a power of two
    bad["bad-digests-block-size-bad"] = v
    v = bytearray(one)
    _, off, _ = section(v, 15)
    struct.pack_into("<Q", v, off + 24, 5)  # more blocks than the content has
    bad["bad-digests-block-count-wrong"] = v
    seeds["valid-origin-index"] = publish_index(binary, work, "patch")
    seeds["valid-origin-index-snapshot-only"] = publish_index(binary, work, "one")
    index = seeds["valid-origin-index"]
    v = bytearray(index)
    _, off, _ = section(v, 7)
    struct.pack_into("<I", v, off + 64, 1)  # the patch's record claims a second snapshot
    bad["bad-origin-index-two-snapshots"] = v
    v = bytearray(index)
    _, off, _ = section(v, 7)
    struct.pack_into("<Q", v, off + 64 + 16, 1)  # the patch's base is not the snapshot
    bad["bad-origin-index-patch-base"] = v
    v = bytearray(index)
    struct.pack_into("<q", v, 40, 0)  # no expiry
    bad["bad-origin-index-no-expiry"] = v
    v = bytearray(index)
    v[80] = ord("A")  # a channel name starting with an uppercase letter
    bad["bad-origin-index-channel"] = v
    v = bytearray(seeds["valid-snapshot-with-rules"])
    _, off, _ = section(v, 5)
    struct.pack_into("<Q", v, off, 1 << 40)  # more lists than the section holds
    bad["bad-rules-list-count-huge"] = v
    v = bytearray(seeds["valid-snapshot-with-rules"])
    _, off, _ = section(v, 5)
    v[off + 64 + 8 + 2] ^= 0x02  # the first list's kinds mask
    bad["bad-rules-kinds-mismatch"] = v
    v = bytearray(seeds["valid-snapshot-with-policies"])
    _, off, _ = section(v, 8)
    struct.pack_into("<Q", v, off, 7)  # more policy records than domains
    bad["bad-policies-record-count"] = v
    v = bytearray(seeds["valid-snapshot-with-policies"])
    _, off, _ = section(v, 8)
    v[off + 64 + 48] = 9  # the first record's cache scope
    bad["bad-policies-cache-scope"] = v
    # The first list is abc's: 0 rules, flags 1, kinds 0, then the password block.
    for name, at, value in (("bad-password-flags-unknown", 1, 0x04), ("bad-password-kdf", 4, 2),
                            ("bad-password-log2n", 5, 40), ("bad-password-no-flag-no-rules", 1, 0)):
        v = bytearray(seeds["valid-snapshot-with-passwords"])
        _, off, _ = section(v, 5)
        lists = off + 64 + 8 * struct.unpack_from("<Q", v, off)[0]
        assert v[lists] == 0 and v[lists + 1] == 1, "abc's list comes first"
        v[lists + at] = value
        bad[name] = v
    return {**seeds, **bad}


def http_seeds(binary, work):
    """Request streams; the first byte is the harness's mode: bits 0-5 the bytes per read (0: all
    at once), bit 6 answer through the patch, bit 7 with the overlay's deny set."""
    def req(target, host="x.example", method="GET", extra=""):
        return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()

    seeds = {
        "valid-redirect": b"\x00" + req("/abc"),
        "valid-pipelined-byte-by-byte": b"\x01" + req("/abc") + req("/q?utm=1&x=%20", method="HEAD")
        + req("/frag?z=1") + req("/nofwd?y=2"),
        "valid-absolute-form-case-insensitive": b"\x07" + req("http://GO.example.com:8080/DOCS/?a=1", host="ignored.example"),
        "valid-root-and-unknown": b"\x00" + req("/", host="go.example.com") + req("/", host="x.example")
        + req("/nope", host="Go.Example.Com."),
        "valid-every-state": b"\x05" + b"".join(req(p) for p in ("/off", "/gone", "/old", "/soon", "/blocked", "/evil",
                                                                   "/a/b~c.d", "/a%2Fb%7Ec.d/", "/" + "x" * 1100)),
        "valid-bodies": b"\x03" + req("/abc", method="POST", extra="Content-Length: 5\r\n") + b"hello"
        + req("/abc", method="PUT", extra="Transfer-Encoding: chunked\r\n") + b"3\r\nabc\r\n0\r\n\r\n" + req("/q"),
        "valid-http10": b"\x00GET /abc HTTP/1.0\r\n\r\nGET /ignored HTTP/1.0\r\n\r\n",
        "valid-http10-keep-alive": b"\x00GET /abc HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + req("/q"),
        "valid-connection-close": b"\x00" + req("/abc", extra="Connection: close\r\n") + b"GARBAGE",
        "valid-patched": b"\x40" + req("/abc") + req("/new") + req("/edit", host="go.example.com") + req("/keep"),
        "valid-overlay": b"\x80" + req("/abc") + req("/q") + req("/blocked"),
        "valid-rules": b"\x00" + req("/ruled", extra="User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
                                    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1\r\n"
                                    "Accept-Language: de;q=0.5, fr-CH, en;q=0.9\r\n")
        + req("/ruled", extra="User-Agent: x\r\nSec-CH-UA-Mobile: ?1\r\nSec-CH-UA-Platform: \"Android\"\r\n"
                              "Accept-Language: es-419;q=1.000\r\n")
        + req("/ruled", extra="CF-IPCountry: be\r\n") + req("/ruled?src=qr&x=1") + req("/ruled?src=qr", method="HEAD")
        + b"".join(req("/ruled", extra=f"User-Agent: visitor {i}\r\n") for i in range(6)),
        "valid-bad-target-answered-400": b"\x00" + req("/%zz") + req("ftp://x.example/a") + req("/abc", host="u@x.example"),
        "bad-obs-fold": b"\x00GET /abc HTTP/1.1\r\nHost: x.example\r\nX-A: 1\r\n  folded\r\n\r\n",
        "bad-duplicate-host": b"\x00" + req("/abc", extra="Host: y.example\r\n"),
        "bad-content-length-and-chunked": b"\x00" + req("/abc", method="POST",
                                                        extra="Content-Length: 3\r\nTransfer-Encoding: chunked\r\n")
        + b"0\r\n\r\n",
        "bad-duplicate-content-length": b"\x00" + req("/abc", method="POST",
                                                      extra="Content-Length: 1\r\nContent-Length: 1\r\n") + b"x",
        "bad-content-length-list": b"\x00" + req("/abc", method="POST", extra="Content-Length: 1, 1\r\n") + b"x",
        "bad-transfer-encoding-gzip": b"\x00" + req("/abc", method="POST", extra="Transfer-Encoding: gzip, chunked\r\n"),
        "bad-http2": b"\x00GET /abc HTTP/2.0\r\nHost: x.example\r\n\r\n",
        "bad-missing-host": b"\x00GET /abc HTTP/1.1\r\n\r\n",
        "bad-header-too-large": b"\x3f" + req("/abc", extra="X-Big: " + "a" * 9000 + "\r\n"),
        "bad-too-many-fields": b"\x00" + req("/abc", extra="".join(f"X-{i}: v\r\n" for i in range(101))),
        "bad-request-line": b"\x00GET  /abc HTTP/1.1\r\nHost: x.example\r\n\r\n",
        "bad-closed-mid-header": b"\x02" + req("/abc") + b"GET /q HTTP/1.1\r\nHo",
        "bad-body-too-large": b"\x00" + req("/abc", method="POST", extra="Content-Length: 2000000\r\n"),
        "bad-nul-in-target": b"\x00GET /a\x00bc HTTP/1.1\r\nHost: x.example\r\n\r\n",
    }
    return seeds


CSV_HEADER = "code,url,domain,type,expires,not_before,tags,status,forward_query\r\n"


def import_csv_seeds(binary, work):
    return {k: v.encode() if isinstance(v, str) else v for k, v in {
        "valid-every-column": CSV_HEADER
        + "a,https://example.com/a,,301,2030-01-01T00:00:00Z,,x;y,active,true\r\n"
        + "\"b/c\",\"https://example.com/b?x=1,2\",go.example,,,2029-01-01T00:00:00+02:00,,disabled,\r\n"
        + "d,HTTPS://Example.COM/./d/../e,*,308,7d,1h,\"t1 t2\",deleted,0\r\n",
        "valid-quoted-fields": "url,code\n\"https://example.com/x?a=1,2\",\"q\"\n\n\"https://e.com/\",r\n",
        "valid-idn-domain": "code,url,domain\nx,https://xn--bcher-kva.example/,b\u00fccher.example\n",
        "valid-titles": "code,url,title\na,https://e.com/a,\"  Caf\u00e9, \"\"menu\"\"  \"\nb,https://e.com/b,\n",
        "bad-title-newline": "code,url,title\na,https://e.com/a,\"two\nlines\"\n",
        "bad-empty": "",
        "bad-header-only": "code,url\r\n",
        "bad-unknown-column": "code,url,evil\na,https://e.com/,1\n",
        "bad-binary-header": b"\x1b[2J\xff\xfe,url\na,https://example.com/\n",
        "bad-duplicate-column": "code,url,code\na,https://e.com/,b\n",
        "bad-no-url-column": "code,domain\na,b.example\n",
        "bad-wrong-field-count": "code,url\na,https://e.com/,extra\n",
        "bad-unterminated-quote": "code,url\n\"a,https://example.com/\n",
        "bad-stray-quote": "code,url\na\"b,https://example.com/\n",
        "bad-quoted-newline-in-code": "code,url\n\"a\r\nb\",https://e.com/\n\"c\"\"\",https://e.com/\n",
        "bad-text-after-closing-quote": "code,url\n\"a\"b,https://example.com/\n",
        "bad-invalid-url": "code,url\nok,https://e.com/\nbad,javascript:alert(1)\n",
        "bad-reserved-code": "code,url\n.well-known/acme-challenge/t,https://e.com/\n",
        "bad-nul-byte": "code,url\na\x00,https://example.com/\n",
        "bad-bad-status-and-time": "code,url,status,expires\na,https://e.com/,gone,yesterday\n",
        "bad-bad-host": "code,url,domain\nr,https://example.com/r,bad_host!\n",
    }.items()}


def import_json_seeds(binary, work):
    return {k: v.encode() if isinstance(v, str) else v for k, v in {
        "valid-lines": '{"code":"j1","url":"https://example.com/1","tags":["a","b"]}\n\n'
        '{"code":"j2","url":"https://example.com/2","type":308,"domain":"go.example"}\r\n'
        '  \t\n{"code":"j3","url":"https://example.com/3","forward_query":false,"expires":"2030-01-01T00:00:00Z",'
        '"not_before":null,"status":"disabled"}',
        "valid-export-shape": '{"domain":"*","code":"a","url":"https://e.com/","type":301,"status":"active",'
        '"tags":[],"title":"Caf\\u00e9 menu","forward_query":true,"expires":null,"not_before":null,"version":2,'
        '"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z","short_url":"https://s/a"}\n',
        "valid-escapes": '{"code":"a\\u002fb","url":"https://e.com/\\u00fc"}\n'.replace("\\u00fc", "%C3%BC"),
        "bad-invalid-json": '{"code": "a"\n',
        "bad-array-root": "[1,2]\n",
        "bad-unknown-key": '{"code":"a","url":"https://example.com/","evil":1}\n',
        "bad-wrong-type": '{"code":1.5,"url":"https://example.com/"}\n',
        "bad-two-values-on-a-line": '{"code":"a","url":"https://e.com/"} {"code":"b","url":"https://e.com/"}\n',
        "bad-duplicate-key": '{"code":"a","url":"https://e.com/","code":"b"}\n',
        "bad-deep-nesting": "[" * 20000 + "\n",
        "bad-tags-not-strings": '{"code":"a","url":"https://e.com/","tags":["x",1]}\n',
        "bad-invalid-row": '{"code":"a","url":"ftp://e.com/"}\n',
        "bad-nul-after-object": b'{"code":"a","url":"https://e.com/"}\x00x\n',
        "bad-empty": "",
    }.items()}


def links_file_seeds(binary, work):
    db = os.path.join(work, "links.db")
    sl(binary, db, "init")
    sl(binary, db, "domain", "add", "go.example", "--default-type", "301", "--case-insensitive")
    sl(binary, db, "add", "https://example.com/a?b=c", "--code", "2024", "--domain", "go.example", "--tag", "no")
    sl(binary, db, "add", "https://example.com/t", "--code", "docs/setup", "--expires", "2030-01-01T00:00:00Z",
       "--title", "Setup: the \"quick\" way \u2014 caf\u00e9")
    exported = subprocess.run([binary, "--db", db, "export", "--format", "yaml"], check=True,
                              capture_output=True).stdout
    return {k: v.encode() if isinstance(v, str) else v for k, v in {
        "valid-export": exported,
        "valid-issue-example": "domains:\n  - host: go.example.com\n    default_type: 301\nlinks:\n"
        "  - domain: go.example.com   # absent: the default domain\n    code: spring\n"
        "    url: https://example.com/spring\n    tags: [promo]\n",
        "valid-flow-and-nulls": "links: [{code: a, url: 'https://e.com/', type: ~, tags: [], domain: null}]\ndomains:\n",
        "valid-quoted": 'links:\n  - code: "~"\n    url: "https://e.com/it\'s"\n    status: deleted\n',
        "bad-empty": "",
        "valid-titles": "links:\n  - {code: a, url: 'https://e.com/', title: '  Caf\u00e9: the \"menu\"  '}\n"
        "  - {code: b, url: 'https://e.com/', title: ~}\n  - {code: c, url: 'https://e.com/', title: 'null'}\n",
        "bad-unknown-key": "links:\n  - code: a\n    url: https://e.com/\n    titel: x\n",
        "bad-title-control": 'links:\n  - code: a\n    url: https://e.com/\n    title: "a\\u0007b"\n',
        "bad-title-too-long": "links:\n  - code: a\n    url: https://e.com/\n    title: " + "t" * 513 + "\n",
        "bad-quoted-number": "links:\n  - code: a\n    url: https://e.com/\n    type: '301'\n",
        "bad-yes": "domains:\n  - host: a.example\n    https_redirect: yes\n",
        "bad-duplicate-link": "links:\n  - {code: a, url: 'https://e.com/'}\n  - {code: a, url: 'https://e.com/'}\n",
        "bad-alias-bomb": "domains: &a []\nlinks: [*a, *a, *a, *a]\n",
        "bad-deep-flow": "links: " + "[" * 5000 + "\n",
        "bad-tab-indent": "links:\n\t- code: a\n",
        "bad-not-utf8": b"links:\n  - code: a\n    url: https://e.com/\xc3\x28\n",
        "bad-two-documents": "links: []\n---\nlinks: []\n",
        "bad-relative-time": "links:\n  - {code: a, url: 'https://e.com/', expires: 7d}\n",
    }.items()}


def import_foreign_seeds(binary, work):
    """The first byte picks the source: 0 bitly, 1 yourls, 2 shlink, 3 kutt, 4 cloudflare. The
    valid seeds are the sample exports in tests/import_samples/."""
    samples = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "import_samples")
    sources = {"bitly": 0, "yourls": 1, "shlink": 2, "kutt": 3, "cloudflare": 4}
    seeds = {}
    for name in sorted(os.listdir(samples)):
        source, _, ext = name.partition(".")
        if source in sources:
            with open(os.path.join(samples, name), "rb") as f:
                seeds[f"valid-{source}-{ext}"] = bytes([sources[source]]) + f.read()
    bad = {
        "bad-empty": (0, b""),
        "bad-nul-byte": (1, b"keyword,url\na\x00,https://e.com/\n"),
        "bad-bom-broken": (1, b"\xef\xbbkeyword,url\n"),
        "bad-unknown-column": (0, b"link,long_url,owner\nhttps://bit.ly/a,https://e.com/,x\n"),
        "bad-no-code-column": (0, b"long_url,title\nhttps://e.com/,t\n"),
        "bad-truncated-document": (2, b'{"shortUrls":{"data":[{"shortCode":"a",'),
        "bad-envelope-not-array": (2, b'{"shortUrls":{"data":{}}}'),
        "bad-item-not-object": (3, b'{"data":[1]}'),
        "bad-password-row": (3, b'[{"address":"a","target":"https://e.com/","password":true}]'),
        "bad-subpath-row": (4, b"a.example/x,https://e.com/,301,,,TRUE\n"),
        "bad-too-many-fields": (4, b"a.example/x,https://e.com/,301,,,,,x\n"),
        "bad-short-url-query": (4, b"a.example/x?y=1,https://e.com/\n"),
        "bad-time": (1, b"keyword,url,timestamp\na,https://e.com/,2024-02-30 99:00:00\n"),
        "bad-title-not-utf8": (1, b"keyword,url,title\na,https://e.com/,caf\xe9\n"),
        "bad-title-bidi": (2, '[{"shortCode":"a","longUrl":"https://e.com/","title":"\u202egnp.exe"}]'.encode()),
        "bad-deep-nesting": (3, b"[" * 20000),
    }
    for name, (source, data) in bad.items():
        seeds[name] = bytes([source]) + data
    return seeds


def validate_seeds(binary, work):
    """The first byte picks the function: 0 destination, 1 code, 2 host, 3 blocked host, 4 label,
    5 time, 6 tag / redirect type / block reason."""
    cases = [
        ("valid-destination", 0, "https://Example.COM:443/a/./b/../c?x=%7e#f"),
        ("valid-destination-ipv6", 0, "http://[::1]:8080"),
        ("valid-destination-idn", 0, "https://xn--bcher-kva.example/%C3%BC"),
        # UTF-8 as typed (the text is written as Latin-1, so these are the UTF-8 bytes).
        ("valid-destination-utf8", 0, "https://B\xc3\x9cCHER.example/stra\xc3\x9fe?q=\xe2\x82\xac"),
        ("valid-destination-web-host", 0, "https://-a_b-.example/"),
        ("bad-destination-not-utf8", 0, "https://h.example/\xff"),
        ("bad-destination-disallowed-idn", 0, "https://\xf0\x9f\x92\xa9.example/"),
        ("bad-destination-javascript", 0, "javascript:alert(1)"),
        ("bad-destination-userinfo", 0, "https://user@host.example/"),
        ("bad-destination-port", 0, "https://h.example:99999/"),
        ("bad-destination-encoded-host", 0, "https://%41.example/"),
        ("bad-destination-crlf", 0, "https://h.example/\r\nSet-Cookie: x"),
        ("valid-code", 1, "docs/setup.v2~x_y-z"),
        ("bad-code-reserved", 1, ".Well-Known/acme-challenge/x"),
        ("bad-code-dot-segment", 1, "a/../b"),
        ("bad-code-space", 1, "a b"),
        ("valid-host", 2, "Go.Example."),
        ("valid-host-idn", 2, "b\u00fccher.example"),
        ("valid-host-default", 2, "*"),
        ("bad-host-empty-label", 2, "a..b"),
        ("bad-host-hyphen", 2, "-a.example"),
        ("bad-host-port", 2, "host.example:80"),
        ("valid-blocked-host", 3, "Evil.Example"),
        ("bad-blocked-host-url", 3, "https://evil.example/"),
        ("bad-blocked-host-wildcard", 3, "*.evil.example"),
        ("valid-label", 4, "b\xc3\xbccher"),
        ("bad-label-truncated", 4, "\xc3"),
        ("bad-label-surrogate", 4, "\xed\xa0\x80"),
        ("bad-label-control", 4, "a\x01"),
        ("valid-time", 5, "2026-12-31T23:59:60.5+02:00"),
        ("valid-time-relative", 5, "2w"),
        ("bad-time-zero", 5, "0d"),
        ("bad-time-epoch", 5, "1970-01-01T00:00:00Z"),
        ("bad-time-date", 5, "2026-02-30T00:00:00Z"),
        ("valid-redirect-type", 6, "308"),
        ("valid-block-reason", 6, "phishing, reported by abuse@ \xe2\x80\x94 see ticket"),
        ("bad-bidi-override", 6, "x\xe2\x80\xaey" + "z" * 600),
    ]
    return {name: bytes([sel]) + text.encode("latin-1") for name, sel, text in cases}


def keys_seeds(binary, work):
    """Key files; the first byte is the harness's mode: bits 0-1 the rest is the file's text (0)
    or DER to wrap as PRIVATE KEY (1), ENCRYPTED PRIVATE KEY (2) or PUBLIC KEY (3); bit 2 the
    passphrase "fuzz passphrase" is given."""
    passphrase = "fuzz passphrase"
    keydir = os.path.join(work, "keys")
    os.makedirs(keydir)
    subprocess.run([binary, "keygen", "--out", keydir, "--name", "plain"], check=True, capture_output=True)
    env = dict(os.environ, SHORTLINK_KEY_PASSPHRASE=passphrase)
    subprocess.run([binary, "keygen", "--out", keydir, "--name", "enc"], check=True, capture_output=True, env=env)
    env["SHORTLINK_KEY_PASSPHRASE"] = "another passphrase"
    subprocess.run([binary, "keygen", "--out", keydir, "--name", "other"], check=True, capture_output=True, env=env)

    def read(name):
        with open(os.path.join(keydir, name), "rb") as f:
            return f.read()

    def openssl(*args):
        return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout

    plain = os.path.join(keydir, "plain.key")
    pbkdf2 = openssl("pkcs8", "-topk8", "-in", plain, "-v2", "aes-256-cbc", "-iter", "1000",
                     "-passout", "pass:" + passphrase, "-outform", "DER")
    ec = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    text = read("plain.key")
    # Encryption that would cost hours to try: 2^16 PBKDF2 iterations edited to 2^23 - 1, and
    # keygen's scrypt (N=2^14, r=8, p=1) edited to p=127.
    pbkdf2_16 = openssl("pkcs8", "-topk8", "-in", plain, "-v2", "aes-256-cbc", "-iter", "65536",
                        "-passout", "pass:" + passphrase, "-outform", "DER")
    pbkdf2_huge = pbkdf2_16.replace(b"\x02\x03\x01\x00\x00", b"\x02\x03\x7f\xff\xff", 1)
    scrypt_der = base64.b64decode(b"".join(read("enc.key").split(b"-----")[2].split()))
    scrypt_huge = scrypt_der.replace(b"\x02\x02\x40\x00\x02\x01\x08\x02\x01\x01",
                                     b"\x02\x02\x40\x00\x02\x01\x08\x02\x01\x7f", 1)
    assert pbkdf2_huge != pbkdf2_16 and scrypt_huge != scrypt_der
    return {
        "valid-secret": b"\x00" + text,
        "valid-public": b"\x00" + read("plain.pub"),
        "valid-encrypted-scrypt": b"\x04" + read("enc.key"),
        "valid-secret-der": b"\x01" + openssl("pkey", "-in", plain, "-outform", "DER"),
        "valid-public-der": b"\x03" + openssl("pkey", "-in", plain, "-pubout", "-outform", "DER"),
        "valid-encrypted-pbkdf2-der": b"\x06" + pbkdf2,
        "bad-encrypted-without-passphrase": b"\x00" + read("enc.key"),
        "bad-wrong-passphrase": b"\x04" + read("other.key"),
        "bad-pbkdf2-iterations-huge": b"\x06" + pbkdf2_huge,
        "bad-scrypt-parallelism-huge": b"\x06" + scrypt_huge,
        "bad-not-ed25519": b"\x00" + ec,
        "bad-truncated": b"\x00" + text[: len(text) // 2],
        "bad-no-end-line": b"\x00" + text.split(b"-----END")[0],
        "bad-damaged-base64": b"\x00" + text.replace(b"MC4CAQAwBQYDK2VwBCIEI", b"MC4CAQAwBQYDK2VwBCIE!"),
        "bad-empty": b"\x00",
        "bad-der-garbage": b"\x01\x30\x82\xff\xff\x02\x01\x00",
    }


def sni_seeds(binary, work):
    """Certificate directories and server names: lines naming the files, then the name a client
    sends (the last line; empty when it sends none). valid-* seeds get a certificate, bad-* end
    the handshake with unrecognized_name."""
    label63 = "a" * 63
    long_host = ".".join([label63] * 3 + ["b" * 61])  # 253 bytes, the longest host name
    cases = [
        ("valid-exact", ["go.example.com.crt", "go.example.com.key"], "go.example.com"),
        ("valid-pem", ["go.example.com.pem", "default.pem"], "go.example.com"),
        ("valid-wildcard", ["_.example.com.pem", "other.example.com.crt"], "docs.example.com"),
        ("valid-exact-over-wildcard", ["_.example.com.pem", "docs.example.com.pem"], "docs.example.com"),
        ("valid-default-for-unknown", ["default.crt", "default.key", "go.example.com.pem"], "unknown.test"),
        ("valid-default-without-server-name", ["default.pem"], ""),
        ("valid-case-and-root-dot", ["Go.Example.COM.crt", "_.EXAMPLE.org.pem"], "GO.EXAMPLE.COM."),
        ("valid-wildcard-case", ["_.Example.Org.pem"], "WWW.example.ORG."),
        ("valid-default-for-two-labels", ["_.example.com.pem", "default.pem"], "a.b.example.com"),
        ("valid-idn-a-label", ["xn--bcher-kva.example.pem"], "XN--BCHER-KVA.example."),
        ("valid-longest-name", [long_host + ".pem"], long_host.upper() + "."),
        ("valid-too-long-gets-default", [long_host + "c.pem", "default.pem"], long_host + "c"),
        ("valid-default-is-a-file-not-a-name", ["default.pem"], "default"),
        ("valid-star-label-gets-the-wildcard", ["_.example.com.pem"], "*x.example.com"),
        ("bad-unknown-without-default", ["go.example.com.pem"], "unknown.test"),
        ("bad-no-server-name-no-default", ["go.example.com.crt", "go.example.com.key"], ""),
        ("bad-wildcard-not-the-apex", ["_.example.com.pem"], "example.com"),
        ("bad-wildcard-one-label-only", ["_.example.com.pem"], "a.b.example.com"),
        ("bad-wildcard-empty-label", ["_.example.com.pem"], ".example.com"),
        ("bad-two-root-dots", ["go.example.com.pem"], "go.example.com.."),
        ("bad-idn-u-label-file", ["b\u00fccher.example.pem"], "xn--bcher-kva.example"),
        ("bad-idn-u-label-name", ["xn--bcher-kva.example.pem"], "b\u00fccher.example"),
        ("bad-dot-files", [".go.example.com.pem.tmp", ".go.example.com.pem"], "go.example.com"),
        ("bad-other-suffixes", ["go.example.com.csr", "go.example.com.pem.bak", "go.example.com.PEM"],
         "go.example.com"),
        ("bad-star-in-file-name", ["*.example.com.pem", "a b.crt", "go..example.com.pem"], "x.example.com"),
        ("bad-nul-in-name", ["go.example.com.pem"], "go.example.com\x00.evil.test"),
        ("bad-label-too-long", [label63 + "a.example.pem"], label63 + "a.example"),
        ("bad-too-long-without-default", [long_host + "c.pem"], long_host + "c"),
        ("bad-empty", [], ""),
    ]
    return {name: "\n".join(files + [server_name]).encode("utf-8") for name, files, server_name in cases}


def acme_seeds(binary, work):
    """Request-targets; the harness's webroot holds tok_EN-123, link (to a secret outside it),
    dir and fifo."""
    prefix = b"/.well-known/acme-challenge/"
    return {
        "valid-token": prefix + b"tok_EN-123",
        "bad-dot-dot": prefix + b"../secret",
        "bad-encoded-slash": prefix + b"..%2Fsecret",
        "bad-symlink-to-secret": prefix + b"link",
        "bad-fifo": prefix + b"fifo",
        "bad-directory": prefix + b"dir",
        "bad-query": prefix + b"tok_EN-123?x=1",
        "bad-nul": prefix + b"tok_EN-123\x00",
        "bad-trailing-slash": prefix + b"tok_EN-123/",
        "bad-missing": prefix + b"missing",
        "bad-prefix-case": b"/.well-known/ACME-challenge/tok_EN-123",
    }


CLICKS_HEADER = 64
CLICKS_BLOCK_HEADER = 24


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_segment(binary, work):
    """A sealed click segment written by a real `shortlink serve --clicks --clicks-networks` on
    127.0.0.1: three batches of requests a block apart, then SIGTERM (which seals it)."""
    subprocess.run([binary, "keygen", "--out", work, "--name", "k"], check=True, capture_output=True)
    compile_db(binary, work, "snaps", [("*", "abc", "https://a.example/x"),
                                       ("*", "docs/setup", "https://b.example/setup?x=1")])
    clicks = os.path.join(work, "clicks")
    os.makedirs(clicks)
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--snapshots", os.path.join(work, "snaps"), "--trust",
                             os.path.join(work, "k.pub"), "--listen", f"127.0.0.1:{port}", "--admin", "none",
                             "--state-dir", "none", "--threads", "1", "--clicks", clicks, "--clicks-networks"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("shortlink serve did not start: " + proc.stderr.read().decode())
                time.sleep(0.05)

        def send(target, method="GET", host="x.example", headers=()):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", *headers, "Connection: close", "", ""]
                c.sendall("\r\n".join(lines).encode())
                while c.recv(4096):
                    pass

        chrome = "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " \
                 "Chrome/131.0.0.0 Safari/537.36"
        iphone = "User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 " \
                 "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
        batches = [
            [("/abc", "GET", "x.example", (chrome, "Referer: https://News.Example.org/a?b")),
             ("/abc?sl_qr=1&x=1", "GET", "x.example", (iphone,)),
             ("/docs/setup", "HEAD", "x.example", (chrome,)),
             ("/typo-on-the-poster", "GET", "x.example", (chrome,))],
            [("/abc", "GET", "x.example", (chrome, "Sec-Purpose: prefetch;prerender")),
             ("/abc", "GET", "x.example", ("User-Agent: curl/8.5.0",)),
             ("/abc", "POST", "x.example", ()),
             ("/" + "long-miss" * 40, "GET", "unknown.example", (iphone,))],
            [("/abc", "GET", "x.example", ("User-Agent: Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",))],
        ]
        for i, batch in enumerate(batches):
            if i:
                time.sleep(1.5)  # the writer appends a block at least every second
            for target, method, host, headers in batch:
                send(target, method, host, headers)
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=30) != 0:
            raise SystemExit("shortlink serve failed: " + proc.stderr.read().decode())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    [name] = [n for n in os.listdir(clicks) if n.endswith(".slclicks")]
    with open(os.path.join(clicks, name), "rb") as f:
        return bytes(f.read())


def segment_blocks(seg):
    """(offset, payload size) of every block, and the end record's offset."""
    blocks, o = [], CLICKS_HEADER
    while seg[o:o + 4] == b"SLCB":
        size = struct.unpack_from("<I", seg, o + 4)[0]
        blocks.append((o, size))
        o += CLICKS_BLOCK_HEADER + size
    assert seg[o:o + 4] == b"SLCE" and len(seg) == o + 24, "not a sealed segment"
    return blocks, o


def click_event(status=302, outcome=0, method=0, rule=0, device=1, os_=1, browser=1, bot=0, flags=0,
                country=b"DE", network=b"", domain=b"go.example", code=b"abc", referrer=b"",
                lengths=None):
    """One event as SPEC.md "Events" lays it out; `lengths` overrides the three length fields."""
    family = {0: 0, 3: 4, 6: 6}[len(network)]
    dl, cl, rl = lengths or (len(domain), len(code), len(referrer))
    body = struct.pack("<qQQHBBBBBBBB2sB", 1764000000123, 42, 0x1234567890ABCDEF, status, outcome, method,
                       rule, device, os_, browser, bot, flags, country, family)
    body += network + struct.pack("<B", dl) + domain + struct.pack("<H", cl) + code + struct.pack("<B", rl) + referrer
    return struct.pack("<H", len(body) + 2) + body


def raw_zstd_frame(data):
    """A zstd frame holding `data` as one raw block, without a content checksum: bytes a fuzzer
    can change without zstd noticing (the harness recomputes the block checks)."""
    assert len(data) < 128 << 10
    return (b"\x28\xb5\x2f\xfd" + bytes([0xA0]) + struct.pack("<I", len(data))
            + struct.pack("<I", 1 | (len(data) << 3))[:3] + data)


def built_segment(blocks, end=True):
    """A segment of `blocks` (each a list of encoded events) with zero checks, for seeds whose
    first byte has the harness recompute them."""
    out = b"SLCLICKS" + struct.pack("<HHI", 1, 64, 1) + bytes(range(16)) + struct.pack("<q", 1764000000000)
    out += bytes(24)
    total = 0
    for events in blocks:
        payload = raw_zstd_frame(b"".join(events))
        out += b"SLCB" + struct.pack("<III", len(payload), len(events), len(b"".join(events))) + bytes(8) + payload
        total += len(events)
    if end:
        out += b"SLCE" + struct.pack("<IQ", len(blocks), total) + bytes(8)
    return out


def clicks_seeds(binary, work):
    """Click segments; the first byte is the harness's mode: bit 0 the file is named as a .part,
    bit 1 its checks are recomputed before it is read."""
    sealed, part, fixed, fixed_part = b"\x00", b"\x01", b"\x02", b"\x03"
    seg = served_segment(binary, work)
    blocks, end = segment_blocks(seg)
    assert len(blocks) >= 2, f"the server wrote {len(blocks)} block(s); the seeds need two"
    first, first_size = blocks[0]
    last, last_size = blocks[-1]

    def edit(offset, fmt, value, data=seg):
        v = bytearray(data)
        struct.pack_into(fmt, v, offset, value)
        return bytes(v)

    def flip(offset, data=seg):
        v = bytearray(data)
        v[offset] ^= 0x40
        return bytes(v)

    n_first = struct.unpack_from("<I", seg, first + 8)[0]
    raw_first = struct.unpack_from("<I", seg, first + 12)[0]
    assert n_first >= 2
    every_field = [
        click_event(status=599, outcome=200, method=7, rule=255, device=99, os_=99, browser=99, bot=99, flags=3,
                    network=b"\x20\x01\x0d\xb8\x00\x01", domain=b"d" * 253, code=b"c" * 1024,
                    referrer=b"r" * 253),
        click_event(status=100, country=b"\0\0", domain=b"", code=b"", referrer=b""),
        click_event(status=404, outcome=2, network=b"\xc6\x12\x07", code=b"typo", referrer=b"news.example.org"),
    ]
    second = [click_event(method=1, bot=1), click_event(outcome=3, domain=b"Unknown.Example")]
    built = built_segment([every_field, second])

    def bad_event(**fields):
        return fixed + built_segment([[click_event(), click_event(**fields)]])

    seeds = {
        "valid-sealed": sealed + seg,
        "valid-sealed-checks-recomputed": fixed + seg,
        "valid-sealed-no-blocks": fixed + seg[:CLICKS_HEADER] + b"SLCE" + bytes(20),
        "valid-part-ending-with-end-record": part + seg,
        "valid-part-blocks-only": part + seg[:end],
        "valid-part-with-partial-tail": part + seg[:last + CLICKS_BLOCK_HEADER + last_size // 2],
        "valid-part-partial-block-header": part + seg[:last + 10],
        "valid-part-partial-block-magic": part + seg[:last + 3],
        "valid-part-partial-end-record": part + seg[:end + 12],
        "valid-part-header-only": part + seg[:CLICKS_HEADER],
        "valid-events-every-field": fixed + built,
        "valid-part-events-partial-tail": fixed_part + built[:len(built) - 24 - 30],
        "bad-empty-file": sealed,
        "bad-header-truncated": part + seg[:40],
        "bad-header-magic": sealed + b"SLCLICKZ" + seg[8:],
        "bad-header-check": sealed + flip(20),
        "bad-header-version": fixed + edit(8, "<H", 2),
        "bad-header-size": fixed + edit(10, "<H", 65),
        "bad-header-flags": fixed + edit(12, "<I", 6),
        "bad-truncated-block": sealed + seg[:last + CLICKS_BLOCK_HEADER + last_size // 2],
        "bad-truncated-block-header": sealed + seg[:last + 10],
        "bad-sealed-without-end-record": sealed + seg[:end],
        "bad-truncated-end-record": sealed + seg[:end + 12],
        "bad-trailing-bytes": sealed + seg + b"\0\0\0\0\0",
        "bad-part-trailing-bytes": part + seg + b"SLCB",
        "bad-flipped-payload": sealed + flip(first + CLICKS_BLOCK_HEADER + first_size // 2),
        "bad-part-flipped-payload": part + flip(last + CLICKS_BLOCK_HEADER + last_size // 2),
        "bad-zstd-checksum": fixed + flip(first + CLICKS_BLOCK_HEADER + first_size - 2),
        "bad-block-magic": sealed + edit(first, "4s", b"SLCX"),
        "bad-part-garbage-tail": part + seg[:end] + b"XYZ",
        "bad-block-payload-size-zero": sealed + edit(first + 4, "<I", 0),
        "bad-block-payload-size-huge": part + edit(first + 4, "<I", (16 << 20) + 1),
        "bad-block-event-count-zero": sealed + edit(first + 8, "<I", 0),
        "bad-block-raw-size-too-small": sealed + edit(first + 12, "<I", n_first * 43 - 1),
        "bad-block-raw-size-mismatch": fixed + edit(first + 12, "<I", raw_first + 1),
        "bad-block-event-count-mismatch": fixed + edit(first + 8, "<I", n_first - 1),
        "bad-block-duplicated": sealed + seg[:end] + seg[last:end] + seg[end:],
        "bad-end-record-count": fixed + edit(end + 4, "<I", len(blocks) + 1),
        "bad-end-record-check": sealed + edit(end + 8, "<Q", 1000),
        "bad-event-status": bad_event(status=99),
        "bad-event-country-lowercase": bad_event(country=b"de"),
        "bad-event-unknown-flags": bad_event(flags=4),
        "bad-event-network-family": fixed + built_segment([[click_event()[:38] + b"\x05" + click_event()[39:]]]),
        "bad-event-domain-length": bad_event(lengths=(254, 3, 0), domain=b"d" * 254),
        "bad-event-referrer-length": bad_event(lengths=(10, 3, 2), referrer=b"r"),
        "bad-event-code-too-long": bad_event(code=b"c" * 1025),
    }
    return seeds


TARGETS = {
    "reader": reader_seeds,
    "http": http_seeds,
    "import_csv": import_csv_seeds,
    "import_json": import_json_seeds,
    "import_foreign": import_foreign_seeds,
    "links_file": links_file_seeds,
    "validate": validate_seeds,
    "keys": keys_seeds,
    "sni": sni_seeds,
    "acme": acme_seeds,
    "clicks": clicks_seeds,
}


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/cli/shortlink"
    targets = sys.argv[2:] or list(TARGETS)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for name in targets:
        directory = os.path.join(root, name)
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            seeds = TARGETS[name](binary, work)
        for seed, data in seeds.items():
            with open(os.path.join(directory, seed), "wb") as f:
                f.write(data)
        print(f"{len(seeds)} seeds in {directory}")


if __name__ == "__main__":
    main()
