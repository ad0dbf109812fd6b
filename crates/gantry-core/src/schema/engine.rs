//! Field validation, default filling and normalization (Kong's `validate_field`,
//! `process_auto_fields` and `Schema:validate`).

use serde_json::{Map, Value};

use super::{Field, FieldType, Pattern, Schema, Validator, checks};
use crate::error::{ErrKey, ErrorTree};

/// How `foreign` fields of the validated entity are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForeignMode {
    /// Admin API: a foreign key must be `{"id": "<uuid>"}`.
    #[default]
    Strict,
    /// Top-level declarative entry: a string reference (endpoint key or id)
    /// or a `{"id": ...}` object; resolution happens later.
    Reference,
    /// Declarative entry nested in its parent: every foreign field must be
    /// null (the parent link is set by the loader).
    Nested,
}

/// Options for [`Schema::validate`].
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Treatment of foreign keys.
    pub foreign: ForeignMode,
    /// Generate auto fields (`id`, `created_at`, `updated_at`, credential keys).
    pub generate_auto: bool,
    /// Unix time used for integer timestamps (`None` = now).
    pub now: Option<f64>,
    /// Keep an `updated_at` given in the input (declarative files, so that
    /// `db_export` → `db_import` round-trips); otherwise every write refreshes it.
    pub keep_updated_at: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self {
            foreign: ForeignMode::Strict,
            generate_auto: true,
            now: None,
            keep_updated_at: false,
        }
    }
}

impl ValidateOptions {
    fn now(&self) -> f64 {
        self.now.unwrap_or_else(crate::entity::now_millis_f64)
    }
}

pub(super) const REQUIRED: &str = "required field missing";

/// Validates an input value against `schema` (insert semantics).
pub(super) fn validate(
    schema: &Schema,
    input: &Value,
    opts: &ValidateOptions,
) -> Result<Value, ErrorTree> {
    let Value::Object(map) = input else {
        let mut t = ErrorTree::new();
        t.push_entity("expected a record");
        return Err(t);
    };
    let mut data = process_auto_fields(schema, map, opts, true)?;
    check_entity(schema, &data, opts)?;
    if let Some(normalize) = schema.normalize {
        normalize(&mut data);
    }
    Ok(Value::Object(data))
}

/// The effective definition of a field given the foreign-key mode.
pub(super) fn effective<'a>(
    field: &'a Field,
    opts: &ValidateOptions,
) -> std::borrow::Cow<'a, Field> {
    if field.typ == FieldType::Foreign && opts.foreign == ForeignMode::Nested {
        let mut f = field.clone();
        f.eq_null = true;
        f.required = false;
        f.default = Some(Value::Null);
        return std::borrow::Cow::Owned(f);
    }
    std::borrow::Cow::Borrowed(field)
}

fn is_uuid_field(field: &Field) -> bool {
    field
        .validators
        .iter()
        .any(|v| matches!(v, Validator::Uuid))
}

