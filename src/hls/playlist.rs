//! Where segments start, and the playlist text (RFC 8216, VOD).
//!
//! DESIGN decision 4: the playlist covers the whole duration from the
//! first request, and every `#EXTINF` is its segment's real length. In
//! copy mode a segment can only start at a video keyframe, so
//! [`copy_starts`] walks the keyframe list and starts a new segment at the
//! first keyframe at least `target` seconds after the last start; ffmpeg
//! is told to cut exactly there (`-segment_times`). A re-encode forces
//! keyframes, so [`grid_starts`] is a plain grid.
//!
//! A job that starts at a later segment seeks ffmpeg's input there; in
//! copy mode [`seek_points`] says where to point that seek so it lands on
//! the segment's own keyframe (see there for why not on its time).
//!
//! The text is built once per variant ([`render`]) and shared; a segment's
//! start time is `starts[n]`, O(1).

use std::fmt::Write;

/// Segment starts for stream copy: 0, then keyframes `>= last + target`.
/// A keyframe closer than a quarter target to the end starts nothing
/// (a tail that short joins the previous segment).
pub fn copy_starts(keyframes: &[f64], duration: f64, target: f64) -> Vec<f64> {
    let mut starts = vec![0.0];
    let mut last = 0.0;
    for &k in keyframes {
        if k >= last + target && k < duration - target / 4.0 {
            starts.push(k);
            last = k;
        }
    }
    starts
}

/// Where a copy-mode job that starts at segment `i` points ffmpeg's input
/// seek (`-ss` before `-i`): halfway between `starts[i]` (a keyframe) and
/// the next keyframe (or the end); 0 for segment 0, which never seeks.
///
/// ffmpeg reads from the last keyframe at or before a target that is
/// not the time given: for containers it seeks by dts (Matroska, AVI, ...;
/// MP4 seeks by pts) with B-frame video, ffmpeg asks for the time minus
/// 3/23 s (its guess of the reorder delay). A seek to a keyframe's own
/// time then lands on the keyframe before it, and stream copy copies from
/// there: the segment would start one keyframe interval early. From the
/// middle of the keyframe's interval, any such shift smaller than half
/// the interval still lands on that keyframe (so keyframes more than
/// 0.27 s apart are safe; the index times of an MP4 may be off by the
/// reorder delay, which the margin covers too).
pub fn seek_points(keyframes: &[f64], starts: &[f64], duration: f64) -> Vec<f64> {
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if i == 0 {
                return 0.0;
            }
            let after = keyframes.partition_point(|k| *k <= s + 1e-6);
            let next = keyframes
                .get(after)
                .copied()
                .unwrap_or(duration)
                .min(duration)
                .max(s);
            s + (next - s) / 2.0
        })
        .collect()
}

/// Segment starts every `target` seconds (re-encode).
pub fn grid_starts(duration: f64, target: f64) -> Vec<f64> {
    let mut starts = vec![0.0];
    let mut n = 1u32;
    loop {
        let t = f64::from(n) * target;
        if t >= duration - target / 4.0 || n >= 1_000_000 {
            return starts;
        }
        starts.push(t);
        n += 1;
    }
}

/// Each segment's length: the next start (or the duration) minus its start.
pub fn durations(starts: &[f64], duration: f64) -> Vec<f64> {
    starts
        .iter()
        .enumerate()
        .map(|(i, s)| (starts.get(i + 1).copied().unwrap_or(duration) - s).max(0.0))
        .collect()
}

/// The file name of segment `n`.
pub fn segment_name(n: usize) -> String {
    format!("{n:05}.ts")
}

