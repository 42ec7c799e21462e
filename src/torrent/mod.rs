//! The torrent model: what a torrent *is*, independent of any I/O.
//!
//! Everything here is pure and total: parsing functions take untrusted bytes
//! or strings and return `Result`, never panic, and never size an allocation
//! from an unchecked number. The swarm, the store and the CLI build on these
//! types; nothing here knows about sockets or files.

pub mod bitfield;
pub mod info_hash;
pub mod layout;
pub mod magnet;
pub mod metainfo;
pub mod safe_path;

pub use bitfield::Bitfield;
pub use info_hash::InfoHash;
pub use layout::{FileSpan, Layout};
pub use magnet::{Magnet, MagnetError};
pub use metainfo::{FileEntry, Info, Metainfo, MetainfoError};
pub use safe_path::{PathError, SafePath};
