//! Keyframe times of a Matroska/WebM file from its Cues, without reading
//! the clusters: what makes an exact copy-mode playlist possible for a
//! partial MKV (ffprobe would have to read every packet; see
//! `docs/hls.md`).
//!
//! The Segment's first bytes hold the SeekHead (where the Cues are), Info
//! (the TimestampScale) and usually Tracks (which track is the video). The
//! Cues list, for keyframes, the time and the cluster position; muxers
//! (ffmpeg, mkvmerge) write a cue point for every video keyframe. So
//! [`cue_keyframes`] reads the head, then the Cues element, through a
//! `Read + Seek` (a [`crate::reader::FileReader`] waits for those pieces
//! and only those).
//!
//! Everything that parses is pure and works on untrusted bytes: every
//! length is checked against the buffer, sizes are capped before any
//! allocation, nothing panics. `None` means "no usable cues"; the caller
//! then falls back to scanning packets.

use std::io::{Read, Seek, SeekFrom};

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const SEEK: u32 = 0x4DBB;
const SEEK_ID: u32 = 0x53AB;
const SEEK_POSITION: u32 = 0x53AC;
const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_TYPE: u32 = 0x83;
const CUES: u32 = 0x1C53_BB6B;
const CUE_POINT: u32 = 0xBB;
const CUE_TIME: u32 = 0xB3;
const CUE_TRACK_POSITIONS: u32 = 0xB7;
const CUE_TRACK: u32 = 0xF7;

/// Bytes of the file's start read for the head.
pub const HEAD_BYTES: u64 = 256 * 1024;
/// Largest Cues element read (a two-hour film has well under 1 MiB).
pub const MAX_CUES: u64 = 16 << 20;

/// What the head says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// File offset of the Segment's data (SeekPositions count from here).
    pub segment_start: u64,
    /// Cues position relative to `segment_start`.
    pub cues: Option<u64>,
    /// Nanoseconds per timestamp tick.
    pub scale: u64,
    /// The first video track's number.
    pub video_track: Option<u64>,
}

/// An element ID (the marker bits kept, as the spec writes IDs).
fn read_id(b: &[u8]) -> Option<(u32, usize)> {
    let first = *b.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 4 {
        return None;
    }
    let bytes = b.get(..len)?;
    Some((
        bytes.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x)),
        len,
    ))
}

/// A size vint: (value, length); `None` value for the "unknown" size.
fn read_size(b: &[u8]) -> Option<(Option<u64>, usize)> {
    let first = *b.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let bytes = b.get(..len)?;
    let mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let mut v = u64::from(first & mask);
    for x in bytes.iter().skip(1) {
        v = (v << 8) | u64::from(*x);
    }
    let all_ones = (1u64 << (7 * len)) - 1;
    Some((if v == all_ones { None } else { Some(v) }, len))
}

/// The elements directly inside `b`: (id, offset of the data in `b`,
/// data). An element of unknown size or running past the end is cut at
/// the end of `b` (a head read stops mid-element).
fn children(b: &[u8]) -> Vec<(u32, usize, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < b.len() && out.len() < 100_000 {
        let Some((id, il)) = b.get(at..).and_then(read_id) else {
            break;
        };
        let Some((size, sl)) = b.get(at + il..).and_then(read_size) else {
            break;
        };
        let start = at + il + sl;
        let end = match size.and_then(|s| usize::try_from(s).ok()) {
            Some(s) => start.saturating_add(s).min(b.len()),
            None => b.len(),
        };
        let Some(data) = b.get(start..end) else { break };
        out.push((id, start, data));
        at = end;
    }
    out
}

