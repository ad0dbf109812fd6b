//! The compiled router: build once per configuration snapshot, then `find` per request.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::HashSet;
use std::net::SocketAddr;

use gantry_core::{Protocol, Route};
use http::{HeaderMap, HeaderName};
use uuid::Uuid;

use crate::RouterError;
use crate::compile::{compile_route, is_http_route, split_host_port};
use crate::index::Index;
use crate::matcher::{Captures, Facts, Matched, Matcher, PathCond};
use crate::normalize::escape_path;
use crate::normalize::{escape_path_owned, normalize_path, strip_query};
use crate::upstream::{upstream_path_v0, upstream_path_v0_cow};

/// The request attributes the router looks at. Built by the proxy per request; borrows
/// everything. The path has its own lifetime `'p`: a match borrows it (see
/// [`RouteMatch`]), the rest only while matching.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a, 'p> {
    /// `Http` or `Https` as the listener (or a trusted `X-Forwarded-Proto`) says; `Grpc`
    /// and `Grpcs` are read as `Http` / `Https`.
    pub scheme: Protocol,
    /// Request method, e.g. `GET` (compared case-sensitively).
    pub method: &'a str,
    /// Raw `Host` header value (may carry `:port`); `None` when absent. Text: a value
    /// that is not is no host to route on, and the caller has checked it already.
    pub host: Option<&'a str>,
    /// Port of the listener that accepted the connection (used when Host has no port).
    pub listener_port: u16,
    /// Raw request-target path as received (e.g. `uri.path_and_query()` bytes), before
    /// any decoding; a query string, if present, is ignored.
    pub path: &'p [u8],
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// TLS SNI of the client connection, if any.
    pub sni: Option<&'a str>,
    /// Client address (for `sources`).
    pub client_addr: Option<SocketAddr>,
    /// Local address the connection arrived on (for `destinations`).
    pub local_addr: Option<SocketAddr>,
}

/// Result of a successful match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// Index of the matched route in the slice given to [`Router::new`].
    pub route_index: usize,
    /// Id of the matched route (the original route, also when Kong split it).
    pub route_id: Uuid,
    /// The route's `strip_path`.
    pub strip_path: bool,
    /// Where in `normalized_path` the route's path condition matched (the literal
    /// prefix, or the whole regex match); `None` when the route has no `paths`. Read it
    /// with [`RouteMatch::matched_path`].
    matched: Option<(u32, u32)>,
    /// The normalized request path (query string removed), as matched and as forwarded:
    /// as text when it is UTF-8 (read with [`RouteMatch::normalized_path`]). Borrowed
    /// from the request when normalizing changed nothing.
    normalized: Result<Cow<'a, str>, Cow<'a, [u8]>>,
    /// `uri_captures`: present only when the matched regexes produced at least two entries
    /// (whole match plus a group), as in Kong.
    pub captures: Option<Captures>,
}

impl<'a> RouteMatch<'a> {
    /// The normalized request path (query string removed), as matched and as forwarded.
    pub fn normalized_path(&self) -> &[u8] {
        match &self.normalized {
            Ok(s) => s.as_bytes(),
            Err(b) => b,
        }
    }

    /// [`Self::normalized_path`] when it is UTF-8 (checked once, when it was matched).
    pub fn normalized_str(&self) -> Option<&str> {
        self.normalized.as_deref().ok()
    }

    /// What the route's path condition matched: the literal prefix, or the whole regex
    /// match. `None` when the route has no `paths` (a path that is not UTF-8 matches
    /// no route that has).
    pub fn matched_path(&self) -> Option<&str> {
        let (start, end) = self.matched?;
        self.normalized_str()?.get(start as usize..end as usize)
    }

    /// Kong's `match_t.prefix`: the matched path when the route strips it.
    pub fn strip_prefix(&self) -> Option<&str> {
        if self.strip_path {
            self.matched_path()
        } else {
            None
        }
    }

    /// The upstream path before escaping (kong-reference §4.7, `v0`), given the service's
    /// `path` (`None` = `/`).
    pub fn upstream_path_raw(&self, service_path: Option<&str>) -> Vec<u8> {
        upstream_path_v0(
            service_path,
            self.strip_path,
            self.matched_path().map(str::as_bytes),
            self.normalized_path(),
        )
    }

