//! `ngx.parse_http_time` (nginx's `ngx_parse_http_time`), which hmac-auth uses
//! for `Date`/`X-Date`. nginx is lenient where RFC 9110 parsers are not: the
//! weekday is skipped unchecked, anything after the time (`GMT`, `+0000`,
//! `UTC`, nothing) is ignored, and months are told apart by a letter or two.
//! Formats: `Tue, 10 Nov 2002 23:50:13` (RFC 822), `Tuesday, 10-Dec-02
//! 23:50:13` (RFC 850), `Tue Dec 10 23:50:13 2002` (asctime).

const MDAY: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fmt {
    Rfc822,
    Rfc850,
    Isoc,
}

/// Seconds since the Unix epoch, or `None` where nginx returns `NGX_ERROR`.
pub fn parse_http_time(value: &[u8]) -> Option<u64> {
    let end = value.len();
    // out-of-range reads see NUL, which no check below accepts
    let at = |i: usize| value.get(i).copied().unwrap_or(0);
    let two = |i: usize| -> Option<u64> {
        let (a, b) = (at(i), at(i + 1));
        (a.is_ascii_digit() && b.is_ascii_digit()).then(|| u64::from((a - b'0') * 10 + (b - b'0')))
    };
    let four = |i: usize| -> Option<u64> { Some(two(i)? * 100 + two(i + 2)?) };

    let mut fmt = None;
    let mut p = 0;
    while p < end {
        match at(p) {
            b',' => break,
            b' ' => {
                fmt = Some(Fmt::Isoc);
                break;
            }
            _ => p += 1,
        }
    }
    p += 1;
    while p < end && at(p) == b' ' {
        p += 1;
    }
    if end.saturating_sub(p) < 18 {
        return None;
    }
    let mut day = 0;
    if fmt != Some(Fmt::Isoc) {
        day = two(p)?;
        p += 2;
        fmt = match at(p) {
            b' ' if end.saturating_sub(p) >= 18 => Some(Fmt::Rfc822),
            b'-' => Some(Fmt::Rfc850),
            _ => return None,
        };
        p += 1;
    }
    let fmt = fmt?;
    let month: usize = match at(p) {
        b'J' if at(p + 1) == b'a' => 0,
        b'J' if at(p + 2) == b'n' => 5,
        b'J' => 6,
        b'F' => 1,
        b'M' if at(p + 2) == b'r' => 2,
        b'M' => 4,
        b'A' if at(p + 1) == b'p' => 3,
        b'A' => 7,
        b'S' => 8,
        b'O' => 9,
        b'N' => 10,
        b'D' => 11,
        _ => return None,
    };
    p += 3;
    match fmt {
        Fmt::Rfc822 if at(p) != b' ' => return None,
        Fmt::Rfc850 if at(p) != b'-' => return None,
        _ => {}
    }
    p += 1;
    let mut year = 0;
    match fmt {
        Fmt::Rfc822 => {
            year = four(p)?;
            p += 4;
        }
        Fmt::Rfc850 => {
            let y = two(p)?;
            year = y + if y < 70 { 2000 } else { 1900 };
            p += 2;
        }
        Fmt::Isoc => {
            if at(p) == b' ' {
                p += 1;
            }
            if !at(p).is_ascii_digit() {
                return None;
            }
            day = u64::from(at(p) - b'0');
            p += 1;
            if at(p) != b' ' {
                if !at(p).is_ascii_digit() {
                    return None;
                }
                day = day * 10 + u64::from(at(p) - b'0');
                p += 1;
            }
            if end.saturating_sub(p) < 14 {
                return None;
            }
        }
    }
    if at(p) != b' ' {
        return None;
    }
    p += 1;
    let hour = two(p)?;
    p += 2;
    if at(p) != b':' {
        return None;
    }
    let min = two(p + 1)?;
    p += 3;
    if at(p) != b':' {
        return None;
    }
    let sec = two(p + 1)?;
    p += 1;
    if fmt == Fmt::Isoc {
        p += 2;
        if at(p) != b' ' {
            return None;
        }
        year = four(p + 1)?;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    if day == 29 && month == 1 {
        if year & 3 != 0 || (year % 100 == 0 && year % 400 != 0) {
            return None;
        }
    } else if day > MDAY[month] {
        return None;
    }
    // Gauss' formula, the year shifted to start on March 1 (months from 1)
    let (mut month, mut year) = (month as i64, year as i64);
    month -= 1;
    if month <= 0 {
        month += 12;
        year -= 1;
    }
    let days = 365 * year + year / 4 - year / 100 + year / 400 + 367 * month / 12 - 30 + day as i64
        - 1
        - 719_527
        + 31
        + 28;
    let t = days * 86_400 + (hour * 3600 + min * 60 + sec) as i64;
    u64::try_from(t).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_http_time;

    const T: u64 = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 GMT

    #[test]
    fn the_three_formats() {
        assert_eq!(parse_http_time(b"Tue, 14 Nov 2023 22:13:20 GMT"), Some(T));
        assert_eq!(parse_http_time(b"Tuesday, 14-Nov-23 22:13:20 GMT"), Some(T));
        assert_eq!(parse_http_time(b"Tue Nov 14 22:13:20 2023"), Some(T));
        assert_eq!(parse_http_time(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_time(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_time(b"Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_time(b"Sun Nov  6 08:49:37 1994"),
            Some(784_111_777)
        );
    }

    #[test]
    fn nginx_leniency() {
        // zone and weekday are not checked; what follows the time is ignored
        for d in [
            "Tue, 14 Nov 2023 22:13:20 -0000",
            "Tue, 14 Nov 2023 22:13:20 +0000",
            "Tue, 14 Nov 2023 22:13:20 UTC",
            "Tue, 14 Nov 2023 22:13:20",
            "Mon, 14 Nov 2023 22:13:20 GMT",
            ", 14 Nov 2023 22:13:20 GMT",
            "Tue,    14 Nov 2023 22:13:20 GMT",
            "Tue, 14 Nxx 2023 22:13:20 GMT",
        ] {
            assert_eq!(parse_http_time(d.as_bytes()), Some(T), "{d}");
        }
    }

    #[test]
    fn rejects() {
        for d in [
            "",
            "garbage",
            "1700000000",
            "Tue, 14 Nov 2023 24:13:20 GMT",
            "Tue, 14 Nov 2023 22:60:20 GMT",
            "Tue, 31 Nov 2023 22:13:20 GMT",
            "Thu, 29 Feb 2023 22:13:20 GMT",
            "Tue, 14 Xov 2023 22:13:20 GMT",
            "Tue, 4 Nov 2023 22:13:20 GMT",
            "Tue, 14 Nov 23 22:13:20 GMT",
            "Tue, 14 Nov 2023 22-13-20 GMT",
            "Tue, 14 Nov 2023 22:13",
            "Tue Nov 14 22:13:20",
        ] {
            assert_eq!(parse_http_time(d.as_bytes()), None, "{d}");
        }
        assert_eq!(
            parse_http_time(b"Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800)
        );
    }
}
