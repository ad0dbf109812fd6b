#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use http::Method;
use serde_json::{Value, json};

use super::{AuthenticatedJwtToken, base64_decode, bearer_token};
use crate::plugins::testkit::*;
use crate::respond::Decision;

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "hs-secret";

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

fn encode(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn hs(alg: &str, secret: &[u8], claims: &Value) -> String {
    let h = match alg {
        "HS256" => aws_lc_rs::hmac::HMAC_SHA256,
        "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
        _ => aws_lc_rs::hmac::HMAC_SHA512,
    };
    encode(&json!({ "typ": "JWT", "alg": alg }), claims, |d| {
        aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(h, secret), d)
            .as_ref()
            .to_vec()
    })
}

fn rsa() -> &'static RsaKeyPair {
    static K: OnceLock<RsaKeyPair> = OnceLock::new();
    K.get_or_init(|| RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
}

/// (token, PEM public key) for a public-key algorithm.
fn signed(alg: &str, claims: &Value) -> (String, String) {
    let header = json!({ "typ": "JWT", "alg": alg });
    let rng = SystemRandom::new();
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let k = rsa();
            let pad: &'static dyn signature::RsaEncoding = match alg {
                "RS256" => &signature::RSA_PKCS1_SHA256,
                "RS384" => &signature::RSA_PKCS1_SHA384,
                "RS512" => &signature::RSA_PKCS1_SHA512,
                "PS256" => &signature::RSA_PSS_SHA256,
                "PS384" => &signature::RSA_PSS_SHA384,
                _ => &signature::RSA_PSS_SHA512,
            };
            let t = encode(&header, claims, |d| {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(pad, &rng, d, &mut sig).unwrap();
                sig
            });
            (t, pem(k.public_key().as_der().unwrap().as_ref()))
        }
        "ES256" | "ES384" | "ES512" => {
            let a = match alg {
                "ES256" => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                "ES384" => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                _ => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            };
            let k = EcdsaKeyPair::generate(a).unwrap();
            let t = encode(&header, claims, |d| {
                k.sign(&rng, d).unwrap().as_ref().to_vec()
            });
            (t, pem(k.public_key().as_der().unwrap().as_ref()))
        }
        _ => {
            let k = Ed25519KeyPair::generate().unwrap();
            let t = encode(&header, claims, |d| k.sign(d).as_ref().to_vec());
            (t, pem(k.public_key().as_der().unwrap().as_ref()))
        }
    }
}

struct Setup {
    f: Fixture,
    bob: uuid::Uuid,
}

fn setup(config: Value) -> Setup {
    let mut f = Fixture::default();
    let bob = f.consumer("bob");
    f.jwt(bob, "bob-key", "HS256", SECRET, None);
    f.global("jwt", config);
    Setup { f, bob }
}

fn at_now(mut ctx: crate::ctx::RequestCtx) -> crate::ctx::RequestCtx {
    ctx.now = UNIX_EPOCH + Duration::from_secs(NOW);
    ctx
}

fn bearer(token: &str) -> crate::ctx::RequestCtx {
    at_now(with_header(
        req(Method::GET, "/"),
        "authorization",
        &format!("Bearer {token}"),
    ))
}

fn run(s: &Setup, mut ctx: crate::ctx::RequestCtx) -> (Decision, crate::ctx::RequestCtx) {
    let set = s.f.build();
    let d = run_access(&set, &mut ctx);
    (d, ctx)
}

fn reject(d: Decision, body: Value, www: Option<&str>) {
    let r = assert_exit(d, 401, body);
    assert_eq!(header(&r.headers, "www-authenticate"), www);
}

const INVALID: Option<&str> = Some("Bearer error=\"invalid_token\"");

fn bad(d: Decision, message: &str) {
    reject(d, json!({ "message": message }), INVALID);
}