    /// The upstream path, escaped for the request line as Kong does. The query string is
    /// not part of it: append the client's raw query (Kong forwards it untouched,
    /// including a lone trailing `?`). Borrowed from the request where it is a stretch
    /// of the request's path that needs no escaping.
    pub fn upstream_path(&self, service_path: Option<&str>) -> Cow<'a, str> {
        let Ok(Cow::Borrowed(path)) = &self.normalized else {
            return Cow::Owned(escape_path_owned(self.upstream_path_raw(service_path)));
        };
        let path: &'a str = path;
        let matched = self.matched_path().map(str::as_bytes);
        match upstream_path_v0_cow(service_path, self.strip_path, matched, path.as_bytes()) {
            Cow::Borrowed(p) => escape_path(p),
            Cow::Owned(p) => Cow::Owned(escape_path_owned(p)),
        }
    }

    /// The same match owning its path (to keep past the request).
    pub fn into_owned(self) -> RouteMatch<'static> {
        RouteMatch {
            normalized: match self.normalized {
                Ok(s) => Ok(Cow::Owned(s.into_owned())),
                Err(b) => Err(Cow::Owned(b.into_owned())),
            },
            route_index: self.route_index,
            route_id: self.route_id,
            strip_path: self.strip_path,
            matched: self.matched,
            captures: self.captures,
        }
    }
}

/// Per-route data kept for building results.
#[derive(Debug)]
struct RouteInfo {
    id: Uuid,
    strip_path: bool,
}

/// Kong's `traditional_compatible` router compiled into an index.
#[derive(Debug)]
pub struct Router {
    /// Matchers in Kong's evaluation order (priority desc, then id desc).
    matchers: Vec<Matcher>,
    routes: Vec<RouteInfo>,
    index: Index,
    uses_path: bool,
    /// Header names some route looks at; a non-UTF-8 value of one of them makes Kong's
    /// router fail (404), see `find`.
    header_names: HashSet<HeaderName, foldhash::fast::RandomState>,
}

impl Router {
    /// Compiles the HTTP-subsystem routes of `routes` (those listing any of http, https,
    /// grpc, grpcs); stream routes are ignored. Routes must already be validated; a regex
    /// that does not compile, or a malformed header name or address, is an error.
    pub fn new(routes: &[Route]) -> Result<Router, RouterError> {
        Self::from_routes(routes.iter())
    }

