//! `Transfer-Encoding: chunked`: an incremental decoder that takes body bytes out of a
//! read buffer as they arrive (any split is fine), and the encoder's framing bytes.
//! Chunk extensions and trailers are read and dropped; sizes, line lengths and trailer
//! bytes are bounded so a hostile peer cannot make us buffer without end.

use bytes::{Bytes, BytesMut};

/// Longest chunk-size line (size, extensions) we accept.
const MAX_SIZE_LINE: usize = 4096;
/// Most trailer bytes we read (and drop).
const MAX_TRAILERS: usize = 16 * 1024;

/// A malformed chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked body: {0}")]
pub struct ChunkError(pub &'static str);

/// What one decoding step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no complete next piece: read more and call again.
    NeedMore,
    /// The last chunk and the trailers have been read.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data, at its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; bytes seen so far.
    Trailers(usize),
    Done,
}

/// Decodes a chunked body incrementally.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// The length of the line at the front of `buf` including its LF (a bare LF is
/// accepted as nginx does), or `None` when no full line is buffered.
fn line_len(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n').map(|i| i + 1)
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_size(line: &[u8]) -> Result<u64, ChunkError> {
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() {
        return Err(ChunkError("missing chunk size"));
    }
    // What may follow the size: optional whitespace, then `;extensions`.
    let rest = rest.trim_ascii_start();
    if !(rest.is_empty() || rest.starts_with(b";")) {
        return Err(ChunkError("invalid chunk size"));
    }
    let digits = {
        let first = digits
            .iter()
            .position(|&b| b != b'0')
            .unwrap_or(digits.len());
        digits.get(first..).unwrap_or(&[])
    };
    if digits.len() > 15 {
        return Err(ChunkError("chunk size too large"));
    }
    let mut n: u64 = 0;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(ChunkError("invalid chunk size")),
        };
        n = (n << 4) | u64::from(v);
    }
    Ok(n)
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self { state: State::Size }
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the next piece of body out of `buf`. Data comes out in pieces no larger
    /// than what is buffered (never waiting for a whole chunk).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ChunkError> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::Done),
                State::Size => {
                    let Some(n) = line_len(buf) else {
                        if buf.len() > MAX_SIZE_LINE {
                            return Err(ChunkError("chunk size line too long"));
                        }
                        return Ok(Decoded::NeedMore);
                    };
                    if n > MAX_SIZE_LINE {
                        return Err(ChunkError("chunk size line too long"));
                    }
                    let size = parse_size(strip_eol(buf.get(..n).unwrap_or(&[])))?;
                    let _ = buf.split_to(n);
                    self.state = if size == 0 {
                        State::Trailers(0)
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(take).freeze();
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Decoded::Data(data));
                }
                State::DataEnd => match buf.first() {
                    None => return Ok(Decoded::NeedMore),
                    Some(b'\n') => {
                        let _ = buf.split_to(1);
                        self.state = State::Size;
                    }
                    Some(b'\r') => match buf.get(1) {
                        None => return Ok(Decoded::NeedMore),
                        Some(b'\n') => {
                            let _ = buf.split_to(2);
                            self.state = State::Size;
                        }
                        Some(_) => return Err(ChunkError("missing CRLF after chunk data")),
                    },
                    Some(_) => return Err(ChunkError("missing CRLF after chunk data")),
                },
                State::Trailers(seen) => {
                    let Some(n) = line_len(buf) else {
                        if seen + buf.len() > MAX_TRAILERS {
                            return Err(ChunkError("trailers too large"));
                        }
                        return Ok(Decoded::NeedMore);
                    };
                    if seen + n > MAX_TRAILERS {
                        return Err(ChunkError("trailers too large"));
                    }
                    let empty = strip_eol(buf.get(..n).unwrap_or(&[])).is_empty();
                    let _ = buf.split_to(n);
                    self.state = if empty {
                        State::Done
                    } else {
                        State::Trailers(seen + n)
                    };
                }
            }
        }
    }
}

/// The line that starts a chunk of `len` bytes (`<hex>\r\n`).
pub fn chunk_header(len: usize) -> ([u8; 18], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 18];
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut count = 0;
    loop {
        if let Some(slot) = digits.get_mut(count) {
            *slot = HEX[n & 0xf];
        }
        count += 1;
        n >>= 4;
        if n == 0 || count == digits.len() {
            break;
        }
    }
    for (i, slot) in out.iter_mut().take(count).enumerate() {
        *slot = digits.get(count - 1 - i).copied().unwrap_or(b'0');
    }
    if let Some(s) = out.get_mut(count..count + 2) {
        s.copy_from_slice(b"\r\n");
    }
    (out, count + 2)
}

/// The CRLF that ends a chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn decode_all(input: &[u8], split: usize) -> Result<Vec<u8>, ChunkError> {
        let mut d = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut feed = input.chunks(split.max(1));
        loop {
            match d.decode(&mut buf)? {
                Decoded::Data(b) => out.extend_from_slice(&b),
                Decoded::Done => return Ok(out),
                Decoded::NeedMore => match feed.next() {
                    Some(piece) => buf.extend_from_slice(piece),
                    None => return Err(ChunkError("truncated")),
                },
            }
        }
    }

    fn encode(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts.iter().filter(|p| !p.is_empty()) {
            let (h, n) = chunk_header(p.len());
            out.extend_from_slice(&h[..n]);
            out.extend_from_slice(p);
            out.extend_from_slice(CHUNK_END);
        }
        out.extend_from_slice(LAST_CHUNK);
        out
    }

    #[test]
    fn decodes_extensions_trailers_and_bare_lf() {
        let body = b"5;name=v\r\nhello\r\n6\nworld!\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(decode_all(body, 3).unwrap(), b"helloworld!");
        assert_eq!(
            decode_all(b"0000A\r\n0123456789\r\n0\r\n\r\n", 1)
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn leaves_bytes_after_the_body_in_the_buffer() {
        let mut d = ChunkedDecoder::new();
        let mut buf = BytesMut::from(&b"2\r\nok\r\n0\r\n\r\nGET / HTTP/1.1\r\n"[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"ok"))
        );
        assert_eq!(d.decode(&mut buf).unwrap(), Decoded::Done);
        assert_eq!(&buf[..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\r\nhelloXX",
            b"-1\r\n",
            b"5 garbage\r\n",
            b"10000000000000000\r\n",
        ] {
            assert!(
                decode_all(bad, 64).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = vec![b'1'; MAX_SIZE_LINE + 10];
        assert!(decode_all(&long, 100).is_err());
        let mut trailers = b"0\r\n".to_vec();
        trailers.extend(std::iter::repeat_n(b"X-A: 1\r\n", 4000).flatten());
        assert!(decode_all(&trailers, 512).is_err());
    }

    #[test]
    fn chunk_header_is_lowercase_hex() {
        let (h, n) = chunk_header(0x1a2b);
        assert_eq!(&h[..n], b"1a2b\r\n");
        let (h, n) = chunk_header(0);
        assert_eq!(&h[..n], b"0\r\n");
    }

    proptest! {
        #[test]
        fn round_trips_any_split(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8), split in 1usize..40) {
            let wire = encode(&parts);
            let expected: Vec<u8> = parts.concat();
            prop_assert_eq!(decode_all(&wire, split).unwrap(), expected);
        }

        #[test]
        fn never_panics_on_garbage(input in proptest::collection::vec(any::<u8>(), 0..600), split in 1usize..50) {
            let _ = decode_all(&input, split);
        }
    }
}
