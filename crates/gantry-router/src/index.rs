//! Candidate index over the matchers: instead of scanning every matcher (as ATC does),
//! a request only visits matchers whose host and path can possibly match.
//!
//! Matchers are numbered by *rank* (position in Kong's evaluation order). Every bucket
//! keeps ranks in increasing order, so the search can stop inside a bucket at the first
//! hit and skip anything ranked after the best hit found so far. Completeness — every
//! matcher that could match appears in a visited list — keeps the result identical to
//! Kong's first match by priority.

use std::collections::HashMap;

use regex::RegexSet;

use crate::matcher::{Matcher, PathCond, StrOp};

/// Regex groups at least this large are pre-filtered with one `RegexSet` pass.
const REGEX_SET_THRESHOLD: usize = 8;

/// A byte trie of literal path prefixes; each node lists the ranks whose prefix ends
/// there.
#[derive(Debug, Default)]
struct PrefixTrie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Default)]
struct TrieNode {
    /// Children sorted by byte.
    edges: Vec<(u8, u32)>,
    ranks: Vec<u32>,
}

impl PrefixTrie {
    fn insert(&mut self, prefix: &[u8], rank: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut node = 0usize;
        for &b in prefix {
            let next_free = self.nodes.len() as u32;
            let Some(current) = self.nodes.get_mut(node) else {
                return;
            };
            let next = match current.edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => current.edges.get(i).map_or(next_free, |e| e.1),
                Err(i) => {
                    current.edges.insert(i, (b, next_free));
                    self.nodes.push(TrieNode::default());
                    next_free
                }
            };
            node = next as usize;
        }
        if let Some(n) = self.nodes.get_mut(node) {
            if n.ranks.last() != Some(&rank) {
                n.ranks.push(rank);
            }
        }
    }

    /// Calls `visit` with the rank list of every stored prefix of `path`.
    fn for_each_prefix_list<'s>(&'s self, path: &[u8], mut visit: impl FnMut(&'s [u32]) -> bool) {
        let mut node = 0usize;
        let Some(mut current) = self.nodes.first() else {
            return;
        };
        for &b in path {
            let Ok(i) = current.edges.binary_search_by_key(&b, |e| e.0) else {
                return;
            };
            node = current.edges.get(i).map_or(node, |e| e.1 as usize);
            let Some(next) = self.nodes.get(node) else {
                return;
            };
            current = next;
            if !current.ranks.is_empty() && !visit(&current.ranks) {
                return;
            }
        }
    }

    fn shrink(&mut self) {
        self.nodes.shrink_to_fit();
        for n in &mut self.nodes {
            n.edges.shrink_to_fit();
            n.ranks.shrink_to_fit();
        }
    }
}

/// Regex-path matchers of a bucket.
#[derive(Debug, Default)]
struct RegexGroup {
    /// Ranks in increasing order (deduplicated).
    ranks: Vec<u32>,
    /// Owning rank of each pattern, in insertion (= rank) order.
    pattern_ranks: Vec<u32>,
    patterns: Vec<String>,
    set: Option<RegexSet>,
}

impl RegexGroup {
    fn finish(&mut self) {
        if self.patterns.len() >= REGEX_SET_THRESHOLD {
            // A set that fails to build (size limits) just disables the pre-filter.
            self.set = RegexSet::new(&self.patterns).ok();
        }
        self.patterns = Vec::new();
        self.ranks.shrink_to_fit();
        self.pattern_ranks.shrink_to_fit();
    }
}

/// Matchers sharing one host key (or having no host condition).
#[derive(Debug, Default)]
struct Bucket {
    trie: PrefixTrie,
    regex: RegexGroup,
    pathless: Vec<u32>,
}

fn push_rank(list: &mut Vec<u32>, rank: u32) {
    if list.last() != Some(&rank) {
        list.push(rank);
    }
}

impl Bucket {
    fn insert(&mut self, rank: u32, matcher: &Matcher) {
        match &matcher.paths {
            PathCond::Any => push_rank(&mut self.pathless, rank),
            PathCond::Prefix(prefixes) => {
                for p in prefixes {
                    self.trie.insert(p.as_bytes(), rank);
                }
            }
            PathCond::Regex(regexes) => {
                push_rank(&mut self.regex.ranks, rank);
                for r in regexes {
                    self.regex.pattern_ranks.push(rank);
                    self.regex.patterns.push(r.as_str().to_owned());
                }
            }
        }
    }

