//! Entity checks (Kong's `entity_checkers` and `run_entity_check`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::engine::{REQUIRED, ValidateOptions, effective, quoted_list, validate_field};
use super::{EntityCheck, Field, FieldPatch, Schema};
use crate::error::{ErrKey, ErrorTree};

const REQUIRED_FOR_CHECK: &str = "field required for entity check";

/// Runs the schema's checks, then those of the selected subschema (whose
/// fields shadow the base fields).
pub(super) fn run_entity_checks(
    schema: &Schema,
    sub: Option<&Schema>,
    input: &Map<String, Value>,
    errors: &mut ErrorTree,
    opts: &ValidateOptions,
) {
    let base = Ctx {
        schema,
        sub: None,
        opts,
    };
    for check in &schema.entity_checks {
        run_check(&base, check, input, errors);
    }
    if let Some(sub) = sub {
        let ctx = Ctx {
            schema,
            sub: Some(sub),
            opts,
        };
        for check in &sub.entity_checks {
            run_check(&ctx, check, input, errors);
        }
    }
}

struct Ctx<'a> {
    schema: &'a Schema,
    sub: Option<&'a Schema>,
    opts: &'a ValidateOptions,
}

impl Ctx<'_> {
    /// The definition of a field; a dotted name (`config.x`) walks into records,
    /// as Kong's `get_schema_field` does.
    fn field(&self, name: &str) -> Option<Field> {
        let mut segments = name.split('.');
        let mut field = self.schema.resolve_field(segments.next()?, self.sub)?;
        for seg in segments {
            field = field.record.as_deref()?.field(seg)?;
        }
        Some(effective(field, self.opts).into_owned())
    }
}

/// The value at a field name, a dotted name walking into records (`get_field`).
fn value_at<'a>(input: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let mut segments = name.split('.');
    let mut v = input.get(segments.next()?)?;
    for seg in segments {
        v = v.as_object()?.get(seg)?;
    }
    Some(v)
}

/// The errors recorded for a (dotted) field name.
fn errors_at<'a>(errors: &'a ErrorTree, name: &str) -> Option<&'a ErrorTree> {
    name.split('.').try_fold(errors, |e, seg| e.field(seg))
}

/// Records `tree` as the errors of a (dotted) field name, nesting them as Kong's
/// error tables do (`{config = {claims_to_verify = "…"}}`).
fn set_errors_at(errors: &mut ErrorTree, name: &str, tree: ErrorTree) {
    let mut segments: Vec<&str> = name.split('.').collect();
    let Some(last) = segments.pop() else {
        return;
    };
    if segments.is_empty() {
        errors.set(ErrKey::field(last), tree);
        return;
    }
    let mut nested = ErrorTree::new();
    nested.set(ErrKey::field(last), tree);
    for seg in segments.into_iter().rev() {
        let mut parent = ErrorTree::new();
        parent.set(ErrKey::field(seg), nested);
        nested = parent;
    }
    errors.merge(nested);
}

/// Kong's `is_nonempty`.
fn is_nonempty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

/// Does `value` pass `patch` applied to the definition of `field_name`?
/// An absent value never passes (Lua validates `nil` as a wrong type).
fn passes(ctx: &Ctx<'_>, field_name: &str, patch: &FieldPatch, value: Option<&Value>) -> bool {
    let (Some(base), Some(value)) = (ctx.field(field_name), value) else {
        return false;
    };
    validate_field(&patch.apply(&base), value, ctx.opts).is_ok()
}

