//! The route table, the router and the OpenAPI document agree: every route in
//! the table is served (walked over HTTP) and described, and
//! `docs/openapi.json` is the current document (regenerate with
//! `GANTRY_UPDATE_OPENAPI=1 cargo test -p gantry-admin --test openapi`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::start;
use gantry_admin::{Op, openapi_document, routes::allow_header};

#[tokio::test]
async fn every_route_is_served_and_described() {
    let a = start().await;
    let doc = a.get("/openapi.json").await.json();
    assert_eq!(doc, openapi_document(&a.state));
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), a.state.routes.len());
    for r in a.state.routes.iter() {
        // described, with every method
        let item = paths
            .get(&r.path)
            .unwrap_or_else(|| panic!("{} not described", r.path));
        for m in &r.methods {
            let op = &item[m.as_str().to_lowercase()];
            assert!(
                op["responses"].is_object(),
                "{} {} not described",
                m,
                r.path
            );
            assert!(op["summary"].is_string());
        }
        // served: OPTIONS answers with the route's methods
        let concrete: String = r
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let res = a.raw("OPTIONS", &concrete, &[], b"").await;
        if r.op == Op::Disabled {
            assert_eq!(res.status, 404, "{concrete}");
            continue;
        }
        assert_eq!(res.status, 204, "{concrete} not routed");
        assert_eq!(
            res.header("allow"),
            Some(allow_header(&r.methods).as_str()),
            "{concrete}"
        );
    }
    // and nothing outside the table is
    assert_eq!(a.raw("OPTIONS", "/not/a/route", &[], b"").await.status, 404);
}

#[tokio::test]
async fn docs_openapi_json_is_current() {
    let a = start().await;
    let mut doc = openapi_document(&a.state);
    doc["info"]["version"] = serde_json::json!("3.9.1");
    let text = format!("{}\n", serde_json::to_string_pretty(&doc).unwrap());
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let update = std::env::var_os("GANTRY_UPDATE_OPENAPI").is_some() || !path.exists();
    if update {
        std::fs::write(&path, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert!(
        on_disk == text,
        "docs/openapi.json is stale: run GANTRY_UPDATE_OPENAPI=1 cargo test -p gantry-admin --test openapi"
    );
}
