#!/usr/bin/env python3
"""Writes N synthetic links as import CSV (header code,url): random base62 codes of length 7 and
destinations of 40 to 120 characters, fixed seed (BENCH.md "Data"). Usage: gen_csv.py N OUT [SEED]"""
import random
import string
import sys


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    alphabet = string.ascii_letters + string.digits
    path_chars = string.ascii_lowercase + string.digits + "-/"
    hosts = [f"www.site{i}.example.com" for i in range(1000)]
    seen = set()
    with open(out, "w", newline="") as f:
        f.write("code,url\n")
        while len(seen) < n:
            code = "".join(rng.choice(alphabet) for _ in range(7))
            if code in seen:
                continue
            seen.add(code)
            host = rng.choice(hosts)
            target = rng.randint(40, 120)
            prefix = f"https://{host}/"
            path = "".join(rng.choice(path_chars) for _ in range(max(1, target - len(prefix))))
            path = path.replace("//", "/a").strip("/") or "x"
            f.write(f"{code},{prefix}{path}\n")


if __name__ == "__main__":
    main()
