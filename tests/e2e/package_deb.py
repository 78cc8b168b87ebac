"""Installing shortlink, as a packager and an operator meet it: `cmake --install` lays out the
binary, man pages, completions, systemd unit, certbot hook and documentation where Debian expects
them and nothing else (no test, benchmark or fuzzer), and `cpack -G DEB` builds a package that
dpkg installs into a scratch root, never the real system. From there the installed binary runs,
its man pages render, the bash completion completes commands and the systemd unit names the
installed binary and passes `systemd-analyze verify`.

ctest sets SHORTLINK_BUILD_DIR (the configured and built tree). Needs cmake, cpack, dpkg-deb and
dpkg-shlibdeps (build-essential brings dpkg-dev); man and systemd-analyze are used when present.
Python 3 standard library only."""
import glob
import gzip
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

import harness

BUILD_DIR = os.environ.get("SHORTLINK_BUILD_DIR", "build")
SOURCE = harness.SOURCE_DIR


def run(cmd, **kwargs):
    """Runs `cmd` and returns its CompletedProcess (text), failing with its output on non-zero."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n"
                             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def expected_layout():
    """Every file an install must hold, relative to its prefix, from the source tree's man pages,
    completions, units and documentation: {path: executable?}."""
    layout = {"bin/shortlink": True,
              "share/bash-completion/completions/shortlink": False,
              "share/zsh/vendor-completions/_shortlink": False,
              "share/fish/vendor_completions.d/shortlink.fish": False,
              "share/shortlink/certbot-deploy-hook.sh": True,
              "share/doc/shortlink/README.md": False}
    for page in glob.glob(os.path.join(SOURCE, "man", "*.1")):
        layout[f"share/man/man1/{os.path.basename(page)}.gz"] = False
    for unit in glob.glob(os.path.join(SOURCE, "docs", "systemd", "*.service")) + \
            glob.glob(os.path.join(SOURCE, "docs", "systemd", "*.socket")):
        layout[f"lib/systemd/system/{os.path.basename(unit)}"] = False
    for doc in glob.glob(os.path.join(SOURCE, "docs", "*.md")):
        layout[f"share/doc/shortlink/{os.path.basename(doc)}"] = False
    return layout


def files_under(root):
    """Every file and symlink under `root`, relative to it."""
    found = set()
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def help_commands(binary):
    """The subcommands `shortlink --help` lists."""
    lines = run([binary, "--help"]).stdout.splitlines()
    start = lines.index("Subcommands:") + 1
    commands = [line.split()[0] for line in lines[start:] if line.startswith("  ") and line.split()]
    if not commands:
        raise AssertionError("`shortlink --help` lists no subcommands")
    return commands


def bash_complete(completion_file, words):
    """What the bash completion in `completion_file` offers for the command line `words` (the
    last one being completed), as bash would call it after `source`."""
    script = """
