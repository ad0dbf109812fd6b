#!/usr/bin/env python3
"""Admin API → proxy propagation, on loopback (issue: Admin API on SQLite, live reconfiguration).

Measures, against a fresh Gantry with the default embedded SQLite store:
  1. write-to-visible latency: with N routes + N consumers loaded, POST a new route via
     the Admin API, then poll the proxy until it answers 200; p50/p99 over WRITES writes;
  2. proxy throughput while an Admin write lands every 100 ms, vs idle (wrk, fixed time),
     and failed requests during the writes;
  3. startup-to-serving time and RSS with BIG routes loaded (db_import first).

Layout: nginx as the origin when installed (else a Python origin); for the throughput
phase with 2+ CPUs, Gantry is pinned to CPU 0 and the origin, wrk and the Admin writer
to CPU 1, so the proxy is the bottleneck and a rebuild's cost to it shows in full.

Usage (after `cargo build --release`):
    bench/admin-reconfig.py                  # N=10000, WRITES=100, BIG=100000
    N=1000 WRITES=20 BIG=10000 bench/admin-reconfig.py   # quick
Every process it starts is stopped by PID; every load run is bounded in time.
"""
import http.client, json, os, shutil, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GANTRY_BIN", os.path.join(ROOT, "target/release/gantry"))
N = int(os.environ.get("N", "10000"))
WRITES = int(os.environ.get("WRITES", "100"))
BIG = int(os.environ.get("BIG", "100000"))
WRK_SECONDS = int(os.environ.get("WRK_SECONDS", "5"))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


# Layout of the throughput phase on a machine with 2+ CPUs: Gantry (every thread:
# proxy worker, Admin API, rebuilds) pinned to CPU 0; the origin, wrk and the Admin
# writer on CPU 1. The proxy is then the bottleneck, and what a rebuild costs it shows
# in full. The write-to-visible phase runs unpinned.
PIN = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu), *argv] if PIN else argv


def nginx_origin(work):
    """nginx answering 200 'ok' with keep-alive (as ../shared/bench does), on CPU 1;
    None when nginx is not installed."""
    if not shutil.which("nginx"):
        return None
    port, d = free_port(), os.path.join(work, "origin")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("daemon off; worker_processes 1; pid %s/nginx.pid; error_log %s/error.log;\n"
                "events { worker_connections 4096; }\n"
                "http { access_log off; client_body_temp_path %s; proxy_temp_path %s;\n"
                "  fastcgi_temp_path %s; uwsgi_temp_path %s; scgi_temp_path %s;\n"
                "  keepalive_requests 1000000;\n"
                "  server { listen 127.0.0.1:%d; location / { return 200 'ok'; } } }\n"
                % (d, d, d, d, d, d, d, port))
    p = subprocess.Popen(pinned(1, ["nginx", "-c", conf]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return port, p
        except OSError:
            time.sleep(0.05)
    p.terminate()
    return None


def origin():
    """A tiny keep-alive HTTP origin in a thread (answers 200 'ok')."""
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0)); srv.listen(512)
    def conn(c):
        buf = b""
        try:
            while True:
                d = c.recv(65536)
                if not d: return
                buf += d
                while b"\r\n\r\n" in buf:
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        except OSError:
            return
    def loop():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=conn, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


def write_config(path, n_routes, n_consumers, origin_port):
    with open(path, "w") as f:
        f.write('_format_version: "3.0"\nservices:\n- name: bulk\n  url: http://127.0.0.1:%d\n  routes:\n' % origin_port)
        for i in range(n_routes):
            f.write('  - name: r%d\n    paths: ["/bulk/%d/"]\n' % (i, i))
        if n_consumers:
            f.write("consumers:\n")
            for i in range(n_consumers):
                f.write("- username: c%d\n" % i)


