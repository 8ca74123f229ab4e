#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench-notify.py: notifications (issue 14), N jobs going down at once.

    tests/bench/bench-notify.py [--runs R] [--jobs N] [--every DUR] [--no-up]
                                [--hook-delay MS] [--history] [--quick]

Defaults: 3 runs of each kind, 10,000 jobs every 2s, with the up phase
(about 5 minutes). --quick: 1 run of each, 2,000 jobs, no up phase (about
1 minute; a smoke test, not figures to compare). --hook-delay MS: the
webhook receiver answers each POST MS ms late, a slow receiver (the
webhook's queue then fills, and a phase lasts until it is delivered).

Environment: CORO_RUNNERD (default build/<machine>/coro-runnerd), BENCH_PROBES
(default build/<machine>/bench/bench-probes, whose `listen` mode is the TCP
server the jobs probe; without it a Python listener of this script is used),
ALERTMANAGER (default /usr/bin/prometheus-alertmanager); BUILD sets the build
directory; BENCH_NOTIFY_VERBOSE=1 logs each step on stderr. The binaries
are copied first, so a rebuild meanwhile changes nothing.

What runs, each process in a session of its own, all in a temporary
directory removed at the end, every process ended at the end (also on
failure, Ctrl-C or SIGTERM):

  listener      accept + close on 127.0.0.1-8, one port (CPU 1)
  webhook       this script's own receiver in a process of its own (asyncio,
                HTTP/1.1 keep-alive, answers 200, records the time of every
                POST and counts its alerts by status) (CPU 1)
  alertmanager  Debian's prometheus-alertmanager on a free loopback port,
                no cluster, a fresh storage directory each run, a route to
                a receiver that sends nothing (CPU 1)
  coro-runnerd  N tcp jobs every DUR, timeout min(2s, DUR/2),
                failures_before_down 1, successes_before_up 1, against the
                listener; notifiers am (alertmanager) and hook (webhook),
                queue max(10000, N); `history: off` (the results' SQLite
                history is not what is measured; --history keeps it); its
                NOTIFY_SOCKET read here all along, as systemd does (CPU 0;
                this script runs on CPU 1)

Why every 2s: the jobs go down at their next tick after the kill, spread
over one interval by their phases, so the interval is how "at once" the
burst is. Every 10s spreads 10,000 events over 10 s (1,000 a second: both
notifiers keep up, and "all delivered" is the detection, 10 s); every 1s
is 10,000 connects a second to a listener sharing a CPU with Alertmanager
and the receiver: probes time out and jobs flap before the kill, even in the
baseline. Every 2s is the tightest burst that runs clean here: 10,000
events in 2 s (5,000 a second to each notifier), 5,000 probes a second.

Two kinds of run, alternated (A B A B ...), R of each:

  notify    the jobs have `notify: [am, hook]`
  baseline  the same jobs and notifiers, no `notify:` (nothing is sent)

A run: the daemon starts; at a rotation of its 10 s loop-lag window (the
first after READY+5s, about READY+10s; the daemon's `stats` reply, read
over the control socket, changes then) the listener is killed: every
connection is refused from then on, and each job goes down at its next
tick. The phase lasts until a later window rotation (at least the second)
by which both notifiers have delivered N events (notify runs); then, at
that rotation, the listener is started again on the same port and the N up
events are measured the same way (the up phase). Measured per phase:

  transitions   from the kill to the last `down after 1 consecutive
                failure` (`up`) line of the daemon's log (its timestamps,
                ms), and how many
  delivered     from the kill to the last `notify am: down delivered` (and
                hook) line of the log: the daemon had Alertmanager's (the
                receiver's) 2xx answer; from the last transition to it; and
                per event, from its job's transition to its delivery (p50,
                p99, max). Checked against Alertmanager's own counter
                (alertmanager_alerts_received_total) and the receiver's
  peak queue    the largest `queued` of each notifier in the daemon's
                `notifiers` reply, read every 100 ms (20 ms near a rotation)
  lag           loop_lag_p99_us / loop_lag_max_us of the daemon's `stats`
                reply for each full 10 s window of the phase; the first
                window (W1) holds every transition, the second (W2) the
                tail (notify.json is written every 2 s while things change).
                The headline is the worse of W1 and W2, the same windows
                in the baseline
  CPU           the daemon's CPU time over the phase (every thread's
                schedstat), % of one core

