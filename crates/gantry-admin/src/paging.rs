//! Pagination and tag filters of list endpoints (`size`, `offset`, `tags`), with
//! Kong's errors, and the `{"data", "offset", "next"}` page body.

use gantry_store::{ListQuery, TagFilter};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};

/// Default page size.
pub const DEFAULT_SIZE: usize = 100;
/// Largest page size.
pub const MAX_SIZE: usize = 1000;
/// Most tags one filter may name.
pub const MAX_TAGS: usize = 5;

/// `ngx.escape_uri`: everything but `A-Za-z0-9-._~` is escaped.
const URI: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Escapes a query value as `ngx.escape_uri` does.
pub fn escape_uri(s: &str) -> String {
    utf8_percent_encode(s, URI).to_string()
}

/// Decoded query string pairs.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// First value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a flag is set (`1`, `true`, `yes`, `on`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "true" | "yes" | "on"))
    }
}

/// A validated page request plus what the `next` link repeats.
#[derive(Debug, Clone)]
pub struct PageArgs {
    /// For the store.
    pub query: ListQuery,
    /// `tags` as given (repeated in `next` of top-level collections).
    pub raw_tags: Option<String>,
    /// `size` as given (repeated in `next` of top-level collections).
    pub raw_size: Option<String>,
}

/// Reads `size`, `offset` and `tags`.
pub fn page_args(q: &Query) -> ApiResult<PageArgs> {
    let raw_size = q.get("size").map(str::to_string);
    let size = match &raw_size {
        None => DEFAULT_SIZE,
        Some(s) => {
            let n: f64 = s
                .trim()
                .parse()
                .ok()
                .filter(|n: &f64| !n.is_nan())
                .ok_or_else(|| ApiError::dao(9, "size must be a number", None))?;
            if n.fract() != 0.0 || n < 1.0 || n > MAX_SIZE as f64 {
                return Err(ApiError::dao(
                    9,
                    format!("size must be an integer between 1 and {MAX_SIZE}"),
                    None,
                ));
            }
            n as usize
        }
    };
    let raw_tags = q.get("tags").map(str::to_string);
    let tags = match &raw_tags {
        None => None,
        Some(t) => Some(tag_filter(t)?),
    };
    let offset = q
        .get("offset")
        .filter(|o| !o.is_empty())
        .map(str::to_string);
    Ok(PageArgs {
        query: ListQuery {
            size,
            offset,
            tags,
            foreign: None,
        },
        raw_tags,
        raw_size,
    })
}

fn tag_byte_ok(b: u8) -> bool {
    // printable ASCII except ',' and '/', plus UTF-8 bytes 0x80..=0xF4
    matches!(b, 0x20..=0x2B | 0x2D | 0x2E | 0x30..=0x7E | 0x80..=0xF4)
}

fn options_error(msg: &str) -> ApiError {
    ApiError::dao(
        11,
        format!("invalid option (tags: {msg})"),
        Some(json!({ "tags": msg })),
    )
}

/// Parses `a,b` (all) or `a/b` (any) with Kong's checks.
pub fn tag_filter(t: &str) -> ApiResult<TagFilter> {
    if t.is_empty() {
        return Err(options_error("cannot be null"));
    }
    let valid_with = |sep: u8| {
        let parts: Vec<&[u8]> = t.as_bytes().split(|b| *b == sep).collect();
        // trailing separator allowed (`a,`), empty inner parts are not
        let Some((last, inner)) = parts.split_last() else {
            return false;
        };
        inner
            .iter()
            .all(|p| !p.is_empty() && p.iter().all(|b| tag_byte_ok(*b)))
            && last.iter().all(|b| tag_byte_ok(*b))
            && !(last.is_empty() && inner.is_empty())
    };
    let (sep, all) = if valid_with(b',') {
        (',', true)
    } else if valid_with(b'/') {
        ('/', false)
    } else {
        return Err(options_error("invalid filter syntax"));
    };
    let tags: Vec<String> = t
        .split(sep)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if tags.len() > MAX_TAGS {
        return Err(options_error("cannot query more than 5 tags"));
    }
    Ok(if all {
        TagFilter::All(tags)
    } else {
        TagFilter::Any(tags)
    })
}

/// The page body: `{"data": [...], "next": <url|null>}` plus `offset` when
/// there is a next page.
pub fn page_body(items: Vec<Value>, offset: Option<&str>, next: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("data".into(), Value::Array(items));
    if let Some(o) = offset {
        m.insert("offset".into(), Value::String(o.to_string()));
    }
    m.insert("next".into(), next.map_or(Value::Null, Value::String));
    Value::Object(m)
}

/// `next` of a top-level collection: `/services?offset=..&tags=..&size=..`.
pub fn next_top(collection: &str, offset: &str, args: &PageArgs) -> String {
    let mut s = format!("/{collection}?offset={}", escape_uri(offset));
    if let Some(t) = &args.raw_tags {
        s.push_str("&tags=");
        s.push_str(&escape_uri(t));
    }
    if let Some(z) = &args.raw_size {
        s.push_str("&size=");
        s.push_str(&escape_uri(z));
    }
    s
}

/// `next` of a nested collection: `/services/<as given>/routes?offset=..`.
pub fn next_nested(parent: &str, key: &str, nested: &str, offset: &str) -> String {
    format!("/{parent}/{key}/{nested}?offset={}", escape_uri(offset))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(Some(s))
    }

    #[test]
    fn size_errors() {
        assert_eq!(page_args(&q("")).unwrap().query.size, 100);
        assert_eq!(page_args(&q("size=7")).unwrap().query.size, 7);
        let e = page_args(&q("size=abc")).unwrap_err();
        assert_eq!(
            e.body(),
            json!({"code":9,"name":"invalid size","message":"size must be a number"})
        );
        let e = page_args(&q("size=1001")).unwrap_err();
        assert_eq!(
            e.body()["message"],
            "size must be an integer between 1 and 1000"
        );
        assert!(page_args(&q("size=0")).is_err());
        assert!(page_args(&q("size=1.5")).is_err());
    }

    #[test]
    fn tag_rules() {
        assert_eq!(
            tag_filter("a,b").unwrap(),
            TagFilter::All(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            tag_filter("a/b").unwrap(),
            TagFilter::Any(vec!["a".into(), "b".into()])
        );
        assert_eq!(tag_filter("a").unwrap(), TagFilter::All(vec!["a".into()]));
        let e = tag_filter("a,b/c").unwrap_err();
        assert_eq!(
            e.body(),
            json!({"code":11,"name":"invalid options","message":"invalid option (tags: invalid filter syntax)","options":{"tags":"invalid filter syntax"}})
        );
        assert_eq!(
            tag_filter("a,b,c,d,e,f").unwrap_err().body()["options"]["tags"],
            "cannot query more than 5 tags"
        );
        assert_eq!(
            tag_filter("").unwrap_err().body()["options"]["tags"],
            "cannot be null"
        );
    }

    #[test]
    fn next_links() {
        let args = page_args(&q("tags=a%2Cb&size=2")).unwrap();
        assert_eq!(
            next_top("services", "x=", &args),
            "/services?offset=x%3D&tags=a%2Cb&size=2"
        );
    }
}
