//! What one uTP connection sent and resent, for its close log line and for
//! `/metrics`.

/// Packets a connection sent (SYN, DATA, FIN; acks not counted): the
/// close log line, and `/metrics` by difference
/// ([`Conn::take_new_counts`](super::conn::Conn::take_new_counts)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Transmissions, first ones and resends.
    pub sent: u64,
    /// Payload bytes of first transmissions.
    pub bytes: u64,
    /// First transmissions of data packets not full
    /// ([`MAX_PAYLOAD`](super::conn::MAX_PAYLOAD)).
    pub short: u64,
    /// Resends after three duplicate or selective acks.
    pub fast: u64,
    /// Resends after the retransmission timeout.
    pub timeout: u64,
}

impl Counts {
    pub fn resent(&self) -> u64 {
        self.fast + self.timeout
    }
}
