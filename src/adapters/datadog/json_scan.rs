//! A forward-only JSON reader for the Datadog parsers: it walks the few object levels down to
//! the hot arrays (v1 `pointlist`, v2 `times` and `values`) and reads their numbers itself,
//! while every other value (the labels, units, errors, fields it skips, keys with escapes) is
//! read by serde_json at the reader's position, so the envelope keeps serde's grammar and types.
//!
//! Why not serde alone: serde_json converts numbers on its generic path (`parse_decimal`,
//! `parse_integer`, `deserialize_f64`: 44 % of the parsers' time in the profile) and cannot hand
//! a sub-slice of the document to another reader in the middle of a value. Why not jiter (a
//! pull parser with lexical's number path): it needs lexical-parse-float's `format` feature,
//! which would rebuild arrow-cast and with it all of arrow and DataFusion, for the few hundred
//! lines here. Numbers are delimited and checked against JSON's grammar here while their digits
//! are read (eight at a time), then converted from those digits: Clinger's fast path, then
//! Eisel-Lemire, and the standard library's parser on the text only for what those two cannot
//! settle (more than 19 significant digits, or a value too close to halfway). Every step rounds
//! correctly. (lexical-core's whole parser, already built for arrow-cast, was measured too:
//! about twice the instructions per number, as it reads the text again.)

use std::borrow::Cow;
use std::fmt::Display;

use lexical_parse_float::lemire;
use serde::de::IgnoredAny;
use serde::Deserialize;

/// A malformed body: what was wrong and where, and whether the body ended early.
#[derive(Debug)]
pub(super) struct ScanError {
    /// serde_json's wording: `expected ... at line L column C`.
    pub message: String,
    /// The body ended before the value did (a truncated answer, which the engine retries).
    pub eof: bool,
}

type Result<T> = std::result::Result<T, ScanError>;

/// The reader: a body and a position in it.
pub(super) struct Scanner<'a> {
    body: &'a [u8],
    pos: usize,
}

/// A number's text, checked against JSON's grammar: where it is and its digits. Small and
/// `Copy`, so that it stays in registers: a version holding the text slice and two `Option`s
/// went through the stack on every number, and the reloads (a store-forwarding stall) were a
/// third of the v2 parser's time in `perf`.
#[derive(Clone, Copy)]
struct Lexed {
    start: usize,
    end: usize,
    /// The significant digits as an integer (wrapping: meaningful only when `exact`).
    digits: u64,
    /// The power of ten the digits are scaled by.
    exponent: i64,
    negative: bool,
    /// No fraction and no exponent.
    integral: bool,
    /// At most 19 significant digits, which a u64 holds.
    exact: bool,
}

impl Lexed {
    /// The magnitude when the text is an integer of at most 19 digits.
    fn integer(&self) -> Option<u64> {
        (self.integral && self.exact).then_some(self.digits)
    }

    /// The value as digits × 10^exponent, when there are at most 19 digits.
    fn decimal(&self) -> Option<(u64, i64)> {
        self.exact.then_some((self.digits, self.exponent))
    }
}

/// The biased exponent of f64's infinities.
const F64_INFINITE_EXP: i32 = 0x7FF;

/// The largest integer every smaller one of which an f64 holds exactly.
const EXACT_INT: u64 = 1 << 53;

