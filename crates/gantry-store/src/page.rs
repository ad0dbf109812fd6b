//! Pagination and filters shared by the backends: Kong's offset token (as its
//! PostgreSQL strategy makes it: base64 of the JSON array of the last primary key)
//! and tag matching.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use uuid::Uuid;

use crate::{StoreError, StoreResult, TagFilter};

/// Default page size (Kong's).
pub const DEFAULT_SIZE: usize = 100;

/// Largest page the store serves (the Admin API caps `size` at 1000 itself).
pub const MAX_SIZE: usize = 1_000_000;

/// The page size to use for a requested `size` (0 means the default).
pub fn effective_size(size: usize) -> usize {
    if size == 0 {
        DEFAULT_SIZE
    } else {
        size.min(MAX_SIZE)
    }
}

/// The token for a page that ended at `last`.
pub fn encode_offset(last: Uuid) -> String {
    STANDARD.encode(Value::from(vec![Value::String(last.to_string())]).to_string())
}

/// The last id of the previous page, from its token. Any token this store did not
/// make is Kong's code 7 `invalid offset`.
pub fn decode_offset(token: &str) -> StoreResult<Uuid> {
    let bad = || StoreError::InvalidOffset(token.to_string());
    let bytes = STANDARD.decode(token).map_err(|_| bad())?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    json.as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(bad)
}

/// A position in the `/tags` listing: (tag, entity, id).
pub type TagPosition = (String, String, Uuid);

/// The token for a `/tags` page that ended at `last`.
pub fn encode_tag_offset(last: &TagPosition) -> String {
    let (tag, entity, id) = last;
    STANDARD.encode(serde_json::json!([tag, entity, id.to_string()]).to_string())
}

/// The last position of the previous `/tags` page, from its token.
pub fn decode_tag_offset(token: &str) -> StoreResult<TagPosition> {
    let bad = || StoreError::InvalidOffset(token.to_string());
    let bytes = STANDARD.decode(token).map_err(|_| bad())?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let part = |i: usize| json.get(i).and_then(Value::as_str).ok_or_else(bad);
    let id = Uuid::parse_str(part(2)?).map_err(|_| bad())?;
    Ok((part(0)?.to_string(), part(1)?.to_string(), id))
}

/// A `/tags` item.
pub fn tag_item(tag: &str, entity: &str, id: Uuid) -> Value {
    serde_json::json!({"tag": tag, "entity_name": entity, "entity_id": id.to_string()})
}

/// Whether `value`'s `tags` pass `filter`.
pub fn tags_match(filter: &TagFilter, value: &Value) -> bool {
    let tags: Vec<&str> = value
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    tags_pass(filter, &tags)
}

/// Whether a row with these tags passes `filter`.
pub fn tags_pass<S: AsRef<str>>(filter: &TagFilter, tags: &[S]) -> bool {
    let has = |w: &String| tags.iter().any(|t| t.as_ref() == w.as_str());
    match filter {
        TagFilter::All(want) => want.iter().all(has),
        TagFilter::Any(want) => want.iter().any(has),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn offset_round_trips_and_rejects_garbage() {
        let id = Uuid::new_v4();
        let tok = encode_offset(id);
        assert_eq!(decode_offset(&tok).unwrap(), id);
        for bad in ["!!!", "bm90IGpzb24=", "WzFd", ""] {
            assert!(matches!(decode_offset(bad), Err(StoreError::InvalidOffset(t)) if t == bad));
            assert!(decode_tag_offset(bad).is_err());
        }
        let pos = ("t".to_string(), "services".to_string(), id);
        assert_eq!(decode_tag_offset(&encode_tag_offset(&pos)).unwrap(), pos);
    }

    #[test]
    fn tag_filters() {
        let v = json!({"tags": ["a", "b"]});
        assert!(tags_match(
            &TagFilter::All(vec!["a".into(), "b".into()]),
            &v
        ));
        assert!(!tags_match(
            &TagFilter::All(vec!["a".into(), "c".into()]),
            &v
        ));
        assert!(tags_match(
            &TagFilter::Any(vec!["c".into(), "b".into()]),
            &v
        ));
        assert!(!tags_match(
            &TagFilter::Any(vec!["c".into()]),
            &json!({"tags": null})
        ));
    }
}
