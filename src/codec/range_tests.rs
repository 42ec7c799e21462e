//! Tests for `range.rs`: every form of RFC 9110 §14.1.1, the ignore / 416
//! boundaries, multi-range coalescing, overflow and empty resources.

use super::*;

fn p(start: u64, end_inclusive: u64) -> RangeDecision {
    RangeDecision::Partial {
        start,
        end_inclusive,
    }
}

fn ev(h: &str, len: u64) -> RangeDecision {
    evaluate(Some(h), len)
}

const FULL: RangeDecision = RangeDecision::Full;
const UNSAT: RangeDecision = RangeDecision::Unsatisfiable;

#[test]
fn no_header_is_full() {
    assert_eq!(evaluate(None, 1000), FULL);
    assert_eq!(evaluate(None, 0), FULL);
}

#[test]
fn simple_forms() {
    assert_eq!(ev("bytes=0-499", 10_000), p(0, 499));
    assert_eq!(ev("bytes=500-999", 10_000), p(500, 999));
    assert_eq!(ev("bytes=9500-", 10_000), p(9500, 9999));
    assert_eq!(ev("bytes=0-", 10_000), p(0, 9999));
    assert_eq!(ev("bytes=-500", 10_000), p(9500, 9999));
    assert_eq!(ev("bytes=0-0", 10_000), p(0, 0));
    assert_eq!(ev("bytes=9999-9999", 10_000), p(9999, 9999));
    assert_eq!(ev("bytes=-1", 10_000), p(9999, 9999));
}

#[test]
fn end_past_length_is_clamped() {
    assert_eq!(ev("bytes=0-20000", 10_000), p(0, 9999));
    assert_eq!(ev("bytes=9999-10000", 10_000), p(9999, 9999));
    assert_eq!(ev("bytes=-20000", 10_000), p(0, 9999));
    assert_eq!(ev("bytes=-10000", 10_000), p(0, 9999));
}

#[test]
fn unsatisfiable() {
    assert_eq!(ev("bytes=10000-", 10_000), UNSAT);
    assert_eq!(ev("bytes=10000-20000", 10_000), UNSAT);
    assert_eq!(ev("bytes=-0", 10_000), UNSAT);
    assert_eq!(ev("bytes=-000", 10_000), UNSAT);
    assert_eq!(ev("bytes=20000-30000, 10000-", 10_000), UNSAT);
}

#[test]
fn unit_and_syntax_errors_are_ignored() {
    for h in [
        "",
        "bytes",
        "bytes=",
        "bytes= ,",
        "=0-1",
        "items=0-1",
        "bits=0-1",
        "bytes0-1",
        "bytes=1",
        "bytes=-",
        "bytes=a-b",
        "bytes=0-1x",
        "bytes=+0-1",
        "bytes=0x10-20",
        "bytes=--5",
        "bytes=1-2-3",
        "bytes=-5-",
        "bytes=5-4",
        "bytes=0-1,5-4",
        "bytes=0-1,junk",
        "bytes=0 1-2",
        "bytes=１-2",
        "bytes=0-1;q=1",
        "bytes=0-1 bytes=2-3",
    ] {
        assert_eq!(ev(h, 10_000), FULL, "{h:?}");
    }
}

#[test]
fn unit_is_case_insensitive_and_whitespace_tolerated() {
    assert_eq!(ev("BYTES=0-1", 10), p(0, 1));
    assert_eq!(ev("Bytes=0-1", 10), p(0, 1));
    assert_eq!(ev("  bytes=0-1  ", 10), p(0, 1));
    assert_eq!(ev("bytes = 0-1", 10), p(0, 1));
    assert_eq!(ev("bytes=\t0 - 1\t", 10), p(0, 1));
    assert_eq!(ev("bytes= - 3", 10), p(7, 9));
    assert_eq!(ev("bytes=0-1,", 10), p(0, 1));
    assert_eq!(ev("bytes=, ,0-1, ,", 10), p(0, 1));
}

#[test]
fn leading_zeros() {
    assert_eq!(ev("bytes=000-0009", 100), p(0, 9));
    assert_eq!(ev("bytes=-0010", 100), p(90, 99));
    // 010 > 9 exactly, despite the longer "9" string comparison pitfalls.
    assert_eq!(ev("bytes=010-9", 100), FULL);
    assert_eq!(ev("bytes=9-010", 100), p(9, 10));
}

#[test]
fn huge_numbers_do_not_overflow() {
    let huge = "123456789012345678901234567890";
    let max = u64::MAX;
    assert_eq!(ev(&format!("bytes={huge}-"), 10), UNSAT);
    assert_eq!(ev(&format!("bytes=0-{huge}"), 10), p(0, 9));
    assert_eq!(ev(&format!("bytes=-{huge}"), 10), p(0, 9));
    // first > last decided exactly even when both exceed u64.
    let bigger = "123456789012345678901234567891";
    assert_eq!(ev(&format!("bytes={bigger}-{huge}"), 10), FULL);
    assert_eq!(ev(&format!("bytes={huge}-{bigger}"), 10), UNSAT);
    assert_eq!(ev(&format!("bytes={huge}-5"), 10), FULL);
    // Boundaries at u64::MAX.
    assert_eq!(ev(&format!("bytes={max}-"), max), UNSAT);
    assert_eq!(ev(&format!("bytes={}-", max - 1), max), p(max - 1, max - 1));
    assert_eq!(ev(&format!("bytes=0-{max}"), max), p(0, max - 1));
    assert_eq!(ev(&format!("bytes=-{max}"), max), p(0, max - 1));
    assert_eq!(ev("bytes=-1", max), p(max - 1, max - 1));
    assert_eq!(ev(&format!("bytes=-{huge}"), max), p(0, max - 1));
    assert_eq!(ev("bytes=18446744073709551616-", max), UNSAT);
    // Lots of digits.
    let long = "9".repeat(5000);
    assert_eq!(ev(&format!("bytes=0-{long}"), 10), p(0, 9));
    let zeros = format!("{}5", "0".repeat(5000));
    assert_eq!(ev(&format!("bytes={zeros}-{zeros}"), 10), p(5, 5));
}

