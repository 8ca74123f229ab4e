#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench-daemon.py: the real coro-runnerd with 1k, 10k and 100k jobs.

    tests/bench/bench-daemon.py [--runs R] [--sizes 1k,10k,100k] [--quick]

Environment: CORO_RUNNERD (default build/<machine>/coro-runnerd) and
BENCH_PROBES (default build/<machine>/bench/bench-probes, whose `listen`
mode is the TCP server); BUILD sets both defaults' directory.

For each size N, two configurations, each started R times (default 3):

  mixed  N/2 tcp jobs every 10s against a loopback listener (an accept +
         close loop, bench-probes listen, on 127.0.0.1-8, one port), and
         N/2 idle timer jobs: tcp jobs every 24h (each sits on the timing
         wheel; its first run falls anywhere in the 24 hours, so about
         N/2 / 86,400 of them run in a second).
  idle   N idle timer jobs alone (the same kind).

Each start: coro-runnerd -c FILE -d EMPTYDIR -s SOCK --state-dir DIR, its
NOTIFY_SOCKET a datagram socket read here, stderr to a file; the daemon on
CPU 0, the listener on CPU 1, each in a session of its own (sched_autogroup
would otherwise tie their weights together). Measured:

  ready     from just before the exec to the READY=1 datagram
  RSS       VmRSS of /proc/PID/status right after READY=1, and (mixed)
            again 21.5 s later
  lag       (mixed) SIGUSR1 at READY+11.5s and READY+21.5s: the daemon's
            `stats:` line gives lag_p99_us and lag_max_us of its last full
            10 s window (samples: how late each job's tick ran, and its
            ticker's 1 s sleep). The first window holds the start (every
            job's first tick, spread over the first 10 s); the second is
            the steady state, the headline.
  floor     (mixed) the baseline for lag, in the same window: bench-probes
            lagfloor, a bare epoll_wait with random 1-20 ms timeouts on the
            daemon's CPU, in a session of its own, for 9 s; p99 and maximum
            of how late it woke. On a machine shared with other work, this
            is the scheduler's wake-up latency that any loop pays.
  CPU       the daemon's CPU time (every thread's /proc/.../schedstat, ns)
            as % of one core: (mixed) from READY+11.5s to READY+21.5s, one
            full period of the 10 s probes in the steady state; (idle)
            from READY+1s to READY+4s

Then SIGTERM; the time to exit is shown too. Medians (min-max) over the R
starts; a table, then BENCH lines. Benchmarks are not tests: a slow figure
never fails; the exit status is non-zero only when something could not run.
"""

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

NADDR = 8
DAEMON_CPU = 0
LISTENER_CPU = 1
PROBE_EVERY = "10s"
IDLE_EVERY = "24h"
LAG_WINDOW = 10.0                  # s: the daemon's lag window
STATS_AT = 11.5                    # s after READY: the first lag window is complete
CPU_FROM, IDLE_CPU_TO = 1.0, 4.0   # s after READY (idle)
READY_TIMEOUT = 60.0


class BenchError(Exception):
    pass


def count_arg(text):
    m = re.fullmatch(r"(\d+)([kM]?)", text)
    if not m or int(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError("a positive count like 1000, 10k, 1M: %r" % text)
    return int(m.group(1)) * {"": 1, "k": 1000, "M": 1000000}[m.group(2)]


def label(n):
    return "%dk" % (n // 1000) if n % 1000 == 0 else str(n)


def write_config(path, n_probe, n_idle, port):
    """A job file: n_probe tcp jobs every 10s, n_idle every 24h, all against the listener."""
    with open(path, "w") as f:
        f.write("defaults:\n  timeout: 2s\njobs:\n")
        for i in range(n_probe):
            f.write("  - name: probe-%d\n    type: tcp\n    target: 127.0.0.%d:%d\n"
                    "    every: %s\n" % (i, 1 + i % NADDR, port, PROBE_EVERY))
        for i in range(n_idle):
            f.write("  - name: idle-%d\n    type: tcp\n    target: 127.0.0.%d:%d\n"
                    "    every: %s\n" % (i, 1 + i % NADDR, port, IDLE_EVERY))


def own_session(cpu):
    def pre():
        os.setsid()
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass
    return pre


def proc_field_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def cpu_ns(pid):
    """CPU time of the whole process (every thread), ns."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def sleep_until(t):
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


