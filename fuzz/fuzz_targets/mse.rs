//! Fuzz target: the MSE/PE handshake (`wire::mse`) on both sides, fed the
//! untrusted bytes in chunks whose sizes the input chooses
//! (`cargo +nightly fuzz run mse`).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rill::wire::mse::{Initiator, Responder, CRYPTO_PLAIN, CRYPTO_RC4};

/// Feed `data` as chunks: each chunk is a length byte, then that many bytes.
fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&n, tail) = rest.split_first()?;
        let n = usize::from(n).max(1).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        Some(chunk)
    })
}

/// Both sides as they are before the first byte arrives, made once: their
/// own public keys cost a 768-bit modular exponentiation each, which would
/// otherwise be most of every execution (200 a second instead of
/// thousands). Each input starts from a clone.
fn fresh() -> &'static (Initiator, Responder) {
    static FRESH: OnceLock<(Initiator, Responder)> = OnceLock::new();
    FRESH.get_or_init(|| {
        let hash = [7u8; 20];
        let mut ini = Initiator::new(
            [1; 20],
            &[0; 16],
            hash,
            CRYPTO_PLAIN | CRYPTO_RC4,
            &[19; 68],
        );
        let _ = ini.take_output();
        let mut resp = Responder::new(
            [2; 20],
            &[0; 16],
            vec![hash, [9; 20]],
            CRYPTO_PLAIN | CRYPTO_RC4,
        );
        let _ = resp.take_output();
        (ini, resp)
    })
}

fuzz_target!(|data: &[u8]| {
    let (ini, resp) = fresh();
    let mut ini = ini.clone();
    for c in chunks(data) {
        match ini.feed(c) {
            Ok(None) => {
                let _ = ini.take_output();
            }
            _ => break,
        }
    }
    let mut resp = resp.clone();
    for c in chunks(data) {
        match resp.feed(c) {
            Ok(None) => {
                let _ = resp.take_output();
            }
            _ => break,
        }
    }
});