Medians (min-max) over the R runs; a table, then BENCH lines. Benchmarks
are not tests: a slow figure never fails; the exit status is non-zero only
when something could not run.
"""

import argparse
import asyncio
import datetime
import json
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
import threading
import time
import urllib.request

NADDR = 8
DAEMON_CPU = 0
HELPER_CPU = 1
LAG_WINDOW = 10.0          # s: the daemon's loop-lag window
ALIGN_AFTER = 5.0          # s after READY: the kill is at the first window rotation after this
PHASE_TIMEOUT = 60.0       # s: a phase whose events are not all delivered by then ends anyway
READY_TIMEOUT = 120.0
SAMPLE_EVERY = 0.1         # s

LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}) ")


class BenchError(Exception):
    pass


VERBOSE = os.environ.get("BENCH_NOTIFY_VERBOSE") == "1"
T_START = time.monotonic()


def debug(msg):
    if VERBOSE:
        print("bench-notify: %7.2f %s" % (time.monotonic() - T_START, msg), file=sys.stderr,
              flush=True)


# ---- helpers -------------------------------------------------------------------------

def count_arg(text):
    m = re.fullmatch(r"(\d+)([kM]?)", text)
    if not m or int(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError("a positive count like 2000, 10k: %r" % text)
    return int(m.group(1)) * {"": 1, "k": 1000, "M": 1000000}[m.group(2)]


def dur_arg(text):
    m = re.fullmatch(r"(\d+)(ms|s)", text)
    if not m or int(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError("a duration like 10s, 1s, 500ms: %r" % text)
    return int(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)


def own_session(cpu):
    def pre():
        os.setsid()
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass
    return pre


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ns(pid):
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, timeout=10.0):
    with _opener.open(url, timeout=timeout) as r:
        return r.status, r.read()


def end_process(proc, sig=signal.SIGTERM, wait=10.0):
    """Ends proc and its session (it is a session leader): sig, then SIGKILL."""
    if proc is None or proc.returncode is not None:
        return
    for s in (sig, signal.SIGKILL):
        try:
            os.killpg(proc.pid, s)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def log_wall(line):
    """Wall-clock seconds of a daemon log line (stderr format), or None."""
    m = LOG_TS.match(line)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


# ---- the webhook receiver (a process of its own: --serve-webhook) ----------------------

def serve_webhook(delay_ms=0):
    """An HTTP/1.1 receiver: every POST answered 200 (delay_ms later) and recorded;
    GET /stats, GET /reset."""
    state = {"posts": 0, "alerts": {}, "last": {}, "first": None, "bad": 0}

    def reset():
        state.update(posts=0, alerts={}, last={}, first=None, bad=0)

    async def handle(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                parts = line.decode("latin-1").split()
                if len(parts) < 2:
                    break
                method, path = parts[0], parts[1]
                clen, expect = 0, False
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    k = k.strip().lower()
                    if k == "content-length":
                        clen = int(v.strip())
                    elif k == "expect" and "100-continue" in v.lower():
                        expect = True
                if expect:
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await reader.readexactly(clen) if clen else b""
                now = time.monotonic()
                out = b""
                if method == "POST":
                    state["posts"] += 1
                    if state["first"] is None:
                        state["first"] = now
                    try:
                        for a in json.loads(body).get("alerts", []):
                            st = a.get("status", "?")
                            state["alerts"][st] = state["alerts"].get(st, 0) + 1
                            state["last"][st] = now
                    except (ValueError, AttributeError):
                        state["bad"] += 1
                    if delay_ms:
                        await asyncio.sleep(delay_ms / 1000)
                elif path.startswith("/stats"):
                    out = json.dumps(state).encode()
                elif path.startswith("/reset"):
                    reset()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(out), out))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, lambda: stop.done() or stop.set_result(None))
        # Also end when our parent's pipe closes.
        loop.add_reader(sys.stdin.fileno(),
                        lambda: stop.done() or stop.set_result(None))
        await stop
        server.close()

    asyncio.run(main())


def serve_tcp(port):
    """A fallback listener: accept + close on 127.0.0.1-8 (bench-probes listen's job)."""
    import selectors
    sel = selectors.DefaultSelector()
    socks = []
    for k in range(NADDR):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.%d" % (k + 1), port))
        port = s.getsockname()[1]
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    print(port, flush=True)
    sel.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is sys.stdin:
                return
            while True:
                try:
                    c, _ = key.fileobj.accept()
                except (BlockingIOError, InterruptedError):
                    break
                c.close()


# ---- the helpers' processes --------------------------------------------------------------

class Listener:
    """The jobs' target: bench-probes listen (or serve_tcp), stopped and restarted on one port."""

    def __init__(self, probes):
        self.probes = probes
        self.port = 0
        self.proc = None
        self.start()

    def start(self):
        if self.probes:
            argv = [self.probes, "listen", str(self.port), str(NADDR)]
        else:
            argv = [sys.executable, os.path.abspath(__file__), "--serve-tcp", str(self.port)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL,
                                     preexec_fn=own_session(HELPER_CPU))
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            end_process(self.proc, signal.SIGKILL)
            raise BenchError("the listener did not start")
        self.port = int(line)

    def kill(self):
        """Every connection refused once this returns."""
        end_process(self.proc, signal.SIGKILL)
        self.proc = None

    def close(self):
        end_process(self.proc)
        self.proc = None


class Receiver:
    def __init__(self, delay_ms=0):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve-webhook",
                                      str(delay_ms)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     preexec_fn=own_session(HELPER_CPU))
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            end_process(self.proc, signal.SIGKILL)
            raise BenchError("the webhook receiver did not start")
        self.port = int(line)
        self.url = "http://127.0.0.1:%d" % self.port

    def stats(self):
        return json.loads(http_get(self.url + "/stats")[1])

    def reset(self):
        http_get(self.url + "/reset")

    def close(self):
        end_process(self.proc)


