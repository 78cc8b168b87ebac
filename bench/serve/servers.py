"""The servers of the serving benchmark and how to measure a running one.

Each server is a foreground process tree started on a high 127.0.0.1 port with its own config
in a temporary directory, and stopped by PID (root first, then any descendant it left behind).
Measurements read /proc only: CPU time (utime+stime) and memory (PSS from smaps_rollup, RSS
split between the snapshot mapping and the rest) summed over every process of the tree.
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# CPU list every server process is pinned to (taskset), or None; run.py --pin sets it.
PIN_CPUS = None
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KEEPALIVE_REQUESTS = 1000000


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it from the high,
    ephemeral range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill_template(name, out_path, values):
    with open(os.path.join(HERE, name)) as template:
        text = template.read()
    for key, value in values.items():
        text = text.replace("@%s@" % key, str(value))
    with open(out_path, "w") as out:
        out.write(text)


def _children_by_parent():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def process_tree(root_pid):
    """The PIDs of root_pid and all its live descendants."""
    children = _children_by_parent()
    result, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        if os.path.exists("/proc/%d" % pid):
            result.append(pid)
        todo.extend(children.get(pid, []))
    return result


def cpu_seconds(pids):
    """utime+stime of the given processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields after the command: state is [0], utime is field 14 of stat, i.e. [11] here.
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def cpu_counters():
    """(steal, total) jiffies of the whole machine from /proc/stat. On a virtual machine the
    host may take cores away for a while (steal time): a run during which it did measures the
    host, not the server, so every run reports its steal share."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already inside user)
    return fields[7], sum(fields[:8])


def steal_pct(before, after):
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total > 0 else 0.0


def pss_kib(pids):
    """Sum of the proportional set size of the processes, in KiB."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def rss_split_kib(pids, mapped_suffix):
    """(total RSS, RSS of mappings whose path ends with mapped_suffix) over the processes, KiB.
    Used for ours: the snapshot mapping is page cache a second process would share, the rest is
    what serving really costs."""
    total = mapped = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps" % pid) as smaps:
                in_mapped = False
                for line in smaps:
                    first = line.split(maxsplit=6)
                    if not first:
                        continue
                    if "-" in first[0] and not first[0].endswith(":"):
                        in_mapped = len(first) >= 6 and first[-1].strip().endswith(mapped_suffix)
                    elif first[0] == "Rss:":
                        total += int(first[1])
                        if in_mapped:
                            mapped += int(first[1])
        except OSError:
            continue
    return total, mapped


def get_once(port, path, timeout=1.0):
    """(status, Location) of one GET on a new connection, or (None, error) if it fails."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "bench.local"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    except (OSError, http.client.HTTPException) as error:
        return None, str(error)
    finally:
        conn.close()


def wait_for_redirect(port, code, url, deadline_s, poll_s=0.002):
    """Polls GET /code until it answers 301 to url; returns the monotonic time it did, or None."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        status, location = get_once(port, "/" + code, timeout=0.5)
        if status == 301 and location == url:
            return time.monotonic()
        time.sleep(poll_s)
    return None


