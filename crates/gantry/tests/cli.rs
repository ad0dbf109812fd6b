//! The `gantry` binary as a user runs it: `config parse`, `start` with a DB-less
//! kong.yml and KONG_* settings, `health`, `reload` (SIGHUP), `quit`, `version`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gantry"))
}

fn run(args: &[&str], envs: &[(&str, String)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A loopback port that is free now, picked at random below the kernel's ephemeral range
/// (32768 and up): every test's client sockets take their local ports from that range, so
/// a port chosen there could be taken again before gantry binds it.
fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    loop {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(Instant::now().elapsed().as_nanos());
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `gantry start` with `settings(ports)` on `n` fresh ports, back once every port accepts
/// connections. If gantry exits first (a port taken after all), it is started again on new
/// ports; any other early exit fails the test with gantry's own stderr.
fn start_gantry(
    n: usize,
    settings: impl Fn(&[u16]) -> Vec<(&'static str, String)>,
) -> (Child, Vec<u16>) {
    for _attempt in 0..5 {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut log = tempfile::tempfile().unwrap();
        let mut c = Command::new(bin());
        c.arg("start")
            .env_clear()
            .stdout(Stdio::null())
            .stderr(log.try_clone().unwrap());
        for (k, v) in settings(&ports) {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ports
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return (child, ports);
            }
            let mut stderr = || {
                use std::io::Seek;
                let mut err = String::new();
                log.seek(std::io::SeekFrom::Start(0)).unwrap();
                log.read_to_string(&mut err).unwrap();
                err
            };
            if let Some(status) = child.try_wait().unwrap() {
                let err = stderr();
                assert!(
                    err.contains("in use"),
                    "gantry exited ({status}) before listening:\n{err}"
                );
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "gantry did not listen on {ports:?} within 30 s:\n{}",
                    stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("gantry found its ports taken five times in a row");
}

/// A minimal HTTP/1.1 origin on a thread: answers every request with the request line.
fn origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = find(&buf, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        let line = head.lines().next().unwrap_or("").to_string();
                        let body = format!("{line}\n");
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(resp.as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request with `Connection: close`; returns (status, headers+body text).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, out))
}

struct Node {
    child: Child,
    port: u16,
    prefix: PathBuf,
    envs: Vec<(&'static str, String)>,
}

impl Node {
    fn start(dir: &Path, kong_yml: &Path) -> Node {
        let prefix = dir.join("prefix");
        let settings = |ports: &[u16]| {
            vec![
                ("KONG_PREFIX", prefix.display().to_string()),
                ("KONG_DATABASE", "off".to_string()),
                ("KONG_DECLARATIVE_CONFIG", kong_yml.display().to_string()),
                ("KONG_PROXY_LISTEN", format!("127.0.0.1:{}", ports[0])),
                ("KONG_ADMIN_LISTEN", "off".to_string()),
                ("KONG_STATUS_LISTEN", "off".to_string()),
                ("KONG_NGINX_WORKER_PROCESSES", "2".to_string()),
            ]
        };
        let (child, ports) = start_gantry(1, settings);
        Node {
            child,
            port: ports[0],
            envs: settings(&ports),
            prefix,
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        run(args, &self.envs)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(path: &Path, origin: SocketAddr, route_path: &str) {
    std::fs::write(
        path,
        format!(
            "_format_version: \"3.0\"\nservices:\n- name: echo\n  url: http://{origin}/base\n  routes:\n  - name: r1\n    paths: [\"{route_path}\"]\n"
        ),
    )
    .unwrap();
}

/// Writes `text` to a file in `dir` and runs `gantry config parse` on it.
fn config_parse(dir: &Path, name: &str, text: &str) -> Output {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    run(&["config", "parse", file.to_str().unwrap()], &[])
}

fn assert_parses(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn version_prints() {
    let out = run(&["version"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn config_parse_accepts_good_and_rejects_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    write_config(&good, "127.0.0.1:9".parse().unwrap(), "/api");
    assert_parses(&run(&["config", "parse", good.to_str().unwrap()], &[]));

    let out = config_parse(
        dir.path(),
        "bad.yml",
        "_format_version: \"3.0\"\nservices:\n- name: a\n  host: x\n  port: 99999\n  routes:\n  - name: r\n    paths: [\"no-slash\"]\n",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port"), "port error missing: {err}");
    assert!(err.contains("paths"), "paths error missing: {err}");
}

#[test]
fn start_proxies_reloads_and_quits() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin();
    let yml = dir.path().join("kong.yml");
    write_config(&yml, o, "/api");
    let mut node = Node::start(dir.path(), &yml);

    let (status, text) = http_get(node.port, "/api/users?id=1").unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("GET /base/users?id=1 HTTP/1.1"), "{text}");
    let (status, text) = http_get(node.port, "/other").unwrap();
    assert_eq!(status, 404);
    assert!(text.contains("no Route matched with those values"));

    let health = node.cli(&["health"]);
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stdout)
    );

    // Reload with a changed file: the new route serves, the old one is gone.
    write_config(&yml, o, "/v2");
    assert!(node.cli(&["reload"]).status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if http_get(node.port, "/v2/x").map(|r| r.0) == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "reload not applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(http_get(node.port, "/api/x").map(|r| r.0), Some(404));

    // A broken file on reload keeps the running configuration.
    std::fs::write(&yml, "_format_version: \"3.0\"\nservices: 12\n").unwrap();
    assert!(node.cli(&["reload"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http_get(node.port, "/v2/x").map(|r| r.0), Some(200));

    let quit = node.cli(&["quit"]);
    assert!(
        quit.status.success(),
        "{}",
        String::from_utf8_lossy(&quit.stderr)
    );
    let status = node.child.wait().unwrap();
    assert!(status.success());
    assert!(!node.prefix.join("pids/gantry.pid").exists());
    assert!(!node.cli(&["health"]).status.success());
}

#[test]
fn invalid_settings_and_config_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &["start"],
        &[
            ("KONG_PREFIX", dir.path().display().to_string()),
            ("KONG_LOG_LEVEL", "loud".to_string()),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("log_level"));

    let yml = dir.path().join("bad.yml");
    std::fs::write(&yml, "_format_version: \"9.9\"\n").unwrap();
    let out = run(
        &["start"],
        &[
            ("KONG_PREFIX", dir.path().display().to_string()),
            ("KONG_DATABASE", "off".to_string()),
            ("KONG_DECLARATIVE_CONFIG", yml.display().to_string()),
            ("KONG_PROXY_LISTEN", format!("127.0.0.1:{}", free_port())),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("_format_version"));
}

#[test]
fn sqlite_import_serve_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin();
    let yml = dir.path().join("kong.yml");
    write_config(&yml, o, "/api");
    let prefix = dir.path().join("prefix");
    let envs = vec![("KONG_PREFIX", prefix.display().to_string())];

    let out = run(&["migrations", "bootstrap"], &envs);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["migrations", "list"], &envs);
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    // A bad file imports nothing.
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "_format_version: \"3.0\"\nservices:\n- name: x\n  host: h\n  port: -1\n",
    )
    .unwrap();
    assert!(
        !run(&["config", "db_import", bad.to_str().unwrap()], &envs)
            .status
            .success()
    );
    let out = run(&["config", "db_export"], &envs);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("services:"));

    let out = run(&["config", "db_import", yml.to_str().unwrap()], &envs);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = dir.path().join("export1.yml");
    assert!(
        run(&["config", "db_export", first.to_str().unwrap()], &envs)
            .status
            .success()
    );

    // The default database (sqlite) serves what was imported.
    let (mut child, ports) = start_gantry(1, |p| {
        vec![
            ("KONG_PREFIX", prefix.display().to_string()),
            ("KONG_PROXY_LISTEN", format!("127.0.0.1:{}", p[0])),
            ("KONG_ADMIN_LISTEN", "off".to_string()),
        ]
    });
    let port = ports[0];
    let (status, text) = http_get(port, "/api/x").unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("GET /base/x HTTP/1.1"));
    assert!(run(&["quit"], &envs).status.success());
    child.wait().unwrap();

    // Export → import → export is stable.
    assert!(
        run(&["config", "db_import", first.to_str().unwrap()], &envs)
            .status
            .success()
    );
    let second = dir.path().join("export2.yml");
    assert!(
        run(&["config", "db_export", second.to_str().unwrap()], &envs)
            .status
            .success()
    );
    assert_eq!(
        std::fs::read_to_string(&first).unwrap(),
        std::fs::read_to_string(&second).unwrap()
    );
}

/// POST through the Admin API (JSON), returning (status, body).
fn admin_post(port: u16, path: &str, json: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// A node on the default store (SQLite in `prefix`): (child, proxy port, admin port).
fn start_sqlite_node(prefix: &Path) -> (Child, u16, u16) {
    let (child, ports) = start_gantry(2, |p| {
        vec![
            ("KONG_PREFIX", prefix.display().to_string()),
            ("KONG_PROXY_LISTEN", format!("127.0.0.1:{}", p[0])),
            ("KONG_ADMIN_LISTEN", format!("127.0.0.1:{}", p[1])),
        ]
    });
    (child, ports[0], ports[1])
}

fn wait_for_status(port: u16, path: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if http_get(port, path).map(|r| r.0) == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "{path} never answered {want}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn admin_api_writes_are_live_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin();
    let prefix = dir.path().join("prefix");
    let (mut child, proxy, admin) = start_sqlite_node(&prefix);

    let (status, body) = admin_post(
        admin,
        "/services",
        &format!(r#"{{"name":"echo","url":"http://{o}/base"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = admin_post(
        admin,
        "/services/echo/routes",
        r#"{"name":"r","paths":["/api"]}"#,
    );
    assert_eq!(status, 201, "{body}");
    wait_for_status(proxy, "/api/x", 200);
    let (_, text) = http_get(proxy, "/api/x").unwrap();
    assert!(text.contains("GET /base/x HTTP/1.1"), "{text}");

    // A rejected write changes nothing.
    let (status, body) = admin_post(admin, "/services", r#"{"name":"echo","host":"other"}"#);
    assert_eq!(status, 409, "{body}");
    let (status, _) = admin_post(admin, "/services/echo/routes", r#"{"paths":["no-slash"]}"#);
    assert_eq!(status, 400);
    assert_eq!(http_get(proxy, "/api/x").map(|r| r.0), Some(200));

    let envs = vec![("KONG_PREFIX", prefix.display().to_string())];
    assert!(run(&["quit"], &envs).status.success());
    child.wait().unwrap();

    let (mut child, proxy2, _) = start_sqlite_node(&prefix);
    wait_for_status(proxy2, "/api/x", 200);
    assert!(run(&["quit"], &envs).status.success());
    child.wait().unwrap();
}

fn admin_request(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        out.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
    )
}

#[test]
fn upstream_health_endpoints_drive_the_balancer() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin();
    let yml = dir.path().join("kong.yml");
    std::fs::write(
        &yml,
        format!(
            "_format_version: \"3.0\"\nupstreams:\n- name: backend\n  targets:\n  - target: {o}\nservices:\n- name: s\n  host: backend\n  routes:\n  - paths: [\"/\"]\n"
        ),
    )
    .unwrap();
    let (mut child, ports) = start_gantry(2, |p| {
        vec![
            ("KONG_PREFIX", dir.path().join("p").display().to_string()),
            ("KONG_DATABASE", "off".to_string()),
            ("KONG_DECLARATIVE_CONFIG", yml.display().to_string()),
            ("KONG_PROXY_LISTEN", format!("127.0.0.1:{}", p[0])),
            ("KONG_ADMIN_LISTEN", format!("127.0.0.1:{}", p[1])),
        ]
    });
    let (proxy, admin) = (ports[0], ports[1]);
    assert_eq!(http_get(proxy, "/").map(|r| r.0), Some(200));
    let (status, body) = admin_request(admin, "GET", "/upstreams/backend/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"health\":\"HEALTHCHECKS_OFF\""), "{body}");
    assert!(body.contains(&format!("\"target\":\"{o}\"")), "{body}");

    let (status, body) = admin_request(
        admin,
        "PUT",
        &format!("/upstreams/backend/targets/{o}/unhealthy"),
    );
    assert_eq!(status, 204, "{body}");
    let (status, text) = http_get(proxy, "/").unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("failure to get a peer from the ring-balancer"));
    let (_, body) = admin_request(admin, "GET", "/upstreams/backend/health");
    assert!(body.contains("\"health\":\"UNHEALTHY\""), "{body}");

    assert_eq!(
        admin_request(
            admin,
            "PUT",
            &format!("/upstreams/backend/targets/{o}/healthy")
        )
        .0,
        204
    );
    assert_eq!(http_get(proxy, "/").map(|r| r.0), Some(200));
    assert_eq!(
        admin_request(
            admin,
            "PUT",
            "/upstreams/backend/targets/10.9.9.9:1/healthy"
        )
        .0,
        404
    );
    assert_eq!(admin_request(admin, "GET", "/upstreams/nope/health").0, 404);

    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn plugin_configs_are_validated_with_kong_schemas() {
    let dir = tempfile::tempdir().unwrap();
    assert_parses(&config_parse(
        dir.path(),
        "good.yml",
        "_format_version: \"3.0\"\nplugins:\n- name: key-auth\n  config:\n    key_names: [apikey, x-key]\n",
    ));
    let out = config_parse(
        dir.path(),
        "bad.yml",
        "_format_version: \"3.0\"\nplugins:\n- name: key-auth\n  config:\n    key_names: 5\n    no_such_field: true\n",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key_names"), "{err}");
    assert!(err.contains("no_such_field"), "{err}");
}

#[test]
fn plugins_and_credentials_from_the_admin_api_apply_live() {
    let dir = tempfile::tempdir().unwrap();
    let o = origin();
    let prefix = dir.path().join("prefix");
    let (mut child, proxy, admin) = start_sqlite_node(&prefix);
    let post = |path: &str, body: &str| {
        let (status, text) = admin_post(admin, path, body);
        assert_eq!(status, 201, "{path}: {text}");
    };
    post(
        "/services",
        &format!(r#"{{"name":"echo","url":"http://{o}/base"}}"#),
    );
    post("/services/echo/routes", r#"{"name":"r","paths":["/api"]}"#);
    wait_for_status(proxy, "/api/x", 200);
    post("/routes/r/plugins", r#"{"name":"key-auth"}"#);
    wait_for_status(proxy, "/api/x", 401);
    post("/consumers", r#"{"username":"alice"}"#);
    post("/consumers/alice/key-auth", r#"{"key":"k-123"}"#);
    wait_for_status(proxy, "/api/x?apikey=k-123", 200);
    // An invalid plugin config is refused with Kong's error and changes nothing.
    let (status, body) = admin_post(
        admin,
        "/routes/r/plugins",
        r#"{"name":"cors","config":{"max_age":"soon"}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(http_get(proxy, "/api/x").map(|r| r.0), Some(401));
    let envs = vec![("KONG_PREFIX", prefix.display().to_string())];
    assert!(run(&["quit"], &envs).status.success());
    child.wait().unwrap();
}

/// `admin_listen ... ssl` (Kong's default `127.0.0.1:8444 http2 ssl`) serves the Admin
/// API over TLS 1.2+ with a generated certificate when none is configured.
#[test]
fn admin_api_over_tls() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ports) = start_gantry(3, |p| {
        vec![
            ("KONG_PREFIX", dir.path().display().to_string()),
            ("KONG_PROXY_LISTEN", format!("127.0.0.1:{}", p[0])),
            (
                "KONG_ADMIN_LISTEN",
                format!("127.0.0.1:{}, 127.0.0.1:{} http2 ssl", p[1], p[2]),
            ),
        ]
    });
    let tls = ports[2];
    let config = gantry_proxy::tls::UpstreamTls::new().unwrap().no_verify;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(&config), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", tls)).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, sock);
    stream
        .write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let version = stream.conn.protocol_version();
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"database\""), "{text}");
    assert!(matches!(
        version,
        Some(rustls::ProtocolVersion::TLSv1_3 | rustls::ProtocolVersion::TLSv1_2)
    ));
}