#[test]
fn accepts_hs256_and_sets_consumer_headers() {
    let s = setup(json!({}));
    let token = hs("HS256", SECRET.as_bytes(), &json!({ "iss": "bob-key" }));
    let (d, ctx) = run(&s, bearer(&token));
    assert!(d.is_continue());
    assert_eq!(
        header(&ctx.headers, "x-consumer-id"),
        Some(s.bob.to_string().as_str())
    );
    assert_eq!(header(&ctx.headers, "x-consumer-username"), Some("bob"));
    assert_eq!(
        header(&ctx.headers, "x-credential-identifier"),
        Some("bob-key")
    );
    assert_eq!(header(&ctx.headers, "x-anonymous-consumer"), None);
    assert_eq!(
        ctx.scratch.get::<AuthenticatedJwtToken>(),
        Some(&AuthenticatedJwtToken(token))
    );
}

#[test]
fn accepts_every_hmac_algorithm_and_base64_secret() {
    for alg in ["HS256", "HS384", "HS512"] {
        let mut f = Fixture::default();
        let bob = f.consumer("bob");
        f.jwt(bob, "k", alg, SECRET, None);
        f.global("jwt", json!({}));
        let s = Setup { f, bob };
        let token = hs(alg, SECRET.as_bytes(), &json!({ "iss": "k" }));
        assert!(run(&s, bearer(&token)).0.is_continue(), "{alg}");
        // the wrong algorithm's token for this credential
        let other = if alg == "HS256" { "HS512" } else { "HS256" };
        let token = hs(other, SECRET.as_bytes(), &json!({ "iss": "k" }));
        bad(run(&s, bearer(&token)).0, "Invalid algorithm");
    }
    let mut f = Fixture::default();
    let bob = f.consumer("bob");
    f.jwt(bob, "k", "HS256", "c2VjcmV0LWJ5dGVz", None);
    f.global("jwt", json!({ "secret_is_base64": true }));
    let s = Setup { f, bob };
    let token = hs("HS256", b"secret-bytes", &json!({ "iss": "k" }));
    assert!(run(&s, bearer(&token)).0.is_continue());
}

#[test]
fn accepts_every_public_key_algorithm_and_rejects_forgeries() {
    for alg in [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ] {
        let claims = json!({ "iss": "pk" });
        let (token, public) = signed(alg, &claims);
        let mut f = Fixture::default();
        let bob = f.consumer("bob");
        f.jwt(bob, "pk", alg, "unused", Some(public));
        f.global("jwt", json!({}));
        let s = Setup { f, bob };
        let (d, ctx) = run(&s, bearer(&token));
        assert!(d.is_continue(), "{alg}");
        assert_eq!(header(&ctx.headers, "x-credential-identifier"), Some("pk"));

        // a signature by another key
        let (other, _) = signed(alg, &claims);
        if !alg.starts_with('R') && !alg.starts_with('P') {
            bad(run(&s, bearer(&other)).0, "Invalid signature");
        }
        // tampered claims with the original signature
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_claims = b64(json!({ "iss": "pk", "admin": true }).to_string().as_bytes());
        parts[1] = &forged_claims;
        bad(run(&s, bearer(&parts.join("."))).0, "Invalid signature");
        // truncated signature (also a wrong-length ES signature)
        let truncated = &token[..token.len() - 4];
        bad(run(&s, bearer(truncated)).0, "Invalid signature");
        // HS256 token signed with the public key as secret (alg confusion)
        let public = s.f.jwt[0].rsa_public_key.clone().unwrap();
        let confused = hs("HS256", public.as_bytes(), &claims);
        bad(run(&s, bearer(&confused)).0, "Invalid algorithm");
    }
}

/// A PEM block of `label` around `der`.
fn pem_as(label: &str, der: &[u8]) -> String {
    pem(der).replace("PUBLIC KEY", label)
}