    /// Like [`Router::new`] for any iterator of routes; `route_index` in results counts
    /// positions in this iterator.
    pub fn from_routes<'r>(
        routes: impl IntoIterator<Item = &'r Route>,
    ) -> Result<Router, RouterError> {
        let Compiled {
            infos,
            mut matchers,
            keys,
            fields,
        } = Compiled::new(routes)?;
        if u32::try_from(matchers.len()).is_err() {
            return Err(RouterError::TooManyRoutes);
        }
        let ranks = ranks(keys);
        let index = Index::build(&matchers, &ranks);
        move_to_ranks(&mut matchers, ranks);
        Ok(Router {
            matchers,
            routes: infos,
            index,
            uses_path: fields.path,
            header_names: fields.header_names,
        })
    }

    /// Whether some route matches on request headers (else [`RequestView::headers`]
    /// is never read).
    pub fn routes_on_headers(&self) -> bool {
        !self.header_names.is_empty()
    }

    /// Number of compiled matchers (routes after Kong's path splitting).
    pub fn matcher_count(&self) -> usize {
        self.matchers.len()
    }

    /// Finds the route Kong would pick for this request, or `None` (Kong answers 404).
    ///
    /// As in Kong, a request whose normalized path, Host value or a routed-on header value
    /// is not UTF-8 matches nothing when some route looks at that field.
    pub fn find<'p>(&self, req: &RequestView<'_, 'p>) -> Option<RouteMatch<'p>> {
        // Kept with the match, borrowed from the request when normalizing changed nothing.
        let normalized: Result<Cow<'p, str>, Cow<'p, [u8]>> =
            match normalize_path(strip_query(req.path)) {
                Cow::Borrowed(b) => std::str::from_utf8(b)
                    .map(Cow::Borrowed)
                    .map_err(|_| Cow::Borrowed(b)),
                Cow::Owned(v) => String::from_utf8(v)
                    .map(Cow::Owned)
                    .map_err(|e| Cow::Owned(e.into_bytes())),
            };
        let path = match &normalized {
            Ok(p) => Some(&**p),
            Err(_) if self.uses_path => return None,
            Err(_) => None,
        };
        let (host, port) = match req.host {
            None => (None, None),
            Some(raw) => {
                let (h, p) = split_host_port(raw);
                (Some(h), p)
            }
        };
        if !self.header_names.is_empty() && self.has_non_utf8_routed_header(req.headers) {
            return None;
        }
        let facts = Facts {
            scheme: match req.scheme {
                Protocol::Https | Protocol::Grpcs => "https",
                _ => "http",
            },
            method: req.method,
            host,
            port: port.unwrap_or(i64::from(req.listener_port)),
            path,
            sni: req.sni,
            headers: req.headers,
            src: req.client_addr,
            dst_ip: req.local_addr.map(|a| a.ip()),
        };
        let mut hit = None;
        let rank = self.index.search(host, path, |rank| {
            let Some(m) = self.matchers.get(rank as usize) else {
                return false;
            };
            match m.eval(&facts) {
                Some(h) => {
                    hit = Some((m, h));
                    true
                }
                None => false,
            }
        })?;
        let (matcher, hit) = hit?;
        let normalized_len = match &normalized {
            Ok(p) => p.len(),
            Err(b) => b.len(),
        };
        debug_assert_eq!(
            self.matchers.get(rank as usize).map(|m| m.id),
            Some(matcher.id)
        );
        let route = self.routes.get(matcher.route_index)?;
        // Both kinds of match are a stretch of the normalized path: a prefix starts it.
        let matched = match hit.matched {
            Matched::Nothing => None,
            Matched::Prefix(p) => Some((0, p.len())),
            Matched::Regex(start, end) => Some((start, end)),
        }
        .filter(|(start, end)| end > start && *end <= normalized_len)
        .and_then(|(start, end)| Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?)));
        Some(RouteMatch {
            route_index: matcher.route_index,
            route_id: route.id,
            strip_path: route.strip_path,
            // Kong treats an empty match as no match value (filtered above).
            matched,
            normalized,
            captures: hit.captures.filter(|c| c.len() >= 2),
        })
    }

    fn has_non_utf8_routed_header(&self, headers: &HeaderMap) -> bool {
        headers.iter().any(|(name, value)| {
            std::str::from_utf8(value.as_bytes()).is_err() && self.header_names.contains(name)
        })
    }
}

/// The routes compiled in route order: one sequential pass over them (large
/// configurations do not fit in the CPU caches), in which the first error met is the
/// first in route order.
struct Compiled {
    infos: Vec<RouteInfo>,
    matchers: Vec<Matcher>,
    /// Kong's ordering key of each matcher.
    keys: Vec<RankKey>,
    fields: RoutedFields,
}

/// Sorts matchers into Kong's evaluation order: ATC iterates its (priority, uuid) map
/// from the largest key down (a UUID's big-endian `u128` orders as its bytes do).
/// Equal keys (a duplicated id) keep compile order, as a stable sort would.
type RankKey = (Reverse<u64>, Reverse<u128>, usize);

impl Compiled {
    fn new<'r>(routes: impl IntoIterator<Item = &'r Route>) -> Result<Compiled, RouterError> {
        let routes = routes.into_iter();
        let n = routes.size_hint().0;
        let mut compiled = Compiled {
            infos: Vec::with_capacity(n),
            matchers: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
            fields: RoutedFields::default(),
        };
        for (i, route) in routes.enumerate() {
            compiled.infos.push(RouteInfo {
                id: route.id,
                strip_path: route.strip_path,
            });
            if is_http_route(route) {
                compile_route(i, route, |priority, matcher| {
                    compiled.push(priority, matcher)
                })?;
            }
        }
        Ok(compiled)
    }

    fn push(&mut self, priority: u64, matcher: Matcher) {
        self.keys.push((
            Reverse(priority),
            Reverse(matcher.id.as_u128()),
            self.matchers.len(),
        ));
        self.fields.add(&matcher);
        self.matchers.push(matcher);
    }
}

