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

/// Regex groups at least this large are pre-filtered with `RegexSet` passes.
const REGEX_SET_THRESHOLD: usize = 8;
/// Patterns per `RegexSet`: large sets blow the lazy DFA's cache (or the NFA size limit)
/// and fall back to slow engines, so big groups are cut into rank-ordered chunks.
const REGEX_SET_CHUNK: usize = 32;

/// A byte trie of literal path prefixes. Each node lists the prefix matchers whose prefix
/// ends there, and the regex matchers whose regex must begin with that literal (the root
/// holds regexes without a usable literal prefix).
#[derive(Debug)]
struct PathTrie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Default)]
struct TrieNode {
    /// Children sorted by byte.
    edges: Vec<(u8, u32)>,
    prefix_ranks: Vec<u32>,
    regex: Option<Box<RegexGroup>>,
}

impl Default for PathTrie {
    fn default() -> Self {
        PathTrie {
            nodes: vec![TrieNode::default()],
        }
    }
}

impl PathTrie {
    /// Returns the node for `prefix`, creating it.
    fn node_mut(&mut self, prefix: &[u8]) -> Option<&mut TrieNode> {
        let mut node = 0usize;
        for &b in prefix {
            let next_free = u32::try_from(self.nodes.len()).ok()?;
            let current = self.nodes.get_mut(node)?;
            let next = match current.edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => current.edges.get(i)?.1,
                Err(i) => {
                    current.edges.insert(i, (b, next_free));
                    self.nodes.push(TrieNode::default());
                    next_free
                }
            };
            node = next as usize;
        }
        self.nodes.get_mut(node)
    }

    /// Visits the root and then every node along `path`, stopping early when `visit`
    /// returns false.
    fn walk<'s>(&'s self, path: &[u8], mut visit: impl FnMut(&'s TrieNode) -> bool) {
        let Some(mut current) = self.nodes.first() else {
            return;
        };
        if !visit(current) {
            return;
        }
        for &b in path {
            let Ok(i) = current.edges.binary_search_by_key(&b, |e| e.0) else {
                return;
            };
            let Some(next) = current
                .edges
                .get(i)
                .and_then(|e| self.nodes.get(e.1 as usize))
            else {
                return;
            };
            current = next;
            if !visit(current) {
                return;
            }
        }
    }

    fn finish(&mut self) {
        self.nodes.shrink_to_fit();
        for n in &mut self.nodes {
            n.edges.shrink_to_fit();
            n.prefix_ranks.shrink_to_fit();
            if let Some(g) = &mut n.regex {
                g.finish();
            }
        }
    }
}

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

/// Regex-path matchers sharing a trie node.
#[derive(Debug, Default)]
struct RegexGroup {
    /// Ranks in increasing order (deduplicated).
    ranks: Vec<u32>,
    /// Owning rank of each pattern, in insertion (= rank) order.
    pattern_ranks: Vec<u32>,
    patterns: Vec<String>,
    chunks: Vec<RegexChunk>,
}

impl RegexGroup {
    fn add(&mut self, rank: u32, pattern: &str) {
        push_rank(&mut self.ranks, rank);
        self.pattern_ranks.push(rank);
        self.patterns.push(pattern.to_owned());
    }

    fn finish(&mut self) {
        if self.patterns.len() >= REGEX_SET_THRESHOLD {
            let mut offset = 0;
            for (patterns, ranks) in self
                .patterns
                .chunks(REGEX_SET_CHUNK)
                .zip(self.pattern_ranks.chunks(REGEX_SET_CHUNK))
            {
                let mut chunk_ranks = Vec::new();
                for &r in ranks {
                    push_rank(&mut chunk_ranks, r);
                }
                self.chunks.push(RegexChunk {
                    first_rank: ranks.first().copied().unwrap_or(u32::MAX),
                    offset,
                    set: RegexSet::new(patterns).ok(),
                    ranks: chunk_ranks,
                });
                offset += patterns.len();
            }
        }
        self.patterns = Vec::new();
        self.ranks.shrink_to_fit();
        self.pattern_ranks.shrink_to_fit();
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
    fn insert(&mut self, rank: u32, matcher: &Matcher) {
        match &matcher.paths {
            PathCond::Any => push_rank(&mut self.pathless, rank),
            PathCond::Prefix(prefixes) => {
                for p in prefixes {
                    if let Some(node) = self.trie.node_mut(p.as_bytes()) {
                        push_rank(&mut node.prefix_ranks, rank);
                    }
                }
            }
            PathCond::Regex(regexes) => {
                for r in regexes {
                    if let Some(node) = self.trie.node_mut(r.literal_prefix.as_bytes()) {
                        node.regex
                            .get_or_insert_with(Default::default)
                            .add(rank, r.regex.as_str());
                    }
                }
            }
        }
    }

    fn finish(&mut self) {
        self.trie.finish();
        self.pathless.shrink_to_fit();
    }

    /// Evaluates this bucket's candidates ranked before `best`, lowering `best` on a hit.
    fn search(&self, path: Option<&str>, best: &mut u32, eval: &mut impl FnMut(u32) -> bool) {
        scan(&self.pathless, best, eval);
        let Some(path) = path else {
            return;
        };
        self.trie.walk(path.as_bytes(), |node| {
            scan(&node.prefix_ranks, best, eval);
            if let Some(group) = &node.regex {
                group.search(path, best, eval);
            }
            true
        });
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
            self.other_wildcards.search(path, &mut best, &mut eval);
        }
        self.any_host.search(path, &mut best, &mut eval);
        (best != u32::MAX).then_some(best)
    }
}
