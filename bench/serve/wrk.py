"""Runs wrk with the random-codes script against one server and parses its report."""
import os
import re
import subprocess
import threading
import time

from servers import HERE, cpu_counters, cpu_seconds, pss_kib, steal_pct

LUA_SCRIPT = os.path.join(HERE, "random_codes.lua")
MAX_DURATION_S = 10  # BENCH.md: every load run is bounded, wrk -d of at most 10 s.

_UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0, "m": 60_000_000.0}


def _latency_us(text):
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError("unparsable wrk latency %r" % text)
    return float(match.group(1)) * _UNITS_US[match.group(2)]


def parse_wrk(output):
    """The figures of one wrk --latency report: req/s, requests, p50/p99 in microseconds,
    and errors (socket errors plus non-2xx/3xx answers)."""
    result = {"errors": 0, "socket_errors": 0, "bad_status": 0}
    match = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    if not match:
        raise ValueError("wrk printed no Requests/sec:\n" + output)
    result["rps"] = float(match.group(1))
    match = re.search(r"(\d+) requests in ([0-9.]+)(\w+)", output)
    result["requests"] = int(match.group(1))
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        match = re.search(r"^\s+%s%%\s+(\S+)" % pct, output, re.M)
        result[key] = _latency_us(match.group(1)) if match else None
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output)
    if match:
        result["socket_errors"] = sum(int(g) for g in match.groups())
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match:
        result["bad_status"] = int(match.group(1))
    result["errors"] = result["socket_errors"] + result["bad_status"]
    return result


# CPU list wrk is pinned to (taskset), or None; run.py --pin sets it.
PIN_CPUS = None


class WrkRun:
    """One bounded wrk run in the background, with the server's CPU time and a PSS sampler
    around it. start(), then wait() for the parsed figures."""

    def __init__(self, server, codes_file, duration_s, threads, connections, sample_memory=False):
        if duration_s > MAX_DURATION_S:
            raise ValueError("wrk runs are bounded to %d s" % MAX_DURATION_S)
        self.server = server
        self.cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", "%ds" % duration_s,
                    "--latency", "-s", LUA_SCRIPT, "http://127.0.0.1:%d" % server.port,
                    "--", codes_file]
        if PIN_CPUS is not None:
            self.cmd = ["taskset", "-c", PIN_CPUS] + self.cmd
        self.duration_s = duration_s
        self.proc = None
        self.cpu_before = 0.0
        self.peak_pss = 0
        # Reading smaps_rollup takes the server's mm lock, so sample only when peak memory is
        # wanted (reloads), not during the steady throughput runs.
        self.sample_memory = sample_memory
        self._stop_sampling = threading.Event()
        self._sampler = None

    def _sample(self):
        while not self._stop_sampling.is_set():
            self.peak_pss = max(self.peak_pss, pss_kib(self.server.pids()))
            self._stop_sampling.wait(0.1)

    def start(self):
        self.cpu_before = cpu_seconds(self.server.pids())
        self.counters_before = cpu_counters()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        if self.sample_memory:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def wait(self):
        try:
            # wrk reads the codes file in init() before its clock starts: allow for that.
            output, _ = self.proc.communicate(timeout=self.duration_s + 120)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._stop_sampling.set()
            if self._sampler is not None:
                self._sampler.join()
        cpu = cpu_seconds(self.server.pids()) - self.cpu_before
        steal = steal_pct(self.counters_before, cpu_counters())
        if self.proc.returncode != 0:
            raise RuntimeError("wrk failed (%d):\n%s" % (self.proc.returncode, output))
        result = parse_wrk(output)
        result["server_cpu_s"] = cpu
        result["cpu_us_per_req"] = cpu * 1e6 / result["requests"] if result["requests"] else None
        result["peak_pss_kib"] = self.peak_pss if self.sample_memory else None
        result["steal_pct"] = steal
        return result


def run_wrk(server, codes_file, duration_s, threads, connections):
    return WrkRun(server, codes_file, duration_s, threads, connections).start().wait()


def wait_until(t_monotonic):
    delay = t_monotonic - time.monotonic()
    if delay > 0:
        time.sleep(delay)
