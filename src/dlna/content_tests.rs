//! Tests of [`super`]: object ids, Browse paging, DIDL-Lite items and
//! their protocolInfo.

use super::super::xml;
use super::*;

const A: &str = "7cf573b5e8cf5edea8fb3197500c0d0725125bc9";
const B: &str = "0123456789abcdef0123456789abcdef01234567";

/// A file as the HTTP side makes it (a token-like stream path).
fn f(index: usize, path: &str, length: u64) -> MediaFile {
    MediaFile {
        index,
        path: path.to_string(),
        length,
        stream: format!("/s/tok-{index}/{}", path.rsplit('/').next().unwrap_or(path)),
        probe: None,
    }
}

fn lib() -> Library {
    let mut l = Library {
        hls: true,
        ..Library::default()
    };
    l.push(
        A.into(),
        "Tom & Jerry <1940>".into(),
        vec![
            f(0, "Tom & Jerry <1940>/a \"quoted\" 'name'.mkv", 1500),
            f(1, "Tom & Jerry <1940>/info.nfo", 10),
            f(2, "Tom & Jerry <1940>/sub/song.mp3", 99),
        ]
        .into_iter(),
    );
    l.push(
        B.into(),
        "docs".into(),
        vec![f(0, "docs/readme.txt", 5)].into_iter(),
    );
    l
}

fn well_formed(didl: &str) {
    let t = xml::tokenize(didl).unwrap();
    xml::check_nesting(&t, 8).unwrap();
}

#[test]
fn root_lists_torrents_with_media() {
    let l = lib();
    assert_eq!(l.torrents.len(), 1, "a torrent without media is left out");
    let r = browse(
        &l,
        "0",
        BrowseFlag::DirectChildren,
        0,
        0,
        "http://h:1",
        "rill",
    )
    .unwrap();
    assert_eq!((r.returned, r.total), (1, 1));
    well_formed(&r.didl);
    assert!(r
        .didl
        .contains(&format!("<container id=\"{A}\" parentID=\"0\"")));
    assert!(r.didl.contains("childCount=\"2\""));
    assert!(r
        .didl
        .contains("<dc:title>Tom &amp; Jerry &lt;1940&gt;</dc:title>"));
    let m = browse(
        &l,
        "0",
        BrowseFlag::Metadata,
        0,
        0,
        "http://h:1",
        "My <box>",
    )
    .unwrap();
    assert!(m.didl.contains("<container id=\"0\" parentID=\"-1\""));
    assert!(m.didl.contains("My &lt;box&gt;"));
    assert_eq!(r.update_id, l.update_id());
}

#[test]
fn container_lists_items_with_res() {
    let l = lib();
    let r = browse(
        &l,
        A,
        BrowseFlag::DirectChildren,
        0,
        0,
        "http://10.0.0.2:8080",
        "r",
    )
    .unwrap();
    assert_eq!((r.returned, r.total), (2, 2));
    well_formed(&r.didl);
    let d = &r.didl;
    assert!(d.contains(&format!(
        "<item id=\"{A}/0\" parentID=\"{A}\" restricted=\"1\">"
    )));
    assert!(d.contains("<dc:title>a &quot;quoted&quot; &apos;name&apos;.mkv</dc:title>"));
    assert!(d.contains("object.item.videoItem"));
    assert!(d.contains(
        "<res protocolInfo=\"http-get:*:video/x-matroska:DLNA.ORG_OP=01;DLNA.ORG_CI=0;\
         DLNA.ORG_FLAGS=01700000000000000000000000000000\" size=\"1500\">\
         http://10.0.0.2:8080/s/tok-0/a &quot;quoted&quot; &apos;name&apos;.mkv</res>"
    ));
    assert!(d.contains(&format!("http://10.0.0.2:8080/hls/{A}/0/index.m3u8</res>")));
    assert!(d.contains(&format!("<item id=\"{A}/2\"")));
    assert!(d.contains("object.item.audioItem.musicTrack"));
    assert!(d.contains("DLNA.ORG_PN=MP3;"));
    assert!(!d.contains("info.nfo"));
    assert_eq!(d.matches("/hls/").count(), 1, "no HLS variant for audio");
    let guarded = Library {
        hls: false,
        ..lib()
    };
    let g = browse(
        &guarded,
        A,
        BrowseFlag::DirectChildren,
        0,
        0,
        "http://h",
        "r",
    )
    .unwrap();
    assert!(!g.didl.contains("/hls/") && g.didl.contains("/s/tok-0/"));
    let m = browse(
        &l,
        &format!("{A}/2"),
        BrowseFlag::Metadata,
        0,
        0,
        "http://h",
        "r",
    )
    .unwrap();
    assert_eq!((m.returned, m.total), (1, 1));
    assert!(m.didl.contains("song.mp3"));
    let c = browse(&l, A, BrowseFlag::Metadata, 0, 0, "http://h", "r").unwrap();
    assert!(c
        .didl
        .contains(&format!("<container id=\"{A}\" parentID=\"0\"")));
}

