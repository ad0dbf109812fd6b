//! Route fixtures shared by the router benches.
#![allow(dead_code)]

use std::collections::BTreeMap;

use gantry_core::Route;
use uuid::Uuid;

pub fn base(i: usize) -> Route {
    Route {
        id: Uuid::from_u128(0x9e37_79b9_7f4a_7c15_u128.wrapping_mul(i as u128 + 1)),
        ..Route::default()
    }
}

pub fn v(items: &[String]) -> Option<Vec<String>> {
    Some(items.to_vec())
}

/// Route `i` of the mix: 40% host+path, 20% path-only prefix, 10% wildcard host + path,
/// 10% regex path (half with a host), 10% host + header, 10% host + method + path.
pub fn mixed_route(i: usize) -> Route {
    let mut r = base(i);
    match i % 10 {
        0..=3 => {
            r.hosts = v(&[format!("svc{i}.example.com")]);
            r.paths = v(&[format!("/api/v1/svc{i}"), format!("/api/v2/svc{i}")]);
        }
        4 | 5 => r.paths = v(&[format!("/p{i}/resource")]),
        6 => {
            r.hosts = v(&[format!("*.t{i}.example.com")]);
            r.paths = v(&["/".to_string()]);
        }
        7 => {
            if i % 20 == 17 {
                r.hosts = v(&[format!("svc{i}.example.com")]);
            }
            r.paths = v(&[format!(r"~/users/(?<id>\d+)/r{i}$")]);
            r.regex_priority = (i % 3) as i64;
        }
        8 => {
            r.hosts = v(&[format!("svc{i}.example.com")]);
            r.headers = Some(BTreeMap::from([(
                "x-tenant".to_string(),
                vec![format!("t{i}")],
            )]));
        }
        _ => {
            r.hosts = v(&[format!("svc{i}.example.com")]);
            r.methods = v(&["GET".to_string(), "POST".to_string()]);
            r.paths = v(&[format!("/orders/{i}")]);
        }
    }
    r
}
