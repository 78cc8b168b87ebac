#!/usr/bin/env python3
"""Generates the synthetic link set that every serving benchmark uses (BENCH.md, "Data").

N links with random base62 codes of length 7 and realistic destinations of 40 to 120 characters,
from a fixed seed, so the same N always gives the same files. Writes into OUT_DIR:

  links.csv      shortlink import CSV: header `code,url,type`, type 301 for every row so that all
                 three servers answer 301
  nginx.map      lines `/CODE "URL";` for an nginx `map $uri $dest { include ...; }`
  haproxy.map    lines `/CODE URL` for HAProxy's `map()` converter
  codes.txt      one code a line: the codes wrk requests (only codes present in all three files)
  meta.json      counts, seed, and the codes dropped from the nginx map

nginx's `map` compares keys case-insensitively, so two codes that differ only in case collide and
nginx refuses to start. The later code of each such pair is dropped from nginx.map only (about 7
pairs in 1M random codes); codes.txt leaves it out too, so every server is asked the same codes.
The number dropped is printed and recorded in meta.json.

Standard library only. Random bytes come in large blocks and are mapped to characters with
bytes.translate, so 10M links take well under a minute.
"""
import argparse
import json
import os
import random
import sys
import time

BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CODE_LEN = 7
URL_MIN, URL_MAX = 40, 120

# Hosts and path words give destinations the shape of real ones (marketing links, docs, shops).
HOSTS = [
    "www.example.com", "shop.example.org", "docs.example.net", "blog.example.io",
    "news.example.co.uk", "store.acme-widgets.com", "support.contoso.com", "www.fabrikam.de",
    "media.northwind.fr", "app.tailspin-toys.com", "learn.adventure-works.com",
    "events.wingtip.org", "careers.litware.com", "go.proseware.net", "cdn.lucerne-pub.com",
    "www.margies-travel.com", "portal.woodgrove-bank.com", "info.coho-winery.com",
    "www.alpineskihouse.com", "jobs.fourthcoffee.com", "en.wikipedia.org", "github.com",
    "www.youtube.com", "medium.com", "twitter.com", "www.linkedin.com",
]
WORDS = [
    "products", "category", "item", "article", "news", "2024", "2025", "summer", "sale",
    "spring", "collection", "shoes", "running", "men", "women", "kids", "guide", "setup",
    "install", "release-notes", "pricing", "blog", "post", "how-to", "faq", "support",
    "account", "login", "signup", "download", "docs", "api", "reference", "v2", "v3",
    "en-us", "de-de", "fr-fr", "campaign", "offer", "deal", "winter", "books", "music",
    "video", "watch", "share", "events", "conference", "keynote", "tickets", "travel",
    "hotels", "flights", "careers", "engineering", "team", "about", "contact", "press",
]
QUERY_KEYS = ["utm_source", "utm_medium", "utm_campaign", "ref", "id", "lang", "page"]


def build_tail_blob(rng, size):
    """A long string of path-like text (words joined by / and -, with ids and some queries).
    Destinations are a host prefix plus a slice of it, which is much faster than building each
    URL from parts and still looks like real paths to a parser or a compressor."""
    parts = []
    total = 0
    while total < size:
        word = rng.choice(WORDS)
        roll = rng.random()
        if roll < 0.15:
            word = "%s-%d" % (word, rng.randrange(1, 999999))
        elif roll < 0.20:
            word = "%s?%s=%s" % (word, rng.choice(QUERY_KEYS), rng.choice(WORDS))
        sep = "/" if rng.random() < 0.7 else "-"
        parts.append(word)
        parts.append(sep)
        total += len(word) + 1
    return "".join(parts)