#[test]
fn a_private_key_verifies_with_its_public_half() {
    let rng = SystemRandom::new();
    let claims = json!({ "iss": "pk" });
    type Signer = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let cases: Vec<(&str, String, Signer)> = vec![
        (
            "RS256",
            pem_as(
                "PRIVATE KEY",
                AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(rsa())
                    .unwrap()
                    .as_ref(),
            ),
            Box::new(|d: &[u8]| {
                let mut sig = vec![0; rsa().public_modulus_len()];
                rsa()
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &SystemRandom::new(),
                        d,
                        &mut sig,
                    )
                    .unwrap();
                sig
            }),
        ),
        {
            let doc =
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .unwrap();
            let k =
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                    .unwrap();
            (
                "ES256",
                pem_as("PRIVATE KEY", doc.as_ref()),
                Box::new(move |d: &[u8]| {
                    k.sign(&SystemRandom::new(), d).unwrap().as_ref().to_vec()
                }),
            )
        },
        {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let k = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
            (
                "EdDSA",
                pem_as("PRIVATE KEY", doc.as_ref()),
                Box::new(move |d: &[u8]| k.sign(d).as_ref().to_vec()),
            )
        },
    ];
    for (alg, private_pem, sign) in cases {
        let token = encode(&json!({ "typ": "JWT", "alg": alg }), &claims, |d| sign(d));
        let mut f = Fixture::default();
        let bob = f.consumer("bob");
        f.jwt(bob, "pk", alg, "unused", Some(private_pem));
        f.global("jwt", json!({}));
        let s = Setup { f, bob };
        assert!(run(&s, bearer(&token)).0.is_continue(), "{alg}");
        // (the RSA test key is shared, so only EC/EdDSA have "another" key)
        if alg != "RS256" {
            let (other, _) = signed(alg, &claims);
            bad(run(&s, bearer(&other)).0, "Invalid signature");
        }
    }
}

#[test]
fn secret_is_base64_leaves_public_keys_alone() {
    // Kong 3.9: only HS secrets are base64-decoded, so one plugin serves both kinds
    for alg in ["RS256", "ES256", "EdDSA"] {
        let claims = json!({ "iss": "pk" });
        let (token, public) = signed(alg, &claims);
        let mut f = Fixture::default();
        let bob = f.consumer("bob");
        f.jwt(bob, "pk", alg, "unused", Some(public));
        f.jwt(bob, "hs", "HS256", "c2VjcmV0LWJ5dGVz", None);
        f.global("jwt", json!({ "secret_is_base64": true }));
        let s = Setup { f, bob };
        assert!(run(&s, bearer(&token)).0.is_continue(), "{alg}");
        let hs_token = hs("HS256", b"secret-bytes", &json!({ "iss": "hs" }));
        assert!(run(&s, bearer(&hs_token)).0.is_continue(), "{alg}");
    }
}

#[test]
fn only_a_string_key_claim_names_a_credential() {
    let mut f = Fixture::default();
    let bob = f.consumer("bob");
    f.jwt(bob, "123", "HS256", SECRET, None);
    f.global("jwt", json!({}));
    let s = Setup { f, bob };
    let ok = hs("HS256", SECRET.as_bytes(), &json!({ "iss": "123" }));
    assert!(run(&s, bearer(&ok)).0.is_continue());
    for iss in [json!(123), json!(null), json!(true), json!([]), json!({})] {
        let t = hs("HS256", SECRET.as_bytes(), &json!({ "iss": iss }));
        bad(
            run(&s, bearer(&t)).0,
            "No credentials found for given 'iss'",
        );
    }
}

