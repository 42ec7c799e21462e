//! Tests of the MSE handshake machines: both ends against each other at
//! every chunking, and hostile or broken peers.

use super::*;

const IH: [u8; 20] = [0x11; 20];
const OTHER: [u8; 20] = [0x22; 20];
const XA: [u8; SECRET_LEN] = [0xA5; SECRET_LEN];
const XB: [u8; SECRET_LEN] = [0x5A; SECRET_LEN];

fn initiator(provide: u32, pad: usize) -> Initiator {
    Initiator::new(XA, &vec![0xEE; pad], IH, provide, b"hello, I am A")
}

fn responder(accept: u32, pad: usize) -> Responder {
    Responder::new(XB, &vec![0xDD; pad], vec![OTHER, IH], accept)
}

/// Run both ends, moving at most `step` bytes per feed; each side's
/// `after` bytes are sent right behind its handshake.
fn pump(
    mut a: Initiator,
    mut b: Responder,
    step: usize,
) -> (Result<Established, MseError>, Result<Established, MseError>) {
    let (mut to_b, mut to_a) = (Vec::new(), Vec::new());
    let (mut ea, mut eb) = (None, None);
    // Bounded: each turn moves bytes or ends.
    for _ in 0..10_000 {
        to_b.extend(a.take_output());
        to_a.extend(b.take_output());
        if eb.is_none() && !to_b.is_empty() {
            let n = step.min(to_b.len());
            let chunk: Vec<u8> = to_b.drain(..n).collect();
            match b.feed(&chunk) {
                Ok(Some(e)) => {
                    // Whatever A sent behind, B reads as payload next.
                    eb = Some(Ok(e));
                }
                Ok(None) => {}
                Err(e) => eb = Some(Err(e)),
            }
            to_a.extend(b.take_output());
        }
        if ea.is_none() && !to_a.is_empty() {
            let n = step.min(to_a.len());
            let chunk: Vec<u8> = to_a.drain(..n).collect();
            match a.feed(&chunk) {
                Ok(Some(e)) => ea = Some(Ok(e)),
                Ok(None) => {}
                Err(e) => ea = Some(Err(e)),
            }
        }
        if ea.is_some() && eb.is_some() {
            break;
        }
        if matches!(eb, Some(Err(_))) || matches!(ea, Some(Err(_))) {
            break;
        }
    }
    (
        ea.unwrap_or(Err(MseError::Finished)),
        eb.unwrap_or(Err(MseError::Finished)),
    )
}

#[test]
fn rc4_end_to_end_at_any_chunking() {
    for step in [1, 3, 20, 97, 600, 4096] {
        for pad in [0, 1, 511, 512] {
            let (a, b) = pump(
                initiator(CRYPTO_PLAIN | CRYPTO_RC4, pad),
                responder(3, pad),
                step,
            );
            let (mut a, mut b) = (a.unwrap(), b.unwrap());
            assert_eq!(b.info_hash, IH, "step {step}");
            assert_eq!(a.info_hash, IH);
            assert_eq!(b.payload, b"hello, I am A");
            assert!(a.payload.is_empty());
            // The streams carry on: A to B and B to A.
            let (ca, cb) = (a.ciphers.as_mut().unwrap(), b.ciphers.as_mut().unwrap());
            let mut m = b"piece data".to_vec();
            ca.tx.apply(&mut m);
            assert_ne!(&m, b"piece data");
            cb.rx.apply(&mut m);
            assert_eq!(&m, b"piece data");
            let mut m = b"bitfield".to_vec();
            cb.tx.apply(&mut m);
            ca.rx.apply(&mut m);
            assert_eq!(&m, b"bitfield");
        }
    }
}

#[test]
fn plaintext_selected_when_only_plaintext_is_common() {
    let (a, b) = pump(
        initiator(CRYPTO_PLAIN | CRYPTO_RC4, 7),
        responder(CRYPTO_PLAIN, 9),
        50,
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.ciphers.is_none() && b.ciphers.is_none());
    // IA is RC4-encrypted even then, and arrives decrypted.
    assert_eq!(b.payload, b"hello, I am A");
    // Required RC4 against a plaintext-only responder: refused by B.
    let (_, b) = pump(initiator(CRYPTO_RC4, 0), responder(CRYPTO_PLAIN, 0), 50);
    assert_eq!(
        b.unwrap_err(),
        MseError::NoCommonMethod {
            provide: CRYPTO_RC4
        }
    );
}

