//! `/config` (DB-less): `POST` replaces every entity with a declarative
//! document (YAML or JSON body, or a `config` field), `GET` exports the current
//! configuration as YAML. Kong's `kong/api/routes/config.lua`.

use axum::response::Response;
use bytes::Bytes;
use gantry_core::declarative::{self, DeclarativeConfig};
use gantry_store::Dump;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::body::{self, Encoding};
use crate::error::{ApiError, ApiResult};
use crate::paging::Query;
use crate::response::{json as json_response, ok};
use crate::state::AdminState;

const DB_ONLY: &str =
    "this endpoint is only available when Kong is configured to not use a database";

fn require_dbless(state: &AdminState) -> ApiResult<()> {
    if state.dbless() {
        Ok(())
    } else {
        Err(ApiError::bad_request(DB_ONLY))
    }
}

/// Hash of a declarative document (32 hex digits), stable across key order
/// and formatting: SHA-1 of its canonical JSON, truncated.
pub fn hash_document(doc: &Value) -> String {
    let mut canon = String::new();
    canonical(doc, &mut canon);
    let mut h = sha1_smol::Sha1::new();
    h.update(canon.as_bytes());
    let hex = h.digest().to_string();
    hex.get(..32).unwrap_or(&hex).to_string()
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(x) = m.get(k) {
                    canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The declarative text of a `POST /config` body.
async fn document_text(headers: &HeaderMap, bytes: Bytes) -> ApiResult<String> {
    let enc = body::encoding(headers, &bytes, true)?;
    let text = match enc {
        Encoding::Empty => String::new(),
        Encoding::Json => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => match m.get("config") {
                Some(Value::String(s)) => s.clone(),
                _ => String::from_utf8_lossy(&bytes).into_owned(),
            },
            _ => return Err(ApiError::bad_request("Cannot parse JSON body")),
        },
        Encoding::Yaml => String::from_utf8_lossy(&bytes).into_owned(),
        Encoding::Form | Encoding::Multipart(_) => body::form_pairs(&enc, bytes)
            .await?
            .into_iter()
            .find(|(k, _)| k == "config")
            .map(|(_, v)| v)
            .unwrap_or_default(),
    };
    Ok(text)
}

fn section<T: Serialize>(dump: &mut Dump, name: &str, items: &[T]) -> ApiResult<()> {
    let mut list = Vec::with_capacity(items.len());
    for i in items {
        list.push(serde_json::to_value(i).map_err(ApiError::unexpected)?);
    }
    dump.insert(name.to_string(), list);
    Ok(())
}

/// Every entity of a validated configuration as store rows.
pub fn to_dump(cfg: &DeclarativeConfig) -> ApiResult<Dump> {
    let mut d = Dump::new();
    section(&mut d, "services", &cfg.services)?;
    section(&mut d, "routes", &cfg.routes)?;
    section(&mut d, "upstreams", &cfg.upstreams)?;
    section(&mut d, "targets", &cfg.targets)?;
    section(&mut d, "consumers", &cfg.consumers)?;
    section(&mut d, "plugins", &cfg.plugins)?;
    section(&mut d, "certificates", &cfg.certificates)?;
    section(&mut d, "snis", &cfg.snis)?;
    section(&mut d, "ca_certificates", &cfg.ca_certificates)?;
    section(&mut d, "keyauth_credentials", &cfg.keyauth_credentials)?;
    section(&mut d, "basicauth_credentials", &cfg.basicauth_credentials)?;
    section(&mut d, "jwt_secrets", &cfg.jwt_secrets)?;
    section(&mut d, "hmacauth_credentials", &cfg.hmacauth_credentials)?;
    section(&mut d, "acls", &cfg.acls)?;
    section(&mut d, "oauth2_credentials", &cfg.oauth2_credentials)?;
    Ok(d)
}

fn load<T: DeserializeOwned>(dump: &Dump, name: &str) -> ApiResult<Vec<T>> {
    let items = dump.get(name).cloned().unwrap_or_default();
    serde_json::from_value(Value::Array(items)).map_err(ApiError::unexpected)
}

/// The typed configuration of a store dump (for `GET /config`).
pub fn from_dump(dump: &Dump) -> ApiResult<DeclarativeConfig> {
    Ok(DeclarativeConfig {
        format_version: "3.0".into(),
        transform: false,
        services: load(dump, "services")?,
        routes: load(dump, "routes")?,
        upstreams: load(dump, "upstreams")?,
        targets: load(dump, "targets")?,
        consumers: load(dump, "consumers")?,
        plugins: load(dump, "plugins")?,
        certificates: load(dump, "certificates")?,
        snis: load(dump, "snis")?,
        ca_certificates: load(dump, "ca_certificates")?,
        keyauth_credentials: load(dump, "keyauth_credentials")?,
        basicauth_credentials: load(dump, "basicauth_credentials")?,
        jwt_secrets: load(dump, "jwt_secrets")?,
        hmacauth_credentials: load(dump, "hmacauth_credentials")?,
        acls: load(dump, "acls")?,
        oauth2_credentials: load(dump, "oauth2_credentials")?,
    })
}

/// `GET /config`.
pub async fn get(state: &AdminState) -> ApiResult<Response> {
    require_dbless(state)?;
    let dump = state.store.dump().await?;
    let cfg = from_dump(&dump)?;
    let yaml = cfg.to_yaml().map_err(ApiError::unexpected)?;
    Ok(ok(&json!({ "config": yaml })))
}

/// `POST /config`.
pub async fn post(
    state: &AdminState,
    q: &Query,
    headers: &HeaderMap,
    bytes: Bytes,
) -> ApiResult<Response> {
    require_dbless(state)?;
    let text = document_text(headers, bytes).await?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "expected a declarative configuration",
        ));
    }
    let Ok(_guard) = state.config_lock.try_lock() else {
        let mut res = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({ "message": "Currently loading previous configuration" }),
        );
        res.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("60"));
        return Ok(res);
    };
    let flatten = q.flag("flatten_errors");
    let doc =
        declarative::parse_document(&text).map_err(|e| ApiError::from(e.to_kong_error(flatten)))?;
    let hash = hash_document(&doc);
    if q.flag("check_hash") && hash == state.config_hash() {
        let mut res = Response::new(axum::body::Body::empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(res);
    }
    let cfg = declarative::from_value(&doc, state.schemas)
        .map_err(|e| ApiError::from(e.to_kong_error(flatten)))?;
    let dump = to_dump(&cfg)?;
    let body = grouped(&dump);
    state.store.replace_all(dump).await?;
    state.set_config_hash(hash);
    Ok(json_response(StatusCode::CREATED, &body))
}

/// Kong's success body: entities grouped by name, keyed by id.
fn grouped(dump: &Dump) -> Value {
    let mut out = Map::new();
    for (name, items) in dump {
        if items.is_empty() {
            continue;
        }
        let mut by_id = Map::new();
        for item in items {
            if let Some(id) = item.get("id").and_then(Value::as_str) {
                by_id.insert(id.to_string(), item.clone());
            }
        }
        out.insert(name.clone(), Value::Object(by_id));
    }
    Value::Object(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_key_order() {
        let a = json!({"_format_version":"3.0","services":[{"name":"a","host":"h"}]});
        let b = json!({"services":[{"host":"h","name":"a"}],"_format_version":"3.0"});
        assert_eq!(hash_document(&a), hash_document(&b));
        assert_eq!(hash_document(&a).len(), 32);
        assert_ne!(hash_document(&a), hash_document(&json!({})));
    }
}
