//! Fuzz target: the MSE/PE handshake (`wire::mse`) on both sides, fed the
//! untrusted bytes in chunks whose sizes the input chooses
//! (`cargo +nightly fuzz run mse`).

#![no_main]

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

fuzz_target!(|data: &[u8]| {
    let hash = [7u8; 20];
    let mut ini = Initiator::new([1; 20], &[0; 16], hash, CRYPTO_PLAIN | CRYPTO_RC4, &[19; 68]);
    let _ = ini.take_output();
    for c in chunks(data) {
        match ini.feed(c) {
            Ok(None) => {
                let _ = ini.take_output();
            }
            _ => break,
        }
    }
    let mut resp = Responder::new([2; 20], &[0; 16], vec![hash, [9; 20]], CRYPTO_PLAIN | CRYPTO_RC4);
    let _ = resp.take_output();
    for c in chunks(data) {
        match resp.feed(c) {
            Ok(None) => {
                let _ = resp.take_output();
            }
            _ => break,
        }
    }
});