#[test]
fn payload_behind_the_handshake_is_handed_over() {
    // A's IA plus bytes behind it, B's step 4 plus RC4 payload behind it.
    let mut a = initiator(CRYPTO_RC4, 5);
    let mut b = responder(3, 5);
    let ya = a.take_output();
    assert!(b.feed(&ya).unwrap().is_none());
    let yb = b.take_output();
    assert!(a.feed(&yb).unwrap().is_none());
    let step3 = a.take_output();
    let mut eb = b.feed(&step3).unwrap().unwrap();
    let mut step4 = b.take_output();
    let mut extra = b"after".to_vec();
    eb.ciphers.as_mut().unwrap().tx.apply(&mut extra);
    step4.extend(extra);
    let ea = a.feed(&step4).unwrap().unwrap();
    assert_eq!(ea.payload, b"after");
    assert_eq!(a.feed(b"x").unwrap_err(), MseError::Finished);
}

#[test]
fn truncated_handshakes_wait_and_never_finish() {
    let mut a = initiator(3, 30);
    let mut b = responder(3, 30);
    let ya = a.take_output();
    let yb = b.take_output();
    // Any prefix of Ya: nothing yet.
    for cut in [0, 1, 50, 95] {
        let mut b2 = responder(3, 0);
        assert!(matches!(b2.feed(&ya[..cut]), Ok(None)));
    }
    assert!(matches!(b.feed(&ya), Ok(None)));
    assert!(matches!(a.feed(&yb), Ok(None)));
    let step3 = a.take_output();
    for cut in (0..step3.len()).step_by(5) {
        let mut b2 = responder(3, 30);
        b2.feed(&ya).unwrap();
        assert!(matches!(b2.feed(&step3[..cut]), Ok(None)), "cut {cut}");
    }
    b.feed(&step3).unwrap().unwrap();
    let step4 = b.take_output();
    for cut in (0..step4.len()).step_by(3) {
        let mut a2 = initiator(3, 30);
        a2.take_output();
        a2.feed(&yb).unwrap();
        assert!(matches!(a2.feed(&step4[..cut]), Ok(None)), "cut {cut}");
    }
}

#[test]
fn pad_a_over_512_is_refused() {
    // A well-formed handshake whose PadA is 513 bytes: B gives up once it
    // has seen 512 pad bytes without the req1 hash.
    let ya = dh::public_key(&XA);
    let yb = dh::public_key(&XB);
    let s = dh::shared_secret(&yb, &XA);
    let mut msg = ya.to_vec();
    msg.extend(vec![0u8; 513]);
    msg.extend(hash(&[b"req1", &s]));
    let mut b = responder(3, 0);
    assert_eq!(b.feed(&msg).err(), Some(MseError::NoReq1));
    assert_eq!(b.feed(b"more").err(), Some(MseError::Finished));
    // 512 bytes is fine.
    let mut msg = ya.to_vec();
    msg.extend(vec![0u8; 512]);
    msg.extend(hash(&[b"req1", &s]));
    assert!(matches!(responder(3, 0).feed(&msg), Ok(None)));
    // Garbage (a plain peer's bytes, random noise) ends at the bound, and
    // the buffer never grew past it plus the one chunk.
    let mut b = responder(3, 0);
    let mut r = Ok(None);
    for _ in 0..100 {
        r = b.feed(&[0x42; 64]);
        if r.is_err() {
            break;
        }
    }
    assert_eq!(r.err(), Some(MseError::NoReq1));
    assert!(b.buf.len() < KEY_LEN + MAX_PAD + HASH_LEN + 64);
}

#[test]
fn oversized_pads_are_cut_when_sending() {
    let mut a = initiator(3, 5000);
    assert_eq!(a.take_output().len(), KEY_LEN + MAX_PAD);
    let mut b = responder(3, 5000);
    assert_eq!(b.take_output().len(), KEY_LEN + MAX_PAD);
}