#[test]
fn paging() {
    let mut l = Library::default();
    let files = (0..7).map(|i| f(i, &format!("t/{i}.mp4"), 1));
    l.push(A.into(), "t".into(), files);
    let page = |start, count| {
        browse(
            &l,
            A,
            BrowseFlag::DirectChildren,
            start,
            count,
            "http://h",
            "r",
        )
        .unwrap()
    };
    let p = page(2, 3);
    assert_eq!((p.returned, p.total), (3, 7));
    assert!(p.didl.contains("2.mp4") && p.didl.contains("4.mp4") && !p.didl.contains("5.mp4"));
    assert_eq!((page(5, 0).returned, page(5, 100).returned), (2, 2));
    assert_eq!(page(7, 1).returned, 0);
    assert_eq!(page(u32::MAX, u32::MAX).returned, 0);
    well_formed(&page(99, 1).didl);
}

#[test]
fn unknown_objects_and_flags() {
    let l = lib();
    for id in [
        "",
        "1",
        "-1",
        A.to_uppercase().as_str(),
        &format!("{A}/1"),
        &format!("{A}/9"),
        &format!("{A}/x"),
        &format!("{A}/0/0"),
        B,
    ] {
        let e = browse(&l, id, BrowseFlag::Metadata, 0, 0, "http://h", "r").unwrap_err();
        assert_eq!(e.code, 701, "{id:?}");
    }
    assert_eq!(BrowseFlag::parse("Browse").unwrap_err().code, 600);
    assert_eq!(
        BrowseFlag::parse(" BrowseMetadata ").unwrap(),
        BrowseFlag::Metadata
    );
    let r = browse(
        &l,
        &format!("{A}/0"),
        BrowseFlag::DirectChildren,
        0,
        0,
        "http://h",
        "r",
    )
    .unwrap();
    assert_eq!((r.returned, r.total), (0, 0));
}

#[test]
fn update_id_follows_the_tree() {
    let a = lib();
    let mut b = lib();
    assert_eq!(a.update_id(), b.update_id());
    b.push(
        B.into(),
        "more".into(),
        vec![f(3, "more/x.avi", 1)].into_iter(),
    );
    assert_ne!(a.update_id(), b.update_id());
}

#[test]
fn duration_and_resolution_from_a_probe() {
    assert_eq!(format_duration(6.0).as_deref(), Some("0:00:06.000"));
    assert_eq!(format_duration(5025.4567).as_deref(), Some("1:23:45.457"));
    assert_eq!(format_duration(360_000.0).as_deref(), Some("100:00:00.000"));
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e7] {
        assert_eq!(format_duration(bad), None, "{bad}");
    }
    let mut l = Library {
        hls: true,
        ..Library::default()
    };
    let mut probed = f(0, "t/a.mkv", 10);
    probed.probe = Some(Probed {
        duration: 5025.4567,
        resolution: Some((1920, 1080)),
    });
    let mut audio = f(1, "t/b.flac", 10);
    audio.probe = Some(Probed {
        duration: 61.0,
        resolution: None,
    });
    let mut broken = f(2, "t/c.mp4", 10);
    broken.probe = Some(Probed {
        duration: f64::NAN,
        resolution: Some((0, 0)),
    });
    l.push(
        A.into(),
        "t".into(),
        vec![probed, audio, broken].into_iter(),
    );
    let r = browse(&l, A, BrowseFlag::DirectChildren, 0, 0, "http://h", "r").unwrap();
    well_formed(&r.didl);
    let d = &r.didl;
    assert_eq!(
        d.matches("size=\"10\" duration=\"1:23:45.457\" resolution=\"1920x1080\">")
            .count(),
        1
    );
    assert!(d.contains("DLNA.ORG_FLAGS=01700000000000000000000000000000\" duration=\"1:23:45.457\" resolution=\"1920x1080\">http://h/hls/"));
    assert!(d.contains("size=\"10\" duration=\"0:01:01.000\">http://h/s/tok-1/b.flac"));
    assert!(
        d.contains("size=\"10\">http://h/s/tok-2/c.mp4"),
        "no made-up values"
    );
}

#[test]
fn protocol_infos() {
    let s = source_protocol_info();
    assert!(s.starts_with("http-get:*:video/mp4:*,"));
    assert!(s.contains("http-get:*:video/x-matroska:*"));
    assert_eq!(s.matches("image/jpeg").count(), 1);
    assert!(direct_protocol_info("a.mp3").contains("DLNA.ORG_PN=MP3;DLNA.ORG_OP=01"));
}
