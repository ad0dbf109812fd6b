//! Candidate index over the matchers: instead of scanning every matcher (as ATC does),
//! a request only visits matchers whose host and path can possibly match.
//!
//! Matchers are numbered by *rank* (position in Kong's evaluation order). Every bucket
//! keeps ranks in increasing order, so the search can stop inside a bucket at the first
//! hit and skip anything ranked after the best hit found so far. Completeness — every
//! matcher that could match appears in a visited list — keeps the result identical to
//! Kong's first match by priority.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use regex::RegexSet;

use crate::matcher::{Matcher, PathCond, StrOp};
use crate::trie::{PathTrie, TrieEntry};

/// Host keys come from the configuration, so hashing needs no flood resistance
/// against request input (a lookup cannot add keys); foldhash is several times faster
/// than SipHash on short strings, for lookups and for rebuilds alike.
type HostMap<V> = HashMap<Box<str>, V, RandomState>;

/// Regex groups at least this large are pre-filtered with `RegexSet` passes.
const REGEX_SET_THRESHOLD: usize = 8;
/// Patterns per `RegexSet`: large sets blow the lazy DFA's cache (or the NFA size limit)
/// and fall back to slow engines, so big groups are cut into rank-ordered chunks.
const REGEX_SET_CHUNK: usize = 32;

/// One `RegexSet` over a contiguous run of a group's patterns.
#[derive(Debug)]
struct RegexChunk {
    /// Rank owning the chunk's first pattern (ranks grow with pattern index).
    first_rank: u32,
    /// Index of the chunk's first pattern in `RegexGroup::pattern_ranks`.
    offset: usize,
    /// `None` when the set could not be built; the chunk's ranks are then scanned.
    set: Option<RegexSet>,
    /// Deduplicated ranks of the chunk, for the fallback scan.
    ranks: Vec<u32>,
}

impl RegexChunk {
    fn new(offset: usize, patterns: &[(u32, &str)]) -> RegexChunk {
        let mut ranks = Vec::new();
        for &(rank, _) in patterns {
            push_rank(&mut ranks, rank);
        }
        RegexChunk {
            first_rank: patterns.first().map_or(u32::MAX, |p| p.0),
            offset,
            set: RegexSet::new(patterns.iter().map(|p| p.1)).ok(),
            ranks,
        }
    }
}

/// Regex-path matchers sharing a trie node.
#[derive(Debug)]
pub(crate) struct RegexGroup {
    /// Ranks in increasing order (deduplicated).
    ranks: Vec<u32>,
    /// Owning rank of each pattern, in insertion (= rank) order.
    pattern_ranks: Vec<u32>,
    chunks: Vec<RegexChunk>,
}

impl RegexGroup {
    /// Groups `(rank, pattern)` pairs given in rank order.
    pub(crate) fn new(patterns: &[(u32, &str)]) -> RegexGroup {
        let mut ranks = Vec::new();
        for &(rank, _) in patterns {
            push_rank(&mut ranks, rank);
        }
        let pattern_ranks: Vec<u32> = patterns.iter().map(|p| p.0).collect();
        let mut chunks = Vec::new();
        if patterns.len() >= REGEX_SET_THRESHOLD {
            for (i, chunk) in patterns.chunks(REGEX_SET_CHUNK).enumerate() {
                chunks.push(RegexChunk::new(i * REGEX_SET_CHUNK, chunk));
            }
        }
        RegexGroup {
            ranks,
            pattern_ranks,
            chunks,
        }
    }

    /// Owning rank of each pattern.
    #[cfg(test)]
    pub(crate) fn pattern_ranks(&self) -> &[u32] {
        &self.pattern_ranks
    }