#[test]
fn token_sources_and_multiple_tokens() {
    let s =
        setup(json!({ "cookie_names": ["session"], "header_names": ["authorization", "x_token"] }));
    let token = hs("HS256", SECRET.as_bytes(), &json!({ "iss": "bob-key" }));
    let q = at_now(req(Method::GET, &format!("/?a=1&jwt={token}")));
    assert!(run(&s, q).0.is_continue());
    let c = at_now(with_header(
        req(Method::GET, "/"),
        "cookie",
        &format!("a=b; session={token}"),
    ));
    assert!(run(&s, c).0.is_continue());
    // nginx's $cookie_: case-insensitive name, spaces around `=` skipped, the
    // value runs to `;` with its trailing spaces (which break the signature)
    for (cookie, ok) in [
        (format!("SESSION = {token};x=1"), true),
        (format!("sessionx={token}; session={token}"), true),
        (format!("session={token} ; a=b"), false),
        (format!("\tsession={token}"), false),
    ] {
        let c = at_now(with_header(req(Method::GET, "/"), "cookie", &cookie));
        let d = run(&s, c).0;
        if ok {
            assert!(d.is_continue(), "{cookie}");
        } else {
            assert!(!d.is_continue(), "{cookie}");
        }
    }
    let h = at_now(with_header(
        req(Method::GET, "/"),
        "x-token",
        &format!("bearer {token}"),
    ));
    assert!(run(&s, h).0.is_continue());
    // the same token twice is one token
    let both = at_now(with_header(
        req(Method::GET, &format!("/?jwt={token}")),
        "authorization",
        &format!("Bearer {token}"),
    ));
    assert!(run(&s, both).0.is_continue());
    // two distinct tokens
    let other = hs(
        "HS256",
        SECRET.as_bytes(),
        &json!({ "iss": "bob-key", "x": 1 }),
    );
    let two = at_now(with_header(
        req(Method::GET, &format!("/?jwt={other}")),
        "authorization",
        &format!("Bearer {token}"),
    ));
    bad(run(&s, two).0, "Multiple tokens provided");
    // a query flag
    bad(
        run(&s, at_now(req(Method::GET, "/?jwt"))).0,
        "Unrecognizable token",
    );
    // nothing
    reject(
        run(&s, at_now(req(Method::GET, "/?jwt="))).0,
        json!({ "message": "Unauthorized" }),
        Some("Bearer"),
    );
    let basic = at_now(with_header(
        req(Method::GET, "/"),
        "authorization",
        "Basic abc",
    ));
    reject(
        run(&s, basic).0,
        json!({ "message": "Unauthorized" }),
        Some("Bearer"),
    );
}

#[test]
fn realm_in_www_authenticate() {
    let s = setup(json!({ "realm": "kong" }));
    reject(
        run(&s, at_now(req(Method::GET, "/"))).0,
        json!({ "message": "Unauthorized" }),
        Some("Bearer realm=\"kong\""),
    );
    let r = assert_exit(
        run(&s, bearer("x.y.z")).0,
        401,
        json!({ "message": "Bad token; invalid JSON" }),
    );
    assert_eq!(
        header(&r.headers, "www-authenticate"),
        Some("Bearer realm=\"kong\" error=\"invalid_token\"")
    );
}

#[test]
fn bad_tokens() {
    let s = setup(json!({}));
    let h = |v: &Value| b64(v.to_string().as_bytes());
    let claims = h(&json!({ "iss": "bob-key" }));
    let hdr = h(&json!({ "typ": "JWT", "alg": "HS256" }));
    for t in [
        "abc",
        "abc.def",
        "!!!.@@@.###",
        &hdr.clone(),
        &format!("{hdr}.{claims}"),
        &format!("{hdr}.e30x.sig"),
    ] {
        bad(run(&s, bearer(t)).0, "Bad token; invalid JSON");
    }
    let none = h(&json!({ "typ": "JWT", "alg": "none" }));
    bad(
        run(&s, bearer(&format!("{none}.{claims}."))).0,
        "Bad token; invalid alg",
    );
    let noalg = h(&json!({ "typ": "JWT" }));
    bad(
        run(&s, bearer(&format!("{noalg}.{claims}.x"))).0,
        "Bad token; invalid alg",
    );
    let numalg = h(&json!({ "alg": 256 }));
    bad(
        run(&s, bearer(&format!("{numalg}.{claims}.x"))).0,
        "Bad token; invalid alg",
    );
    bad(
        run(&s, bearer(&format!("{}.{claims}.x", h(&json!(5))))).0,
        "Bad token; invalid alg",
    );
    bad(
        run(&s, bearer(&format!("{hdr}.{}.x", h(&json!(false))))).0,
        "Bad token; invalid claims",
    );
    bad(
        run(&s, bearer(&format!("{hdr}.{claims}.a!b"))).0,
        "Bad token; invalid signature",
    );
    bad(
        run(&s, bearer(&format!("{hdr}.{claims}.abcde"))).0,
        "Bad token; invalid signature",
    );
    // an empty signature decodes to nothing and fails verification
    bad(
        run(&s, bearer(&format!("{hdr}.{claims}."))).0,
        "Invalid signature",
    );
    // oversized and binary junk never panic
    let big = "A".repeat(1 << 20);
    bad(
        run(&s, bearer(&format!("{big}.{big}.{big}"))).0,
        "Bad token; invalid JSON",
    );
    let junk: String = (0..5000)
        .map(|i| char::from(b'!' + (i % 90) as u8))
        .collect();
    let _ = run(&s, bearer(&junk));
}

