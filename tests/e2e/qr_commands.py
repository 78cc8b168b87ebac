"""`shortlink qr` as a user runs it: every symbol it draws is read back by a real decoder
(`zbarimg --raw -q`, Debian's zbar-tools) and must hold exactly the expected URL: each error
correction level, compact and not, with the marker and without, full short URLs with a port or a
query of their own, a long URL near the capacity. SVG output is parsed as XML and rasterised here
from its one path, and text output from its glyphs, and decoded too. A real server answers the
decoded URLs with the marker gone from the Location. Every bad input has its message and exit
code.

zbarimg is listed in scripts/install-deps.sh; without it the decoding tests are skipped, unless
SHORTLINK_DEPS_INSTALLED=1 says the suite's own install ran (scripts/test.sh): then they fail.
Python 3 standard library only."""
import os
import pty
import re
import shutil
import struct
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

import harness
from serve_fixture import ServeCase

SVG_NS = "{http://www.w3.org/2000/svg}"
# Locale variables as a test wants them: only LANG decides (an empty value does not count).
UTF8 = {"LC_ALL": "", "LC_CTYPE": "", "LANG": "C.UTF-8"}
ASCII = {"LC_ALL": "", "LC_CTYPE": "", "LANG": "C"}


def require_zbarimg(test):
    if shutil.which("zbarimg") is not None:
        return
    if os.environ.get("SHORTLINK_DEPS_INSTALLED") == "1":
        test.fail("zbarimg is missing although the suite's install ran (scripts/install-deps.sh "
                  "lists zbar-tools)")
    test.skipTest("needs zbarimg from the Debian package zbar-tools (scripts/install-deps.sh)")


def zbar_decode(test, path):
    """The text zbarimg reads from the image at `path` (it must find exactly one symbol)."""
    require_zbarimg(test)
    proc = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, timeout=60)
    test.assertEqual(proc.returncode, 0, f"zbarimg found no symbol in {path}: {proc.stderr!r}")
    text = proc.stdout.decode("utf-8")
    test.assertTrue(text.endswith("\n"), repr(text))
    test.assertEqual(text.count("\n"), 1, f"more than one symbol in {path}: {text!r}")
    return text[:-1]


