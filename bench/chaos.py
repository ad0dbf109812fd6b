#!/usr/bin/env python3
"""Chaos on loopback: Gantry balancing 3 upstream targets under steady load while one
target is killed, restarted, and made slow (issue: upstreams/targets, reliability part).

Three origins run as separate OS processes (tiny threaded HTTP/1.1 keep-alive servers,
each answering with its own id in `X-Origin`), so one can be SIGKILLed and restarted on
the same port, or switched slow (SIGUSR1) and back (SIGUSR2). Gantry (DB-less,
1 worker) balances two upstreams over the same three origins: `rr-up` (round-robin) and
`lat-up` (`algorithm: latency`), both with passive and active health checks. A Python
load generator (CLIENTS keep-alive connections, RATE requests/s in total, paced) counts
every response per origin.

  A  kill:    SIGKILL one target mid-run (CYCLES times) -> total and failed requests,
              which requests failed and why, when the balancer stopped trying the dead
              target (Gantry's debug log of failed attempts, and /upstreams/rr-up/health
              polled every 50 ms);
  B  restart: restart it on the same port -> time until it answers clients again, vs
              the active-check interval;
  C  slow:    under `latency`, delay one target by SLOW_MS -> its share of requests
              before / while slow / after it is fast again, and client latencies.

Usage (after `cargo build --release -p gantry`):
    bench/chaos.py                          # ~60 s of load in total
    RATE=300 CYCLES=1 bench/chaos.py        # quicker
    BASE_DELAY_MS=20 bench/chaos.py         # origins take 20 ms: requests are in flight at the kill
Knobs (env): RATE=600 CLIENTS=8 CYCLES=3 DOWN_S=4 UP_S=4 SLOW_MS=100 SLOW_S=10
BASE_S=6 WARM_S=12 BASE_DELAY_MS=0 KEEP=0 (KEEP=1 keeps the work dir with kong.yml and Gantry's log)
ACTIVE_INTERVAL=2 PASSIVE_FAILURES=2 RETRIES=2 GANTRY_BIN=target/release/gantry.
Every process it starts is stopped by PID (try/finally); every load run is bounded in
time; loopback only. Exits non-zero only when the setup fails (the figures are figures).
"""
import datetime, http.client, json, os, random, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GANTRY_BIN", os.path.join(ROOT, "target/release/gantry"))
RATE = int(os.environ.get("RATE", "600"))            # requests/s, all clients together
CLIENTS = int(os.environ.get("CLIENTS", "8"))
CYCLES = int(os.environ.get("CYCLES", "3"))          # kill/restart cycles in A+B
DOWN_S = float(os.environ.get("DOWN_S", "4"))        # how long the victim stays dead
UP_S = float(os.environ.get("UP_S", "4"))            # how long after each restart
SLOW_MS = int(os.environ.get("SLOW_MS", "100"))
SLOW_S = float(os.environ.get("SLOW_S", "10"))
BASE_S = float(os.environ.get("BASE_S", "6"))        # steady load before a disturbance
WARM_S = float(os.environ.get("WARM_S", "12"))       # C: load before the "before" window (EWMA decay is 10 s)
ACTIVE_INTERVAL = int(os.environ.get("ACTIVE_INTERVAL", "2"))
PASSIVE_FAILURES = int(os.environ.get("PASSIVE_FAILURES", "2"))
RETRIES = int(os.environ.get("RETRIES", "2"))
BASE_DELAY_MS = int(os.environ.get("BASE_DELAY_MS", "0"))  # every origin answer takes this long
ORIGINS = ("o1", "o2", "o3")
VICTIM = "o2"    # killed in A/B
SLOWPOKE = "o3"  # slowed in C

