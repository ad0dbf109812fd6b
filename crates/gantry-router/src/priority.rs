//! The 64-bit matcher priority of Kong's `traditional_compatible` flavor
//! (`kong/router/transform.lua`, `get_priority`; kong-reference §4.5), and the route
//! splitting that gives each path group its own priority
//! (`split_routes_and_services_by_path`).

use gantry_core::Route;
use uuid::{Uuid, uuid};

/// Namespace of the UUIDv5 ids Kong gives to the fragments of a split route.
pub const SPLIT_ROUTE_NAMESPACE: Uuid = uuid!("7f145bf9-0dce-4f91-98eb-debbce4b9f6b");

const MAX_HEADER_COUNT: u64 = 255;
const PLAIN_HOST_ONLY_BIT: u64 = 1 << 60;
const REGEX_URL_BIT: u64 = 1 << 51;

/// True for Kong's regex paths (`~` prefix).
pub fn is_regex_path(path: &str) -> bool {
    path.starts_with('~')
}

fn non_empty<T>(field: Option<&Vec<T>>) -> bool {
    field.is_some_and(|v| !v.is_empty())
}

/// Priority of one route fragment whose `paths` are all regexes or all prefixes of the
/// same byte length (`paths` overrides `route.paths`, as after splitting).
///
/// Bit layout, most significant first: 63..61 number of non-empty fields among sources,
/// destinations, methods, hosts, headers, snis, paths; 60 hosts present and none
/// contains `*` (set even for an empty `hosts` array, as Kong tests `type(hosts) ==
/// "table"`); 59..52 number of header names (capped at 255); 51 regex paths;
/// 50..19 `regex_priority` (regex fragments only; negative values wrap as in Kong);
/// 18..0 prefix length.
pub fn fragment_priority(route: &Route, paths: &[String]) -> u64 {
    let mut weight: u64 = 0;
    if non_empty(route.sources.as_ref()) {
        weight += 1;
    }
    if non_empty(route.destinations.as_ref()) {
        weight += 1;
    }
    if non_empty(route.methods.as_ref()) {
        weight += 1;
    }
    if non_empty(route.hosts.as_ref()) {
        weight += 1;
    }
    let header_count = route.headers.as_ref().map_or(0, |h| h.len() as u64);
    if header_count > 0 {
        weight += 1;
    }
    if non_empty(route.snis.as_ref()) {
        weight += 1;
    }
    let plain_host_only = route
        .hosts
        .as_ref()
        .is_some_and(|hosts| hosts.iter().all(|h| !h.contains('*')));

    let mut uri_length: u64 = 0;
    let mut regex_url = false;
    if let Some(first) = paths.first() {
        weight += 1;
        if is_regex_path(first) {
            regex_url = true;
        } else {
            uri_length = first.len() as u64;
        }
    }

    let regex_priority = if regex_url {
        // Kong shifts the (possibly negative) integer as a 64-bit value.
        (route.regex_priority as u64) << 19
    } else {
        0
    };

    (weight.min(7) << 61)
        | if plain_host_only {
            PLAIN_HOST_ONLY_BIT
        } else {
            0
        }
        | if regex_url { REGEX_URL_BIT } else { 0 }
        | (header_count.min(MAX_HEADER_COUNT) << 52)
        | regex_priority
        | (uri_length & 0x7FFFF)
}

/// How a route's paths divide into matchers, borrowing the route's paths when Kong
/// keeps the route whole (the common case, which then costs no allocation).
#[derive(Debug)]
pub(crate) enum PathGroups<'r> {
    /// Zero paths, or all paths in one group: one matcher with the route's own id.
    Whole(&'r [String]),
    /// Two or more groups, in order of first appearance.
    Split(Vec<Vec<String>>),
}

impl PathGroups<'_> {
    /// Number of matchers the route becomes.
    pub(crate) fn len(&self) -> usize {
        match self {
            PathGroups::Whole(_) => 1,
            PathGroups::Split(groups) => groups.len(),
        }
    }

    /// Paths of group `n` (0-based).
    pub(crate) fn paths(&self, n: usize) -> &[String] {
        match self {
            PathGroups::Whole(paths) => paths,
            PathGroups::Split(groups) => groups.get(n).map_or(&[], Vec::as_slice),
        }
    }

    /// Id of group `n` (0-based): the route id when the route is whole, else
    /// `uuid5(SPLIT_ROUTE_NAMESPACE, "<route id>#<n + 1>")`.
    pub(crate) fn id(&self, route: &Route, n: usize) -> Uuid {
        match self {
            PathGroups::Whole(_) => route.id,
            PathGroups::Split(_) => Uuid::new_v5(
                &SPLIT_ROUTE_NAMESPACE,
                format!("{}#{}", route.id, n + 1).as_bytes(),
            ),
        }
    }
}

/// Kong keys regex paths by 0 and prefixes by their (non-zero) byte length.
fn group_key(path: &str) -> usize {
    if is_regex_path(path) { 0 } else { path.len() }
}

/// Splits a route's paths the way Kong does: one group for all regex paths and one per
/// prefix length, in order of first appearance. A route with zero or one path, or whose
/// paths all fall into one group, keeps its own id; otherwise group `n` (1-based) gets
/// `uuid5(SPLIT_ROUTE_NAMESPACE, "<route id>#<n>")` (see [`PathGroups::id`]).
pub(crate) fn split_paths(route: &Route) -> PathGroups<'_> {
    let paths = route.paths.as_deref().unwrap_or_default();
    let Some(first) = paths.first() else {
        return PathGroups::Whole(paths);
    };
    let first_key = group_key(first);
    if paths.iter().all(|p| group_key(p) == first_key) {
        return PathGroups::Whole(paths);
    }
    let mut keys: Vec<usize> = Vec::new();
    let mut groups: Vec<Vec<String>> = Vec::new();
    for path in paths {
        let key = group_key(path);
        match keys.iter().position(|k| *k == key) {
            Some(i) => {
                if let Some(group) = groups.get_mut(i) {
                    group.push(path.clone());
                }
            }
            None => {
                keys.push(key);
                groups.push(vec![path.clone()]);
            }
        }
    }
    PathGroups::Split(groups)
}
