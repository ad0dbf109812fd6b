//! Upstream health endpoints (`GET /upstreams/{u}/health`, `PUT
//! /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy`), answered from the
//! running balancers the node hands in through [`HealthSource`].

use std::sync::Arc;

use axum::response::Response;
use gantry_balancer::{TargetHealth, UpstreamBalancer};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::paging::Query;
use crate::resolve;
use crate::response::{no_content, ok};
use crate::state::AdminState;

/// The node's live balancers, by upstream id.
pub trait HealthSource: Send + Sync {
    /// The running balancer of an upstream; `None` when the running configuration does
    /// not have it (yet).
    fn balancer(&self, upstream_id: Uuid) -> Option<Arc<UpstreamBalancer>>;
}

async fn upstream_id(state: &AdminState, segment: &str) -> ApiResult<Uuid> {
    let up = resolve::find(state, "upstreams", segment)
        .await?
        .ok_or_else(ApiError::not_found)?;
    up.get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(ApiError::not_found)
}

fn address_json(t: &TargetHealth) -> Value {
    let addresses: Vec<Value> = t
        .addresses
        .iter()
        .map(|a| {
            json!({
                "ip": a.addr.ip().to_string(),
                "port": a.addr.port(),
                "health": a.health.as_str(),
                "weight": a.weight,
            })
        })
        .collect();
    json!({ "addresses": addresses })
}

/// `GET /upstreams/{u}/health` (`?balancer_health=1` for the balancer-level view).
pub async fn get(state: &AdminState, segment: &str, query: &Query) -> ApiResult<Response> {
    let id = upstream_id(state, segment).await?;
    let health = state
        .health
        .as_ref()
        .and_then(|h| h.balancer(id))
        .map(|b| b.health());
    if query
        .get("balancer_health")
        .is_some_and(|v| v == "1" || v == "true")
    {
        let Some(h) = health else {
            return Err(ApiError::not_found());
        };
        let total: u32 = h.targets.iter().map(|t| t.weight).sum();
        let available: u32 = h
            .targets
            .iter()
            .filter(|t| t.health.as_str() != "UNHEALTHY" && t.health.as_str() != "DNS_ERROR")
            .map(|t| t.weight)
            .sum();
        return Ok(ok(&json!({
            "data": {
                "id": id.to_string(),
                "health": h.health.as_str(),
                "details": {
                    "healthy": h.health.as_str() != "UNHEALTHY",
                    "weight": { "total": total, "available": available, "unavailable": total - available },
                },
            },
            "next": null,
        })));
    }
    // Every target entity of the upstream, with the balancer's view of it.
    let mut args = gantry_store::ListQuery {
        size: 1000,
        foreign: Some(("upstream".to_string(), id)),
        ..Default::default()
    };
    let mut data = Vec::new();
    loop {
        let page = state.store.list("targets", &args).await?;
        for mut t in page.items {
            let target = t
                .get("target")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let live = health
                .as_ref()
                .and_then(|h| h.targets.iter().find(|x| x.target == target));
            if let Value::Object(m) = &mut t {
                let (h, d) = match live {
                    Some(l) => (l.health.as_str().to_string(), address_json(l)),
                    None => ("HEALTHCHECKS_OFF".to_string(), json!({ "addresses": [] })),
                };
                m.insert("health".into(), Value::String(h));
                m.insert("data".into(), d);
            }
            data.push(t);
        }
        match page.offset {
            Some(o) => args.offset = Some(o),
            None => break,
        }
    }
    Ok(ok(&json!({
        "data": data,
        "next": null,
        "node_id": state.node.node_id.to_string(),
    })))
}

/// `PUT .../healthy|unhealthy`: forces a target (or one address) up or down → 204.
pub async fn set(
    state: &AdminState,
    segment: &str,
    target: &str,
    address: Option<&str>,
    healthy: bool,
) -> ApiResult<Response> {
    let id = upstream_id(state, segment).await?;
    let balancer = state
        .health
        .as_ref()
        .and_then(|h| h.balancer(id))
        .ok_or_else(ApiError::not_found)?;
    // Targets may be addressed by id: map it to the target string.
    let target = match Uuid::parse_str(target) {
        Ok(tid) => state
            .store
            .get("targets", tid)
            .await?
            .and_then(|t| t.get("target").and_then(Value::as_str).map(str::to_string))
            .ok_or_else(ApiError::not_found)?,
        Err(_) => {
            gantry_core::schemas::normalize_target(target).unwrap_or_else(|| target.to_string())
        }
    };
    let res = match address {
        None => balancer.set_target_health(&target, healthy).map(|_| ()),
        Some(a) => {
            let addr = a.parse().map_err(|_| ApiError::not_found())?;
            balancer.set_address_health(&target, addr, healthy)
        }
    };
    res.map_err(|_| ApiError::not_found())?;
    Ok(no_content())
}
