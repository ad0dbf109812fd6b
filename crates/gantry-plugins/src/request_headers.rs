//! A request's headers, kept as the client's lines until something needs a `HeaderMap`.
//! Building the map costs ~300 instructions per line (name lookup or allocation, hash,
//! insert) plus two allocations and their frees, and most requests never need it: the
//! proxy reads a few headers, writes the lines upstream, and a plugin like key-auth
//! looks up one name. Reading through `Deref` builds the map once; changing it through
//! `DerefMut` makes the map the only copy.

use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// One header line as the client sent it: where its name and its value sit in the head.
#[derive(Clone, Copy, Debug)]
pub struct RawLine {
    pub name: (u16, u16),
    pub value: (u16, u16),
}

/// The header lines of one request head, in order.
#[derive(Clone, Debug, Default)]
pub struct RawLines {
    head: Bytes,
    lines: Vec<RawLine>,
}

#[inline]
fn range((a, b): (u16, u16)) -> std::ops::Range<usize> {
    usize::from(a)..usize::from(b)
}

impl RawLines {
    /// `head` holds every line. The caller has checked that each name is a header name
    /// and each value a header value (`HeaderName::from_bytes` and
    /// `HeaderValue::from_bytes` accept them): a line that is not is left out of the map.
    pub fn new(head: Bytes, lines: Vec<RawLine>) -> Self {
        Self { head, lines }
    }

    #[inline]
    fn bytes(&self, span: (u16, u16)) -> &[u8] {
        self.head.get(range(span)).unwrap_or(&[])
    }

    /// The values of the lines named `name` (any case), in the client's order.
    fn values_of<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
        let want = name.as_str().as_bytes();
        self.lines
            .iter()
            .filter(move |l| {
                let (a, b) = l.name;
                usize::from(b.wrapping_sub(a)) == want.len()
                    && eq_lowercase(self.bytes(l.name), want)
            })
            .map(|l| self.bytes(l.value))
    }

    /// The span as a header value sharing the head (`None` if the span or its bytes
    /// are not one: never for the parser's lines).
    fn shared_value(&self, span: (u16, u16)) -> Option<HeaderValue> {
        let r = range(span);
        if r.start > r.end || r.end > self.head.len() {
            return None;
        }
        HeaderValue::from_maybe_shared(self.head.slice(r)).ok()
    }

    fn value(&self, span: (u16, u16)) -> HeaderValue {
        self.shared_value(span)
            .unwrap_or_else(|| HeaderValue::from_static(""))
    }

    fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.lines.len());
        for l in &self.lines {
            let Ok(name) = crate::name_cache::header_name(self.bytes(l.name)) else {
                continue;
            };
            if let Some(value) = self.shared_value(l.value) {
                map.append(name, value);
            }
        }
        map
    }
}

/// `name` is `lower` (a lowercase name, as `HeaderName::as_str`) in any case. Compared
/// in words of up to 8 bytes, each folded to lowercase at once: the byte loop of
/// `eq_ignore_ascii_case` cost ~12 instructions a byte, on every lookup of every line.
#[inline]
pub fn eq_lowercase(name: &[u8], lower: &[u8]) -> bool {
    let n = name.len();
    if n != lower.len() {
        return false;
    }
    if n < 4 {
        return name
            .iter()
            .zip(lower)
            .all(|(a, b)| a.to_ascii_lowercase() == *b);
    }
    let word = |s: &[u8], at: usize, w: usize| -> u64 {
        match s.get(at..at + w) {
            Some(c) if w == 8 => <[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes),
            Some(c) => <[u8; 4]>::try_from(c).map_or(0, |a| u64::from(u32::from_le_bytes(a))),
            None => 0,
        }
    };
    // Overlapping loads cover every byte: [0, 4) and [n-4, n) for 4..=8 bytes, else
    // 8-byte steps and a last word ending at n.
    let eq = |at: usize, w: usize| fold_lowercase(word(name, at, w)) == word(lower, at, w);
    if n <= 8 {
        return eq(0, 4) && eq(n - 4, 4);
    }
    let mut at = 0;
    while at + 8 < n {
        if !eq(at, 8) {
            return false;
        }
        at += 8;
    }
    eq(n - 8, 8)
}

