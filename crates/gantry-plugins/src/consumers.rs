//! The in-memory consumer and credential index the auth plugins read per request
//! (no store lookups on the hot path), and Kong's "authenticate" step that sets
//! the consumer headers on the upstream request.
//!
//! Secrets are kept only as long as needed to verify requests; the `Debug`
//! implementations here never print them.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use gantry_core::{
    Acl, BasicAuthCredential, Consumer, HmacAuthCredential, JwtSecret, KeyAuthCredential,
};
use http::header::{HeaderName, HeaderValue};
use uuid::Uuid;

use crate::ctx::RequestCtx;
use crate::respond::Decision;

/// `X-Consumer-ID`.
pub const CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
/// `X-Consumer-Custom-ID`.
pub const CONSUMER_CUSTOM_ID: HeaderName = HeaderName::from_static("x-consumer-custom-id");
/// `X-Consumer-Username`.
pub const CONSUMER_USERNAME: HeaderName = HeaderName::from_static("x-consumer-username");
/// `X-Credential-Identifier`.
pub const CREDENTIAL_IDENTIFIER: HeaderName = HeaderName::from_static("x-credential-identifier");
/// `X-Anonymous-Consumer`.
pub const ANONYMOUS: HeaderName = HeaderName::from_static("x-anonymous-consumer");

/// A consumer with its upstream header values prepared.
#[derive(Debug)]
pub struct ConsumerInfo {
    /// `consumers.id`.
    pub id: Uuid,
    /// `consumers.username`.
    pub username: Option<String>,
    /// `consumers.custom_id`.
    pub custom_id: Option<String>,
    id_header: HeaderValue,
    username_header: Option<HeaderValue>,
    custom_id_header: Option<HeaderValue>,
    /// Its `X-Consumer-*` lines as HTTP/1.1 writes them, in [`ConsumerHeaders::for_each`]
    /// order: one copy per request instead of three lines of four pieces each.
    wire: Box<[u8]>,
}

/// `name: value\r\n` for each present value.
fn wire_lines<'a>(
    lines: impl IntoIterator<Item = (&'a HeaderName, Option<&'a HeaderValue>)>,
) -> Box<[u8]> {
    let mut out = Vec::new();
    for (name, value) in lines {
        if let Some(v) = value {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.into_boxed_slice()
}

impl ConsumerInfo {
    /// Prepares a consumer.
    pub fn new(c: &Consumer) -> Self {
        let hv = |s: &Option<String>| s.as_deref().and_then(|s| HeaderValue::from_str(s).ok());
        let id_header =
            HeaderValue::from_str(&c.id.to_string()).unwrap_or(HeaderValue::from_static(""));
        let username_header = hv(&c.username);
        let custom_id_header = hv(&c.custom_id);
        let wire = wire_lines([
            (&CONSUMER_ID, Some(&id_header)),
            (&CONSUMER_CUSTOM_ID, custom_id_header.as_ref()),
            (&CONSUMER_USERNAME, username_header.as_ref()),
        ]);
        ConsumerInfo {
            id: c.id,
            username: c.username.clone(),
            custom_id: c.custom_id.clone(),
            id_header,
            username_header,
            custom_id_header,
            wire,
        }
    }
}

/// The credential that authenticated a request.
#[derive(Debug)]
pub struct CredentialInfo {
    /// The credential's id.
    pub id: Uuid,
    /// Its consumer.
    pub consumer_id: Uuid,
    /// `X-Credential-Identifier` (key-auth: id; basic/hmac: username; jwt: key).
    pub identifier: HeaderValue,
    /// That line as HTTP/1.1 writes it.
    wire: Box<[u8]>,
}

impl CredentialInfo {
    fn new(id: Uuid, consumer_id: Uuid, identifier: &str) -> Arc<Self> {
        let identifier = HeaderValue::from_str(identifier).unwrap_or(HeaderValue::from_static(""));
        let wire = wire_lines([(&CREDENTIAL_IDENTIFIER, Some(&identifier))]);
        Arc::new(CredentialInfo {
            id,
            consumer_id,
            identifier,
            wire,
        })
    }
}

/// A key-auth credential.
pub struct KeyEntry {
    /// Shared credential facts.
    pub credential: Arc<CredentialInfo>,
    key: String,
    /// Unix time after which the key is rejected (`created_at + ttl`).
    pub expires_at: Option<f64>,
}

impl KeyEntry {
    /// Constant-time comparison with a presented key.
    pub fn matches(&self, presented: &[u8]) -> bool {
        crate::util::ct_eq(self.key.as_bytes(), presented)
    }
}

/// A basic-auth credential: the stored `sha1(password .. consumer_id)` hex.
pub struct BasicEntry {
    /// Shared credential facts.
    pub credential: Arc<CredentialInfo>,
    /// Stored password digest (lowercase hex).
    pub password_hash: String,
}

/// A jwt credential.
pub struct JwtEntry {
    /// Shared credential facts.
    pub credential: Arc<CredentialInfo>,
    /// HMAC secret (HS*).
    pub secret: String,
    /// PEM public key (RS*, PS*, ES*, EdDSA).
    pub rsa_public_key: Option<String>,
    /// Kong's algorithm name (`HS256`, …).
    pub algorithm: String,
    /// `rsa_public_key` parsed for `algorithm` (RS*, PS*, ES*, EdDSA), once per
    /// configuration; `None` for HS* or a key that does not parse.
    pub public_key: Option<aws_lc_rs::signature::ParsedPublicKey>,
}

/// An hmac-auth credential.
pub struct HmacEntry {
    /// Shared credential facts.
    pub credential: Arc<CredentialInfo>,
    /// The shared secret.
    pub secret: String,
}

macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("credential", &self.credential.id)
                    .finish_non_exhaustive()
            }
        }
    )*};
}
redacted_debug!(KeyEntry, BasicEntry, JwtEntry, HmacEntry);