def random_codes(rng, count):
    """`count` distinct random base62 codes of CODE_LEN characters (byte values >= 248 are
    rejected so that every character is equally likely)."""
    table = bytes(BASE62[b % 62] if b < 248 else 0 for b in range(256))
    delete = bytes(range(248, 256))
    seen = set()
    codes = []
    while len(codes) < count:
        need = count - len(codes)
        raw = rng.randbytes(need * CODE_LEN + need * CODE_LEN // 16 + 64)
        chars = raw.translate(table, delete).decode("ascii")
        usable = len(chars) // CODE_LEN
        for i in range(min(usable, need)):
            code = chars[i * CODE_LEN:(i + 1) * CODE_LEN]
            if code not in seen:
                seen.add(code)
                codes.append(code)
    return codes


# Real-shaped keys (BENCH.md, "Data"): package-style names of varied length, with dots, dashes,
# underscores and slashes, such as "com.example-app/v2.3/release-notes" or "org.acme.net/tls-util".
PKG_TLDS = ["com", "org", "io", "net", "dev", "de", "fr", "co", "app", "cloud"]
PKG_WORDS = [
    "acme", "example", "contoso", "fabrikam", "northwind", "tailspin", "apache", "google",
    "commons", "core", "util", "utils", "http", "client", "server", "json", "yaml", "xml",
    "parser", "codec", "crypto", "tls", "net", "io", "async", "stream", "cache", "redis",
    "sql", "db", "orm", "auth", "oauth", "jwt", "log", "logging", "metrics", "trace", "test",
    "mock", "cli", "ui", "react", "vue", "web", "api", "sdk", "data", "math", "image", "video",
    "audio", "text", "lang", "time", "date", "config", "plugin", "loader", "build", "tools",
    "lint", "format", "types", "compat", "legacy", "native", "bindings", "runtime", "kit",
]
PKG_DOCS = ["release-notes", "changelog", "docs", "readme", "download", "install", "api",
            "license", "security", "migration-guide", "examples", "issues"]


def package_codes(rng, count):
    """`count` distinct package-style names, lowercase (nginx's map folds case), 8 to about 90
    characters: reverse-domain groups, dashed artifact names, versions and doc pages."""
    seen = set()
    codes = []
    words, tlds, docs = PKG_WORDS, PKG_TLDS, PKG_DOCS
    while len(codes) < count:
        roll = rng.random()
        artifact = "-".join(rng.choice(words) for _ in range(rng.choice((1, 1, 2, 2, 3))))
        if rng.random() < 0.3:
            artifact += rng.choice(("", "_", "-")) + str(rng.randrange(2, 40))
        if roll < 0.45:
            group = "%s.%s" % (rng.choice(tlds), rng.choice(words))
            if rng.random() < 0.5:
                group += "." + rng.choice(words)
            code = group + "." + artifact
        elif roll < 0.75:
            code = "%s-%s" % (rng.choice(words), artifact)
        else:
            code = "%s.%s/%s" % (rng.choice(words), rng.choice(tlds), artifact)
        tail = rng.random()
        if tail < 0.35:
            code += "/v%d.%d" % (rng.randrange(0, 12), rng.randrange(0, 30))
        elif tail < 0.55:
            code += "/%d.%d.%d" % (rng.randrange(0, 8), rng.randrange(0, 40), rng.randrange(0, 60))
        if rng.random() < 0.4:
            code += "/" + rng.choice(docs)
        if len(code) <= 100 and code not in seen and code.split("/")[0] not in RESERVED:
            seen.add(code)
            codes.append(code)
    return codes


# First segments `shortlink add` refuses (store/validate.cpp).
RESERVED = {"healthz", "readyz", "livez", "metrics", ".well-known", "favicon.ico", "robots.txt",
            "api", "admin", "_shortlink", "static", "sitemap.xml"}


def case_collisions(codes):
    """The later code of each group of codes equal but for case, in order: what nginx's
    case-insensitive map cannot hold."""
    folded = set()
    dropped = []
    for code in codes:
        key = code.lower()
        if key in folded:
            dropped.append(code)
        else:
            folded.add(key)
    return dropped


def clean_tail(tail):
    """Keeps a slice from ending in a separator or an incomplete query (a URL parser would
    normalize those, and every server must hold the exact same destination)."""
    tail = tail.strip("/-?=&")
    if tail.count("?") > 1:
        first = tail.index("?")
        tail = tail[:first + 1] + tail[first + 1:].replace("?", "&")
    return tail


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", type=int, help="number of links (e.g. 1000000)")
    parser.add_argument("out_dir", help="directory for the generated files (created)")
    parser.add_argument("--seed", type=int, default=20261128, help="fixed seed (default %(default)s)")
    parser.add_argument("--keys", choices=("random", "package"), default="random",
                        help="random: base62 codes of 7 characters; package: package-style names "
                             "of varied length such as com.example-app/v2.3/release-notes")
    parser.add_argument("--wrk-codes", type=int, default=1_000_000,
                        help="at most this many codes in codes.txt, a random sample when the set "
                             "is larger (wrk builds one request per code in every thread)")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("count must be at least 1")
    os.makedirs(args.out_dir, exist_ok=True)
    started = time.monotonic()
    rng = random.Random(args.seed)

    codes = random_codes(rng, args.count) if args.keys == "random" else package_codes(rng, args.count)
    nginx_dropped = case_collisions(codes)
    dropped_set = set(nginx_dropped)

    blob = build_tail_blob(rng, 1 << 20)
    prefixes = ["https://%s/" % host for host in HOSTS]
    lengths = rng.choices(range(URL_MIN, URL_MAX + 1), k=args.count)
    offsets = rng.choices(range(len(blob) - URL_MAX), k=args.count)
    hosts = rng.choices(range(len(prefixes)), k=args.count)

    paths = {name: os.path.join(args.out_dir, name)
             for name in ("links.csv", "nginx.map", "haproxy.map", "codes.txt", "meta.json")}
    with open(paths["links.csv"], "w", buffering=1 << 20) as csv_file, \
            open(paths["nginx.map"], "w", buffering=1 << 20) as nginx_file, \
            open(paths["haproxy.map"], "w", buffering=1 << 20) as haproxy_file:
        csv_file.write("code,url,type\n")
        csv_lines, nginx_lines, haproxy_lines = [], [], []
        for i, code in enumerate(codes):
            prefix = prefixes[hosts[i]]
            room = lengths[i] - len(prefix)
            start = offsets[i]
            url = prefix + clean_tail(blob[start:start + room])
            if len(url) < URL_MIN:
                url = url + "/p" + "0" * (URL_MIN - len(url) - 2)
            # No commas or quotes in the URLs, so the CSV needs no quoting.
            csv_lines.append("%s,%s,301\n" % (code, url))
            haproxy_lines.append("/%s %s\n" % (code, url))
            if code not in dropped_set:
                nginx_lines.append('/%s "%s";\n' % (code, url))
            if len(csv_lines) >= 100_000:
                csv_file.writelines(csv_lines)
                nginx_file.writelines(nginx_lines)
                haproxy_file.writelines(haproxy_lines)
                csv_lines, nginx_lines, haproxy_lines = [], [], []
        csv_file.writelines(csv_lines)
        nginx_file.writelines(nginx_lines)
        haproxy_file.writelines(haproxy_lines)

    served = [c for c in codes if c not in dropped_set] if dropped_set else codes
    if len(served) > args.wrk_codes:
        served = random.Random(args.seed + 1).sample(served, args.wrk_codes)
    with open(paths["codes.txt"], "w", buffering=1 << 20) as codes_file:
        codes_file.write("\n".join(served))
        codes_file.write("\n")

    meta = {
        "count": args.count,
        "seed": args.seed,
        "keys": args.keys,
        "code_length": CODE_LEN if args.keys == "random" else "8-100",
        "url_length": [URL_MIN, URL_MAX],
        "wrk_codes": len(served),
        "nginx_dropped_case_collisions": len(nginx_dropped),
        "nginx_dropped_codes": nginx_dropped,
    }
    with open(paths["meta.json"], "w") as meta_file:
        json.dump(meta, meta_file, indent=1)
    print("gen_links: %d links in %s (%.1f s); nginx map drops %d code(s) that collide "
          "case-insensitively with an earlier code: %s"
          % (args.count, args.out_dir, time.monotonic() - started, len(nginx_dropped),
             " ".join(nginx_dropped[:10]) + (" ..." if len(nginx_dropped) > 10 else "")),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