class KeepAliveProbe:
    """GETs over one persistent connection, reopened when the server closes it. A reload test
    polls under load for seconds; a new connection and http.client per poll cost the two-core
    machine a few hundred microseconds of CPU each, which showed up in the measured p99 (1.5x to
    2.8x the steady p99 with polling alone, no swap). A raw keep-alive GET costs tens of
    microseconds."""

    def __init__(self, port, timeout=0.5):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buffer = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer = b""

    def _read_response(self):
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response head")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside the body")
            self.buffer += chunk
        self.buffer = self.buffer[length:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers.get("location")

    def get(self, path):
        """(status, Location) of one GET, or (None, error)."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.sock.sendall(("GET %s HTTP/1.1\r\nHost: bench.local\r\n\r\n" % path).encode())
            return self._read_response()
        except (OSError, ValueError, IndexError) as error:
            self.close()
            return None, str(error)


class RedirectWatch:
    """Polls GET /code every poll_s over one keep-alive connection and remembers when it first
    answered 301 to url (never, for url None). poll_until() may be called again and again: a
    run where nothing changes carries the same polling as one where something does."""

    def __init__(self, port, code, url, poll_s=0.005):
        self.probe = KeepAliveProbe(port)
        self.code = code
        self.url = url
        self.poll_s = poll_s
        self.first = None

    def poll_until(self, until):
        while time.monotonic() < until:
            status, location = self.probe.get("/" + self.code)
            if self.first is None and self.url is not None and status == 301 \
                    and location == self.url:
                self.first = time.monotonic()
            time.sleep(self.poll_s)
        return self.first

    def close(self):
        self.probe.close()


class Server:
    """One server under test: a config in its own temp dir and a foreground process tree.
    Not thread-safe; owned by the runner, which must call stop()."""

    kind = "?"
    reload_signal = None

    def __init__(self, name, work_dir, threads):
        self.name = name
        self.dir = os.path.join(work_dir, name)
        self.threads = threads
        self.port = free_port()
        self.proc = None
        self.seen_pids = set()
        self.log_path = os.path.join(self.dir, "server.log")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)

    def command(self):
        raise NotImplementedError

    def start(self):
        """Starts the process and returns the monotonic time just before the exec."""
        log = open(self.log_path, "ab")
        started = time.monotonic()
        command = self.command()
        if PIN_CPUS is not None:
            command = ["taskset", "-c", PIN_CPUS] + command
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        return started

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        if self.proc is None:
            return []
        pids = process_tree(self.proc.pid)
        self.seen_pids.update(pids)
        return pids

    def signal_reload(self):
        self.pids()
        os.kill(self.proc.pid, self.reload_signal)

    def stop(self):
        """Stops the root by PID, waits, then kills any descendant it left behind (by PID)."""
        if self.proc is None:
            return
        self.pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid in sorted(self.seen_pids - {self.proc.pid}):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc = None

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""


class NginxServer(Server):
    """nginx with `map $uri $dest` and `return 301 $dest`, or the constant-301 ceiling
    (map_path None)."""

    reload_signal = signal.SIGHUP

    def __init__(self, name, work_dir, threads, map_path):
        super().__init__(name, work_dir, threads)
        self.kind = "nginx-map" if map_path else "nginx-const"
        self.map_path = map_path
        template = "nginx-map.conf.in" if map_path else "nginx-const.conf.in"
        fill_template(template, os.path.join(self.dir, "nginx.conf"),
                      {"WORKERS": threads, "PORT": self.port, "DIR": self.dir,
                       "MAP": map_path or "", "KEEPALIVE_REQUESTS": KEEPALIVE_REQUESTS})

    def command(self):
        return ["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                "-c", os.path.join(self.dir, "nginx.conf")]

    def log_tail(self, lines=15):
        text = super().log_tail(lines)
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as log:
                text += "".join(log.readlines()[-lines:])
        except OSError:
            pass
        return text


class HaproxyServer(Server):
    """HAProxy in master-worker mode (-W, foreground) with a map file and
    `http-request redirect`; SIGUSR2 to the master reloads it."""

    kind = "haproxy"
    reload_signal = signal.SIGUSR2

    def __init__(self, name, work_dir, threads, map_path):
        super().__init__(name, work_dir, threads)
        self.map_path = map_path
        fill_template("haproxy.cfg.in", os.path.join(self.dir, "haproxy.cfg"),
                      {"THREADS": threads, "PORT": self.port, "DIR": self.dir, "MAP": map_path})

    def command(self):
        return ["haproxy", "-W", "-db", "-f", os.path.join(self.dir, "haproxy.cfg")]


class OursServer(Server):
    """`shortlink serve` on a snapshot directory; a new snapshot renamed into the directory is
    the reload (the server watches it)."""

    kind = "ours"

    def __init__(self, name, work_dir, threads, binary, snap_dir, trust):
        super().__init__(name, work_dir, threads)
        self.binary = binary
        self.snap_dir = snap_dir
        self.trust = trust
        self.admin_port = free_port()

    def command(self):
        return [self.binary, "serve", "--snapshots", self.snap_dir, "--trust", self.trust,
                "--listen", "127.0.0.1:%d" % self.port,
                "--admin", "127.0.0.1:%d" % self.admin_port, "--threads", str(self.threads),
                # The same per-connection request limit as nginx.conf's keepalive_requests
                # (HAProxy has none), so no server pays reconnects the others do not.
                "--max-requests", str(KEEPALIVE_REQUESTS)]


def copy_file(src, dst):
    shutil.copyfile(src, dst)
    return dst
