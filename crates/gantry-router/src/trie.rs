//! A compressed (radix) trie of literal path prefixes, built in one pass from a sorted
//! list of keys.
//!
//! Each node holds the prefix matchers whose prefix ends there and the regex matchers
//! whose regex must begin with that literal (the root holds regexes without a usable
//! literal prefix). Nodes, edge labels and rank lists live in three flat arrays, so a
//! trie costs a handful of allocations however many paths it holds, and a lookup
//! follows one node per branching point instead of one per byte.

use std::cmp::Ordering;
use std::ops::Range;

use crate::index::RegexGroup;
use crate::matcher::PathRegex;

/// One key to index: a prefix path (`regex: None`) or the literal prefix of a regex.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrieEntry<'m> {
    /// The key's first 16 bytes, big-endian, zero-padded. Sorting and splitting the
    /// entries mostly looks at these alone, without reading the key from (cache-cold)
    /// matcher memory.
    head: [u64; 2],
    key: &'m [u8],
    rank: u32,
    regex: Option<&'m PathRegex>,
}

/// Bytes of a key kept inline in `TrieEntry::head`.
const HEAD_LEN: usize = 16;

impl<'m> TrieEntry<'m> {
    pub(crate) fn new(key: &'m [u8], rank: u32, regex: Option<&'m PathRegex>) -> Self {
        let mut head = [0u8; HEAD_LEN];
        for (h, k) in head.iter_mut().zip(key) {
            *h = *k;
        }
        let (hi, lo) = head.split_at(HEAD_LEN / 2);
        let word = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or_default());
        TrieEntry {
            head: [word(hi), word(lo)],
            key,
            rank,
            regex,
        }
    }

    /// Orders by key, then rank. Zero padding sorts a key no later than any key it is a
    /// prefix of, so only equal heads need the full key comparison.
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.head
            .cmp(&other.head)
            .then_with(|| self.key.cmp(other.key))
            .then(self.rank.cmp(&other.rank))
    }

    /// The key's byte at `depth`, if the key is longer.
    fn byte_at(&self, depth: usize) -> Option<u8> {
        if depth >= self.key.len() {
            return None;
        }
        match self.head.get(depth / 8) {
            Some(word) => Some(word.to_be_bytes().get(depth % 8).copied().unwrap_or(0)),
            None => self.key.get(depth).copied(),
        }
    }
}

/// A `start..end` range into one of the trie's arrays, in 8 bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span from `start` to the current end of an array of length `end`. Lengths
    /// are bounded by the matcher count (checked to fit in `u32`) times path lengths;
    /// past `u32::MAX` the span saturates (the affected entries are then not found).
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug, Default)]
struct Node {
    /// First byte of `label` (0 for the root), for the binary search among siblings.
    first_byte: u8,
    /// Bytes on the edge from the parent into this node (empty for the root).
    label: Span,
    /// Children in `nodes`, sorted by `first_byte` (children of a node are contiguous
    /// because nodes are created breadth-first).
    children: Span,
    /// Prefix matchers ending here, in `ranks`, increasing.
    ranks: Span,
    /// Regex matchers whose literal prefix ends here, in `groups`.
    group: Option<u32>,
}

/// The trie; empty (no root) when it indexes no keys.
#[derive(Debug, Default)]
pub(crate) struct PathTrie {
    nodes: Vec<Node>,
    labels: Vec<u8>,
    ranks: Vec<u32>,
    groups: Vec<RegexGroup>,
}

/// What one node contributes to a lookup.
pub(crate) struct Visit<'t> {
    /// Prefix matchers ending at this node, increasing.
    pub ranks: &'t [u32],
    pub group: Option<&'t RegexGroup>,
}