/// Kong's `process_auto_fields(data, "insert")`: shorthands, auto fields,
/// defaults, set de-duplication. Only shorthand type errors can fail here.
pub(super) fn process_auto_fields(
    schema: &Schema,
    input: &Map<String, Value>,
    opts: &ValidateOptions,
    top: bool,
) -> Result<Map<String, Value>, ErrorTree> {
    let mut data = input.clone();
    let mut errs = ErrorTree::new();
    for (name, sh) in &schema.shorthand_fields {
        let Some(value) = data.get(*name).cloned() else {
            continue;
        };
        if let Err(e) = validate_field(&sh.field, &value, opts) {
            errs.set(ErrKey::field(*name), e);
            continue;
        }
        data.remove(*name);
        if let Some(expanded) = (sh.expand)(&value) {
            for (k, v) in expanded {
                match (data.get_mut(&k), v) {
                    (Some(Value::Object(existing)), Value::Object(new)) => {
                        for (nk, nv) in new {
                            existing.insert(nk, nv);
                        }
                    }
                    (_, v) => {
                        data.insert(k, v);
                    }
                }
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let sub = schema.subschema_for(&data).cloned();
    for (key, _) in &schema.fields {
        let Some(field) = schema.resolve_field(key, sub.as_ref()) else {
            continue;
        };
        let field = if top {
            effective(field, opts)
        } else {
            std::borrow::Cow::Borrowed(field)
        };
        let mut value = data.get(*key).cloned();
        if field.auto && opts.generate_auto {
            if is_uuid_field(&field) {
                if value.is_none() {
                    value = Some(Value::String(uuid::Uuid::new_v4().to_string()));
                }
            } else if field.typ == FieldType::String {
                if value.is_none() {
                    value = Some(Value::String(random_string()));
                }
            } else if (*key == "created_at" || *key == "updated_at")
                && (matches!(value, None | Some(Value::Null))
                    || (*key == "updated_at" && !opts.keep_updated_at))
            {
                value = Some(timestamp(field.typ, opts.now()));
            }
        }
        match adjust_field(&field, value, opts) {
            Some(v) => {
                data.insert((*key).to_string(), v);
            }
            None => {
                data.remove(*key);
            }
        }
    }
    // schema field order first, then anything unknown (rejected later)
    let mut ordered = Map::new();
    for (key, _) in &schema.fields {
        if let Some(v) = data.remove(*key) {
            ordered.insert((*key).to_string(), v);
        }
    }
    ordered.extend(data);
    Ok(ordered)
}

fn timestamp(typ: FieldType, now: f64) -> Value {
    if typ == FieldType::Number {
        let ms = (now * 1000.0).floor() / 1000.0;
        serde_json::Number::from_f64(ms).map_or(Value::Null, Value::Number)
    } else {
        Value::from(now.floor() as i64)
    }
}

/// 32 random characters from `[A-Za-z0-9]` (Kong's `random_string`).
pub fn random_string() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(32);
    while out.len() < 32 {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == 32 {
                break;
            }
            // 62 * 4 = 248: reject the top values to stay unbiased
            if *b < 248 {
                let idx = usize::from(*b) % ALPHABET.len();
                if let Some(c) = ALPHABET.get(idx) {
                    out.push(char::from(*c));
                }
            }
        }
    }
    out
}

fn handle_missing(field: &Field, opts: &ValidateOptions) -> Option<Value> {
    if let Some(d) = &field.default {
        return Some(d.clone());
    }
    if !field.required {
        return Some(Value::Null);
    }
    if field.abstract_ {
        return None;
    }
    if field.typ == FieldType::Record
        && let Some(rec) = &field.record
    {
        return process_auto_fields(rec, &Map::new(), opts, false)
            .ok()
            .map(Value::Object);
    }
    None
}

fn adjust_field(field: &Field, value: Option<Value>, opts: &ValidateOptions) -> Option<Value> {
    if field.abstract_ {
        return value;
    }
    let value = match (field.typ, value) {
        (FieldType::Record, v) if !matches!(v, Some(Value::Null)) => {
            let v = v.or_else(|| handle_missing(field, opts));
            match (v, &field.record) {
                (Some(Value::Object(m)), Some(rec)) => {
                    return Some(match process_auto_fields(rec, &m, opts, false) {
                        Ok(m) => Value::Object(m),
                        Err(_) => Value::Object(m),
                    });
                }
                (v, _) => v,
            }
        }
        // integral floats (`8080.0`) are stored as integers, as Lua does
        (FieldType::Integer, Some(Value::Number(n)))
            if !n.is_i64()
                && !n.is_u64()
                && n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15) =>
        {
            Some(Value::from(n.as_f64().unwrap_or_default() as i64))
        }
        (FieldType::Array | FieldType::Set, Some(Value::Object(m))) if m.is_empty() => {
            Some(Value::Array(Vec::new()))
        }
        (FieldType::Array | FieldType::Set, Some(Value::Array(items))) => {
            let items = if field.typ == FieldType::Set {
                dedup(items)
            } else {
                items
            };
            let items = match &field.elements {
                Some(el) => items
                    .into_iter()
                    .map(|e| adjust_field(el, Some(e), opts).unwrap_or(Value::Null))
                    .collect(),
                None => items,
            };
            Some(Value::Array(items))
        }
        (FieldType::Map, Some(Value::Object(m))) => match &field.values {
            Some(vf) => Some(Value::Object(
                m.into_iter()
                    .map(|(k, v)| {
                        let v = adjust_field(vf, Some(v), opts).unwrap_or(Value::Null);
                        (k, v)
                    })
                    .collect(),
            )),
            None => Some(Value::Object(m)),
        },
        (_, v) => v,
    };
    match value {
        None => handle_missing(field, opts),
        v => v,
    }
}

fn dedup(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for v in items {
        let scalar = !matches!(v, Value::Array(_) | Value::Object(_));
        if scalar && out.contains(&v) {
            continue;
        }
        out.push(v);
    }
    out
}

