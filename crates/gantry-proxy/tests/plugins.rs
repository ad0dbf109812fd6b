//! Plugins on the proxy, configured from a kong.yml: authentication with consumer
//! headers upstream, short-circuits with Kong's bodies, query rewriting, CORS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use bytes::Bytes;
use gantry_core::declarative;
use gantry_core::schemas::Schemas;
use gantry_proxy::{ConfigEntities, ProxyOptions};
use http::StatusCode;
use http_body_util::Full;
use support::*;

fn load(yml: &str) -> ConfigEntities {
    let schemas = Schemas::new(gantry_plugins::catalog());
    let c = declarative::parse_with(yml, &schemas).unwrap_or_else(|e| panic!("{e}"));
    ConfigEntities {
        services: c.services,
        routes: c.routes.into_iter().map(Into::into).collect(),
        upstreams: c.upstreams,
        targets: c.targets,
        certificates: c.certificates,
        snis: c.snis,
        plugins: c.plugins,
        consumers: c.consumers,
        keyauth_credentials: c.keyauth_credentials,
        basicauth_credentials: c.basicauth_credentials,
        jwt_secrets: c.jwt_secrets,
        hmacauth_credentials: c.hmacauth_credentials,
        acls: c.acls,
    }
}

fn config(origin: std::net::SocketAddr) -> String {
    format!(
        r#"
_format_version: "3.0"
services:
- name: api
  url: http://{origin}
  routes:
  - name: private
    paths: ["/private"]
    plugins:
    - name: key-auth
      config: {{hide_credentials: true}}
    - name: cors
      config: {{origins: ["https://app.example"]}}
  - name: closed
    paths: ["/closed"]
    plugins:
    - name: request-termination
      config: {{status_code: 503, message: "down for maintenance"}}
  - name: open
    paths: ["/open"]
consumers:
- username: alice
  custom_id: a-1
  keyauth_credentials:
  - key: secret-key
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_rejects_and_admits_with_consumer_headers() {
    let o = origin().await;
    let p = Proxy::start(&load(&config(o.addr)), ProxyOptions::default());

    let got = get_ok(p.addr, "/private/x").await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(got.json()["message"], "No API key found in request");
    assert!(got.header("www-authenticate").is_some());

    let got = get_ok(p.addr, "/private/x?apikey=wrong").await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    // Kong 3.x answers a wrong key with a plain "Unauthorized" (no key enumeration).
    assert_eq!(got.json()["message"], "Unauthorized");

    let got = get_ok(p.addr, "/private/x?apikey=secret-key&keep=1").await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&got.body)
    );
    let echo = got.json();
    assert_eq!(echo["headers"]["x-consumer-username"], "alice");
    assert_eq!(echo["headers"]["x-consumer-custom-id"], "a-1");
    assert!(echo["headers"]["x-consumer-id"].as_str().is_some());
    assert!(
        echo["headers"]["x-credential-identifier"]
            .as_str()
            .is_some()
    );
    // hide_credentials: the key never reaches the upstream.
    assert_eq!(echo["uri"], "/x?keep=1");

    let req = get("/private/y")
        .header("apikey", "secret-key")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let got = send(p.addr, req).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.json()["headers"].get("apikey").is_none());

    // Routes without plugins are untouched.
    assert_eq!(get_ok(p.addr, "/open").await.status, StatusCode::OK);
}

