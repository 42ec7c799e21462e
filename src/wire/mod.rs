//! Wire formats: pure parse/emit of everything that crosses the network.
//!
//! No I/O happens here. Every parser takes untrusted bytes, checks every
//! length before it uses it, and returns a `Result`; nothing panics and no
//! allocation is sized by a number from the wire before it is checked
//! against a limit (the smoltcp `wire/` style). Tests sit beside each file.

mod bencode;
pub mod extension;
pub mod handshake;
pub mod holepunch;
pub mod krpc;
pub mod lsd;
pub mod message;
pub mod metadata;
pub mod mse;
pub mod natpmp;
pub mod pcp;
pub mod pex;
pub mod tracker_http;
pub mod tracker_udp;
pub mod upnp_igd;
pub mod utp;

pub use extension::ExtHandshake;
pub use handshake::Handshake;
pub use message::{Message, WireError, MAX_MESSAGE_LEN};
pub use metadata::MetadataMsg;
