//! A data-driven schema engine modelled on Kong's `kong/db/schema/init.lua`.
//!
//! A [`Schema`] is plain data (fields, validators, entity checks, shorthands,
//! subschemas) so the Admin API can render it at `/schemas/{entity}`;
//! [`Schema::validate`] fills defaults, normalizes and validates an input
//! object, returning either the complete entity or Kong's field-error tree.

mod checks;
mod engine;
pub mod net;
mod render;
pub mod typedefs;

use serde_json::{Map, Value};

pub use engine::{ForeignMode, ValidateOptions, is_uuid, random_string};

use crate::error::ErrorTree;

/// Field types of Kong's schema language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string (empty strings are rejected unless `len_min` says otherwise).
    String,
    /// An integral number.
    Integer,
    /// Any number.
    Number,
    /// `true` / `false`.
    Boolean,
    /// An ordered list of `elements`.
    Array,
    /// A list of unique `elements` (duplicates are dropped on normalization).
    Set,
    /// An object from `keys` to `values`.
    Map,
    /// A nested record with its own fields (`record`).
    Record,
    /// A reference to another entity: `{"id": "<uuid>"}`.
    Foreign,
    /// Any JSON object, passed through unvalidated (plugin `config` until the
    /// plugin's schema is registered).
    Object,
    /// Anything at all (declarative `_ignore` items).
    Any,
}

impl FieldType {
    /// Kong's type name.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Array => "array",
            FieldType::Set => "set",
            FieldType::Map => "map",
            FieldType::Record | FieldType::Object => "record",
            FieldType::Foreign => "foreign",
            FieldType::Any => "any",
        }
    }
}

/// A string predicate standing in for a Lua pattern; `lua` is what
/// `/schemas` shows, `test` is what runs.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    /// The Lua pattern Kong declares.
    pub lua: &'static str,
    /// The equivalent check.
    pub test: fn(&str) -> bool,
}

/// A custom field validator: `Err(message)` rejects the value.
pub type CustomValidator = fn(&Value) -> Result<(), String>;

