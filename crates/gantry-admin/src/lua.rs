//! Penlight's compact `pl.pretty.write(t, "")` for JSON values, as Kong embeds
//! keys in DAO error messages (`UNIQUE violation detected on '{name="s1"}'`).

use serde_json::Value;

/// Renders a JSON value the way `pl.pretty.write(value, "")` renders the
/// equivalent Lua table: sorted keys, `key="string"`, nested tables inline,
/// JSON `null` as `null` (Kong substitutes it for `"userdata: NULL"`).
pub fn pretty(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            (None, Some(f)) => f.to_string(),
            _ => n.to_string(),
        },
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(pretty).collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .filter_map(|k| m.get(k).map(|v| (k, v)))
                .map(|(k, v)| {
                    let key = if is_identifier(k) {
                        k.clone()
                    } else {
                        format!("[{}]", quote(k))
                    };
                    format!("{key}={}", pretty(v))
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 32 => out.push_str(&format!("\\{}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_penlight() {
        assert_eq!(pretty(&json!({"name": "s1"})), r#"{name="s1"}"#);
        assert_eq!(
            pretty(&json!({"group": "g", "consumer": {"id": "x"}})),
            r#"{consumer={id="x"},group="g"}"#
        );
        assert_eq!(
            pretty(&json!({"a-b": 5, "c": null})),
            r#"{["a-b"]=5,c=null}"#
        );
    }
}