/// The consumer headers replace whatever the client sent under those names (one
/// line each, or none), on a direct service and on a balanced one, and a plugin after
/// the authentication sees them (request-transformer renames one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_headers_replace_the_clients_and_reach_later_plugins() {
    let o = origin().await;
    let yml = format!(
        r#"
_format_version: "3.0"
upstreams:
- name: pool
  targets:
  - target: {origin}
services:
- name: direct
  url: http://{origin}
  routes:
  - name: direct
    paths: ["/direct"]
    plugins:
    - name: key-auth
  - name: renamed
    paths: ["/renamed"]
    plugins:
    - name: key-auth
    - name: request-transformer
      config:
        rename:
          headers: ["x-consumer-username:x-user"]
- name: balanced
  host: pool
  routes:
  - name: balanced
    paths: ["/balanced"]
    plugins:
    - name: key-auth
consumers:
- username: bob
  keyauth_credentials:
  - key: bob-key
"#,
        origin = o.addr
    );
    let p = Proxy::start(&load(&yml), ProxyOptions::default());
    let spoofed = |path: &str| {
        get(path)
            .header("apikey", "bob-key")
            .header("x-consumer-id", "spoofed-id")
            .header("x-consumer-username", "mallory")
            .header("x-consumer-custom-id", "spoofed-custom")
            .header("x-credential-identifier", "spoofed-cred")
            .header("x-anonymous-consumer", "true")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for path in ["/direct", "/balanced"] {
        let got = send(p.addr, spoofed(path)).await;
        assert_eq!(got.status, StatusCode::OK, "{path}: {:?}", got.body);
        let echo = got.json();
        let h = &echo["headers"];
        assert_eq!(h["x-consumer-username"], "bob", "{path}");
        let id = h["x-consumer-id"].as_str().unwrap();
        assert_eq!(id.len(), 36, "{path}: a UUID, not the client's: {id}");
        assert_ne!(h["x-credential-identifier"], "spoofed-cred", "{path}");
        // Bob has no custom_id and a credential: both headers are cleared.
        assert!(h.get("x-consumer-custom-id").is_none(), "{path}: {h}");
        assert!(h.get("x-anonymous-consumer").is_none(), "{path}: {h}");
        assert_eq!(echo["repeated"], serde_json::json!([]), "{path}");
    }
    let got = send(p.addr, spoofed("/renamed")).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    let h = &got.json()["headers"];
    assert_eq!(h["x-user"], "bob");
    assert!(h.get("x-consumer-username").is_none(), "{h}");
    assert_eq!(h["x-consumer-id"].as_str().unwrap().len(), 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_termination_answers_for_the_upstream() {
    let o = origin().await;
    let p = Proxy::start(&load(&config(o.addr)), ProxyOptions::default());
    let got = get_ok(p.addr, "/closed").await;
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(got.json()["message"], "down for maintenance");
    assert!(got.header("x-kong-request-id").is_some());
    assert_eq!(o.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_on_proxied_responses() {
    let o = origin().await;
    let p = Proxy::start(&load(&config(o.addr)), ProxyOptions::default());
    let req = get("/private/z?apikey=secret-key")
        .header("origin", "https://app.example")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let got = send(p.addr, req).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.header("access-control-allow-origin"),
        Some("https://app.example")
    );
}

/// With several allowed origins, `header_filter` echoes the request's `Origin` when it
/// is one of them (it reads the request headers after the upstream call) and says
/// no origin to any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_echoes_the_matching_origin_of_several() {
    let o = origin().await;
    let yml = format!(
        r#"
_format_version: "3.0"
services:
- name: api
  url: http://{}
  routes:
  - name: c
    paths: ["/c"]
    plugins:
    - name: cors
      config:
        origins: ["https://app.example", "https://b.example"]
        credentials: true
        exposed_headers: ["x-total"]
"#,
        o.addr
    );
    let p = Proxy::start(&load(&yml), ProxyOptions::default());
    let with_origin = |origin: &'static str| {
        get("/c/x")
            .header("origin", origin)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let got = send(p.addr, with_origin("https://b.example")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.header("access-control-allow-origin"),
        Some("https://b.example")
    );
    assert_eq!(got.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(got.header("access-control-expose-headers"), Some("x-total"));
    assert_eq!(got.header("vary"), Some("Origin"));

    let got = send(p.addr, with_origin("https://evil.example")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("access-control-allow-origin"), None);
    // As in Kong: with a list of origins the credentials header is set regardless
    // (without an allowed origin the browser ignores it).
    assert_eq!(got.header("access-control-allow-credentials"), Some("true"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transformers_change_request_and_response() {
    let o = origin().await;
    let yml = format!(
        r#"
_format_version: "3.0"
services:
- name: api
  url: http://{}
  routes:
  - name: t
    paths: ["~/t/(?<item>[a-z]+)"]
    plugins:
    - name: request-transformer
      config:
        replace:
          uri: "/items/$(uri_captures.item)/json"
          headers: ["host:internal.example"]
        rename:
          querystring: ["q:query"]
        add:
          headers: ["x-added:$(query_params.q)", "x-client:gantry", "x-forwarded-for:10.9.9.9"]
        remove:
          headers: ["x-secret"]
    - name: response-transformer
      config:
        add:
          headers: ["x-served-by:gantry"]
          json: ["added:true", "count:3"]
          json_types: ["boolean", "number"]
        remove:
          headers: ["x-origin"]
          json: ["origin"]
"#,
        o.addr
    );
    let p = Proxy::start(&load(&yml), ProxyOptions::default());
    let req = get("/t/widget?q=blue&keep=1")
        .header("x-secret", "s3cr3t")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let got = send(p.addr, req).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    // Response side: headers changed, JSON body rewritten, length recomputed.
    assert_eq!(got.header("x-served-by"), Some("gantry"));
    assert!(got.header("x-origin").is_none());
    assert!(
        got.header("content-length")
            .is_none_or(|l| l == got.body.len().to_string())
    );
    let echo = got.json();
    assert_eq!(echo["added"], true);
    assert_eq!(echo["count"], 3);
    assert!(echo.get("origin").is_none());
    // Request side, as the upstream saw it.
    assert_eq!(echo["uri"], "/items/widget/json?keep=1&query=blue");
    assert_eq!(echo["headers"]["host"], "internal.example");
    assert_eq!(echo["headers"]["x-added"], "blue");
    assert_eq!(echo["headers"]["x-client"], "gantry");
    assert!(echo["headers"].get("x-secret").is_none());
    // Kong's X-Forwarded-For is computed after `access`, from the headers as plugins
    // left them.
    assert_eq!(echo["headers"]["x-forwarded-for"], "10.9.9.9, 127.0.0.1");
}

/// A rebuild after a change reuses the parts built only from unchanged kinds: the
/// consumer index after a route write (consumers not even given), the whole plugin set
/// when nothing it reads changed, the certificate store when no certificate changed.
#[test]
fn rebuilds_reuse_what_did_not_change() {
    use gantry_proxy::Snapshot;
    use gantry_proxy::snapshot::{BuildContext, default_dns};
    use std::collections::HashSet;
    use std::sync::Arc;

    let full = load(&config("127.0.0.1:9".parse().unwrap()));
    let first = Snapshot::build(&full).unwrap();
    let build = |cfg: &ConfigEntities, previous: &Snapshot, kinds: &[&str]| {
        let changed: HashSet<String> = kinds.iter().map(|k| k.to_string()).collect();
        Snapshot::build_with(
            cfg,
            BuildContext {
                dns: default_dns(),
                previous: Some(previous),
                strict: true,
                changed: Some(&changed),
            },
        )
        .unwrap()
    };
    let set = |s: &Snapshot| Arc::clone(s.plugins.as_ref().unwrap());

    // A route was added; consumers, credentials and certificates are left out.
    let mut routes_only = full.clone();
    let mut extra = (*routes_only.routes[0]).clone();
    extra.id = uuid::Uuid::new_v4();
    extra.name = Some("extra".into());
    extra.paths = Some(vec!["/extra".into()]);
    routes_only.routes.push(extra.into());
    routes_only.consumers.clear();
    routes_only.keyauth_credentials.clear();
    let second = build(&routes_only, &first, &["routes"]);
    assert!(Arc::ptr_eq(set(&first).index(), set(&second).index()));
    assert!(set(&second).index().key_auth("secret-key").is_some());
    assert!(Arc::ptr_eq(&first.certs, &second.certs));
    assert_eq!(second.routes.len(), first.routes.len() + 1);

    // A credential changed: the index is rebuilt from what is given.
    let mut more_keys = routes_only.clone();
    more_keys.consumers = full.consumers.clone();
    more_keys.keyauth_credentials = full.keyauth_credentials.clone();
    let mut k = more_keys.keyauth_credentials[0].clone();
    k.id = uuid::Uuid::new_v4();
    k.key = "second-key".into();
    more_keys.keyauth_credentials.push(k);
    let third = build(&more_keys, &second, &["keyauth_credentials"]);
    assert!(!Arc::ptr_eq(set(&second).index(), set(&third).index()));
    assert!(set(&third).index().key_auth("second-key").is_some());

    // Nothing plugins read changed: the same plugin set.
    let fourth = build(&more_keys, &third, &["upstreams"]);
    assert!(Arc::ptr_eq(&set(&third), &set(&fourth)));
}

/// A kong.yml of one service `api` at `origin`; `routes` continues its `routes:` list
/// (and may add top-level entities after it).
fn one_service(origin: std::net::SocketAddr, routes: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n- name: api\n  url: http://{origin}\n  routes:\n{routes}"
    )
}

/// An origin that hands over each request head exactly as it arrived and answers `ok`.
async fn wire_origin() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = buf.drain(..end + 4).collect();
                        let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// Sends `raw` on a fresh connection and returns the response head and body as text.
async fn raw_exchange(addr: std::net::SocketAddr, raw: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the proxy answered and closed")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Request lines no plugin changed go upstream as the client spelled them and in its
/// order (as nginx and Kong send them), minus what Kong drops or replaces; key-auth
/// finds its key under any spelling, and two spellings of it are two keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_request_lines_keep_the_clients_spelling_upstream() {
    let (origin, mut heads) = wire_origin().await;
    let yml = one_service(
        origin,
        r#"  - name: keyed
    paths: ["/keyed"]
    plugins:
    - name: key-auth
  - name: hidden
    paths: ["/hidden"]
    plugins:
    - name: key-auth
      config: {hide_credentials: true}
consumers:
- username: alice
  keyauth_credentials:
  - key: secret-key
"#,
    );
    let p = Proxy::start(&load(&yml), ProxyOptions::default());

    let got = raw_exchange(
        p.addr,
        "GET /keyed HTTP/1.1\r\nHost: h.example\r\nUser-Agent: T/1\r\nApiKey: secret-key\r\n\
         X-Consumer-ID: spoofed\r\nConnection: X-Drop, close\r\nX-Drop: 1\r\nX-Mixed-Case: v\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let head = heads.recv().await.unwrap();
    let lines: Vec<&str> = head.split("\r\n").collect();
    let at = |l: &str| lines.iter().position(|x| *x == l);
    let (ua, key, mixed) = (
        at("User-Agent: T/1").expect(&head),
        at("ApiKey: secret-key").expect(&head),
        at("X-Mixed-Case: v").expect(&head),
    );
    assert!(ua < key && key < mixed, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(!lower.contains("spoofed"), "{head}");
    assert!(!lower.contains("x-drop"), "{head}");
    assert!(
        lower.contains("\r\nx-consumer-username: alice\r\n"),
        "{head}"
    );
    assert_eq!(lower.matches("\r\nhost: ").count(), 1, "{head}");

    // hide_credentials changes the headers: the key is gone under any spelling.
    let got = raw_exchange(
        p.addr,
        "GET /hidden HTTP/1.1\r\nHost: h\r\nAPIKEY: secret-key\r\nX-Kept: k\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let head = heads.recv().await.unwrap().to_ascii_lowercase();
    assert!(
        !head.contains("apikey") && !head.contains("secret-key"),
        "{head}"
    );
    assert!(head.contains("\r\nx-kept: k\r\n"), "{head}");

    // The same name twice, spelled two ways: Kong's `get_headers()` gives a table.
    let got = raw_exchange(
        p.addr,
        "GET /keyed HTTP/1.1\r\nHost: h\r\nApiKey: secret-key\r\napikey: other\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 401"), "{got}");
    assert!(got.contains("Duplicate API key found"), "{got}");
}

/// basic-auth and cors read the client's lines under any spelling, and with a header
/// sent twice they take the first line, as Kong's `kong.request.get_header` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_reading_plugins_take_the_first_line_in_any_spelling() {
    let (origin, mut heads) = wire_origin().await;
    let yml = one_service(
        origin,
        r#"  - name: basic
    paths: ["/basic"]
    plugins:
    - name: basic-auth
  - name: cors
    paths: ["/cors"]
    plugins:
    - name: cors
      config: {origins: ["http://a.example"]}
consumers:
- username: alice
  basicauth_credentials:
  - username: alice
    password: pw
"#,
    );
    let p = Proxy::start(&load(&yml), ProxyOptions::default());
    // "alice:pw" and "alice:no"
    let (good, bad) = ("Basic YWxpY2U6cHc=", "Basic YWxpY2U6bm8=");

    let got = raw_exchange(
        p.addr,
        &format!(
            "GET /basic HTTP/1.1\r\nHost: h\r\nAUTHORIZATION: {good}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let head = heads.recv().await.unwrap();
    assert!(head.contains("\r\nAUTHORIZATION: Basic "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nx-consumer-username: alice\r\n"),
        "{head}"
    );

    let got = raw_exchange(
        p.addr,
        &format!(
            "GET /basic HTTP/1.1\r\nHost: h\r\nAuthorization: {good}\r\nauthorization: {bad}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    heads.recv().await.unwrap();

    let got = raw_exchange(
        p.addr,
        &format!(
            "GET /basic HTTP/1.1\r\nHost: h\r\nauthorization: {bad}\r\nAuthorization: {good}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 401"), "{got}");
    assert!(got.contains("Unauthorized"), "{got}");

    let got = raw_exchange(
        p.addr,
        "GET /cors HTTP/1.1\r\nHost: h\r\nORIGIN: http://a.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        got.to_ascii_lowercase()
            .contains("\r\naccess-control-allow-origin: http://a.example\r\n"),
        "{got}"
    );
}