/// The segment number of a file name that [`segment_name`] made.
pub fn parse_segment_name(name: &str) -> Option<usize> {
    let digits = name.strip_suffix(".ts")?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A VOD media playlist; segment URIs are `<prefix><NNNNN>.ts`.
pub fn render(starts: &[f64], duration: f64, prefix: &str) -> String {
    let durs = durations(starts, duration);
    let target = durs.iter().fold(1.0f64, |m, d| m.max(*d)).ceil();
    let mut out = String::with_capacity(64 + durs.len() * 40);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n"
    );
    for (i, d) in durs.iter().enumerate() {
        let _ = writeln!(out, "#EXTINF:{d:.6},\n{prefix}{}", segment_name(i));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// A one-segment subtitle playlist for a WebVTT file.
pub fn render_subtitle(duration: f64, uri: &str) -> String {
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:{duration:.6},\n{uri}\n#EXT-X-ENDLIST\n",
        duration.ceil().max(1.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_segments_start_at_keyframes() {
        let keys = [0.0, 2.33, 4.62, 6.91, 9.2, 11.5, 13.83, 16.12, 18.41, 19.9];
        let s = copy_starts(&keys, 20.0, 6.0);
        assert_eq!(s, vec![0.0, 6.91, 13.83]);
        let d = durations(&s, 20.0);
        assert!((d.iter().sum::<f64>() - 20.0).abs() < 1e-9);
        assert!((d[2] - 6.17).abs() < 1e-9);
        // Sparse keyframes make long segments; none makes one segment.
        assert_eq!(copy_starts(&[0.0, 30.0], 60.0, 6.0), vec![0.0, 30.0]);
        assert_eq!(copy_starts(&[], 60.0, 6.0), vec![0.0]);
        // A keyframe right before the end starts nothing.
        assert_eq!(copy_starts(&[0.0, 6.0, 11.9], 12.0, 6.0), vec![0.0, 6.0]);
    }

    #[test]
    fn seeks_aim_inside_the_keyframe_interval() {
        // Keyframes every 3.7 s: a seek to 7.4 itself, shifted back by
        // ffmpeg's 3/23 s, would land on 3.7.
        let keys = [0.0, 3.7, 7.4, 11.1, 14.8, 18.5];
        let s = copy_starts(&keys, 20.0, 6.0);
        assert_eq!(s, vec![0.0, 7.4, 14.8]);
        let p = seek_points(&keys, &s, 20.0);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], 0.0);
        assert!((p[1] - 9.25).abs() < 1e-9, "{p:?}");
        assert!((p[2] - 16.65).abs() < 1e-9, "{p:?}");
        // The last keyframe: halfway to the end.
        let p = seek_points(&[0.0, 7.0], &[0.0, 7.0], 13.0);
        assert!((p[1] - 10.0).abs() < 1e-9, "{p:?}");
        // Irregular keyframes (a scene cut 0.5 s after a start).
        let keys = [0.0, 6.2, 6.7, 13.0];
        let s = copy_starts(&keys, 19.0, 6.0);
        let p = seek_points(&keys, &s, 19.0);
        assert!((p[1] - 6.45).abs() < 1e-9, "{s:?} {p:?}");
        // Every seek lands after its start and before the next keyframe.
        for (i, (st, sk)) in s.iter().zip(&p).enumerate().skip(1) {
            assert!(sk > st && keys.iter().all(|k| k <= st || k > sk), "{i}");
        }
    }

    #[test]
    fn grid() {
        assert_eq!(grid_starts(20.0, 6.0), vec![0.0, 6.0, 12.0, 18.0]);
        assert_eq!(grid_starts(19.0, 6.0), vec![0.0, 6.0, 12.0]);
        assert_eq!(grid_starts(1.0, 6.0), vec![0.0]);
    }

    #[test]
    fn playlist_text() {
        let p = render(&[0.0, 6.5], 10.0, "v0c-a1c/");
        assert_eq!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:7\n\
             #EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:6.500000,\nv0c-a1c/00000.ts\n\
             #EXTINF:3.500000,\nv0c-a1c/00001.ts\n#EXT-X-ENDLIST\n"
        );
        assert!(render_subtitle(10.2, "s.vtt").contains("#EXT-X-TARGETDURATION:11\n"));
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_name(7), "00007.ts");
        assert_eq!(parse_segment_name("00007.ts"), Some(7));
        assert_eq!(parse_segment_name("123456.ts"), Some(123456));
        for bad in [
            "",
            ".ts",
            "x.ts",
            "-1.ts",
            "1.mp4",
            "9999999999.ts",
            "1 .ts",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }
}