/// Credential entities to index, borrowed from the configuration.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credentials<'a> {
    /// `keyauth_credentials`.
    pub keyauth: &'a [KeyAuthCredential],
    /// `basicauth_credentials` (passwords already hashed).
    pub basicauth: &'a [BasicAuthCredential],
    /// `jwt_secrets`.
    pub jwt: &'a [JwtSecret],
    /// `hmacauth_credentials`.
    pub hmacauth: &'a [HmacAuthCredential],
    /// `acls`.
    pub acls: &'a [Acl],
}

/// A map keyed by values an attacker cannot steer (UUIDs, SHA-256 digests): foldhash
/// instead of SipHash, as these lookups run on every authenticated request.
type UniformMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Consumers and credentials by the keys requests present them with.
#[derive(Debug, Default)]
pub struct ConsumerIndex {
    consumers: UniformMap<Uuid, Arc<ConsumerInfo>>,
    by_username: HashMap<String, Arc<ConsumerInfo>>,
    /// key-auth credentials by a keyed hash of the key (SipHash with this index's
    /// random key, so nobody outside can compute it): the map lookup's timing says
    /// nothing about stored keys, and the key is then compared in constant time.
    /// A 64-bit digest may collide, hence a list (of one, in practice). SipHash costs
    /// a tenth of the SHA-256 used before, on every authenticated request.
    keys: UniformMap<u64, Vec<KeyEntry>>,
    key_hasher: std::hash::RandomState,
    basic: HashMap<String, BasicEntry>,
    jwt: HashMap<String, JwtEntry>,
    hmac: HashMap<String, HmacEntry>,
    groups: UniformMap<Uuid, Vec<String>>,
}

impl ConsumerIndex {
    /// Indexes consumers and credentials. Credentials whose consumer is missing
    /// are skipped.
    pub fn build(consumers: &[Consumer], creds: Credentials<'_>) -> Self {
        let mut ix = ConsumerIndex::default();
        for c in consumers {
            let info = Arc::new(ConsumerInfo::new(c));
            if let Some(u) = &c.username {
                ix.by_username.insert(u.clone(), info.clone());
            }
            ix.consumers.insert(c.id, info);
        }
        for k in creds.keyauth {
            if !ix.consumers.contains_key(&k.consumer.id) {
                continue;
            }
            let entry = KeyEntry {
                credential: CredentialInfo::new(k.id, k.consumer.id, &k.id.to_string()),
                key: k.key.clone(),
                expires_at: k.ttl.filter(|t| *t > 0.0).map(|t| k.created_at as f64 + t),
            };
            let digest = ix.key_hasher.hash_one(k.key.as_bytes());
            // A list of one: `push` on an empty Vec would reserve four.
            ix.keys
                .entry(digest)
                .or_insert_with(|| Vec::with_capacity(1))
                .push(entry);
        }
        for b in creds.basicauth {
            if ix.consumers.contains_key(&b.consumer.id) {
                let credential = CredentialInfo::new(b.id, b.consumer.id, &b.username);
                let password_hash = b.password.clone();
                ix.basic.insert(
                    b.username.clone(),
                    BasicEntry {
                        credential,
                        password_hash,
                    },
                );
            }
        }
        for j in creds.jwt {
            if ix.consumers.contains_key(&j.consumer.id) {
                let entry = JwtEntry {
                    credential: CredentialInfo::new(j.id, j.consumer.id, &j.key),
                    secret: j.secret.clone(),
                    rsa_public_key: j.rsa_public_key.clone(),
                    algorithm: j.algorithm.clone(),
                    public_key: j
                        .rsa_public_key
                        .as_deref()
                        .and_then(|pem| crate::plugins::jwt::parse_public_key(&j.algorithm, pem)),
                };
                ix.jwt.insert(j.key.clone(), entry);
            }
        }
        for h in creds.hmacauth {
            if ix.consumers.contains_key(&h.consumer.id) {
                let credential = CredentialInfo::new(h.id, h.consumer.id, &h.username);
                let secret = h.secret.clone();
                ix.hmac
                    .insert(h.username.clone(), HmacEntry { credential, secret });
            }
        }
        for a in creds.acls {
            ix.groups
                .entry(a.consumer.id)
                .or_default()
                .push(a.group.clone());
        }
        ix
    }

