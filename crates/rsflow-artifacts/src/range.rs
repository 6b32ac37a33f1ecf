//! [`ByteRange`]: one HTTP byte range (`bytes=a-b`, `a-`, `-n`), resolved against a size.

/// A single requested byte range, before the object's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `a-b`, both inclusive.
    FromTo(u64, u64),
    /// `a-`: from `a` to the end.
    From(u64),
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// The range cannot be served from an object of this size (HTTP 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable {
    pub size: u64,
}

impl ByteRange {
    /// The `Range` header value that asks for this range.
    pub fn to_header(self) -> String {
        match self {
            ByteRange::FromTo(a, b) => format!("bytes={a}-{b}"),
            ByteRange::From(a) => format!("bytes={a}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }

    /// Parse a `Range` header value. Anything but exactly one well-formed byte range gives
    /// `None`, and RFC 9110 §14.2 lets a server ignore such a header and answer 200.
    pub fn parse_header(value: &str) -> Option<ByteRange> {
        let (unit, spec) = value.trim().split_once('=')?;
        if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
            return None;
        }
        let (first, last) = spec.trim().split_once('-')?;
        let num = |s: &str| -> Option<u64> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        match (first.trim().is_empty(), last.trim().is_empty()) {
            (true, true) => None,
            (true, false) => Some(ByteRange::Suffix(num(last)?)),
            (false, true) => Some(ByteRange::From(num(first)?)),
            (false, false) => {
                let (a, b) = (num(first)?, num(last)?);
                (a <= b).then_some(ByteRange::FromTo(a, b))
            }
        }
    }

    /// The inclusive `(start, end)` to send from an object of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), Unsatisfiable> {
        let bad = Unsatisfiable { size };
        if size == 0 {
            return Err(bad);
        }
        match self {
            ByteRange::FromTo(a, b) if a < size => Ok((a, b.min(size - 1))),
            ByteRange::From(a) if a < size => Ok((a, size - 1)),
            ByteRange::Suffix(n) if n > 0 => Ok((size - n.min(size), size - 1)),
            _ => Err(bad),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            ByteRange::parse_header("bytes=0-4"),
            Some(ByteRange::FromTo(0, 4))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=6-"),
            Some(ByteRange::From(6))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=-3"),
            Some(ByteRange::Suffix(3))
        );
        assert_eq!(
            ByteRange::parse_header(" Bytes = 1 - 2 "),
            Some(ByteRange::FromTo(1, 2))
        );
    }

    #[test]
    fn ignores_what_it_cannot_serve_as_one_range() {
        for h in [
            "bytes=0-1,3-4",
            "bytes=5-2",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "items=0-1",
            "bytes",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(ByteRange::parse_header(h), None, "{h}");
        }
    }

    #[test]
    fn resolves_against_size() {
        assert_eq!(ByteRange::FromTo(0, 4).resolve(11), Ok((0, 4)));
        assert_eq!(ByteRange::FromTo(0, 100).resolve(11), Ok((0, 10)));
        assert_eq!(ByteRange::FromTo(10, 10).resolve(11), Ok((10, 10)));
        assert_eq!(ByteRange::From(6).resolve(11), Ok((6, 10)));
        assert_eq!(ByteRange::Suffix(3).resolve(11), Ok((8, 10)));
        assert_eq!(ByteRange::Suffix(50).resolve(11), Ok((0, 10)));
        let bad = Err(Unsatisfiable { size: 11 });
        assert_eq!(ByteRange::FromTo(11, 20).resolve(11), bad);
        assert_eq!(ByteRange::From(11).resolve(11), bad);
        assert_eq!(ByteRange::Suffix(0).resolve(11), bad);
        assert_eq!(
            ByteRange::FromTo(0, 0).resolve(0),
            Err(Unsatisfiable { size: 0 })
        );
        assert_eq!(
            ByteRange::Suffix(5).resolve(0),
            Err(Unsatisfiable { size: 0 })
        );
    }
}
