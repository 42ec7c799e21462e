//! `Range` request header evaluation (RFC 9110 §14) for a resource whose
//! length is known: what `GET /stream/ID/N` answers.
//!
//! [`evaluate`] turns the header value and the resource length into a
//! [`RangeDecision`]:
//!
//! - no header, a unit other than `bytes`, or a syntactically invalid
//!   ranges-specifier (including `last-pos < first-pos`): the header is
//!   ignored and the whole resource is sent, `200` (§14.2: a server MUST
//!   ignore unknown units and MAY ignore invalid ones);
//! - one satisfiable range: `206` with `Content-Range: bytes a-b/LEN`;
//! - no satisfiable range: `416` with `Content-Range: bytes */LEN`.
//!
//! Grammar accepted (§14.1.1): `bytes=a-b`, `bytes=a-` and the suffix form
//! `bytes=-n` (the last `n` bytes). The unit is case-insensitive. We are
//! lenient about whitespace (spaces and tabs around the whole value, around
//! `=`, around `-` and around list commas) and skip empty list elements as
//! §5.6.1 requires; digits themselves may not contain whitespace. Numbers
//! of any length are accepted without overflow: a position beyond `u64`
//! is simply beyond the end of the resource, and `first-pos > last-pos` is
//! decided on the exact decimal values.
//!
//! Multiple ranges: we never send `multipart/byteranges`. The satisfiable
//! ranges are coalesced (overlapping or adjacent ones merged, which §14.2
//! allows); if that leaves one range we answer it as a single `206`,
//! otherwise we ignore the header and send `200` with the whole resource,
//! which §14.2 also allows (a server MAY ignore `Range`). A request with
//! more than [`MAX_RANGES`] ranges is ignored the same way (§14.2 names
//! many small ranges as a denial-of-service sign). Unsatisfiable members of
//! a multi-range set are dropped; only when none is satisfiable is it `416`.
//!
//! A zero-length resource: every `a-b`/`a-` range is unsatisfiable (`416`),
//! while `-n` with `n > 0` is satisfiable (§14.1.1) but selects nothing that
//! `Content-Range` could express, so we answer `200` with the empty body.
//! `bytes=-0` is always unsatisfiable.
//!
//! Range handling is defined for GET only (§14.2); a HEAD answers with the
//! same status and headers a GET would. `If-Range` is not evaluated here.
//! As long as the server sends no validators (`ETag`, `Last-Modified`), no
//! `If-Range` can match one of ours, and §13.1.5 then says to ignore
//! `Range`: a request carrying `If-Range` gets [`RangeDecision::Full`]
//! (the caller skips [`evaluate`]).

use std::cmp::Ordering;

/// Most ranges in one header we consider; more and the header is ignored.
pub const MAX_RANGES: usize = 16;

/// What to send for a request, given its `Range` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeDecision {
    /// `200 OK` with the whole resource.
    Full,
    /// `206 Partial Content` with bytes `start..=end_inclusive`; always
    /// `start <= end_inclusive < len`.
    Partial { start: u64, end_inclusive: u64 },
    /// `416 Range Not Satisfiable` with `Content-Range: bytes */LEN`.
    Unsatisfiable,
}

impl RangeDecision {
    /// The HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RangeDecision::Full => 200,
            RangeDecision::Partial { .. } => 206,
            RangeDecision::Unsatisfiable => 416,
        }
    }

    /// The `Content-Range` value for a resource of `len` bytes, if the
    /// response carries one (`206` and `416`).
    pub fn content_range(&self, len: u64) -> Option<String> {
        match self {
            RangeDecision::Full => None,
            RangeDecision::Partial {
                start,
                end_inclusive,
            } => Some(format!("bytes {start}-{end_inclusive}/{len}")),
            RangeDecision::Unsatisfiable => Some(format!("bytes */{len}")),
        }
    }

    /// How many body bytes the response carries (its `Content-Length`).
    pub fn body_len(&self, len: u64) -> u64 {
        match self {
            RangeDecision::Full => len,
            RangeDecision::Partial {
                start,
                end_inclusive,
            } => end_inclusive
                .checked_sub(*start)
                .and_then(|d| d.checked_add(1))
                .unwrap_or(0),
            RangeDecision::Unsatisfiable => 0,
        }
    }
}