class Node:
    def __init__(self, prefix, proxy, admin):
        self.env = {"PATH": os.environ.get("PATH", ""), "KONG_PREFIX": prefix,
                    "KONG_PROXY_LISTEN": "127.0.0.1:%d" % proxy, "KONG_ADMIN_LISTEN": "127.0.0.1:%d" % admin,
                    "KONG_NGINX_WORKER_PROCESSES": "1", "KONG_LOG_LEVEL": "warn"}
        self.proxy, self.admin = proxy, admin

    def cli(self, *args):
        subprocess.run([BIN, *args], env=self.env, check=True, stdout=subprocess.DEVNULL)

    def start(self):
        t0 = time.monotonic()
        self.p = subprocess.Popen([BIN, "start"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.proxy, timeout=1); c.request("GET", "/bulk/0/")
                if c.getresponse().status == 200: break
            except OSError:
                pass
            if time.monotonic() - t0 > 120: raise SystemExit("node did not start")
            time.sleep(0.01)
        return time.monotonic() - t0

    def rss_mib(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
        return 0

    def stop(self):
        self.p.terminate(); self.p.wait(timeout=30)


def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def admin_post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse(); data = r.read()
    if r.status != 201: raise SystemExit("admin write failed: %d %s" % (r.status, data[:200]))


# One Admin API write every 100 ms for the given seconds; prints how many were made.
WRITER = '''
import http.client, json, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
end, n = time.monotonic() + seconds, 0
while time.monotonic() < end:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/services/bulk/routes", json.dumps({"name": "w%d" % n, "paths": ["/w/%d/" % n]}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 201: sys.exit("admin write failed: %d" % r.status)
    n += 1; time.sleep(0.1)
print(n)
'''


def visible_latency(node, i):
    # Trailing slash: route paths are prefixes, so "/new/1" would also match "/new/10".
    path = "/new/%d/" % i
    pc = http.client.HTTPConnection("127.0.0.1", node.proxy, timeout=5)
    t0 = time.monotonic()
    admin_post(node.admin, "/services/bulk/routes", {"name": "new%d" % i, "paths": [path]})
    while True:
        pc.request("GET", path); r = pc.getresponse(); r.read()
        if r.status == 200: return (time.monotonic() - t0) * 1000
        if time.monotonic() - t0 > 10: raise SystemExit("write %d never became visible" % i)


def wrk(port, seconds):
    out = subprocess.run(pinned(1, ["wrk", "-t1", "-c20", "-d%ds" % seconds, "http://127.0.0.1:%d/bulk/1/" % port]),
                         capture_output=True, text=True).stdout
    rps = float([l for l in out.splitlines() if l.startswith("Requests/sec")][0].split()[1])
    errors = 0
    for l in out.splitlines():
        if "Non-2xx" in l or "Socket errors" in l:
            errors += sum(int(x) for x in l.replace(",", " ").split() if x.isdigit())
    return rps, errors


def main():
    if not os.path.exists(BIN): raise SystemExit("build first: cargo build --release (%s missing)" % BIN)
    work = tempfile.mkdtemp(prefix="gantry-bench-")
    ngx = nginx_origin(work)
    op = ngx[0] if ngx else origin()
    print("origin: %s; %s" % ("nginx" if ngx else "python threads",
                              "throughput phase: gantry pinned to CPU 0, origin + wrk + writer to CPU 1" if PIN else "nothing pinned"))
    try:
        print("== write-to-visible with %d routes + %d consumers, %d writes" % (N, N, WRITES))
        node = Node(os.path.join(work, "a"), free_port(), free_port())
        cfg = os.path.join(work, "a.yml"); write_config(cfg, N, N, op)
        node.cli("migrations", "bootstrap"); node.cli("config", "db_import", cfg)
        node.start()
        lat = [visible_latency(node, i) for i in range(WRITES)]
        print("write→visible ms: p50 %.1f  p99 %.1f  max %.1f" % (pct(lat, 50), pct(lat, 99), max(lat)))
        if os.environ.get("VERBOSE"):
            print("  all:", " ".join("%.0f" % x for x in lat))

        if shutil.which("wrk"):
            if PIN:  # every thread of the node, and those it starts later, on CPU 0
                subprocess.run(["taskset", "-a", "-cp", "0", str(node.p.pid)], check=True, stdout=subprocess.DEVNULL)
            idle, idle_err = wrk(node.proxy, WRK_SECONDS)
            # The writer is its own process: as a thread it would share this process's
            # GIL with the origin's threads and slow the origin, not the gateway.
            w = subprocess.Popen(pinned(1, [sys.executable, "-c", WRITER, str(node.admin), str(WRK_SECONDS)]),
                                 stdout=subprocess.PIPE, text=True)
            busy, busy_err = wrk(node.proxy, WRK_SECONDS)
            writes = int(w.communicate(timeout=60)[0].strip() or 0)
            print("proxy req/s idle %.0f, during %d writes %.0f (%.0f%%), failed requests %d" % (
                idle, writes, busy, 100 * busy / idle, idle_err + busy_err))
        node.stop()

        print("== startup and RSS with %d routes" % BIG)
        node = Node(os.path.join(work, "b"), free_port(), free_port())
        cfg = os.path.join(work, "b.yml"); write_config(cfg, BIG, 0, op)
        node.cli("migrations", "bootstrap")
        t_imp = time.monotonic(); node.cli("config", "db_import", cfg)
        print("db_import of %d routes: %.1f s" % (BIG, time.monotonic() - t_imp))
        took = node.start()
        peak = node.rss_mib()
        time.sleep(5)
        print("startup to serving: %.2f s; RSS at first answer %.0f MiB, after 5 s idle %.0f MiB" % (took, peak, node.rss_mib()))
        node.stop()
    finally:
        if ngx:
            ngx[1].terminate(); ngx[1].wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