impl PathTrie {
    /// Builds the trie; entries may come in any rank order, but the entries of one rank
    /// in the order that rank's regexes are tried.
    pub(crate) fn build(mut entries: Vec<TrieEntry<'_>>) -> PathTrie {
        let mut trie = PathTrie::default();
        if entries.is_empty() {
            return trie;
        }
        // Sorted by key, the entries under any node form one contiguous run: the node's
        // own entries first (shortest key), then one run per child, by next byte. Entries
        // of equal keys come in rank order, and the stable sort keeps the regexes of one
        // rank in the order they are tried.
        entries.sort_by(TrieEntry::cmp_key);
        trie.ranks.reserve_exact(entries.len());
        // `runs[i]` is the run of entries under `nodes[i]` and the depth of that node.
        // (A compressed trie has at most two nodes per key, plus the root.)
        let mut runs = Vec::with_capacity(2 * entries.len() + 1);
        runs.push((0..entries.len(), 0));
        trie.nodes.push(Node::default());
        let mut next = 0;
        while let Some((run, depth)) = runs.get(next).cloned() {
            let run_entries = entries.get(run.clone()).unwrap_or_default();
            let own = run_entries
                .iter()
                .take_while(|e| e.key.len() == depth)
                .count();
            let (ranks, group) = trie.add_payload(run_entries.get(..own).unwrap_or_default());
            let children = trie.add_children(
                run_entries.get(own..).unwrap_or_default(),
                run.start + own,
                depth,
                &mut runs,
            );
            if let Some(node) = trie.nodes.get_mut(next) {
                node.ranks = ranks;
                node.group = group;
                node.children = children;
            }
            next += 1;
        }
        trie.nodes.shrink_to_fit();
        trie.labels.shrink_to_fit();
        trie.ranks.shrink_to_fit();
        trie.groups.shrink_to_fit();
        trie
    }

