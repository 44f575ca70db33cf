#!/usr/bin/env python3
"""Orchestration for bench/run: starts the backends and the three paths on loopback, measures every scenario
on each path (interleaved), repeats, and hands the medians to report.py.

Paths: "direct" (client straight to the backend: the physical limit), "ssh" (ssh -tt -R through a local sshd: with a terminal session, as ssh -R is used at its best)
and "diglett" (the gateway and agent with default settings, TLS on). Scenarios 2 and 3 add two reference relays
made of HAProxy: "haproxy" (one hop to nginx, no encryption, no multiplexing: the least a relay adds on this
machine) and "haproxy-tls" (a tunnel's shape: two relays, TLS 1.3 between them). In scenario 7 (HTTPS ingress)
"direct" is nginx's own TLS server, "ssh" Caddy in front of the ssh -R port, "diglett" the gateway's HTTPS ingress.
Standard library only.
"""
import argparse
import base64
import calendar
import contextlib
import datetime
import glob
import json
import os
import platform
import random
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import report  # noqa: E402  (bench/report.py)

# The launchers and jars to run: bench/run passes a copy taken at its start (a rebuild during the run cannot
# touch it); the checkout itself otherwise.
DIGLETT_HOME = os.environ.get("BENCH_DIGLETT_HOME") or ROOT
LAUNCHED_JARS = ("diglett-server/target/diglett-server-all.jar", "diglett-agent/target/diglett-agent-all.jar")
PATHS = ("direct", "ssh", "diglett")
# Scenarios 2 and 3 only: HAProxy (Debian's package, its defaults) relaying TCP from its port to nginx, the least
# any relay adds (one more hop in user space, nothing else); measured in the same rotation as the other paths.
REFERENCE = "haproxy"
# Also in scenarios 2 and 3: a tunnel's shape made of HAProxy, two relays (two processes) with TLS between them.
TUNNEL_SHAPED = "haproxy-tls"
REFERENCES = (REFERENCE, TUNNEL_SHAPED)
SMALL_BYTES = 1024
LARGE_BYTES = 64 * 1024 * 1024
BIG_BYTES = 512 * 1024 * 1024  # the hostile scenario's stalled downloads: a sparse file, no disk needed
# Scenario 7, the HTTPS ingress: wrk asks for https://web.HTTPS_DOMAIN:PORT/ (its server name and Host), which
# resolves to 127.0.0.1 for wrk alone (Bench.resolve_prefix); one self-signed certificate for *.HTTPS_DOMAIN
# serves the three paths.
HTTPS_DOMAIN = "bench.test"
HTTPS_HOST = f"web.{HTTPS_DOMAIN}"
HTTPS_CONNS = 100


class HarnessError(Exception):
    """The harness itself broke (a tool missing, a service or tunnel that never came up): exit 1."""


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    """A port the kernel picks, for tools that cannot bind port 0 and report it (nginx, iperf3, sshd).
    It is closed again before the tool binds it: a small race, retried by the callers on failure."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def listening(host, port):
    """True if a socket listens on host:port (IPv4), from /proc/net/tcp and tcp6 (a JVM's sockets are IPv6 ones
    bound to the IPv4-mapped address): no connection made (one to a tunnel's iperf3 port would reach iperf3 -s as
    a test that never starts)."""
    word = "%08X" % int.from_bytes(socket.inet_aton(host), "little")
    wanted = {"%s:%04X" % (word, port), "0000000000000000FFFF0000%s:%04X" % (word, port)}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                if any(len(fields) > 3 and fields[1] in wanted and fields[3] == "0A"
                       for fields in (line.split() for line in f)):
                    return True
        except OSError:
            pass
    return False


def https_get(port, path="/index.html", timeout=2.0):
    """One GET over TLS as wrk sends it (server name and Host HTTPS_HOST, the Host with the port), Connection:
    close, the certificate not verified (wrk does not either): (status line, body, TLS version, cipher).
    Raises OSError (ssl.SSLError included) when the connection or the handshake fails."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=HTTPS_HOST) as s:
            s.settimeout(timeout)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HTTPS_HOST}:{port}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ssl.SSLZeroReturnError:
                    break
                if not chunk:
                    break
                data += chunk
            version, cipher = s.version(), s.cipher()[0]
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if any(re.match(r"(?i)transfer-encoding:.*chunked", line) for line in lines[1:]):
        body = dechunk(body)
    return lines[0], body, version, cipher


def dechunk(body):
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


def https_ok(port, timeout=2.0):
    """True on a 200 with the whole small file over TLS (https_get)."""
    try:
        status, body, _, _ = https_get(port, timeout=timeout)
        return status.startswith("HTTP/1.1 200") and len(body) == SMALL_BYTES
    except (OSError, ValueError):
        return False


def http_ok(port, path="/index.html", timeout=2.0, host="127.0.0.1"):
    """One GET with Connection: close; True on a 200 with the whole body."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return head.startswith(b"HTTP/1.1 200") and len(body) == SMALL_BYTES
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------------
# processes


class Procs:
    """Every process the harness starts, each in its own session (so its process group is its pid). The
    process groups are listed in $BENCH_WORK/pgids for bench/run's trap, in case this script dies hard."""

    def __init__(self, work):
        self.work = work
        self.live = {}
        self.lock = threading.Lock()

    def _write(self):
        tmp = os.path.join(self.work, "pgids.tmp")
        with open(tmp, "w") as f:
            for pid in self.live:
                f.write(f"{pid}\n")
        os.replace(tmp, os.path.join(self.work, "pgids"))

    def spawn(self, name, cmd, log_path=None, env=None, stdout=None):
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout or out, stderr=out,
                                env=env, start_new_session=True)
        if log_path:
            out.close()
        proc.bench_name = name
        with self.lock:
            self.live[proc.pid] = proc
            self._write()
        return proc

    def stop(self, proc, grace=5.0):
        if proc is None:
            return
        descendants = descendants_of(proc.pid)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        for pid in descendants:  # children that left the group (sshd's sessions)
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        with self.lock:
            self.live.pop(proc.pid, None)
            self._write()

    def stop_all(self):
        for proc in reversed(list(self.live.values())):
            self.stop(proc, grace=3.0)


def proc_table():
    """pid -> ppid for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                table[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    return table


def descendants_of(pid):
    table = proc_table()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in table.items():
            if ppid == parent:
                found.append(child)
                frontier.append(child)
    return found


def rss_mb(pids):
    """Summed VmRSS of the given pids in MB (10^6 bytes); processes that are gone count 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total / 1e6


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_jiffies():
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def cpu_jiffies_ours():
    """Jiffies used by this harness and everything below it: live descendants with the children they reaped,
    and ours reaped through os.times()."""
    t = os.times()
    total = (t.user + t.system + t.children_user + t.children_system) * CLK_TCK
    for pid in descendants_of(os.getpid()):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, ValueError):
            pass
    return total


class OtherCpu:
    """Share of the machine's CPU time that processes outside the harness used while the block ran (a build
    or a test run next to the benchmark skews every figure)."""

    def __enter__(self):
        self.busy, self.total = cpu_jiffies()
        self.ours = cpu_jiffies_ours()
        return self

    def __exit__(self, *exc):
        busy, total = cpu_jiffies()
        ours = cpu_jiffies_ours()
        self.share = max(0.0, (busy - self.busy) - (ours - self.ours)) / max(1, total - self.total)


class RssSampler:
    """Peak RSS per label while running; each label maps to a function returning the pids to sum."""

    def __init__(self, sources, interval=0.1):
        self.sources, self.interval = sources, interval
        self.peak = {label: 0.0 for label in sources}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for label, pids in self.sources.items():
                self.peak[label] = max(self.peak[label], rss_mb(pids()))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


QUIET_BUSY = 0.10    # a start is timed once the CPUs are at most this busy ...
QUIET_WINDOW = 0.2   # ... over this many seconds,
QUIET_TIMEOUT = 10   # waiting at most this long


def cpu_busy(window):
    """The share of all CPUs' time spent busy over the next window seconds (/proc/stat; iowait counts as idle)."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]
    total0, idle0 = sample()
    time.sleep(window)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet():
    """Waits until the machine is quiet (QUIET_BUSY over QUIET_WINDOW) so that a start-up is timed against a
    gateway or sshd that is already running and idle, as the scenario says: the gateway has just started (its
    JIT compilers still busy for a second or so) when the first start of a run (a first connection) is timed,
    where sshd has been idle since the harness started it. Returns how busy the CPUs were when it stopped
    waiting (above QUIET_BUSY when QUIET_TIMEOUT passed first)."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    while True:
        busy = cpu_busy(QUIET_WINDOW)
        if busy <= QUIET_BUSY or time.monotonic() >= deadline:
            return busy


def wait_for(what, predicate, timeout, proc=None, log_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.01)
    tail = ""
    if log_path and os.path.exists(log_path):
        with open(log_path, errors="replace") as f:
            tail = "".join(f.readlines()[-15:])
    state = f" (it exited with {proc.returncode})" if proc is not None and proc.poll() is not None else ""
    raise HarnessError(f"{what} did not happen within {timeout} s{state}\n{tail}")


def log_time(path, regex, offset, since):
    """Seconds from the wall-clock time since to the time stamp of the first log line matching regex
    (slf4j-simple's "yyyy-MM-dd HH:mm:ss.SSS"; the harness runs the programs with TZ=UTC); None without one."""
    try:
        with open(path, errors="replace") as f:
            f.seek(offset)
            for line in f:
                if re.search(regex, line):
                    try:
                        stamp = calendar.timegm(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
                        return round(stamp + int(line[20:23]) / 1000 - since, 3)
                    except ValueError:
                        continue
    except OSError:
        pass
    return None


def grep_log(path, regex, offset=0):
    try:
        with open(path, errors="replace") as f:
            f.seek(offset)
            m = re.search(regex, f.read())
            return m
    except OSError:
        return None


def grep_all(path, regex):
    """Every line of the file at path that matches regex."""
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip() for line in f if re.search(regex, line)]
    except OSError:
        return []


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# ---------------------------------------------------------------------------------------------------------
# the services


