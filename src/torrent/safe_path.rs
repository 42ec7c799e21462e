//! Turning names from a torrent into relative paths that cannot escape the
//! output directory.
//!
//! A torrent names its files with raw byte strings chosen by whoever made it.
//! Joining such a name to the download folder naively lets a hostile torrent
//! write anywhere (`../../.bashrc`, `/etc/cron.d/x`, `C:\...`). Every path a
//! torrent names goes through [`SafePath::from_components`] first, which
//! either produces a relative path made only of ordinary components or
//! refuses the path.
//!
//! What happens to each kind of component (decided per case):
//!
//! | input                                   | result |
//! |-----------------------------------------|--------|
//! | `..`                                    | **rejected**: only an attack needs it |
//! | `.` or empty                            | dropped (harmless no-op components) |
//! | nothing left after dropping             | **rejected** |
//! | invalid UTF-8                           | lossy conversion (U+FFFD), deterministic |
//! | `/`, `\`, NUL, control characters       | replaced by `_` (so `/etc` → `_etc`) |
//! | `< > : " \| ? *`                        | replaced by `_` |
//! | trailing dots and spaces                | each replaced by `_` |
//! | Windows device names (`CON`, `nul.txt`) | prefixed with `_` |
//! | component longer than 255 bytes         | truncated, keeping a short extension |
//! | whole path longer than 4096 bytes       | **rejected** |
//! | more than 1024 components               | **rejected** |
//!
//! The Windows rules apply on every platform on purpose: a Pi or a NAS often
//! writes to an exFAT/NTFS USB disk or an SMB share, where those names fail
//! or alias each other. The cost is that such names differ from what other
//! Linux clients would create. Rejecting `..` (instead of dropping it) makes
//! a hostile torrent fail loudly rather than half-work.

use std::path::{Path, PathBuf};

/// Longest component we create, in bytes (the usual filesystem limit).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Longest relative path we create, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// Most raw components in one path (`.` and empty ones included).
pub const MAX_COMPONENTS: usize = 1024;
/// Longest extension (with its dot) kept when a long name is truncated.
const MAX_KEPT_EXTENSION: usize = 32;

/// Characters never kept in a component (besides control characters).
const FORBIDDEN: &[char] = &['/', '\\', '<', '>', ':', '"', '|', '?', '*'];

/// Windows device names, reserved with any extension and in any case.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM1", "COM2", "COM3", "COM4", "COM5",
    "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5",
    "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// A relative path whose every component is safe: no `..`, `.`, empty or
/// absolute component, no NUL or path separator inside a component, no
/// Windows-reserved name. Joining it to a directory stays inside it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SafePath(PathBuf);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// A `..` component (at this index among the raw components).
    ParentDir { index: usize },
    /// No usable component: the list was empty or only `.`/empty strings.
    Empty,
    /// The sanitized path is longer than [`MAX_PATH_BYTES`].
    TooLong { bytes: usize },
    /// More than [`MAX_COMPONENTS`] raw components.
    TooManyComponents,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::ParentDir { index } => write!(
                f,
                "unsafe path in torrent: component {index} is '..' (would leave the download folder)"
            ),
            PathError::Empty => write!(f, "unsafe path in torrent: no usable path component"),
            PathError::TooLong { bytes } => write!(
                f,
                "unsafe path in torrent: path is {bytes} bytes long (limit {MAX_PATH_BYTES})"
            ),
            PathError::TooManyComponents => write!(
                f,
                "unsafe path in torrent: more than {MAX_COMPONENTS} path components"
            ),
        }
    }
}

impl std::error::Error for PathError {}