/// Each byte of `x` that is an ASCII capital letter made lowercase, the others kept
/// (bytes of 0x80 and above included): per byte, `b & 0x7f` plus 0x3f reaches bit 7 from
/// `A` up and plus 0x25 from `[` up, with no carry between bytes.
#[inline(always)]
fn fold_lowercase(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let y = x & LOW7;
    let upper = (y + 0x3f3f_3f3f_3f3f_3f3f) & !(y + 0x2525_2525_2525_2525) & !x & HIGH;
    x | (upper >> 2)
}

/// The request headers: the client's lines, the map built from them, or both (equal).
#[derive(Clone, Default)]
pub struct RequestHeaders {
    /// The lines as received, while nothing has changed the headers.
    raw: Option<RawLines>,
    /// Boxed: the headers move with the request several times, and most requests
    /// never build the map.
    map: OnceLock<Box<HeaderMap>>,
}

/// The names, whichever form holds the lines (a reset context and a fresh one look
/// alike); values are left out: they carry credentials, and `Debug` output ends up in logs.
impl std::fmt::Debug for RequestHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names = f.debug_list();
        self.for_each_line(|l| {
            names.entry(&String::from_utf8_lossy(l.name));
        });
        names.finish()
    }
}

impl From<HeaderMap> for RequestHeaders {
    fn from(map: HeaderMap) -> Self {
        Self {
            raw: None,
            map: OnceLock::from(Box::new(map)),
        }
    }
}

impl From<RawLines> for RequestHeaders {
    fn from(raw: RawLines) -> Self {
        Self {
            raw: Some(raw),
            map: OnceLock::new(),
        }
    }
}

impl RequestHeaders {
    /// Calls `f` with each line: in the client's order and spelling while the headers
    /// are unchanged, from the map (lowercase names, grouped by name) once changed. A
    /// loop rather than an iterator: the proxy's passes over the lines are hot, and an
    /// iterator's per-item dispatch cost ~40 instructions a line.
    #[inline]
    pub fn for_each_line(&self, mut f: impl FnMut(Line<'_>)) {
        match (&self.raw, self.map.get()) {
            (Some(raw), _) => {
                for l in &raw.lines {
                    f(Line {
                        name: raw.bytes(l.name),
                        value: raw.bytes(l.value),
                        from: Source::Raw(raw, l.value),
                    });
                }
            }
            (None, Some(map)) => {
                for (n, v) in map.iter() {
                    f(Line {
                        name: n.as_str().as_bytes(),
                        value: v.as_bytes(),
                        from: Source::Map(v),
                    });
                }
            }
            (None, None) => {}
        }
    }

    /// The values of `name` (any case), in the client's order. Read off the client's
    /// lines while they are unchanged, else off the map.
    pub fn values<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
        let (lines, map) = match &self.raw {
            Some(raw) => (Some(raw.values_of(name)), None),
            None => (None, Some(self.get_all(name).into_iter())),
        };
        let map = map.into_iter().flatten().map(HeaderValue::as_bytes);
        lines.into_iter().flatten().chain(map)
    }

    /// The one value of `name`: `Ok(None)` if absent, `Err(())` if it appears more
    /// than once (key-auth's "Duplicate API key found").
    #[allow(clippy::result_unit_err)]
    pub fn single(&self, name: &HeaderName) -> Result<Option<&[u8]>, ()> {
        // Not over `values`: its two-way iterator cost 100–170 instructions a call.
        let Some(raw) = &self.raw else {
            let mut all = self.get_all(name).iter();
            return match (all.next(), all.next()) {
                (_, Some(_)) => Err(()),
                (first, None) => Ok(first.map(HeaderValue::as_bytes)),
            };
        };
        let mut all = raw.values_of(name);
        match (all.next(), all.next()) {
            (_, Some(_)) => Err(()),
            (first, None) => Ok(first),
        }
    }

