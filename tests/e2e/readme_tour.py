"""End-to-end: the README's tour, run as written. Every ```sh block from "## A tour" to the next
top-level section is joined into one script and run with `set -euo pipefail` in an empty
directory, with the built binary on PATH, inside a network namespace of its own (so the tour's
127.0.0.1:8080 is private to it); the servers it starts in the background are stopped at the end."""
import os
import re
import shutil
import subprocess
import unittest

import harness


def tour_script():
    with open(os.path.join(harness.SOURCE_DIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index("## A tour")
    end = text.index("\n## ", start + 1)
    blocks = re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S)
    return "\n".join(blocks)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"), "needs root for a network namespace")
class ReadmeTour(harness.ShortlinkTestCase):
    def test_the_tour_runs_as_written(self):
        script = tour_script()
        self.assertIn("shortlink init", script)
        self.assertGreater(script.count("shortlink "), 30)
        work = os.path.join(self.tmp, "tour")
        os.mkdir(work)
        with open(os.path.join(self.tmp, "tour.sh"), "w") as f:
            f.write("set -euo pipefail\n" + script +
                    "\nkill $(jobs -p) 2>/dev/null || true\nwait\n")
        env = dict(os.environ)
        for name in ("SHORTLINK_DB", "SHORTLINK_DOMAIN", "SHORTLINK_CONFIG"):
            env.pop(name, None)
        env["XDG_CONFIG_HOME"] = os.path.join(self.tmp, "config")
        env["PATH"] = os.path.dirname(os.path.abspath(harness.BIN)) + os.pathsep + env["PATH"]
        proc = subprocess.run(["unshare", "--net", "bash", "-c",
                               f"ip link set lo up && exec bash {os.path.join(self.tmp, 'tour.sh')}"],
                              cwd=work, env=env, capture_output=True, text=True, timeout=300)
        harness.assert_no_sanitizer_report(proc.stderr, "README tour")
        self.assertEqual(proc.returncode, 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        # What the tour says it does, it did.
        self.assertIn("https://go.example.com/spring\n", proc.stdout)
        self.assertIn("301 https://example.com/spring-sale-2\n", proc.stdout)
        for name in ("links.db", "backup.csv", "links.conf", "nightly.slbak", "restored.db", "spring.png",
                     "report.html", "stats.db"):
            self.assertTrue(os.path.isfile(os.path.join(work, name)), name)
        snapshots = os.listdir(os.path.join(work, "snapshots"))
        self.assertTrue(any(n.endswith(".slsnap") for n in snapshots), snapshots)
        self.assertTrue(any(n.endswith(".slpatch") for n in snapshots), snapshots)


if __name__ == "__main__":
    harness.main()