/// Kong's `Schema:validate(input, full_check = true)` on a processed entity.
pub(super) fn check_entity(
    schema: &Schema,
    input: &Map<String, Value>,
    opts: &ValidateOptions,
) -> Result<(), ErrorTree> {
    check_entity_inner(schema, input, opts, true)
}

fn check_entity_inner(
    schema: &Schema,
    input: &Map<String, Value>,
    opts: &ValidateOptions,
    top: bool,
) -> Result<(), ErrorTree> {
    let mut errors = ErrorTree::new();
    if let Some(key) = schema.subschema_key {
        let value = input.get(key);
        if matches!(value, None | Some(Value::Null)) {
            errors.set(ErrKey::field(key), ErrorTree::msg(REQUIRED));
            return Err(errors);
        }
        if schema.subschema_for(input).is_none() {
            let shown = match value {
                Some(Value::String(s)) => s.clone(),
                // Lua formats a missing first element as "nil"
                Some(Value::Array(a)) => a.first().map_or_else(|| "nil".to_string(), display),
                Some(v) => display(v),
                None => String::new(),
            };
            let fmt = schema.subschema_error.unwrap_or("unknown type: %s");
            errors.set(
                ErrKey::field(key),
                ErrorTree::msg(fmt.replacen("%s", &shown, 1)),
            );
            return Err(errors);
        }
    }
    let sub = schema.subschema_for(input);
    for (k, v) in input {
        if (k == "ttl" && schema.ttl) || k == "updated_at" {
            continue;
        }
        match schema.resolve_field(k, sub) {
            None => errors.set(ErrKey::field(k.as_str()), ErrorTree::msg("unknown field")),
            Some(field) => {
                let field = if top {
                    effective(field, opts)
                } else {
                    std::borrow::Cow::Borrowed(field)
                };
                if let Err(e) = validate_field_mode(&field, v, opts, top) {
                    errors.set(ErrKey::field(k.as_str()), e);
                }
            }
        }
    }
    for (name, field) in &schema.fields {
        let field = if top {
            effective(field, opts)
        } else {
            std::borrow::Cow::Borrowed(field)
        };
        if field.required && matches!(input.get(*name), None | Some(Value::Null)) {
            errors.set(ErrKey::field(*name), ErrorTree::msg(REQUIRED));
        }
    }
    checks::run_entity_checks(schema, sub, input, &mut errors, opts);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Validates one value against one field definition.
pub(super) fn validate_field(
    field: &Field,
    value: &Value,
    opts: &ValidateOptions,
) -> Result<(), ErrorTree> {
    validate_field_mode(field, value, opts, false)
}

fn fail(field: &Field, msg: impl Into<String>) -> Result<(), ErrorTree> {
    Err(ErrorTree::msg(
        field.err.map_or_else(|| msg.into(), str::to_string),
    ))
}

fn validate_field_mode(
    field: &Field,
    value: &Value,
    opts: &ValidateOptions,
    top: bool,
) -> Result<(), ErrorTree> {
    if value.is_null() {
        if field.ne_null {
            return fail(field, "value must not be null");
        }
        if let Some(Validator::Eq(v)) = field
            .validators
            .iter()
            .find(|v| matches!(v, Validator::Eq(_)))
            && !v.is_null()
        {
            return Err(ErrorTree::msg(format!("value must be {}", display(v))));
        }
        if field.required {
            return Err(ErrorTree::msg(REQUIRED));
        }
        return Ok(());
    }
    if field.eq_null {
        return fail(field, "value must be null");
    }
    if field.abstract_ {
        return Err(ErrorTree::msg(
            "error in schema definition: abstract field was not specialized",
        ));
    }
    match field.typ {
        FieldType::Array | FieldType::Set => {
            let items: &[Value] = match value {
                Value::Array(a) => a,
                Value::Object(m) if m.is_empty() => &[],
                _ => {
                    let m = if field.typ == FieldType::Set {
                        "expected a set"
                    } else {
                        "expected an array"
                    };
                    return Err(ErrorTree::msg(m));
                }
            };
            if let Some(el) = &field.elements {
                let mut el = (**el).clone();
                el.required = true;
                let mut errs = ErrorTree::new();
                for (i, v) in items.iter().enumerate() {
                    if let Err(e) = validate_field(&el, v, opts) {
                        errs.set(ErrKey::Index(i + 1), e);
                    }
                }
                if !errs.is_empty() {
                    return Err(errs);
                }
            }
        }
        FieldType::Map => {
            let Value::Object(m) = value else {
                return Err(ErrorTree::msg("expected a map"));
            };
            for (k, v) in m {
                if let Some(kf) = &field.keys {
                    let mut kf = (**kf).clone();
                    kf.required = true;
                    validate_field(&kf, &Value::String(k.clone()), opts)?;
                }
                if let Some(vf) = &field.values {
                    let mut vf = (**vf).clone();
                    vf.required = true;
                    validate_field(&vf, v, opts)?;
                }
            }
        }
        FieldType::Record => {
            let Value::Object(m) = value else {
                return Err(ErrorTree::msg("expected a record"));
            };
            if let Some(rec) = &field.record {
                let processed = process_auto_fields(rec, m, opts, false)?;
                check_entity_inner(rec, &processed, opts, false)?;
            }
        }
        FieldType::Object => {
            if !value.is_object() {
                return Err(ErrorTree::msg("expected a record"));
            }
            return Ok(());
        }
        FieldType::Foreign => {
            if top && opts.foreign == ForeignMode::Reference && value.is_string() {
                let mut f = Field::string();
                f.required = true;
                return validate_field(&f, value, opts);
            }
            return validate_foreign(value);
        }
        FieldType::Integer => {
            if !is_integer(value) {
                return Err(ErrorTree::msg("expected an integer"));
            }
        }
        FieldType::Number => {
            if !value.is_number() {
                return Err(ErrorTree::msg("expected a number"));
            }
        }
        FieldType::String => {
            let Value::String(s) = value else {
                return Err(ErrorTree::msg("expected a string"));
            };
            if field.referenceable && typedefs_is_reference(s) {
                return Ok(());
            }
        }
        FieldType::Boolean => {
            if !value.is_boolean() {
                return Err(ErrorTree::msg("expected a boolean"));
            }
        }
        FieldType::Any => {}
    }
    let mut validators: Vec<&Validator> = field.validators.iter().collect();
    let implicit = Validator::LenMin(1);
    if field.typ == FieldType::String
        && !validators.iter().any(|v| matches!(v, Validator::LenMin(_)))
    {
        validators.push(&implicit);
    }
    validators.sort_by_key(|v| v.order());
    for v in validators {
        if let Err(m) = run_validator(v, value) {
            return fail(field, m);
        }
    }
    Ok(())
}

fn typedefs_is_reference(s: &str) -> bool {
    super::typedefs::is_reference(s)
}

fn validate_foreign(value: &Value) -> Result<(), ErrorTree> {
    let mut t = ErrorTree::new();
    let msg = match value.get("id") {
        None => Some("missing primary key"),
        Some(Value::String(s)) if is_uuid(s) => None,
        Some(Value::String(_)) => Some("expected a valid UUID"),
        Some(Value::Null) => Some(REQUIRED),
        Some(_) => Some("expected a string"),
    };
    match msg {
        Some(m) => {
            t.set(ErrKey::field("id"), ErrorTree::msg(m));
            Err(t)
        }
        None => Ok(()),
    }
}

/// Kong's integer check: a finite number without fraction.
pub(super) fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

/// A 36-character UUID (any case), as Kong's `uuid` validator accepts.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Lua `tostring` of a JSON scalar as used in messages.
pub(super) fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => display_number(n.as_f64().unwrap_or(0.0)),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Lua number formatting: integral values without a fraction.
pub(super) fn display_number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn len_of(v: &Value) -> Option<usize> {
    match v {
        Value::String(s) => Some(s.len()),
        Value::Array(a) => Some(a.len()),
        Value::Object(m) => Some(m.len()),
        _ => None,
    }
}

fn matches(p: &Pattern, v: &Value) -> Option<bool> {
    v.as_str().map(|s| (p.test)(s))
}

fn run_validator(v: &Validator, value: &Value) -> Result<(), String> {
    match v {
        Validator::Eq(w) if value != w => Err(format!("value must be {}", display(w))),
        Validator::Ne(w) if value == w => Err(format!("value must not be {}", display(value))),
        Validator::NotOneOf(opts) if opts.contains(value) => Err(format!(
            "must not be one of: {}",
            opts.iter().map(display).collect::<Vec<_>>().join(", ")
        )),
        Validator::OneOf(opts) if !opts.contains(value) && !num_in(opts, value) => Err(format!(
            "expected one of: {}",
            opts.iter().map(display).collect::<Vec<_>>().join(", ")
        )),
        Validator::Gt(l) if value.as_f64().is_some_and(|x| x <= *l) => {
            Err(format!("value must be greater than {}", display_number(*l)))
        }
        Validator::Timestamp if value.as_f64().is_some_and(|x| x <= 0.0) => {
            Err("expected a valid timestamp".into())
        }
        Validator::Uuid if value.as_str().is_some_and(|s| !is_uuid(s)) => {
            Err("expected a valid UUID".into())
        }
        Validator::Between(lo, hi) if value.as_f64().is_some_and(|x| x < *lo || x > *hi) => {
            Err(format!(
                "value should be between {} and {}",
                lo.trunc() as i64,
                hi.trunc() as i64
            ))
        }
        Validator::LenEq(n) if len_of(value).is_some_and(|l| l != *n) => {
            Err(format!("length must be {n}"))
        }
        Validator::LenMin(n) if len_of(value).is_some_and(|l| l < *n) => {
            Err(format!("length must be at least {n}"))
        }
        Validator::LenMax(n) if len_of(value).is_some_and(|l| l > *n) => {
            Err(format!("length must be at most {n}"))
        }
        Validator::StartsWith(p) if value.as_str().is_some_and(|s| !s.starts_with(p)) => {
            Err(format!("should start with: {p}"))
        }
        Validator::NotMatch(p) if matches(p, value) == Some(true) => {
            Err(format!("invalid value: {}", display(value)))
        }
        Validator::MatchNone(list) => {
            match list.iter().find(|(p, _)| matches(p, value) == Some(true)) {
                Some((_, err)) => Err((*err).to_string()),
                None => Ok(()),
            }
        }
        Validator::Match(p) if matches(p, value) == Some(false) => {
            Err(format!("invalid value: {}", display(value)))
        }
        Validator::MatchAll(list) => {
            match list.iter().find(|(p, _)| matches(p, value) == Some(false)) {
                Some((_, err)) => Err((*err).to_string()),
                None => Ok(()),
            }
        }
        Validator::MatchAny { patterns, err }
            if value.is_string() && !patterns.iter().any(|p| matches(p, value) == Some(true)) =>
        {
            Err((*err).to_string())
        }
        Validator::Contains(w) if value.as_array().is_some_and(|a| !a.contains(w)) => {
            Err(format!("expected to contain: {}", display(w)))
        }
        Validator::Custom(f) => f(value),
        Validator::MutuallyExclusiveSubsets(subsets) => mutually_exclusive_subsets(subsets, value),
        _ => Ok(()),
    }
}

fn num_in(opts: &[Value], value: &Value) -> bool {
    let Some(x) = value.as_f64() else {
        return false;
    };
    opts.iter().any(|o| o.as_f64() == Some(x))
}

fn mutually_exclusive_subsets(subsets: &[Vec<&'static str>], value: &Value) -> Result<(), String> {
    let Some(items) = value.as_array() else {
        return Ok(());
    };
    let mut member_of: Vec<&Vec<&'static str>> = Vec::new();
    for v in items.iter().filter_map(Value::as_str) {
        if let Some(set) = subsets.iter().find(|s| s.contains(&v))
            && !member_of.iter().any(|m| std::ptr::eq(*m, set))
        {
            member_of.push(set);
        }
    }
    if member_of.len() <= 1 {
        return Ok(());
    }
    let list = member_of
        .iter()
        .map(|s| format!("({})", quoted_list(s)))
        .collect::<Vec<_>>()
        .join(", ");
    Err(format!("these sets are mutually exclusive: {list}"))
}

/// `'a', 'b', 'c'`
pub(super) fn quoted_list(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Schema-aware merge: `top` wins; nested records merge recursively.
pub(super) fn merge_values(schema: &Schema, top: &Value, bottom: &Value) -> Value {
    let (Value::Object(t), bottom) = (top, bottom) else {
        return top.clone();
    };
    let mut out = match bottom {
        Value::Object(b) => b.clone(),
        _ => Map::new(),
    };
    for (k, v) in t {
        let merged = match (schema.field(k), out.get(k)) {
            (Some(f), Some(b @ Value::Object(_)))
                if f.typ == FieldType::Record && v.is_object() =>
            {
                match &f.record {
                    Some(rec) => merge_values(rec, v, b),
                    None => v.clone(),
                }
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Value::Object(out)
}
