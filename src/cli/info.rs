//! `rill info FILE.torrent`: print name, info hash, piece size and files.
//!
//! INTERFACE STUB — to be implemented.

pub fn run(_args: &[String]) -> i32 {
    todo!()
}