impl SafePath {
    /// Build from raw components as they appear in a torrent.
    pub fn from_components(components: &[&[u8]]) -> Result<SafePath, PathError> {
        if components.len() > MAX_COMPONENTS {
            return Err(PathError::TooManyComponents);
        }
        let mut path = PathBuf::new();
        let mut bytes = 0usize;
        for (index, raw) in components.iter().enumerate() {
            let Some(part) = sanitize_component(raw, index)? else {
                continue;
            };
            // Separator plus component; bounded because we stop at the limit.
            bytes = bytes.saturating_add(part.len() + usize::from(bytes > 0));
            if bytes > MAX_PATH_BYTES {
                return Err(PathError::TooLong { bytes });
            }
            path.push(part);
        }
        if bytes == 0 {
            return Err(PathError::Empty);
        }
        Ok(SafePath(path))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// `dir/self`; always inside `dir`.
    pub fn under(&self, dir: &Path) -> PathBuf {
        dir.join(&self.0)
    }
}

/// One raw component made safe; `Ok(None)` when it is to be dropped.
fn sanitize_component(raw: &[u8], index: usize) -> Result<Option<String>, PathError> {
    match raw {
        b"" | b"." => return Ok(None),
        b".." => return Err(PathError::ParentDir { index }),
        _ => {}
    }
    let text = String::from_utf8_lossy(raw);
    let mut s: String = text
        .chars()
        .map(|c| {
            if c.is_control() || FORBIDDEN.contains(&c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    fix_trailing(&mut s);
    if is_reserved(&s) {
        s.insert(0, '_');
    }
    truncate_component(&mut s);
    // Truncation without an extension may expose a dot or space at the end.
    fix_trailing(&mut s);
    Ok(Some(s))
}

/// Replace each trailing dot or space by `_` (Windows strips them, which
/// would make `a.` alias `a` and `.. ` alias `..`).
fn fix_trailing(s: &mut String) {
    let kept = s.trim_end_matches(['.', ' ']).len();
    let run = s.len() - kept;
    if run > 0 {
        s.truncate(kept);
        s.extend(std::iter::repeat_n('_', run));
    }
}

/// Whether Windows would treat this name as a device (`con`, `NUL.txt`,
/// `com1 .tar.gz`): the part before the first dot, less trailing spaces.
fn is_reserved(s: &str) -> bool {
    let stem = s.split('.').next().unwrap_or("").trim_end_matches(' ');
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem))
}

/// Cut to [`MAX_COMPONENT_BYTES`] on a character boundary, keeping a short
/// extension (`very long name….mkv` stays an `.mkv`).
fn truncate_component(s: &mut String) {
    if s.len() <= MAX_COMPONENT_BYTES {
        return;
    }
    let ext_start = s
        .rfind('.')
        .filter(|&dot| dot > 0 && s.len() - dot <= MAX_KEPT_EXTENSION);
    let ext = ext_start
        .map(|dot| s[dot..].to_string())
        .unwrap_or_default();
    let mut cut = MAX_COMPONENT_BYTES - ext.len();
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push_str(&ext);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Component;

    fn sp(parts: &[&str]) -> Result<SafePath, PathError> {
        let raw: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
        SafePath::from_components(&raw)
    }

    fn shown(parts: &[&str]) -> String {
        sp(parts)
            .map(|p| p.as_path().display().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn ordinary_paths_are_kept() {
        assert_eq!(
            shown(&["Movie", "Season 1", "ep01.mkv"]),
            "Movie/Season 1/ep01.mkv"
        );
        assert_eq!(shown(&[".hidden"]), ".hidden");
        assert_eq!(shown(&["Ünïcødé 日本語.txt"]), "Ünïcødé 日本語.txt");
        assert_eq!(shown(&["...a"]), "...a");
    }

    #[test]
    fn parent_components_are_rejected() {
        assert_eq!(sp(&[".."]), Err(PathError::ParentDir { index: 0 }));
        assert_eq!(
            sp(&["a", "..", "b"]),
            Err(PathError::ParentDir { index: 1 })
        );
    }

    #[test]
    fn dot_and_empty_components_are_dropped() {
        assert_eq!(shown(&["a", ".", "", "b"]), "a/b");
        assert_eq!(sp(&[".", ""]), Err(PathError::Empty));
        assert_eq!(sp(&[]), Err(PathError::Empty));
    }

    #[test]
    fn separators_and_absolute_paths_become_single_components() {
        assert_eq!(shown(&["/etc/passwd"]), "_etc_passwd");
        assert_eq!(shown(&["../../x"]), ".._.._x");
        assert_eq!(shown(&["..\\..\\x"]), ".._.._x");
        assert_eq!(shown(&["C:\\Windows"]), "C__Windows");
        assert_eq!(shown(&["C:"]), "C_");
        assert_eq!(shown(&["a\0b"]), "a_b");
        assert_eq!(shown(&["tab\there\x1b[31m"]), "tab_here_[31m");
        assert_eq!(shown(&["what?*<>|\""]), "what______");
    }

    #[test]
    fn trailing_dots_and_spaces_are_replaced() {
        assert_eq!(shown(&["name."]), "name_");
        assert_eq!(shown(&["name . "]), "name___");
        assert_eq!(shown(&[".. "]), "___");
        assert_eq!(shown(&["..."]), "___");
        assert_eq!(shown(&[" .."]), "___");
    }

    #[test]
    fn windows_device_names_are_prefixed() {
        for name in [
            "CON",
            "con",
            "nul.txt",
            "Com1",
            "LPT9.tar.gz",
            "aux .x",
            "COM¹",
            "conin$",
        ] {
            assert_eq!(shown(&[name]), format!("_{name}"), "{name}");
        }
        assert_eq!(
            shown(&["CONSOLE", "com10", "lpt", "nul_x"]),
            "CONSOLE/com10/lpt/nul_x"
        );
        assert_eq!(shown(&["con."]), "con_", "trailing fix happens first");
    }

    #[test]
    fn invalid_utf8_is_converted_deterministically() {
        let raw: &[&[u8]] = &[b"caf\xe9.txt"];
        let a = SafePath::from_components(raw);
        assert_eq!(a, SafePath::from_components(raw));
        assert_eq!(
            a.map(|p| p.as_path().display().to_string()),
            Ok("caf\u{fffd}.txt".into())
        );
    }

    #[test]
    fn long_components_are_truncated_keeping_the_extension() {
        let long = format!("{}.mkv", "a".repeat(400));
        let out = shown(&[&long]);
        assert_eq!(out.len(), MAX_COMPONENT_BYTES);
        assert!(out.ends_with("a.mkv"));
        // Multi-byte characters are never split.
        let wide = "日".repeat(200);
        let out = shown(&[&wide]);
        assert!(out.len() <= MAX_COMPONENT_BYTES && out.chars().all(|c| c == '日'));
        // No extension, cut lands right before a space: no trailing space.
        let spaced = format!("{} {}", "b".repeat(254), "c".repeat(10));
        assert_eq!(shown(&[&spaced]), format!("{}_", "b".repeat(254)));
    }

    #[test]
    fn overlong_paths_are_rejected() {
        let part = "d".repeat(200);
        let parts: Vec<&str> = std::iter::repeat_n(part.as_str(), 30).collect();
        assert!(matches!(sp(&parts), Err(PathError::TooLong { .. })));
        let parts: Vec<&str> = std::iter::repeat_n(part.as_str(), 20).collect();
        assert!(sp(&parts).is_ok());
        let parts = vec![""; MAX_COMPONENTS + 1];
        assert_eq!(sp(&parts), Err(PathError::TooManyComponents));
    }

    /// Hostile pieces combined into many component lists.
    const HOSTILE: &[&[u8]] = &[
        b"..",
        b".",
        b"",
        b"/",
        b"//",
        b"/etc",
        b"/etc/passwd",
        b"\\",
        b"..\\..",
        b"../..",
        b"a/../../b",
        b"C:",
        b"C:\\",
        b"\\\\?\\C:\\x",
        b"\0",
        b"..\0",
        b"\0..",
        b" ..",
        b".. ",
        b"...",
        b". .",
        b"CON",
        b"nul.txt",
        b"com1",
        b"\xff\xfe",
        b"\xc0\xae\xc0\xae",
        b"~",
        b"$HOME",
        b"a\nb",
        b"\x1b]0;x\x07",
        b"normal",
        b"dir",
        b"x.mkv",
    ];

    /// A small deterministic generator (no external crates).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as usize
        }
    }

    fn hostile_lists(count: usize) -> Vec<Vec<Vec<u8>>> {
        let mut rng = Lcg(0x5eed);
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let n = 1 + rng.next() % 5;
            let mut list = Vec::with_capacity(n);
            for _ in 0..n {
                let mut c = HOSTILE[rng.next() % HOSTILE.len()].to_vec();
                if rng.next() % 4 == 0 {
                    c.extend_from_slice(HOSTILE[rng.next() % HOSTILE.len()]);
                }
                if rng.next() % 50 == 0 {
                    c.extend(std::iter::repeat_n(b'.', 300));
                }
                list.push(c);
            }
            out.push(list);
        }
        out
    }

    #[test]
    fn hostile_names_never_leave_the_directory() {
        let dir = Path::new("/srv/rill/downloads");
        let (mut ok, mut rejected) = (0, 0);
        for list in hostile_lists(20_000) {
            let raw: Vec<&[u8]> = list.iter().map(Vec::as_slice).collect();
            let Ok(p) = SafePath::from_components(&raw) else {
                rejected += 1;
                continue;
            };
            ok += 1;
            let full = p.under(dir);
            assert!(full.starts_with(dir), "{raw:?} -> {full:?}");
            assert!(
                full.components().count() > dir.components().count(),
                "{raw:?}"
            );
            for c in p.as_path().components() {
                let Component::Normal(name) = c else {
                    panic!("{raw:?} gave non-normal component {c:?}");
                };
                let name = name.to_str().unwrap_or("");
                assert!(!name.is_empty() && name != "." && name != "..", "{raw:?}");
                assert!(!name.contains(['/', '\\', '\0']), "{raw:?}");
                assert!(name.len() <= MAX_COMPONENT_BYTES, "{raw:?}");
                assert!(!name.ends_with(['.', ' ']) && !is_reserved(name), "{raw:?}");
            }
        }
        assert!(ok > 1000 && rejected > 1000, "ok {ok}, rejected {rejected}");
    }

    /// Create every accepted hostile path for real and check that nothing
    /// appeared outside the target directory.
    #[test]
    fn hostile_names_written_to_disk_stay_inside() {
        let base = std::env::temp_dir().join(format!("rill-safepath-{}", std::process::id()));
        let target = base.join("target");
        std::fs::create_dir_all(&target).expect("create temp dir");
        let mut written = 0;
        for list in hostile_lists(400) {
            let raw: Vec<&[u8]> = list.iter().map(Vec::as_slice).collect();
            let Ok(p) = SafePath::from_components(&raw) else {
                continue;
            };
            let full = p.under(&target);
            if let Some(parent) = full.parent() {
                if std::fs::create_dir_all(parent).is_err() {
                    continue; // e.g. a file already took the name of a directory
                }
            }
            if std::fs::write(&full, b"x").is_ok() {
                written += 1;
                let real = std::fs::canonicalize(&full).expect("canonicalize");
                let real_target = std::fs::canonicalize(&target).expect("canonicalize");
                assert!(real.starts_with(&real_target), "{raw:?} -> {real:?}");
            }
        }
        let outside: Vec<_> = std::fs::read_dir(&base)
            .expect("read base")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        std::fs::remove_dir_all(&base).ok();
        assert!(written > 50, "only {written} written");
        assert_eq!(outside, vec![std::ffi::OsString::from("target")]);
    }
}