    fn finish(&mut self) {
        self.trie.shrink();
        self.regex.finish();
        self.pathless.shrink_to_fit();
    }

    /// Evaluates this bucket's candidates ranked before `best`, lowering `best` on a hit.
    fn search(&self, path: Option<&str>, best: &mut u32, eval: &mut impl FnMut(u32) -> bool) {
        scan(&self.pathless, best, eval);
        let Some(path) = path else {
            return;
        };
        self.trie.for_each_prefix_list(path.as_bytes(), |ranks| {
            scan(ranks, best, eval);
            true
        });
        if self.regex.ranks.first().is_none_or(|r| *r >= *best) {
            return;
        }
        match &self.regex.set {
            Some(set) => {
                let mut last = u32::MAX;
                for idx in set.matches(path).iter() {
                    let Some(&rank) = self.regex.pattern_ranks.get(idx) else {
                        continue;
                    };
                    if rank >= *best {
                        break;
                    }
                    if rank != last {
                        last = rank;
                        if eval(rank) {
                            *best = rank;
                            break;
                        }
                    }
                }
            }
            None => scan(&self.regex.ranks, best, eval),
        }
    }
}

/// Evaluates ranks of a sorted list until one hits or `best` is reached.
fn scan(ranks: &[u32], best: &mut u32, eval: &mut impl FnMut(u32) -> bool) {
    for &rank in ranks {
        if rank >= *best {
            return;
        }
        if eval(rank) {
            *best = rank;
            return;
        }
    }
}

/// The host-keyed buckets.
#[derive(Debug, Default)]
pub(crate) struct Index {
    exact: HashMap<Box<str>, Bucket>,
    /// `*.example.com` entries keyed by `.example.com`.
    suffix: HashMap<Box<str>, Bucket>,
    /// `example.*` entries keyed by `example.`.
    prefix: HashMap<Box<str>, Bucket>,
    /// Wildcard entries of any other shape, checked for every request with a host.
    other_wildcards: Bucket,
    /// Matchers without a host condition.
    any_host: Bucket,
    has_suffix: bool,
    has_prefix: bool,
}

impl Index {
    /// Builds the index; `matchers` must already be in rank order.
    pub(crate) fn build(matchers: &[Matcher]) -> Self {
        let mut index = Index::default();
        for (rank, m) in matchers.iter().enumerate() {
            let rank = rank as u32;
            match &m.hosts {
                None => index.any_host.insert(rank, m),
                Some(hosts) => {
                    for h in hosts {
                        let bucket = match h.op {
                            StrOp::Exact => index.exact.entry(h.value.clone()).or_default(),
                            StrOp::Suffix if h.value.starts_with('.') => {
                                index.suffix.entry(h.value.clone()).or_default()
                            }
                            StrOp::Prefix if h.value.ends_with('.') => {
                                index.prefix.entry(h.value.clone()).or_default()
                            }
                            _ => &mut index.other_wildcards,
                        };
                        bucket.insert(rank, m);
                    }
                }
            }
        }
        index.has_suffix = !index.suffix.is_empty();
        index.has_prefix = !index.prefix.is_empty();
        for b in index
            .exact
            .values_mut()
            .chain(index.suffix.values_mut())
            .chain(index.prefix.values_mut())
        {
            b.finish();
        }
        index.other_wildcards.finish();
        index.any_host.finish();
        index
    }

    /// Returns the lowest rank for which `eval` succeeds among all matchers that could
    /// match a request with this host and path.
    pub(crate) fn search(
        &self,
        host: Option<&str>,
        path: Option<&str>,
        mut eval: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let mut best = u32::MAX;
        if let Some(host) = host {
            if let Some(b) = self.exact.get(host) {
                b.search(path, &mut best, &mut eval);
            }
            if self.has_suffix || self.has_prefix {
                for (i, byte) in host.bytes().enumerate() {
                    if byte != b'.' {
                        continue;
                    }
                    if self.has_suffix {
                        if let Some(b) = host.get(i..).and_then(|k| self.suffix.get(k)) {
                            b.search(path, &mut best, &mut eval);
                        }
                    }
                    if self.has_prefix {
                        if let Some(b) = host.get(..=i).and_then(|k| self.prefix.get(k)) {
                            b.search(path, &mut best, &mut eval);
                        }
                    }
                }
            }
            self.other_wildcards.search(path, &mut best, &mut eval);
        }
        self.any_host.search(path, &mut best, &mut eval);
        (best != u32::MAX).then_some(best)
    }
}