    /// Evaluates the group's candidates ranked before `best`.
    fn search(&self, path: &str, best: &mut u32, eval: &mut impl FnMut(u32) -> bool) {
        if self.ranks.first().is_none_or(|r| *r >= *best) {
            return;
        }
        if self.chunks.is_empty() {
            scan(&self.ranks, best, eval);
            return;
        }
        for chunk in &self.chunks {
            if chunk.first_rank >= *best {
                return;
            }
            let Some(set) = &chunk.set else {
                scan(&chunk.ranks, best, eval);
                continue;
            };
            let mut last = u32::MAX;
            for idx in set.matches(path).iter() {
                let Some(&rank) = self.pattern_ranks.get(chunk.offset + idx) else {
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
    }
}

/// Matchers sharing one host key (or having no host condition).
#[derive(Debug, Default)]
struct Bucket {
    trie: PathTrie,
    pathless: Vec<u32>,
}

fn push_rank(list: &mut Vec<u32>, rank: u32) {
    if list.last() != Some(&rank) {
        list.push(rank);
    }
}

impl Bucket {
    /// Evaluates this bucket's candidates ranked before `best`, lowering `best` on a hit.
    fn search(&self, path: Option<&str>, best: &mut u32, eval: &mut impl FnMut(u32) -> bool) {
        scan(&self.pathless, best, eval);
        let Some(path) = path else {
            return;
        };
        self.trie.walk(path.as_bytes(), |node| {
            scan(node.ranks, best, eval);
            if let Some(group) = node.group {
                group.search(path, best, eval);
            }
        });
    }
}

/// A bucket being filled, borrowing the matchers' paths until the trie is built.
#[derive(Debug, Default)]
struct BucketBuilder<'m> {
    pathless: Vec<u32>,
    paths: Vec<TrieEntry<'m>>,
}

impl<'m> BucketBuilder<'m> {
    /// Adds a matcher (in any rank order).
    fn insert(&mut self, rank: u32, matcher: &'m Matcher) {
        match &matcher.paths {
            PathCond::Any => self.pathless.push(rank),
            PathCond::Prefix(prefixes) => {
                self.paths.extend(
                    prefixes
                        .iter()
                        .map(|p| TrieEntry::new(p.as_bytes(), rank, None)),
                );
            }
            PathCond::Regex(regexes) => {
                self.paths.extend(
                    regexes
                        .iter()
                        .map(|r| TrieEntry::new(r.literal_prefix.as_bytes(), rank, Some(r))),
                );
            }
        }
    }

    fn build(mut self) -> Bucket {
        // Deduplicated: a matcher with two hosts of one key is inserted twice.
        self.pathless.sort_unstable();
        self.pathless.dedup();
        self.pathless.shrink_to_fit();
        Bucket {
            trie: PathTrie::build(self.paths),
            pathless: self.pathless,
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
    exact: HostMap<Bucket>,
    /// `*.example.com` entries keyed by `.example.com`.
    suffix: HostMap<Bucket>,
    /// `example.*` entries keyed by `example.`.
    prefix: HostMap<Bucket>,
    /// Wildcard entries of any other shape, checked for every request with a host.
    other_wildcards: Bucket,
    /// Matchers without a host condition.
    any_host: Bucket,
    has_suffix: bool,
    has_prefix: bool,
    /// Whether `exact` / `other_wildcards` hold anything: a lookup skips them when not
    /// (hashing the host for an empty map, or walking an empty bucket, is per request).
    has_exact: bool,
    has_other_wildcards: bool,
}

/// Buckets being filled, keyed by host strings borrowed from the matchers.
#[derive(Debug, Default)]
struct IndexBuilder<'m> {
    exact: HashMap<&'m str, BucketBuilder<'m>, RandomState>,
    suffix: HashMap<&'m str, BucketBuilder<'m>, RandomState>,
    prefix: HashMap<&'m str, BucketBuilder<'m>, RandomState>,
    other_wildcards: BucketBuilder<'m>,
    any_host: BucketBuilder<'m>,
}

impl<'m> IndexBuilder<'m> {
    fn insert(&mut self, rank: u32, m: &'m Matcher) {
        let Some(hosts) = &m.hosts else {
            self.any_host.insert(rank, m);
            return;
        };
        for h in hosts {
            let value: &'m str = &h.value;
            let bucket = match h.op {
                StrOp::Exact => self.exact.entry(value).or_default(),
                StrOp::Suffix if value.starts_with('.') => self.suffix.entry(value).or_default(),
                StrOp::Prefix if value.ends_with('.') => self.prefix.entry(value).or_default(),
                _ => &mut self.other_wildcards,
            };
            bucket.insert(rank, m);
        }
    }

    fn build(self) -> Index {
        Index {
            has_suffix: !self.suffix.is_empty(),
            has_prefix: !self.prefix.is_empty(),
            has_exact: !self.exact.is_empty(),
            has_other_wildcards: !self.other_wildcards.pathless.is_empty()
                || !self.other_wildcards.paths.is_empty(),
            exact: build_map(self.exact),
            suffix: build_map(self.suffix),
            prefix: build_map(self.prefix),
            other_wildcards: self.other_wildcards.build(),
            any_host: self.any_host.build(),
        }
    }
}

fn build_map(map: HashMap<&str, BucketBuilder<'_>, RandomState>) -> HostMap<Bucket> {
    map.into_iter()
        .map(|(host, bucket)| (Box::from(host), bucket.build()))
        .collect()
}

impl Index {
    /// Builds the index of `matchers`, whose ranks are `ranks`. Any order works; the
    /// order they were compiled in reads their strings in allocation order.
    pub(crate) fn build(matchers: &[Matcher], ranks: &[u32]) -> Self {
        let mut builder = IndexBuilder::default();
        // Typically most matchers have no host (bulk prefix routes): saves regrowing.
        builder.any_host.paths.reserve(matchers.len());
        for (m, &rank) in matchers.iter().zip(ranks) {
            builder.insert(rank, m);
        }
        builder.build()
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
            if self.has_exact
                && let Some(b) = self.exact.get(host)
            {
                b.search(path, &mut best, &mut eval);
            }
            if self.has_suffix || self.has_prefix {
                for (i, byte) in host.bytes().enumerate() {
                    if byte != b'.' {
                        continue;
                    }
                    if self.has_suffix
                        && let Some(b) = host.get(i..).and_then(|k| self.suffix.get(k))
                    {
                        b.search(path, &mut best, &mut eval);
                    }
                    if self.has_prefix
                        && let Some(b) = host.get(..=i).and_then(|k| self.prefix.get(k))
                    {
                        b.search(path, &mut best, &mut eval);
                    }
                }
            }
            if self.has_other_wildcards {
                self.other_wildcards.search(path, &mut best, &mut eval);
            }
        }
        self.any_host.search(path, &mut best, &mut eval);
        (best != u32::MAX).then_some(best)
    }
}