class Listener:
    """bench-probes listen: accept + close on 127.0.0.1-8, one port."""

    def __init__(self, prog):
        self.proc = subprocess.Popen([prog, "listen", "0", str(NADDR)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=own_session(LISTENER_CPU))
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise BenchError("the listener did not start: %s" % self.proc.stderr.read().decode())
        self.port = int(line)

    def close(self):
        try:
            err = self.proc.communicate(timeout=10)[1].decode()
        except subprocess.TimeoutExpired:
            self.proc.kill()
            err = ""
        m = re.search(r"accepted (\d+)", err)
        return int(m.group(1)) if m else -1


class Daemon:
    """One coro-runnerd, started in a fresh directory, watched through NOTIFY_SOCKET."""

    def __init__(self, prog, config, workdir):
        self.dir = tempfile.mkdtemp(prefix="run-", dir=workdir)
        os.mkdir(os.path.join(self.dir, "jobs.d"))
        self.log_path = os.path.join(self.dir, "stderr.log")
        notify_path = os.path.join(self.dir, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.notify.bind(notify_path)
        env = {k: v for k, v in os.environ.items()
               if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                            "LISTEN_FDS", "LISTEN_PID")}
        env["NOTIFY_SOCKET"] = notify_path
        argv = [prog, "-c", config, "-d", os.path.join(self.dir, "jobs.d"),
                "-s", os.path.join(self.dir, "control.sock"),
                "--state-dir", os.path.join(self.dir, "state")]
        self.log = open(self.log_path, "wb")
        self.t_exec = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     preexec_fn=own_session(DAEMON_CPU))
        self.pid = self.proc.pid

    def wait_ready(self):
        """Seconds from exec to READY=1."""
        deadline = self.t_exec + READY_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError("no READY=1 within %.0f s" % READY_TIMEOUT)
            if self.proc.poll() is not None:
                raise BenchError("coro-runnerd exited (%d) before READY=1: %s"
                                 % (self.proc.returncode, self.log_tail()))
            self.notify.settimeout(min(left, 0.2))
            try:
                msg = self.notify.recv(4096).decode(errors="replace")
            except socket.timeout:
                continue
            if "READY=1" in msg.split("\n"):
                return time.monotonic() - self.t_exec

    def stats(self, timeout=10.0):
        """SIGUSR1, then the fields of the `stats:` line it logs."""
        seen = len(self.stats_lines())
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.stats_lines()
            if len(lines) > seen:
                return dict(re.findall(r"(\w+)=(\S+)", lines[-1].split("stats:", 1)[1]))
            time.sleep(0.05)
        raise BenchError("no stats: line within %.0f s of SIGUSR1" % timeout)

    def stats_lines(self):
        with open(self.log_path, "rb") as f:
            return [l.decode(errors="replace") for l in f if b" stats: " in l]

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM; seconds until it exits (it is killed after 10 s)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        dt = time.monotonic() - t0
        self.notify.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return dt


def run_mixed(prog, config, probes):
    d = Daemon(prog, config.path, config.workdir)
    try:
        r = {"ready_ms": d.wait_ready() * 1000}
        t_ready = time.monotonic()
        r["rss_ready_mib"] = proc_field_kb(d.pid, "VmRSS") / 1024
        sleep_until(t_ready + STATS_AT)
        st = d.stats()
        r["lag1_p99_ms"] = int(st.get("lag_p99_us", "-1")) / 1000
        r["lag1_max_ms"] = int(st.get("lag_max_us", "-1")) / 1000
        c0 = cpu_ns(d.pid)
        t0 = time.monotonic()
        floor = subprocess.Popen([probes, "lagfloor", "%d" % (LAG_WINDOW - 1)],
                                 stdout=subprocess.PIPE, preexec_fn=own_session(DAEMON_CPU))
        sleep_until(t_ready + STATS_AT + LAG_WINDOW)
        r["cpu_pct"] = 100.0 * (cpu_ns(d.pid) - c0) / ((time.monotonic() - t0) * 1e9)
        fl = dict(re.findall(r"(\w+)=(\S+)", floor.communicate(timeout=30)[0].decode()))
        r["floor_p99_ms"] = int(fl.get("lag_p99_us", "-1")) / 1000
        r["floor_max_ms"] = int(fl.get("lag_max_us", "-1")) / 1000
        st = d.stats()
        r["rss_after_mib"] = proc_field_kb(d.pid, "VmRSS") / 1024
        r["lag_p99_ms"] = int(st.get("lag_p99_us", "-1")) / 1000
        r["lag_max_ms"] = int(st.get("lag_max_us", "-1")) / 1000
        r["runs"] = int(st.get("runs", "0"))
        r["failures"] = int(st.get("failures", "0"))
        r["skipped"] = int(st.get("skipped", "0"))
    finally:
        r_stop = d.stop()
    r["stop_ms"] = r_stop * 1000
    return r