#[test]
fn zero_length_resource() {
    assert_eq!(ev("bytes=0-", 0), UNSAT);
    assert_eq!(ev("bytes=0-0", 0), UNSAT);
    assert_eq!(ev("bytes=0-100", 0), UNSAT);
    assert_eq!(ev("bytes=-0", 0), UNSAT);
    // Satisfiable per RFC but selects nothing: send the (empty) whole.
    assert_eq!(ev("bytes=-1", 0), FULL);
    assert_eq!(ev("bytes=-1, 0-", 0), FULL);
    assert_eq!(ev("junk", 0), FULL);
}

#[test]
fn multi_range_coalescing() {
    // Overlapping and adjacent ranges merge into one.
    assert_eq!(ev("bytes=0-99,50-199", 1000), p(0, 199));
    assert_eq!(ev("bytes=0-99,100-199", 1000), p(0, 199));
    assert_eq!(ev("bytes=100-199,0-99", 1000), p(0, 199));
    assert_eq!(ev("bytes=0-0,0-0", 1000), p(0, 0));
    assert_eq!(ev("bytes=10-20,0-", 1000), p(0, 999));
    assert_eq!(ev("bytes=-100,0-899", 1000), p(0, 999));
    assert_eq!(ev("bytes=0-9,5-6,10-19,20-", 100), p(0, 99));
    // Disjoint: ignored, whole resource.
    assert_eq!(ev("bytes=0-99,101-199", 1000), FULL);
    assert_eq!(ev("bytes=0-0,-1", 1000), FULL);
    // Unsatisfiable members are dropped.
    assert_eq!(ev("bytes=0-99,5000-", 1000), p(0, 99));
    assert_eq!(ev("bytes=5000-,-0,900-", 1000), p(900, 999));
    // But an invalid member invalidates the whole header.
    assert_eq!(ev("bytes=0-99,99-1", 1000), FULL);
}

#[test]
fn too_many_ranges_are_ignored() {
    let ok = vec!["0-0"; MAX_RANGES].join(",");
    assert_eq!(ev(&format!("bytes={ok}"), 10), p(0, 0));
    let too_many = vec!["0-0"; MAX_RANGES + 1].join(",");
    assert_eq!(ev(&format!("bytes={too_many}"), 10), FULL);
    let unsat = vec!["50-"; MAX_RANGES + 1].join(",");
    assert_eq!(ev(&format!("bytes={unsat}"), 10), FULL);
    // Empty list elements do not count.
    let commas = format!("bytes={}0-1", ",".repeat(10_000));
    assert_eq!(ev(&commas, 10), p(0, 1));
}

#[test]
fn decision_helpers() {
    let len = 10_000;
    let part = ev("bytes=100-199", len);
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.content_range(len).as_deref(),
        Some("bytes 100-199/10000")
    );
    assert_eq!(part.body_len(len), 100);

    assert_eq!(UNSAT.status(), 416);
    assert_eq!(UNSAT.content_range(len).as_deref(), Some("bytes */10000"));
    assert_eq!(UNSAT.body_len(len), 0);
    assert_eq!(UNSAT.content_range(0).as_deref(), Some("bytes */0"));

    assert_eq!(FULL.status(), 200);
    assert_eq!(FULL.content_range(len), None);
    assert_eq!(FULL.body_len(len), len);

    let max = u64::MAX;
    let whole = ev("bytes=0-", max);
    assert_eq!(whole.body_len(max), max);
    assert_eq!(
        whole.content_range(max).as_deref(),
        Some("bytes 0-18446744073709551614/18446744073709551615")
    );
}

#[test]
fn partial_is_always_within_the_resource() {
    // A small exhaustive sweep: every spec shape with positions around the
    // ends of short resources keeps start <= end < len.
    let positions = ["0", "1", "2", "3", "4", "5", "9", ""];
    for len in 0..6u64 {
        for a in positions {
            for b in positions {
                let h = format!("bytes={a}-{b}");
                match ev(&h, len) {
                    RangeDecision::Partial {
                        start,
                        end_inclusive,
                    } => {
                        assert!(start <= end_inclusive, "{h} len {len}");
                        assert!(end_inclusive < len, "{h} len {len}");
                    }
                    RangeDecision::Full | RangeDecision::Unsatisfiable => {}
                }
            }
        }
    }
}

#[test]
fn hostile_bytes_never_panic() {
    let samples = [
        "bytes=\u{0}-\u{0}",
        "bytes=\u{feff}0-1",
        "bytes=0-1\r\n",
        "bytes==0-1",
        "=",
        "==",
        "-",
        ",",
        "bytes=,",
        "bytes=-,-",
        "bytes=é-ü",
        "\u{1F600}=0-1",
    ];
    for h in samples {
        let d = ev(h, 100);
        assert!(
            matches!(d, RangeDecision::Full | RangeDecision::Unsatisfiable),
            "{h:?} {d:?}"
        );
    }
}