/// Decides what to send for a resource of `len` bytes given the request's
/// `Range` header value (`None` when the request has none). Never panics.
pub fn evaluate(header: Option<&str>, len: u64) -> RangeDecision {
    let Some(value) = header else {
        return RangeDecision::Full;
    };
    let Some((unit, set)) = trim_ows(value).split_once('=') else {
        return RangeDecision::Full;
    };
    if !trim_ows(unit).eq_ignore_ascii_case("bytes") {
        return RangeDecision::Full;
    }

    // Satisfiable ranges as (start, end_inclusive); at most MAX_RANGES.
    let mut picked = [(0u64, 0u64); MAX_RANGES];
    let mut n_picked = 0usize;
    let mut n_specs = 0usize;
    // A satisfiable suffix range on an empty resource (selects nothing).
    let mut empty_selection = false;

    for element in set.split(',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        n_specs += 1;
        if n_specs > MAX_RANGES {
            return RangeDecision::Full;
        }
        let Some(spec) = parse_spec(element) else {
            return RangeDecision::Full;
        };
        match resolve(spec, len) {
            Resolved::Range(start, end) => {
                if let Some(slot) = picked.get_mut(n_picked) {
                    *slot = (start, end);
                    n_picked += 1;
                }
            }
            Resolved::Empty => empty_selection = true,
            Resolved::Unsatisfiable => {}
        }
    }
    if n_specs == 0 {
        return RangeDecision::Full;
    }
    let ranges = picked.get_mut(..n_picked).unwrap_or(&mut []);
    if ranges.is_empty() {
        return if empty_selection {
            RangeDecision::Full
        } else {
            RangeDecision::Unsatisfiable
        };
    }
    match coalesce(ranges) {
        Some((start, end_inclusive)) => RangeDecision::Partial {
            start,
            end_inclusive,
        },
        None => RangeDecision::Full,
    }
}

/// One syntactically valid range-spec.
#[derive(Clone, Copy, Debug)]
enum Spec {
    /// `first-` or `first-last`.
    Int { first: u64, last: Option<u64> },
    /// `-n`.
    Suffix(u64),
}

enum Resolved {
    Range(u64, u64),
    /// Satisfiable but selects no byte (suffix range on an empty resource).
    Empty,
    Unsatisfiable,
}

fn parse_spec(element: &str) -> Option<Spec> {
    let (first, last) = element.split_once('-')?;
    let (first, last) = (trim_ows(first), trim_ows(last));
    if first.is_empty() {
        let n = Decimal::parse(last)?;
        return Some(Spec::Suffix(n.saturated()));
    }
    let first = Decimal::parse(first)?;
    if last.is_empty() {
        return Some(Spec::Int {
            first: first.saturated(),
            last: None,
        });
    }
    let last = Decimal::parse(last)?;
    if first.cmp_exact(&last) == Ordering::Greater {
        return None;
    }
    Some(Spec::Int {
        first: first.saturated(),
        last: Some(last.saturated()),
    })
}

/// Applies a spec to a resource of `len` bytes. Saturated numbers give the
/// right answer: a position above `u64::MAX` is past any end.
fn resolve(spec: Spec, len: u64) -> Resolved {
    let Some(last_byte) = len.checked_sub(1) else {
        // Empty resource: only a non-zero suffix is satisfiable.
        return match spec {
            Spec::Suffix(n) if n > 0 => Resolved::Empty,
            _ => Resolved::Unsatisfiable,
        };
    };
    match spec {
        Spec::Int { first, last } => {
            if first > last_byte {
                return Resolved::Unsatisfiable;
            }
            let end = last.map_or(last_byte, |l| l.min(last_byte));
            Resolved::Range(first, end)
        }
        Spec::Suffix(0) => Resolved::Unsatisfiable,
        Spec::Suffix(n) => Resolved::Range(len - n.min(len), last_byte),
    }
}

/// Sorts and merges overlapping or adjacent ranges; the single range they
/// form, or `None` if they stay disjoint.
fn coalesce(ranges: &mut [(u64, u64)]) -> Option<(u64, u64)> {
    ranges.sort_unstable();
    let (&first, rest) = ranges.split_first()?;
    let (start, mut end) = first;
    for &(s, e) in rest {
        // Adjacent when s == end + 1; `end` < len <= u64::MAX, no overflow.
        if s > end.saturating_add(1) {
            return None;
        }
        end = end.max(e);
    }
    Some((start, end))
}

/// A non-empty run of ASCII digits, kept exact for comparison.
struct Decimal<'a> {
    /// The digits without leading zeros ("" for zero).
    significant: &'a str,
}

impl<'a> Decimal<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Decimal {
            significant: s.trim_start_matches('0'),
        })
    }

    /// The value, or `u64::MAX` if it does not fit.
    fn saturated(&self) -> u64 {
        self.significant
            .bytes()
            .try_fold(0u64, |acc, b| {
                acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            })
            .unwrap_or(u64::MAX)
    }

    fn cmp_exact(&self, other: &Decimal<'_>) -> Ordering {
        self.significant
            .len()
            .cmp(&other.significant.len())
            .then_with(|| self.significant.cmp(other.significant))
    }
}

/// Strips optional whitespace (SP / HTAB, RFC 9110 §5.6.3) at both ends.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

#[cfg(test)]
#[path = "range_tests.rs"]
mod tests;
