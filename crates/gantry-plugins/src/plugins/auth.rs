//! What Kong's authentication plugins (key-auth, basic-auth, jwt, hmac-auth)
//! do the same way: the `access` flow around `anonymous` (Kong's "logical OR"
//! of auth plugins), setting the consumer of a verified credential, the
//! `WWW-Authenticate` value, the preflight bypass and the `realm` schema field.
//! Kept here once so the four plugins cannot drift apart where Kong's handlers
//! are alike; each plugin keeps its own credential lookup, messages and
//! response shapes.

use std::sync::Arc;

use gantry_core::schema::Field;
use http::StatusCode;
use http::header::WWW_AUTHENTICATE;

use crate::consumers::{ConsumerIndex, CredentialInfo, authenticate, authenticate_anonymous};
use crate::ctx::RequestCtx;
use crate::respond::{Decision, KongResponse};

/// The `realm` config field (optional string; basic-auth adds a default).
pub(crate) fn realm() -> Field {
    Field::string().describe(
        "When authentication fails the plugin sends `WWW-Authenticate` header with `realm` attribute value.",
    )
}

/// The `WWW-Authenticate` value of a rejection: `<scheme>`, or
/// `<scheme> realm="<realm>"` when a realm is configured.
pub(crate) fn www_authenticate(scheme: &str, realm: Option<&str>) -> String {
    match realm {
        Some(r) => format!("{scheme} realm=\"{r}\""),
        None => scheme.to_string(),
    }
}

/// Why `do_authentication` failed, for the plugins that answer with Kong's
/// error template (key-auth, basic-auth, hmac-auth; jwt has its own bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 401 with this message and the plugin's `WWW-Authenticate`.
    Unauthorized(&'static str),
    /// The verified credential's consumer is not in the index: 500.
    ConsumerMissing,
}

impl Failure {
    /// The rejection (`kong.response.error`).
    pub(crate) fn response(self, ctx: &RequestCtx, www_authenticate: &str) -> KongResponse {
        match self {
            Failure::Unauthorized(message) => ctx
                .error(StatusCode::UNAUTHORIZED, message)
                .with_header(WWW_AUTHENTICATE, www_authenticate),
            Failure::ConsumerMissing => ctx.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error occurred",
            ),
        }
    }
}

/// `run_on_preflight = false`: `OPTIONS` requests pass unauthenticated.
pub(crate) fn skips_preflight(run_on_preflight: bool, ctx: &RequestCtx) -> bool {
    !run_on_preflight && ctx.method == http::Method::OPTIONS
}

/// Kong's `set_consumer` for a verified credential: authenticates the request
/// as the credential's consumer ([`Failure::ConsumerMissing`] when the index
/// has no such consumer).
pub(crate) fn authenticate_credential(
    ctx: &mut RequestCtx,
    index: &ConsumerIndex,
    credential: &Arc<CredentialInfo>,
) -> Result<(), Failure> {
    let Some(consumer) = index.consumer(&credential.consumer_id) else {
        return Err(Failure::ConsumerMissing);
    };
    authenticate(ctx, Some(consumer.clone()), Some(credential.clone()));
    Ok(())
}

/// An auth plugin's `access`: with `anonymous` configured, a request an earlier
/// auth plugin already authenticated is left alone, and a failed
/// authentication falls back to the anonymous consumer; without it, a failed
/// authentication is answered with `reject`'s response.
pub(crate) fn access<E>(
    ctx: &mut RequestCtx,
    index: &ConsumerIndex,
    anonymous: Option<&str>,
    do_authentication: impl FnOnce(&mut RequestCtx) -> Result<(), E>,
    reject: impl FnOnce(&RequestCtx, E) -> KongResponse,
) -> Decision {
    let Some(anonymous) = anonymous else {
        return match do_authentication(ctx) {
            Ok(()) => Decision::Continue,
            Err(e) => Decision::Respond(Box::new(reject(ctx, e))),
        };
    };
    if ctx.credential.is_some() {
        return Decision::Continue;
    }
    match do_authentication(ctx) {
        Ok(()) => Decision::Continue,
        Err(_) => authenticate_anonymous(ctx, index, anonymous),
    }
}

/// [`access`] for the plugins whose failures are [`Failure`]s (key-auth,
/// basic-auth, hmac-auth).
pub(crate) fn access_with_failures(
    ctx: &mut RequestCtx,
    index: &ConsumerIndex,
    anonymous: Option<&str>,
    www_authenticate: &str,
    do_authentication: impl FnOnce(&mut RequestCtx) -> Result<(), Failure>,
) -> Decision {
    access(ctx, index, anonymous, do_authentication, |ctx, f| {
        f.response(ctx, www_authenticate)
    })
}