/// Which request fields some matcher looks at.
#[derive(Default)]
struct RoutedFields {
    path: bool,
    header_names: HashSet<HeaderName, foldhash::fast::RandomState>,
}

impl RoutedFields {
    fn add(&mut self, m: &Matcher) {
        self.path |= !matches!(m.paths, PathCond::Any);
        for h in &m.headers {
            if !self.header_names.contains(&h.name) {
                self.header_names.insert(h.name.clone());
            }
        }
    }
}

/// The rank (position in evaluation order) of each matcher, given their keys in
/// compile order. Only these small keys are sorted, never the large matchers.
fn ranks(mut keys: Vec<RankKey>) -> Vec<u32> {
    keys.sort_unstable();
    let mut ranks = vec![0; keys.len()];
    for (rank, (_, _, i)) in keys.into_iter().enumerate() {
        if let Some(r) = ranks.get_mut(i) {
            // The router checked that ranks fit in u32.
            *r = rank as u32;
        }
    }
    ranks
}

/// Moves each matcher to the position of its rank, in place: every swap puts one
/// matcher where it belongs, so each moves at most once or twice.
fn move_to_ranks(matchers: &mut [Matcher], mut ranks: Vec<u32>) {
    for i in 0..matchers.len() {
        // `ranks` is a permutation: the chain from `i` ends with the matcher that
        // belongs at `i`. The bound only guards against looping on a broken one.
        for _ in 0..matchers.len() {
            let target = ranks.get(i).map_or(i, |&r| r as usize);
            if target == i || target >= matchers.len() {
                break;
            }
            matchers.swap(i, target);
            ranks.swap(i, target);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn route(id: u128, hosts: &[&str], paths: &[&str]) -> Route {
        let list = |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect());
        Route {
            id: Uuid::from_u128(id),
            protocols: vec![Protocol::Http],
            hosts: list(hosts),
            paths: list(paths),
            ..Route::default()
        }
    }

    fn find(router: &Router, host: &str, path: &str) -> Option<usize> {
        let headers = HeaderMap::new();
        let req = RequestView {
            scheme: Protocol::Http,
            method: "GET",
            host: Some(host),
            listener_port: 8000,
            path: path.as_bytes(),
            headers: &headers,
            sni: None,
            client_addr: None,
            local_addr: None,
        };
        router.find(&req).map(|m| m.route_index)
    }

    /// Equal (priority, id) keys keep route order, as the stable sort of matchers did.
    #[test]
    fn duplicate_ids_rank_in_route_order() {
        let routes = [route(7, &[], &["/a"]), route(7, &[], &["/a"])];
        assert_eq!(find(&Router::new(&routes).unwrap(), "x", "/a/b"), Some(0));
    }

    /// Matchers compile in rank order, but the error reported is still the first one in
    /// route order.
    #[test]
    fn first_invalid_route_in_route_order_is_reported() {
        let routes = [
            route(1, &[], &["~/("]),
            route(2, &["a.com"], &["~/[", "/b"]),
        ];
        match Router::new(&routes) {
            Err(RouterError::InvalidRegex { route_id, .. }) => {
                assert_eq!(route_id, Uuid::from_u128(1));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Split fragments of one route interleave with other routes by priority.
    #[test]
    fn split_fragments_rank_by_their_own_priority() {
        let routes = [route(1, &[], &["/ab", "/abcd"]), route(2, &[], &["/abc"])];
        let router = Router::new(&routes).unwrap();
        assert_eq!(router.matcher_count(), 3);
        assert_eq!(find(&router, "x", "/abcd"), Some(0));
        assert_eq!(find(&router, "x", "/abcx"), Some(1));
        assert_eq!(find(&router, "x", "/abx"), Some(0));
    }
}