/// An unsigned integer element's value (at most 8 bytes).
fn uint(data: &[u8]) -> Option<u64> {
    if data.len() > 8 {
        return None;
    }
    Some(data.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
}

/// Parse the first bytes of a file.
pub fn parse_head(b: &[u8]) -> Option<Head> {
    let top = children(b);
    let (ebml_id, _, _) = top.first()?;
    if *ebml_id != EBML {
        return None;
    }
    let (_, segment_start, segment) = top.iter().find(|(id, _, _)| *id == SEGMENT)?;
    let mut head = Head {
        segment_start: *segment_start as u64,
        cues: None,
        scale: 1_000_000,
        video_track: None,
    };
    for (id, _, data) in children(segment) {
        match id {
            SEEK_HEAD => {
                for (_, _, seek) in children(data).into_iter().filter(|e| e.0 == SEEK) {
                    let fields = children(seek);
                    let target = fields
                        .iter()
                        .find(|f| f.0 == SEEK_ID)
                        .and_then(|f| read_id(f.2))
                        .map(|(i, _)| i);
                    let pos = fields
                        .iter()
                        .find(|f| f.0 == SEEK_POSITION)
                        .and_then(|f| uint(f.2));
                    if target == Some(CUES) && head.cues.is_none() {
                        head.cues = pos;
                    }
                }
            }
            INFO => {
                if let Some(s) = children(data)
                    .iter()
                    .find(|f| f.0 == TIMESTAMP_SCALE)
                    .and_then(|f| uint(f.2))
                    .filter(|s| *s > 0)
                {
                    head.scale = s;
                }
            }
            TRACKS => {
                for (_, _, entry) in children(data).into_iter().filter(|e| e.0 == TRACK_ENTRY) {
                    let f = children(entry);
                    let num = f
                        .iter()
                        .find(|x| x.0 == TRACK_NUMBER)
                        .and_then(|x| uint(x.2));
                    let kind = f.iter().find(|x| x.0 == TRACK_TYPE).and_then(|x| uint(x.2));
                    if kind == Some(1) && head.video_track.is_none() {
                        head.video_track = num;
                    }
                }
            }
            _ => {}
        }
    }
    Some(head)
}

/// Keyframe times (seconds, sorted) from a Cues element's data.
pub fn parse_cues(data: &[u8], track: Option<u64>, scale: u64) -> Vec<f64> {
    let mut times: Vec<u64> = Vec::new();
    for (_, _, point) in children(data).into_iter().filter(|e| e.0 == CUE_POINT) {
        let f = children(point);
        let Some(t) = f.iter().find(|x| x.0 == CUE_TIME).and_then(|x| uint(x.2)) else {
            continue;
        };
        let for_track = f.iter().filter(|x| x.0 == CUE_TRACK_POSITIONS).any(|x| {
            let n = children(x.2)
                .iter()
                .find(|y| y.0 == CUE_TRACK)
                .and_then(|y| uint(y.2));
            track.is_none() || n == track
        });
        if for_track {
            times.push(t);
        }
    }
    times.sort_unstable();
    times.dedup();
    times
        .into_iter()
        .map(|t| t as f64 * scale as f64 / 1e9)
        .filter(|t| t.is_finite())
        .collect()
}

/// Read the head and the Cues of a Matroska file; `None` when it has no
/// usable cues (not Matroska, no SeekHead entry, empty or huge Cues).
pub fn cue_keyframes(r: &mut (impl Read + Seek), len: u64) -> Option<Vec<f64>> {
    let mut head = vec![0u8; usize::try_from(HEAD_BYTES.min(len)).ok()?];
    r.seek(SeekFrom::Start(0)).ok()?;
    r.read_exact(&mut head).ok()?;
    let h = parse_head(&head)?;
    let at = h.segment_start.checked_add(h.cues?)?;
    if at >= len {
        return None;
    }
    r.seek(SeekFrom::Start(at)).ok()?;
    let mut hdr = vec![0u8; usize::try_from((len - at).min(12)).ok()?];
    r.read_exact(&mut hdr).ok()?;
    let (id, il) = read_id(&hdr)?;
    let (size, sl) = read_size(hdr.get(il..)?)?;
    if id != CUES {
        return None;
    }
    let size = size?;
    let start = at.checked_add((il + sl) as u64)?;
    if size == 0 || size > MAX_CUES || start.checked_add(size)? > len {
        return None;
    }
    let mut data = vec![0u8; usize::try_from(size).ok()?];
    r.seek(SeekFrom::Start(start)).ok()?;
    r.read_exact(&mut data).ok()?;
    let keys = parse_cues(&data, h.video_track, h.scale);
    (!keys.is_empty()).then_some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Element bytes: id, 8-byte size, data.
    fn el(id: u32, data: &[u8]) -> Vec<u8> {
        let idb = id.to_be_bytes();
        let skip = idb.iter().take_while(|b| **b == 0).count();
        let mut v = idb[skip..].to_vec();
        v.push(0x01);
        v.extend_from_slice(&(data.len() as u64).to_be_bytes()[1..]);
        v.extend_from_slice(data);
        v
    }

    fn u(id: u32, n: u64) -> Vec<u8> {
        el(id, &n.to_be_bytes())
    }

    fn file(cue_times: &[u64]) -> Vec<u8> {
        let mut cues = Vec::new();
        for &t in cue_times {
            let pos = [u(CUE_TRACK, 1), u(0xF1, 1234)].concat();
            cues.extend(el(
                CUE_POINT,
                &[u(CUE_TIME, t), el(CUE_TRACK_POSITIONS, &pos)].concat(),
            ));
            // An audio cue point that must be ignored.
            let audio = [u(CUE_TRACK, 2), u(0xF1, 1)].concat();
            cues.extend(el(
                CUE_POINT,
                &[u(CUE_TIME, t + 1), el(CUE_TRACK_POSITIONS, &audio)].concat(),
            ));
        }
        let info = el(INFO, &u(TIMESTAMP_SCALE, 1_000_000));
        let tracks = el(
            TRACKS,
            &[
                el(
                    TRACK_ENTRY,
                    &[u(TRACK_NUMBER, 2), u(TRACK_TYPE, 2)].concat(),
                ),
                el(
                    TRACK_ENTRY,
                    &[u(TRACK_NUMBER, 1), u(TRACK_TYPE, 1)].concat(),
                ),
            ]
            .concat(),
        );
        let cluster = el(0x1F43_B675, &[0u8; 5000]);
        // SeekHead has a fixed size: compute the cues position after it.
        let seek_len = el(
            SEEK_HEAD,
            &el(
                SEEK,
                &[el(SEEK_ID, &[0x1C, 0x53, 0xBB, 0x6B]), u(SEEK_POSITION, 0)].concat(),
            ),
        )
        .len();
        let cues_pos = (seek_len + info.len() + tracks.len() + cluster.len()) as u64;
        let seek = el(
            SEEK_HEAD,
            &el(
                SEEK,
                &[
                    el(SEEK_ID, &[0x1C, 0x53, 0xBB, 0x6B]),
                    u(SEEK_POSITION, cues_pos),
                ]
                .concat(),
            ),
        );
        let segment = [seek, info, tracks, cluster, el(CUES, &cues)].concat();
        [el(EBML, &u(0x4286, 1)), el(SEGMENT, &segment)].concat()
    }

    #[test]
    fn keyframes_from_cues() {
        let f = file(&[0, 2333, 4625, 6917]);
        let h = parse_head(&f).unwrap();
        assert_eq!((h.scale, h.video_track), (1_000_000, Some(1)));
        assert!(h.cues.is_some());
        let len = f.len() as u64;
        let k = cue_keyframes(&mut Cursor::new(f), len).unwrap();
        assert_eq!(k, vec![0.0, 2.333, 4.625, 6.917]);
    }

    #[test]
    fn hostile_inputs_give_none() {
        let good = file(&[0, 1000]);
        for cut in [0, 1, 4, 12, 40, good.len() / 2, good.len() - 3] {
            let part = good[..cut].to_vec();
            let len = part.len() as u64;
            let _ = cue_keyframes(&mut Cursor::new(part), len); // no panic
        }
        assert_eq!(parse_head(b"RIFF....AVI "), None);
        assert_eq!(parse_head(&[]), None);
        assert_eq!(parse_head(&[0xFF; 64]), None);
        assert_eq!(parse_head(&[0x00; 64]), None);
        // Huge declared sizes do not allocate.
        let mut huge = el(EBML, &[]);
        huge.extend([
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        ]);
        let h = parse_head(&huge).unwrap();
        assert_eq!(h.cues, None);
        // A cues position past the end, or pointing at something else.
        let mut bad = good.clone();
        let len = bad.len() as u64;
        bad.truncate(bad.len() - 10);
        assert_eq!(cue_keyframes(&mut Cursor::new(bad), len), None);
        assert!(parse_cues(&[0xBB, 0x81], None, 1).is_empty());
        assert_eq!(
            read_size(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            Some((None, 8))
        );
        assert_eq!(read_size(&[0x00]), None);
        assert_eq!(read_id(&[0x08, 1, 2, 3, 4]), None);
        assert_eq!(uint(&[1; 9]), None);
    }
}
