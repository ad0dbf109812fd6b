//! Shared builders for the router integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use gantry_core::{Protocol, Route};
use gantry_router::RequestView;
use http::{HeaderMap, HeaderName, HeaderValue};
use uuid::Uuid;

/// A route with Kong's defaults and no matching fields.
pub fn route(id: u128) -> Route {
    Route {
        id: Uuid::from_u128(id),
        ..Route::default()
    }
}

pub fn strs(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

pub trait RouteExt {
    fn hosts(self, v: &[&str]) -> Self;
    fn paths(self, v: &[&str]) -> Self;
    fn methods(self, v: &[&str]) -> Self;
    fn snis(self, v: &[&str]) -> Self;
    fn header(self, name: &str, values: &[&str]) -> Self;
    fn protocols(self, v: &[Protocol]) -> Self;
    fn regex_priority(self, p: i64) -> Self;
    fn strip(self, s: bool) -> Self;
}

impl RouteExt for Route {
    fn hosts(mut self, v: &[&str]) -> Self {
        self.hosts = strs(v);
        self
    }
    fn paths(mut self, v: &[&str]) -> Self {
        self.paths = strs(v);
        self
    }
    fn methods(mut self, v: &[&str]) -> Self {
        self.methods = strs(v);
        self
    }
    fn snis(mut self, v: &[&str]) -> Self {
        self.snis = strs(v);
        self
    }
    fn header(mut self, name: &str, values: &[&str]) -> Self {
        self.headers.get_or_insert_with(BTreeMap::new).insert(
            name.to_string(),
            values.iter().map(|s| s.to_string()).collect(),
        );
        self
    }
    fn protocols(mut self, v: &[Protocol]) -> Self {
        self.protocols = v.to_vec();
        self
    }
    fn regex_priority(mut self, p: i64) -> Self {
        self.regex_priority = p;
        self
    }
    fn strip(mut self, s: bool) -> Self {
        self.strip_path = s;
        self
    }
}

/// An owned request from which a `RequestView` is borrowed.
#[derive(Debug, Clone)]
pub struct Req {
    pub scheme: Protocol,
    pub method: String,
    pub host: Option<String>,
    pub listener_port: u16,
    pub path: Vec<u8>,
    pub headers: HeaderMap,
    pub sni: Option<String>,
}

pub fn req(host: Option<&str>, path: &str) -> Req {
    Req {
        scheme: Protocol::Http,
        method: "GET".into(),
        host: host.map(str::to_owned),
        listener_port: 8000,
        path: path.as_bytes().to_vec(),
        headers: HeaderMap::new(),
        sni: None,
    }
}

impl Req {
    pub fn method(mut self, m: &str) -> Self {
        self.method = m.into();
        self
    }
    pub fn https(mut self, sni: Option<&str>) -> Self {
        self.scheme = Protocol::Https;
        self.sni = sni.map(str::to_string);
        self.listener_port = 8443;
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
        self
    }
    pub fn port(mut self, p: u16) -> Self {
        self.listener_port = p;
        self
    }
    pub fn view(&self) -> RequestView<'_, '_> {
        RequestView {
            scheme: self.scheme,
            method: &self.method,
            host: self.host.as_deref(),
            listener_port: self.listener_port,
            path: &self.path,
            headers: &self.headers,
            sni: self.sni.as_deref(),
            client_addr: None,
            local_addr: None,
        }
    }
}
