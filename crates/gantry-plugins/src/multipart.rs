//! `multipart/form-data` bodies the way Kong's `lua-multipart` handles them
//! (`kong.request.get_body()`, request-transformer): parts keyed by their
//! `Content-Disposition` name, lookups and deletes by name (the last part of a
//! name wins), `set_simple` replacing
//! a part in place (or appending one) with only a `Content-Disposition` header,
//! and its serializer (`--boundary\r\n`, header lines, blank line, value,
//! `\r\n`, …, `--boundary--\r\n`; no parts at all gives an empty body).
//! Differences: parts without a name are kept (lua-multipart drops them), and
//! the boundary parameter is parsed up to `;` or whitespace.

/// One part.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    name: Option<Vec<u8>>,
    headers: Vec<Vec<u8>>,
    value: Vec<u8>,
}

/// A parsed multipart body (`Default`: no parts, as without a boundary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multipart {
    boundary: Vec<u8>,
    parts: Vec<Part>,
}

/// The `boundary` parameter of a `Content-Type` value.
pub fn boundary(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    let mut search = 0;
    while let Some(i) = lower[search..].find("boundary=") {
        let at = search + i;
        let before = lower[..at].trim_end_matches([' ', '\t']);
        search = at + "boundary=".len();
        if !before.ends_with(';') {
            continue;
        }
        let rest = &content_type[search..];
        let b = if let Some(q) = rest.strip_prefix('"') {
            q.split('"').next().unwrap_or("")
        } else {
            rest.split([';', ' ', '\t', ',']).next().unwrap_or("")
        };
        return (!b.is_empty()).then(|| b.to_string());
    }
    None
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The `name` of a `Content-Disposition` header line.
fn part_name(line: &[u8]) -> Option<Vec<u8>> {
    let (_, params) = line.split_at(line.iter().position(|&b| b == b':')? + 1);
    for p in params.split(|&b| b == b';') {
        let p = p.trim_ascii();
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            let v = p[5..].trim_ascii();
            let v = v
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v);
            return Some(v.to_vec());
        }
    }
    None
}

fn strip_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

impl Multipart {
    /// Parses `body` with `boundary`. Bytes before the first delimiter and
    /// after the closing one are dropped.
    pub fn parse(body: &[u8], boundary: &str) -> Multipart {
        let mut delim = b"--".to_vec();
        delim.extend_from_slice(boundary.as_bytes());
        let mut parts = Vec::new();
        // the first delimiter: at the very start or after a line break
        let mut pos = if body.starts_with(&delim) {
            Some(0)
        } else {
            let mut nl = b"\n".to_vec();
            nl.extend_from_slice(&delim);
            find(body, &nl, 0).map(|i| i + 1)
        };
        while let Some(start) = pos {
            let after = start + delim.len();
            if body.get(after..after + 2) == Some(b"--") {
                break;
            }
            // rest of the delimiter line
            let Some(eol) = find(body, b"\n", after) else {
                break;
            };
            let head_start = eol + 1;
            // the next delimiter ends this part's value
            let mut next_pat = b"\n".to_vec();
            next_pat.extend_from_slice(&delim);
            let next = find(body, &next_pat, head_start);
            let end = next.unwrap_or(body.len());
            let chunk = &body[head_start..end];
            let (head, value) = match find(chunk, b"\r\n\r\n", 0) {
                Some(i) => (&chunk[..i], &chunk[i + 4..]),
                None => match find(chunk, b"\n\n", 0) {
                    Some(i) => (&chunk[..i], &chunk[i + 2..]),
                    None => (chunk, &b""[..]),
                },
            };
            let value = match next {
                // the line break before the next delimiter belongs to it
                Some(_) => value.strip_suffix(b"\r").unwrap_or(value),
                None => value,
            };
            let headers: Vec<Vec<u8>> = head
                .split(|&b| b == b'\n')
                .map(strip_eol)
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            let name = headers
                .iter()
                .find(|h| h.len() >= 19 && h[..19].eq_ignore_ascii_case(b"content-disposition"))
                .and_then(|h| part_name(h));
            parts.push(Part {
                name,
                headers,
                value: value.to_vec(),
            });
            pos = next.map(|i| i + 1);
        }
        Multipart {
            boundary: boundary.as_bytes().to_vec(),
            parts,
        }
    }