def read_png(path):
    """(width, height, rows): rows[y][x] is True for a dark pixel. Handles 1-bit and 8-bit
    grayscale with every PNG filter, which is all `shortlink qr` writes."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = ihdr
    assert colour == 0 and depth in (1, 8) and interlace == 0, ihdr
    raw = zlib.decompress(idat)
    stride = (width * depth + 7) // 8
    bpp = max(1, depth // 8)
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        if depth == 1:
            rows.append([not (line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
        else:
            rows.append([line[x] < 128 for x in range(width)])
        prev = line
    return width, height, rows


def png_modules(path, module_px):
    """The module grid of a PNG drawn at `module_px` pixels a module (centre pixel of each)."""
    width, height, rows = read_png(path)
    assert width == height and width % module_px == 0, (width, height, module_px)
    n = width // module_px
    return [[rows[y * module_px + module_px // 2][x * module_px + module_px // 2] for x in range(n)]
            for y in range(n)]


def write_png(path, grid, scale=4, quiet=4):
    """An 8-bit grayscale PNG of a module grid (True: dark), with `quiet` light modules around."""
    n = len(grid) + 2 * quiet
    side = n * scale
    raw = bytearray()
    for my in range(n):
        line = bytearray()
        for mx in range(n):
            y, x = my - quiet, mx - quiet
            dark = 0 <= y < len(grid) and 0 <= x < len(grid[y]) and grid[y][x]
            line += bytes([0 if dark else 255]) * scale
        for _ in range(scale):
            raw += b"\x00" + line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


def svg_modules(test, text):
    """Checks an SVG is the minimal self-contained document `qr` promises and rasterises it:
    the module grid its path paints black over its white square (viewBox units)."""
    root = ET.fromstring(text)
    test.assertEqual(root.tag, SVG_NS + "svg")
    test.assertEqual(root.get("shape-rendering"), "crispEdges")
    children = list(root)
    test.assertEqual([c.tag for c in children], [SVG_NS + "rect", SVG_NS + "path"])
    for element in root.iter():
        for name, value in element.attrib.items():
            test.assertNotIn("href", name, "an external reference")
            test.assertNotIn("url(", value, "an external reference")
    vx, vy, vw, vh = (int(v) for v in root.get("viewBox").split())
    test.assertEqual((vx, vy, vw), (0, 0, vh))
    rect, path = children
    test.assertEqual((rect.get("width"), rect.get("height"), rect.get("fill")), (str(vw), str(vh), "#fff"))
    test.assertEqual(path.get("fill"), "#000")
    test.assertEqual(int(root.get("width")) % vw, 0, "not a whole number of pixels a module")
    grid = [[False] * vw for _ in range(vh)]
    tokens = re.findall(r"[MmHhVvZz]|-?\d+", path.get("d"))
    x = y = 0
    points, i = [], 0
    while i < len(tokens):
        op = tokens[i]
        i += 1
        if op in "Mm":
            nx, ny = int(tokens[i]), int(tokens[i + 1])
            i += 2
            x, y = (nx, ny) if op == "M" else (x + nx, y + ny)
            points = [(x, y)]
        elif op in "HhVv":
            n = int(tokens[i])
            i += 1
            if op == "H":
                x = n
            elif op == "h":
                x += n
            elif op == "V":
                y = n
            else:
                y += n
            points.append((x, y))
        elif op in "Zz":
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            test.assertEqual(len(set(points)), 4, f"subpath {points} is not a rectangle")
            for py in range(min(ys), max(ys)):
                for px in range(min(xs), max(xs)):
                    test.assertFalse(grid[py][px], "subpaths overlap")
                    grid[py][px] = True
            x, y = points[0]
        else:
            test.fail(f"unexpected path token {op!r}")
    return grid


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def txt_modules(text):
    """The module grid of `qr --format txt` output: half blocks (two rows a line) or '##'."""
    lines = ANSI.sub("", text).rstrip("\n").split("\n")
    if any(ch in line for line in lines for ch in "\u2580\u2584\u2588"):
        grid = []
        for line in lines:
            grid.append([ch in "\u2580\u2588" for ch in line])
            grid.append([ch in "\u2584\u2588" for ch in line])
        return grid
    return [[line[i:i + 2] == "##" for i in range(0, len(line), 2)] for line in lines]


def wrote(proc):
    """(url, version) from the line `qr --out` prints."""
    m = re.fullmatch(r"wrote (.+?): (\S+) \(version (\d+), (\d+)x\4 modules, ECC [LMQH](, (\d+)x\6 px)?\)\n",
                     proc.stdout)
    assert m, proc.stdout
    return m.group(2), int(m.group(3))


class QrCommands(harness.ShortlinkTestCase):

    def setUp(self):
        super().setUp()
        self.sl("init")
        self.sl("domain", "add", "go.example.com", "--case-insensitive")
        self.sl("domain", "add", "links.example.com", "--case-insensitive")
        self.sl("domain", "add", "cs.example.com")
        self.sl("add", "https://www.example.com/spring?from=qr", "--code", "spring", "--domain", "go.example.com")
        self.sl("add", "https://www.example.com/sale", "--code", "spring-sale", "--domain", "links.example.com")
        self.sl("add", "https://www.example.com/promo", "--code", "Promo", "--domain", "cs.example.com")
        self.sl("add", "https://www.example.com/2025", "--code", "2025", "--domain", "cs.example.com")
        self.sl("add", "https://www.example.com/off", "--code", "off", "--domain", "go.example.com")
        self.sl("disable", "off", "--domain", "go.example.com")
        self.sl("add", "https://www.example.com/abc", "--code", "abc")

    def path(self, name):
        return os.path.join(self.tmp, name)

    def qr_png(self, *args, name="qr.png", env=None):
        """Runs `qr ARGS --out NAME.png`; returns (decoded text, encoded URL, version)."""
        out = self.path(name)
        proc = self.sl("qr", *args, "--out", out, env=env)
        url, version = wrote(proc)
        return zbar_decode(self, out), url, version

    def error(self, expect, message, *args, env=None, db=None):
        proc = harness.run(["qr", *args], db=db or self.db, env=env)
        self.assertEqual(proc.returncode, expect, f"qr {args}: {proc.stderr}")
        self.assertIn(message, proc.stderr)
        self.assertEqual(proc.stdout, "")
        return proc

    def test_every_level_compact_and_marker_decodes_to_the_url(self):
        seen = {}
        for ecc in "LMQH":
            for compact in (False, True):
                for marker in (True, False):
                    args = ["spring", "--domain", "go.example.com", "--ecc", ecc]
                    args += ["--compact"] if compact else []
                    args += [] if marker else ["--no-marker"]
                    expected = "https://go.example.com/spring" + ("?sl_qr=1" if marker else "")
                    if compact:
                        expected = expected.upper()
                    with self.subTest(ecc=ecc, compact=compact, marker=marker):
                        decoded, url, version = self.qr_png(*args)
                        self.assertEqual(url, expected)
                        self.assertEqual(decoded, expected)
                        seen[(ecc, compact, marker)] = version
        # More error correction never makes a symbol smaller, and compact never larger.
        for compact in (False, True):
            for marker in (True, False):
                versions = [seen[(ecc, compact, marker)] for ecc in "LMQH"]
                self.assertEqual(versions, sorted(versions))
        for key, version in seen.items():
            if key[1]:
                self.assertLessEqual(version, seen[(key[0], False, key[2])])

    def test_compact_symbol_is_smaller_for_a_realistic_url(self):
        plain, plain_url, plain_version = self.qr_png("spring-sale", "--domain", "links.example.com",
                                                      name="plain.png")
        small, small_url, small_version = self.qr_png("spring-sale", "--domain", "links.example.com",
                                                      "--compact", name="compact.png")
        self.assertEqual(plain, "https://links.example.com/spring-sale?sl_qr=1")
        self.assertEqual(small, "HTTPS://LINKS.EXAMPLE.COM/SPRING-SALE?SL_QR=1")
        self.assertLess(small_version, plain_version)
        # The images say the same: 8 pixels a module, a margin of 4.
        self.assertEqual(read_png(self.path("plain.png"))[0], (17 + 4 * plain_version + 8) * 8)
        self.assertEqual(read_png(self.path("compact.png"))[0], (17 + 4 * small_version + 8) * 8)
        print(f"\nplain version {plain_version}, compact version {small_version}")

    def test_the_code_is_found_in_any_case_and_drawn_as_stored(self):
        decoded, _, _ = self.qr_png("SPRING", "--domain", "GO.example.com")
        self.assertEqual(decoded, "https://go.example.com/spring?sl_qr=1")

    def test_codes_without_lowercase_are_compact_on_a_case_sensitive_domain(self):
        decoded, _, _ = self.qr_png("2025", "--domain", "cs.example.com", "--compact")
        self.assertEqual(decoded, "HTTPS://CS.EXAMPLE.COM/2025?SL_QR=1")

    def test_full_short_urls(self):
        cases = [
            ("https://go.example.com/spring?utm_source=Poster", [],
             "https://go.example.com/spring?sl_qr=1&utm_source=Poster"),
            ("https://go.example.com/spring?utm_source=Poster", ["--compact"],
             "HTTPS://GO.EXAMPLE.COM/SPRING?SL_QR=1&utm_source=Poster"),
            ("https://go.example.com/spring?utm_source=Poster", ["--no-marker"],
             "https://go.example.com/spring?utm_source=Poster"),
            ("HTTP://Go.Example.COM:8080/spring/", [], "http://go.example.com:8080/spring?sl_qr=1"),
            ("https://go.example.com/%7Euser", [], "https://go.example.com/~user?sl_qr=1"),
            ("https://127.0.0.1:9/docs/setup", [], "https://127.0.0.1:9/docs/setup?sl_qr=1"),
        ]
        for url, extra, expected in cases:
            with self.subTest(url=url, extra=extra):
                decoded, encoded, _ = self.qr_png(url, *extra)
                self.assertEqual(encoded, expected)
                self.assertEqual(decoded, expected)
        # Without a database at all; --compact too when upper-casing leaves the code alone.
        for url, extra, expected in (
                ("https://go.example.com/spring", [], "https://go.example.com/spring?sl_qr=1"),
                ("https://elsewhere.example/X7", ["--compact"], "HTTPS://ELSEWHERE.EXAMPLE/X7?SL_QR=1")):
            with self.subTest(url=url, extra=extra):
                proc = harness.run(["qr", url, *extra, "--format", "png", "--out", self.path("nodb.png")],
                                   db=self.path("missing.db"))
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual(zbar_decode(self, self.path("nodb.png")), expected)
        self.assertFalse(os.path.exists(self.path("missing.db")))

    def test_a_long_url_decodes_and_one_too_long_is_refused(self):
        long_url = "https://go.example.com/spring?ref=" + "x" * 1900
        decoded, encoded, version = self.qr_png(long_url, "--ecc", "L", "--size", "1200")
        self.assertEqual(decoded, long_url.replace("?", "?sl_qr=1&"))
        self.assertGreater(version, 30)
        # The same URL is beyond version 40 at H (1273 bytes).
        self.error(2, "is too long for a QR code at --ecc H", long_url, "--ecc", "H", "--out", self.path("h.png"))
        self.error(2, "holds 2953 bytes at L", "https://go.example.com/spring?ref=" + "x" * 3000,
                   "--ecc", "L", "--format", "svg")
        self.assertFalse(os.path.exists(self.path("h.png")))

    def test_svg_is_one_path_and_reads_like_the_png(self):
        for compact in (False, True):
            with self.subTest(compact=compact):
                extra = ["--compact"] if compact else []
                self.sl("qr", "spring", "--domain", "go.example.com", *extra, "--out", self.path("s.svg"))
                self.sl("qr", "spring", "--domain", "go.example.com", *extra, "--out", self.path("s.png"))
                with open(self.path("s.svg"), encoding="utf-8") as f:
                    grid = svg_modules(self, f.read())
                self.assertEqual(grid, png_modules(self.path("s.png"), 8))
                write_png(self.path("from-svg.png"), grid, quiet=0)
                expected = "https://go.example.com/spring?sl_qr=1"
                self.assertEqual(zbar_decode(self, self.path("from-svg.png")),
                                 expected.upper() if compact else expected)
        # Into a pipe without --out or --format: SVG.
        proc = self.sl("qr", "spring", "--domain", "go.example.com", "--size", "400")
        grid = svg_modules(self, proc.stdout)
        root = ET.fromstring(proc.stdout)
        self.assertEqual(int(root.get("width")), 400 // len(grid) * len(grid))

    def test_text_decodes_in_utf8_and_ascii(self):
        for env, glyph in ((UTF8, "\u2588"), (ASCII, "##")):
            with self.subTest(lang=env["LANG"]):
                proc = self.sl("qr", "spring", "--domain", "go.example.com", "--format", "txt", env=env)
                self.assertIn(glyph, proc.stdout)
                self.assertNotIn("\x1b", proc.stdout, "colour codes in a pipe")
                grid = txt_modules(proc.stdout)
                self.sl("qr", "spring", "--domain", "go.example.com", "--out", self.path("t.png"))
                expected = png_modules(self.path("t.png"), 8)
                # Half blocks pair the rows: an odd count leaves a light row below the last.
                self.assertEqual(grid[:len(expected)], expected)
                self.assertFalse(any(any(row) for row in grid[len(expected):]))
                write_png(self.path("from-txt.png"), grid)
                self.assertEqual(zbar_decode(self, self.path("from-txt.png")), "https://go.example.com/spring?sl_qr=1")
        # --out FILE.txt picks the format and writes no colours either.
        self.sl("qr", "spring", "--domain", "go.example.com", "--out", self.path("t.txt"), env=UTF8)
        with open(self.path("t.txt"), encoding="utf-8") as f:
            text = f.read()
        self.assertNotIn("\x1b", text)
        expected = png_modules(self.path("t.png"), 8)
        self.assertEqual(txt_modules(text)[:len(expected)], expected)

    def run_on_terminal(self, *args, env=UTF8):
        """Runs `shortlink qr ARGS` with a pseudo-terminal as standard output: (rc, out, err)."""
        master, slave = pty.openpty()
        full_env = dict(os.environ, **env)
        full_env.pop("SHORTLINK_DB", None)
        proc = subprocess.Popen([harness.BIN, "--db", self.db, "qr", *args], stdout=slave,
                                stderr=subprocess.PIPE, env=full_env)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        err = proc.stderr.read().decode()
        proc.stderr.close()
        rc = proc.wait(timeout=60)
        harness.assert_no_sanitizer_report(err, "shortlink qr")
        return rc, out.decode("utf-8").replace("\r\n", "\n"), err

    def test_a_terminal_gets_coloured_text_and_no_png(self):
        rc, out, err = self.run_on_terminal("spring", "--domain", "go.example.com")
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith("\x1b[30;107m"), repr(out[:40]))
        self.assertIn("\u2580", out)
        write_png(self.path("tty.png"), txt_modules(out))
        self.assertEqual(zbar_decode(self, self.path("tty.png")), "https://go.example.com/spring?sl_qr=1")
        rc, out, err = self.run_on_terminal("spring", "--domain", "go.example.com", "--format", "png")
        self.assertEqual(rc, 2)
        self.assertIn("refusing to write a PNG to a terminal", err)
        self.assertEqual(out, "")

    def test_size_and_margin(self):
        # 29 + 8 = 37 modules: 600 px rounds down to 16 pixels a module.
        self.sl("qr", "spring", "--domain", "go.example.com", "--size", "600", "--out", self.path("a.png"))
        self.assertEqual(read_png(self.path("a.png"))[0], 592)
        self.assertEqual(zbar_decode(self, self.path("a.png")), "https://go.example.com/spring?sl_qr=1")
        # Below one pixel a module: one pixel a module, and a warning.
        proc = self.sl("qr", "spring", "--domain", "go.example.com", "--size", "20", "--out", self.path("b.png"))
        self.assertIn("--size 20 is narrower than the symbol", proc.stderr)
        self.assertEqual(read_png(self.path("b.png"))[0], 37)
        self.sl("qr", "spring", "--domain", "go.example.com", "--margin", "0", "--size", "29", "--out",
                self.path("c.png"))
        self.assertEqual(read_png(self.path("c.png"))[0], 29)
        self.sl("qr", "spring", "--domain", "go.example.com", "--margin", "12", "--out", self.path("d.png"))
        self.assertEqual(read_png(self.path("d.png"))[0], (29 + 24) * 8)
        self.assertEqual(zbar_decode(self, self.path("d.png")), "https://go.example.com/spring?sl_qr=1")
        # The extension picks the format whatever its case; --format overrides it.
        self.sl("qr", "spring", "--domain", "go.example.com", "--out", self.path("e.PNG"))
        self.assertEqual(read_png(self.path("e.PNG"))[0], 296)
        self.sl("qr", "spring", "--domain", "go.example.com", "--format", "svg", "--out", self.path("f.png"))
        with open(self.path("f.png"), encoding="utf-8") as f:
            self.assertTrue(f.read().startswith("<svg "))

    def test_out_replaces_a_file_atomically(self):
        target = self.path("spring.png")
        with open(target, "wb") as f:
            f.write(b"old content " * 1000)
        self.sl("qr", "spring", "--domain", "go.example.com", "--out", target)
        self.assertEqual(zbar_decode(self, target), "https://go.example.com/spring?sl_qr=1")
        # A failure before the rename leaves the old file and no temporary one.
        self.sl("qr", "nope", "--domain", "go.example.com", "--out", target, expect=3)
        self.assertEqual(zbar_decode(self, target), "https://go.example.com/spring?sl_qr=1")
        self.sl("qr", "spring", "--domain", "go.example.com", "--format", "png", "--out", self.tmp, expect=1)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["links.db", "spring.png"])

    def test_a_disabled_link_is_drawn_with_a_warning(self):
        decoded, _, _ = self.qr_png("off", "--domain", "go.example.com")
        self.assertEqual(decoded, "https://go.example.com/off?sl_qr=1")
        proc = self.sl("qr", "off", "--domain", "go.example.com", "--format", "svg")
        self.assertIn("warning: link off on go.example.com is disabled and answers 410 until enabled", proc.stderr)

    def test_bad_options_are_usage_errors(self):
        spring = ["spring", "--domain", "go.example.com"]
        svg = self.path("x.svg")
        self.error(2, "--ecc 'X' is not an error correction level", *spring, "--ecc", "X")
        self.error(2, "--ecc 'MM' is not an error correction level", *spring, "--ecc", "MM")
        self.error(2, "--size 0 is out of range (1 to 16384 pixels)", *spring, "--size", "0", "--out", svg)
        self.error(2, "--size -5 is out of range", *spring, "--size=-5", "--out", svg)
        self.error(2, "--size 16385 is out of range", *spring, "--size", "16385", "--out", svg)
        self.error(2, "--margin -1 is out of range (0 to 64 modules", *spring, "--margin=-1", "--out", svg)
        self.error(2, "--margin 65 is out of range", *spring, "--margin", "65", "--out", svg)
        self.sl("qr", *spring, "--margin", "99999999999999999999999", "--out", svg, expect=2)
        self.sl("qr", *spring, "--size", "ten", "--out", svg, expect=2)
        self.error(2, "--format 'gif' is not a QR output format (svg, png or txt)", *spring, "--format", "gif")
        self.error(2, "the extension of --out 'jpg' is not a QR output format", *spring, "--out", self.path("x.jpg"))
        self.error(2, "without an extension", *spring, "--out", self.path("qr"))
        self.error(2, "without an extension", *spring, "--out", self.path("dir.d/qr"))
        self.error(2, "--size does not apply to txt output", *spring, "--format", "txt", "--size", "100")
        self.error(2, "--size does not apply to txt output", *spring, "--out", self.path("x.txt"), "--size", "100")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["links.db"])

    def test_bad_links_and_urls(self):
        out = ["--out", self.path("x.png")]
        self.error(3, "no link 'nope' on domain 'go.example.com'", "nope", "--domain", "go.example.com", *out)
        self.error(3, "domain 'nowhere.example' does not exist", "spring", "--domain", "nowhere.example", *out)
        self.error(2, "the default domain '*' answers on any host name, so code 'abc' alone names no URL", "abc", *out)
        self.error(2, "the default domain '*' answers on any host name", "abc", "--domain", "*", *out)
        self.error(2, "give a full short URL or a code with --domain, not both",
                   "https://go.example.com/spring", "--domain", "go.example.com", *out)
        self.error(2, "--compact upper-cases the code 'Promo', but domain cs.example.com matches codes "
                      "case-sensitively", "Promo", "--domain", "cs.example.com", "--compact", *out)
        self.error(2, "but the default domain '*' (which answers elsewhere.example) matches codes case-sensitively",
                   "https://elsewhere.example:8443/x7", "--compact", *out)
        self.error(2, "matches codes case-sensitively", "https://cs.example.com/Promo", "--compact", *out)
        self.error(3, "--compact needs the database to tell whether elsewhere.example matches codes "
                      "case-insensitively: database", "https://elsewhere.example/x7", "--compact", *out,
                   db=self.path("none.db"))
        self.error(2, "is not http or https", "ftp://go.example.com/spring", *out)
        self.error(2, "has a fragment", "https://go.example.com/spring#top", *out)
        self.error(2, "has no code after the host", "https://go.example.com/", *out)
        self.error(2, "has no code after the host", "https://go.example.com?x=1", *out)
        self.error(2, "contains user info", "https://user@go.example.com/spring", *out)
        self.error(2, "starts its query with the QR marker sl_qr", "https://go.example.com/spring?sl_qr=1", *out)
        self.error(2, "starts its query with the QR marker", "https://go.example.com/spring?SL_QR&x=1", *out)
        self.error(2, "has port 70000", "https://go.example.com:70000/spring", *out)
        self.error(2, "is not a short URL", "https://go.example.com/a b", *out)
        self.sl("qr", "a b", "--domain", "go.example.com", *out, expect=2)
        self.sl("qr", "../x", "--domain", "go.example.com", *out, expect=2)
        self.error(1, "cannot write", "spring", "--domain", "go.example.com", "--out", self.path("missing/x.png"))
        self.error(3, "does not exist", "spring", "--domain", "go.example.com", *out, db=self.path("none.db"))
        self.assertEqual(sorted(os.listdir(self.tmp)), ["links.db"])
        # A query that carries the marker later is an ordinary parameter.
        decoded, _, _ = self.qr_png("https://go.example.com/spring?x=1&sl_qr=1")
        self.assertEqual(decoded, "https://go.example.com/spring?sl_qr=1&x=1&sl_qr=1")


class QrThroughServer(ServeCase):
    """The decoded URLs, requested from a real server: redirected, with the marker gone."""

    def test_server_strips_the_marker_of_every_decoded_url(self):
        self.compile()
        self.serve()
        cases = [
            (["docs", "--domain", "go.example.com"], "https://docs.example.com/"),
            (["docs", "--domain", "go.example.com", "--compact"], "https://docs.example.com/"),
            (["docs", "--domain", "go.example.com", "--ecc", "H"], "https://docs.example.com/"),
            (["https://go.example.com/docs?utm_source=Poster"], "https://docs.example.com/?utm_source=Poster"),
            (["https://go.example.com/docs?utm_source=Poster", "--compact"],
             "https://docs.example.com/?utm_source=Poster"),
            (["https://x.example/q?y=2"], "https://dest.example/q?x=1&y=2"),
            (["https://x.example/abc"], "https://dest.example/a"),
        ]
        for args, location in cases:
            with self.subTest(args=args):
                out = os.path.join(self.tmp, "served.png")
                self.sl("qr", *args, "--out", out)
                decoded = urllib.parse.urlsplit(zbar_decode(self, out))
                self.assertRegex(decoded.query, r"(?i)^sl_qr=1(&|$)")
                target = decoded.path + "?" + decoded.query
                response = self.get(target, host=decoded.netloc)
                self.assertIn(response.status, (301, 302, 307), response)
                self.assertEqual(response.headers["location"], location)
                self.assertNotIn("sl_qr", response.headers["location"].lower())


if __name__ == "__main__":
    harness.main()