#[test]
fn key_claim_and_credential_lookup() {
    let s = setup(json!({}));
    let no_iss = hs("HS256", SECRET.as_bytes(), &json!({ "sub": "x" }));
    bad(run(&s, bearer(&no_iss)).0, "No mandatory 'iss' in claims");
    let empty = hs("HS256", SECRET.as_bytes(), &json!({ "iss": "" }));
    bad(run(&s, bearer(&empty)).0, "Invalid 'iss' in claims");
    let unknown = hs("HS256", SECRET.as_bytes(), &json!({ "iss": "nobody" }));
    bad(
        run(&s, bearer(&unknown)).0,
        "No credentials found for given 'iss'",
    );
    let wrong = hs("HS256", b"other", &json!({ "iss": "bob-key" }));
    bad(run(&s, bearer(&wrong)).0, "Invalid signature");
    // the key may come from the token header, and key_claim_name is configurable
    let s = setup(json!({ "key_claim_name": "kid" }));
    let t = encode(
        &json!({ "alg": "HS256", "kid": "bob-key" }),
        &json!({}),
        |d| {
            aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes()),
                d,
            )
            .as_ref()
            .to_vec()
        },
    );
    assert!(run(&s, bearer(&t)).0.is_continue());
    let no_kid = hs("HS256", SECRET.as_bytes(), &json!({ "iss": "bob-key" }));
    bad(run(&s, bearer(&no_kid)).0, "No mandatory 'kid' in claims");
}

#[test]
fn registered_claims() {
    let s = setup(json!({ "claims_to_verify": ["exp", "nbf"] }));
    let tok = |c: Value| hs("HS256", SECRET.as_bytes(), &c);
    let ok = tok(json!({ "iss": "bob-key", "exp": NOW + 10, "nbf": NOW }));
    assert!(run(&s, bearer(&ok)).0.is_continue());
    let expired = tok(json!({ "iss": "bob-key", "exp": NOW, "nbf": NOW }));
    reject(
        run(&s, bearer(&expired)).0,
        json!({ "exp": "token expired" }),
        INVALID,
    );
    let early = tok(json!({ "iss": "bob-key", "exp": NOW + 10, "nbf": NOW + 1 }));
    reject(
        run(&s, bearer(&early)).0,
        json!({ "nbf": "token not valid yet" }),
        INVALID,
    );
    let strings = tok(json!({ "iss": "bob-key", "exp": "soon" }));
    reject(
        run(&s, bearer(&strings)).0,
        json!({ "exp": "must be a number", "nbf": "must be a number" }),
        INVALID,
    );
    // not verified unless configured
    let s = setup(json!({}));
    assert!(run(&s, bearer(&expired)).0.is_continue());
}

