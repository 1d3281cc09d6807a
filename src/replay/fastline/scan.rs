//! The cursor of the fast path: the little JSON it accepts, read at a few cycles a byte.
//!
//! Two things make it fast. Strings are searched eight bytes at a time for their end (a
//! quote), an escape or a control character. And an object's keys are usually the keys of
//! the same object on the line before, in the same order (a recording is written by one
//! program), so each [`Layout`] remembers them: a key is then one comparison of its bytes
//! (`,"change_pct":`, its comma included) instead of a scan, and it arrives already
//! classified. A key that differs is read the slow way and the layout relearns from it: the
//! layout changes speed, never which key is read.

/// The keys an object kind cares about, classified once per distinct key text.
pub(super) trait Key: Copy {
    fn of(text: &str) -> Self;
}

/// The keys of one object kind, each as its exact bytes `"key":` (`,"key":` after the first),
/// in the orders last seen: a few shapes side by side (a recording mixes `price_shift` and
/// `whale_alert` payloads), told apart by their first key.
#[derive(Clone, Debug)]
pub(super) struct Layout<K> {
    shapes: Vec<Vec<(Box<[u8]>, K)>>,
}

/// Shapes kept per object kind; a new one beyond replaces the last.
const SHAPES: usize = 4;

impl<K> Default for Layout<K> {
    fn default() -> Self {
        Layout { shapes: Vec::new() }
    }
}

impl<K> Layout<K> {
    /// The shape whose first key starts `rest`, else a fresh one to learn.
    fn shape_for(&mut self, rest: &[u8]) -> &mut Vec<(Box<[u8]>, K)> {
        let known = self
            .shapes
            .iter()
            .position(|shape| shape.first().is_some_and(|(p, _)| starts_with(rest, p)));
        let index = match known {
            Some(index) => index,
            None if self.shapes.len() < SHAPES => {
                self.shapes.push(Vec::new());
                self.shapes.len() - 1
            }
            None => {
                let last = SHAPES - 1;
                self.shapes[last].clear();
                last
            }
        };
        &mut self.shapes[index]
    }
}