def run_idle(prog, config):
    d = Daemon(prog, config.path, config.workdir)
    try:
        r = {"ready_ms": d.wait_ready() * 1000}
        t_ready = time.monotonic()
        r["rss_ready_mib"] = proc_field_kb(d.pid, "VmRSS") / 1024
        sleep_until(t_ready + CPU_FROM)
        c0 = cpu_ns(d.pid)
        t0 = time.monotonic()
        sleep_until(t_ready + IDLE_CPU_TO)
        r["cpu_pct"] = 100.0 * (cpu_ns(d.pid) - c0) / ((time.monotonic() - t0) * 1e9)
    finally:
        r_stop = d.stop()
    r["stop_ms"] = r_stop * 1000
    return r


class Config:
    def __init__(self, path, workdir):
        self.path, self.workdir = path, workdir


def med(rs, key):
    v = [r[key] for r in rs]
    return statistics.median(v), min(v), max(v)


def fmt(rs, key, digits):
    m, lo, hi = med(rs, key)
    if len(rs) == 1:
        return "%.*f" % (digits, m)
    return "%.*f (%.*f-%.*f)" % (digits, m, digits, lo, digits, hi)


def main():
    machine = platform.machine()
    build = os.environ.get("BUILD", "build/" + machine)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=count_arg, default=3)
    ap.add_argument("--sizes", default="1k,10k,100k")
    ap.add_argument("--quick", action="store_true", help="one start of each (a smoke test)")
    args = ap.parse_args()
    sizes = [count_arg(s) for s in args.sizes.split(",")]
    runs = 1 if args.quick else args.runs
    daemon = os.environ.get("CORO_RUNNERD", os.path.join(build, "coro-runnerd"))
    probes = os.environ.get("BENCH_PROBES", os.path.join(build, "bench", "bench-probes"))
    for p in (daemon, probes):
        if not os.access(p, os.X_OK):
            print("bench-daemon: %s is missing: build it with 'make bench'" % p, file=sys.stderr)
            return 2
    try:
        os.sched_getaffinity(0)
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count() or 1

    workdir = tempfile.mkdtemp(prefix="bench-daemon-")
    listener = None
    results = {}
    status = 0
    try:
        listener = Listener(probes)
        for n in sizes:
            n_probe = n // 2
            mixed = Config(os.path.join(workdir, "mixed-%d.yaml" % n), workdir)
            idle = Config(os.path.join(workdir, "idle-%d.yaml" % n), workdir)
            write_config(mixed.path, n_probe, n - n_probe, listener.port)
            write_config(idle.path, 0, n, listener.port)
            rm, ri = [], []
            for _ in range(runs):
                # Interleaved: mixed, idle, mixed, idle, ...
                rm.append(run_mixed(daemon, mixed, probes))
                ri.append(run_idle(daemon, idle))
            results[n] = (rm, ri)
    except BenchError as e:
        print("bench-daemon: %s" % e, file=sys.stderr)
        status = 2
    finally:
        accepted = listener.close() if listener else -1
        shutil.rmtree(workdir, ignore_errors=True)

    if ncpu < 2:
        print("(one CPU: daemon and listener share it; figures are not comparable)")
    print("coro-runnerd with N jobs: N/2 tcp probes every %s against a loopback accept +\n"
          "close listener (127.0.0.1-%d, CPU %d) and N/2 idle timer jobs (tcp every %s);\n"
          "idle: N idle timer jobs alone. Daemon on CPU %d, stderr to a file (it logs\n"
          "every result). %d start%s of each, interleaved; median (min-max).\n"
          % (PROBE_EVERY, NADDR, LISTENER_CPU, IDLE_EVERY, DAEMON_CPU, runs,
             "" if runs == 1 else "s"))
    cols = [("ready ms", "ready_ms", 0), ("RSS@READY MiB", "rss_ready_mib", 1),
            ("RSS@22s MiB", "rss_after_mib", 1), ("CPU %", "cpu_pct", 2),
            ("lag p99 ms, 0-10s", "lag1_p99_ms", 2), ("lag max ms, 0-10s", "lag1_max_ms", 2),
            ("lag p99 ms, 10-20s", "lag_p99_ms", 2), ("lag max ms, 10-20s", "lag_max_ms", 2),
            ("floor p99 ms", "floor_p99_ms", 2), ("floor max ms", "floor_max_ms", 2),
            ("stop ms", "stop_ms", 0)]
    for n, (rm, ri) in results.items():
        print("%s jobs" % label(n))
        for name, rs in (("mixed", rm), ("idle", ri)):
            for title, key, digits in cols:
                if key in rs[0]:
                    print("  %-6s %-19s %s" % (name, title, fmt(rs, key, digits)))
        fails = sum(r["failures"] for r in rm)
        print("  mixed  runs in 21.5 s       %s (expected about %d), %d failed, %d skipped"
              % (fmt(rm, "runs", 0), int(n // 2 * (STATS_AT + LAG_WINDOW) / 10), fails,
                 sum(r["skipped"] for r in rm)))
        if fails:
            print("  (failures: the figures above include failing probes)")
    if accepted >= 0:
        print("listener: %d connections accepted in all" % accepted)
    per_job = None
    if len(results) >= 2:
        lo, hi = min(results), max(results)
        per_job = {key: (med(results[hi][0], key)[0] - med(results[lo][0], key)[0]) * 1048576
                   / (hi - lo) for key in ("rss_ready_mib", "rss_after_mib")}
        print("RSS per job, (RSS at %s - RSS at %s) / %d jobs: %.0f bytes at READY, %.0f bytes"
              " 21.5 s later" % (label(hi), label(lo), hi - lo, per_job["rss_ready_mib"],
                                 per_job["rss_after_mib"]))
    print()

    for n, (rm, ri) in results.items():
        k = label(n)
        print("BENCH daemon_%s_ready_ms %.0f ms" % (k, med(rm, "ready_ms")[0]))
        print("BENCH daemon_%s_rss_ready_mib %.1f MiB" % (k, med(rm, "rss_ready_mib")[0]))
        print("BENCH daemon_%s_rss_mib %.1f MiB" % (k, med(rm, "rss_after_mib")[0]))
        print("BENCH daemon_%s_stop_ms %.0f ms" % (k, med(rm, "stop_ms")[0]))
        print("BENCH daemon_%s_cpu_pct %.2f %%" % (k, med(rm, "cpu_pct")[0]))
        print("BENCH daemon_%s_idle_cpu_pct %.3f %%" % (k, med(ri, "cpu_pct")[0]))
        print("BENCH daemon_%s_idle_rss_mib %.1f MiB" % (k, med(ri, "rss_ready_mib")[0]))
        print("BENCH daemon_%s_lag_p99_ms %.2f ms" % (k, med(rm, "lag_p99_ms")[0]))
        print("BENCH daemon_%s_lag_max_ms %.2f ms" % (k, med(rm, "lag_max_ms")[0]))
        print("BENCH daemon_%s_start_lag_p99_ms %.2f ms" % (k, med(rm, "lag1_p99_ms")[0]))
        print("BENCH daemon_%s_lag_floor_p99_ms %.2f ms" % (k, med(rm, "floor_p99_ms")[0]))
    if per_job:
        print("BENCH daemon_rss_per_job_bytes %.0f bytes" % per_job["rss_after_mib"])
    return status


if __name__ == "__main__":
    sys.exit(main())