AM_CONFIG = """route:
  receiver: blackhole
  group_by: [alertname]
receivers:
  - name: blackhole
"""


class Alertmanager:
    def __init__(self, prog, workdir):
        self.dir = tempfile.mkdtemp(prefix="am-", dir=workdir)
        cfg = os.path.join(self.dir, "alertmanager.yml")
        with open(cfg, "w") as f:
            f.write(AM_CONFIG)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "alertmanager.log"), "wb")
        self.proc = subprocess.Popen(
            [prog, "--config.file=" + cfg, "--storage.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--cluster.listen-address=",
             "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            preexec_fn=own_session(HELPER_CPU))

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("alertmanager exited (%d): %s" % (self.proc.returncode,
                                                                   self.log_tail()))
            try:
                if http_get(self.url + "/-/ready", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError("alertmanager not ready within %.0f s" % timeout)

    def counters(self):
        """{'received_firing', 'received_resolved', 'alerts'} from its /metrics."""
        text = http_get(self.url + "/metrics")[1].decode()
        r = {"received_firing": 0.0, "received_resolved": 0.0, "alerts": 0.0}
        for line in text.splitlines():
            if line.startswith("alertmanager_alerts_received_total{"):
                v = float(line.rsplit(" ", 1)[1])
                if 'status="firing"' in line:
                    r["received_firing"] += v
                elif 'status="resolved"' in line:
                    r["received_resolved"] += v
            elif line.startswith("alertmanager_alerts{"):
                # active, suppressed, unprocessed (not yet seen by the dispatcher)
                r["alerts"] += float(line.rsplit(" ", 1)[1])
        return r

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "alertmanager.log"), "rb") as f:
                return f.read()[-1000:].decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        end_process(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Control:
    """The daemon's control socket: one connection, one JSON line each way."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(10.0)
        self.sock.connect(path)
        self.buf = b""

    def request(self, command):
        self.sock.sendall(json.dumps({"command": command}).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BenchError("the daemon closed its control connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.get("ok"):
            raise BenchError("control %s: %s" % (command, reply.get("error")))
        return reply

    def close(self):
        self.sock.close()


class Daemon:
    def __init__(self, prog, config, workdir, metrics_port):
        self.dir = tempfile.mkdtemp(prefix="run-", dir=workdir)
        os.mkdir(os.path.join(self.dir, "jobs.d"))
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.sock_path = os.path.join(self.dir, "control.sock")
        notify_path = os.path.join(self.dir, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.notify.bind(notify_path)
        env = {k: v for k, v in os.environ.items()
               if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                            "LISTEN_FDS", "LISTEN_PID")
               and not k.lower().endswith("_proxy")}
        env["NOTIFY_SOCKET"] = notify_path
        argv = [prog, "-c", config, "-d", os.path.join(self.dir, "jobs.d"),
                "-s", self.sock_path, "--state-dir", os.path.join(self.dir, "state"),
                "--metrics", "127.0.0.1:%d" % metrics_port]
        self.metrics_url = "http://127.0.0.1:%d/metrics" % metrics_port
        self.log = open(self.log_path, "wb")
        self.t_exec = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     preexec_fn=own_session(DAEMON_CPU))
        self.pid = self.proc.pid
        self.ctl = None

    def wait_ready(self):
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
                # Keep reading NOTIFY_SOCKET, as systemd does: its queue holds only
                # net.unix.max_dgram_qlen (10) datagrams, and the daemon sends STATUS=
                # each second its figures change (jobs down); a full queue would block
                # its sd_notify (and its stop, STOPPING=1).
                threading.Thread(target=self.drain_notify, daemon=True).start()
                self.ctl = Control(self.sock_path)
                return time.monotonic() - self.t_exec

    def drain_notify(self):
        self.notify.settimeout(None)
        try:
            while self.notify.recv(4096):
                pass
        except OSError:
            pass

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def log_lines(self, *needles):
        out = []
        with open(self.log_path, "rb") as f:
            for raw in f:
                if any(n in raw for n in needles):
                    out.append(raw.decode(errors="replace"))
        return out

    def metric(self, prefix):
        """Sum of the samples of /metrics whose line starts with prefix (read once, at the end)."""
        text = http_get(self.metrics_url, timeout=30.0)[1].decode()
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))

    def stop(self):
        """SIGTERM; seconds until it exits (SIGKILL after 20 s)."""
        if self.ctl:
            self.ctl.close()
        t0 = time.monotonic()
        end_process(self.proc, signal.SIGTERM, wait=20.0)
        try:
            self.notify.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.notify.close()
        self.log.close()
        return time.monotonic() - t0

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the configuration -----------------------------------------------------------------

def knows_history(prog, workdir):
    """Whether this coro-runnerd has the history section (to turn it off)."""
    tmp = tempfile.mkdtemp(prefix="check-", dir=workdir)
    path = os.path.join(tmp, "main.yaml")
    os.mkdir(os.path.join(tmp, "jobs.d"))
    with open(path, "w") as f:
        f.write("history: off\njobs: []\n")
    r = subprocess.run([prog, "--check", "-c", path, "-d", os.path.join(tmp, "jobs.d")],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    shutil.rmtree(tmp, ignore_errors=True)
    return r.returncode == 0


def write_config(path, n, every, port, am_url, hook_url, notify, history_off):
    queue = max(10000, n)
    every_text = fmt_dur(every)
    timeout_text = fmt_dur(min(2.0, every / 2))
    with open(path, "w") as f:
        if history_off:
            f.write("history: off\n")
        f.write("notifiers:\n"
                "  - name: am\n    type: alertmanager\n    url: %s\n    queue: %d\n"
                "  - name: hook\n    type: webhook\n    url: %s/hook\n    queue: %d\n"
                "defaults:\n  type: tcp\n  every: %s\n  timeout: %s\n"
                "  failures_before_down: 1\n  successes_before_up: 1\n"
                % (am_url, queue, hook_url, queue, every_text, timeout_text))
        if notify:
            f.write("  notify: [am, hook]\n")
        f.write("jobs:\n")
        for i in range(n):
            f.write("  - name: j%05d\n    target: 127.0.0.%d:%d\n" % (i, 1 + i % NADDR, port))


# ---- one run -----------------------------------------------------------------------------

class Sampler:
    """Reads stats + notifiers every SAMPLE_EVERY s; finds the lag windows' rotations."""

    def __init__(self, daemon):
        self.d = daemon
        self.last_lag = None
        self.rot = None          # monotonic time of the last rotation seen
        self.samples = []

    def read(self):
        t = time.monotonic()
        st = self.d.ctl.request("stats")
        nf = {x["name"]: x for x in self.d.ctl.request("notifiers")["notifiers"]}
        lag = (st["loop_lag_p99_us"], st["loop_lag_max_us"])
        rotated = self.last_lag is not None and lag != self.last_lag
        self.last_lag = lag
        s = {"t": t, "stats": st, "nf": nf, "lag": lag}
        self.samples.append(s)
        return s, rotated

    def wait_rotation(self, not_before, timeout=30.0):
        """Polls every 20 ms until the window rotates (at or after not_before); its time."""
        deadline = time.monotonic() + timeout
        self.read()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            s, rotated = self.read()
            if rotated and s["t"] >= not_before:
                self.rot = s["t"]
                return s["t"]
            if self.d.proc.poll() is not None:
                raise BenchError("coro-runnerd exited: %s" % self.d.log_tail())
        raise BenchError("the daemon's lag window did not rotate within %.0f s" % timeout)


def run_phase(sampler, action, n, notify):
    """At a rotation (sampler.rot, just seen): action(); then windows until delivered.

    Ends at a rotation (at least the second), by which both notifiers have
    delivered n more events (or PHASE_TIMEOUT): the next phase starts there.
    Returns what it saw; analyse() makes the figures once the run is over.
    """
    d = sampler.d
    base = {k: v["delivered"] for k, v in sampler.samples[-1]["nf"].items()}
    t_rot = sampler.rot
    c0 = cpu_ns(d.pid)
    t0, w0 = time.monotonic(), time.time()
    action()
    windows = []                       # (p99_us, max_us) per full window
    peak = {k: 0 for k in base}
    delivered_at = None
    next_rot = t_rot + LAG_WINDOW
    while True:
        now = time.monotonic()
        # Sample densely around the expected rotation, else every SAMPLE_EVERY.
        if next_rot - 0.1 <= now <= next_rot + 0.6:
            time.sleep(0.02)
        else:
            time.sleep(max(0.0, min(SAMPLE_EVERY, next_rot - 0.1 - now)))
        if d.proc.poll() is not None:
            raise BenchError("coro-runnerd exited during the burst: %s" % d.log_tail())
        s, rotated = sampler.read()
        for k, v in s["nf"].items():
            peak[k] = max(peak.get(k, 0), v["queued"])
        done = all(s["nf"][k]["delivered"] - base[k] >= n for k in ("am", "hook")) \
            if notify else True
        if done and delivered_at is None:
            delivered_at = s["t"]
        if not rotated and s["t"] >= next_rot + 1.0:
            rotated = True             # the same figures twice (unlikely): go by the clock
        if rotated:
            windows.append(s["lag"])
            sampler.rot = s["t"] if s["t"] < next_rot + 1.0 else next_rot
            next_rot = sampler.rot + LAG_WINDOW
            if len(windows) >= 2 and (done or s["t"] - t0 > PHASE_TIMEOUT):
                break
    return {"t0": t0, "w0": w0, "cpu_pct": 100.0 * (cpu_ns(d.pid) - c0)
            / ((time.monotonic() - t0) * 1e9), "windows": windows, "peak": peak,
            "base": base, "nf": sampler.samples[-1]["nf"], "complete": delivered_at is not None}


def analyse(raw, kind, notify, lines, w_end, recv, am_received):
    """The figures of a phase (kind: down or up) from run_phase's record and the log's lines."""
    t0, w0, windows = raw["t0"], raw["w0"], raw["windows"]
    r = {"cpu_pct": raw["cpu_pct"]}
    trans = {}                          # job -> wall time of its transition
    deliv = {"am": {}, "hook": {}}      # job -> wall time of the delivery
    line_re = re.compile(r"job (\S+): (?:(down) after |(up)$|"
                         r"notify (am|hook): (down|up) delivered$)")
    for line in lines:
        t = log_wall(line)
        if t is None or t < w0 - 0.5 or t >= w_end:
            continue
        m = line_re.search(line.rstrip("\n"))
        if not m:
            continue
        if (m.group(2) or m.group(3)) == kind:
            trans[m.group(1)] = t
        elif m.group(5) == kind:
            deliv[m.group(4)][m.group(1)] = t
    r["transitions"] = len(trans)
    if trans:
        r["detect_first_s"] = min(trans.values()) - w0
        r["detect_s"] = max(trans.values()) - w0
    r["lag_w1_p99_ms"] = windows[0][0] / 1000
    r["lag_w1_max_ms"] = windows[0][1] / 1000
    r["lag_w2_p99_ms"] = windows[1][0] / 1000
    r["lag_w2_max_ms"] = windows[1][1] / 1000
    r["lag_p99_ms"] = max(windows[0][0], windows[1][0]) / 1000
    r["lag_max_ms"] = max(windows[0][1], windows[1][1]) / 1000
    r["windows"] = len(windows)
    r["lag_windows_ms"] = [(w[0] / 1000, w[1] / 1000) for w in windows]
    if not notify:
        return r
    r["lag_all_p99_ms"] = max(w[0] for w in windows) / 1000
    r["complete"] = raw["complete"]
    for k in ("am", "hook"):
        r[k + "_events"] = len(deliv[k])
        r[k + "_peak_queue"] = raw["peak"].get(k, 0)
        if deliv[k]:
            r[k + "_s"] = max(deliv[k].values()) - w0
            if trans:
                r[k + "_after_last_s"] = max(deliv[k].values()) - max(trans.values())
            # Each event: from its job's transition to its delivery (ms).
            lat = sorted(t - trans[j] for j, t in deliv[k].items() if j in trans)
            if lat:
                r[k + "_lat_p50_ms"] = 1000 * lat[len(lat) // 2]
                r[k + "_lat_p99_ms"] = 1000 * lat[min(len(lat) - 1, len(lat) * 99 // 100)]
                r[k + "_lat_max_ms"] = 1000 * lat[-1]
        r[k + "_delivered_count"] = raw["nf"][k]["delivered"] - raw["base"][k]
        r[k + "_failed"] = raw["nf"][k]["failed"]
        r[k + "_dropped"] = raw["nf"][k]["dropped"]
    status = "firing" if kind == "down" else "resolved"
    r["recv_alerts"] = recv["alerts"].get(status, 0)
    if status in recv["last"]:
        r["recv_s"] = recv["last"][status] - t0
    r["am_received"] = am_received[status]
    return r


def one_run(prog, config, workdir, listener, n, notify, up, am_prog, receiver):
    am = Alertmanager(am_prog, workdir)
    d = None
    out = {}
    try:
        d = Daemon(prog, config(am.url), workdir, free_port())
        am.wait_ready()
        receiver.reset()
        am0 = am.counters()
        out["ready_s"] = d.wait_ready()
        debug("daemon ready in %.2f s" % out["ready_s"])
        t_ready = time.monotonic()
        sampler = Sampler(d)
        sampler.wait_rotation(t_ready + ALIGN_AFTER)
        debug("window rotation: the listener is killed")
        raw = [("down", run_phase(sampler, listener.kill, n, notify))]
        debug("down phase done")
        if up:
            raw.append(("up", run_phase(sampler, listener.start, n, notify)))
            debug("up phase done")
        w_end = time.time()
        recv = receiver.stats()
        am1 = am.counters()
        am_received = {"firing": int(am1["received_firing"] - am0["received_firing"]),
                       "resolved": int(am1["received_resolved"] - am0["received_resolved"])}
        if notify:
            out["metric_am_delivered"] = d.metric(
                'coro_runner_notifications_total{notifier="am",result="delivered"}')
        lines = d.log_lines(b"down after ", b": up\n", b" delivered\n")
        for i, (kind, rec) in enumerate(raw):
            end = raw[i + 1][1]["w0"] if i + 1 < len(raw) else w_end
            out[kind] = analyse(rec, kind, notify, lines, end, recv, am_received)
        debug("log read")
    finally:
        if listener.proc is None:
            listener.start()
        if d:
            out["stop_s"] = d.stop()
            debug("daemon stopped in %.2f s" % out["stop_s"])
        am.close()
        if d:
            d.cleanup()
    return out


# ---- the report --------------------------------------------------------------------------

def values(runs, phase_name, key):
    return [r[phase_name][key] for r in runs if key in r.get(phase_name, {})]


def fmt(v, digits):
    if not v:
        return "-"
    m = statistics.median(v)
    if len(v) == 1:
        return "%.*f" % (digits, m)
    return "%.*f (%.*f-%.*f)" % (digits, m, digits, min(v), digits, max(v))


def fmt_med(v, digits):
    return "%.*f" % (digits, statistics.median(v)) if v else "-"


def med(v):
    return statistics.median(v) if v else float("nan")


def fmt_dur(sec):
    return ("%ds" % sec) if sec == int(sec) else ("%dms" % round(sec * 1000))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--serve-webhook":
        serve_webhook(float(sys.argv[2]))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "--serve-tcp":
        serve_tcp(int(sys.argv[2]))
        return 0

    machine = platform.machine()
    build = os.environ.get("BUILD", "build/" + machine)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=count_arg, default=3, help="runs of each kind (default 3)")
    ap.add_argument("--jobs", type=count_arg, default=None, help="jobs (default 10k; --quick 2000)")
    ap.add_argument("--every", type=dur_arg, default=2.0, help="the jobs' interval (default 2s)")
    ap.add_argument("--no-up", action="store_true", help="no up (resolved) phase")
    ap.add_argument("--hook-delay", type=float, default=0.0, metavar="MS",
                    help="the webhook receiver answers each POST MS ms late (a slow receiver)")
    ap.add_argument("--history", action="store_true",
                    help="keep the daemon's results history (default: history: off)")
    ap.add_argument("--quick", action="store_true", help="1 run of each, 2000 jobs, no up phase")
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    n = args.jobs or (2000 if args.quick else 10000)
    up = not (args.no_up or args.quick)
    global PHASE_TIMEOUT
    PHASE_TIMEOUT = max(PHASE_TIMEOUT, 1.5 * n * args.hook_delay / 1000 + 10)
    daemon = os.environ.get("CORO_RUNNERD", os.path.join(build, "coro-runnerd"))
    probes = os.environ.get("BENCH_PROBES", os.path.join(build, "bench", "bench-probes"))
    am_prog = os.environ.get("ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
    if not os.access(daemon, os.X_OK):
        print("bench-notify: %s is missing: build it with 'make all'" % daemon, file=sys.stderr)
        return 2
    if not os.access(am_prog, os.X_OK):
        print("bench-notify: %s is missing: install prometheus-alertmanager ('make deps')"
              % am_prog, file=sys.stderr)
        return 2
    if not os.access(probes, os.X_OK):
        probes = None
    ncpu = len(os.sched_getaffinity(0))
    try:
        os.sched_setaffinity(0, {HELPER_CPU})    # the measuring loop stays off the daemon's CPU
    except OSError:
        pass

    # Ctrl-C or SIGTERM: the finally clauses end every process.
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    workdir = tempfile.mkdtemp(prefix="bench-notify-")
    listener = receiver = None
    res = {"notify": [], "baseline": []}
    status = 0
    history_off = False
    t_start = time.monotonic()
    try:
        # Copies: every run uses the same binaries, even if the build is redone meanwhile.
        daemon = shutil.copy2(daemon, os.path.join(workdir, "coro-runnerd"))
        if probes:
            probes = shutil.copy2(probes, os.path.join(workdir, "bench-probes"))
        # The results' history (an SQLite database of every run) is turned off: it is not
        # what is measured, and its writes would add their own lag to both kinds of run.
        history_off = not args.history and knows_history(daemon, workdir)
        listener = Listener(probes)
        receiver = Receiver(args.hook_delay)
        paths = {}

        def config_for(kind):
            def make(am_url):
                p = os.path.join(workdir, "%s.yaml" % kind)
                write_config(p, n, args.every, listener.port, am_url, receiver.url,
                             kind == "notify", history_off)
                return p
            return make

        for i in range(runs):
            for kind in ("notify", "baseline"):
                print("bench-notify: run %d/%d, %s ..." % (i + 1, runs, kind),
                      file=sys.stderr, flush=True)
                res[kind].append(one_run(daemon, config_for(kind), workdir, listener, n,
                                         kind == "notify", up, am_prog, receiver))
    except (BenchError, OSError, ValueError, KeyError) as e:
        print("bench-notify: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("bench-notify: interrupted", file=sys.stderr)
        status = 130
    finally:
        if receiver:
            receiver.close()
        if listener:
            listener.close()
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - t_start
    if status or not res["notify"] or not res["baseline"]:
        return status or 2

    rn, rb = res["notify"], res["baseline"]
    print("coro-runnerd, %d tcp jobs every %s (failures_before_down 1) against a loopback\n"
          "listener killed at a lag-window rotation: %d down events%s.\n"
          "notify: the jobs have notify: [am, hook] (Debian's Alertmanager; a webhook\n"
          "receiver in its own process); baseline: the same without notify:. Daemon on\n"
          "CPU %d; Alertmanager, receiver, listener on CPU %d. %d run%s of each, alternated;\n"
          "median (min-max). Times in s from the kill (restart) of the listener, from the\n"
          "daemon's log. History %s.%s\n"
          % (n, fmt_dur(args.every), n,
             "; listener back: %d up events" % n if up else "",
             DAEMON_CPU, HELPER_CPU, runs, "" if runs == 1 else "s",
             "off" if history_off else "as the daemon's default",
             "" if ncpu >= 2 else "\n(one CPU: the daemon and the helpers share it)"))
    phases = ["down"] + (["up"] if up else [])
    for ph in phases:
        print("%s events" % ("down" if ph == "down" else "up (resolved)"))
        rows = [
            ("transitions logged", "transitions", 0, True),
            ("last transition, s", "detect_s", 2, True),
            ("Alertmanager: all delivered, s", "am_s", 2, False),
            ("  after the last transition, s", "am_after_last_s", 3, False),
            ("  per event p50 / p99 / max, ms", ("am_lat_p50_ms", "am_lat_p99_ms",
                                                 "am_lat_max_ms"), 0, False),
            ("  peak queue", "am_peak_queue", 0, False),
            ("  delivered (log) / AM's counter*", ("am_events", "am_received"), 0, False),
            ("webhook: all delivered, s", "hook_s", 2, False),
            ("  after the last transition, s", "hook_after_last_s", 3, False),
            ("  per event p50 / p99 / max, ms", ("hook_lat_p50_ms", "hook_lat_p99_ms",
                                                 "hook_lat_max_ms"), 0, False),
            ("  peak queue", "hook_peak_queue", 0, False),
            ("  delivered (log) / received", ("hook_events", "recv_alerts"), 0, False),
            ("lag p99 ms, W1 (the transitions)", "lag_w1_p99_ms", 2, True),
            ("lag p99 ms, W2 (the next 10 s)", "lag_w2_p99_ms", 2, True),
            ("lag max ms, W1", "lag_w1_max_ms", 1, True),
            ("lag max ms, W2", "lag_w2_max_ms", 1, True),
            ("lag p99 ms, worse of W1 and W2", "lag_p99_ms", 2, True),
            ("daemon CPU %, the phase", "cpu_pct", 1, True),
        ]
        print("  %-34s %-26s %s" % ("", "notify", "baseline"))
        for title, key, digits, both in rows:
            if isinstance(key, tuple):
                a = " / ".join(fmt_med(values(rn, ph, k), digits) for k in key)
                print("  %-34s %s" % (title, a))
                continue
            a = fmt(values(rn, ph, key), digits)
            b = fmt(values(rb, ph, key), digits) if both else ""
            print("  %-34s %-26s %s" % (title, a, b))
        dl = med(values(rn, ph, "lag_p99_ms")) - med(values(rb, ph, "lag_p99_ms"))
        print("  %-34s %+.2f ms" % ("lag p99: notify - baseline", dl))
        incomplete = [r for r in rn if not r[ph].get("complete", True)]
        if incomplete:
            print("  (%d run%s did not deliver every event within %.0f s)"
                  % (len(incomplete), "" if len(incomplete) == 1 else "s", PHASE_TIMEOUT))
        fails = sum(r[ph].get("am_failed", 0) + r[ph].get("hook_failed", 0) for r in rn)
        drops = sum(r[ph].get("am_dropped", 0) + r[ph].get("hook_dropped", 0) for r in rn)
        if fails or drops:
            print("  (failed attempts %d, dropped %d)" % (fails, drops))
        more = [r[ph]["windows"] for r in rn if r[ph]["windows"] > 2]
        if more:
            print("  (delivery went past W2 in %d run%s: worst p99 of all its windows %s ms)"
                  % (len(more), "" if len(more) == 1 else "s",
                     fmt(values(rn, ph, "lag_all_p99_ms"), 2)))
        odd = [r for r in rn + rb if r[ph].get("transitions", 0) != n]
        if odd:
            print("  (%d run%s logged another number of transitions than %d in the phase: jobs"
                  " flapping before it?)" % (len(odd), "" if len(odd) == 1 else "s", n))
    print("* alertmanager_alerts_received_total; it also counts the daemon's re-sends of\n"
          "  firing alerts: 10 s after its start (about when the listener is killed), then\n"
          "  every minute (in a phase that lasts that long).")
    total = [r["metric_am_delivered"] for r in rn if "metric_am_delivered" in r]
    print("coro_runner_notifications_total{notifier=\"am\",result=\"delivered\"} at the end"
          " of a run: %s\n(expected %d)" % (fmt(total, 0), n * len(phases)))
    am_kill = med(values(rn, "down", "am_s"))
    am_last = med(values(rn, "down", "am_after_last_s"))
    lag = med(values(rn, "down", "lag_p99_ms"))
    lag_b = med(values(rb, "down", "lag_p99_ms"))
    print("goals: all %d down events at Alertmanager within 10 s: %s (%.2f s from the kill,"
          " %d of it\n       detection; %.3f s after the last transition); loop lag p99 at"
          " most 5 ms during\n       the burst: %s (%.2f ms; baseline %.2f ms, %+.2f ms)"
          % (n, "met" if am_kill <= 10 else ("NOT met" if am_last > 10 else
                                              "met after the last transition"),
             am_kill, round(med(values(rn, "down", "detect_s"))), am_last,
             "met" if lag <= 5 else "NOT met", lag, lag_b, lag - lag_b))
    print("(%.0f s in all)" % elapsed)
    print()

    def bench(name, v, unit, digits=2):
        print("BENCH %s %.*f %s" % (name, digits, v, unit))

    bench("notify_burst_am_delivered_s", am_kill, "s")
    bench("notify_burst_am_after_last_down_s", am_last, "s", 3)
    bench("notify_burst_am_latency_p99_ms", med(values(rn, "down", "am_lat_p99_ms")), "ms", 1)
    bench("notify_burst_webhook_delivered_s", med(values(rn, "down", "hook_s")), "s")
    bench("notify_burst_webhook_after_last_down_s",
          med(values(rn, "down", "hook_after_last_s")), "s", 3)
    bench("notify_burst_webhook_latency_p99_ms", med(values(rn, "down", "hook_lat_p99_ms")),
          "ms", 1)
    bench("notify_burst_detect_s", med(values(rn, "down", "detect_s")), "s")
    bench("notify_burst_peak_queue", med(values(rn, "down", "am_peak_queue")), "events", 0)
    bench("notify_burst_webhook_peak_queue", med(values(rn, "down", "hook_peak_queue")),
          "events", 0)
    bench("notify_burst_lag_p99_ms", lag, "ms")
    bench("notify_burst_lag_p99_baseline_ms", lag_b, "ms")
    bench("notify_burst_lag_p99_diff_ms", lag - lag_b, "ms")
    bench("notify_burst_lag_max_ms", med(values(rn, "down", "lag_max_ms")), "ms", 1)
    bench("notify_burst_lag_max_baseline_ms", med(values(rb, "down", "lag_max_ms")), "ms", 1)
    bench("notify_burst_cpu_pct", med(values(rn, "down", "cpu_pct")), "%", 1)
    bench("notify_burst_cpu_baseline_pct", med(values(rb, "down", "cpu_pct")), "%", 1)
    if up:
        bench("notify_resolve_am_delivered_s", med(values(rn, "up", "am_s")), "s")
        bench("notify_resolve_webhook_delivered_s", med(values(rn, "up", "hook_s")), "s")
        bench("notify_resolve_peak_queue", med(values(rn, "up", "am_peak_queue")), "events", 0)
        bench("notify_resolve_lag_p99_ms", med(values(rn, "up", "lag_p99_ms")), "ms")
        bench("notify_resolve_lag_p99_baseline_ms", med(values(rb, "up", "lag_p99_ms")), "ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