source "$1"; shift
spec=$(complete -p shortlink) || exit 3
function=$(printf '%s\\n' "$spec" | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
[ -n "$function" ] || { echo "no completion function in: $spec" >&2; exit 4; }
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$function" shortlink "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""
    proc = run(["bash", "--norc", "--noprofile", "-c", script, "bash", completion_file] + words)
    return proc.stdout.split()


class PackageTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shortlink-package-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check_layout(self, prefix, packaged):
        """The files under `prefix` are exactly the expected ones, with the right modes."""
        layout = expected_layout()
        installed = files_under(prefix)
        self.assertEqual(sorted(installed - set(layout)), [], "installed but not expected")
        self.assertEqual(sorted(set(layout) - installed), [], "expected but not installed")
        for path, executable in layout.items():
            mode = stat.S_IMODE(os.lstat(os.path.join(prefix, path)).st_mode)
            with self.subTest(path=path):
                if packaged:  # dpkg keeps the modes the package was built with
                    self.assertEqual(mode, 0o755 if executable else 0o644, oct(mode))
                else:
                    self.assertEqual(bool(mode & stat.S_IXUSR), executable, oct(mode))

    def check_man_pages(self, man_dir, render):
        """Every installed page is the source's page, gzipped; with `render`, man (if present)
        renders every one of them."""
        pages = sorted(glob.glob(os.path.join(man_dir, "*.1.gz")))
        self.assertIn(os.path.join(man_dir, "shortlink.1.gz"), pages)
        for page in pages:
            with self.subTest(page=os.path.basename(page)):
                with gzip.open(page, "rt") as f:
                    text = f.read()
                source = os.path.join(SOURCE, "man", os.path.basename(page)[:-len(".gz")])
                with open(source) as f:
                    self.assertEqual(text, f.read(), "the page is not the source's")
        if not render or shutil.which("man") is None:
            return
        env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80", LANG="C.UTF-8")
        rendered = run(["man", "-l"] + pages, env=env).stdout
        self.assertEqual(rendered.count("\nNAME\n"), len(pages), rendered[:2000])
        for page in pages:
            name = os.path.basename(page)[:-len(".1.gz")]
            self.assertRegex(rendered, rf"(?m)^NAME\n +{re.escape(name)} +- ")

    def check_unit(self, unit, root, bindir):
        """The unit starts the installed binary (`bindir` as seen from inside `root`), and
        systemd-analyze, if present, verifies it without a warning: its directives, the binary
        it starts, the units it orders itself after and the man page it names, all from the
        install under `root`."""
        with open(unit) as f:
            text = f.read()
        exec_start = f"\nExecStart={bindir}/shortlink serve "
        self.assertIn(exec_start, text)
        self.assertNotIn("/usr/local/bin", text)
        if shutil.which("systemd-analyze") is None:
            return
        # The host's systemd checks the copy: the same unit with the binary's path seen from
        # outside the scratch root (`--root` would want a whole system inside it).
        checked = os.path.join(self.tmp, "verify", os.path.basename(unit))
        os.makedirs(os.path.dirname(checked), exist_ok=True)
        with open(checked, "w") as f:
            f.write(text.replace(exec_start, f"\nExecStart={root}{bindir}/shortlink serve "))
        env = dict(os.environ, MANPATH=os.path.join(root + os.path.dirname(bindir), "share", "man"))
        proc = subprocess.run(["systemd-analyze", "verify", checked], capture_output=True,
                              text=True, timeout=60, env=env)
        self.assertEqual((proc.returncode, proc.stderr), (0, ""))
        # The socket unit beside it, which names it as its service.
        socket_unit = os.path.join(os.path.dirname(unit), "shortlink-serve.socket")
        shutil.copy(socket_unit, os.path.join(os.path.dirname(checked), "shortlink-serve.socket"))
        proc = subprocess.run(["systemd-analyze", "verify", os.path.join(os.path.dirname(checked), "shortlink-serve.socket")],
                              capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual((proc.returncode, proc.stderr), (0, ""))


class CmakeInstall(PackageTestCase):
    def test_install_layout(self):
        prefix = os.path.join(self.tmp, "prefix")
        run(["cmake", "--install", BUILD_DIR, "--prefix", prefix])
        self.check_layout(prefix, packaged=False)
        version = run([os.path.join(prefix, "bin", "shortlink"), "--version"]).stdout
        self.assertEqual(version, harness.run(["--version"]).stdout)
        self.check_man_pages(os.path.join(prefix, "share", "man", "man1"), render=False)
        self.check_unit(os.path.join(prefix, "lib/systemd/system/shortlink-serve.service"), "",
                        os.path.join(prefix, "bin"))


class DebianPackage(PackageTestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("cpack", "dpkg", "dpkg-deb", "dpkg-shlibdeps"):
            if shutil.which(tool) is None:
                raise AssertionError(f"{tool} is missing (cmake and build-essential bring it)")
        cls.out = tempfile.mkdtemp(prefix="shortlink-deb-")
        # -B keeps cpack's staging tree and the package out of the build tree.
        run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"),
             "-B", cls.out])
        cls.debs = glob.glob(os.path.join(cls.out, "*.deb"))
        cls.deb = cls.debs[0] if cls.debs else None
        cls.version = harness.run(["--version"]).stdout.split()[-1]
        cls.arch = run(["dpkg", "--print-architecture"]).stdout.strip()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.assertEqual(len(self.debs), 1, os.listdir(self.out))

    def control(self):
        fields = {}
        for line in run(["dpkg-deb", "--field", self.deb]).stdout.splitlines():
            if line and not line[0].isspace():
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        return fields

    def test_control_fields(self):
        self.assertEqual(os.path.basename(self.deb), f"shortlink_{self.version}_{self.arch}.deb")
        fields = self.control()
        self.assertEqual(fields["Package"], "shortlink")
        self.assertEqual(fields["Version"], self.version)
        self.assertEqual(fields["Architecture"], self.arch)
        self.assertRegex(fields["Maintainer"], r"^[^<>]+ <[^<>@]+@[^<>@]+>$")
        self.assertEqual(fields["Section"], "web")
        self.assertTrue(fields["Description"].startswith("short-link toolkit"))
        # dpkg-shlibdeps read the binary: the libraries it links, with versions.
        depends = [d.strip() for d in fields["Depends"].split(",")]
        names = {d.split()[0] for d in depends}
        for library in ("libc6", "libssl3", "libsqlite3-0", "libzstd1", "libsystemd0"):
            self.assertIn(library, names, fields["Depends"])
        self.assertTrue(any(d.startswith("libc6 (>= ") for d in depends), fields["Depends"])

    def test_contents(self):
        contents = run(["dpkg-deb", "--contents", self.deb]).stdout.splitlines()
        self.assertTrue(contents)
        for line in contents:
            mode, owner, _, _, _, path = line.split()[:6]
            with self.subTest(path=path):
                self.assertEqual(owner, "root/root")
                self.assertTrue(path == "./" or path.startswith("./usr/"), path)
                if mode.startswith("d"):
                    self.assertEqual(mode, "drwxr-xr-x")
        # Debian binaries ship without their debugging sections.
        root = os.path.join(self.tmp, "extracted")
        run(["dpkg-deb", "-x", self.deb, root])
        sections = run(["readelf", "-S", "-W", os.path.join(root, "usr/bin/shortlink")]).stdout
        self.assertNotIn(".debug_info", sections)

    def test_install_into_scratch_root(self):
        root = os.path.join(self.tmp, "root")
        admin = os.path.join(root, "var", "lib", "dpkg")
        for sub in ("info", "updates", "triggers"):
            os.makedirs(os.path.join(admin, sub))
        open(os.path.join(admin, "status"), "w").close()
        # The scratch root has none of the libraries, hence --force-depends; nothing outside it
        # is touched (its own database, no maintainer scripts, log to /dev/null).
        run(["dpkg", f"--root={root}", "--log=/dev/null", "--force-not-root", "--force-depends",
             "--force-script-chrootless", "-i", self.deb])
        status = run(["dpkg-query", f"--admindir={admin}", "-W", "-f=${Status} ${Version}",
                      "shortlink"]).stdout
        self.assertEqual(status, f"install ok installed {self.version}")
        listed = set(run(["dpkg", f"--root={root}", "-L", "shortlink"]).stdout.split())
        self.assertIn("/usr/bin/shortlink", listed)

        self.check_layout(os.path.join(root, "usr"), packaged=True)
        binary = os.path.join(root, "usr", "bin", "shortlink")
        self.assertEqual(run([binary, "--version"]).stdout.strip(), f"shortlink {self.version}")
        self.check_man_pages(os.path.join(root, "usr", "share", "man", "man1"), render=True)

        completion = os.path.join(root, "usr/share/bash-completion/completions/shortlink")
        offered = bash_complete(completion, ["shortlink", ""])
        for command in help_commands(binary):
            self.assertIn(command, offered)
        self.assertEqual(bash_complete(completion, ["shortlink", "ke"]), ["keygen"])
        with open(os.path.join(root, "usr/share/zsh/vendor-completions/_shortlink")) as f:
            self.assertEqual(f.readline().strip(), "#compdef shortlink")
        with open(os.path.join(root, "usr/share/fish/vendor_completions.d/shortlink.fish")) as f:
            self.assertIn("complete -c shortlink", f.read())

        self.check_unit(os.path.join(root, "usr/lib/systemd/system/shortlink-serve.service"),
                        root, "/usr/bin")


if __name__ == "__main__":
    harness.main()
