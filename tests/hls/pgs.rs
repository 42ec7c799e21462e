//! A tiny PGS writer (Blu-ray "Presentation Graphic Stream", `.sup`) for
//! tests only: ffmpeg cannot make bitmap subtitles from text, so the
//! burn-in test writes one itself.
//!
//! Written from the format's facts: a `.sup` is a list of segments, each
//! `"PG"`, PTS (u32 BE, 90 kHz), DTS (u32 BE, 0 here), type (u8), payload
//! size (u16 BE) and payload. A display set is PCS (0x16, the
//! composition), WDS (0x17, windows), PDS (0x14, palette), ODS (0x15, the
//! run-length coded picture) and END (0x80). A later set whose PCS has no
//! object clears the screen. Only what the test needs is written: one
//! opaque single-colour rectangle shown over an interval.

use std::path::Path;

use crate::support::TestEnv;
use crate::tool;

const PCS: u8 = 0x16;
const WDS: u8 = 0x17;
const PDS: u8 = 0x14;
const ODS: u8 = 0x15;
const END: u8 = 0x80;
/// PCS composition states.
const EPOCH_START: u8 = 0x80;
const NORMAL: u8 = 0x00;
/// The palette index the box is painted with (index 0 is transparent).
const WHITE: u8 = 1;

/// A filled rectangle on a `video` sized screen, shown from `from` to
/// `to` (seconds).
pub struct BoxSub {
    pub video: (u16, u16),
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
    pub from: f64,
    pub to: f64,
}

impl BoxSub {
    /// The `.sup` bytes: the display set at `from`, the clearing set at `to`.
    pub fn sup(&self) -> Vec<u8> {
        let (show, clear) = (pts(self.from), pts(self.to));
        let mut out = Vec::new();
        out.extend(segment(show, PCS, &self.pcs(0, EPOCH_START, true)));
        out.extend(segment(show, WDS, &self.wds()));
        // Palette 0, version 0, one entry: Y, Cr, Cb, alpha (white, opaque).
        out.extend(segment(show, PDS, &[0, 0, WHITE, 235, 128, 128, 255]));
        out.extend(segment(show, ODS, &self.ods()));
        out.extend(segment(show, END, &[]));
        out.extend(segment(clear, PCS, &self.pcs(1, NORMAL, false)));
        out.extend(segment(clear, WDS, &self.wds()));
        out.extend(segment(clear, END, &[]));
        out
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.sup()).expect("write the .sup");
    }

    /// Composition: screen size, frame rate code 0x10, composition number,
    /// state, palette update flag 0, palette 0, then the object (id 0 in
    /// window 0, not cropped, at x, y) or none.
    fn pcs(&self, number: u16, state: u8, object: bool) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend(self.video.0.to_be_bytes());
        p.extend(self.video.1.to_be_bytes());
        p.push(0x10);
        p.extend(number.to_be_bytes());
        p.extend([state, 0, 0, u8::from(object)]);
        if object {
            p.extend(0u16.to_be_bytes());
            p.extend([0, 0]);
            p.extend(self.x.to_be_bytes());
            p.extend(self.y.to_be_bytes());
        }
        p
    }

    /// One window, id 0, exactly the box.
    fn wds(&self) -> Vec<u8> {
        let mut p = vec![1, 0];
        for v in [self.x, self.y, self.w, self.h] {
            p.extend(v.to_be_bytes());
        }
        p
    }

    /// Object 0, version 0, first and last fragment (0xC0), data length
    /// (u24: width, height and the RLE lines), the picture.
    fn ods(&self) -> Vec<u8> {
        let mut data = Vec::new();
        data.extend(self.w.to_be_bytes());
        data.extend(self.h.to_be_bytes());
        for _ in 0..self.h {
            data.extend(rle_line(self.w, WHITE));
        }
        let len = u32::try_from(data.len()).expect("small picture");
        assert!(len < 1 << 24, "one ODS fragment holds the picture");
        let mut p = vec![0, 0, 0, 0xC0];
        p.extend(&len.to_be_bytes()[1..]);
        p.extend(data);
        p
    }
}

/// 90 kHz ticks.
fn pts(seconds: f64) -> u32 {
    (seconds * 90_000.0).round() as u32
}

fn segment(pts: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = b"PG".to_vec();
    s.extend(pts.to_be_bytes());
    s.extend(0u32.to_be_bytes());
    s.push(kind);
    s.extend(
        u16::try_from(payload.len())
            .expect("segment fits")
            .to_be_bytes(),
    );
    s.extend(payload);
    s
}

/// One line of `width` pixels of `color` (not 0): a run `0x00,
/// 0b10LLLLLL` (3..63 pixels) or `0x00, 0b11LLLLLL LLLLLLLL` (64..16383)
/// then the colour, and `0x00 0x00` to end the line.
fn rle_line(width: u16, color: u8) -> Vec<u8> {
    assert!((3..16384).contains(&width) && color != 0);
    let mut l = vec![0];
    if width < 64 {
        l.push(0x80 | width as u8);
    } else {
        l.push(0xC0 | (width >> 8) as u8);
        l.push((width & 0xFF) as u8);
    }
    l.extend([color, 0, 0]);
    l
}

#[test]
fn ffprobe_reads_the_sup() {
    let env = TestEnv::new("hls-pgs");
    let sub = BoxSub {
        video: (640, 360),
        x: 220,
        y: 280,
        w: 200,
        h: 60,
        from: 1.0,
        to: 15.0,
    };
    assert_eq!(rle_line(200, 1), [0, 0xC0, 200, 1, 0, 0]);
    assert_eq!(rle_line(40, 1), [0, 0x80 | 40, 1, 0, 0]);
    let sup = sub.sup();
    assert_eq!(&sup[..2], b"PG");
    assert_eq!(&sup[2..6], &90_000u32.to_be_bytes());
    let path = env.path("box.sup");
    sub.write(&path);
    let p = path.to_str().unwrap();
    let stream = tool(
        &env,
        &[
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            p,
        ],
    );
    assert_eq!(stream.trim(), "hdmv_pgs_subtitle,640,360");
    // Two packets (the display sets' PTS): shown at 1 s, cleared at 15 s.
    let packets = tool(
        &env,
        &[
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            p,
        ],
    );
    let mut times: Vec<&str> = packets.lines().map(str::trim).collect();
    times.dedup();
    assert_eq!(times, ["1.000000", "15.000000"], "{packets}");
}
