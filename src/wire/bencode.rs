//! The peer wire's limits over the shared checked bencode reads
//! (`codec::bencode`), for the extension messages (BEP 10 handshake,
//! BEP 9 metadata, BEP 11 PEX) and KRPC, and the one way their errors get
//! the message's name ([`in_msg`]).

use bendy::decoding::Error as BendyError;

use super::message::MAX_MESSAGE_LEN;
use super::WireError;
use crate::codec::bencode::{self, BencodeError, Limits};

/// Nesting limit for bencode from peers (the handshake needs 2 levels);
/// no message is larger than a frame.
pub(super) const LIMITS: Limits = Limits {
    max_bytes: MAX_MESSAGE_LEN as usize,
    max_depth: 8,
};

/// Wrap a bencode error with the name of the message it was found in.
pub(super) fn in_msg(what: &'static str) -> impl Fn(BencodeError) -> WireError {
    move |error| WireError::Bencode { what, error }
}

/// A `bendy` error met while walking one of `what`'s values.
pub(super) fn syntax(what: &'static str) -> impl Fn(BendyError) -> WireError {
    move |e| WireError::Bencode {
        what,
        error: bencode::syntax(e, LIMITS),
    }
}