/// A cursor over one line, known to be UTF-8 (`text` and `bytes` are the same line).
pub(super) struct Scan<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    pub fn new(text: &'a str) -> Scan<'a> {
        Scan {
            text,
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    /// After a line's object: the bytes it took, through its newline (or the end of the
    /// text), or `None` if anything but blanks comes first.
    pub fn line_end(&mut self) -> Option<usize> {
        self.whitespace();
        match self.bytes.get(self.at) {
            None => Some(self.at),
            Some(b'\n') => Some(self.at + 1),
            Some(_) => None,
        }
    }

    /// Blanks inside a line. Not `\n`: that ends the line, as it does for the line reader of
    /// the live path (an object spread over lines is not a line of a recording).
    fn whitespace(&mut self) {
        // Nearly always no blank at all: one comparison (every blank is at most b' ').
        if self.bytes.get(self.at).is_none_or(|&b| b > b' ') {
            return;
        }
        while let Some(b' ' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next significant byte, consumed.
    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    /// The next significant byte. Lines rarely have blanks: one load and one comparison.
    fn peek(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        if byte > b' ' {
            return Some(byte);
        }
        self.whitespace();
        self.bytes.get(self.at).copied()
    }

    /// An object: `field` is called on each key with the cursor at its value, and must consume
    /// the value (or decline). Keys are matched against `layout` first (see the module docs),
    /// each pattern with the comma before it, so a known key costs one comparison in all.
    pub fn object<K: Key>(
        &mut self,
        layout: &mut Layout<K>,
        mut field: impl FnMut(&mut Self, K) -> Option<()>,
    ) -> Option<()> {
        if self.next()? != b'{' {
            return None;
        }
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        let keys = layout.shape_for(self.bytes.get(self.at..)?);
        let mut index = 0;
        loop {
            let rest = self.bytes.get(self.at..)?;
            let key = match keys.get(index) {
                Some((pattern, key)) if starts_with(rest, pattern) => {
                    self.at += pattern.len();
                    *key
                }
                _ => {
                    // Learn the bytes from the separator (none before the first key) through
                    // the colon, exactly as they are: matching them again means the same.
                    let from = self.at;
                    if index > 0 {
                        match self.next()? {
                            b',' => {}
                            b'}' => return Some(()),
                            _ => return None,
                        }
                    }
                    let text = self.string()?;
                    if self.next()? != b':' {
                        return None;
                    }
                    let key = K::of(text);
                    keys.truncate(index);
                    let pattern = self.bytes.get(from..self.at)?;
                    keys.push((pattern.into(), key));
                    key
                }
            };
            index += 1;
            field(self, key)?;
        }
    }

    /// A string without escapes or control characters (so its bytes are its text).
    pub fn string(&mut self) -> Option<&'a str> {
        let (start, end) = self.string_span()?;
        self.text.get(start..end)
    }

    /// Where the next string's text starts and ends, the cursor moved past it.
    #[inline(always)]
    fn string_span(&mut self) -> Option<(usize, usize)> {
        if self.next()? != b'"' {
            return None;
        }
        let start = self.at;
        let mut end = start;
        // Eight bytes at a time; the rest of the line one by one.
        while let Some(chunk) = self.bytes.get(end..end + 8) {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            let hits = string_stops(word);
            if hits != 0 {
                end += (hits.trailing_zeros() / 8) as usize;
                return self.close_string(start, end);
            }
            end += 8;
        }
        while let Some(&byte) = self.bytes.get(end) {
            if byte == b'"' || byte == b'\\' || byte < 0x20 {
                return self.close_string(start, end);
            }
            end += 1;
        }
        None
    }

    /// The string ends at `end` if that byte is its quote (not an escape or a control).
    #[inline(always)]
    fn close_string(&mut self, start: usize, end: usize) -> Option<(usize, usize)> {
        if *self.bytes.get(end)? != b'"' {
            return None;
        }
        self.at = end + 1;
        Some((start, end))
    }

    /// A value read by `read` from the bytes at the cursor (blanks skipped), which answers
    /// with what it read and how many bytes that took: numbers and timestamps, each read in
    /// one pass.
    pub fn read<T>(&mut self, read: impl FnOnce(&'a [u8]) -> Option<(T, usize)>) -> Option<T> {
        self.whitespace();
        let (value, used) = read(self.bytes.get(self.at..)?)?;
        self.at += used;
        Some(value)
    }

    /// `null` as `Some(None)`; any other value as `read` reads it (`None` declines).
    pub fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.null()? {
            true => Some(None),
            false => read(self).map(Some),
        }
    }

    /// `null` consumed (`true`), or the cursor left at a non-null value (`false`).
    pub fn null(&mut self) -> Option<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        self.literal(b"null").map(|()| true)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes.get(self.at..)?.starts_with(word) {
            self.at += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A string, a number, `true`, `false` or `null`; containers and anything odd decline
    /// (checking them exactly is not worth it here). The values nobody reads (most of a
    /// signal response) come through here, so it reads each in one pass.
    #[inline(always)]
    pub fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string_span().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.skip_number(),
        }
    }

    /// A JSON number serde_json reads without complaint: `-?(0|[1-9][0-9]*)(.[0-9]+)?`, no
    /// exponent (which can overflow an `f64`), at most 40 bytes (hundreds of digits can too).
    #[inline(always)]
    fn skip_number(&mut self) -> Option<()> {
        let bytes = self.bytes;
        let start = self.at;
        let digits_from = |mut at: usize| {
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            at
        };
        let int_start = start + usize::from(bytes.get(start) == Some(&b'-'));
        let mut end = digits_from(int_start);
        let int_len = end - int_start;
        if int_len == 0 || (int_len > 1 && bytes[int_start] == b'0') {
            return None;
        }
        if bytes.get(end) == Some(&b'.') {
            let frac_end = digits_from(end + 1);
            if frac_end == end + 1 {
                return None;
            }
            end = frac_end;
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) || end - start > 40 {
            return None;
        }
        self.at = end;
        Some(())
    }
}

/// The high bit of every byte of `word` that is a quote, a backslash or below 0x20 (bytes
/// after the first such byte may be marked falsely: only the lowest mark is used).
#[inline(always)]
fn string_stops(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    quote | backslash | control
}

/// `bytes.starts_with(pattern)` for the short patterns of keys, compared a word at a time
/// (the library's version calls `memcmp`, which costs more than the comparison here).
fn starts_with(bytes: &[u8], pattern: &[u8]) -> bool {
    let word = |bytes: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    let len = pattern.len();
    if bytes.len() < len {
        return false;
    }
    if len < 8 {
        return bytes.iter().zip(pattern).all(|(a, b)| a == b);
    }
    // Whole words, then the last word (overlapping the one before when `len` is not a
    // multiple of 8).
    let mut at = 0;
    while at + 8 <= len {
        if word(bytes, at) != word(pattern, at) {
            return false;
        }
        at += 8;
    }
    at == len || word(bytes, len - 8) == word(pattern, len - 8)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The first stop byte, found the plain way.
    fn first_stop(bytes: &[u8]) -> Option<usize> {
        bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
    }

    proptest! {
        #[test]
        fn prop_string_stops_marks_the_first_stop_byte(
            bytes in prop::array::uniform8(prop_oneof![
                Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff,
            ])
        ) {
            let hits = string_stops(u64::from_le_bytes(bytes));
            let found = (hits != 0).then(|| (hits.trailing_zeros() / 8) as usize);
            prop_assert_eq!(found, first_stop(&bytes));
        }

        #[test]
        fn prop_starts_with_agrees_with_the_library(
            bytes in prop::collection::vec(prop::sample::select(b"ab\":".to_vec()), 0..30),
            len in 0usize..30,
        ) {
            // Patterns cut from the bytes (a true prefix) and mutated (usually not).
            let cut = len.min(bytes.len());
            let pattern = bytes[..cut].to_vec();
            prop_assert!(starts_with(&bytes, &pattern));
            let mut other = pattern.clone();
            if let Some(last) = other.last_mut() {
                *last = b'x';
            }
            prop_assert_eq!(starts_with(&bytes, &other), bytes.starts_with(&other));
            prop_assert_eq!(starts_with(&pattern, &bytes), pattern.starts_with(&bytes));
        }
    }

    #[test]
    fn strings_end_at_their_quote_and_decline_escapes_and_controls() {
        let text = "\"a long market id, past eight bytes\" \r\n{}";
        let mut scan = Scan::new(text);
        assert_eq!(scan.string(), Some("a long market id, past eight bytes"));
        // Blanks, then the newline ends the line; what follows is the next line's.
        assert_eq!(scan.line_end(), Some(text.len() - 2));
        for text in [
            r#""esc\"aped""#,
            "\"tab\there\"",
            "\"unterminated",
            r#""ünïcode ok"x"#,
        ] {
            let mut scan = Scan::new(text);
            let got = scan.string();
            assert_eq!(got.is_some(), text.starts_with("\"ü"), "{text}");
        }
    }
}
