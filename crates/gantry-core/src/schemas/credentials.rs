//! Credential entities stored by auth plugins (kong-reference §1.13):
//! `keyauth_credentials`, `basicauth_credentials`, `jwt_secrets`,
//! `hmacauth_credentials`, `acls`, `oauth2_credentials`.

use serde_json::{Value, json};

use super::services::parse_url;
use crate::schema::typedefs as t;
use crate::schema::{Conditional, EntityCheck, Field, FieldPatch, Pattern, Schema, Validator};

fn consumer_fk() -> Field {
    t::foreign("consumers").required().on_delete("cascade")
}

fn base(name: &'static str, extra: Vec<(&'static str, Field)>) -> Schema {
    let mut fields = vec![
        ("id", t::uuid()),
        ("created_at", t::auto_timestamp_s()),
        ("consumer", consumer_fk()),
    ];
    fields.extend(extra);
    fields.push(("tags", t::tags()));
    Schema {
        name,
        primary_key: vec!["id"],
        workspaceable: true,
        fields,
        ..Schema::default()
    }
}

/// `keyauth_credentials` (key-auth).
pub fn keyauth() -> Schema {
    let mut s = base(
        "keyauth_credentials",
        vec![("key", Field::string().unique().auto().referenceable())],
    );
    s.ttl = true;
    s.endpoint_key = Some("key");
    s.cache_key = vec!["key"];
    s
}

/// `basicauth_credentials` (basic-auth); the password is hashed on write.
pub fn basicauth() -> Schema {
    let mut password = Field::string().required();
    password.encrypted = true;
    let mut s = base(
        "basicauth_credentials",
        vec![
            ("username", Field::string().required().unique()),
            ("password", password),
        ],
    );
    s.endpoint_key = Some("username");
    s.cache_key = vec!["username"];
    s
}

/// JWT algorithms Kong accepts.
pub const JWT_ALGORITHMS: [&str; 13] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256",
    "PS384", "PS512", "EdDSA",
];

fn needs_public_key(s: &str) -> bool {
    s.starts_with("RS") || s.starts_with("PS") || s == "EdDSA"
}

/// `validate_ssl_key` of Kong's jwt daos: the key must load.
fn valid_public_key(v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some(pem) if crate::x509::public_key_parses(pem) => Ok(()),
        Some(_) => Err("invalid key".into()),
        None => Ok(()),
    }
}

/// `jwt_secrets` (jwt).
pub fn jwt() -> Schema {
    let mut s = base(
        "jwt_secrets",
        vec![
            ("key", Field::string().unique().auto()),
            ("secret", Field::string().auto()),
            ("rsa_public_key", Field::string()),
            (
                "algorithm",
                Field::string()
                    .default(json!("HS256"))
                    .one_of(&JWT_ALGORITHMS),
            ),
        ],
    );
    s.endpoint_key = Some("key");
    s.cache_key = vec!["key"];
    s.entity_checks = vec![EntityCheck::Conditional(Conditional {
        if_field: "algorithm",
        if_match: FieldPatch::with(Validator::Match(Pattern {
            lua: "^[RP]S%d+$|^EdDSA$",
            test: needs_public_key,
        })),
        then_field: "rsa_public_key",
        then_match: FieldPatch {
            validators: vec![Validator::Custom(valid_public_key)],
            ..FieldPatch::required()
        },
        then_err: None,
    })];
    s
}

/// `hmacauth_credentials` (hmac-auth).
pub fn hmacauth() -> Schema {
    let mut s = base(
        "hmacauth_credentials",
        vec![
            ("username", Field::string().required().unique()),
            ("secret", Field::string().auto()),
        ],
    );
    s.endpoint_key = Some("username");
    s.cache_key = vec!["username"];
    s
}

/// `acls` (acl).
pub fn acls() -> Schema {
    let mut s = base("acls", vec![("group", Field::string().required())]);
    s.cache_key = vec!["consumer", "group"];
    s
}

fn validate_redirect_uri(v: &Value) -> Result<(), String> {
    let uri = v.as_str().unwrap_or_default();
    let p = parse_url(uri);
    if p.host.is_none() {
        return Err("missing host in url".into());
    }
    if p.scheme.is_none() {
        return Err("missing scheme in url".into());
    }
    if uri.contains('#') {
        return Err(format!("fragment not allowed in '{uri}'"));
    }
    Ok(())
}

/// `oauth2_credentials` (oauth2).
pub fn oauth2() -> Schema {
    let mut s = base(
        "oauth2_credentials",
        vec![
            ("name", Field::string().required()),
            ("client_id", Field::string().unique().auto()),
            ("client_secret", Field::string().auto()),
            (
                "hash_secret",
                Field::boolean().required().default(json!(false)),
            ),
            (
                "redirect_uris",
                Field::array(Field::string().custom(validate_redirect_uri)),
            ),
            (
                "client_type",
                Field::string()
                    .required()
                    .default(json!("confidential"))
                    .one_of(&["confidential", "public"]),
            ),
        ],
    );
    s.endpoint_key = Some("client_id");
    s.cache_key = vec!["client_id"];
    s
}