impl<'a> Scanner<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        Self { body, pos: 0 }
    }

    #[inline]
    fn skip_ws(&mut self) {
        // Indentation eight spaces at a time: pretty-printed bodies (the recorded ones) are
        // half whitespace, a run of ten or more spaces before every number.
        while let Some(b"        ") = self.body.get(self.pos..self.pos + 8) {
            self.pos += 8;
        }
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.body.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.body.get(self.pos).copied()
    }

    /// Bytes after the position (a bound on what is left to read: every element takes one).
    pub fn remaining(&self) -> usize {
        self.body.len() - self.pos
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error_at(self.pos, "trailing characters")),
        }
    }

    /// Line (1-based) of byte `at`, and how many bytes of its line come before it.
    fn line_column(&self, at: usize) -> (usize, usize) {
        let before = &self.body[..at.min(self.body.len())];
        let line = 1 + before.iter().filter(|b| **b == b'\n').count();
        let column = before.len()
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
        (line, column)
    }

    /// An error at the byte `at`, counted as serde_json counts a byte it peeked at.
    #[cold]
    #[inline(never)]
    fn error_at(&self, at: usize, what: impl Display) -> ScanError {
        let (line, column) = self.line_column(at);
        ScanError {
            message: format!("{what} at line {line} column {}", column + 1),
            eof: false,
        }
    }

    /// The body ended inside a value (serde_json's position: the last byte read).
    #[cold]
    #[inline(never)]
    fn eof(&self, parsing: &str) -> ScanError {
        let (line, column) = self.line_column(self.body.len());
        ScanError {
            message: format!("EOF while parsing {parsing} at line {line} column {column}"),
            eof: true,
        }
    }

    /// What the value at the position is, in serde's words, for "invalid type" errors. As
    /// serde_json does, a scalar is read first, so one cut short by the end of the body is an
    /// EOF error (a truncated answer) rather than a wrong type.
    #[cold]
    #[inline(never)]
    fn invalid_type(&mut self, expecting: &str) -> ScanError {
        let at = match self.peek() {
            None => return self.eof("a value"),
            Some(_) => self.pos,
        };
        let mut probe = Scanner {
            body: self.body,
            pos: at,
        };
        let found = match self.body[at] {
            b'{' => "map".to_string(),
            b'[' => "sequence".to_string(),
            b'"' => match probe.value::<Cow<'a, str>>() {
                Ok(text) => format!("string {text:?}"),
                Err(e) => return e,
            },
            b't' | b'f' => match probe.value::<bool>() {
                Ok(b) => format!("boolean `{b}`"),
                Err(e) => return e,
            },
            b'n' => match probe.null() {
                Ok(()) => "null".to_string(),
                Err(e) => return e,
            },
            b'-' | b'0'..=b'9' => match probe.value::<serde_json::Number>() {
                Ok(n) if n.is_f64() => format!("floating point `{n}`"),
                Ok(n) => format!("integer `{n}`"),
                Err(e) => return e,
            },
            _ => return self.error_at(at, "expected value"),
        };
        self.error_at(at, format!("invalid type: {found}, expected {expecting}"))
    }

    /// A serde_json error on the rest of the body, its position made absolute.
    fn serde_error(&self, e: &serde_json::Error) -> ScanError {
        let text = e.to_string();
        if e.line() == 0 {
            return ScanError {
                message: text,
                eof: e.is_eof(),
            };
        }
        let what = text
            .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
            .unwrap_or(&text);
        let (line0, column0) = self.line_column(self.pos);
        let (line, column) = if e.line() == 1 {
            (line0, column0 + e.column())
        } else {
            (line0 + e.line() - 1, e.column())
        };
        ScanError {
            message: format!("{what} at line {line} column {column}"),
            eof: e.is_eof(),
        }
    }

    /// The value at the position, read by serde_json (which also finds where it ends).
    pub fn value<T: Deserialize<'a>>(&mut self) -> Result<T> {
        let rest = &self.body[self.pos..];
        let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<T>();
        match stream.next() {
            Some(Ok(value)) => {
                self.pos += stream.byte_offset();
                Ok(value)
            }
            Some(Err(e)) => Err(self.serde_error(&e)),
            None => Err(self.eof("a value")),
        }
    }

    /// Skips the value at the position (serde_json checks it is JSON).
    pub fn skip(&mut self) -> Result<()> {
        self.value::<IgnoredAny>().map(|_| ())
    }

    /// Marks a struct's field as read; serde's derive refuses a field given twice, and so
    /// does this.
    pub fn once(&self, seen: &mut bool, field: &str) -> Result<()> {
        if std::mem::replace(seen, true) {
            return Err(self.error_at(self.pos, format!("duplicate field `{field}`")));
        }
        Ok(())
    }

    /// A list of the wrong length.
    pub fn invalid_length(&self, expecting: &str) -> ScanError {
        self.error_at(self.pos, format!("invalid length, expected {expecting}"))
    }

    /// Reads `{`, or `null` when `nullable` (then false).
    pub fn begin_object(&mut self, expecting: &str, nullable: bool) -> Result<bool> {
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'n') if nullable => self.null().map(|()| false),
            _ => Err(self.invalid_type(expecting)),
        }
    }

    /// The next key of the object begun and its `:`, or `None` after its `}`. `first` is true
    /// until the first key has been read.
    pub fn next_key(&mut self, first: &mut bool) -> Result<Option<Cow<'a, str>>> {
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                return Ok(None);
            }
            Some(b',') if !*first => {
                self.pos += 1;
                if self.peek() == Some(b'}') {
                    return Err(self.error_at(self.pos, "trailing comma"));
                }
            }
            None => return Err(self.eof("an object")),
            Some(_) if *first => {}
            Some(_) => return Err(self.error_at(self.pos, "expected `,` or `}`")),
        }
        *first = false;
        let key = match self.body.get(self.pos) {
            Some(b'"') => self.key()?,
            None => return Err(self.eof("an object")),
            Some(_) => return Err(self.error_at(self.pos, "key must be a string")),
        };
        match self.peek() {
            Some(b':') => self.pos += 1,
            None => return Err(self.eof("an object")),
            Some(_) => return Err(self.error_at(self.pos, "expected `:`")),
        }
        Ok(Some(key))
    }

    /// A key at its opening quote. Plain keys (no escape, no control character) are borrowed
    /// straight from the body; serde_json reads the rest and reports what is wrong.
    fn key(&mut self) -> Result<Cow<'a, str>> {
        let start = self.pos + 1;
        let plain_end = self.body[start..]
            .iter()
            .position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f))
            .map(|i| start + i)
            .filter(|end| self.body[*end] == b'"');
        if let Some(end) = plain_end {
            if let Ok(key) = std::str::from_utf8(&self.body[start..end]) {
                self.pos = end + 1;
                return Ok(Cow::Borrowed(key));
            }
        }
        self.value::<Cow<'a, str>>()
    }

    /// Reads `[`, or `null` when `nullable` (then false).
    pub fn begin_array(&mut self, expecting: &str, nullable: bool) -> Result<bool> {
        match self.peek() {
            Some(b'[') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'n') if nullable => self.null().map(|()| false),
            _ => Err(self.invalid_type(expecting)),
        }
    }

    /// Whether another element of the array begun follows (then the position is at it); false
    /// after its `]`. `first` is true until the first element has been read.
    #[inline]
    pub fn next_element(&mut self, first: &mut bool) -> Result<bool> {
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                return Ok(false);
            }
            Some(b',') if !*first => {
                self.pos += 1;
                if self.peek() == Some(b']') {
                    return Err(self.error_at(self.pos, "trailing comma"));
                }
            }
            None => return Err(self.eof("a list")),
            Some(_) if *first => {}
            Some(_) => return Err(self.error_at(self.pos, "expected `,` or `]`")),
        }
        *first = false;
        Ok(true)
    }

    /// The literal `null`.
    fn null(&mut self) -> Result<()> {
        for (i, expected) in b"null".iter().enumerate() {
            match self.body.get(self.pos + i) {
                Some(b) if b == expected => {}
                Some(_) => return Err(self.error_at(self.pos + i, "expected ident")),
                None => return Err(self.eof("a value")),
            }
        }
        self.pos += 4;
        Ok(())
    }

    /// `[number,number]` with no whitespace and no `null` at the position, the shape of every
    /// point of a compact v1 body, read in one go (a pair costs four `next_element`s on the
    /// general path). `None`, the position unchanged, for any other shape: the general path
    /// then reads it, and says what is wrong with it.
    #[inline]
    pub fn compact_pair(&mut self) -> Option<(f64, f64)> {
        let start = self.pos;
        let pair = self.compact_pair_here();
        if pair.is_none() {
            self.pos = start;
        }
        pair
    }

    #[inline(always)]
    fn compact_pair_here(&mut self) -> Option<(f64, f64)> {
        self.compact_byte(b'[')?;
        let first = self.compact_number()?;
        self.compact_byte(b',')?;
        let second = self.compact_number()?;
        self.compact_byte(b']')?;
        Some((first, second))
    }

    #[inline(always)]
    fn compact_byte(&mut self, byte: u8) -> Option<()> {
        (self.body.get(self.pos) == Some(&byte)).then(|| self.pos += 1)
    }

    #[inline(always)]
    fn compact_number(&mut self) -> Option<f64> {
        if !matches!(self.body.get(self.pos), Some(b'-' | b'0'..=b'9')) {
            return None;
        }
        let n = self.lex().ok()?;
        self.pos = n.end;
        to_f64(&n, self.body)
    }

    /// Reads the elements of the array just begun (the position is after its `[`) while each
    /// comes in the compact shape, an element `read` accepts followed at once by `,` or `]`,
    /// and hands each to `push` (a v2 `times` or `values` array of a compact body: one check
    /// of the byte after each element, where the general path peeks twice past whitespace).
    /// Returns whether the array's `]` was read; if not, the position is where the general
    /// path resumes, with [`Self::next_element`]'s `first` true again only when nothing was
    /// read: the comma before the element that did not fit, which the general path then
    /// reads, reports or refuses (`[1,]`, `[1 ,2]`, `"x"`).
    #[inline(always)]
    pub fn compact_elements<T>(
        &mut self,
        mut read: impl FnMut(&mut Self) -> Option<T>,
        mut push: impl FnMut(T),
        first: &mut bool,
    ) -> bool {
        let mut resume = self.pos;
        while let Some(value) = read(self) {
            let after = self.body.get(self.pos).copied();
            if !matches!(after, Some(b',' | b']')) {
                break;
            }
            // One call of `push` in the loop, so that it is inlined (with two, one per
            // delimiter, it was a call per number).
            push(value);
            if after == Some(b']') {
                self.pos += 1;
                return true;
            }
            *first = false;
            resume = self.pos;
            self.pos += 1;
        }
        self.pos = resume;
        false
    }

    /// A number or `null` with nothing before it, or `None` (the position may have moved: only
    /// for [`Self::compact_elements`], which puts it back).
    #[inline(always)]
    pub fn compact_f64_or_null(&mut self) -> Option<Option<f64>> {
        if self.body.get(self.pos..self.pos + 4) == Some(b"null") {
            self.pos += 4;
            return Some(None);
        }
        self.compact_number().map(Some)
    }

    /// A timestamp in ms written as an integer of at most 18 digits with nothing before it, or
    /// `None` (the position may have moved; floats, signs and longer integers take the general
    /// path, [`Self::millis`]).
    #[inline(always)]
    pub fn compact_millis(&mut self) -> Option<i64> {
        let start = self.pos;
        if !matches!(self.body.get(start), Some(b'1'..=b'9')) {
            return None;
        }
        let mut digits = 0;
        self.pos = digits_into(self.body, start, &mut digits);
        let integral = !matches!(self.body.get(self.pos), Some(b'.' | b'e' | b'E'));
        (integral && self.pos - start <= 18).then_some(digits as i64)
    }

    /// A number or `null`, as serde reads an `Option<f64>`: integers too, and an exponent out
    /// of f64's range is an error.
    #[inline]
    pub fn f64_or_null(&mut self) -> Result<Option<f64>> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => {
                let n = self.lex_number()?;
                self.f64_of(&n).map(Some)
            }
            Some(b'n') => self.null().map(|()| None),
            _ => Err(self.invalid_type("a number or null")),
        }
    }

    /// A timestamp in ms: an integer (any i64), or a float (rounded; finite and below 9e15).
    pub fn millis(&mut self) -> Result<i64> {
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return Err(self.invalid_type("a timestamp in milliseconds"));
        }
        let start = self.pos;
        let n = self.lex_number()?;
        match n.integer() {
            Some(m) if !n.negative => {
                return i64::try_from(m)
                    .map_err(|_| self.error_at(start, format!("timestamp {m} is out of range")))
            }
            // -2^63 is the smallest i64; larger magnitudes are floats, out of range below.
            Some(m) if m <= 1 << 63 => return Ok((-i128::from(m)) as i64),
            _ => {}
        }
        let v = self.f64_of(&n)?;
        if v.is_finite() && v.abs() < 9.0e15 {
            Ok(v.round() as i64)
        } else {
            Err(self.error_at(start, format!("timestamp {v} is out of range")))
        }
    }

    /// Delimits the number at the position by JSON's grammar
    /// (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`), moving past it, and collects
    /// its digits as an integer and a power of ten on the way.
    #[inline(always)]
    fn lex_number(&mut self) -> Result<Lexed> {
        match self.lex() {
            Ok(n) => {
                self.pos = n.end;
                Ok(n)
            }
            Err(at) => Err(self.number_error(at)),
        }
    }

    /// [`Self::lex_number`] without moving or building an error: the number, or the position
    /// of the byte that breaks the grammar (the body's length when it ends first).
    #[inline(always)]
    fn lex(&self) -> std::result::Result<Lexed, usize> {
        let body = self.body;
        let start = self.pos;
        let mut i = start;
        let negative = body.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        // Wrapping: the digits are used only when there are at most 19 of them, which never
        // overflow a u64.
        let mut digits: u64 = 0;
        let int_start = i;
        match body.get(i) {
            Some(b'0') => {
                i += 1;
                if let Some(b'0'..=b'9') = body.get(i) {
                    return Err(i);
                }
            }
            Some(b'1'..=b'9') => i = digits_into(body, i, &mut digits),
            _ => return Err(i),
        }
        let int_len = i - int_start;
        let mut frac_len = 0;
        let mut leading_zeros = 0;
        let mut exponent: i64 = 0;
        let mut integral = true;
        if body.get(i) == Some(&b'.') {
            integral = false;
            i += 1;
            let frac_start = i;
            first_digit(body, i)?;
            i = digits_into(body, i, &mut digits);
            frac_len = i - frac_start;
            if body[int_start] == b'0' {
                // `0.000…`: zeros before the first significant digit add nothing to `digits`,
                // so they do not count against the 19 digits a u64 holds.
                leading_zeros = 1 + body[frac_start..i]
                    .iter()
                    .take_while(|d| **d == b'0')
                    .count();
            }
        }
        if let Some(b'e' | b'E') = body.get(i) {
            integral = false;
            i += 1;
            let negative_exp = body.get(i) == Some(&b'-');
            if let Some(b'+' | b'-') = body.get(i) {
                i += 1;
            }
            first_digit(body, i)?;
            while let Some(&d @ b'0'..=b'9') = body.get(i) {
                // Capped: past 10^6 the value is 0 or out of range whatever the digits.
                exponent = (exponent * 10 + i64::from(d - b'0')).min(1_000_000);
                i += 1;
            }
            if negative_exp {
                exponent = -exponent;
            }
        }
        Ok(Lexed {
            start,
            end: i,
            digits,
            exponent: exponent - frac_len as i64,
            negative,
            integral,
            exact: int_len + frac_len - leading_zeros <= 19,
        })
    }

    /// serde_json's error for a number that breaks the grammar at `at`.
    #[cold]
    #[inline(never)]
    fn number_error(&self, at: usize) -> ScanError {
        if at >= self.body.len() {
            self.eof("a value")
        } else {
            self.error_at(at, "invalid number")
        }
    }

    /// The f64 of a lexed number, or serde_json's error for one beyond f64's range.
    #[inline(always)]
    fn f64_of(&self, n: &Lexed) -> Result<f64> {
        to_f64(n, self.body).ok_or_else(|| self.error_at(n.start, "number out of range"))
    }
}

