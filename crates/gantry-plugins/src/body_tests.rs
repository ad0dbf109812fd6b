#![allow(clippy::unwrap_used)]

use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderValue};
use serde_json::json;

use super::*;

fn headers(ct: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
    h
}

fn parse(ct: &str, body: &[u8]) -> Option<BodyArgs> {
    BodyArgs::parse(&headers(ct), body)
}

#[test]
fn mime_types_are_prefixes_of_the_type_before_the_parameters() {
    let k = |ct: &str| kind(&headers(ct));
    assert_eq!(k("application/json"), Some(BodyKind::Json));
    assert_eq!(k("Application/JSON; charset=utf-8"), Some(BodyKind::Json));
    assert_eq!(k("application/json-patch+json"), Some(BodyKind::Json));
    assert_eq!(k("application/vnd.api+json"), None);
    assert_eq!(k("text/json"), None);
    assert_eq!(
        k("application/x-www-form-urlencoded;charset=x"),
        Some(BodyKind::Form)
    );
    assert_eq!(
        k("multipart/form-data; boundary=x"),
        Some(BodyKind::Multipart)
    );
    assert_eq!(k("multipart/mixed; boundary=x"), None);
    assert_eq!(kind(&HeaderMap::new()), None);
}

#[test]
fn form_fields_flags_and_repeats() {
    let b = parse(
        "application/x-www-form-urlencoded",
        b"a=1&&flag&empty=&sp=a+b%21&r=1&r=2",
    )
    .unwrap();
    assert_eq!(b.get("a"), BodyField::Str("1".into()));
    assert_eq!(b.get("flag"), BodyField::Other);
    assert_eq!(b.get("empty"), BodyField::Str(String::new()));
    assert_eq!(b.get("sp"), BodyField::Str("a b!".into()));
    assert_eq!(b.get("r"), BodyField::Table);
    assert_eq!(b.get("x"), BodyField::Absent);
    assert_eq!(
        b.to_json(),
        json!({"a": "1", "flag": true, "empty": "", "sp": "a b!", "r": ["1", "2"]})
    );
    let mut b = b;
    b.remove("a");
    assert_eq!(&b.encode()[..], b"flag&empty=&sp=a+b%21&r=1&r=2");
}

#[test]
fn form_arguments_past_the_hundredth_are_ignored() {
    let mut body: Vec<String> = (0..100).map(|i| format!("f{i}=v")).collect();
    body.push("apikey=k".into());
    let b = parse(
        "application/x-www-form-urlencoded",
        body.join("&").as_bytes(),
    )
    .unwrap();
    assert_eq!(b.get("f99"), BodyField::Str("v".into()));
    assert_eq!(b.get("apikey"), BodyField::Absent);
}

#[test]
fn json_objects_and_arrays_are_tables_scalars_are_errors() {
    let b = parse("application/json", br#"{"k":"v","n":1,"t":[1],"o":{}}"#).unwrap();
    assert_eq!(b.get("k"), BodyField::Str("v".into()));
    assert_eq!(b.get("n"), BodyField::Other);
    assert_eq!(b.get("t"), BodyField::Table);
    assert_eq!(b.get("o"), BodyField::Table);
    let arr = parse("application/json", b"[1,2]").unwrap();
    assert_eq!(arr.get("k"), BodyField::Absent);
    assert_eq!(arr.to_json(), json!([1, 2]));
    assert_eq!(parse("application/json", b"\"s\""), None);
    assert_eq!(parse("application/json", b"{"), None);
    assert_eq!(parse("text/plain", b"a=1"), None);
}

#[test]
fn multipart_fields_repeats_and_removal_keep_other_parts() {
    let body = b"--B\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nsecret\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B\r\nContent-Disposition: form-data; name=\"r\"\r\n\r\n1\r\n--B\r\nContent-Disposition: form-data; name=\"r\"\r\n\r\n2\r\n--B--\r\n";
    let mut b = parse("multipart/form-data; boundary=B", body).unwrap();
    assert_eq!(b.get("apikey"), BodyField::Str("secret".into()));
    assert_eq!(b.get("file"), BodyField::Str("hello".into()));
    assert_eq!(b.get("r"), BodyField::Table);
    assert_eq!(b.get("x"), BodyField::Absent);
    assert_eq!(
        b.to_json(),
        json!({"apikey": "secret", "file": "hello", "r": ["1", "2"]})
    );
    b.remove("apikey");
    let out = b.encode();
    assert_eq!(
        &out[..],
        &b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B\r\nContent-Disposition: form-data; name=\"r\"\r\n\r\n1\r\n--B\r\nContent-Disposition: form-data; name=\"r\"\r\n\r\n2\r\n--B--\r\n"[..]
    );
    // without a boundary nothing is found (and nothing panics)
    let none = parse("multipart/form-data", body).unwrap();
    assert_eq!(none.get("apikey"), BodyField::Absent);
}