class Bench:
    def __init__(self, opts, work):
        self.o = opts
        self.work = work
        self.procs = Procs(work)
        self.tools = {t: os.environ.get(f"BENCH_{t.upper().replace('-', '_')}") or shutil.which(t) or t
                      for t in ("nginx", "iperf3", "wrk", "sshd", "ssh", "ssh-keygen", "gnuplot", "java", "caddy",
                                "openssl", "unshare", "etcd", "haproxy")}
        self.nginx = self.iperf = self.sshd = None
        self.gateway = self.agent = self.ssh = self.caddy = self.haproxy = self.haproxy_exit = None
        self.transport = None  # io_uring, epoll or nio: what the gateway logged (start_gateway)
        self.resolve = None  # the command prefix under which HTTPS_HOST resolves to 127.0.0.1 (resolve_prefix)
        self.https_tls = {}  # path -> TLS version and cipher an OpenSSL client negotiated (scenario 7)
        self.ports = {}
        self.cluster_port_range = None  # scenario 8's --port-range, LOW-HIGH (cluster_run)
        self.warnings = []
        self.other_cpu = []
        self.run_index = 0

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    # --- backends -----------------------------------------------------------------------------------------

    def start_on_free_port(self, name, spawn, ready, log_path):
        """For tools that cannot report a port they chose (nginx, iperf3, sshd): asks the kernel for a free
        port, starts spawn(port) and waits for ready(port); another port if someone took it meanwhile."""
        for attempt in range(3):
            port = free_port()
            proc = spawn(port)
            try:
                wait_for(f"{name} on 127.0.0.1:{port}", lambda: ready(port), 10, proc, log_path)
                self.ports[name] = port
                return proc
            except HarnessError:
                self.procs.stop(proc)
                if attempt == 2:
                    raise

    def make_cert(self):
        """One self-signed certificate (EC P-256) for *.HTTPS_DOMAIN and HTTPS_DOMAIN, for the HTTPS scenario's three
        servers: nginx (direct), Caddy and the gateway's ingress. wrk does not verify it."""
        cert, key = self.path("https.crt"), self.path("https.key")
        cmd = [self.tools["openssl"], "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-days", "7", "-subj", f"/CN=*.{HTTPS_DOMAIN}",
               "-addext", f"subjectAltName=DNS:*.{HTTPS_DOMAIN},DNS:{HTTPS_DOMAIN}", "-keyout", key, "-out", cert]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise HarnessError("openssl could not make the HTTPS certificate:\n" + out.stderr[-1000:])
        os.chmod(key, 0o600)  # the gateway warns about a key every user may read
        self.https_cert, self.https_key = cert, key

    def resolve_description(self):
        if not self.resolve:
            return f"{HTTPS_HOST} resolves to 127.0.0.1 in the machine's /etc/hosts" if self.resolve == [] else None
        unshare = [os.path.basename(self.resolve[0])] + self.resolve[1:self.resolve.index("sh")]
        return ("a hosts file bind-mounted over /etc/hosts in a private mount namespace for wrk alone (`"
                + " ".join(unshare) + "`)")

    def resolve_prefix(self):
        """The command prefix that makes HTTPS_HOST resolve to 127.0.0.1 for the command after it alone, without
        touching the machine's /etc/hosts: a private mount namespace (unshare --mount, whose mounts propagate
        nowhere) with a hosts file of the harness bind-mounted over /etc/hosts. As root directly; otherwise in a
        user namespace of one's own (unshare --user --map-root-user), where the kernel allows it. If neither
        works but the name already resolves to 127.0.0.1 (a line in /etc/hosts), nothing is needed."""
        hosts = self.path("hosts")
        with open(hosts, "w") as f:
            f.write(f"127.0.0.1 localhost\n::1 localhost\n127.0.0.1 {HTTPS_HOST} {HTTPS_DOMAIN}\n")
        script = 'mount --bind "$0" /etc/hosts && exec "$@"'
        tries = []
        if os.geteuid() == 0:
            tries.append([self.tools["unshare"], "--mount", "--propagation", "private", "sh", "-c", script, hosts])
        tries.append([self.tools["unshare"], "--user", "--map-root-user", "--mount", "--propagation", "private",
                      "sh", "-c", script, hosts])
        tries.append([])
        failures = []
        for prefix in tries:
            try:
                out = subprocess.run(prefix + ["getent", "ahosts", HTTPS_HOST], capture_output=True, text=True,
                                     timeout=10)
            except (OSError, subprocess.TimeoutExpired) as e:
                failures.append(f"{' '.join(prefix[:4]) or 'the machine itself'}: {e}")
                continue
            first = out.stdout.split()[:1]
            if out.returncode == 0 and first == ["127.0.0.1"]:
                self.resolve = prefix
                return
            failures.append(f"{' '.join(prefix[:4]) or 'the machine itself'}: "
                            + (out.stderr.strip()[-300:] or f"{HTTPS_HOST} -> {out.stdout.strip()[:100] or 'nothing'}"))
        raise HarnessError(
            f"scenario 7 (HTTPS ingress) needs {HTTPS_HOST} to resolve to 127.0.0.1 for wrk, which sends it as the "
            "TLS server name and Host. The harness bind-mounts its own hosts file over /etc/hosts in a private mount "
            "namespace (unshare --mount), which needs root or unprivileged user namespaces; neither worked here:\n  "
            + "\n  ".join(failures)
            + f"\nRun bench/run as root, or add '127.0.0.1 {HTTPS_HOST}' to /etc/hosts.")

    def start_nginx(self):
        www = self.path("www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "index.html"), "wb") as f:
            f.write((b"diglett bench " * 80)[:SMALL_BYTES - 1] + b"\n")
        with open(os.path.join(www, "large.bin"), "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(LARGE_BYTES >> 20):
                f.write(block)
        with open(os.path.join(www, "big.bin"), "wb") as f:  # a hole: nginx sends zeros from the page cache
            f.truncate(BIG_BYTES)
        tmp = self.path("nginx-tmp")
        os.makedirs(tmp, exist_ok=True)
        user = ""
        if os.geteuid() == 0:  # workers would switch to nobody, who cannot read our private temp dir
            import grp
            import pwd
            user = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
        conf = self.path("nginx.conf")

        def spawn(port):
            # The HTTPS scenario's direct path: the same nginx serving the same files over TLS 1.3 on a second
            # port, with the certificate every HTTPS path uses (its physical limit on this machine).
            self.ports["nginx-tls"] = tls_port = free_port()
            with open(conf, "w") as f:
                f.write(f"""daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile 65536;
pid {self.path('nginx.pid')};
error_log {self.path('nginx-error.log')} warn;
{user}
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {www};
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl backlog=4096;
        ssl_certificate {self.https_cert};
        ssl_certificate_key {self.https_key};
        ssl_protocols TLSv1.3;
        root {www};
    }}
}}
""")
            return self.procs.spawn("nginx", [self.tools["nginx"], "-p", self.work, "-c", conf,
                                              "-e", self.path("nginx-error.log")], self.path("nginx.out"))

        self.nginx = self.start_on_free_port("nginx", spawn,
                                             lambda port: http_ok(port) and https_ok(self.ports["nginx-tls"]),
                                             self.path("nginx-error.log"))

    def spawn_iperf(self, port):
        return self.procs.spawn("iperf3", [self.tools["iperf3"], "-s", "-B", "127.0.0.1", "-p", str(port)],
                                self.path("iperf3.log"))

    def start_iperf(self):
        self.iperf = self.start_on_free_port("iperf", self.spawn_iperf, port_open, self.path("iperf3.log"))

    def restart_iperf(self):
        """On the same port: the tunnels forward to it."""
        port = self.ports["iperf"]
        self.procs.stop(self.iperf)
        self.iperf = self.spawn_iperf(port)
        wait_for(f"iperf3 -s again on 127.0.0.1:{port}", lambda: port_open(port), 10, self.iperf,
                 self.path("iperf3.log"))

    def start_sshd(self):
        keygen = self.tools["ssh-keygen"]
        for key in ("host_key", "client_key"):
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", self.path(key)], check=True)
        shutil.copy(self.path("client_key.pub"), self.path("authorized_keys"))
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        conf = self.path("sshd_config")

        def spawn(port):
            with open(conf, "w") as f:
                f.write(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {self.path('host_key')}
PidFile {self.path('sshd.pid')}
AuthorizedKeysFile {self.path('authorized_keys')}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PermitTTY yes
X11Forwarding no
AllowTcpForwarding yes
GatewayPorts no
ClientAliveInterval 0
MaxStartups 100
PerSourceMaxStartups 10
LogLevel INFO
""")
            return self.procs.spawn("sshd", [self.tools["sshd"], "-D", "-e", "-f", conf], self.path("sshd.log"))

        self.sshd = self.start_on_free_port("sshd", spawn, port_open, self.path("sshd.log"))
        # One login running a command: checks the keys and records the negotiated cipher for the report.
        out = subprocess.run(self.ssh_base() + ["-v", "true"], capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise HarnessError("ssh to the harness's sshd failed:\n" + out.stderr[-2000:])
        m = re.search(r"kex: server->client cipher: (\S+)", out.stderr)
        self.ssh_cipher = m.group(1) if m else "unknown"

    def ssh_base(self, known_hosts=None):
        return [self.tools["ssh"], "-F", "/dev/null", "-p", str(self.ports["sshd"]), "-i", self.path("client_key"),
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", f"UserKnownHostsFile={known_hosts or self.path('known_hosts')}", "-o", "IdentitiesOnly=yes",
                f"{os_user()}@127.0.0.1"]

    # --- the tunnels ----------------------------------------------------------------------------------

    def haproxy_config(self, listens):
        """HAProxy relaying TCP: its defaults (threads: one per CPU) but the timeouts it asks for and a connection
        limit above the run's (HAProxy raises its open files limit to about twice it). listens: (name, bind
        options, server options) per `listen` section."""
        sections = "".join(f"""listen {name}
    bind 127.0.0.1:{bind}
    server next 127.0.0.1:{server}
""" for name, bind, server in listens)
        return f"""global
    maxconn {self.o.many + 200}
    ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
{sections}"""

    def start_haproxy(self):
        """Scenarios 2 and 3's reference relays, for the whole bench (they hold no state between runs), each ready
        once a request through it answered 200. REFERENCE: one HAProxy relaying to nginx, one hop. TUNNEL_SHAPED:
        the shape of a tunnel made of HAProxy, two processes (the exit beside nginx, the entry where clients come
        in) with TLS 1.3 between them, the entry opening one TLS connection to the exit per client connection."""
        pem = self.path("haproxy.pem")
        with open(pem, "w") as f:
            for part in (self.https_cert, self.https_key):
                with open(part) as src:
                    f.write(src.read())
        os.chmod(pem, 0o600)
        nginx = self.ports["nginx"]

        def spawn_exit(port):
            conf = self.path("haproxy-exit.cfg")
            with open(conf, "w") as f:
                f.write(self.haproxy_config([("exit", f"{port} ssl crt {pem}", nginx)]))
            return self.procs.spawn("haproxy-exit", [self.tools["haproxy"], "-db", "-f", conf],
                                    self.path("haproxy-exit.log"))

        self.haproxy_exit = self.start_on_free_port("haproxy-exit", spawn_exit, port_open,
                                                    self.path("haproxy-exit.log"))
        entry = {}

        def spawn(port):
            entry["port"] = free_port()
            conf = self.path("haproxy.cfg")
            with open(conf, "w") as f:
                f.write(self.haproxy_config([
                    ("relay", port, nginx),
                    ("entry", entry["port"], f"{self.ports['haproxy-exit']} ssl verify none")]))
            return self.procs.spawn("haproxy", [self.tools["haproxy"], "-db", "-f", conf], self.path("haproxy.log"))

        self.haproxy = self.start_on_free_port(
            REFERENCE, spawn, lambda port: http_ok(port, timeout=1.0) and http_ok(entry["port"], timeout=1.0),
            self.path("haproxy.log"))
        self.ports[TUNNEL_SHAPED] = entry["port"]

    def start_gateway(self):
        glog = self.path("gateway.log")
        offset = log_size(glog)
        # Every client here comes from 127.0.0.1, where real clients come from many addresses: the cap on
        # connections per client address (default 512) would refuse wrk's 1,000 and 10,000 connections and the
        # stalled readers beyond 512, so it is lifted; the figures measure the tunnel, not the cap.
        # The built-in HTTPS ingress serves https://NAME.HTTPS_DOMAIN (scenario 7) with the harness's certificate;
        # with it on, a name gets a raw port only when its agent asks (start_agent's --raw-port): the other
        # scenarios use the raw port.
        # Agents dial one port for the whole harness, as ssh dials sshd's: the known-gateways file records a gateway
        # by host and port, so every timed start is an agent that has connected to this gateway before, as every
        # timed ssh -R is a client with sshd's key in known_hosts (since start_sshd's first login). A port outside
        # the ephemeral range, which the clients' own connections could take while the gateway is down between
        # runs; if it is taken all the same, another one (and that start is a first connection: a warning).
        for attempt in range(2):
            offset = log_size(glog)
            if "gateway" not in self.ports:
                self.ports["gateway"] = free_port_range(1, ["127.0.0.1"])
            cmd = [os.path.join(DIGLETT_HOME, "bin", "diglett-server"), "-l", f"127.0.0.1:{self.ports['gateway']}",
                   "--bind", "127.0.0.1", "--state-dir", self.path("gateway-state"), "--max-connections-per-ip", "0",
                   "--domain", HTTPS_DOMAIN, "--https", "127.0.0.1:0", "--https-cert", self.https_cert,
                   "--https-key", self.https_key]
            self.gateway = self.procs.spawn("gateway", cmd, glog, env=dict(os.environ, TZ="UTC"))
            try:
                wait_for("the gateway listening",
                         lambda: grep_log(glog, r"listening for agents on \S+:(\d+)", offset), 60, self.gateway, glog)
                break
            except HarnessError:
                self.procs.stop(self.gateway)
                if attempt == 1:
                    raise
                self.warnings.append(f"the gateway did not come up listening on 127.0.0.1:{self.ports.pop('gateway')}; "
                                     "started on another port, where the next agent start is a first connection")
        t = grep_log(glog, r"listening for agents on \S+ \(([a-z_]+),", offset)
        self.transport = t.group(1) if t else "unknown"  # the event loops' transport, which the agent picks alike
        m = wait_for("the gateway's HTTPS ingress listening",
                     lambda: grep_log(glog, rf"serving https://NAME\.{re.escape(HTTPS_DOMAIN)} on \S*:(\d+)", offset),
                     10, self.gateway, glog)
        self.ports["diglett-https"] = int(m.group(1))

    def settle(self, whose):
        """wait_quiet before timing whose start; a machine that stayed busy is a warning in the report."""
        busy = wait_quiet()
        if busy > QUIET_BUSY:
            self.warnings.append(f"run {self.run_index + 1}: the CPUs were still {busy:.0%} busy after "
                                 f"{QUIET_TIMEOUT} s when {whose} start-up was timed")

    def start_agent(self):
        """Starts the agent (names web and iperf) and returns the seconds until a request through it
        succeeded (scenario 6)."""
        glog, alog = self.path("gateway.log"), self.path("agent.log")
        offset = log_size(glog)
        cmd = [os.path.join(DIGLETT_HOME, "bin", "diglett"), "-g", f"127.0.0.1:{self.ports['gateway']}",
               "--known-gateways", self.path("known_gateways"), "--raw-port",
               "-n", f"web=127.0.0.1:{self.ports['nginx']}", "-n", f"iperf=127.0.0.1:{self.ports['iperf']}",
               *self.o.agent_option]
        aoffset = log_size(alog)
        self.settle("the agent's")
        start, start_wall = time.monotonic(), time.time()
        self.agent = self.procs.spawn("agent", cmd, alog, env=dict(os.environ, TZ="UTC"))  # log_time reads UTC

        def ready():
            m = grep_log(glog, r"register domain 'web' -> '(\d+)'", offset)
            return m is not None and http_ok(int(m.group(1)), timeout=1.0)

        wait_for("a request through the diglett tunnel", ready, 60, self.agent, alog)
        elapsed = time.monotonic() - start
        self.startup_phases = {"dialing": log_time(alog, r"connecting to gateway", aoffset, start_wall),
                               "online": log_time(alog, r"online: ", aoffset, start_wall)}
        self.ports["diglett-web"] = int(grep_log(glog, r"register domain 'web' -> '(\d+)'", offset).group(1))
        m = wait_for("the iperf name registered",
                     lambda: grep_log(glog, r"register domain 'iperf' -> '(\d+)'", offset), 30, self.agent, alog)
        self.ports["diglett-iperf"] = int(m.group(1))
        return elapsed

    def ssh_forward(self, *forwards, known_hosts=None):
        """The ssh -R command at its best: with a terminal session (-tt, a remote command that waits), sshd sets
        TCP_NODELAY on the connection, as for anyone who runs `ssh -R ... host` and gets a shell. With `-N` (no
        session) only the client side has it, and Nagle on sshd's side held small responses for the client's
        delayed ACK: `ssh -N -R` served 6k req/s at 32 connections with p99 44 ms, the same with a terminal
        session 46k req/s with p99 1.2 ms (1 KiB file, this machine)."""
        base = self.ssh_base(known_hosts)
        cmd = base[:-1] + ["-tt", "-o", "ExitOnForwardFailure=yes"]
        for target in forwards:
            cmd += ["-R", f"127.0.0.1:0:127.0.0.1:{target}"]
        return cmd + [base[-1], "exec sleep 2147483647"]

    def start_ssh(self):
        """ssh -R with a remote forward each for nginx and iperf3 (ssh_forward); sshd picks the remote ports (0)
        and ssh prints them. Returns the seconds until a request through it succeeded."""
        slog = self.path("ssh.log")
        offset = log_size(slog)
        web, iperf = self.ports["nginx"], self.ports["iperf"]
        cmd = self.ssh_forward(web, iperf)
        self.settle("ssh -R's")
        start = time.monotonic()
        self.ssh = self.procs.spawn("ssh", cmd, slog)

        def allocated(target):
            return grep_log(slog, rf"Allocated port (\d+) for remote forward to 127\.0\.0\.1:{target}\b", offset)

        def ready():
            m = allocated(web)
            return m is not None and http_ok(int(m.group(1)), timeout=1.0)

        wait_for("a request through ssh -R", ready, 30, self.ssh, slog)
        elapsed = time.monotonic() - start
        self.ports["ssh-web"] = int(allocated(web).group(1))
        m = wait_for("the ssh -R forward for iperf3", lambda: allocated(iperf), 10, self.ssh, slog)
        self.ports["ssh-iperf"] = int(m.group(1))
        return elapsed

    def caddy_config(self, port, upstream):
        """The Caddyfile of the HTTPS scenario's peer: Caddy terminating TLS for HTTPS_HOST with the harness's
        certificate and proxying to the ssh -R remote port. Everything else is Caddy's default (keep-alive to the
        upstream, no access log, HTTP/1.1, 2 and 3), but for three things and one tuning:
        - admin off: no admin endpoint on localhost:2019 (another Caddy on the machine may have it);
        - auto_https off: no ACME, no certificate of its own, no HTTP->HTTPS redirect listener on port 80;
        - bind 127.0.0.1, as everything in the bench;
        - keepalive_idle_conns_per_host: Caddy keeps at most 32 idle connections per upstream by default, so with
          100 clients it closed upstream connections and opened new ones all the time, through ssh -R a new
          channel each: on this machine 7.0k req/s with p99 54 ms and 3,400 to 6,500 connections in TIME_WAIT
          after 5 s of wrk -c100, against 9.9k req/s, p99 30 ms and at most 26 with 1024 (two runs each,
          alternating): the default would measure Caddy below its best."""
        return f"""{{
	admin off
	auto_https off
}}

https://{HTTPS_HOST}:{port} {{
	bind 127.0.0.1
	tls {self.https_cert} {self.https_key}
	reverse_proxy 127.0.0.1:{upstream} {{
		transport http {{
			keepalive_idle_conns_per_host 1024
		}}
	}}
}}
"""

    def start_caddy(self):
        """Caddy (scenario 7's peer) in front of this run's ssh -R remote port for nginx: its own config, data and
        home in the temp dir (its autosave.json goes there too), on a free port; ready once a request through it,
        ssh -R and nginx answered 200 with the file."""
        home = self.path("caddy-home")
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ, HOME=home, XDG_DATA_HOME=os.path.join(home, "data"),
                   XDG_CONFIG_HOME=os.path.join(home, "config"))
        conf = self.path("Caddyfile")

        def spawn(port):
            with open(conf, "w") as f:
                f.write(self.caddy_config(port, self.ports["ssh-web"]))
            return self.procs.spawn("caddy", [self.tools["caddy"], "run", "--config", conf, "--adapter", "caddyfile"],
                                    self.path("caddy.log"), env=env)

        self.caddy = self.start_on_free_port("caddy", spawn, https_ok, self.path("caddy.log"))

    def check_https(self):
        """Before measuring: each HTTPS path answers 200 with the whole file, to the server name and Host wrk
        sends; records the TLS version and cipher an OpenSSL client (Python's ssl) negotiated with each."""
        for path in PATHS:
            port = self.https_port(path)
            seen = []

            def ok():
                try:
                    status, body, version, cipher = https_get(port, timeout=2.0)
                except (OSError, ValueError) as e:
                    seen.append(str(e))
                    return False
                seen.append(f"{status}, {len(body)} bytes: {body[:200]!r}")
                if status.startswith("HTTP/1.1 200") and len(body) == SMALL_BYTES:
                    self.https_tls[path] = f"{version} {cipher}"
                    return True
                return False

            if not poll_until(ok, 10):
                raise HarnessError(f"https://{HTTPS_HOST}:{port}/index.html on {path} did not answer 200 with the "
                                   f"file within 10 s; last answer: {seen[-1] if seen else 'none'}")

    def prime_launchers(self):
        """Starts the gateway and the agent twice and stops them, so that each launcher has made its class-data
        sharing archives for the copy of the jars the harness runs (an archive only serves the jar path it was
        made for): the first start leaves a dynamic archive and its class list, the second maps that archive and
        makes the static one in the background, which this waits for (at most 60 s). Every start measured after
        this maps the static archive, as every start after a user's second does. Returns the seconds the first
        start took to carry a request (start-up without an archive)."""
        self.start_gateway()
        first = self.start_agent()
        self.stop_tunnels()
        self.start_gateway()
        self.start_agent()

        def made():
            return [j for j in LAUNCHED_JARS if not glob.glob(os.path.join(DIGLETT_HOME, j + ".*.static.jsa"))]
        poll_until(lambda: not made(), 60)
        self.stop_tunnels()
        if made():
            self.warnings.append("no static class-data sharing archive 60 s after the second start: "
                                 + ", ".join(made()))
        return first

    def stop_tunnels(self):
        # Generous: at its first exit a launcher's JVM writes its class-data sharing archive.
        self.procs.stop(self.caddy)
        self.procs.stop(self.ssh)
        self.procs.stop(self.agent, grace=15.0)
        self.procs.stop(self.gateway, grace=15.0)
        self.caddy = self.ssh = self.agent = self.gateway = None

    def start_tunnels(self, order):
        """The gateway, then ssh -R and the agent in the given order; returns their start-up seconds."""
        self.start_gateway()
        startup = {}
        for path in order:
            if path == "ssh":
                startup["ssh"] = self.start_ssh()
            elif path == "diglett":
                startup["diglett"] = self.start_agent()
        return startup

    def start_late_agent(self, deadline, name="late", known_gateways=None):
        """A second agent (name late, to nginx) on the running gateway: the seconds from starting it to the first
        request through its tunnel, or None if that did not happen within deadline seconds."""
        glog, alog = self.path("gateway.log"), self.path(f"agent-{name}.log")
        offset = log_size(glog)
        cmd = [os.path.join(DIGLETT_HOME, "bin", "diglett"), "-g", f"127.0.0.1:{self.ports['gateway']}",
               "--known-gateways", known_gateways or self.path("known_gateways"), "--raw-port",
               "-n", f"{name}=127.0.0.1:{self.ports['nginx']}", *self.o.agent_option]
        start = time.monotonic()
        proc = self.procs.spawn(f"agent-{name}", cmd, alog, env=dict(os.environ, TZ="UTC"))

        def ready():
            m = grep_log(glog, rf"register domain '{name}' -> '(\d+)'", offset)
            return m is not None and http_ok(int(m.group(1)), timeout=1.0)

        try:
            done = poll_until(ready, deadline, proc)
            return time.monotonic() - start if done else None
        finally:
            self.procs.stop(proc, grace=15.0)

    def start_late_ssh(self, deadline, known_hosts=None):
        """A second ssh -R (to nginx) on the running sshd, started again at once whenever it exits (as a
        supervisor like autossh would, at its quickest): the seconds from the first start to the first request
        through its forward, or None if that did not happen within deadline seconds."""
        slog = self.path("ssh-late.log")
        cmd = self.ssh_forward(self.ports["nginx"], known_hosts=known_hosts)
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            offset = log_size(slog)
            proc = self.procs.spawn("ssh-late", cmd, slog)

            def ready():
                m = grep_log(slog, r"Allocated port (\d+) for remote forward", offset)
                return m is not None and http_ok(int(m.group(1)), timeout=1.0)

            try:
                if poll_until(ready, deadline - (time.monotonic() - start), proc):
                    return time.monotonic() - start
            finally:
                self.procs.stop(proc)
            time.sleep(0.1)
        return None

    def start_first_connection(self, path):
        """Scenario 6's second figure: a client that has never connected to this gateway or sshd, its
        known-gateways or known_hosts file new: the agent reads the system trust store and records the gateway's
        certificate (trust on first use), ssh records sshd's key (StrictHostKeyChecking=no, as in every login of
        the harness). A client of its own on the running gateway or sshd, timed before the tunnel's client
        starts, so the agent's is also the first agent of a gateway just started; the seconds from its start to
        the first request through it, None if none within 30 s."""
        fresh = self.path(f"{'known_gateways' if path == 'diglett' else 'known_hosts'}-first-{self.run_index + 1}")
        if os.path.exists(fresh):
            os.remove(fresh)
        self.settle(f"{path}'s first-connection")
        if path == "diglett":
            return self.start_late_agent(30, name="first", known_gateways=fresh)
        return self.start_late_ssh(30, known_hosts=fresh)

    def check_tunnels(self, case):
        """A warning for every tunnel process (gateway, agent, ssh) that exited during case: its figures after that
        moment measure a tunnel that was gone."""
        for name in ("gateway", "agent", "ssh"):
            proc = getattr(self, name)
            if proc is not None and proc.poll() is not None and not getattr(proc, "bench_reported", False):
                proc.bench_reported = True
                self.warnings.append(f"run {self.run_index + 1}: the {name} exited (code {proc.returncode}) during "
                                     f"{case}")
                log(f"     warning: the {name} exited (code {proc.returncode}) during {case}")

    def hostile_client(self, name, args):
        return HostileClient(self, name, args)

    def log_paths(self, path):
        """The logs the hostile scenario counts lines of: (server side, client side)."""
        return {"direct": (self.path("nginx-error.log"), None),
                "ssh": (self.path("sshd.log"), self.path("ssh.log")),
                "diglett": (self.path("gateway.log"), self.path("agent.log"))}[path]

    def web_port(self, path):
        return {"direct": self.ports["nginx"], "ssh": self.ports.get("ssh-web"),
                "diglett": self.ports.get("diglett-web"), REFERENCE: self.ports.get(REFERENCE),
                TUNNEL_SHAPED: self.ports.get(TUNNEL_SHAPED)}[path]

    def https_port(self, path):
        """Scenario 7: nginx's TLS server, Caddy in front of ssh -R, the gateway's HTTPS ingress."""
        return {"direct": self.ports["nginx-tls"], "ssh": self.ports.get("caddy"),
                "diglett": self.ports.get("diglett-https")}[path]

    def iperf_port(self, path):
        return {"direct": self.ports["iperf"], "ssh": self.ports.get("ssh-iperf"),
                "diglett": self.ports.get("diglett-iperf")}[path]

    # --- other work on the machine ---------------------------------------------------------------------

    @contextlib.contextmanager
    def slot(self, key, path):
        """One measurement: first waits (up to --quiet-wait s) until other processes use less than 15% of
        the CPUs, then records how much they used during it."""
        if self.o.quiet_wait > 0:
            deadline = time.monotonic() + self.o.quiet_wait
            told = False
            while True:
                with OtherCpu() as other:
                    time.sleep(1.0)
                if other.share < 0.15:
                    break
                if time.monotonic() > deadline:
                    self.warnings.append(f"{key} on {path}: measured although other processes used "
                                         f"{other.share * 100:.0f}% of the CPUs")
                    break
                if not told:
                    log(f"     waiting for other processes to calm down ({other.share * 100:.0f}% of the CPUs)")
                    told = True
        with OtherCpu() as other:
            yield
        self.other_cpu.append({"run": self.run_index + 1, "figure": key, "path": path,
                               "share": round(other.share, 3)})

    # --- memory -------------------------------------------------------------------------------------------

    def rss_sources(self):
        """Server side: the gateway, or sshd's processes for the ssh -R session (all but its listener).
        Client side: the agent, or the ssh client."""
        sshd_pid = self.sshd.pid
        return {
            ("diglett", "server"): lambda: [self.gateway.pid],
            ("diglett", "client"): lambda: [self.agent.pid],
            ("ssh", "server"): lambda: descendants_of(sshd_pid),
            ("ssh", "client"): lambda: [self.ssh.pid],
        }

    def rss_now(self):
        return {key: rss_mb(pids()) for key, pids in self.rss_sources().items()}

    # --- clients ------------------------------------------------------------------------------------------

    def run_client(self, name, cmd, timeout):
        """Runs a measuring client in its own process group (registered for clean-up); returns (rc, out)."""
        out_path = self.path(f"{name}.out")
        with open(out_path, "wb") as out:
            proc = self.procs.spawn(name, cmd, self.path(f"{name}.err"), stdout=out)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.warnings.append(f"{name} timed out after {timeout} s: {' '.join(cmd)}")
            finally:
                self.procs.stop(proc, grace=2.0)
        with open(out_path, errors="replace") as f:
            text = f.read()
        with open(self.path(f"{name}.err"), errors="replace") as f:
            err = f.read()
        return proc.returncode, text, err

    def iperf3(self, path, streams, reverse, seconds):
        port = self.iperf_port(path)
        cmd = [self.tools["iperf3"], "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-P", str(streams),
               "-J", "--connect-timeout", "5000"]
        if self.o.omit:
            cmd += ["-O", str(self.o.omit)]
        if reverse:
            cmd.append("-R")
        for attempt in range(2):
            rc, out, err = self.run_client("iperf3-client", cmd, seconds + self.o.omit + 30)
            try:
                doc = json.loads(out)
            except ValueError:
                doc = {"error": (out + err)[-500:] or f"exit {rc}"}
            if "error" not in doc:
                return doc["end"]["sum_received"]["bits_per_second"] / 1e9
            # A failed test can leave iperf3 -s believing it is still busy: restart it and try once more.
            self.warnings.append(f"iperf3 {path} -P {streams}{' -R' if reverse else ''}: {doc['error']}")
            self.restart_iperf()
        return None

    def wrk(self, path, conns, seconds, url_path="/index.html", threads=2, name="wrk", https=False):
        """wrk on the path's plain port, or with https on its HTTPS server (https_port), as
        https://HTTPS_HOST:PORT, the name resolving to 127.0.0.1 for wrk alone (resolve_prefix)."""
        if https:
            url = f"https://{HTTPS_HOST}:{self.https_port(path)}{url_path}"
        else:
            url = f"http://127.0.0.1:{self.web_port(path)}{url_path}"
        cmd = [self.tools["wrk"], f"-t{min(threads, conns)}", f"-c{conns}", f"-d{seconds}s", "--latency",
               "--timeout", "5s", url]
        if https:
            cmd = self.resolve + cmd
        rc, out, err = self.run_client(name, cmd, seconds + 60)
        parsed = parse_wrk(out)
        if parsed is None:
            self.warnings.append(f"wrk {path} -c{conns} {url}: no result (exit {rc}) {err[-300:]}")
        return parsed


class ClusterDone(Exception):
    """--cluster-only: its runs are done, the rest of the harness is skipped."""


class HostileClient:
    """bench/hostile.py in its own process: waits for the JSON lines it prints ("ready", then "done" after
    SIGTERM)."""

    def __init__(self, b, name, args):
        self.b, self.name = b, name
        self.out_path = b.path(f"{name}.out")
        with open(self.out_path, "wb") as out:
            self.proc = b.procs.spawn(name, [sys.executable, os.path.join(HERE, "hostile.py")] + [str(a) for a in args],
                                      b.path(f"{name}.err"), stdout=out)

    def event(self, name):
        try:
            with open(self.out_path, errors="replace") as f:
                for line in f:
                    try:
                        doc = json.loads(line)
                    except ValueError:
                        continue
                    if doc.get("event") == name:
                        return doc
        except OSError:
            pass
        return None

    def wait_ready(self, timeout):
        return wait_for(f"{self.name}'s connections", lambda: self.event("ready"), timeout, self.proc,
                        self.b.path(f"{self.name}.err"))

    def stop(self):
        """SIGTERM: it reports what it saw and closes its sockets."""
        self.b.procs.stop(self.proc, grace=20.0)
        return self.event("done") or {}


class PeakSampler:
    """The highest value of each function while running, sampled every 100 ms."""

    def __init__(self, sources, interval=0.1):
        self.sources, self.interval = sources, interval
        self.peak = {label: 0.0 for label in sources}
        self.last = dict(self.peak)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for label, fn in self.sources.items():
                self.last[label] = fn()
                self.peak[label] = max(self.peak[label], self.last[label])
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def tcp_mem_mb():
    """The kernel's memory for TCP buffers, machine-wide (/proc/net/sockstat, pages), in MB."""
    try:
        with open("/proc/net/sockstat") as f:
            m = re.search(r"^TCP:.*\bmem (\d+)", f.read(), re.M)
        return int(m.group(1)) * os.sysconf("SC_PAGE_SIZE") / 1e6 if m else 0.0
    except OSError:
        return 0.0


def poll_until(predicate, timeout, proc=None):
    """predicate's first true value within timeout seconds (polled every 10 ms), None otherwise or once proc
    exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            return None
        time.sleep(0.01)
    return None


def count_lines(path, offset):
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().count(b"\n")
    except OSError:
        return 0


def os_user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
UNITS_BYTES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def parse_wrk(text):
    """requests/s, p50 and p99 latency in ms, errors (socket errors plus non-2xx/3xx), bytes/s."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not rps:
        return None
    result = {"rps": float(rps.group(1)), "errors": 0}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
        result[f"p{pct}"] = float(m.group(1)) * UNITS_MS[m.group(2)] if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        result["errors"] += sum(int(x) for x in m.groups())
        result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        result["errors"] += int(m.group(1))
        result["non2xx"] = int(m.group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB|TB)", text)
    result["bytes_per_s"] = float(m.group(1)) * UNITS_BYTES[m.group(2)] if m else None
    m = re.search(r"(\d+) requests in", text)
    result["requests"] = int(m.group(1)) if m else None
    if result["requests"] == 0:  # wrk prints 0us percentiles when nothing was answered: no latency at all
        result["p50"] = result["p99"] = None
    return result


# ---------------------------------------------------------------------------------------------------------
# one run


def each_path(order, measure, together):
    """Runs measure(path) for every path: one after the other, or (smoke mode, whose figures mean nothing) all at
    once, to keep the smoke run short. Only the HTTP scenarios go together: iperf3 -s serves one test at a time."""
    if not together:
        for path in order:
            measure(path)
        return
    errors = []

    def run(path):
        try:
            measure(path)
        except Exception as e:  # noqa: BLE001  (re-raised below, on the harness's thread)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(path,), daemon=True) for path in order]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise HarnessError("; ".join(str(e) for e in errors))


def rotated(run_index):
    k = run_index % len(PATHS)
    return PATHS[k:] + PATHS[:k]


def with_reference(order, run_index):
    """Scenarios 2 and 3: the run's order with the reference relays at places that move from run to run."""
    order = list(order)
    for reference in REFERENCES:
        order.insert(run_index % (len(order) + 1), reference)
    return order


def one_run(b, index):
    o = b.o
    fig = {}

    def put(key, path, value):
        fig.setdefault(key, {})[path] = value

    b.run_index = index
    log(f"run {index + 1}/{o.runs}: starting the tunnels")
    b.start_gateway()
    order = rotated(index)
    # 6. start-up, a client that has never connected, first: on a gateway that has just started, the day-one
    # case (sshd, which forks a process per connection, has no such state)
    for path in (p for p in order if p in ("ssh", "diglett")):
        with b.slot("startup_first", path):
            put("startup_first", path, b.start_first_connection(path))
    first = {p: "not within 30 s" if v is None else f"{v:.3f} s" for p, v in fig["startup_first"].items()}
    log(f"  first connection: first request after {first.get('ssh')} (ssh -R), {first.get('diglett')} (diglett)")
    # 6. start-up, a returning client: from starting the tunnel's client to the first request through it, on a
    # gateway that has served an agent (the one above), as every restart of an agent on a running gateway is
    for path in order:
        if path == "ssh":
            with b.slot("startup", path):
                put("startup", "ssh", b.start_ssh())
        elif path == "diglett":
            with b.slot("startup", path):
                put("startup", "diglett", b.start_agent())
                fig["startup_phases"] = b.startup_phases
    phases = fig.get("startup_phases", {})
    log(f"  first request after {fig['startup']['ssh']:.3f} s (ssh -R), {fig['startup']['diglett']:.3f} s (diglett; "
        f"its log: dialing at {phases.get('dialing')} s, online at {phases.get('online')} s)")
    time.sleep(o.settle)
    if o.https_only:
        https_scenario(b, fig, order)
        b.stop_tunnels()
        return fig
    for (path, side), value in b.rss_now().items():  # 5. idle memory
        put(f"rss_{side}_idle", path, value)

    if o.warmup:
        # The JVM's JIT compiles for the first 20-30 s of traffic: with only a short warm-up, the compiler threads
        # took about 15% of the machine during the first bulk measurement (docs/benchmarks.md). Every bulk variant
        # runs briefly first, so each measurement sees code compiled for it, as a long-running tunnel does. So does
        # wrk at the many-connections count: on a fresh gateway and agent, three 10 s runs of 1,000 connections
        # back to back had p99s of 788, 435 and 173 ms (docs/benchmarks.md, 2026-12-06).
        log("  warm-up")
        for path in with_reference(order, index):
            b.wrk(path, o.conns, o.warmup, name="warmup")
            b.wrk(path, o.many, o.warmup, name="warmup-many")
            if path in PATHS:
                for streams, reverse in o.variants:
                    b.iperf3(path, streams, reverse, o.bulk_warmup)

    log("  1. bulk throughput (iperf3)")
    for streams, reverse in o.variants:
        key = f"bulk_{streams}_{'down' if reverse else 'up'}"
        for path in order:
            with b.slot(key, path):
                put(key, path, b.iperf3(path, streams, reverse, o.duration))
        log("     " + key + ": " + fmt_paths(fig[key], "Gbit/s"))

    log(f"  2. HTTP, {o.conns} keep-alive connections")

    def c32(path):
        with b.slot("c32", path):
            r = b.wrk(path, o.conns, o.duration, name=f"wrk-{path}") or {}
        put("c32_rps", path, r.get("rps"))
        put("c32_p50", path, r.get("p50"))
        put("c32_p99", path, r.get("p99"))
        put("c32_errors", path, r.get("errors"))

    each_path(with_reference(order, index), c32, o.smoke)
    log("     req/s " + fmt_paths(fig["c32_rps"], "") + "; p99 " + fmt_paths(fig["c32_p99"], "ms"))

    log(f"  3. HTTP, {o.many} connections; 5. memory at {o.many} connections")

    def many(path):
        sources = {side: pids for (p, side), pids in b.rss_sources().items() if p == path}
        with b.slot("c1k", path), RssSampler(sources) as sampler:
            r = b.wrk(path, o.many, o.duration, name=f"wrk-{path}") or {}
        for side, peak in sampler.peak.items():
            put(f"rss_{side}_1k", path, peak)
        put("c1k_rps", path, r.get("rps"))
        put("c1k_p50", path, r.get("p50"))
        put("c1k_p99", path, r.get("p99"))
        put("c1k_errors", path, r.get("errors"))
        if r.get("socket_errors") and r["errors"]:
            put("c1k_error_detail", path, {**r["socket_errors"], "non2xx": r.get("non2xx", 0)})

    each_path(with_reference(order, index), many, o.smoke)
    log("     req/s " + fmt_paths(fig["c1k_rps"], "") + "; errors " + fmt_paths(fig["c1k_errors"], ""))

    log(f"  4. small requests ({o.conns} connections) while a large download saturates the same tunnel")

    def loaded(path):
        result = {}

        def bulk():  # starts half a second before the small requests and ends half a second after them
            result["bulk"] = b.wrk(path, 1, o.duration + 1, url_path="/large.bin", threads=1,
                                   name=f"wrk-bulk-{path}")

        with b.slot("load", path):
            t = threading.Thread(target=bulk)
            t.start()
            time.sleep(0.5)
            r = b.wrk(path, o.conns, o.duration, name=f"wrk-{path}") or {}
            t.join()
        bulk_r = result.get("bulk") or {}
        put("load_p50", path, r.get("p50"))
        put("load_p99", path, r.get("p99"))
        put("load_rps", path, r.get("rps"))
        put("load_bulk", path, bulk_r["bytes_per_s"] * 8 / 1e9 if bulk_r.get("bytes_per_s") else None)

    each_path(order, loaded, o.smoke)
    log("     p99 " + fmt_paths(fig["load_p99"], "ms") + "; bulk alongside " + fmt_paths(fig["load_bulk"], "Gbit/s"))

    time.sleep(o.settle)
    for (path, side), value in b.rss_now().items():
        put(f"rss_{side}_after", path, value)
    https_scenario(b, fig, order)
    b.stop_tunnels()
    return fig


def https_scenario(b, fig, order):
    """7. The HTTPS ingress at HTTPS_CONNS keep-alive connections, wrk over TLS on the small file: nginx's own TLS
    server (direct: the limit of an HTTPS server here), Caddy terminating TLS in front of this run's ssh -R
    port (the setup people use without Diglett; its figures go under the path "ssh"), and the gateway's built-in
    HTTPS ingress routing web.HTTPS_DOMAIN through the agent link. It runs after the memory figures were taken,
    so it changes none of the other scenarios' figures."""
    o = b.o

    def put(key, path, value):
        fig.setdefault(key, {})[path] = value

    log(f"  7. HTTPS ingress, {HTTPS_CONNS} keep-alive connections: nginx over TLS (direct), Caddy + ssh -R, "
        "diglett's ingress")
    b.start_caddy()
    b.check_https()
    if o.warmup:
        for path in order:
            b.wrk(path, HTTPS_CONNS, o.warmup, name="warmup", https=True)

    def https(path):
        with b.slot("https", path):
            r = b.wrk(path, HTTPS_CONNS, o.duration, name=f"wrk-https-{path}", https=True) or {}
        put("https_rps", path, r.get("rps"))
        put("https_p50", path, r.get("p50"))
        put("https_p99", path, r.get("p99"))
        put("https_errors", path, r.get("errors"))
        if r.get("errors"):
            put("https_error_detail", path, {**(r.get("socket_errors") or {}), "non2xx": r.get("non2xx", 0)})

    each_path(order, https, o.smoke)
    if b.caddy.poll() is not None:
        b.warnings.append(f"run {b.run_index + 1}: Caddy exited (code {b.caddy.returncode}) during the HTTPS "
                          "scenario")
    log("     req/s " + fmt_paths(fig["https_rps"], "") + " (ssh = Caddy + ssh -R); p99 "
        + fmt_paths(fig["https_p99"], "ms") + "; errors " + fmt_paths(fig["https_errors"], ""))


CLUSTER_PATHS = ("direct", "holder", "forwarding")
CLUSTER_HOSTS = {"direct": "127.0.0.1", "holder": "127.0.0.2", "forwarding": "127.0.0.3"}
CLUSTER_TARGET = 0.75  # issue 18: forwarding costs at most 25% of the holder's req/s
CLUSTER_PORTS = 200  # the nodes' --port-range: a block of free ports, the same on both
# What every node and the agent log at each start of the bench (no token file, a generated certificate, trust on
# first use): not a problem of the run. Any other WARN or ERROR line of theirs goes to the report's warnings.
CLUSTER_EXPECTED_WARNINGS = r"no --auth-file|generated a new self-signed TLS certificate|FIRST CONNECTION to gateway"


def bindable(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port_range(count, hosts):
    """The first port of a block of count ports, every one of them bindable now on every host, outside the
    kernel's ephemeral range (where the clients' own outgoing connections would take ports of the block meanwhile,
    and a node that cannot listen on a name's port does not serve it)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph_low, eph_high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        eph_low, eph_high = 32768, 60999
    starts = list(range(10000, eph_low - count + 1, count)) + list(range(eph_high + 1, 65536 - count + 1, count))
    random.shuffle(starts)
    for start in starts[:50]:
        if all(bindable(host, port) for port in range(start, start + count) for host in hosts):
            return start
    raise HarnessError(f"no block of {count} free ports on {', '.join(hosts)} outside the ephemeral range "
                       f"{eph_low}-{eph_high}")


def register_tmpdir(b, path):
    """A temp dir outside the work dir (etcd's data on /dev/shm): bench/run's trap removes those listed in
    $BENCH_WORK/tmpdirs if this script dies before its own clean-up."""
    with open(b.path("tmpdirs"), "a") as f:
        f.write(path + "\n")


def start_etcd(b, index):
    """One etcd member on free client and peer ports of 127.0.0.1, its data in a temp dir on /dev/shm (memory:
    its fsyncs cost nothing); ready once /health says so. Another pair of ports if that failed (taken
    meanwhile). Returns (process, client URL, data dir)."""
    etcd_log = b.path(f"etcd-{index}.log")
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    for attempt in range(3):
        data = tempfile.mkdtemp(prefix="diglett-bench-etcd.", dir=shm)
        register_tmpdir(b, data)
        client, peer = free_port(), free_port()
        url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        proc = b.procs.spawn("etcd", [b.tools["etcd"], "--name", "n1", "--data-dir", data,
                                      "--listen-client-urls", url, "--advertise-client-urls", url,
                                      "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                                      "--initial-cluster", f"n1={peer_url}", "--initial-cluster-state", "new",
                                      "--log-level", "warn"], etcd_log)

        def healthy():
            try:  # straight to it: an http_proxy of the environment must not take 127.0.0.1
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url + "/health",
                                                                                      timeout=1) as r:
                    return b'"health":"true"' in r.read()
            except OSError:
                return False

        try:
            wait_for(f"etcd healthy on {url}", healthy, 20, proc, etcd_log)
            return proc, url, data
        except HarnessError:
            b.procs.stop(proc)
            shutil.rmtree(data, ignore_errors=True)
            if attempt == 2:
                raise


def cluster_run(b, index):
    """8. Cluster mode (issue 18): two gateway nodes on one etcd, 127.0.0.2 (the holder: the agent is connected to
    it) and 127.0.0.3 (forwarding: it has no agent of its own and carries every connection to the holder as a
    stream of its node link for the name), the same raw port on both. Requests/s and latency (wrk, the small file, 32
    keep-alive connections) and the 1-stream download (iperf3 -R) through each, beside direct (nginx and iperf3
    themselves), the paths one after the other, the order rotating from run to run. Everything is started for
    the run and stopped after it (agent, nodes, etcd; etcd's data dir removed). Returns figures[key][path] with
    the paths CLUSTER_PATHS."""
    o = b.o
    fig = {}

    def put(key, path, value):
        fig.setdefault(key, {})[path] = value

    procs, data = [], None
    try:
        etcd, url, data = start_etcd(b, index)
        procs.append(etcd)
        secret = b.path("cluster.secret")
        with open(secret, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        os.chmod(secret, 0o600)
        low = free_port_range(CLUSTER_PORTS, (CLUSTER_HOSTS["holder"], CLUSTER_HOSTS["forwarding"]))
        b.cluster_port_range = f"{low}-{low + CLUSTER_PORTS - 1}"
        # One state dir for both nodes: every node of a cluster presents the same certificate to agents. The
        # holder starts first and generates it; the forwarding node finds it there.
        state = b.path(f"cluster-state-{index}")
        nodes = {}
        for name in ("holder", "forwarding"):
            host, glog = CLUSTER_HOSTS[name], b.path(f"node-{name}-{index}.log")
            cmd = [os.path.join(DIGLETT_HOME, "bin", "diglett-server"), "-l", f"{host}:0", "--bind", host,
                   "--state-dir", state, "--max-connections-per-ip", "0", "--port-range", b.cluster_port_range,
                   "--cluster-etcd", url, "--node-name", name, "--node-listen", f"{host}:0",
                   "--cluster-secret-file", secret]
            proc = b.procs.spawn(f"node-{name}", cmd, glog, env=dict(os.environ, TZ="UTC"))
            procs.append(proc)
            m = wait_for(f"node {name} listening for agents", lambda: grep_log(glog, r"listening for agents on \S+:(\d+)"),
                         60, proc, glog)
            wait_for(f"node {name} joined the cluster", lambda: grep_log(glog, r"cluster: node \S+ joined"), 10, proc,
                     glog)
            nodes[name] = (proc, int(m.group(1)), glog)
        holder, agent_port, hlog = nodes["holder"]
        alog = b.path(f"cluster-agent-{index}.log")
        # As the harness's other agents: trust on first use (a known-gateways file of its own), the agent's defaults.
        # Without --domain on the nodes every name gets a raw port: no --raw-port needed.
        agent = b.procs.spawn("cluster-agent", [
            os.path.join(DIGLETT_HOME, "bin", "diglett"), "-g", f"{CLUSTER_HOSTS['holder']}:{agent_port}",
            "--known-gateways", b.path(f"cluster-known-{index}"), "-n", f"web=127.0.0.1:{b.ports['nginx']}",
            "-n", f"iperf=127.0.0.1:{b.ports['iperf']}", *o.agent_option], alog, env=dict(os.environ, TZ="UTC"))
        procs.append(agent)
        web = int(wait_for("the agent online with 'web'",
                           lambda: grep_log(alog, r"online: 'web' is reachable at \S+:(\d+)"), 60, agent, alog).group(1))
        iperf = int(wait_for("the agent online with 'iperf'",
                             lambda: grep_log(alog, r"online: 'iperf' is reachable at \S+:(\d+)"), 30, agent,
                             alog).group(1))
        web_port = {"direct": b.ports["nginx"], "holder": web, "forwarding": web}
        iperf_port = {"direct": b.ports["iperf"], "holder": iperf, "forwarding": iperf}
        # The forwarding node listens on the name's port once its etcd watch sees the registration: a request
        # through it must succeed (forwarded to the holder, through the agent, to nginx) before measuring.
        wait_for("a request through the holder", lambda: http_ok(web, timeout=1.0, host=CLUSTER_HOSTS["holder"]),
                 30, holder, hlog)
        fproc, _, flog = nodes["forwarding"]
        wait_for(f"the forwarding node serving 'web' on {CLUSTER_HOSTS['forwarding']}:{web}",
                 lambda: http_ok(web, timeout=1.0, host=CLUSTER_HOSTS["forwarding"]), 30, fproc, flog)
        wait_for(f"the forwarding node listening on 'iperf''s port {CLUSTER_HOSTS['forwarding']}:{iperf}",
                 lambda: listening(CLUSTER_HOSTS["forwarding"], iperf), 30, fproc, flog)
        order = list(CLUSTER_PATHS[index % 3:] + CLUSTER_PATHS[:index % 3])

        def wrk(path, seconds, name):
            cmd = [b.tools["wrk"], "-t2", f"-c{o.conns}", f"-d{seconds}s", "--latency", "--timeout", "5s",
                   f"http://{CLUSTER_HOSTS[path]}:{web_port[path]}/index.html"]
            rc, out, err = b.run_client(name, cmd, seconds + 60)
            parsed = parse_wrk(out)
            if parsed is None:
                b.warnings.append(f"run {index + 1}: cluster wrk {path}: no result (exit {rc}) {err[-300:]}")
            return parsed or {}

        def download(path, seconds):
            cmd = [b.tools["iperf3"], "-c", CLUSTER_HOSTS[path], "-p", str(iperf_port[path]), "-t", str(seconds),
                   "-P", "1", "-R", "-J", "--connect-timeout", "5000"]
            if o.omit:
                cmd += ["-O", str(o.omit)]
            for attempt in range(2):
                rc, out, err = b.run_client("iperf3-cluster", cmd, seconds + o.omit + 30)
                try:
                    doc = json.loads(out)
                except ValueError:
                    doc = {"error": (out + err)[-300:] or f"exit {rc}"}
                if "error" not in doc:
                    return doc["end"]["sum_received"]["bits_per_second"] / 1e9
                # As b.iperf3: a failed test can leave iperf3 -s busy; the same port again, the tunnels go there.
                b.warnings.append(f"run {index + 1}: cluster iperf3 -R on {path}: {doc['error']}")
                b.restart_iperf()
            return None

        log(f"  8. cluster: holder node {CLUSTER_HOSTS['holder']}, forwarding node {CLUSTER_HOSTS['forwarding']}, "
            f"'web' on port {web} and 'iperf' on {iperf} of both")
        if o.cluster_warmup:
            # Fresh JVMs: each node's JIT compiles for its first traffic (the other scenarios' gateway has served
            # a minute of it by their HTTP figures). Each path runs first as it is measured, so that no node is
            # measured while it compiles the code for it.
            for path in order:
                wrk(path, o.cluster_warmup, "warmup")
                download(path, o.bulk_warmup)
        for path in order:
            with b.slot("cluster_rps", path):
                r = wrk(path, o.duration, f"wrk-cluster-{path}")
            put("cluster_rps", path, r.get("rps"))
            put("cluster_p50", path, r.get("p50"))
            put("cluster_p99", path, r.get("p99"))
            put("cluster_errors", path, r.get("errors"))
            if r.get("errors"):
                put("cluster_error_detail", path, {**(r.get("socket_errors") or {}), "non2xx": r.get("non2xx", 0)})
        for path in order:
            with b.slot("cluster_down", path):
                put("cluster_down", path, download(path, o.duration))
        log("     req/s " + fmt_paths(fig["cluster_rps"], "") + "; p99 " + fmt_paths(fig["cluster_p99"], "ms")
            + "; download " + fmt_paths(fig["cluster_down"], "Gbit/s"))
        ratio = report.per_run_ratio({"runs": [fig]}, "cluster_rps", "forwarding", "holder")
        log(f"     forwarding / holder req/s: {report.fmt_ratio(ratio)} (target: at least {CLUSTER_TARGET:g})")
        for proc in procs:
            if proc.poll() is not None:
                b.warnings.append(f"run {index + 1}: the cluster's {proc.bench_name} exited (code {proc.returncode}) "
                                  "during the measurements")
                log(f"     warning: the cluster's {proc.bench_name} exited (code {proc.returncode})")
        for what, path in (("node holder", hlog), ("node forwarding", flog), ("agent", alog)):
            problems = [line for line in grep_all(path, r" (WARN|ERROR) ")
                        if not re.search(CLUSTER_EXPECTED_WARNINGS, line)]
            if problems:
                b.warnings.append(f"run {index + 1}: cluster {what} logged {len(problems)} warning(s) or error(s): "
                                  + " | ".join(problems[:3]) + (" | ..." if len(problems) > 3 else ""))
                log(f"     warning: the cluster's {what} logged {len(problems)} WARN/ERROR line(s), first: {problems[0]}")
        return fig
    finally:
        for proc in reversed(procs):  # agent, forwarding node, holder, etcd
            b.procs.stop(proc, grace=15.0)
        if data:
            shutil.rmtree(data, ignore_errors=True)


def hostile_run(b, index):
    """Issue 14's hostile clients, each case on fresh tunnels (what one case leaves behind, a crashed link or
    memory not given back, must not weigh on the next): stalled readers, idle sockets at the agent port, many
    connections. Returns (figures, details): figures[key][path] like one_run's, details the clients' reports."""
    o = b.o
    fig, details = {}, {}

    def put(key, path, value):
        fig.setdefault(key, {})[path] = value

    def note(key, path, value):
        details.setdefault(key, {})[path] = value

    b.run_index = index
    order = rotated(index)

    def fresh_tunnels(case):
        log(f"  hostile: starting fresh tunnels for {case}")
        startup = b.start_tunnels(order)
        if o.warmup:
            for path in order:
                b.wrk(path, o.conns, o.warmup, name="warmup")
        return startup

    def offsets(path):
        return [log_size(p) if p else 0 for p in b.log_paths(path)]

    def lines(path, since):
        return [count_lines(p, off) for p, off in zip(b.log_paths(path), since)]

    def rss_of(path):
        return {side: (lambda pids=pids: rss_mb(pids())) for (p, side), pids in b.rss_sources().items()
                if p == path}

    # --- 1. stalled readers ---------------------------------------------------------------------------------
    fresh_tunnels("stalled readers")
    log(f"  hostile 1. {o.stalled:,} clients that request {BIG_BYTES >> 20} MiB and never read; wrk -c{o.stall_conns} "
        "alongside")

    def stalled(path):
        port = b.web_port(path)
        with b.slot("stall_idle", path):
            r = b.wrk(path, o.stall_conns, o.duration, name=f"wrk-{path}") or {}
        put("stall_idle_rps", path, r.get("rps"))
        put("stall_idle_p99", path, r.get("p99"))
        since = offsets(path)
        sources = rss_of(path)
        sources["tcp_mem"] = tcp_mem_mb
        started = time.monotonic()
        with b.slot("stall", path), PeakSampler(sources) as sampler:
            client = b.hostile_client(f"stall-{path}", ["stall", "--port", port, "--count", o.stalled,
                                                        "--path", "/big.bin"])
            try:
                ready = client.wait_ready(300)
                # Until the buffers along the path are full: the kernel's TCP memory and both sides'
                # RSS grow less than 2% in a second (at most o.stall_settle: 15 s, smoke 3 s).
                settle_start = time.monotonic()
                prev = dict(sampler.last)
                while time.monotonic() - settle_start < o.stall_settle:
                    time.sleep(1.0)
                    cur = dict(sampler.last)
                    if all(cur[k] <= prev[k] * 1.02 + 1.0 for k in cur):
                        break
                    prev = cur
                settled = time.monotonic() - settle_start
                r = b.wrk(path, o.stall_conns, o.duration, name=f"wrk-stall-{path}") or {}
            finally:
                done = client.stop()
            time.sleep(1.0)  # what the closing makes the tunnel log counts too
        seconds = time.monotonic() - started
        server_lines, client_lines = lines(path, since)
        put("stall_rps", path, r.get("rps"))
        put("stall_p99", path, r.get("p99"))
        put("stall_errors", path, r.get("errors"))
        put("stall_connected", path, ready.get("connected"))
        put("stall_answered", path, done.get("with_response_bytes"))
        put("stall_dropped", path, done.get("dropped_by_server"))
        put("stall_tcp_mem", path, sampler.peak["tcp_mem"])
        put("stall_seconds", path, round(seconds, 2))
        put("stall_log_server", path, server_lines)
        if client_lines is not None:
            put("stall_log_client", path, client_lines)
        for side in ("server", "client"):
            if side in sampler.peak:
                put(f"rss_{side}_stall", path, sampler.peak[side])
        # The same port answers again once they are gone (an agent that lost its link comes back elsewhere).
        after = poll_until(lambda: http_ok(port, timeout=1.0), 5 if o.smoke else 10)
        put("stall_after_ok", path, 1 if after else 0)
        note("stall_client", path, {"ready": ready, "done": done, "settle_s": round(settled, 2)})
        b.check_tunnels(f"the stalled readers on {path}")

    for path in order:
        stalled(path)
    log("     req/s beside them " + fmt_paths(fig["stall_rps"], "") + " (idle: "
        + fmt_paths(fig["stall_idle_rps"], "") + ")")
    b.stop_tunnels()

    # --- 2. idle sockets at the agent port ----------------------------------------------------------------
    startup = fresh_tunnels("idle sockets at the agent port")
    for path in ("ssh", "diglett"):
        put("idle_baseline", path, startup.get(path))
    log(f"  hostile 2. {o.idle_sockets:,} idle sockets at the agent port (sshd's port); a new agent (ssh -R) "
        "registers")
    spread = ",".join(f"127.{1 + i // 62500}.{i // 250 % 250}.{1 + i % 250}" for i in range(o.idle_sockets))
    for variant, sources in (("one", "127.0.0.2"), ("spread", spread)):
        for path in order:
            if path == "direct":
                continue  # no agent port: nothing to register
            port = b.ports["gateway"] if path == "diglett" else b.ports["sshd"]
            since = offsets(path)
            client = b.hostile_client(f"idle-{path}", ["idle", "--port", port, "--count", o.idle_sockets,
                                                       "--sources", sources])
            try:
                ready = client.wait_ready(120)
                with b.slot(f"idle_{variant}", path):
                    t = b.start_late_agent(o.register_deadline) if path == "diglett" else \
                        b.start_late_ssh(o.register_deadline)
            finally:
                done = client.stop()
            key = "idle_register" if variant == "one" else "idle_register_spread"
            put(key, path, None if t is None else round(t, 3))
            put(f"{key}_held", path, done.get("open_median"))
            put(f"{key}_log_server", path, lines(path, since)[0])
            note(key, path, {"ready": ready, "done": done, "deadline_s": o.register_deadline})
            b.check_tunnels(f"the idle sockets ({variant}) on {path}")
        log(f"     from {'127.0.0.2' if variant == 'one' else f'{o.idle_sockets:,} addresses'}: "
            + ", ".join(f"{p} " + (f"{v:.3f} s" if v is not None else f"not within {o.register_deadline:g} s")
                        for p, v in fig[key].items()))
    b.stop_tunnels()

    # --- 3. many connections through one tunnel --------------------------------------------------------------
    fresh_tunnels(f"{o.hostile_conns:,} connections")
    log(f"  hostile 3. {o.hostile_conns:,} keep-alive connections through one tunnel")

    def many(path):
        since = offsets(path)
        with b.slot("many", path), PeakSampler(rss_of(path)) as sampler:
            r = b.wrk(path, o.hostile_conns, o.duration, name=f"wrk-many-{path}") or {}
        server_lines, client_lines = lines(path, since)
        put("many_rps", path, r.get("rps"))
        put("many_requests", path, r.get("requests"))
        put("many_errors", path, r.get("errors"))
        put("many_p99", path, r.get("p99"))
        put("many_log_server", path, server_lines)
        if client_lines is not None:
            put("many_log_client", path, client_lines)
        for side, peak in sampler.peak.items():
            put(f"rss_{side}_many", path, peak)
        if r.get("socket_errors") or r.get("non2xx"):
            note("many_errors", path, {**(r.get("socket_errors") or {}), "non2xx": r.get("non2xx", 0)})
        b.check_tunnels(f"{o.hostile_conns:,} connections on {path}")

    for path in order:
        many(path)
    log("     req/s " + fmt_paths(fig["many_rps"], "") + "; errors " + fmt_paths(fig["many_errors"], ""))
    b.stop_tunnels()
    return fig, details


def fmt_paths(values, unit):
    parts = []
    for path in PATHS + REFERENCES + tuple(p for p in CLUSTER_PATHS if p not in PATHS):
        if path in values:
            v = values[path]
            parts.append(f"{path} {'failed' if v is None else report.fmt_num(v)}")
    return ", ".join(parts) + (f" {unit}" if unit else "")


# ---------------------------------------------------------------------------------------------------------


def tool_version(cmd, pattern=None):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        text = (out.stdout + out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if pattern:
        m = re.search(pattern, text)
        return m.group(0) if m else text.splitlines()[0] if text else "unknown"
    return text.splitlines()[0] if text else "unknown"


def cpu_busy(seconds=2.0):
    """Share of the CPUs busy over a short interval (before the run: others' load skews every figure)."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)
    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine_info(b):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = m.group(1).strip() if m else platform.processor() or "unknown"
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
            mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass
    git = tool_version(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "os": tool_version(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "java": tool_version([b.tools["java"], "-version"], r"(OpenJDK|Java\(TM\)) [^\n]*VM[^\n]*"),
        "diglett": git,
        "nginx": tool_version([b.tools["nginx"], "-v"], r"nginx/\S+"),
        "iperf3": tool_version([b.tools["iperf3"], "--version"], r"iperf \S+"),
        "wrk": tool_version([b.tools["wrk"], "-v"], r"wrk \S+"),
        "openssh": tool_version([b.tools["ssh"], "-V"], r"OpenSSH_[^,\s]+"),
        "caddy": tool_version([b.tools["caddy"], "version"]),
        "haproxy": tool_version([b.tools["haproxy"], "-v"], r"HAProxy version \S+"),
        **({"etcd": tool_version([b.tools["etcd"], "--version"], r"etcd Version: \S+")}
           if shutil.which(b.tools["etcd"]) else {}),
        "openssl": tool_version([b.tools["openssl"], "version"], r"OpenSSL \S+"),
        "gnuplot": tool_version([b.tools["gnuplot"], "--version"]),
        "python": platform.python_version(),
    }


def median_figures(runs, paths=PATHS + REFERENCES):
    keys = []
    for fig in runs:
        for key in fig:
            if key not in keys:
                keys.append(key)
    med = {}
    for key in keys:
        med[key] = {}
        for path in paths:
            values = [fig[key][path] for fig in runs if path in fig.get(key, {})]
            nums = [v for v in values if isinstance(v, (int, float))]
            if values and not nums:
                med[key][path] = None
            elif nums:
                med[key][path] = statistics.median(nums)
    return med


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=None, help="repetitions; the median is quoted (default 3)")
    ap.add_argument("--smoke", action="store_true",
                    help="about a minute: 1 run, 1-2 s durations, fewer connections and hostile clients; report to a "
                         "temp dir")
    ap.add_argument("--duration", type=float, default=None, help="seconds per measurement (default 10)")
    ap.add_argument("--connections", type=int, default=None, help="the many-connections scenario (default 1000)")
    ap.add_argument("--hostile", action="store_true",
                    help="only the hostile-clients scenario (issue 14); a run without it measures every scenario")
    ap.add_argument("--https-only", action="store_true",
                    help="only scenario 7, the HTTPS ingress (with the start-up of the tunnels it needs); report to a "
                         "temp dir, never published")
    ap.add_argument("--cluster-only", action="store_true",
                    help="only scenario 8 (two gateway nodes on etcd: through the holder and through a forwarding "
                         "node); report to a temp dir unless --out")
    ap.add_argument("--stalled", type=int, default=None,
                    help="hostile: clients that request the 512 MiB file and never read (default 3000; smoke 300)")
    ap.add_argument("--idle-sockets", type=int, default=None,
                    help="hostile: idle connections held at the agent port (default 2000; smoke 200)")
    ap.add_argument("--hostile-connections", type=int, default=None,
                    help="hostile: keep-alive connections through one tunnel (default 10000; smoke 1000)")
    ap.add_argument("--agent-option", action="append", default=[], metavar="OPTION",
                    help="an option added to the agent's command line, e.g. --agent-option=--links=1 (repeatable; "
                         "shown in the report's settings)")
    ap.add_argument("--out", default=None, help="report directory (default docs/; with --smoke a temp dir)")
    ap.add_argument("--results", default=None, help="raw JSON directory (default bench/results/)")
    ap.add_argument("--quiet-wait", type=float, default=None,
                    help="before each measurement, wait up to S seconds for other processes to use less than "
                         "15%% of the CPUs (default 120; 0 with --smoke)")
    ap.add_argument("--report", metavar="JSON", default=None,
                    help="measure nothing: write the page and chart again from raw results (to --out, default docs/)")
    o = ap.parse_args(argv)
    if o.report:
        with open(o.report) as f:
            doc = json.load(f)
        out = o.out or os.path.join(ROOT, "docs")
        print(report.write(doc, out, shutil.which("gnuplot") or "gnuplot", os.path.abspath(o.report)))
        return 0
    work = os.environ.get("BENCH_WORK")
    if not work:
        import tempfile
        work = tempfile.mkdtemp(prefix="diglett-bench.")
    o.conns = 32
    o.stall_conns = 8  # wrk beside the stalled clients
    o.regular = not o.hostile and not o.cluster_only
    if sum([o.hostile, o.https_only, o.cluster_only]) > 1:
        ap.error("--hostile, --https-only and --cluster-only each measure only their own scenario: give one of them")
    if o.smoke:
        o.runs = o.runs or 1
        o.duration = o.duration or 1
        o.many = o.connections or 200
        o.omit, o.warmup, o.bulk_warmup, o.settle = 0, 0, 0, 0.2
        o.quiet_wait = o.quiet_wait if o.quiet_wait is not None else 0
        o.variants = [(1, False), (4, True)]
        o.stalled = o.stalled or 300
        o.idle_sockets = o.idle_sockets or 200
        o.hostile_conns = o.hostile_connections or 1000
        o.stall_settle, o.register_deadline = 3, 10
        o.cluster_warmup = 0
        o.out = o.out or os.path.join(work, "report")
        o.results = o.results or o.out
    else:
        o.runs = o.runs or 3
        o.duration = o.duration or 10
        o.many = o.connections or 1000
        o.omit, o.warmup, o.bulk_warmup, o.settle = 1, 3, 2, 2.0
        o.quiet_wait = o.quiet_wait if o.quiet_wait is not None else 120
        o.variants = [(1, False), (1, True), (4, False), (4, True)]
        o.stalled = o.stalled or 3000
        o.idle_sockets = o.idle_sockets or 2000
        o.hostile_conns = o.hostile_connections or 10000
        o.stall_settle, o.register_deadline = 15, 30
        o.cluster_warmup = o.warmup  # the nodes are fresh JVMs: each path warmed up as in the other scenarios
        only = o.https_only or o.cluster_only
        o.out = o.out or (os.path.join(work, "report") if only else os.path.join(ROOT, "docs"))
        o.results = o.results or (o.out if only else os.path.join(HERE, "results"))
    o.duration = int(o.duration) if float(o.duration).is_integer() else o.duration
    os.makedirs(o.out, exist_ok=True)
    os.makedirs(o.results, exist_ok=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)
    def settings(elapsed):
        return {
            "mode": "smoke" if o.smoke else "full",
            "runs": o.runs,
            "duration_s": o.duration,
            "iperf3_omit_s": o.omit,
            "warmup_s": o.warmup,
            "warmup_many": bool(o.warmup),  # wrk at the many-connections count in the warm-up too
            "bulk_warmup_s": o.bulk_warmup,
            "connections": o.conns,
            "many_connections": o.many,
            "wrk_threads": 2,
            "variants": [f"{s} stream{'s' if s > 1 else ''} {'download (-R)' if r else 'upload'}" for s, r in o.variants],
            "small_file_bytes": SMALL_BYTES,
            "large_file_bytes": LARGE_BYTES,
            "ssh_cipher": b.ssh_cipher,
            **({"only": "https"} if o.https_only else {"only": "cluster"} if o.cluster_only else {}),
            # Scenario 7: the peer under the path "ssh" is Caddy in front of the ssh -R port.
            "https_connections": HTTPS_CONNS,
            "https_domain": HTTPS_DOMAIN,
            "https_url": f"https://{HTTPS_HOST}:PORT/index.html",
            "https_peer": "Caddy + ssh -R",
            "https_resolve": b.resolve_description(),
            "https_tls": b.https_tls,
            "https_nginx": "listen 127.0.0.1:PORT ssl; ssl_protocols TLSv1.3;",
            "caddy_config": b.caddy_config("CADDY_PORT", "SSH_R_PORT").replace(b.work, "$WORK"),
            "https_cert": f"self-signed, EC P-256, *.{HTTPS_DOMAIN} and {HTTPS_DOMAIN} (openssl req -x509)",
            # One agent port for the whole harness (start_gateway): every timed agent start is a returning agent,
            # as every timed ssh is; scenario 6's startup_first is a client with nothing recorded, timed first
            # in each run, on the gateway just started; the returning start after it (startup_first_before).
            "startup_first": True,
            "startup_first_before": True,
            "gateway_args": ["-l", "127.0.0.1:PORT", "--bind", "127.0.0.1", "--max-connections-per-ip", "0",
                             "--domain", HTTPS_DOMAIN, "--https", "127.0.0.1:0", "--https-cert", "FILE",
                             "--https-key", "FILE"],
            "agent_args": ["--raw-port", "-n", "web=127.0.0.1:NGINX_PORT", "-n", "iperf=127.0.0.1:IPERF_PORT",
                           *o.agent_option],
            "agent_links_default": f"one per two of the machine's cores, at most 8: {max(1, min((os.cpu_count() or 1) // 2, 8))} here",
            "diglett_java_opts": os.environ.get("DIGLETT_JAVA_OPTS") or launcher_java_opts(),
            "transport": b.transport,
            "quiet_wait_s": o.quiet_wait,
            "open_files_limit": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0],
            "elapsed_s": round(elapsed, 1),
        }

    def hostile_settings():
        return {
            "mode": "smoke" if o.smoke else "full",
            "runs": len(hostile_runs),
            "duration_s": o.duration,
            "warmup_s": o.warmup,
            "stalled": o.stalled,
            "stall_conns": o.stall_conns,
            "stall_settle_s": o.stall_settle,
            "stall_rcvbuf": 4096,
            "big_file_bytes": BIG_BYTES,
            "idle_sockets": o.idle_sockets,
            "idle_reopen_delay_s": 1.0,
            "register_deadline_s": o.register_deadline,
            "hostile_connections": o.hostile_conns,
            "connections": o.conns,
            "tcp_mem": open("/proc/sys/net/ipv4/tcp_mem").read().split(),
            "tcp_wmem": open("/proc/sys/net/ipv4/tcp_wmem").read().split(),
        }

    def hostile_doc():
        return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                "diglett": info.get("diglett"), "settings": hostile_settings(), "runs": hostile_runs,
                "median": median_figures(hostile_runs), "details": hostile_details}

    b = Bench(o, work)
    started = time.monotonic()
    runs, hostile_runs, hostile_details, cluster_runs = [], [], [], []

    def cluster_doc():
        return {"runs": cluster_runs, "median": median_figures(cluster_runs, CLUSTER_PATHS),
                "nodes": f"two gateway nodes on one etcd member: holder {CLUSTER_HOSTS['holder']} (the agent's), "
                         f"forwarding {CLUSTER_HOSTS['forwarding']}",
                "settings": {"duration_s": o.duration, "warmup_s": o.cluster_warmup, "bulk_warmup_s": o.bulk_warmup,
                             "iperf3_omit_s": o.omit, "connections": o.conns, "wrk_threads": 2,
                             "small_file_bytes": SMALL_BYTES, "port_range": b.cluster_port_range,
                             "etcd": info.get("etcd"), "target_ratio": CLUSTER_TARGET, "hosts": CLUSTER_HOSTS},
                "etcd_args": ["--name", "n1", "--data-dir", "/dev/shm/TEMP", "--listen-client-urls",
                              "http://127.0.0.1:PORT", "--advertise-client-urls", "http://127.0.0.1:PORT",
                              "--listen-peer-urls", "http://127.0.0.1:PEER", "--initial-advertise-peer-urls",
                              "http://127.0.0.1:PEER", "--initial-cluster", "n1=http://127.0.0.1:PEER",
                              "--initial-cluster-state", "new", "--log-level", "warn"],
                "node_args": ["-l", "HOST:0", "--bind", "HOST", "--state-dir", "SHARED", "--max-connections-per-ip",
                              "0", "--port-range", "LOW-HIGH", "--cluster-etcd", "URL", "--node-name", "NAME",
                              "--node-listen", "HOST:0", "--cluster-secret-file", "FILE"],
                "agent_args": ["-g", f"{CLUSTER_HOSTS['holder']}:PORT", "--known-gateways", "FILE",
                               "-n", "web=127.0.0.1:NGINX_PORT", "-n", "iperf=127.0.0.1:IPERF_PORT",
                               *o.agent_option]} if cluster_runs else None
    info = {}
    # After every run, what is done so far: an interrupted run leaves its finished runs for --report.
    partial = os.path.join(o.results, f"partial-{time.strftime('%Y%m%d-%H%M%S')}.json")
    try:
        soft, _ = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)
        if soft < 2 * o.many + 256:
            raise HarnessError(f"open files limit {soft} is too low for {o.many} connections (ulimit -n)")
        if soft < o.hostile_conns + 256:
            raise HarnessError(f"open files limit {soft} is too low for {o.hostile_conns} connections (ulimit -n)")
        info = machine_info(b)
        busy = cpu_busy(0.5 if o.smoke else 2.0)
        info["busy_before"] = f"{busy * 100:.0f}% of the CPUs busy before the run, load average {loadavg()}"
        if busy > 0.15 and not o.quiet_wait:
            b.warnings.append(f"the machine was busy before the run ({busy * 100:.0f}% CPU): other work skews "
                              "every figure")
            log(f"warning: the machine is busy ({busy * 100:.0f}% CPU) before the run: figures will suffer")
        if o.regular:  # fail early: scenario 7 cannot run without it
            b.resolve_prefix()
        if (o.regular or o.cluster_only) and not shutil.which(b.tools["etcd"]):  # nor scenario 8 without etcd
            raise HarnessError(f"scenario 8 (cluster) needs etcd ({b.tools['etcd']} not found; Debian: apt-get "
                               "install etcd-server, which bench/run does as root)")
        log("starting nginx, iperf3 -s and sshd on 127.0.0.1")
        b.make_cert()
        b.start_nginx()
        b.start_iperf()
        b.start_sshd()
        if o.regular and not o.https_only:  # scenarios 2 and 3's references
            b.start_haproxy()
        if o.cluster_only:
            os.environ.setdefault("DIGLETT_CDS", "0")  # start-up is not measured here
            for index in range(o.runs):
                cluster_runs.append(cluster_run(b, index))
            raise ClusterDone()
        log(f"  nginx :{b.ports['nginx']}, iperf3 :{b.ports['iperf']}, sshd :{b.ports['sshd']} ({b.ssh_cipher})")
        if o.smoke:  # its start-up figure means nothing: no class-data sharing archive to make and wait for
            os.environ.setdefault("DIGLETT_CDS", "0")
        elif os.environ.get("DIGLETT_CDS") == "0" or os.environ.get("DIGLETT_CLASSPATH"):
            log("class-data sharing is off (DIGLETT_CDS=0 or DIGLETT_CLASSPATH): start-up measured without it")
        if o.smoke or os.environ.get("DIGLETT_CDS") == "0" or os.environ.get("DIGLETT_CLASSPATH"):
            # no priming: one untimed start, so that the timed ones are a returning agent as ssh is a client
            b.start_gateway()
            b.start_agent()
            b.stop_tunnels()
        else:
            log("starting the gateway and the agent twice, so that their launchers make class-data sharing "
                "archives")
            info["first_start_s"] = round(b.prime_launchers(), 3)
            log(f"  first start (no archive yet): {info['first_start_s']:.3f} s to the first request")
        for index in range(o.runs):
            if o.regular:
                runs.append(one_run(b, index))
                cluster_runs.append(cluster_run(b, index))
            if not o.https_only:
                hfig, hdetails = hostile_run(b, index)
                hostile_runs.append(hfig)
                hostile_details.append(hdetails)
            with open(partial, "w") as f:
                json.dump({"machine": info, "settings": {**settings(time.monotonic() - started), "runs": len(runs)},
                           "runs": runs, "median": median_figures(runs), "other_cpu": b.other_cpu,
                           "hostile": hostile_doc(), "cluster": cluster_doc(),
                           "warnings": b.warnings + [f"partial: {index + 1} of {o.runs} runs"]}, f, indent=1)
    except ClusterDone:
        pass
    except HarnessError as e:
        log(f"HARNESS FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    finally:
        b.procs.stop_all()
    elapsed = time.monotonic() - started
    info["load_after"] = loadavg()

    doc = {"machine": info, "settings": settings(elapsed), "runs": runs, "median": median_figures(runs),
           "other_cpu": b.other_cpu, "warnings": b.warnings, "hostile": hostile_doc(), "cluster": cluster_doc()}
    if o.cluster_only:
        os.makedirs(o.out, exist_ok=True)
        json_path = os.path.join(o.results, f"{'smoke' if o.smoke else 'full'}-{time.strftime('%Y%m%d-%H%M%S')}"
                                            "-cluster.json")
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=1)
        md_path = os.path.join(o.out, "cluster.md")
        with open(md_path, "w") as f:
            f.write("\n".join(report.cluster_markdown(doc, alone=True)) + "\n")
        for w in b.warnings:
            log(f"warning: {w}")
        log(f"done in {elapsed:.0f} s: {md_path}, raw results {json_path}")
        print("\n".join(report.cluster_markdown(doc, alone=True)), flush=True)
        missing = [k for k, v in doc["cluster"]["median"].items() if v.get("direct") is None]
        if missing:
            log(f"HARNESS FAILED: direct measurements without a result: {', '.join(missing)}")
            return 1
        return 0
    if os.path.exists(partial):
        os.remove(partial)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = os.path.join(o.results, f"{'smoke' if o.smoke else 'full'}-{stamp}"
                                        f"{'-hostile' if o.hostile else '-https' if o.https_only else ''}.json")
    published = os.path.abspath(o.out) == os.path.join(ROOT, "docs") and not o.smoke and not o.https_only
    # The run behind docs/benchmarks.md is bench/results/benchmarks.json (committed with the page).
    shown_json = os.path.join(o.results, "benchmarks.json") if published else json_path
    if o.hostile:
        # Only the hostile section was measured: it has its own machine line, warnings and date.
        doc["hostile"].update(machine=info, warnings=b.warnings, other_cpu=b.other_cpu,
                              elapsed_s=round(elapsed, 1))
        if published and os.path.exists(shown_json):  # the rest of the published page stays as it was
            with open(shown_json) as f:
                old_doc = json.load(f)
            doc = {**old_doc, "hostile": doc["hostile"]}
            log(f"the other scenarios' figures stay those of {shown_json} ({old_doc['machine'].get('date')})")
    md_path = report.write(doc, o.out, b.tools["gnuplot"], shown_json)
    for path in {json_path, shown_json}:
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
    for w in b.warnings:
        log(f"warning: {w}")
    log(f"done in {elapsed:.0f} s: {md_path}, raw results {json_path}")
    if not o.smoke and not o.https_only:  # a smoke run's figures mean nothing: no pass/fail lines in CI's log
        print(report.summary(doc), flush=True)
    # The harness broke if a direct measurement failed: that path involves no tunnel, only the tools.
    direct_missing = [k for k, v in list(doc["median"].items()) + list(doc["hostile"]["median"].items())
                      + list((doc["cluster"] or {}).get("median", {}).items())
                      if "direct" in v and v["direct"] is None]
    if direct_missing:
        log(f"HARNESS FAILED: direct measurements without a result: {', '.join(direct_missing)}")
        return 1
    return 0


def launcher_java_opts():
    try:
        with open(os.path.join(DIGLETT_HOME, "bin", "launch.sh")) as f:
            m = re.search(r"DIGLETT_JAVA_OPTS:-([^}]*)\}", f.read())
            return (m.group(1) + " (bin/launch.sh's defaults)") if m else "bin/launch.sh's defaults"
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
