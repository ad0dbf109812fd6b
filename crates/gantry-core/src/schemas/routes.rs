//! The `routes` schema and its protocol subschemas
//! (kong/db/schema/entities/routes.lua, routes_subschemas.lua), for the
//! `traditional_compatible` router flavor.

use serde_json::{Value, json};

use crate::schema::typedefs as t;
use crate::schema::{
    Conditional, ConditionalAtLeastOneOf, EntityCheck, Field, FieldPatch, Pattern, Schema,
    Validator,
};

fn is_host_header(s: &str) -> bool {
    s.eq_ignore_ascii_case("host")
}

fn strs(list: &[&str]) -> Vec<Value> {
    list.iter().map(|s| json!(s)).collect()
}

fn contains(p: &str) -> FieldPatch {
    FieldPatch::with(Validator::Contains(json!(p)))
}

fn cannot_set(field: Field, err: &'static str) -> Field {
    field.must_be_null(Some(err))
}

fn http_subschema() -> Schema {
    Schema {
        fields: vec![
            (
                "sources",
                cannot_set(
                    t::sources(),
                    "cannot set 'sources' when 'protocols' is 'http' or 'https'",
                ),
            ),
            (
                "destinations",
                cannot_set(
                    t::sources(),
                    "cannot set 'destinations' when 'protocols' is 'http' or 'https'",
                ),
            ),
        ],
        entity_checks: vec![EntityCheck::ConditionalAtLeastOneOf(
            ConditionalAtLeastOneOf {
                if_field: "protocols",
                if_match: contains("https"),
                then_at_least_one_of: vec!["methods", "hosts", "headers", "paths", "snis"],
                then_err: Some("must set one of %s when 'protocols' is 'https'"),
                else_match: Some(contains("http")),
                else_then_at_least_one_of: vec!["methods", "hosts", "headers", "paths"],
                else_then_err: Some("must set one of %s when 'protocols' is 'http'"),
            },
        )],
        ..Schema::default()
    }
}

fn stream_subschema() -> Schema {
    Schema {
        fields: vec![
            (
                "methods",
                cannot_set(
                    t::methods(),
                    "cannot set 'methods' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
                ),
            ),
            (
                "hosts",
                cannot_set(
                    t::hosts(),
                    "cannot set 'hosts' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
                ),
            ),
            (
                "paths",
                cannot_set(
                    t::router_paths(),
                    "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
                ),
            ),
            (
                "headers",
                cannot_set(
                    t::headers(),
                    "cannot set 'headers' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
                ),
            ),
        ],
        entity_checks: vec![
            EntityCheck::ConditionalAtLeastOneOf(ConditionalAtLeastOneOf {
                if_field: "protocols",
                if_match: FieldPatch::elements(
                    Field::string().v(Validator::OneOf(strs(&["tcp", "tls", "udp"]))),
                ),
                then_at_least_one_of: vec!["sources", "destinations", "snis"],
                then_err: Some("must set one of %s when 'protocols' is 'tcp', 'tls' or 'udp'"),
                else_match: None,
                else_then_at_least_one_of: vec![],
                else_then_err: None,
            }),
            EntityCheck::ConditionalAtLeastOneOf(ConditionalAtLeastOneOf {
                if_field: "protocols",
                if_match: FieldPatch::elements(
                    Field::string().v(Validator::OneOf(strs(&["tls_passthrough"]))),
                ),
                then_at_least_one_of: vec!["snis"],
                then_err: Some("must set snis when 'protocols' is 'tls_passthrough'"),
                else_match: None,
                else_then_at_least_one_of: vec![],
                else_then_err: None,
            }),
        ],
        ..Schema::default()
    }
}