    /// Stores a node's own entries: prefix ranks (deduplicated, as one matcher may list
    /// a prefix twice) and the regex group.
    fn add_payload(&mut self, own: &[TrieEntry<'_>]) -> (Span, Option<u32>) {
        let start = self.ranks.len();
        let mut patterns = Vec::new();
        for e in own {
            match e.regex {
                None if self.ranks.len() > start && self.ranks.last() == Some(&e.rank) => {}
                None => self.ranks.push(e.rank),
                Some(r) => patterns.push((e.rank, r.regex.as_str())),
            }
        }
        let ranks = Span::new(start, self.ranks.len());
        if patterns.is_empty() {
            return (ranks, None);
        }
        let group = u32::try_from(self.groups.len()).ok();
        self.groups.push(RegexGroup::new(&patterns));
        (ranks, group)
    }

    /// Creates the children of a node at `depth` from its entries longer than `depth`
    /// (`child_entries`, found at `offset` in the sorted entries), queueing their runs.
    fn add_children(
        &mut self,
        child_entries: &[TrieEntry<'_>],
        offset: usize,
        depth: usize,
        runs: &mut Vec<(Range<usize>, usize)>,
    ) -> Span {
        let first_child = self.nodes.len();
        let mut rest = child_entries;
        while let Some(first) = rest.first() {
            let Some(byte) = first.byte_at(depth) else {
                break;
            };
            // A linear scan: nodes are built level by level, so each level sweeps the
            // sorted entries once, in memory order. (At least `first` is in the run;
            // `max` only guards against looping forever.)
            let len = rest
                .iter()
                .take_while(|e| e.byte_at(depth) == Some(byte))
                .count()
                .max(1);
            let (run, after) = rest.split_at(len);
            // The common prefix of a sorted run is that of its first and last keys; it
            // never extends past the shortest key in the run.
            let child_depth = run
                .last()
                .map_or(depth + 1, |last| common_prefix_len(first, last))
                .max(depth + 1);
            let label_start = self.labels.len();
            self.labels
                .extend_from_slice(first.key.get(depth..child_depth).unwrap_or_default());
            self.nodes.push(Node {
                first_byte: byte,
                label: Span::new(label_start, self.labels.len()),
                ..Node::default()
            });
            let run_start = offset + (child_entries.len() - rest.len());
            runs.push((run_start..run_start + len, child_depth));
            rest = after;
        }
        Span::new(first_child, self.nodes.len())
    }

    /// Calls `visit` for the root and then every node whose key is a prefix of `path`,
    /// shortest first.
    pub(crate) fn walk<'t>(&'t self, path: &[u8], mut visit: impl FnMut(Visit<'t>)) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        let mut rest = path;
        loop {
            visit(Visit {
                ranks: self.ranks.get(node.ranks.range()).unwrap_or_default(),
                group: node.group.and_then(|g| self.groups.get(g as usize)),
            });
            match self.step(node, rest) {
                Some((child, after)) => {
                    node = child;
                    rest = after;
                }
                None => return,
            }
        }
    }

    /// The child of `node` whose label begins `rest`, and what follows the label.
    fn step<'p>(&self, node: &Node, rest: &'p [u8]) -> Option<(&Node, &'p [u8])> {
        let &byte = rest.first()?;
        let children = self.nodes.get(node.children.range())?;
        let i = children
            .binary_search_by_key(&byte, |c| c.first_byte)
            .ok()?;
        let child = children.get(i)?;
        let label = self.labels.get(child.label.range())?;
        Some((child, rest.strip_prefix(label)?))
    }
}

/// Length of the common prefix of two entries' keys.
fn common_prefix_len(a: &TrieEntry<'_>, b: &TrieEntry<'_>) -> usize {
    let max = a.key.len().min(b.key.len());
    let diff = (u128::from(a.head[0] ^ b.head[0]) << 64) | u128::from(a.head[1] ^ b.head[1]);
    let in_head = (diff.leading_zeros() / 8) as usize;
    if in_head < HEAD_LEN || max <= HEAD_LEN {
        // Past `max`, equal bytes may be padding.
        return in_head.min(max);
    }
    let (a, b) = (a.key.iter().skip(HEAD_LEN), b.key.iter().skip(HEAD_LEN));
    HEAD_LEN + a.zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;
    use regex::Regex;

    use super::*;

    /// What a walk reports for one node: prefix ranks and the regex group's pattern ranks.
    type Seen = Vec<(Vec<u32>, Vec<u32>)>;

    fn walk(trie: &PathTrie, path: &[u8]) -> Seen {
        let mut seen = Vec::new();
        trie.walk(path, |v| {
            let patterns = v
                .group
                .map(|g| g.pattern_ranks().to_vec())
                .unwrap_or_default();
            if !v.ranks.is_empty() || !patterns.is_empty() {
                seen.push((v.ranks.to_vec(), patterns));
            }
        });
        seen
    }

    /// The same answer by brute force: every distinct key that begins `path`, shortest
    /// first, with its prefix ranks sorted and deduplicated, and its regex entries in
    /// (rank, insertion) order.
    fn expected(entries: &[(Vec<u8>, u32, bool)], path: &[u8]) -> Seen {
        let mut keys: Vec<&Vec<u8>> = entries.iter().map(|e| &e.0).collect();
        keys.sort_by_key(|k| (k.len(), *k));
        keys.dedup();
        keys.into_iter()
            .filter(|k| path.starts_with(k))
            .map(|k| {
                let of_key = entries.iter().filter(|e| &e.0 == k);
                let mut ranks: Vec<u32> = of_key.clone().filter(|e| !e.2).map(|e| e.1).collect();
                ranks.sort_unstable();
                ranks.dedup();
                let mut patterns: Vec<u32> = of_key.filter(|e| e.2).map(|e| e.1).collect();
                patterns.sort(); // stable: insertion order within a rank
                (ranks, patterns)
            })
            .collect()
    }

    fn check(entries: &[(Vec<u8>, u32, bool)], paths: &[Vec<u8>]) {
        let regex = PathRegex {
            regex: Regex::new("^/").unwrap(),
            literal_prefix: "/".into(),
        };
        let trie = PathTrie::build(
            entries
                .iter()
                .map(|(k, r, is_regex)| TrieEntry::new(k, *r, is_regex.then_some(&regex)))
                .collect(),
        );
        for path in paths.iter().chain(entries.iter().map(|e| &e.0)) {
            let mut longer = path.clone();
            longer.push(b'a');
            for p in [path, &longer] {
                assert_eq!(walk(&trie, p), expected(entries, p), "path {p:?}");
            }
        }
    }

    /// Keys over a tiny alphabet share long prefixes (also past the 16 inline bytes).
    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(prop::sample::select(b"ab/".to_vec()), 0..6),
            prop::collection::vec(prop::sample::select(b"ab".to_vec()), 14..22),
        ]
    }

    proptest! {
        #[test]
        fn walk_visits_every_key_that_begins_the_path(
            entries in prop::collection::vec((key(), 0..12u32, any::<bool>()), 0..40),
            paths in prop::collection::vec(key(), 0..20),
        ) {
            // Ranks come in any order, and repeat (a matcher has several paths).
            check(&entries, &paths);
        }
    }

    #[test]
    fn splits_labels_at_branches_and_ends() {
        let entries: Vec<(Vec<u8>, u32, bool)> = [
            ("/bulk/1/", 0, false),
            ("/bulk/10/", 1, false),
            ("/bulk/2/", 2, false),
            ("/bulk/2/", 2, false),
            ("", 3, true),
            ("/bulk/", 4, true),
            ("/bulk/1/", 5, false),
            ("/api/v1/services/very/long/", 6, false),
            ("/api/v1/services/very/longer/", 7, false),
        ]
        .iter()
        .map(|(k, r, x)| (k.as_bytes().to_vec(), *r, *x))
        .collect();
        let paths: Vec<Vec<u8>> = [
            "/",
            "/bulk",
            "/bulk/1",
            "/bulk/10/x",
            "/api/v1/services/very/lon",
        ]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
        check(&entries, &paths);
    }
}
