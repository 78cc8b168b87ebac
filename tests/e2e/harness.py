"""Shared helpers for the end-to-end tests: run the real `shortlink` binary against temporary
databases, key files, snapshot directories and servers on 127.0.0.1.

ctest sets SHORTLINK_BIN (the built binary) and SHORTLINK_SOURCE_DIR (the checkout). Python 3
standard library only, so the suite needs nothing beyond Debian's python3.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("SHORTLINK_BIN", "build/cli/shortlink")
SOURCE_DIR = os.environ.get("SHORTLINK_SOURCE_DIR", os.getcwd())

# What a sanitizer prints when it finds something (scripts/test.sh runs the suite against
# ASan+UBSan and TSan builds): any of these on a process's stderr fails the test.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")


def sanitizer_report(stderr):
    """The sanitizer report in `stderr` (str or bytes) from its first line on, or None."""
    if isinstance(stderr, (bytes, bytearray)):
        stderr = stderr.decode("utf-8", "replace")
    starts = [stderr.find(m) for m in SANITIZER_MARKERS if m in stderr]
    if not starts:
        return None
    begin = stderr.rfind("\n", 0, min(starts)) + 1
    return stderr[begin:begin + 8000]


def assert_no_sanitizer_report(stderr, what):
    """Raises AssertionError with the report if `stderr` holds one."""
    report = sanitizer_report(stderr or "")
    if report is not None:
        raise AssertionError(f"sanitizer report from {what}:\n{report}")


def run(args, db=None, input=None, env=None, timeout=120, cwd=None):
    """Runs `shortlink ARGS` and returns the CompletedProcess (text mode, never raises on exit
    status). `db` adds --db; `input` is fed to stdin (str or bytes)."""
    cmd = [BIN]
    if db is not None:
        cmd += ["--db", str(db)]
    cmd += [str(a) for a in args]
    full_env = dict(os.environ)
    full_env.pop("SHORTLINK_DB", None)
    full_env.pop("SHORTLINK_KEY_PASSPHRASE", None)
    full_env.pop("SHORTLINK_DOMAIN", None)
    full_env.pop("SHORTLINK_CONFIG", None)
    # No config file of the machine's user: a test that wants one names it.
    full_env["XDG_CONFIG_HOME"] = "/nonexistent/shortlink-tests"
    if env:
        full_env.update(env)
    binary_input = isinstance(input, (bytes, bytearray))
    proc = subprocess.run(cmd, input=input, capture_output=True, text=not binary_input,
                          env=full_env, timeout=timeout, cwd=cwd)
    assert_no_sanitizer_report(proc.stderr, "shortlink " + " ".join(cmd[1:]))
    return proc


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=10.0):
    """Waits until something accepts connections on 127.0.0.1:port; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class SmallFileSystem:
    """A tmpfs of `size` mounted on a fresh directory; unmounted and removed on exit."""

    def __init__(self, size):
        self.size = size
        self.path = tempfile.mkdtemp(prefix="shortlink-tmpfs-")

    def __enter__(self):
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", self.path],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            os.rmdir(self.path)
            raise unittest.SkipTest(f"cannot mount a tmpfs: {proc.stderr.strip()}")
        return self

    def remount(self, option):
        subprocess.run(["mount", "-o", f"remount,{option}", self.path], check=True)

    def __exit__(self, *exc):
        try:
            subprocess.run(["umount", self.path], check=True)
        finally:
            os.rmdir(self.path)


class ShortlinkTestCase(unittest.TestCase):
    """A test with its own temporary directory (self.tmp) and database path (self.db)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shortlink-e2e-")
        self.db = os.path.join(self.tmp, "links.db")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def import_links(self, rows, columns="code,url"):
        """Imports `rows` (tuples in the order of `columns`) into self.db through a CSV file."""
        path = os.path.join(self.tmp, "import-rows.csv")
        with open(path, "w") as f:
            f.write(columns + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows))
        self.sl("import", path)
        os.unlink(path)

    def sl(self, *args, expect=0, **kwargs):
        """Runs shortlink against self.db and asserts the exit code (None: any)."""
        proc = run(list(args), db=self.db, **kwargs)
        if expect is not None:
            self.assertEqual(proc.returncode, expect,
                             f"shortlink {' '.join(map(str, args))}\nstdout: {proc.stdout}\n"
                             f"stderr: {proc.stderr}")
        return proc


def main():
    unittest.main(verbosity=2)