fn grpc_subschema() -> Schema {
    let mut strip = Field::boolean().required().default(json!(false));
    strip.validators.push(Validator::Ne(json!(true)));
    strip.err = Some("cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'");
    Schema {
        fields: vec![
            ("strip_path", strip),
            (
                "methods",
                cannot_set(
                    t::methods(),
                    "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'",
                ),
            ),
            (
                "sources",
                cannot_set(
                    t::sources(),
                    "cannot set 'sources' when 'protocols' is 'grpc' or 'grpcs'",
                ),
            ),
            (
                "destinations",
                cannot_set(
                    t::sources(),
                    "cannot set 'destinations' when 'protocols' is 'grpc' or 'grpcs'",
                ),
            ),
        ],
        entity_checks: vec![EntityCheck::ConditionalAtLeastOneOf(
            ConditionalAtLeastOneOf {
                if_field: "protocols",
                if_match: contains("grpcs"),
                then_at_least_one_of: vec!["hosts", "headers", "paths", "snis"],
                then_err: Some("must set one of %s when 'protocols' is 'grpcs'"),
                else_match: Some(contains("grpc")),
                else_then_at_least_one_of: vec!["hosts", "headers", "paths"],
                else_then_err: Some("must set one of %s when 'protocols' is 'grpc'"),
            },
        )],
        ..Schema::default()
    }
}

/// The `routes` schema.
pub fn schema() -> Schema {
    let protocols = Field::set(t::protocol())
        .required()
        .default(json!(["http", "https"]))
        .v(Validator::LenMin(1))
        .v(Validator::MutuallyExclusiveSubsets(vec![
            vec!["http", "https"],
            vec!["tcp", "tls", "udp"],
            vec!["tls_passthrough"],
            vec!["grpc", "grpcs"],
        ]));
    let header_key = t::header_name().v(Validator::MatchNone(vec![(
        Pattern {
            lua: "^[Hh][Oo][Ss][Tt]$",
            test: is_host_header,
        },
        "cannot contain 'host' header, which must be specified in the 'hosts' attribute",
    )]));
    let headers = Field::map(header_key, Field::array(Field::string()));
    let mut subschemas = Vec::new();
    for p in ["http", "https"] {
        subschemas.push((p.to_string(), http_subschema()));
    }
    for p in ["tcp", "tls", "udp", "tls_passthrough"] {
        subschemas.push((p.to_string(), stream_subschema()));
    }
    for p in ["grpc", "grpcs"] {
        subschemas.push((p.to_string(), grpc_subschema()));
    }
    Schema {
        name: "routes",
        primary_key: vec!["id"],
        endpoint_key: Some("name"),
        workspaceable: true,
        subschema_key: Some("protocols"),
        fields: vec![
            ("id", t::uuid()),
            ("created_at", t::auto_timestamp_s()),
            ("updated_at", t::auto_timestamp_s()),
            ("name", t::utf8_name()),
            ("protocols", protocols),
            (
                "https_redirect_status_code",
                Field::integer()
                    .v(Validator::OneOf(vec![
                        json!(426),
                        json!(301),
                        json!(302),
                        json!(307),
                        json!(308),
                    ]))
                    .default(json!(426))
                    .required(),
            ),
            (
                "strip_path",
                Field::boolean().required().default(json!(true)),
            ),
            (
                "preserve_host",
                Field::boolean().required().default(json!(false)),
            ),
            (
                "request_buffering",
                Field::boolean().required().default(json!(true)),
            ),
            (
                "response_buffering",
                Field::boolean().required().default(json!(true)),
            ),
            ("tags", t::tags()),
            ("service", t::foreign("services")),
            ("snis", Field::set(t::wildcard_host())),
            ("sources", t::sources()),
            ("destinations", t::sources()),
            ("methods", t::methods()),
            ("hosts", t::hosts()),
            ("paths", t::router_paths()),
            ("headers", headers),
            ("regex_priority", Field::integer().default(json!(0))),
            (
                "path_handling",
                Field::string().default(json!("v0")).one_of(&["v0", "v1"]),
            ),
        ],
        entity_checks: vec![EntityCheck::Conditional(Conditional {
            if_field: "protocols",
            if_match: FieldPatch::elements(Field::string().v(Validator::NotOneOf(strs(&[
                "grpcs",
                "https",
                "tls",
                "tls_passthrough",
            ])))),
            then_field: "snis",
            then_match: FieldPatch::with(Validator::LenEq(0)),
            then_err: Some(
                "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'",
            ),
        })],
        subschemas,
        ..Schema::default()
    }
}