/// A digit must be at `i` (after `.`, `e` or its sign), or the grammar breaks there.
#[inline(always)]
fn first_digit(body: &[u8], i: usize) -> std::result::Result<(), usize> {
    match body.get(i) {
        Some(b'0'..=b'9') => Ok(()),
        _ => Err(i),
    }
}

/// The f64 of a lexed number in `body`; `None` beyond f64's range (serde_json refuses `1e309`
/// rather than making it infinite). Where the digits fit 2^53 and the power of ten is at most
/// 22, both are exact f64s and one multiplication or division rounds correctly (Clinger's fast
/// path, the first step of every float parser, std's included): done here on the digits
/// already read, so a short value is not read twice. Up to 19 digits, Eisel-Lemire (the 16-17
/// digit values Datadog sends are past 2^53). The rest goes to the standard library's parser
/// (Eisel-Lemire with a correct fallback, the fast-float algorithm). It accepts more than JSON
/// (`inf`, `+1`, `1.`), which is why the text was checked first.
#[inline(always)]
fn to_f64(n: &Lexed, body: &[u8]) -> Option<f64> {
    if n.exact && n.digits <= EXACT_INT && n.exponent.abs() <= 22 {
        let v = n.digits as f64;
        let v = if n.exponent < 0 {
            v / POW10[n.exponent.unsigned_abs() as usize]
        } else {
            v * POW10[n.exponent as usize]
        };
        return Some(if n.negative { -v } else { v });
    }
    to_f64_beyond_fast_path(n, body)
}