# One origin process: argv = port, id, slow delay ms, base delay ms. SIGUSR1 = slow, SIGUSR2 = fast.
# Health probes (/health) are never slowed. HTTP/1.0 or `Connection: close` -> close.
ORIGIN_SRC = r'''
import signal, socket, sys, threading, time
port, ident, delay = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3]) / 1000.0
base = int(sys.argv[4]) / 1000.0
slow = [False]
signal.signal(signal.SIGUSR1, lambda *a: slow.__setitem__(0, True))
signal.signal(signal.SIGUSR2, lambda *a: slow.__setitem__(0, False))
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1024)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            first = lines[0].split()
            path = first[1] if len(first) > 1 else b"/"
            close = lines[0].endswith(b"HTTP/1.0") or any(
                l.lower().startswith(b"connection:") and b"close" in l.lower() for l in lines[1:])
            if not path.startswith(b"/health"):
                if slow[0]:
                    time.sleep(delay)
                elif base:
                    time.sleep(base)
            c.sendall(b"HTTP/1.1 200 OK\r\nX-Origin: " + ident + b"\r\nContent-Length: "
                      + str(len(ident)).encode() + b"\r\n" + (b"Connection: close\r\n" if close else b"")
                      + b"\r\n" + ident)
            if close:
                return
    except OSError:
        pass
    finally:
        c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_port(port, deadline_s=10):
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.005)
    return False


class Origin:
    def __init__(self, ident):
        self.ident, self.port, self.p = ident, free_port(), None

    def start(self):
        self.p = subprocess.Popen([sys.executable, "-c", ORIGIN_SRC, str(self.port), self.ident, str(SLOW_MS), str(BASE_DELAY_MS)])
        if not wait_port(self.port):
            raise SystemExit("origin %s did not listen on %d" % (self.ident, self.port))
        return time.time()

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill(); self.p.wait()
        self.p = None

    def signal(self, sig):
        self.p.send_signal(sig)


def write_config(path, origins):
    hc = """    healthchecks:
      active:
        type: http
        http_path: /health
        timeout: 1
        healthy: {interval: %(i)d, successes: 1}
        unhealthy: {interval: %(i)d, tcp_failures: 1, timeouts: 1, http_failures: 1}
      passive:
        type: http
        unhealthy: {tcp_failures: %(f)d, timeouts: %(f)d, http_failures: %(f)d}
""" % {"i": ACTIVE_INTERVAL, "f": PASSIVE_FAILURES}
    targets = "".join("    - target: 127.0.0.1:%d\n" % o.port for o in origins)
    with open(path, "w") as f:
        f.write('_format_version: "3.0"\nupstreams:\n')
        for name, algo in (("rr-up", "round-robin"), ("lat-up", "latency")):
            f.write("  - name: %s\n    algorithm: %s\n%s    targets:\n%s" % (name, algo, hc, targets))
        f.write("services:\n")
        for name, up in (("rr", "rr-up"), ("lat", "lat-up")):
            f.write("  - name: %s\n    host: %s\n    port: 80\n    protocol: http\n    retries: %d\n"
                    "    connect_timeout: 1000\n    read_timeout: 5000\n    write_timeout: 5000\n"
                    '    routes:\n      - name: %s\n        paths: ["/%s"]\n' % (name, up, RETRIES, name, name))


class Gantry:
    def __init__(self, work, cfg):
        self.proxy, self.admin = free_port(), free_port()
        self.log = os.path.join(work, "gantry.log")
        self.env = {"PATH": os.environ.get("PATH", ""), "KONG_PREFIX": os.path.join(work, "prefix"),
                    "KONG_DATABASE": "off", "KONG_DECLARATIVE_CONFIG": cfg,
                    "KONG_PROXY_LISTEN": "127.0.0.1:%d" % self.proxy,
                    "KONG_ADMIN_LISTEN": "127.0.0.1:%d" % self.admin,
                    "KONG_NGINX_WORKER_PROCESSES": "1", "KONG_LOG_LEVEL": "warn", "NO_COLOR": "1",
                    # failed upstream attempts (with the peer) are logged at debug level
                    "GANTRY_LOG": "warn,gantry_proxy::attempt=debug"}
        self.p = None

    def start(self):
        self.logf = open(self.log, "w")
        self.p = subprocess.Popen([BIN, "start"], env=self.env, stdout=self.logf, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            if self.p.poll() is not None:
                raise SystemExit("gantry exited (%s); log: %s" % (self.p.returncode, self.log))
            try:
                ok = 0
                for path in ("/rr", "/lat"):
                    c = http.client.HTTPConnection("127.0.0.1", self.proxy, timeout=1)
                    c.request("GET", path); r = c.getresponse(); r.read(); c.close()
                    ok += r.status == 200
                if ok == 2:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("gantry did not serve /rr and /lat within 60 s; log: %s" % self.log)

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill(); self.p.wait()
        self.p = None
        if getattr(self, "logf", None):
            self.logf.close()


class Load:
    """CLIENTS threads, each on one keep-alive connection, paced to RATE/CLIENTS req/s.
    Records (start, end, status, origin, note) per request; status 0 = client-side error."""

    def __init__(self, port, path):
        self.port, self.path = port, path
        self.stop_ev = threading.Event()
        self.recs = []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(CLIENTS)]

    def run(self):
        interval = CLIENTS / RATE
        conn = None
        nxt = time.monotonic()
        out = []
        while not self.stop_ev.is_set():
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            elif now - nxt > 1:
                nxt = now  # fell far behind (slow answers): do not burst to catch up
            nxt += interval
            t0 = time.time()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", self.path)
                r = conn.getresponse(); body = r.read()
                note = "" if r.status == 200 else " ".join(body[:120].decode("latin-1").split())
                out.append((t0, time.time(), r.status, r.getheader("X-Origin", "-"), note))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close(); conn = None
            except (OSError, http.client.HTTPException) as e:
                out.append((t0, time.time(), 0, "-", type(e).__name__ + ": " + str(e)[:80]))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
        self.recs.extend(out)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=15)
        self.recs.sort()


class HealthPoller:
    """Polls GET /upstreams/<u>/health every 50 ms: [(t, {target: health})]."""

    def __init__(self, admin, upstream):
        self.admin, self.upstream, self.samples = admin, upstream, []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conn = None
        while not self.stop_ev.wait(0.05):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=2)
                conn.request("GET", "/upstreams/%s/health" % self.upstream)
                r = conn.getresponse(); data = json.loads(r.read())
                self.samples.append((time.time(), {d["target"]: d.get("health") for d in data.get("data", [])}))
            except (OSError, ValueError, http.client.HTTPException):
                conn = None

    def __enter__(self):
        self.t.start(); return self

    def __exit__(self, *exc):
        self.stop_ev.set(); self.t.join(timeout=5)

    def first(self, target, after, pred):
        for t, h in self.samples:
            if t >= after and target in h and pred(h[target]):
                return t
        return None


LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z\s+(\w+)\s+(.*)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log_lines(path):
    """(wall-clock t, message) of every timestamped line of Gantry's log."""
    with open(path, errors="replace") as f:
        for line in f:
            m = LOG_TS.match(ANSI.sub("", line.strip()))
            if not m:
                continue
            ts = m.group(1)
            if "." in ts:
                head, frac = ts.split(".")
                ts = head + "." + (frac + "000000")[:6]
            yield datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc).timestamp(), m.group(3)


def log_transitions(path, upstream):
    """Health changes Gantry logs: [(t, "passive"|"active", address, state)]."""
    out = []
    for t, msg in log_lines(path):
        m = re.search(r"\[healthchecks\] (passive|active) check changed health upstream=(\S+) .*address=(\S+) state=(\S+)", msg)
        if m and m.group(2) == upstream:
            out.append((t, m.group(1), m.group(3), m.group(4)))
    return out


def log_attempts(path):
    """Failed upstream attempts from Gantry's debug log: [(t, kind, peer, error)]."""
    out = []
    for t, msg in log_lines(path):
        if "upstream attempt failed" not in msg and "upstream request failed" not in msg:
            continue
        peer = re.search(r"peer=(\S+)", msg)
        err = re.search(r"error=(.*)$", msg)
        kind = "connect, retried" if "attempt failed" in msg else "after connect, not retried"
        out.append((t, kind, peer.group(1) if peer else "?", err.group(1) if err else ""))
    return out


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def window(recs, a, b):
    return [r for r in recs if a <= r[0] < b]


def shares(recs):
    n = len(recs) or 1
    return {o: 100.0 * sum(1 for r in recs if r[3] == o) / n for o in ORIGINS}


def fmt_ms(x):
    return "-" if x is None else "%.0f ms" % (x * 1000)


def table(hdr, rows):
    widths = [max(len(h), *(len(r[j]) for r in rows)) if rows else len(h) for j, h in enumerate(hdr)]
    print("  ".join(h.ljust(w) for h, w in zip(hdr, widths)).rstrip())
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def share_str(recs):
    return " ".join("%s %.1f%%" % kv for kv in shares([r for r in recs if r[2] == 200]).items())


def main():
    if not os.path.exists(BIN):
        print("release binary missing; building (slow): cargo build --release -p gantry", flush=True)
        subprocess.run(["cargo", "build", "--release", "-p", "gantry"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="gantry-chaos-")
    origins = {i: Origin(i) for i in ORIGINS}
    gantry = None
    try:
        for o in origins.values():
            o.start()
        cfg = os.path.join(work, "kong.yml")
        write_config(cfg, list(origins.values()))
        gantry = Gantry(work, cfg)
        gantry.start()
        victim = origins[VICTIM]
        print("# gantry %s; origins %s" % (
            BIN, " ".join("%s=127.0.0.1:%d" % (o.ident, o.port) for o in origins.values())))
        print("# origins answer after %d ms (slowed: %d ms)" % (BASE_DELAY_MS, SLOW_MS))
        print("# load: %d keep-alive clients, %d req/s paced; service retries=%d, connect_timeout=1000; passive "
              "unhealthy tcp_failures=timeouts=http_failures=%d; active http GET /health every %d s (healthy and "
              "unhealthy), healthy.successes=1, unhealthy.tcp_failures=timeouts=http_failures=1"
              % (CLIENTS, RATE, RETRIES, PASSIVE_FAILURES, ACTIVE_INTERVAL), flush=True)

        # ---- A + B: round-robin, kill / restart the victim CYCLES times ----
        cycles = []
        with HealthPoller(gantry.admin, "rr-up") as hp, Load(gantry.proxy, "/rr") as load:
            t_begin = time.time()
            time.sleep(BASE_S)
            for _ in range(CYCLES):
                t_kill = time.time(); victim.kill()
                # jitter: restarts land at different phases of the active-check timer
                time.sleep(DOWN_S + random.uniform(0, ACTIVE_INTERVAL))
                t_restart = victim.start()  # returns once the port accepts connections
                time.sleep(UP_S)
                cycles.append((t_kill, t_restart))
            t_end = time.time()
        recs_ab = load.recs
        print("# A/B done (%d requests); C: latency" % len(recs_ab), flush=True)

        # ---- C: latency algorithm, slow one target ----
        slowpoke = origins[SLOWPOKE]
        with Load(gantry.proxy, "/lat") as load_c:
            time.sleep(WARM_S)
            t_c0 = time.time()
            time.sleep(BASE_S)
            t_slow = time.time(); slowpoke.signal(signal.SIGUSR1)
            time.sleep(SLOW_S)
            t_fast = time.time(); slowpoke.signal(signal.SIGUSR2)
            time.sleep(BASE_S)
            t_c1 = time.time()
        recs_c = load_c.recs
    finally:
        if gantry:
            gantry.stop()
        for o in origins.values():
            o.kill()
    attempts = log_attempts(gantry.log)
    trans = log_transitions(gantry.log, "rr-up")
    if os.environ.get("KEEP") == "1":
        print("# kept %s (kong.yml, gantry.log)" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)

    # ---- report A/B ----
    ok = lambda r: r[2] == 200
    vt = "127.0.0.1:%d" % victim.port
    total = len(recs_ab)
    failed = [r for r in recs_ab if not ok(r)]
    print("\n== A/B  round-robin over 3 targets; %s SIGKILLed %d times, restarted after %.0f-%.0f s; %.1f s of load"
          % (VICTIM, CYCLES, DOWN_S, DOWN_S + ACTIVE_INTERVAL, t_end - t_begin))
    print("requests %d (%.0f/s), failed %d = %.3f %%" % (total, total / (t_end - t_begin), len(failed),
                                                       100.0 * len(failed) / max(total, 1)))
    kinds = {}
    for r in failed:
        key = "%s %s" % (r[2] or "client error", r[4][:70])
        kinds[key] = kinds.get(key, 0) + 1
    for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print("  failed: %5d  %s" % (n, k))
    rows = []
    for i, (tk, tr) in enumerate(cycles):
        nxt = cycles[i + 1][0] if i + 1 < len(cycles) else t_end
        f_cycle = [r for r in failed if tk <= r[1] < nxt]
        span = [r for r in recs_ab if r[0] < tk <= r[1]]
        on_victim = "%d answered by %s, %d failed" % (sum(1 for r in span if r[3] == VICTIM), VICTIM,
                                                     sum(1 for r in span if not ok(r)))
        att = [a for a in attempts if a[2] == vt and tk <= a[0] < tr]
        kinds_att = {}
        for a in att:
            kinds_att[a[1]] = kinds_att.get(a[1], 0) + 1
        pas = next((t for t, src, addr, st in trans if addr == vt and tk <= t < tr and st == "Unhealthy"), None)
        pas_src = next((src for t, src, addr, st in trans if addr == vt and tk <= t < tr and st == "Unhealthy"), "")
        act = next((t for t, src, addr, st in trans if addr == vt and t >= tr and st == "Healthy"), None)
        t_unh = hp.first(vt, tk, lambda h: h != "HEALTHY")
        t_h = hp.first(vt, tr, lambda h: h == "HEALTHY")
        first_ans = next((r[1] for r in recs_ab if r[0] >= tr and r[3] == VICTIM), None)
        rows.append((str(i + 1), str(len(f_cycle)), on_victim,
                     "%d (%s)" % (len(att), ", ".join("%d %s" % (n, k) for k, n in kinds_att.items()) or "-"),
                     fmt_ms(att[-1][0] - tk if att else None),
                     "%s %s" % (fmt_ms(pas - tk if pas else None), pas_src), fmt_ms(t_unh - tk if t_unh else None),
                     fmt_ms(act - tr if act else None), fmt_ms(t_h - tr if t_h else None),
                     fmt_ms(first_ans - tr if first_ans else None)))
    print("\nA: kill (times from the SIGKILL)")
    table(("cycle", "client failures", "requests in flight at the kill", "failed attempts on victim", "last attempt",
           "marked Unhealthy (log)", "Admin API !=HEALTHY"), [r[:7] for r in rows])
    print("\nB: restart (times from the restarted origin accepting connections; active interval %d s)" % ACTIVE_INTERVAL)
    table(("cycle", "marked Healthy (log)", "Admin API HEALTHY", "first client answer from victim"),
          [(r[0],) + r[7:] for r in rows])
    print("\nshares of answered requests per cycle:")
    for i, (tk, tr) in enumerate(cycles):
        nxt = cycles[i + 1][0] if i + 1 < len(cycles) else t_end
        print("  %d  before kill: %s | down (kill+0.5 s..restart): %s | after restart+%d s: %s" % (
            i + 1, share_str(window(recs_ab, (cycles[i - 1][1] + ACTIVE_INTERVAL + 1) if i else t_begin, tk)),
            share_str(window(recs_ab, tk + 0.5, tr)), ACTIVE_INTERVAL + 1,
            share_str(window(recs_ab, tr + ACTIVE_INTERVAL + 1, nxt))))
    errs = {}
    for a in attempts:
        if t_begin <= a[0] < t_end:
            k = "%s on %s: %s" % (a[1], "victim" if a[2] == vt else a[2], a[3][:100])
            errs[k] = errs.get(k, 0) + 1
    for k, n in sorted(errs.items(), key=lambda kv: -kv[1]):
        print("  gantry log: %4d x attempt failed %s" % (n, k))
    other = [a for a in attempts if a[2] != vt and t_begin <= a[0] < t_end]
    print("failed attempts on the other targets: %d" % len(other))
    for r in failed[:20]:
        tk = max([c[0] for c in cycles if c[0] <= r[1]] or [t_begin])
        print("  failure: sent at kill%+.3f s, answered after %.1f ms: status %s  %s" % (
            r[0] - tk, (r[1] - r[0]) * 1000, r[2], r[4][:90]))

    # ---- report C ----
    print("\n== C  algorithm latency; %s slowed by %d ms for %.0f s (after %.0f s of warm-up load)" % (
        SLOWPOKE, SLOW_MS, SLOW_S, WARM_S))
    wins = (("before", t_c0, t_slow), ("slow: first 2 s", t_slow, t_slow + 2),
            ("slow: rest", t_slow + 2, t_fast), ("fast again: first 2 s", t_fast, t_fast + 2),
            ("fast again: rest", t_fast + 2, t_c1))
    rows = []
    for name, a, b in wins:
        w = window(recs_c, a, b)
        s = shares([r for r in w if ok(r)])
        lat = [(r[1] - r[0]) * 1000 for r in w]
        mean = lambda o: ("%.2f" % (sum((r[1] - r[0]) * 1000 for r in w if r[3] == o) / n)) if (
            n := sum(1 for r in w if r[3] == o)) else "-"
        rows.append((name, str(len(w)), "%.1f" % s["o1"], "%.1f" % s["o2"], "%.1f" % s["o3"],
                     "%.2f" % pct(lat, 50), "%.1f" % pct(lat, 99), " / ".join(mean(o) for o in ORIGINS),
                     str(sum(1 for r in w if not ok(r)))))
    table(("window", "reqs", "o1 %", "o2 %", "o3 %", "p50 ms", "p99 ms", "mean ms o1/o2/o3", "failed"), rows)
    print("(round-robin would give each 33.3 %%; %s is the slowed one)" % SLOWPOKE)


if __name__ == "__main__":
    main()
