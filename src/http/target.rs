//! The `ID` and `N` of a route (`/stream/ID/N`, `/hls/ID/N/...`,
//! `/api/torrents/ID/files/N/...`): parsed here, once for every route,
//! and resolved to a file by [`Service::file`] (the one resolver; its
//! [`crate::reader::FileError`] becomes a status in `error.rs`).

use super::error::ApiError;
use crate::app::Service;
use crate::reader::FileRef;
use crate::torrent::InfoHash;

/// A torrent id from a path: 40 hex digits, else `404`.
pub fn parse_id(s: &str) -> Result<InfoHash, ApiError> {
    InfoHash::from_hex(s)
        .ok_or_else(|| ApiError::not_found(format!("no torrent {s:?} (ids are 40 hex digits)")))
}

/// A file index from a path, for torrent `id`: a decimal number, else
/// `404`.
pub fn parse_index(id: InfoHash, n: &str) -> Result<usize, ApiError> {
    n.parse()
        .map_err(|_| ApiError::not_found(format!("no file {n:?} in torrent {id}")))
}

/// The file `ID`/`N` name, resolved ([`Service::file`]).
pub fn file(service: &Service, id: &str, n: &str) -> Result<FileRef, ApiError> {
    let id = parse_id(id)?;
    file_of(service, id, n)
}

/// The file `ID`/`N` name for a stream: resolved once the torrent's
/// metadata is known, waiting for it at most `wait` (a magnet just added).
pub fn stream_file(
    service: &Service,
    id: &str,
    n: &str,
    wait: std::time::Duration,
) -> Result<FileRef, ApiError> {
    let id = parse_id(id)?;
    let index = parse_index(id, n)?;
    Ok(service.file_when_known(id, index, wait)?)
}

/// The file `N` of torrent `id` (already parsed), resolved.
pub fn file_of(service: &Service, id: InfoHash, n: &str) -> Result<FileRef, ApiError> {
    let index = parse_index(id, n)?;
    Ok(service.file(id, index)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_indexes_parse_or_404() {
        let hex = "ab".repeat(20);
        let id = parse_id(&hex).unwrap();
        assert_eq!(id, InfoHash([0xab; 20]));
        for bad in ["", "ab", &"zz".repeat(20), &"ab".repeat(21)] {
            assert_eq!(parse_id(bad).unwrap_err().status, 404, "{bad:?}");
        }
        assert_eq!(parse_index(id, "7").unwrap(), 7);
        for bad in ["", "-1", "x", "99999999999999999999999"] {
            let e = parse_index(id, bad).unwrap_err();
            assert_eq!(e.status, 404, "{bad:?}");
            assert!(e.message.contains(&hex), "{}", e.message);
        }
    }
}