    /// The first value of `name`, as `HeaderMap::get` (and Kong's
    /// `kong.request.get_header`) gives it.
    pub fn first(&self, name: &HeaderName) -> Option<&[u8]> {
        match &self.raw {
            Some(raw) => raw.values_of(name).next(),
            None => self.get(name).map(HeaderValue::as_bytes),
        }
    }

    /// Whether the headers are still the client's lines (the map was never changed).
    #[inline]
    pub fn is_raw(&self) -> bool {
        self.raw.is_some()
    }

    /// Back to no headers.
    pub fn clear(&mut self) {
        self.raw = None;
        if let Some(m) = self.map.get_mut() {
            m.clear();
        }
    }
}

impl std::ops::Deref for RequestHeaders {
    type Target = HeaderMap;

    fn deref(&self) -> &HeaderMap {
        self.map
            .get_or_init(|| Box::new(self.raw.as_ref().map(RawLines::to_map).unwrap_or_default()))
    }
}

impl std::ops::DerefMut for RequestHeaders {
    fn deref_mut(&mut self) -> &mut HeaderMap {
        let raw = self.raw.take();
        if self.map.get().is_none() {
            let map = raw.as_ref().map(RawLines::to_map).unwrap_or_default();
            self.map = OnceLock::from(Box::new(map));
        }
        self.map
            .get_mut()
            .unwrap_or_else(|| unreachable!("the map was set above"))
    }
}

/// One line of [`RequestHeaders::for_each_line`].
pub struct Line<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    from: Source<'a>,
}

