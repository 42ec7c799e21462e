//! Reading a peer's queued uploads on the blocking pool for its writer
//! (the queue and the choker are upload state: `state/upload.rs`).

use std::rc::Rc;

use super::state::Batch;
use super::torrent::Torrent;
use crate::store::StoreError;
use crate::wire::Message;

/// Read a batch on the blocking pool; the encoded `Piece` frames and
/// their payload bytes.
pub(crate) async fn read_batch(t: &Rc<Torrent>, batch: Batch) -> Result<(Vec<u8>, u64), String> {
    let Batch { store, blocks } = batch;
    let res = t
        .ctx
        .blocking(move || -> Result<(Vec<u8>, u64), StoreError> {
            let mut out = Vec::new();
            let mut bytes = 0u64;
            for b in blocks {
                let data = store.read(b.piece, b.begin, b.len)?;
                bytes += data.len() as u64;
                Message::Piece {
                    index: b.piece,
                    begin: b.begin,
                    data,
                }
                .encode(&mut out);
            }
            Ok((out, bytes))
        })
        .await;
    res.map_err(|e| format!("reading a block to upload: {e}"))
}