/// [`to_f64`] for what Clinger's fast path does not settle (kept out of line, so the fast path
/// stays small where it is inlined).
#[inline(never)]
fn to_f64_beyond_fast_path(n: &Lexed, body: &[u8]) -> Option<f64> {
    if let Some((digits, exp)) = n.decimal() {
        // Eisel-Lemire on the digits already read: correctly rounded unless it reports the
        // value too close to halfway between two floats (a negative exponent), which the
        // text then settles. lexical's copy of the algorithm (fast-float-rust's) is public
        // but hidden; Cargo.lock pins the version and the number tests check it bit for
        // bit against std's parser.
        let fp = lemire::compute_float::<f64>(exp, digits, false);
        if fp.exp >= 0 {
            if fp.exp >= F64_INFINITE_EXP {
                return None;
            }
            let bits = fp.mant | (fp.exp as u64) << 52 | u64::from(n.negative) << 63;
            return Some(f64::from_bits(bits));
        }
    }
    // The text is ASCII digits, signs, `.`, `e` and `E`: always UTF-8.
    std::str::from_utf8(&body[n.start..n.end])
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// Reads the run of digits from `i` into `digits` (wrapping: the caller uses `digits` only when
/// there are at most 19) and returns where the run ends. Up to eight digits at a time (SWAR, as
/// fast_float and simdjson do): a Datadog number has 13 to 17 digits in runs of 2 to 15, which
/// the byte loop took one multiply-add and one branch each.
#[inline(always)]
fn digits_into(body: &[u8], mut i: usize, digits: &mut u64) -> usize {
    while let Some(bytes) = body.get(i..i + 8) {
        let chunk = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
        let n = leading_digits(chunk);
        if n == 0 {
            return i;
        }
        *digits = digits
            .wrapping_mul(POW10_U64[n])
            .wrapping_add(digits_value(chunk, n));
        i += n;
        if n < 8 {
            return i;
        }
    }
    // The last seven bytes of the body.
    while let Some(&d @ b'0'..=b'9') = body.get(i) {
        *digits = digits.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        i += 1;
    }
    i
}

/// How many of the eight bytes (first byte lowest) are ASCII digits before the first that is
/// not.
#[inline(always)]
fn leading_digits(chunk: u64) -> usize {
    // A byte is 0x30..=0x39 exactly when its high nibble is 3 and stays 3 after adding 6. A
    // byte of 0xFA or more carries into the next one, but only bytes after the first
    // non-digit can be disturbed so, and they are not counted.
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    let not_digit =
        ((chunk & HIGH) ^ THREES) | ((chunk.wrapping_add(0x0606_0606_0606_0606) & HIGH) ^ THREES);
    (not_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (1 to 8) bytes of `chunk`, all ASCII digits.
#[inline(always)]
fn digits_value(chunk: u64, n: usize) -> u64 {
    // The n digits moved to the top and '0's put below them: the same value as eight digits.
    let chunk = if n == 8 {
        chunk
    } else {
        let shift = 8 * (8 - n) as u32;
        (chunk << shift) | (0x3030_3030_3030_3030 >> (64 - shift))
    };
    // Pairs, then quadruples, then the eight (the first digit is the lowest byte).
    let v = chunk - 0x3030_3030_3030_3030;
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let low = (v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let high = ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    low.wrapping_add(high) >> 32
}

/// 10^n for the digit runs.
const POW10_U64: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The powers of ten an f64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(text: &str) -> Result<Vec<Option<f64>>> {
        let mut s = Scanner::new(text.as_bytes());
        let mut out = Vec::new();
        s.begin_array("an array", false)?;
        let mut first = true;
        while s.next_element(&mut first)? {
            out.push(s.f64_or_null()?);
        }
        s.end()?;
        Ok(out)
    }

    #[test]
    fn numbers_read_as_serde_reads_them() {
        let text = "[0, -0, 1, -1, 1.5, -2.25e3, 1E-2, 12.345678901234567, 91.64146314991845,
            1767225600000.0, 9007199254740993, 18446744073709551616, 1e-400, 5e-324, null,
            0.1, 123456789012345678901234567890, 2.2250738585072014e-308, 4.511036,
            91.4583840476142, 1e22, 1e23, 9007199254740992e-22, 9007199254740993e-22, -123.456e-5,
            0.000001234, 1234567890123456789e-3, 12345678901234567890e-3, 7e-23, 5e+22]";
        // Digit-run ends, the limits of f64 and halfway cases: std's value, which serde_json
        // (not correctly rounding) may miss or refuse (1.7976931348623158e308).
        let edges =
            "[12345678, 123456789, 1234567890123456, 12345678901234567, 1234567890123456789,
            0.12345678, 0.123456789012345678, 0.0000000000000000001234567890123456789,
            0.00000000000000000000000000000000000000000000000000000000000000000000000000001,
            99999999.99999999, 18446744073709551615, 18446744073709551615e-10, 4.9e-324,
            2.4703282292062328e-324, 2.4703282292062327e-324, 1.7976931348623157e308,
            1.7976931348623158e308, 2.2250738585072011e-308, 1e-320, 8.98846567431158e307,
            9007199254740993e10, 0.30000000000000004, 1767225600000.0, 1767225600.123]";
        let std = |text: &str| -> Vec<Option<f64>> {
            text.trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|t| t.trim().parse::<f64>().ok())
                .collect()
        };
        // Bit for bit what std's parser (correctly rounding) gives, -0 included.
        let bits = |v: &[Option<f64>]| v.iter().map(|x| x.map(f64::to_bits)).collect::<Vec<_>>();
        assert_eq!(bits(&numbers(edges).unwrap()), bits(&std(edges)));
        let got = numbers(text).unwrap();
        assert_eq!(bits(&got), bits(&std(text)));
        // serde_json (without its `float_roundtrip` feature) is within one ulp, and not always
        // correctly rounded: 91.64146314991845, from a recorded Datadog body, comes out one ulp
        // low there.
        let serde: Vec<Option<f64>> = serde_json::from_str(text).unwrap();
        for (ours, theirs) in bits(&got).into_iter().zip(bits(&serde)) {
            let (ours, theirs) = (ours.unwrap_or(0), theirs.unwrap_or(0));
            assert!(ours.abs_diff(theirs) <= 1, "{ours} {theirs}");
        }
        assert_eq!(serde[8].map(f64::to_bits), got[8].map(|v| v.to_bits() - 1));
    }

    #[test]
    fn random_numbers_read_as_std_reads_them() {
        // Every path (eight-digit runs and their ends, fast path, Eisel-Lemire, std on the
        // text) against std's correctly rounding parser: random floats in their shortest,
        // exponent and fixed forms, and random digit strings of 1 to 24 digits with a point
        // and an exponent anywhere.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(19);
        let mut texts = Vec::new();
        for _ in 0..20_000 {
            let v = f64::from_bits(rng.random::<u64>());
            if v.is_finite() {
                texts.push(format!("{v}"));
                texts.push(format!("{v:e}"));
            }
            let small = rng.random_range(-1.0e6..1.0e6) * 10f64.powi(rng.random_range(-12..12));
            texts.push(format!("{:.*}", rng.random_range(0..20), small));
            let len = rng.random_range(1..=24);
            let mut digits: String = (0..len)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            if digits.len() > 1 && digits.starts_with('0') {
                digits.replace_range(0..1, "0.");
            } else if rng.random_bool(0.5) {
                let at = rng.random_range(1..=digits.len());
                if at < digits.len() {
                    digits.insert(at, '.');
                }
            }
            if rng.random_bool(0.3) {
                digits.push_str(&format!("e{}", rng.random_range(-330..310)));
            }
            if rng.random_bool(0.5) {
                digits.insert(0, '-');
            }
            texts.push(digits);
        }
        // What overflows is an error (tested below), so it is left out here.
        texts.retain(|t| t.parse::<f64>().unwrap().is_finite());
        let body = format!("[{}]", texts.join(","));
        let got = numbers(&body).unwrap();
        assert_eq!(got.len(), texts.len());
        for (text, got) in texts.iter().zip(got) {
            let want = text.parse::<f64>().unwrap();
            assert_eq!(got.map(f64::to_bits), Some(want.to_bits()), "{text}");
        }
    }

    #[test]
    fn digit_runs_of_every_length() {
        let chunk = |b: &[u8; 8]| u64::from_le_bytes(*b);
        assert_eq!(leading_digits(chunk(b"12345678")), 8);
        assert_eq!(digits_value(chunk(b"12345678"), 8), 12_345_678);
        assert_eq!(leading_digits(chunk(b"00000000")), 8);
        assert_eq!(digits_value(chunk(b"99999999"), 8), 99_999_999);
        assert_eq!(leading_digits(chunk(b"51.94616")), 2);
        assert_eq!(digits_value(chunk(b"51.94616"), 2), 51);
        assert_eq!(leading_digits(chunk(b"0012],[1")), 4);
        assert_eq!(digits_value(chunk(b"0012],[1"), 4), 12);
        assert_eq!(leading_digits(chunk(b"]1234567")), 0);
        // Every non-digit byte at every place ends the run there, whatever follows it.
        for at in 0..8 {
            for b in (0..=255u8).filter(|b| !b.is_ascii_digit()) {
                let mut bytes = *b"73737373";
                bytes[at] = b;
                assert_eq!(leading_digits(chunk(&bytes)), at, "byte {b} at {at}");
                if at > 0 {
                    let want: u64 = std::str::from_utf8(&bytes[..at]).unwrap().parse().unwrap();
                    assert_eq!(digits_value(chunk(&bytes), at), want);
                }
            }
        }
    }

    #[test]
    fn what_json_refuses_is_refused() {
        for bad in [
            "[01]",
            "[1.]",
            "[.5]",
            "[+1]",
            "[1e]",
            "[1e+]",
            "[-]",
            "[NaN]",
            "[Infinity]",
            "[1,]",
            "[1 2]",
            "[nul]",
            "[\"1\"]",
            "[1e309]",
            "[-1e309]",
            "[1]x",
            "[true]",
            "[0x1]",
        ] {
            let err = numbers(bad).unwrap_err();
            assert!(!err.eof, "{bad}: {}", err.message);
            assert!(
                serde_json::from_str::<Vec<Option<f64>>>(bad).is_err(),
                "{bad}"
            );
        }
        for cut in ["[1", "[1,", "[1.", "[1e", "[-", "[nu", "[", "[1.5e-"] {
            let err = numbers(cut).unwrap_err();
            assert!(err.eof, "{cut}: {}", err.message);
            assert!(err.message.contains("EOF"), "{cut}: {}", err.message);
        }
    }

    #[test]
    fn errors_give_serde_json_s_message_and_position() {
        // The whole body through serde_json, and through the scanner with serde_json reading
        // one value in the middle: the same message, at the same line and column.
        let check = |body: &str, read: &dyn Fn(&mut Scanner) -> Result<()>| {
            let ours = read(&mut Scanner::new(body.as_bytes())).unwrap_err();
            let serde = serde_json::from_str::<IgnoredAny>(body).unwrap_err();
            assert_eq!(ours.message, serde.to_string(), "{body}");
            assert_eq!(ours.eof, serde.is_eof(), "{body}");
        };
        let skip_a = |s: &mut Scanner| -> Result<()> {
            let mut first = true;
            s.begin_object("an object", false)?;
            s.next_key(&mut first)?;
            s.skip()
        };
        check("{\n \"a\": [1, tru]}", &skip_a);
        check("{\"a\":\n\n  {\"b\": [1,\n 2 3]}}", &skip_a);
        check("{\"a\": [1, 2", &skip_a);
        check("{\"a\": \"x", &skip_a);
        let numbers_in_a = |s: &mut Scanner| -> Result<()> {
            let mut first = true;
            s.begin_object("an object", false)?;
            s.next_key(&mut first)?;
            s.begin_array("an array", false)?;
            let mut first = true;
            while s.next_element(&mut first)? {
                s.f64_or_null()?;
            }
            Ok(())
        };
        check("{\"a\": [1,\n  2 3]}", &numbers_in_a);
        check("{\"a\": [1,\n  2", &numbers_in_a);
        check("{\"a\": [1,\n  01]}", &numbers_in_a);
    }

    #[test]
    fn timestamps_take_integers_and_floats() {
        let read = |t: &str| Scanner::new(t.as_bytes()).millis();
        assert_eq!(read("1767225600000").unwrap(), 1_767_225_600_000);
        assert_eq!(read("1767225600000.4").unwrap(), 1_767_225_600_000);
        assert_eq!(read("-9223372036854775808").unwrap(), i64::MIN);
        assert_eq!(read("9223372036854775807").unwrap(), i64::MAX);
        assert_eq!(read("-0").unwrap(), 0);
        for bad in [
            "9223372036854775808",
            "-9223372036854775809",
            "1e16",
            "\"x\"",
            "null",
        ] {
            let err = read(bad).unwrap_err();
            assert!(
                err.message.contains("out of range") || err.message.contains("timestamp"),
                "{bad}: {}",
                err.message
            );
        }
    }

    #[test]
    fn keys_with_escapes_go_through_serde() {
        let mut s = Scanner::new(
            br#"{"plain": 1, "esc\u0061ped": 2, "bad
": 3}"#,
        );
        let mut first = true;
        s.begin_object("an object", false).unwrap();
        assert_eq!(s.next_key(&mut first).unwrap().as_deref(), Some("plain"));
        s.skip().unwrap();
        assert_eq!(s.next_key(&mut first).unwrap().as_deref(), Some("escaped"));
        s.skip().unwrap();
        let err = s.next_key(&mut first).unwrap_err();
        assert!(err.message.contains("control character"), "{}", err.message);
    }
}