fn run_check(
    ctx: &Ctx<'_>,
    check: &EntityCheck,
    input: &Map<String, Value>,
    errors: &mut ErrorTree,
) {
    // (fields to read, required ones, run_with_missing_fields, run_with_invalid_fields)
    let (fields, required, with_missing, with_invalid): (Vec<&str>, BTreeSet<&str>, bool, bool) =
        match check {
            EntityCheck::AtLeastOneOf(f) => (f.clone(), f.iter().copied().collect(), true, true),
            EntityCheck::OnlyOneOf(f) | EntityCheck::Distinct(f) => {
                (f.clone(), f.iter().copied().collect(), false, true)
            }
            EntityCheck::MutuallyRequired(f) | EntityCheck::MutuallyExclusive(f) => {
                (f.clone(), f.iter().copied().collect(), true, false)
            }
            EntityCheck::Conditional(c) => (
                vec![c.if_field, c.then_field],
                [c.if_field].into(),
                false,
                true,
            ),
            EntityCheck::ConditionalAtLeastOneOf(c) => {
                let mut f = vec![c.if_field];
                f.extend(&c.then_at_least_one_of);
                f.extend(&c.else_then_at_least_one_of);
                // Kong declares `required_fields` as an array here, so none is required.
                (f, BTreeSet::new(), true, true)
            }
            EntityCheck::Custom(c) => (
                c.field_sources.clone(),
                c.field_sources.iter().copied().collect(),
                c.run_with_missing_fields,
                false,
            ),
        };

    let mut missing = Vec::new();
    let mut all_nil = true;
    let mut all_ok = true;
    let mut projection = Map::new();
    for name in &fields {
        match value_at(input, name) {
            None => {
                if !with_missing && required.contains(name) {
                    missing.push(*name);
                }
            }
            Some(v) => {
                all_nil = false;
                if let (Some(f), Value::String(s)) = (ctx.field(name), v)
                    && f.referenceable
                    && super::typedefs::is_reference(s)
                {
                    return;
                }
                projection.insert((*name).to_string(), v.clone());
            }
        }
        if errors_at(errors, name).is_some() {
            all_ok = false;
        }
    }
    if !all_ok && !with_invalid {
        return;
    }
    if all_nil && !with_missing {
        return;
    }
    if !missing.is_empty() {
        for name in missing {
            set_errors_at(errors, name, ErrorTree::msg(REQUIRED_FOR_CHECK));
        }
        return;
    }

    let get = |n: &str| projection.get(n);
    let failure: Option<String> = match check {
        EntityCheck::AtLeastOneOf(f) => (!f.iter().any(|n| is_nonempty(get(n)))).then(|| {
            format!(
                "at least one of these fields must be non-empty: {}",
                quoted_list(f)
            )
        }),
        EntityCheck::OnlyOneOf(f) => {
            (f.iter().filter(|n| is_nonempty(get(n))).count() != 1).then(|| {
                format!(
                    "exactly one of these fields must be non-empty: {}",
                    quoted_list(f)
                )
            })
        }
        EntityCheck::Distinct(f) => {
            let mut seen: Vec<&Value> = Vec::new();
            let mut dup = false;
            for n in f {
                if let Some(v) = get(n).filter(|v| is_nonempty(Some(v))) {
                    if seen.contains(&v) {
                        dup = true;
                    }
                    seen.push(v);
                }
            }
            dup.then(|| {
                format!(
                    "values of these fields must be distinct: {}",
                    quoted_list(f)
                )
            })
        }
        EntityCheck::MutuallyRequired(f) => {
            let n = f.iter().filter(|n| is_nonempty(get(n))).count();
            (n != 0 && n != f.len()).then(|| {
                format!(
                    "all or none of these fields must be set: {}",
                    quoted_list(f)
                )
            })
        }
        EntityCheck::MutuallyExclusive(f) => (f.iter().filter(|n| is_nonempty(get(n))).count() > 1)
            .then(|| {
                format!(
                    "only one or none of these fields must be set: {}",
                    quoted_list(f)
                )
            }),
        EntityCheck::Conditional(c) => {
            if !passes(ctx, c.if_field, &c.if_match, get(c.if_field)) {
                None
            } else {
                let then_value = get(c.then_field).cloned().unwrap_or(Value::Null);
                let generic = format!(
                    "failed conditional validation given value of field '{}'",
                    c.if_field
                );
                if c.then_match.required == Some(true) && then_value.is_null() {
                    set_errors_at(errors, c.then_field, ErrorTree::msg(REQUIRED));
                    Some(generic)
                } else {
                    match ctx.field(c.then_field) {
                        Some(base) => {
                            match validate_field(&c.then_match.apply(&base), &then_value, ctx.opts)
                            {
                                Ok(()) => None,
                                Err(e) => {
                                    set_errors_at(errors, c.then_field, e);
                                    Some(
                                        c.then_err
                                            .map_or(generic, |t| t.replacen("%s", c.if_field, 1)),
                                    )
                                }
                            }
                        }
                        None => None,
                    }
                }
            }
        }
        EntityCheck::ConditionalAtLeastOneOf(c) => {
            let if_value = get(c.if_field);
            if if_value.is_none() {
                None
            } else if passes(ctx, c.if_field, &c.if_match, if_value) {
                at_least(&c.then_at_least_one_of, c.then_err, &get)
            } else {
                match &c.else_match {
                    Some(m) if passes(ctx, c.if_field, m, if_value) => {
                        at_least(&c.else_then_at_least_one_of, c.else_then_err, &get)
                    }
                    _ => None,
                }
            }
        }
        EntityCheck::Custom(c) => (c.check)(&projection).err(),
    };
    if let Some(msg) = failure {
        errors.push_entity(msg);
    }
}

fn at_least<'a>(
    names: &[&str],
    err: Option<&str>,
    get: &impl Fn(&str) -> Option<&'a Value>,
) -> Option<String> {
    if names.iter().any(|n| is_nonempty(get(n))) {
        return None;
    }
    let list = quoted_list(names);
    Some(match err {
        Some(e) => e.replacen("%s", &list, 1),
        None => format!("at least one of these fields must be non-empty: {list}"),
    })
}