/// Single-field validators, applied in Kong's `validators_order`.
#[derive(Debug, Clone)]
pub enum Validator {
    /// Value must equal (`value must be X`).
    Eq(Value),
    /// Value must differ (`value must not be X`).
    Ne(Value),
    /// Value must not be one of (`must not be one of: a, b`).
    NotOneOf(Vec<Value>),
    /// Value must be one of (`expected one of: a, b`).
    OneOf(Vec<Value>),
    /// Number greater than.
    Gt(f64),
    /// Positive timestamp.
    Timestamp,
    /// A UUID string (`expected a valid UUID`).
    Uuid,
    /// Number within bounds (`value should be between A and B`).
    Between(f64, f64),
    /// Exact length (strings in bytes, arrays/sets/maps in items).
    LenEq(usize),
    /// Minimum length.
    LenMin(usize),
    /// Maximum length.
    LenMax(usize),
    /// String prefix (`should start with: /`).
    StartsWith(&'static str),
    /// Must not match (`invalid value: x`).
    NotMatch(Pattern),
    /// None of the patterns may match; each has its own error.
    MatchNone(Vec<(Pattern, &'static str)>),
    /// Must match (`invalid value: x`).
    Match(Pattern),
    /// All patterns must match; the first failing one's error is reported.
    MatchAll(Vec<(Pattern, &'static str)>),
    /// At least one pattern must match, else `err`.
    MatchAny {
        /// Candidate patterns.
        patterns: Vec<Pattern>,
        /// Error when none matches.
        err: &'static str,
    },
    /// Array must contain (`expected to contain: x`).
    Contains(Value),
    /// Custom check.
    Custom(CustomValidator),
    /// Elements may only come from one of the subsets.
    MutuallyExclusiveSubsets(Vec<Vec<&'static str>>),
}

impl Validator {
    /// Position in Kong's `Schema.validators_order`.
    pub fn order(&self) -> u8 {
        match self {
            Validator::Eq(_) => 0,
            Validator::Ne(_) => 1,
            Validator::NotOneOf(_) => 2,
            Validator::OneOf(_) => 3,
            Validator::Gt(_) => 4,
            Validator::Timestamp => 5,
            Validator::Uuid => 6,
            Validator::Between(..) => 8,
            Validator::LenEq(_) => 9,
            Validator::LenMin(_) => 10,
            Validator::LenMax(_) => 11,
            Validator::StartsWith(_) => 12,
            Validator::NotMatch(_) => 13,
            Validator::MatchNone(_) => 14,
            Validator::Match(_) => 15,
            Validator::MatchAll(_) => 16,
            Validator::MatchAny { .. } => 17,
            Validator::Contains(_) => 18,
            Validator::Custom(_) => 19,
            Validator::MutuallyExclusiveSubsets(_) => 20,
        }
    }
}

/// One field definition.
#[derive(Debug, Clone)]
pub struct Field {
    /// The type.
    pub typ: FieldType,
    /// Must be present and non-null.
    pub required: bool,
    /// Default filled on insert (`Some(Value::Null)` for an explicit null).
    pub default: Option<Value>,
    /// Generated on insert (`id`, timestamps, credential keys).
    pub auto: bool,
    /// Unique among entities of the schema.
    pub unique: bool,
    /// Unique across workspaces (snis `name`).
    pub unique_across_ws: bool,
    /// `eq = null`: the field must be null (error text `err` or `value must be null`).
    pub eq_null: bool,
    /// `ne = null`.
    pub ne_null: bool,
    /// Replaces any validator's error message.
    pub err: Option<&'static str>,
    /// Validators, applied in Kong's order.
    pub validators: Vec<Validator>,
    /// Element definition for arrays and sets.
    pub elements: Option<Box<Field>>,
    /// Key definition for maps.
    pub keys: Option<Box<Field>>,
    /// Value definition for maps.
    pub values: Option<Box<Field>>,
    /// Nested schema for records.
    pub record: Option<Box<Schema>>,
    /// Referenced entity for foreign keys.
    pub reference: Option<&'static str>,
    /// `on_delete` of a foreign key (`cascade`).
    pub on_delete: Option<&'static str>,
    /// May hold a `{vault://...}` reference (validators are skipped then).
    pub referenceable: bool,
    /// Stored encrypted by Kong (informational).
    pub encrypted: bool,
    /// Abstract field, specialised by a subschema.
    pub abstract_: bool,
    /// Documentation.
    pub description: Option<&'static str>,
}

impl Field {
    /// A field of the given type with no constraints.
    pub fn new(typ: FieldType) -> Self {
        Self {
            typ,
            required: false,
            default: None,
            auto: false,
            unique: false,
            unique_across_ws: false,
            eq_null: false,
            ne_null: false,
            err: None,
            validators: Vec::new(),
            elements: None,
            keys: None,
            values: None,
            record: None,
            reference: None,
            on_delete: None,
            referenceable: false,
            encrypted: false,
            abstract_: false,
            description: None,
        }
    }

    /// A string field.
    pub fn string() -> Self {
        Self::new(FieldType::String)
    }
    /// An integer field.
    pub fn integer() -> Self {
        Self::new(FieldType::Integer)
    }
    /// A number field.
    pub fn number() -> Self {
        Self::new(FieldType::Number)
    }
    /// A boolean field.
    pub fn boolean() -> Self {
        Self::new(FieldType::Boolean)
    }
    /// An array of `elements`.
    pub fn array(elements: Field) -> Self {
        let mut f = Self::new(FieldType::Array);
        f.elements = Some(Box::new(elements));
        f
    }
    /// A set of `elements`.
    pub fn set(elements: Field) -> Self {
        let mut f = Self::new(FieldType::Set);
        f.elements = Some(Box::new(elements));
        f
    }
    /// A map from `keys` to `values`.
    pub fn map(keys: Field, values: Field) -> Self {
        let mut f = Self::new(FieldType::Map);
        f.keys = Some(Box::new(keys));
        f.values = Some(Box::new(values));
        f
    }
    /// A record with the given nested schema.
    pub fn record(schema: Schema) -> Self {
        let mut f = Self::new(FieldType::Record);
        f.record = Some(Box::new(schema));
        f
    }
    /// A foreign key to `reference`.
    pub fn foreign(reference: &'static str) -> Self {
        let mut f = Self::new(FieldType::Foreign);
        f.reference = Some(reference);
        f
    }

    /// Marks the field required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Sets the default.
    pub fn default(mut self, v: Value) -> Self {
        self.default = Some(v);
        self
    }
    /// Marks the field auto-generated.
    pub fn auto(mut self) -> Self {
        self.auto = true;
        self
    }
    /// Marks the field unique.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    /// Adds a validator.
    pub fn v(mut self, v: Validator) -> Self {
        self.validators.push(v);
        self
    }
    /// Adds a custom validator.
    pub fn custom(self, f: CustomValidator) -> Self {
        self.v(Validator::Custom(f))
    }
    /// Adds `one_of` over strings.
    pub fn one_of(self, options: &[&str]) -> Self {
        self.v(Validator::OneOf(
            options.iter().map(|s| Value::from(*s)).collect(),
        ))
    }
    /// Adds `between`.
    pub fn between(self, lo: f64, hi: f64) -> Self {
        self.v(Validator::Between(lo, hi))
    }
    /// Sets `eq = null` with an optional error text.
    pub fn must_be_null(mut self, err: Option<&'static str>) -> Self {
        self.eq_null = true;
        self.err = err;
        self
    }
    /// Sets the description.
    pub fn describe(mut self, d: &'static str) -> Self {
        self.description = Some(d);
        self
    }
    /// Marks the field vault-referenceable.
    pub fn referenceable(mut self) -> Self {
        self.referenceable = true;
        self
    }
    /// Sets `on_delete`.
    pub fn on_delete(mut self, action: &'static str) -> Self {
        self.on_delete = Some(action);
        self
    }
}

/// A partial field used by conditional entity checks (`if_match`,
/// `then_match`): it overrides the target field's attributes.
#[derive(Debug, Clone, Default)]
pub struct FieldPatch {
    /// Override `required`.
    pub required: Option<bool>,
    /// Add `eq = null`.
    pub eq_null: bool,
    /// Validators replacing those of the same kind.
    pub validators: Vec<Validator>,
    /// Replacement element definition.
    pub elements: Option<Box<Field>>,
}

impl FieldPatch {
    /// A patch with one validator.
    pub fn with(v: Validator) -> Self {
        Self {
            validators: vec![v],
            ..Self::default()
        }
    }
    /// `{ required = true }`.
    pub fn required() -> Self {
        Self {
            required: Some(true),
            ..Self::default()
        }
    }
    /// `{ eq = null }`.
    pub fn null() -> Self {
        Self {
            eq_null: true,
            ..Self::default()
        }
    }
    /// `{ elements = <field> }`.
    pub fn elements(f: Field) -> Self {
        Self {
            elements: Some(Box::new(f)),
            ..Self::default()
        }
    }

    /// The target field with this patch applied.
    pub fn apply(&self, base: &Field) -> Field {
        let mut f = base.clone();
        if let Some(r) = self.required {
            f.required = r;
        }
        if self.eq_null {
            f.eq_null = true;
        }
        for v in &self.validators {
            f.validators.retain(|old| old.order() != v.order());
            f.validators.push(v.clone());
        }
        if let Some(e) = &self.elements {
            f.elements = Some(e.clone());
        }
        f
    }
}

/// `conditional`: if `if_field` passes `if_match`, `then_field` must pass `then_match`.
#[derive(Debug, Clone)]
pub struct Conditional {
    /// Field tested.
    pub if_field: &'static str,
    /// Test.
    pub if_match: FieldPatch,
    /// Field constrained.
    pub then_field: &'static str,
    /// Constraint.
    pub then_match: FieldPatch,
    /// Custom entity error (`%s` is replaced by `if_field`).
    pub then_err: Option<&'static str>,
}

/// `conditional_at_least_one_of`.
#[derive(Debug, Clone)]
pub struct ConditionalAtLeastOneOf {
    /// Field tested.
    pub if_field: &'static str,
    /// Test.
    pub if_match: FieldPatch,
    /// Fields of which one must be non-empty when the test passes.
    pub then_at_least_one_of: Vec<&'static str>,
    /// Custom error (`%s` = quoted field list).
    pub then_err: Option<&'static str>,
    /// Second test, tried when the first fails.
    pub else_match: Option<FieldPatch>,
    /// Fields for the second test.
    pub else_then_at_least_one_of: Vec<&'static str>,
    /// Custom error for the second test.
    pub else_then_err: Option<&'static str>,
}

/// `custom_entity_check`: a function over the named fields.
#[derive(Debug, Clone)]
pub struct CustomCheck {
    /// Fields the check reads.
    pub field_sources: Vec<&'static str>,
    /// Run even when some of them are absent.
    pub run_with_missing_fields: bool,
    /// The check: `Err(message)` becomes an `@entity` error.
    pub check: fn(&Map<String, Value>) -> Result<(), String>,
}

/// Cross-field checks (Kong's `entity_checks`).
#[derive(Debug, Clone)]
pub enum EntityCheck {
    /// `at least one of these fields must be non-empty: ...`
    AtLeastOneOf(Vec<&'static str>),
    /// `exactly one of these fields must be non-empty: ...`
    OnlyOneOf(Vec<&'static str>),
    /// `values of these fields must be distinct: ...`
    Distinct(Vec<&'static str>),
    /// `all or none of these fields must be set: ...`
    MutuallyRequired(Vec<&'static str>),
    /// `only one or none of these fields must be set: ...`
    MutuallyExclusive(Vec<&'static str>),
    /// `failed conditional validation given value of field '...'`
    Conditional(Conditional),
    /// Conditional at-least-one-of.
    ConditionalAtLeastOneOf(ConditionalAtLeastOneOf),
    /// A custom check.
    Custom(CustomCheck),
}

/// Input-only sugar fields (`url` on services, `algorithm`/`hash_on` on upstreams).
#[derive(Debug, Clone)]
pub struct Shorthand {
    /// Type of the shorthand value (validated before expansion).
    pub field: Field,
    /// Expansion into real fields (`None` expands to nothing).
    pub expand: fn(&Value) -> Option<Map<String, Value>>,
}

/// A schema: an entity (`services`), a record, or a subschema.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// Entity name (empty for records).
    pub name: &'static str,
    /// Primary key fields.
    pub primary_key: Vec<&'static str>,
    /// Alternative key usable in URLs and declarative references.
    pub endpoint_key: Option<&'static str>,
    /// Cache key fields (also used for deterministic declarative ids).
    pub cache_key: Vec<&'static str>,
    /// Entity supports `ttl`.
    pub ttl: bool,
    /// Belongs to a workspace.
    pub workspaceable: bool,
    /// Field selecting a subschema (`protocols` on routes, `name` on plugins).
    pub subschema_key: Option<&'static str>,
    /// Error when no subschema matches (`%s` = the key's value).
    pub subschema_error: Option<&'static str>,
    /// Ordered fields.
    pub fields: Vec<(&'static str, Field)>,
    /// Cross-field checks.
    pub entity_checks: Vec<EntityCheck>,
    /// Input-only shorthand fields, expanded in order.
    pub shorthand_fields: Vec<(&'static str, Shorthand)>,
    /// Subschemas by key value.
    pub subschemas: Vec<(String, Schema)>,
    /// Normalization applied after successful validation (Kong does these in
    /// the DAO, e.g. target `host` → `host:8000`).
    pub normalize: Option<fn(&mut Map<String, Value>)>,
}

impl Schema {
    /// A record schema made of `fields`.
    pub fn record(fields: Vec<(&'static str, Field)>) -> Self {
        Self {
            fields,
            ..Self::default()
        }
    }

    /// The definition of a field by name (base schema only).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, f)| f)
    }

    /// The subschema selected by an input (first matching element for sets).
    pub fn subschema_for(&self, input: &Map<String, Value>) -> Option<&Schema> {
        let key = self.subschema_key?;
        let find = |name: &str| {
            self.subschemas
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s)
        };
        match input.get(key)? {
            Value::String(s) => find(s),
            Value::Array(items) => items.iter().filter_map(Value::as_str).find_map(find),
            _ => None,
        }
    }

    /// A field resolved through the subschema, if any.
    pub fn resolve_field<'a>(&'a self, name: &str, sub: Option<&'a Schema>) -> Option<&'a Field> {
        sub.and_then(|s| s.field(name)).or_else(|| self.field(name))
    }

    /// Fills defaults, runs shorthands and auto fields, then validates.
    /// Returns the complete entity (every field present, `null` where unset)
    /// or Kong's error tree.
    pub fn validate(&self, input: &Value, opts: &ValidateOptions) -> Result<Value, ErrorTree> {
        engine::validate(self, input, opts)
    }

    /// Validates an already-complete entity (no defaults filled).
    pub fn check(
        &self,
        input: &Map<String, Value>,
        opts: &ValidateOptions,
    ) -> Result<(), ErrorTree> {
        engine::check_entity(self, input, opts)
    }

    /// Schema-aware deep merge for PATCH: nested records merge field by
    /// field, everything else (arrays, sets, maps) is replaced.
    pub fn merge_update(&self, existing: &Value, patch: &Value) -> Value {
        engine::merge_values(self, patch, existing)
    }

    /// Kong's `/schemas/{entity}` rendering: `{"fields": [...], "entity_checks": [...]}`.
    pub fn to_json(&self) -> Value {
        render::schema_json(self)
    }
}
