#!/usr/bin/env python3
"""Regenerates the readers' seed corpus (tests/fuzz/corpus/reader: snapshots and deny overlays)
with the built binary.

    python3 tests/fuzz/make_corpus.py build/cli/shortlink

Seeds named valid-* are real snapshots or deny overlays (the replay test requires them to open);
every other seed is one of them damaged in one named way and must be refused. Run it after a format change and
commit the result with the change (formats/SPEC.md).
"""
import os
import struct
import subprocess
import sys
import tempfile

HEADER = 128
ENTRY = 32


def sl(binary, db, *args):
    subprocess.run([binary, "--db", db, *args], check=True, capture_output=True)


def compile_db(binary, work, name, links, blocks=(), command="compile", edits=()):
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


def section(data, type_):
    count = struct.unpack_from("<I", data, 60)[0]
    for i in range(count):
        t, _, off, length, _ = struct.unpack_from("<IIQQQ", data, HEADER + i * ENTRY)
        if t == type_:
            return HEADER + i * ENTRY, off, length
    raise SystemExit(f"no section {type_}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/cli/shortlink"
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "reader")
    os.makedirs(target, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
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
        one = seeds["valid-one-link"]
        bad = {}
        bad["bad-magic"] = bytearray(b"\x89SLSNAX\n") + one[8:]
        bad["truncated-header"] = one[:100]
        bad["truncated-half"] = one[: len(one) // 2]
        v = bytearray(one)
        struct.pack_into("<I", v, 8, 99)
        bad["version-too-new"] = v
        v = bytearray(one)
        struct.pack_into("<I", v, 8, 1)
        bad["version-1-too-old"] = v
        v = bytearray(one)
        struct.pack_into("<I", v, 8, 2)
        bad["version-2-too-old"] = v
        v = bytearray(one)
        struct.pack_into("<I", v, 56, 2)  # a snapshot that claims to be an overlay
        bad["kind-mismatch"] = v
        overlay = seeds["valid-overlay"]
        v = bytearray(overlay)
        _, off, _ = section(v, 6)
        struct.pack_into("<Q", v, off, 1 << 30)  # entry count over the limit
        bad["deny-entry-count-huge"] = v
        v = bytearray(overlay)
        _, off, _ = section(v, 6)
        struct.pack_into("<Q", v, off + 24, 3)  # table size not a power of two
        bad["deny-table-size-bad"] = v
        v = bytearray(overlay)
        _, off, length = section(v, 6)
        table = struct.unpack_from("<Q", v, off + 24)[0]
        for e in range(off + 64, off + 64 + 16 * table, 16):
            if struct.unpack_from("<Q", v, e)[0] != 0:
                struct.pack_into("<Q", v, e + 8, 1 << 40)  # record offset far out
                break
        bad["deny-record-offset-out-of-bounds"] = v
        v = bytearray(overlay)
        _, off, length = section(v, 6)
        for e in range(off + 64, off + 64 + 16 * table, 16):
            if struct.unpack_from("<Q", v, e)[0] != 0:
                struct.pack_into("<Q", v, e, struct.unpack_from("<Q", v, e)[0] ^ 0x100)  # wrong tag
                break
        bad["deny-tag-mismatch"] = v
        bad["overlay-truncated"] = overlay[: len(overlay) - 70]
        v = bytearray(seeds["valid-patch"])
        struct.pack_into("<Q", v, 64, 0)  # a patch without a base
        bad["patch-base-zero"] = v
        v = bytearray(seeds["valid-two-domains"])
        _, off, _ = section(v, 2)
        struct.pack_into("<Q", v, off + 16, 1 << 40)
        bad["index-bucket-count-huge"] = v
        v = bytearray(seeds["valid-two-domains"])
        _, off, length = section(v, 3)
        for s in range(off, off + length, 16):
            if struct.unpack_from("<I", v, s + 4)[0] & 0x40:
                struct.pack_into("<Q", v, s + 8, 1 << 33)
                break
        bad["slot-offset-out-of-bounds"] = v
        v = bytearray(one)
        _, off, _ = section(v, 15)
        struct.pack_into("<Q", v, off, 1000)  # not a power of two
        bad["digests-block-size-bad"] = v
        v = bytearray(one)
        _, off, _ = section(v, 15)
        struct.pack_into("<Q", v, off + 24, 5)  # more blocks than the content has
        bad["digests-block-count-wrong"] = v
        for old in os.listdir(target):
            os.remove(os.path.join(target, old))
        for name, data in {**seeds, **bad}.items():
            with open(os.path.join(target, name + ".bin"), "wb") as f:
                f.write(data)
        print(f"{len(seeds) + len(bad)} seeds in {target}")


if __name__ == "__main__":
    main()