    fn index(&self, name: &[u8]) -> Option<usize> {
        self.parts
            .iter()
            .rposition(|p| p.name.as_deref() == Some(name))
    }

    /// `parts:get(name).value`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.index(name).map(|i| self.parts[i].value.as_slice())
    }

    /// The values of the parts called `name`, in body order
    /// (`parts:get_as_array(name)`).
    pub fn values<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.parts
            .iter()
            .filter(move |p| p.name.as_deref() == Some(name))
            .map(|p| p.value.as_slice())
    }

    /// Names of the named parts, first occurrence first.
    pub fn names(&self) -> Vec<&[u8]> {
        let mut names: Vec<&[u8]> = Vec::new();
        for n in self.parts.iter().filter_map(|p| p.name.as_deref()) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }

    /// `parts:delete(name)`.
    pub fn delete(&mut self, name: &[u8]) {
        if let Some(i) = self.index(name) {
            self.parts.remove(i);
        }
    }

    /// `parts:set_simple(name, value)`.
    pub fn set_simple(&mut self, name: &[u8], value: Vec<u8>) {
        let mut header = b"Content-Disposition: form-data; name=\"".to_vec();
        header.extend_from_slice(name);
        header.push(b'"');
        let part = Part {
            name: Some(name.to_vec()),
            headers: vec![header],
            value,
        };
        match self.index(name) {
            Some(i) => self.parts[i] = part,
            None => self.parts.push(part),
        }
    }

    /// `parts:tostring()`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.parts.is_empty() {
            return out;
        }
        for p in &self.parts {
            out.extend_from_slice(b"--");
            out.extend_from_slice(&self.boundary);
            out.extend_from_slice(b"\r\n");
            for h in &p.headers {
                out.extend_from_slice(h);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&p.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(&self.boundary);
        out.extend_from_slice(b"--\r\n");
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue a\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n\r\n--XyZ--\r\nepilogue";

    #[test]
    fn boundary_param() {
        assert_eq!(
            boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
        assert_eq!(
            boundary("multipart/form-data;boundary=\"a b\"; charset=x").as_deref(),
            Some("a b")
        );
        assert_eq!(
            boundary("multipart/form-data; Boundary=q;x=1").as_deref(),
            Some("q")
        );
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; xboundary=1"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
    }

    #[test]
    fn parse_get_and_round_trip() {
        let m = Multipart::parse(BODY, "XyZ");
        assert_eq!(m.get(b"a"), Some(&b"value a"[..]));
        assert_eq!(m.get(b"f"), Some(&b"line1\r\nline2\r\n"[..]));
        assert_eq!(m.get(b"x"), None);
        let out = m.encode();
        assert_eq!(
            out,
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue a\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n\r\n--XyZ--\r\n"
        );
        assert_eq!(Multipart::parse(&out, "XyZ"), m);
    }

    #[test]
    fn edit_operations() {
        let mut m = Multipart::parse(BODY, "XyZ");
        m.set_simple(b"a", b"new".to_vec());
        m.set_simple(b"b", b"added".to_vec());
        m.delete(b"f");
        assert_eq!(
            m.encode(),
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nnew\r\n--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nadded\r\n--XyZ--\r\n"
        );
        m.delete(b"a");
        m.delete(b"b");
        assert!(m.encode().is_empty());
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            &b""[..],
            b"--XyZ",
            b"--XyZ\r\n",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"",
            b"--XyZ\nContent-Disposition: form-data; name=a\n\nv\n--XyZ--",
            b"\xff\xfe--XyZ--XyZ\r\n\r\n\r\n",
        ] {
            let m = Multipart::parse(body, "XyZ");
            let _ = m.encode();
        }
        let m = Multipart::parse(
            b"--XyZ\nContent-Disposition: form-data; name=a\n\nv\n--XyZ--",
            "XyZ",
        );
        assert_eq!(m.get(b"a"), Some(&b"v"[..]));
    }
}