    /// A consumer by id.
    pub fn consumer(&self, id: &Uuid) -> Option<&Arc<ConsumerInfo>> {
        self.consumers.get(id)
    }

    /// Kong's `load_consumer(x, true)`: by id when `x` is a UUID, else by username.
    pub fn consumer_by_id_or_username(&self, x: &str) -> Option<&Arc<ConsumerInfo>> {
        if let Ok(id) = Uuid::parse_str(x)
            && let Some(c) = self.consumers.get(&id)
        {
            return Some(c);
        }
        self.by_username.get(x)
    }

    /// The key-auth credential for a presented key (its raw bytes, as Kong compares
    /// them; constant-time compared).
    pub fn key_auth(&self, key: impl AsRef<[u8]>) -> Option<&KeyEntry> {
        let key = key.as_ref();
        self.keys
            .get(&self.key_hasher.hash_one(key))?
            .iter()
            .find(|e| e.matches(key))
    }

    /// The basic-auth credential of a username.
    pub fn basic_auth(&self, username: &str) -> Option<&BasicEntry> {
        self.basic.get(username)
    }

    /// The jwt credential of a key (`iss` claim by default).
    pub fn jwt(&self, key: &str) -> Option<&JwtEntry> {
        self.jwt.get(key)
    }

    /// The hmac-auth credential of a username.
    pub fn hmac(&self, username: &str) -> Option<&HmacEntry> {
        self.hmac.get(username)
    }

    /// The ACL groups of a consumer, in configuration order.
    pub fn groups(&self, consumer: &Uuid) -> &[String] {
        self.groups.get(consumer).map_or(&[], Vec::as_slice)
    }
}

/// Kong's `set_consumer`: records the consumer (and credential) on the request
/// and decides the `X-Consumer-*`, `X-Credential-Identifier` and
/// `X-Anonymous-Consumer` upstream headers (set, or cleared). They are kept aside as
/// [`ConsumerHeaders`] rather than written into `ctx.headers` at once: hashing those
/// long names into the header map was most of what authentication cost a request.
/// The next plugin to run sees them in `ctx.headers` (the chain applies them first);
/// after the last one, the proxy writes them with the upstream request.
pub fn authenticate(
    ctx: &mut RequestCtx,
    consumer: Option<Arc<ConsumerInfo>>,
    credential: Option<Arc<CredentialInfo>>,
) {
    ctx.consumer_headers = Some(ConsumerHeaders {
        consumer: consumer.clone(),
        credential: credential.clone(),
    });
    ctx.consumer = consumer;
    ctx.credential = credential;
}

/// The consumer headers an authentication decided, not yet in the request's header
/// map. Each is set when `Some`, removed when `None` (a client's own copy never
/// reaches the upstream); `X-Anonymous-Consumer: true` goes with no credential.
///
/// They hold the consumer and credential themselves (two reference counts), whose
/// header values were prepared when the configuration was compiled.
#[derive(Debug, Clone, Default)]
pub struct ConsumerHeaders {
    consumer: Option<Arc<ConsumerInfo>>,
    credential: Option<Arc<CredentialInfo>>,
}

const TRUE: HeaderValue = HeaderValue::from_static("true");

impl ConsumerHeaders {
    /// Writes them into `h` as Kong's `set_header`/`clear_header` would.
    pub fn apply(self, h: &mut http::HeaderMap) {
        // One growth at most for the five.
        h.reserve(5);
        let anonymous = self.credential.is_none().then_some(TRUE);
        let c = self.consumer.as_deref();
        set_or_clear(h, CONSUMER_ID, c.map(|c| c.id_header.clone()));
        set_or_clear(
            h,
            CONSUMER_CUSTOM_ID,
            c.and_then(|c| c.custom_id_header.clone()),
        );
        set_or_clear(
            h,
            CONSUMER_USERNAME,
            c.and_then(|c| c.username_header.clone()),
        );
        let credential = self.credential.as_ref().map(|c| c.identifier.clone());
        set_or_clear(h, CREDENTIAL_IDENTIFIER, credential);
        set_or_clear(h, ANONYMOUS, anonymous);
    }

