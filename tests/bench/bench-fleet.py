#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench-fleet.py: fleet mode (issue 13) with 100,000 fleet jobs over five members.

    tests/bench/bench-fleet.py [--jobs N] [--members M] [--kills K] [--ttl S]
                               [--every DUR] [--window S] [--drain-max S]
                               [--etcd-members 1|3] [--quick]

Environment: CORO_RUNNERD, COCTL (default build/<machine>/coro-runnerd and
coctl), BENCH_PROBES (default build/<machine>/bench/bench-probes, whose
`listen` mode is the TCP server the jobs probe), ETCD (default
/usr/bin/etcd, Debian's etcd-server 3.4); BUILD sets the build directory.

Everything runs on this machine, each process in a session of its own, in
a temporary directory (TMPDIR) removed at the end; every process started
is ended at the end, also on failure, Ctrl-C or SIGTERM:

  etcd      a cluster of 3 (or 1) etcd on free loopback ports, data in the
            temporary directory
  listener  bench-probes listen: accept + close on 127.0.0.1-8, one port
  jobs      N fleet jobs (default 100,000) fj-NNNNNN: tcp, every 60s,
            timeout 2s, against the listener (cheap: the point is the
            fleet machinery, not the probes)
  members   M coro-runnerd (default 5), each with a fleet section (the
            etcd endpoints, member mK, ttl 10s) and no local job; a
            NOTIFY_SOCKET datagram socket read here, stderr to a file
  standalone  one coro-runnerd without a fleet section, with N/M local
            jobs of the same definition (the RSS baseline)

Phases and what they measure:

  load      a temporary member (`loader`) takes `coctl add --fleet -f
            FILE` of the first jobs (timed: jobs/s; one request is at
            most 1 MiB, so a file of 100k jobs must be split anyway), then
            leaves (SIGTERM revokes its lease); the rest go straight to
            etcd: /v3/kv/txn of 128 puts each (etcd's max-txn-ops) over 4
            connections, the value the text `coctl add --fleet` wrote for
            the first job with the name and target replaced (timed)
  cold start  the standalone daemon, then the M members at once. Per
            member: exec -> READY=1; exec -> the log line `fleet: read N
            fleet jobs and K members at revision R` (its wall-clock
            timestamp); exec -> its share running: the first answer of
            `coctl stats -o json` (polled every 50 ms by a thread per
            member) with fleet.jobs = N, fleet.members = M, fleet.state
            joined, and the daemon's job count (it has no local job) equal
            to fleet.jobs_owned > 0. The daemon answers its control
            socket on the thread that reads the range and starts the
            jobs, so that answer cannot come between the two.
  first runs  every job's first result (unknown -> up) is a transition its
            owner writes to state/NAME: N writes. Waits (at most
            --drain-max s) until etcd's revision grows by no more than the
            members' bound + 1 a second over 4 s; shows how long that took
            after the cold start, the peak rate and etcd's CPU.
  steady    a window of W s (default 20): etcd's revision (POST
            /v3/maintenance/status, header.revision; lease keepalives do
            not bump it) before and after, and the writes in between read
            back from etcd's history (a watch from the window's first
            revision) and split by key: members/, state/, other. The
            bound: M writes per ttl/3 plus the state transitions. etcd's
            CPU: utime + stime of /proc/PID/stat of its processes over the
            window, % of one core; the members' CPU. VmRSS of every member
            and of the standalone daemon at the window's end (information:
            the cold start's moves are in it).
  kills     K times (default 10), members in turn: kill -9 of one member,
            then each survivor's log line `fleet: X jobs moved (members
            changed, M-1 members)`: failover = the latest survivor's line
            (its timestamp) - the kill, split by a thread that polls etcd
            for the victim's members/ key (the lease's expiry, then the
            survivors' reaction); the leave's moved fraction = X / N
            (every member counts the same moves), next to the victim's
            share before the kill and the ideal 1/M. Then the member is
            started again into the fleet of M-1: its READY, read and share
            times (as above, the join figures), the CPU seconds it, etcd,
            the others and the whole machine spent meanwhile, and the
            survivors' `jobs moved (members changed, M members)`: the
            join's moved fraction. Between the survivors handing the
            joiner's jobs over and the joiner starting them, those jobs run
            nowhere: that gap is shown too. The RSS headline: VmRSS of the
            member that joined, just before the next kill (about 2 s after
            its share ran, before it took over anything), next to the
            standalone daemon's at the same moment.

Medians (min-max); a table, then BENCH lines, names with the job count
(fleet_100k_...). Benchmarks are not tests: a slow figure never fails; the
exit status is non-zero only when something could not run. About 9-10
minutes; --quick: 10k jobs, 3 kills, jobs every 20s, a 10 s window, at
most 60 s for the first runs' writes (about a minute and a half).
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import queue
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

NADDR = 8
PREFIX = "/coro-runner/"
TXN_OPS = 128               # etcd's default --max-txn-ops
LOAD_CONNS = 4
COCTL_MAX = 5000            # jobs given to `coctl add --fleet` (well under its 1 MiB request)
READY_TIMEOUT = 60.0
POLL_S = 0.05
SETTLE_S = 2.0              # after a join, before the next kill
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


def count_arg(text):
    m = re.fullmatch(r"(\d+)([kM]?)", text)
    if not m or int(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError("a positive count like 1000, 10k, 1M: %r" % text)
    return int(m.group(1)) * {"": 1, "k": 1000, "M": 1000000}[m.group(2)]


def label(n):
    return "%dk" % (n // 1000) if n % 1000 == 0 else str(n)


def free_ports(n):
    """n free loopback TCP ports (bound to port 0 together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def kill_group(proc, sig=signal.SIGKILL):
    """Signals proc's process group (it leads a session of its own)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except OSError:
        pass


def end_process(proc, first=signal.SIGTERM, wait=10.0):
    """first to the process group, then SIGKILL after wait s; reaped."""
    if proc is None:
        return
    if proc.poll() is None:
        kill_group(proc, first)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
    kill_group(proc, signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def proc_field_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def stat_cpu_s(pid):
    """utime + stime of /proc/PID/stat, seconds (every thread)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_busy_s():
    """CPU seconds the whole machine spent busy (every process, /proc/stat), all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK   # all but idle and iowait


def log_time(text):
    """The wall-clock time of a log line's timestamp (2026-12-07T23:07:14.096+0000)."""
    try:
        return datetime.datetime.strptime(text.split(" ", 1)[0],
                                          "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None


def sleep_until(t):
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


def prefix_end(prefix):
    b = prefix.encode()
    return b[:-1] + bytes([b[-1] + 1])


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


# ---- etcd -------------------------------------------------------------------------------

class Etcd:
    """A cluster of n etcd members on free loopback ports."""

    def __init__(self, prog, workdir, n):
        self.procs = []
        ports = free_ports(2 * n)
        self.client_ports = ports[:n]
        peers = ports[n:]
        names = ["e%d" % i for i in range(n)]
        cluster = ",".join("%s=http://127.0.0.1:%d" % (names[i], peers[i]) for i in range(n))
        self.endpoints = ["http://127.0.0.1:%d" % p for p in self.client_ports]
        self.logs = []
        for i in range(n):
            data = os.path.join(workdir, "etcd-%s" % names[i])
            logf = open(os.path.join(workdir, "etcd-%s.log" % names[i]), "wb")
            self.logs.append(logf)
            argv = [prog, "--name", names[i], "--data-dir", data,
                    "--listen-client-urls", self.endpoints[i],
                    "--advertise-client-urls", self.endpoints[i],
                    "--listen-peer-urls", "http://127.0.0.1:%d" % peers[i],
                    "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peers[i],
                    "--initial-cluster", cluster, "--initial-cluster-token", "bench-fleet",
                    "--initial-cluster-state", "new",
                    "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
            self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                               stderr=logf, start_new_session=True))
        self.local = threading.local()

    def conn(self, i=0):
        c = getattr(self.local, "c%d" % i, None)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", self.client_ports[i], timeout=60)
            setattr(self.local, "c%d" % i, c)
        return c

    def post(self, path, body, i=0):
        for attempt in range(2):
            c = self.conn(i)
            try:
                c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read()
                if r.status != 200:
                    raise BenchError("etcd %s: HTTP %d: %s" % (path, r.status, data[:300]))
                return json.loads(data)
            except (OSError, http.client.HTTPException):
                c.close()
                setattr(self.local, "c%d" % i, None)
                if attempt:
                    raise
        return None

    def wait_up(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            for p in self.procs:
                if p.poll() is not None:
                    raise BenchError("etcd exited (%d) at start" % p.returncode)
            try:
                if all(int(self.post("/v3/maintenance/status", {}, i).get("leader", "0")) != 0
                       for i in range(len(self.procs))):
                    return
            except (OSError, http.client.HTTPException, BenchError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise BenchError("etcd did not come up within %.0f s" % timeout)
            time.sleep(0.2)

    def status(self):
        st = self.post("/v3/maintenance/status", {})
        return st

    def revision(self):
        return int(self.status()["header"]["revision"])

    def raft_term(self):
        return int(self.status()["header"].get("raft_term", "0"))

    def cpu_s(self):
        return sum(stat_cpu_s(p.pid) for p in self.procs)

    def rss_kb(self):
        return sum(max(0, proc_field_kb(p.pid, "VmRSS")) for p in self.procs)

    def put_many(self, kvs):
        """One transaction of puts."""
        ops = [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in kvs]
        r = self.post("/v3/kv/txn", {"success": ops})
        if not r.get("succeeded", False):
            raise BenchError("etcd txn not succeeded: %s" % str(r)[:300])

    def get(self, key):
        r = self.post("/v3/kv/range", {"key": b64(key)})
        kvs = r.get("kvs", [])
        return base64.b64decode(kvs[0]["value"]).decode() if kvs else None

    def exists(self, key):
        r = self.post("/v3/kv/range", {"key": b64(key), "count_only": True})
        return int(r.get("count", "0")) > 0

    def count_prefix(self, prefix):
        r = self.post("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix)),
                                       "count_only": True})
        return int(r.get("count", "0"))

    def events(self, prefix, rev_from, rev_to, timeout=60.0):
        """The events of revisions rev_from..rev_to under prefix, from etcd's history: a
        list of (type, key). A watch from rev_from, read until rev_to."""
        out = []
        if rev_to < rev_from:
            return out
        c = http.client.HTTPConnection("127.0.0.1", self.client_ports[0], timeout=timeout)
        try:
            body = {"create_request": {"key": b64(prefix), "range_end": b64(prefix_end(prefix)),
                                       "start_revision": rev_from}}
            c.request("POST", "/v3/watch", json.dumps(body), {"Content-Type": "application/json"})
            r = c.getresponse()
            if r.status != 200:
                raise BenchError("etcd watch: HTTP %d" % r.status)
            deadline = time.monotonic() + timeout
            last = rev_from - 1
            while last < rev_to and time.monotonic() < deadline:
                line = r.readline()
                if not line:
                    break
                msg = json.loads(line).get("result", {})
                for ev in msg.get("events", []):
                    kv = ev.get("kv", {})
                    rev = int(kv.get("mod_revision", "0"))
                    if rev > rev_to:
                        last = rev
                        break
                    last = max(last, rev)
                    out.append((ev.get("type", "PUT"), base64.b64decode(kv.get("key", "")).decode()))
                if int(msg.get("header", {}).get("revision", "0")) >= rev_to and \
                        not msg.get("events") and not msg.get("created"):
                    break
        finally:
            c.close()
        return out

    def stop(self):
        for p in self.procs:
            kill_group(p, signal.SIGTERM)
        for p in self.procs:
            end_process(p, signal.SIGTERM, 5.0)
        for f in self.logs:
            f.close()


# ---- the daemons ----------------------------------------------------------------------------

class Daemon:
    """One coro-runnerd in a fresh directory, watched through NOTIFY_SOCKET and its log."""

    def __init__(self, prog, coctl, config_text, workdir, name):
        self.name = name
        self.coctl = coctl
        self.dir = tempfile.mkdtemp(prefix="%s-" % name, dir=workdir)
        os.mkdir(os.path.join(self.dir, "jobs.d"))
        self.config = os.path.join(self.dir, "config.yaml")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.sock = os.path.join(self.dir, "control.sock")
        self.log_path = os.path.join(self.dir, "stderr.log")
        notify_path = os.path.join(self.dir, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.notify.bind(notify_path)
        env = {k: v for k, v in os.environ.items()
               if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                            "LISTEN_FDS", "LISTEN_PID", "CORO_RUNNER_SOCKET")}
        env["NOTIFY_SOCKET"] = notify_path
        argv = [prog, "-c", self.config, "-d", os.path.join(self.dir, "jobs.d"), "-s", self.sock,
                "--state-dir", os.path.join(self.dir, "state")]
        self.log = open(self.log_path, "wb")
        self.log_off = 0
        self.log_rest = b""
        self.flines = []            # (wall time, text) of the log's `fleet:` lines
        self.t_exec = time.monotonic()
        self.t_exec_wall = time.time()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, start_new_session=True)
        self.pid = self.proc.pid
        self.t_ready = None
        self.stopped = False
        self.ready_event = threading.Event()
        self.notify_thread = threading.Thread(target=self._read_notify, daemon=True)
        self.notify_thread.start()

    def _read_notify(self):
        """A thread: the time READY=1 arrives (read at once, whatever the main thread does).
        It goes on reading (STATUS= lines) until the daemon ends: a datagram socket holds
        only a few (net.unix.max_dgram_qlen) and the daemon's next notify would block."""
        self.notify.settimeout(0.2)
        while not self.stopped:
            try:
                msg = self.notify.recv(4096).decode(errors="replace")
            except socket.timeout:
                if self.proc.poll() is not None:
                    return
                continue
            except OSError:
                return
            if self.t_ready is None and "READY=1" in msg.split("\n"):
                self.t_ready = time.monotonic()
                self.ready_event.set()

    def wait_ready(self):
        """Seconds from exec to READY=1."""
        deadline = self.t_exec + READY_TIMEOUT
        while not self.ready_event.wait(0.2):
            if self.proc.poll() is not None:
                raise BenchError("%s: coro-runnerd exited (%d) before READY=1: %s"
                                 % (self.name, self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise BenchError("%s: no READY=1 within %.0f s" % (self.name, READY_TIMEOUT))
        return self.t_ready - self.t_exec

    def stats(self, timeout=30.0):
        """`coctl stats -o json`, or None if the daemon does not answer."""
        try:
            r = subprocess.run([self.coctl, "-s", self.sock, "stats", "-o", "json"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        except (subprocess.TimeoutExpired, OSError):
            return None
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def read_log(self):
        """Takes the `fleet:` lines logged since the last call into self.flines."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_off)
                data = f.read()
        except OSError:
            return
        self.log_off += len(data)
        data = self.log_rest + data
        lines = data.split(b"\n")
        self.log_rest = lines.pop()
        for line in lines:
            if b" fleet: " in line:
                text = line.decode(errors="replace")
                self.flines.append((log_time(text), text))

    def find_line(self, pattern, start=0):
        """(index, wall time, match) of the first fleet line from index start matching."""
        self.read_log()
        for i in range(start, len(self.flines)):
            m = re.search(pattern, self.flines[i][1])
            if m:
                return i, self.flines[i][0], m
        return None

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - 2000))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def rss_mib(self):
        return proc_field_kb(self.pid, "VmRSS") / 1024

    def vsz_mib(self):
        return proc_field_kb(self.pid, "VmSize") / 1024

    def mappings(self):
        try:
            with open("/proc/%d/maps" % self.pid) as f:
                return sum(1 for _ in f)
        except OSError:
            return -1

    def cpu_s(self):
        return stat_cpu_s(self.pid)

    def kill9(self):
        kill_group(self.proc, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        end_process(self.proc, signal.SIGTERM, 15.0)
        self.ready_event.set()
        self.notify_thread.join()
        self.notify.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class ShareWatch(threading.Thread):
    """Polls a member's `coctl stats` until it runs its share of n_jobs among n_members."""

    def __init__(self, d, n_jobs, n_members, timeout):
        super().__init__(daemon=True)
        self.d, self.n_jobs, self.n_members, self.timeout = d, n_jobs, n_members, timeout
        self.t = None
        self.owned = None
        self.stop_flag = False
        self.start()

    def run(self):
        deadline = time.monotonic() + self.timeout
        while not self.stop_flag and time.monotonic() < deadline:
            if self.d.proc.poll() is not None:
                return
            st = self.d.stats()
            now = time.monotonic()
            if st:
                fl = st.get("fleet", {})
                if (fl.get("jobs") == self.n_jobs and fl.get("members") == self.n_members and
                        fl.get("state") == "joined" and fl.get("jobs_owned", 0) > 0 and
                        st.get("jobs") == fl.get("jobs_owned")):
                    self.t = now
                    self.owned = fl["jobs_owned"]
                    return
            time.sleep(POLL_S)

    def seconds(self):
        """Seconds from the daemon's exec to its share running, or None."""
        self.join()
        return None if self.t is None else self.t - self.d.t_exec


class KeyGone(threading.Thread):
    """Polls etcd every 20 ms until key is gone: the wall-clock time it was seen gone."""

    def __init__(self, etcd, key, timeout=60.0):
        super().__init__(daemon=True)
        self.etcd, self.key, self.timeout = etcd, key, timeout
        self.t = None
        self.start()

    def run(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                if not self.etcd.exists(self.key):
                    self.t = time.time()
                    return
            except (OSError, http.client.HTTPException, BenchError):
                pass
            time.sleep(0.02)


class Listener:
    """bench-probes listen: accept + close on 127.0.0.1-8, one port."""

    def __init__(self, prog):
        self.proc = subprocess.Popen([prog, "listen", "0", str(NADDR)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            end_process(self.proc)
            raise BenchError("the listener did not start: %s" % self.proc.stderr.read().decode())
        self.port = int(line)

    def close(self):
        try:
            self.proc.stdin.close()
            err = self.proc.communicate(timeout=10)[1].decode()
        except (subprocess.TimeoutExpired, OSError, ValueError):
            err = ""
        end_process(self.proc)
        m = re.search(r"accepted (\d+)", err)
        return int(m.group(1)) if m else -1


# ---- the jobs ---------------------------------------------------------------------------------

def job_name(i):
    return "fj-%06d" % i


def job_target(i, port):
    return "127.0.0.%d:%d" % (1 + i % NADDR, port)


def jobs_yaml(names_targets, every):
    out = ["defaults:\n  timeout: 2s\njobs:\n"]
    for name, target in names_targets:
        out.append("  - name: %s\n    type: tcp\n    target: %s\n    every: %s\n"
                   % (name, target, every))
    return "".join(out)


def fleet_config(endpoints, member, ttl):
    return ("fleet:\n  etcd: [%s]\n  member: %s\n  ttl: %ds\njobs: []\n"
            % (", ".join('"%s"' % e for e in endpoints), member, ttl))


def load_jobs(etcd, daemon_prog, coctl, workdir, n, port, every, ttl, r):
    """Puts the n fleet jobs into etcd: the first through `coctl add --fleet`, the rest
    with transactions. Fills r (timings)."""
    n_coctl = min(COCTL_MAX, max(1, n // 20))
    loader = Daemon(daemon_prog, coctl, fleet_config(etcd.endpoints, "loader", ttl), workdir,
                    "loader")
    try:
        loader.wait_ready()
        path = os.path.join(workdir, "add.yaml")
        with open(path, "w") as f:
            f.write(jobs_yaml([(job_name(i), job_target(i, port)) for i in range(n_coctl)],
                              every))
        t0 = time.monotonic()
        res = subprocess.run([coctl, "-s", loader.sock, "add", "--fleet", "-f", path],
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
        dt = time.monotonic() - t0
        if res.returncode != 0:
            raise BenchError("coctl add --fleet: %s" % (res.stderr or res.stdout).decode()[:500])
    finally:
        loader.stop()
    r["coctl_jobs"] = n_coctl
    r["coctl_s"] = dt
    template = etcd.get(PREFIX + "jobs/" + job_name(0))
    t0_target = 'target: "%s"' % job_target(0, port)
    if not template or job_name(0) not in template or t0_target not in template:
        raise BenchError("unexpected definition written by coctl add --fleet: %r" % template)

    # The rest: transactions of TXN_OPS puts over LOAD_CONNS connections.
    work = queue.Queue()
    for lo in range(n_coctl, n, TXN_OPS):
        work.put(range(lo, min(n, lo + TXN_OPS)))
    errors = []

    def worker():
        while not errors:
            try:
                rng = work.get_nowait()
            except queue.Empty:
                return
            kvs = [(PREFIX + "jobs/" + job_name(i),
                    template.replace(job_name(0), job_name(i))
                    .replace(t0_target, 'target: "%s"' % job_target(i, port))) for i in rng]
            try:
                etcd.put_many(kvs)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(LOAD_CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r["txn_s"] = time.monotonic() - t0
    r["txn_jobs"] = n - n_coctl
    if errors:
        raise BenchError("loading the jobs: %s" % errors[0])
    got = etcd.count_prefix(PREFIX + "jobs/")
    if got != n:
        raise BenchError("etcd holds %d fleet jobs, not %d" % (got, n))
    r["value_bytes"] = len(template)


# ---- the phases ----------------------------------------------------------------------------

MOVED_RE = (r"fleet: (\d+) jobs? moved \(members changed, %d members?\): (\d+) to this member, "
            r"(\d+) from it; it owns (\d+) of (\d+)")
READ_RE = r"fleet: read (\d+) fleet jobs? and (\d+) members? at revision (\d+)"


def start_member(args, etcd, workdir, k):
    return Daemon(args.daemon, args.coctl, fleet_config(etcd.endpoints, "m%d" % k, args.ttl),
                  workdir, "m%d" % k)


def start_figures(d, share, n):
    """READY, read and share figures (ms from exec) of a member started just now."""
    out = {"ready_ms": d.wait_ready() * 1000}
    s = share.seconds()
    if s is None:
        raise BenchError("%s did not run its share within %.0f s: %s"
                         % (d.name, share.timeout, d.log_tail()))
    out["share_ms"] = s * 1000
    out["owned"] = share.owned
    hit = d.find_line(READ_RE)
    # The last range read (a member reads once, unless a compaction forced another).
    reads = [(t, m) for t, m in ((l[0], re.search(READ_RE, l[1])) for l in d.flines) if m]
    if reads and reads[-1][0] is not None and int(reads[-1][1].group(1)) == n:
        out["read_ms"] = (reads[-1][0] - d.t_exec_wall) * 1000
    elif hit:
        out["read_ms"] = (hit[1] - d.t_exec_wall) * 1000
    return out


def wait_lines(daemons, pattern, starts, timeout):
    """For each daemon, the first fleet line from its start index matching: (time, match)."""
    deadline = time.monotonic() + timeout
    got = {}
    while len(got) < len(daemons):
        for d in daemons:
            if d.name not in got:
                hit = d.find_line(pattern, starts[d.name])
                if hit:
                    got[d.name] = (hit[1], hit[2])
        if len(got) == len(daemons):
            break
        if time.monotonic() > deadline:
            missing = [d.name for d in daemons if d.name not in got]
            raise BenchError("no %r line from %s within %.0f s" % (pattern, missing, timeout))
        time.sleep(0.05)
    return got


def run(args, workdir, res):
    n, m = args.jobs, args.members
    etcd = Etcd(args.etcd, workdir, args.etcd_members)
    res["cleanup"].append(etcd.stop)
    etcd.wait_up()
    res["etcd_version"] = etcd.status().get("version", "?")
    listener = Listener(args.probes)
    res["cleanup"].append(lambda: res.__setitem__("accepted", listener.close()))

    # Load.
    load = {}
    load_jobs(etcd, args.daemon, args.coctl, workdir, n, listener.port, args.every, args.ttl,
              load)
    res["load"] = load

    # Cold start: the standalone daemon, then the members at once.
    n_local = n // m
    standalone = Daemon(args.daemon, args.coctl,
                        jobs_yaml([("sj-%06d" % i, job_target(i, listener.port))
                                   for i in range(n_local)], args.every),
                        workdir, "standalone")
    res["cleanup"].append(standalone.stop)
    res["standalone_ready_ms"] = standalone.wait_ready() * 1000
    res["n_local"] = n_local
    term0 = etcd.raft_term()
    rev_cold = etcd.revision()
    e_cold = etcd.cpu_s()
    members = []
    for k in range(1, m + 1):
        d = start_member(args, etcd, workdir, k)
        members.append(d)
        res["cleanup"].append(lambda d=d: members_stop(d))
    shares = [ShareWatch(d, n, m, 120.0) for d in members]
    cold = [start_figures(d, s, n) for d, s in zip(members, shares)]
    res["cold"] = cold
    t_all = max(s.t for s in shares)
    res["cold_all_ms"] = (t_all - min(d.t_exec for d in members)) * 1000
    check_total(members, n, "after the cold start")

    # The first run of every job is a transition (unknown -> up) that its owner writes to
    # state/NAME: N writes, one at a time per member. Steady state begins when they have
    # all been written: the revision grows by no more than the members' own bound.
    res["storm"] = drain(args, etcd, rev_cold, e_cold, t_all)

    # Steady state: the window.
    r0 = etcd.revision()
    e0 = etcd.cpu_s()
    c0 = {d.name: d.cpu_s() for d in members}
    t0 = time.monotonic()
    sleep_until(t0 + args.window)
    r1 = etcd.revision()
    e1 = etcd.cpu_s()
    dt = time.monotonic() - t0
    c1 = {d.name: d.cpu_s() for d in members}
    steady = {"writes": r1 - r0, "seconds": dt,
              "etcd_cpu_pct": 100.0 * (e1 - e0) / dt,
              "member_cpu_pct": statistics.median(100.0 * (c1[k] - c0[k]) / dt for k in c0),
              "rss_mib": [d.rss_mib() for d in members],
              "standalone_rss_mib": standalone.rss_mib(),
              "vsz_mib": [d.vsz_mib() for d in members],
              "maps": [d.mappings() for d in members],
              "standalone_vsz_mib": standalone.vsz_mib(),
              "standalone_maps": standalone.mappings(),
              "etcd_rss_mib": etcd.rss_kb() / 1024,
              "owned": [d.stats()["fleet"]["jobs_owned"] for d in members]}
    kinds = {"members": 0, "state": 0, "jobs": 0, "locks": 0, "other": 0}
    for _typ, key in etcd.events(PREFIX, r0 + 1, r1):
        part = key[len(PREFIX):].split("/", 1)[0] if key.startswith(PREFIX) else "other"
        kinds[part if part in kinds else "other"] += 1
    steady["kinds"] = kinds
    res["steady"] = steady

    # Kills: each member in turn, kill -9, failover, start again (a join).
    leaves, joins = [], []
    fresh = []      # RSS of a member that joined a running fleet, before it took over anything
    for k in range(args.kills):
        if joins:
            fresh.append(fresh_rss(joins[-1]["member"], standalone))
        victim = members[k % m]
        survivors = [d for d in members if d is not victim]
        st = victim.stats()
        victim_owned = st["fleet"]["jobs_owned"] if st else None
        for d in survivors:
            d.read_log()
        starts = {d.name: len(d.flines) for d in survivors}
        gone = KeyGone(etcd, PREFIX + "members/" + victim.name)
        t_kill = time.time()
        victim.kill9()
        got = wait_lines(survivors, MOVED_RE % (m - 1), starts, args.ttl + 30)
        t_over = max(t for t, _ in got.values())
        moved = max(int(mt.group(1)) for _, mt in got.values())
        total_after = check_total(survivors, n, "after kill %d" % (k + 1))
        gone.join()
        leaves.append({"failover_s": t_over - t_kill,
                       "victim": victim.name,
                       "expired_s": gone.t - t_kill if gone.t else None,
                       "first_s": min(t for t, _ in got.values()) - t_kill,
                       "moved_pct": 100.0 * moved / n,
                       "victim_pct": 100.0 * victim_owned / n if victim_owned else float("nan"),
                       "total": total_after})
        victim.stop()
        members.remove(victim)

        # The member again, into the fleet of m-1.
        for d in survivors:
            d.read_log()
        starts = {d.name: len(d.flines) for d in survivors}
        cpu0 = (etcd.cpu_s(), sum(x.cpu_s() for x in survivors), machine_busy_s())
        d = start_member(args, etcd, workdir, int(victim.name[1:]))
        members.insert(k % m, d)
        res["cleanup"].append(lambda d=d: members_stop(d))
        share = ShareWatch(d, n, m, 120.0)
        j = start_figures(d, share, n)
        # Where the CPU went from the exec to its share running (read just after).
        j["cpu_joiner"] = d.cpu_s()
        j["cpu_etcd"] = etcd.cpu_s() - cpu0[0]
        j["cpu_survivors"] = sum(x.cpu_s() for x in survivors) - cpu0[1]
        j["cpu_machine"] = machine_busy_s() - cpu0[2]
        got = wait_lines(survivors, MOVED_RE % m, starts, 60)
        moved = max(int(mt.group(1)) for _, mt in got.values())
        j["moved_pct"] = 100.0 * moved / n
        j["owned_pct"] = 100.0 * j["owned"] / n
        # The survivors stop the moved jobs when they see the joiner's key; it starts
        # them once it has read the jobs: between the two, they run nowhere.
        handed = min(t for t, _ in got.values())
        j["gap_ms"] = (d.t_exec_wall + j["share_ms"] / 1000 - handed) * 1000
        j["member"] = d
        joins.append(j)
        check_total(members, n, "after the join %d" % (k + 1))
        sleep_until(time.monotonic() + SETTLE_S)
    if joins:
        fresh.append(fresh_rss(joins[-1]["member"], standalone))
    for j in joins:
        del j["member"]
    res["leaves"], res["joins"], res["fresh"] = leaves, joins, fresh
    res["term_changes"] = etcd.raft_term() - term0
    res["etcd_rss_mib_end"] = etcd.rss_kb() / 1024


def fresh_rss(d, standalone):
    """VmRSS of d, which joined a running fleet and took over nothing since, and of the
    standalone daemon, now."""
    st = d.stats()
    return {"rss_mib": d.rss_mib(), "vsz_mib": d.vsz_mib(),
            "owned": st["fleet"]["jobs_owned"] if st else None,
            "standalone_rss_mib": standalone.rss_mib()}


def drain(args, etcd, rev_cold, e_cold, t_all):
    """Waits until etcd's revision grows by at most the members' bound + 1 a second (over
    4 s), at most args.drain_max s after t_all. Returns what the first runs wrote."""
    quiet = args.members * 3.0 / args.ttl + 1.0
    hist = [(time.monotonic(), etcd.revision())]
    peak = 0.0
    start = max(time.monotonic(), t_all + args.every_s)   # every job has run once by then
    deadline = t_all + args.drain_max
    while True:
        time.sleep(1.0)
        now = time.monotonic()
        hist.append((now, etcd.revision()))
        if len(hist) >= 2:
            peak = max(peak, (hist[-1][1] - hist[-2][1]) / (hist[-1][0] - hist[-2][0]))
        old = [h for h in hist if h[0] <= now - 4.0]
        if now >= start and old:
            rate = (hist[-1][1] - old[-1][1]) / (now - old[-1][0])
            if rate <= quiet:
                drained = True
                break
        if now >= deadline:
            drained = False
            break
    t_end = old[-1][0] if drained else now
    return {"writes": hist[-1][1] - rev_cold, "drained": drained,
            "seconds": t_end - t_all, "peak_per_s": peak,
            "etcd_cpu_s": etcd.cpu_s() - e_cold}


def members_stop(d):
    d.stop()


def check_total(members, n, when):
    """Every fleet job runs on exactly one of members: the sum of their job counts."""
    total = 0
    for _ in range(50):
        total = 0
        for d in members:
            st = d.stats()
            total += st.get("jobs", 0) if st else 0
        if total == n:
            return total
        time.sleep(0.1)
    print("bench-fleet: %s the members run %d jobs, not %d" % (when, total, n), file=sys.stderr)
    return total


# ---- output ------------------------------------------------------------------------------------

def mmm(values):
    v = [x for x in values if x is not None]
    if not v:
        return None, None, None
    return statistics.median(v), min(v), max(v)


def fmt(values, digits, unit=""):
    md, lo, hi = mmm(values)
    if md is None:
        return "-"
    if len(values) == 1:
        return "%.*f%s" % (digits, md, unit)
    return "%.*f%s (%.*f-%.*f)" % (digits, md, unit, digits, lo, digits, hi)


def report(args, res):
    n, m = args.jobs, args.members
    k = label(n)
    lines = []
    bench = []
    print("Fleet mode: %s fleet jobs (tcp every %s against a loopback listener), %d members, "
          "ttl %ds;\netcd %s, %d member%s on loopback (data in %s); everything on this machine "
          "(%d CPUs).\nMedian (min-max).\n"
          % (format(n, ","), args.every, m, args.ttl, res.get("etcd_version", "?"),
             args.etcd_members, "" if args.etcd_members == 1 else "s",
             tempfile.gettempdir(), len(os.sched_getaffinity(0))))
    ld = res.get("load")
    if ld:
        rate_c = ld["coctl_jobs"] / ld["coctl_s"]
        rate_t = ld["txn_jobs"] / ld["txn_s"] if ld["txn_s"] > 0 else float("nan")
        print("load    coctl add --fleet -f FILE, %s jobs: %.1f s, %.0f jobs/s (%s would take "
              "%.0f s)" % (format(ld["coctl_jobs"], ","), ld["coctl_s"], rate_c, k, n / rate_c))
        print("        /v3/kv/txn, %d puts each, %d connections, %s jobs: %.1f s, %.0f jobs/s "
              "(%d-byte values)" % (TXN_OPS, LOAD_CONNS, format(ld["txn_jobs"], ","), ld["txn_s"],
                                   rate_t, ld["value_bytes"]))
        bench.append("BENCH fleet_load_coctl_jobs_per_s %.0f jobs/s" % rate_c)
        bench.append("BENCH fleet_load_txn_jobs_per_s %.0f jobs/s" % rate_t)
    cold = res.get("cold")
    if cold:
        print("\ncold start: %d members at once (a standalone daemon with %s local jobs already "
              "running)" % (m, format(res["n_local"], ",")))
        print("  %-40s %s" % ("exec -> READY=1, ms", fmt([c["ready_ms"] for c in cold], 0)))
        print("  %-40s %s" % ("exec -> read the %s jobs (log), ms" % k,
                               fmt([c.get("read_ms") for c in cold], 0)))
        print("  %-40s %s" % ("exec -> its share running (stats), ms",
                               fmt([c["share_ms"] for c in cold], 0)))
        print("  %-40s %.0f" % ("first exec -> all %d running their share, ms" % m,
                                res["cold_all_ms"]))
        print("  %-40s %s" % ("share, jobs", fmt([c["owned"] for c in cold], 0)))
        print("  %-40s %.0f" % ("standalone (%s jobs): exec -> READY, ms" % label(res["n_local"]),
                                res["standalone_ready_ms"]))
        bench.append("BENCH fleet_%s_cold_ready_ms %.0f ms" % (k, mmm([c["ready_ms"] for c in cold])[0]))
        bench.append("BENCH fleet_%s_cold_share_ms %.0f ms" % (k, mmm([c["share_ms"] for c in cold])[0]))
        bench.append("BENCH fleet_%s_cold_all_ms %.0f ms" % (k, res["cold_all_ms"]))
    sm = res.get("storm")
    if sm:
        print("\nfirst runs: every job's first result (unknown -> up) written to state/NAME")
        print("  %-40s %s in %.0f s after all ran their share%s (peak %.0f/s)"
              % ("etcd writes", format(sm["writes"], ","), sm["seconds"],
                 "" if sm["drained"] else " (NOT drained: gave up)", sm["peak_per_s"]))
        print("  %-40s %.0f s of CPU (%.0f%% of one core over that time)"
              % ("etcd CPU", sm["etcd_cpu_s"],
                 100.0 * sm["etcd_cpu_s"] / max(1.0, sm["seconds"] + res["cold_all_ms"] / 1000)))
        bench.append("BENCH fleet_%s_first_runs_drain_s %.0f s" % (k, sm["seconds"]))
    st = res.get("steady")
    if st:
        bound_members = m * 3.0 / args.ttl
        wps = st["writes"] / st["seconds"]
        trans = st["kinds"]["state"] / st["seconds"]
        bound = bound_members + trans
        print("\nsteady state: a %.0f s window once the first runs' writes were done"
              % st["seconds"])
        print("  %-40s %.2f (members/ %d, state/ %d, jobs/ %d, locks/ %d, other %d in %.0f s)"
              % ("etcd writes/s (revision growth)", wps, st["kinds"]["members"],
                 st["kinds"]["state"], st["kinds"]["jobs"], st["kinds"]["locks"],
                 st["kinds"]["other"], st["seconds"]))
        print("  %-40s %.2f (%d members x 3/ttl = %.2f, + %.2f transitions/s)"
              % ("bound, writes/s", bound, m, bound_members, trans))
        print("  %-40s %.2f (%d process%s)" % ("etcd CPU, % of one core", st["etcd_cpu_pct"],
                                              args.etcd_members,
                                              "" if args.etcd_members == 1 else "es"))
        print("  %-40s %.2f" % ("member CPU, % of one core (median)", st["member_cpu_pct"]))
        print("  %-40s %.0f" % ("etcd RSS, MiB (all)", st["etcd_rss_mib"]))
        rss = mmm(st["rss_mib"])[0]
        print("  %-40s %s, share %s jobs" % ("member RSS after the cold start, MiB",
                                             fmt(st["rss_mib"], 1), fmt(st["owned"], 0)))
        print("  %-40s %s, %s mappings" % ("member VmSize, MiB", fmt(st["vsz_mib"], 0),
                                          fmt(st["maps"], 0)))
        print("  %-40s %.1f (VmSize %.0f MiB, %d mappings)"
              % ("standalone, %s local jobs, RSS MiB" % format(res["n_local"], ","),
                 st["standalone_rss_mib"], st["standalone_vsz_mib"], st["standalone_maps"]))
        print("  %-40s %.2f" % ("member / standalone RSS", rss / st["standalone_rss_mib"]))
        bench.append("BENCH fleet_%s_etcd_writes_per_s %.2f writes/s" % (k, wps))
        bench.append("BENCH fleet_%s_etcd_write_bound_per_s %.2f writes/s" % (k, bound))
        bench.append("BENCH fleet_%s_etcd_writes_vs_bound %.2f ratio" % (k, wps / bound))
        bench.append("BENCH fleet_%s_etcd_cpu_pct %.2f %%" % (k, st["etcd_cpu_pct"]))
        bench.append("BENCH fleet_%s_member_cpu_pct %.2f %%" % (k, st["member_cpu_pct"]))
        bench.append("BENCH fleet_%s_rss_cold_mib %.1f MiB" % (k, rss))
        res["goal_writes"] = wps <= bound
    fr = res.get("fresh")
    if fr:
        ratios = [x["rss_mib"] / x["standalone_rss_mib"] for x in fr]
        rss = mmm([x["rss_mib"] for x in fr])[0]
        sa = mmm([x["standalone_rss_mib"] for x in fr])[0]
        print("\nRSS of a member that joined a running fleet (measured %.0f s after its share ran, "
              "before it took over anything), %d times" % (SETTLE_S, len(fr)))
        print("  %-40s %s, share %s jobs" % ("member RSS, MiB", fmt([x["rss_mib"] for x in fr], 1),
                                             fmt([x["owned"] for x in fr], 0)))
        print("  %-40s %s" % ("member VmSize, MiB", fmt([x["vsz_mib"] for x in fr], 0)))
        print("  %-40s %s" % ("standalone, %s local jobs, RSS MiB" % format(res["n_local"], ","),
                               fmt([x["standalone_rss_mib"] for x in fr], 1)))
        print("  %-40s %s ((member - standalone) / %s = %.0f bytes per fleet job)"
              % ("member / standalone RSS", fmt(ratios, 2), k, (rss - sa) * 1048576 / n))
        bench.append("BENCH fleet_%s_rss_mib %.1f MiB" % (k, rss))
        bench.append("BENCH fleet_%s_standalone_rss_mib %.1f MiB" % (k, sa))
        bench.append("BENCH fleet_%s_rss_vs_standalone %.2f ratio" % (k, mmm(ratios)[0]))
        res["goal_rss"] = mmm(ratios)[0] <= 1.5
    lv, jn = res.get("leaves"), res.get("joins")
    if lv:
        print("\nleave: kill -9 of a member, %d times (members in turn)" % len(lv))
        print("  %-40s %s" % ("kill -> last survivor moved its jobs, s",
                               fmt([x["failover_s"] for x in lv], 2)))
        print("  %-40s %s" % ("kill -> first survivor, s", fmt([x["first_s"] for x in lv], 2)))
        print("  %-40s %s" % ("kill -> its key gone from etcd, s",
                               fmt([x["expired_s"] for x in lv], 2)))
        print("  %-40s %s" % ("key gone -> last survivor moved, s",
                               fmt([x["failover_s"] - x["expired_s"] for x in lv
                                    if x["expired_s"] is not None], 2)))
        print("  %-40s %s (ideal %.1f; the victim owned %s)"
              % ("jobs moved, %", fmt([x["moved_pct"] for x in lv], 2), 100.0 / m,
                 fmt([x["victim_pct"] for x in lv], 2)))
        bad = [x["total"] for x in lv if x["total"] != n]
        print("  %-40s %s" % ("survivors run all %s jobs" % k,
                               "yes, every time" if not bad else "NO: %s" % bad))
        fo = mmm([x["failover_s"] for x in lv])
        mv = mmm([x["moved_pct"] for x in lv])
        bench.append("BENCH fleet_%s_failover_s %.2f s" % (k, fo[0]))
        bench.append("BENCH fleet_%s_failover_max_s %.2f s" % (k, fo[2]))
        bench.append("BENCH fleet_%s_leave_moved_pct %.2f %%" % (k, mv[0]))
        bench.append("BENCH fleet_%s_leave_moved_max_pct %.2f %%" % (k, mv[2]))
        gone = mmm([x["expired_s"] for x in lv])[0]
        if gone is not None:
            bench.append("BENCH fleet_%s_failover_key_gone_s %.2f s" % (k, gone))
        res["goal_failover"] = fo[2] <= args.ttl + 1
        res["goal_leave"] = mv[2] <= 100.0 / m + 2
    if jn:
        print("\njoin: the killed member started again into the other %d, %d times" % (m - 1, len(jn)))
        print("  %-40s %s" % ("exec -> READY=1, ms", fmt([x["ready_ms"] for x in jn], 0)))
        print("  %-40s %s" % ("exec -> read the %s jobs (log), ms" % k,
                               fmt([x.get("read_ms") for x in jn], 0)))
        print("  %-40s %s" % ("exec -> its share running (stats), ms",
                               fmt([x["share_ms"] for x in jn], 0)))
        print("  %-40s %s (ideal %.1f; it owns %s)"
              % ("jobs moved, %", fmt([x["moved_pct"] for x in jn], 2), 100.0 / m,
                 fmt([x["owned_pct"] for x in jn], 2)))
        print("  %-40s %s" % ("its jobs ran nowhere for (up to), ms",
                               fmt([x["gap_ms"] for x in jn], 0)))
        sh = mmm([x["share_ms"] for x in jn])
        rd = mmm([x["ready_ms"] for x in jn])
        mv = mmm([x["moved_pct"] for x in jn])
        bench.append("BENCH fleet_%s_ready_ms %.0f ms" % (k, rd[0]))
        bench.append("BENCH fleet_%s_share_ms %.0f ms" % (k, sh[0]))
        bench.append("BENCH fleet_%s_share_max_ms %.0f ms" % (k, sh[2]))
        bench.append("BENCH fleet_%s_join_moved_pct %.2f %%" % (k, mv[0]))
        bench.append("BENCH fleet_%s_join_moved_max_pct %.2f %%" % (k, mv[2]))
        bench.append("BENCH fleet_%s_join_gap_ms %.0f ms" % (k, mmm([x["gap_ms"] for x in jn])[0]))
        res["goal_start"] = sh[2] <= 3000
        res["goal_join"] = mv[2] <= 100.0 / m + 2
    if lv and jn:
        print("\nround by round: kill -9 (s from the kill), then the start again (ms from exec)")
        print("  and the CPU seconds spent from its exec to its share running: by it, by etcd, by")
        print("  the four others, and by the whole machine (all processes, %d CPUs)"
              % len(os.sched_getaffinity(0)))
        print("  %-5s %-6s %7s %6s %7s %7s | %5s %6s %6s %7s %7s | %6s %5s %6s %7s"
              % ("round", "member", "owned %", "gone s", "moved s", "moved %", "READY", "read",
                 "share", "moved %", "nowhere", "joiner", "etcd", "others", "machine"))
        for i, (x, y) in enumerate(zip(lv, jn)):
            print("  %-5d %-6s %7.2f %6s %7.2f %7.2f | %5.0f %6s %6.0f %7.2f %7.0f |"
                  " %6.1f %5.1f %6.1f %7.1f"
                  % (i + 1, x["victim"], x["victim_pct"],
                     "-" if x["expired_s"] is None else "%.2f" % x["expired_s"], x["failover_s"],
                     x["moved_pct"], y["ready_ms"],
                     "-" if y.get("read_ms") is None else "%.0f" % y["read_ms"], y["share_ms"],
                     y["moved_pct"], y["gap_ms"], y["cpu_joiner"], y["cpu_etcd"],
                     y["cpu_survivors"], y["cpu_machine"]))
    if "term_changes" in res:
        print("\netcd: %d leader election%s during the run; RSS %.0f MiB at the end"
              % (res["term_changes"], "" if res["term_changes"] == 1 else "s",
                 res["etcd_rss_mib_end"]))
    if res.get("accepted", -1) >= 0:
        print("listener: %d connections accepted in all" % res["accepted"])
    goals = [("a member's share running within 3 s of its start (join, max)", "goal_start"),
             ("member RSS <= 1.5 x standalone with its share", "goal_rss"),
             ("etcd writes/s <= members x 3/ttl + transitions", "goal_writes"),
             ("failover within ttl + 1 s (max)", "goal_failover"),
             ("jobs moved on a join <= 1/N + 2% (max)", "goal_join"),
             ("jobs moved on a leave <= 1/N + 2% (max)", "goal_leave")]
    print("\ngoals:")
    for text, key in goals:
        print("  %-62s %s" % (text, "not measured" if key not in res else
                                   "met" if res[key] else "NOT met"))
    print()
    for b in bench:
        print(b)


def main():
    machine = platform.machine()
    build = os.environ.get("BUILD", "build/" + machine)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=count_arg, default=None, help="fleet jobs (default 100k)")
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--kills", type=int, default=None, help="kill -9 rounds (default 10)")
    ap.add_argument("--ttl", type=int, default=10, help="the members' lease, s (default 10)")
    ap.add_argument("--every", default=None, help="the jobs' period (default 60s)")
    ap.add_argument("--window", type=float, default=None, help="steady window, s (default 20)")
    ap.add_argument("--etcd-members", type=int, choices=(1, 3), default=3)
    ap.add_argument("--drain-max", type=float, default=None,
                    help="longest wait for the first runs' state writes, s (default 240)")
    ap.add_argument("--quick", action="store_true",
                    help="10k jobs, 3 kills, every 20s, 10 s window (a smoke test)")
    args = ap.parse_args()
    q = args.quick
    args.jobs = args.jobs or (10000 if q else 100000)
    args.kills = args.kills if args.kills is not None else (3 if q else 10)
    args.every = args.every or ("20s" if q else "60s")
    args.window = args.window or (10.0 if q else 20.0)
    args.drain_max = args.drain_max or (60.0 if q else 240.0)
    mt = re.fullmatch(r"(\d+)(s|m|h)", args.every)
    if not mt:
        ap.error("--every: a duration like 60s, 1m")
    args.every_s = int(mt.group(1)) * {"s": 1, "m": 60, "h": 3600}[mt.group(2)]
    if args.members < 2:
        ap.error("--members: at least 2")
    args.daemon = os.environ.get("CORO_RUNNERD", os.path.join(build, "coro-runnerd"))
    args.coctl = os.environ.get("COCTL", os.path.join(build, "coctl"))
    args.probes = os.environ.get("BENCH_PROBES", os.path.join(build, "bench", "bench-probes"))
    args.etcd = os.environ.get("ETCD", "/usr/bin/etcd")
    for p in (args.daemon, args.coctl, args.probes, args.etcd):
        if not os.access(p, os.X_OK):
            print("bench-fleet: %s is missing: build with 'make bench'; etcd is Debian's "
                  "etcd-server" % p, file=sys.stderr)
            return 2

    def on_term(signo, _frame):
        raise KeyboardInterrupt("signal %d" % signo)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    workdir = tempfile.mkdtemp(prefix="bench-fleet-")
    res = {"cleanup": []}
    status = 0
    try:
        # A copy of the programs: a build running meanwhile (make rewrites BUILD) must not
        # change or remove them in the middle of the run.
        bindir = os.path.join(workdir, "bin")
        os.mkdir(bindir)
        for attr in ("daemon", "coctl", "probes"):
            dst = os.path.join(bindir, os.path.basename(getattr(args, attr)))
            shutil.copy2(getattr(args, attr), dst)
            setattr(args, attr, dst)
        run(args, workdir, res)
    except BenchError as e:
        print("bench-fleet: %s" % e, file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print("bench-fleet: interrupted", file=sys.stderr)
        status = 130
    finally:
        # Members and the standalone first (their SIGTERM revokes leases in etcd), then the
        # listener, then etcd.
        for fn in reversed(res["cleanup"]):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 (cleanup goes on)
                print("bench-fleet: cleanup: %s" % e, file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    if status == 130:
        return status
    report(args, res)
    return status


if __name__ == "__main__":
    sys.exit(main())