#[test]
fn maximum_expiration() {
    let s = setup(json!({ "claims_to_verify": ["exp"], "maximum_expiration": 60 }));
    let tok = |exp: u64| {
        hs(
            "HS256",
            SECRET.as_bytes(),
            &json!({ "iss": "bob-key", "exp": exp }),
        )
    };
    assert!(run(&s, bearer(&tok(NOW + 60))).0.is_continue());
    reject(
        run(&s, bearer(&tok(NOW + 61))).0,
        json!({ "exp": "exceeds maximum allowed expiration" }),
        INVALID,
    );
    // Kong's conditional: an unset claims_to_verify is `null`, which passes
    assert!(validate(json!({ "name": "jwt", "config": { "maximum_expiration": 60 } })).is_ok());
    // …and without claims to verify, a token without `exp` exceeds the maximum
    let s = setup(json!({ "maximum_expiration": 60 }));
    reject(
        run(
            &s,
            bearer(&hs(
                "HS256",
                SECRET.as_bytes(),
                &json!({ "iss": "bob-key" }),
            )),
        )
        .0,
        json!({ "exp": "exceeds maximum allowed expiration" }),
        INVALID,
    );
    let e = validate(json!({ "name": "jwt", "config": {
        "maximum_expiration": 60, "claims_to_verify": ["nbf"] } }))
    .unwrap_err();
    assert_eq!(
        e["fields"]["@entity"],
        json!(["failed conditional validation given value of field 'config.maximum_expiration'"])
    );
    assert_eq!(
        e["fields"]["config"]["claims_to_verify"],
        "expected to contain: exp"
    );
    assert!(
        validate(json!({ "name": "jwt", "config": {
        "maximum_expiration": 0, "claims_to_verify": ["nbf"] } }))
        .is_ok()
    );
}

#[test]
fn anonymous_and_preflight() {
    let mut s = setup(json!({}));
    s.f.plugins.clear();
    s.f.global(
        "jwt",
        json!({ "anonymous": "bob", "run_on_preflight": false }),
    );
    let (d, ctx) = run(&s, at_now(req(Method::GET, "/")));
    assert!(d.is_continue());
    assert_eq!(header(&ctx.headers, "x-anonymous-consumer"), Some("true"));
    assert_eq!(header(&ctx.headers, "x-credential-identifier"), None);
    let (d, ctx) = run(&s, at_now(req(Method::OPTIONS, "/")));
    assert!(d.is_continue());
    assert_eq!(header(&ctx.headers, "x-consumer-id"), None);

    s.f.plugins.clear();
    s.f.global("jwt", json!({ "anonymous": "ghost" }));
    assert_error(
        run(&s, at_now(req(Method::GET, "/"))).0,
        500,
        "anonymous consumer ghost is configured but doesn't exist",
    );
}

#[test]
fn schema_defaults() {
    assert_eq!(
        filled("jwt", json!({})),
        json!({
            "uri_param_names": ["jwt"], "cookie_names": [], "key_claim_name": "iss",
            "secret_is_base64": false, "claims_to_verify": null, "anonymous": null,
            "run_on_preflight": true, "maximum_expiration": 0,
            "header_names": ["authorization"], "realm": null
        })
    );
    let e = config_errors("jwt", json!({ "claims_to_verify": ["iat"] }));
    assert_eq!(e["claims_to_verify"][0], "expected one of: exp, nbf");
}

#[test]
fn helpers() {
    assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
    assert_eq!(bearer_token(b"  bearer   a b "), Some(&b"a b "[..]));
    assert_eq!(bearer_token(b"Token Bearer x"), Some(&b"x"[..]));
    assert_eq!(bearer_token(b"Bearer"), None);
    assert_eq!(bearer_token(b"Bearer "), None);
    assert_eq!(bearer_token(b"Bearer  "), Some(&b" "[..]));
    assert_eq!(bearer_token(b"Bearerx Bearer y"), Some(&b"y"[..]));
    assert_eq!(base64_decode(b"aGk"), Some(b"hi".to_vec()));
    assert_eq!(base64_decode(b"aGk=junk"), Some(b"hi".to_vec()));
    assert_eq!(base64_decode(b"-_-_"), base64_decode(b"+/+/"));
    assert_eq!(base64_decode(b"a"), None);
    assert_eq!(base64_decode(b"a.b"), None);
}