    /// The lines they add to the upstream request, name and value.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        fn value(v: Option<&HeaderValue>) -> Option<&[u8]> {
            v.map(HeaderValue::as_bytes)
        }
        let c = self.consumer.as_deref();
        let lines = [
            (&CONSUMER_ID, value(c.map(|c| &c.id_header))),
            (
                &CONSUMER_CUSTOM_ID,
                value(c.and_then(|c| c.custom_id_header.as_ref())),
            ),
            (
                &CONSUMER_USERNAME,
                value(c.and_then(|c| c.username_header.as_ref())),
            ),
            (
                &CREDENTIAL_IDENTIFIER,
                value(self.credential.as_ref().map(|c| &c.identifier)),
            ),
            (
                &ANONYMOUS,
                self.credential.is_none().then_some(&b"true"[..]),
            ),
        ];
        for (name, value) in lines {
            if let Some(v) = value {
                f(name.as_str().as_bytes(), v);
            }
        }
    }

    /// The same lines as [`Self::for_each`] gives them, written as HTTP/1.1 header
    /// lines (`name: value\r\n`), from blocks prepared with the configuration.
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        if let Some(c) = self.consumer.as_deref() {
            out.extend_from_slice(&c.wire);
        }
        match self.credential.as_deref() {
            Some(cred) => out.extend_from_slice(&cred.wire),
            None => out.extend_from_slice(b"x-anonymous-consumer: true\r\n"),
        }
    }

    /// The names of the headers an authentication sets (a client's lines of these
    /// names are dropped), lowercase.
    pub const NAMES: [&'static str; 5] = [
        "x-consumer-id",
        "x-consumer-custom-id",
        "x-consumer-username",
        "x-credential-identifier",
        "x-anonymous-consumer",
    ];

    /// The length of the longest of [`Self::NAMES`] (what a caller lowercasing a
    /// client's name into a buffer needs room for).
    pub const LONGEST_NAME: usize = {
        let mut longest = 0;
        let mut i = 0;
        while i < Self::NAMES.len() {
            if Self::NAMES[i].len() > longest {
                longest = Self::NAMES[i].len();
            }
            i += 1;
        }
        longest
    };

    /// Whether the lowercase `name` is one of [`Self::NAMES`].
    pub fn names_bytes(name: &[u8]) -> bool {
        Self::NAMES.iter().any(|n| n.as_bytes() == name)
    }
}

fn set_or_clear(h: &mut http::HeaderMap, name: HeaderName, v: Option<HeaderValue>) {
    match v {
        Some(v) => {
            h.insert(name, v);
        }
        None => {
            h.remove(name);
        }
    }
}

/// The anonymous fallback of auth plugins ("logical OR" mode): authenticates as
/// the configured anonymous consumer, or answers 500 when it does not exist.
pub fn authenticate_anonymous(
    ctx: &mut RequestCtx,
    index: &ConsumerIndex,
    anonymous: &str,
) -> Decision {
    match index.consumer_by_id_or_username(anonymous) {
        Some(c) => {
            authenticate(ctx, Some(c.clone()), None);
            Decision::Continue
        }
        None => {
            let msg = format!("anonymous consumer {anonymous} is configured but doesn't exist");
            tracing::error!("{msg}");
            ctx.reject(http::StatusCode::INTERNAL_SERVER_ERROR, &msg)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `write_wire` writes exactly the lines `for_each` gives, in the same order.
    #[test]
    fn prepared_wire_lines_match_the_header_pairs() {
        let consumer = |username: Option<&str>, custom_id: Option<&str>| {
            Arc::new(ConsumerInfo::new(&Consumer {
                id: Uuid::from_u128(7),
                created_at: 0,
                updated_at: 0,
                username: username.map(str::to_owned),
                custom_id: custom_id.map(str::to_owned),
                tags: None,
            }))
        };
        let credential = CredentialInfo::new(Uuid::from_u128(9), Uuid::from_u128(7), "cred-1");
        let cases = [
            (
                Some(consumer(Some("alice"), Some("c-1"))),
                Some(credential.clone()),
            ),
            (Some(consumer(None, Some("c-2"))), Some(credential.clone())),
            (Some(consumer(Some("bob"), None)), None),
            (None, None),
        ];
        for (consumer, credential) in cases {
            let h = ConsumerHeaders {
                consumer,
                credential,
            };
            let mut pairs = Vec::new();
            h.for_each(|n, v| {
                pairs.extend_from_slice(n);
                pairs.extend_from_slice(b": ");
                pairs.extend_from_slice(v);
                pairs.extend_from_slice(b"\r\n");
            });
            let mut wire = Vec::new();
            h.write_wire(&mut wire);
            assert_eq!(
                String::from_utf8(wire).unwrap(),
                String::from_utf8(pairs).unwrap()
            );
        }
    }
}