#[test]
fn unknown_torrent_and_missing_vc() {
    // A asks for a torrent B does not have.
    let a = Initiator::new(XA, &[], [0x99; 20], 3, b"");
    let (_, b) = pump(a, responder(3, 0), 4096);
    assert_eq!(b.unwrap_err(), MseError::UnknownTorrent);
    // A's VC is not zeros: encrypt a bad VC by hand.
    let ya = dh::public_key(&XA);
    let s = dh::shared_secret(&dh::public_key(&XB), &XA);
    let mut msg = ya.to_vec();
    msg.extend(hash(&[b"req1", &s]));
    msg.extend(skey_hash(&IH, &s));
    let mut enc = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0];
    Rc4::mse(&hash(&[b"keyA", &s, &IH])).apply(&mut enc);
    msg.extend(enc);
    assert_eq!(responder(3, 0).feed(&msg).err(), Some(MseError::BadVc));
    // B never sends the encrypted VC: A gives up after Yb + 512 + 8 bytes.
    let mut a = initiator(3, 0);
    let mut yb = dh::public_key(&XB).to_vec();
    yb.extend(vec![0x42; MAX_PAD + VC_LEN - 1]);
    assert!(matches!(a.feed(&yb), Ok(None)));
    assert_eq!(a.feed(&[0x42]).err(), Some(MseError::NoVc));
}

#[test]
fn plain_answer_to_our_key_fails_fast() {
    let mut a = initiator(3, 0);
    let mut reply = vec![19u8];
    reply.extend_from_slice(PROTOCOL);
    assert!(matches!(a.feed(&reply[..10]), Ok(None)));
    assert_eq!(a.feed(&reply[10..]).err(), Some(MseError::PlainReply));
}

/// B's step 4 with the given select and PadD length, keyed for A.
fn step4(select: u32, pad_d: u16) -> (Initiator, Vec<u8>) {
    let mut a = initiator(CRYPTO_RC4, 0);
    a.take_output();
    let yb = dh::public_key(&XB);
    a.feed(&yb).unwrap();
    let s = dh::shared_secret(&dh::public_key(&XA), &XB);
    let mut enc = vec![0u8; 8];
    enc.extend(select.to_be_bytes());
    enc.extend(pad_d.to_be_bytes());
    Rc4::mse(&hash(&[b"keyB", &s, &IH])).apply(&mut enc);
    (a, enc)
}

#[test]
fn wrong_crypto_select_is_refused() {
    // A offered RC4 only: plaintext, both, none, or unknown bits are wrong.
    for select in [CRYPTO_PLAIN, 3, 0, 4, 0x8000_0002] {
        let (mut a, msg) = step4(select, 0);
        assert_eq!(
            a.feed(&msg).err(),
            Some(MseError::BadSelect { select }),
            "{select:#x}"
        );
    }
    let (mut a, msg) = step4(CRYPTO_RC4, 0);
    assert!(a.feed(&msg).unwrap().unwrap().ciphers.is_some());
    // PadD over 512.
    let (mut a, msg) = step4(CRYPTO_RC4, 513);
    assert_eq!(a.feed(&msg).err(), Some(MseError::PadTooLong { len: 513 }));
}

#[test]
fn pad_c_over_512_is_refused() {
    let ya = dh::public_key(&XA);
    let s = dh::shared_secret(&dh::public_key(&XB), &XA);
    let mut msg = ya.to_vec();
    msg.extend(hash(&[b"req1", &s]));
    msg.extend(skey_hash(&IH, &s));
    let mut enc = vec![0u8; 8];
    enc.extend(3u32.to_be_bytes());
    enc.extend(600u16.to_be_bytes());
    Rc4::mse(&hash(&[b"keyA", &s, &IH])).apply(&mut enc);
    msg.extend(enc);
    assert_eq!(
        responder(3, 0).feed(&msg).err(),
        Some(MseError::PadTooLong { len: 600 })
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = crate::random::XorShift::new(7);
    for round in 0..200 {
        let len = (rng.next_u64() % 1500) as usize;
        let junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let mut a = initiator(3, 0);
        let mut b = responder(3, 0);
        let cut = len / 2;
        for part in [&junk[..cut], &junk[cut..]] {
            let _ = a.feed(part);
            let _ = b.feed(part);
        }
        assert!(a.buf.len() <= 1500 && b.buf.len() <= 1500, "round {round}");
    }
}