enum Source<'a> {
    Raw(&'a RawLines, (u16, u16)),
    Map(&'a HeaderValue),
}

impl Line<'_> {
    /// The value as a `HeaderValue` (a slice of the head or a clone: no copy).
    pub fn header_value(&self) -> HeaderValue {
        match self.from {
            Source::Raw(raw, span) => raw.value(span),
            Source::Map(v) => v.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The word-wise comparison answers as `eq_ignore_ascii_case` against a lowercase
    /// name, for every length around the word sizes and every byte value at each spot.
    #[test]
    fn eq_lowercase_is_eq_ignore_ascii_case_against_a_lowercase_name() {
        for n in 0..=20usize {
            let lower: Vec<u8> = (0..n)
                .map(|i| b"x-consumer-id_9azAZ"[i % 19].to_ascii_lowercase())
                .collect();
            assert!(eq_lowercase(&lower, &lower));
            assert!(eq_lowercase(&lower.to_ascii_uppercase(), &lower));
            for at in 0..n {
                for b in 0..=255u8 {
                    let mut name = lower.clone();
                    name[at] = b;
                    assert_eq!(
                        eq_lowercase(&name, &lower),
                        name.eq_ignore_ascii_case(&lower),
                        "{name:?} vs {lower:?}"
                    );
                }
            }
            assert!(!eq_lowercase(&lower, &lower[..n.saturating_sub(1)]) || n == 0);
        }
    }

    /// Each line's name and value, as `for_each_line` gives them.
    fn lines(h: &RequestHeaders) -> Vec<(Vec<u8>, HeaderValue)> {
        let mut out = Vec::new();
        h.for_each_line(|l| out.push((l.name.to_vec(), l.header_value())));
        out
    }

    fn raw(text: &'static str) -> RequestHeaders {
        // "Name: value" lines separated by "\n".
        let head = Bytes::from_static(text.as_bytes());
        let mut lines = Vec::new();
        let mut at = 0;
        for line in text.split('\n') {
            let colon = line.find(':').unwrap();
            let v = line[colon + 1..].trim();
            let v_at = at + line.find(v).unwrap();
            lines.push(RawLine {
                name: (at as u16, (at + colon) as u16),
                value: (v_at as u16, (v_at + v.len()) as u16),
            });
            at += line.len() + 1;
        }
        RawLines::new(head, lines).into()
    }

    #[test]
    fn lines_keep_the_clients_order_and_spelling_until_changed() {
        let mut h = raw("Host: a\nX-Key: 1\nAccept: */*\nx-key: 2");
        let got = lines(&h);
        assert_eq!(got[0].0, b"Host");
        assert_eq!(got[1].0, b"X-Key");
        assert_eq!(got[3].0, b"x-key");
        // Reading the map leaves the lines as they are.
        assert_eq!(h.get_all("x-key").iter().count(), 2);
        assert!(h.is_raw());
        assert_eq!(lines(&h)[0].0, b"Host");
        // A change makes the map the only copy.
        h.insert("x-new", HeaderValue::from_static("n"));
        assert!(!h.is_raw());
        let names: Vec<_> = lines(&h).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [&b"host"[..], b"x-key", b"x-key", b"accept", b"x-new"]
        );
    }

    #[test]
    fn the_map_equals_the_lines() {
        let h = raw("Host: a\nX-Key: 1\nAccept: */*\nx-key: 2");
        assert_eq!(h.len(), 4);
        assert_eq!(h.get("host").unwrap(), "a");
        let keys: Vec<_> = h.get_all("x-key").iter().collect();
        assert_eq!(keys, ["1", "2"]);
    }

    #[test]
    fn single_finds_any_spelling_without_building_the_map() {
        let h = raw("X-Key: 1\nx-key: 2\nHost: a\nApiKey: k");
        assert_eq!(h.single(&HeaderName::from_static("x-key")), Err(()));
        assert_eq!(
            h.single(&HeaderName::from_static("apikey")),
            Ok(Some(&b"k"[..]))
        );
        assert_eq!(h.single(&HeaderName::from_static("accept")), Ok(None));
        assert!(h.map.get().is_none());
        // The map gives the same answers.
        let mut m = h.clone();
        m.insert("x-other", HeaderValue::from_static("o"));
        assert_eq!(m.single(&HeaderName::from_static("x-key")), Err(()));
        assert_eq!(
            m.single(&HeaderName::from_static("apikey")),
            Ok(Some(&b"k"[..]))
        );
        assert_eq!(m.single(&HeaderName::from_static("accept")), Ok(None));
    }

    #[test]
    fn first_gives_the_first_line_in_any_spelling_as_the_map_does() {
        let h = raw("Authorization: one\nHost: a\nauthorization: two");
        let name = HeaderName::from_static("authorization");
        assert_eq!(h.first(&name), Some(&b"one"[..]));
        assert_eq!(h.first(&HeaderName::from_static("accept")), None);
        assert!(h.map.get().is_none());
        let mut m = h.clone();
        m.insert("x-other", HeaderValue::from_static("o"));
        assert!(!m.is_raw());
        assert_eq!(m.first(&name), Some(&b"one"[..]));
        assert_eq!(m.first(&HeaderName::from_static("accept")), None);
        // Every value, in order, from either copy.
        let want: Vec<&[u8]> = vec![b"one", b"two"];
        assert_eq!(h.values(&name).collect::<Vec<_>>(), want);
        assert_eq!(m.values(&name).collect::<Vec<_>>(), want);
        assert!(h.map.get().is_none());
    }

    #[test]
    fn debug_output_names_lines_but_shows_no_values() {
        let h = raw("Host: a\nApiKey: secret-key");
        let shown = format!("{h:?}");
        assert!(shown.contains("ApiKey"), "{shown}");
        assert!(!shown.contains("secret-key"), "{shown}");
    }

    #[test]
    fn spans_outside_the_head_are_left_out_not_a_panic() {
        let head = Bytes::from_static(b"x: v");
        let lines = vec![
            RawLine {
                name: (0, 1),
                value: (3, 4),
            },
            RawLine {
                name: (0, 1),
                value: (3, 99),
            },
            RawLine {
                name: (0, 99),
                value: (3, 4),
            },
        ];
        let h = RequestHeaders::from(RawLines::new(head, lines));
        assert_eq!(h.len(), 1);
        assert_eq!(h.get("x").unwrap(), "v");
    }

    #[test]
    fn clear_empties_either_form() {
        let mut h = raw("Host: a");
        h.clear();
        assert!(h.is_empty());
        assert!(lines(&h).is_empty());
        let mut m = RequestHeaders::from(HeaderMap::new());
        m.insert("a", HeaderValue::from_static("1"));
        m.clear();
        assert!(m.is_empty());
    }
}
