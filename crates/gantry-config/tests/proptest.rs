//! Property tests: no input text or environment makes loading panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gantry_config::{Settings, parse_listeners, values};
use proptest::prelude::*;

/// Lines that look like kong.conf, built from real keys and tricky values.
fn conf_line() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "log_level",
        "proxy_listen",
        "admin_listen",
        "status_listen",
        "headers",
        "headers_upstream",
        "trusted_ips",
        "nginx_http_client_max_body_size",
        "client_max_body_size",
        "upstream_keepalive_pool_size",
        "nginx_worker_processes",
        "database",
        "pg_port",
        "real_ip_header",
        "ssl_cert",
        "ssl_cert_key",
        "role",
        "router_flavor",
        "prefix",
        "unknown_key",
        "nginx_http_foo",
    ]);
    (keys, ".{0,40}", prop::bool::ANY).prop_map(|(k, v, comment)| {
        if comment {
            format!("{k} = {v} # c")
        } else {
            format!("{k}={v}")
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = Settings::from_conf_str(&text, Vec::new());
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Settings::from_conf_str(&text, Vec::new());
    }

    #[test]
    fn conf_like_text_never_panics(lines in prop::collection::vec(conf_line(), 0..20)) {
        let text = lines.join("\n");
        let _ = Settings::from_conf_str(&text, Vec::new());
    }

    #[test]
    fn arbitrary_env_never_panics(
        env in prop::collection::vec(("(KONG_|GANTRY_)?[A-Za-z_]{0,30}", ".{0,40}"), 0..10)
    ) {
        let _ = Settings::from_conf_str("", env);
    }

    #[test]
    fn value_parsers_never_panic(v in "\\PC{0,60}") {
        let _ = parse_listeners("proxy_listen", &v);
        let _ = values::parse_size("k", &v);
        let _ = values::parse_u64("k", &v);
        let _ = values::parse_bool("k", &v);
        let _ = values::parse_port("k", &v);
    }

    #[test]
    fn listener_display_round_trips(
        a in any::<[u8; 4]>(), port in any::<u16>(), ssl in any::<bool>(),
        backlog in prop::option::of(any::<u32>())
    ) {
        let mut text = format!("{}.{}.{}.{}:{port}", a[0], a[1], a[2], a[3]);
        if ssl { text.push_str(" ssl"); }
        if let Some(b) = backlog { text.push_str(&format!(" backlog={b}")); }
        let l = parse_listeners("proxy_listen", &text).unwrap();
        prop_assert_eq!(l.len(), 1);
        let again = parse_listeners("proxy_listen", &l[0].to_string()).unwrap();
        prop_assert_eq!(&l, &again);
    }

    #[test]
    fn sizes_round_trip(n in 0u64..(1 << 40), unit in prop::sample::select(vec!["", "k", "m", "g", "K", "M", "G"])) {
        let mult = match unit.to_ascii_lowercase().as_str() { "k" => 1 << 10, "m" => 1 << 20, "g" => 1 << 30, _ => 1 };
        let parsed = values::parse_size("k", &format!("{n}{unit}"));
        match n.checked_mul(mult) {
            Some(bytes) => prop_assert_eq!(parsed.unwrap(), bytes),
            None => prop_assert!(parsed.is_err()),
        }
    }
}
