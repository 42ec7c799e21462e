//! Tests of the shared bencode helpers: limits, exactly-one-dictionary,
//! typed reads and the writers.

use super::*;

const LIMITS: Limits = Limits {
    max_bytes: 64,
    max_depth: 4,
};

fn pairs(bytes: &[u8]) -> Result<(Vec<Vec<u8>>, usize), BencodeError> {
    let mut keys = Vec::new();
    let used = for_each_pair(bytes, LIMITS, |k, _| {
        keys.push(k.to_vec());
        Ok::<(), BencodeError>(())
    })?;
    Ok((keys, used))
}

#[test]
fn a_dictionary_gives_its_keys_and_its_span() {
    let (keys, used) = pairs(b"d1:ai1e1:b2:xyeTAIL").unwrap();
    assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(used, 15);
}

#[test]
fn what_is_not_one_dictionary_is_refused_with_its_reason() {
    assert_eq!(pairs(b""), Err(BencodeError::Empty));
    assert!(matches!(
        pairs(b"li1ee"),
        Err(BencodeError::WrongType {
            found: "a list",
            ..
        })
    ));
    assert!(matches!(pairs(b"d1:a"), Err(BencodeError::Syntax { .. })));
    // Keys out of order are not bencode (BEP 3).
    assert!(matches!(
        pairs(b"d1:bi1e1:ai2ee"),
        Err(BencodeError::Syntax { .. })
    ));
    let whole = whole_dict(b"de!!", LIMITS, |_| Ok::<(), BencodeError>(()));
    assert_eq!(whole, Err(BencodeError::Trailing { at: 2, count: 2 }));
    assert_eq!(
        whole_dict(b"de", LIMITS, |_| Ok::<u8, BencodeError>(7)),
        Ok(7)
    );
}

#[test]
fn the_limits_hold_before_and_while_decoding() {
    let big = [b'd'; 65];
    assert_eq!(
        pairs(&big),
        Err(BencodeError::TooLarge {
            size: 65,
            limit: 64
        })
    );
    // Skipping a nested value deeper than the limit is an error, not a
    // deep recursion.
    let deep = b"d1:alllllleeeeeee";
    assert_eq!(pairs(deep), Err(BencodeError::TooDeep { limit: 4 }));
}

#[test]
fn typed_reads_check_type_and_range() {
    whole_dict(b"d1:ai300e1:b2:xy1:cle1:dde1:ei-1ee", LIMITS, |d| {
        let (_, a) = d.next_pair().unwrap().unwrap();
        assert_eq!(
            int_in::<u8>(a, "a", 0, 255),
            Err(BencodeError::BadInteger {
                field: "a".into(),
                value: "300".into()
            })
        );
        let (_, b) = d.next_pair().unwrap().unwrap();
        assert_eq!(bytes(b, "b"), Ok(&b"xy"[..]));
        let (_, c) = d.next_pair().unwrap().unwrap();
        assert!(list(c, "c").is_ok());
        let (_, dd) = d.next_pair().unwrap().unwrap();
        assert!(matches!(
            bytes(dd, "d"),
            Err(BencodeError::WrongType {
                expected: "a string",
                found: "a dictionary",
                ..
            })
        ));
        let (_, e) = d.next_pair().unwrap().unwrap();
        assert_eq!(int(e, "e"), Ok(-1));
        Ok::<(), BencodeError>(())
    })
    .unwrap();
    assert_eq!(check_int::<u32>("x", Some("12"), 1, 20), Ok(12));
    assert!(matches!(
        check_int::<u32>("x", None, 1, 20),
        Err(BencodeError::WrongType { .. })
    ));
    assert!(matches!(
        check_int::<u32>("x", Some("-1"), 0, 20),
        Err(BencodeError::BadInteger { .. })
    ));
    // A huge integer is cut short in the message.
    let huge = "9".repeat(100);
    match check_int::<i64>("x", Some(&huge), 0, 1) {
        Err(BencodeError::BadInteger { value, .. }) => assert_eq!(value.len(), 24),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_list_from_a_first_pass_decodes_again() {
    let n = with_list(b"li1ei2ee", LIMITS, "l", |l| {
        let mut n = 0;
        while let Some(item) = l.next_object().map_err(|e| syntax(e, LIMITS))? {
            n += int(item, "l[]")?;
        }
        Ok::<i64, BencodeError>(n)
    });
    assert_eq!(n, Ok(3));
    assert!(matches!(
        with_list(b"i1e", LIMITS, "l", |_| Ok::<(), BencodeError>(())),
        Err(BencodeError::WrongType { .. })
    ));
}

#[test]
fn the_writers_give_what_the_reader_takes() {
    let mut out = vec![b'd'];
    put_bytes(&mut out, b"n");
    put_int(&mut out, -42);
    put_bytes(&mut out, b"s");
    put_bytes(&mut out, b"");
    out.push(b'e');
    assert_eq!(out, b"d1:ni-42e1:s0:e");
    let (keys, used) = pairs(&out).unwrap();
    assert_eq!((keys.len(), used), (2, out.len()));
}

#[test]
fn errors_read_as_sentences() {
    let e = BencodeError::WrongType {
        field: "info.files".into(),
        expected: "a list",
        found: "an integer",
    };
    assert_eq!(
        e.to_string(),
        "key \"info.files\" is an integer, expected a list"
    );
    assert_eq!(
        BencodeError::Trailing { at: 2, count: 3 }.to_string(),
        "3 unexpected bytes after the dictionary (at byte 2)"
    );
}
