//! The settings of `rill serve`: defaults, the TOML config file (every
//! key in [`KNOWN_KEYS`], documented in `docs/config.md`) and the
//! command-line flags that win over it.

use std::net::SocketAddr;
use std::path::PathBuf;

use log::warn;

use crate::config::toml::Document;

const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
const DEFAULT_DATA: &str = "./rill-data";
/// Dual-stack (IPv4 and IPv6); `0.0.0.0` on a host without IPv6.
pub(super) const DEFAULT_PEER_LISTEN: &str = "[::]:6881";
const DEFAULT_USER: &str = "rill";
/// Default largest upload (and fetched `.torrent`): 16 MiB.
const DEFAULT_UPLOAD_LIMIT: u64 = 16 << 20;
/// Default disk cache of storage mode `stream`, MiB.
const DEFAULT_STREAM_CACHE_MIB: u64 = 1024;
/// Smallest disk cache accepted, MiB (a few pieces of the largest size
/// plus a read-ahead window).
const MIN_STREAM_CACHE_MIB: u64 = 16;
/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// Every key the config file may hold.
const KNOWN_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "board",
    "peer_listen",
    "user",
    "password",
    "upload_limit",
    "seed",
    "dlna",
    "dlna_name",
    "dlna_interface",
    "storage",
    "stream_cache_mib",
    "ffmpeg",
    "ffprobe",
    "allowed_hosts",
    "max_torrents",
    "encryption",
    "port_mapping",
    "utp",
    "dht",
    "dht_bootstrap",
    "lsd",
    "pex",
];

/// Where verified pieces go (`storage = "keep" | "stream"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Storage {
    /// Whole files in `<data>/downloads`.
    Keep,
    /// A bounded piece cache in `<data>/cache`; only what is read is fetched.
    Stream,
}

/// The settings after defaults, config file and flags.
#[derive(Debug, PartialEq)]
pub(super) struct Settings {
    pub(super) listen: SocketAddr,
    pub(super) data_dir: PathBuf,
    pub(super) board: Option<String>,
    /// `None`: the default, with fallback to the next free port.
    pub(super) peer_listen: Option<SocketAddr>,
    pub(super) user: String,
    pub(super) password: Option<String>,
    pub(super) upload_limit: u64,
    pub(super) seed: bool,
    pub(super) dlna: crate::dlna::DlnaSettings,
    pub(super) storage: Storage,
    pub(super) stream_cache_mib: u64,
    /// ffmpeg and ffprobe binaries (HLS).
    pub(super) tools: crate::media::Tools,
    /// Extra `Host` names the HTTP side answers to.
    pub(super) allowed_hosts: Vec<String>,
    /// Most torrents kept; `None`: the board profile's.
    pub(super) max_torrents: Option<u32>,
    /// MSE/PE policy (`encryption = "prefer" | "require" | "off"`).
    pub(super) encryption: crate::swarm::Encryption,
    /// Ask the router to forward the peer port (UPnP-IGD, NAT-PMP).
    pub(super) port_mapping: bool,
    /// uTP (BEP 29) to and from peers (`utp = true | false`).
    pub(super) utp: bool,
    pub(super) dht: crate::dht::DhtSettings,
    /// Local peer discovery (BEP 14) on the LAN (`lsd = true | false`).
    pub(super) lsd: bool,
    /// Peer exchange (BEP 11) (`pex = true | false`).
    pub(super) pex: bool,
}

/// Command-line flags (each overrides the config file).
#[derive(Debug, Default, PartialEq)]
pub(super) struct Flags {
    pub(super) config: Option<PathBuf>,
    pub(super) listen: Option<String>,
    pub(super) data: Option<PathBuf>,
    pub(super) board: Option<String>,
    pub(super) peer_listen: Option<String>,
}

pub(super) fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--config" => f.config = Some(PathBuf::from(value()?)),
            "--listen" => f.listen = Some(value()?),
            "--data" => f.data = Some(PathBuf::from(value()?)),
            "--board" => f.board = Some(value()?),
            "--peer-listen" => f.peer_listen = Some(value()?),
            _ => return Err(format!("serve: unexpected argument '{arg}'")),
        }
    }
    Ok(f)
}

pub(super) fn parse_addr(what: &str, v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("{what} {v:?}: not an IP:PORT address"))
}

/// Defaults, then the config file, then the flags.
pub(super) fn load_settings(flags: &Flags) -> Result<Settings, String> {
    let doc = match &flags.config {
        Some(path) => {
            let text = read_config(path)?;
            let doc = Document::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            for (key, pos) in doc.unknown_keys(KNOWN_KEYS) {
                warn!(
                    "{}: {pos}: unknown setting '{key}' ignored (known: {})",
                    path.display(),
                    KNOWN_KEYS.join(", ")
                );
            }
            Some((path.clone(), doc))
        }
        None => None,
    };
    settings_from(
        doc.as_ref().map(|(p, d)| (p.display().to_string(), d)),
        flags,
    )
}

fn read_config(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("config {}: {e}", path.display()))?;
    let mut text = String::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("config {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!("config {}: larger than 256 KiB", path.display()));
    }
    Ok(text)
}

fn settings_from(doc: Option<(String, &Document)>, flags: &Flags) -> Result<Settings, String> {
    let origin = doc.as_ref().map(|(p, _)| p.clone()).unwrap_or_default();
    let err = |e: crate::config::toml::TomlError| format!("{origin}: {e}");
    let mut s = Settings {
        listen: parse_addr("listen", DEFAULT_LISTEN)?,
        data_dir: PathBuf::from(DEFAULT_DATA),
        board: None,
        peer_listen: None,
        user: DEFAULT_USER.to_string(),
        password: None,
        upload_limit: DEFAULT_UPLOAD_LIMIT,
        seed: true,
        dlna: Default::default(),
        storage: Storage::Keep,
        stream_cache_mib: DEFAULT_STREAM_CACHE_MIB,
        tools: crate::media::Tools::default(),
        allowed_hosts: Vec::new(),
        max_torrents: None,
        encryption: crate::swarm::Encryption::default(),
        port_mapping: true,
        utp: true,
        dht: Default::default(),
        lsd: true,
        pex: true,
    };
    if let Some((_, d)) = &doc {
        if let Some(v) = d.get_str("listen").map_err(err)? {
            s.listen = parse_addr(&format!("{origin}: listen"), v)?;
        }
        if let Some(v) = d.get_str("data_dir").map_err(err)? {
            s.data_dir = PathBuf::from(v);
        }
        if let Some(v) = d.get_str("board").map_err(err)? {
            if v != "auto" {
                s.board = Some(v.to_string());
            }
        }
        if let Some(v) = d.get_str("peer_listen").map_err(err)? {
            s.peer_listen = Some(parse_addr(&format!("{origin}: peer_listen"), v)?);
        }
        if let Some(v) = d.get_str("user").map_err(err)? {
            s.user = v.to_string();
        }
        if let Some(v) = d.get_str("password").map_err(err)? {
            s.password = Some(v.to_string()).filter(|p| !p.is_empty());
        }
        if let Some(v) = d.get_u64("upload_limit").map_err(err)? {
            if v < 1024 {
                return Err(format!("{origin}: upload_limit {v} is below 1024 bytes"));
            }
            s.upload_limit = v;
        }
        if let Some(v) = d.get_bool("seed").map_err(err)? {
            s.seed = v;
        }
        s.dlna = crate::dlna::DlnaSettings::from_config(d, &origin)?;
        s.dht = crate::dht::DhtSettings::from_config(d, &origin)?;
        if let Some(v) = d.get_str("storage").map_err(err)? {
            s.storage = match v {
                "keep" => Storage::Keep,
                "stream" => Storage::Stream,
                other => {
                    return Err(format!(
                        "{origin}: storage {other:?}: expected \"keep\" or \"stream\""
                    ))
                }
            };
        }
        if let Some(v) = d.get_u64("stream_cache_mib").map_err(err)? {
            if !(MIN_STREAM_CACHE_MIB..=u64::MAX >> 20).contains(&v) {
                return Err(format!(
                    "{origin}: stream_cache_mib {v} is below {MIN_STREAM_CACHE_MIB} (or absurdly large)"
                ));
            }
            s.stream_cache_mib = v;
        }
        if let Some(v) = d.get_str("ffmpeg").map_err(err)? {
            s.tools.ffmpeg = PathBuf::from(v);
        }
        if let Some(v) = d.get_str("ffprobe").map_err(err)? {
            s.tools.ffprobe = PathBuf::from(v);
        }
        if let Some(v) = d.get_u32("max_torrents").map_err(err)? {
            if v == 0 {
                return Err(format!("{origin}: max_torrents must be at least 1"));
            }
            s.max_torrents = Some(v);
        }
        if let Some(v) = d.get_str_array("allowed_hosts").map_err(err)? {
            s.allowed_hosts = v.into_iter().map(str::to_string).collect();
        }
        if let Some(v) = d.get_bool("port_mapping").map_err(err)? {
            s.port_mapping = v;
        }
        if let Some(v) = d.get_bool("utp").map_err(err)? {
            s.utp = v;
        }
        if let Some(v) = d.get_bool("lsd").map_err(err)? {
            s.lsd = v;
        }
        if let Some(v) = d.get_bool("pex").map_err(err)? {
            s.pex = v;
        }
        if let Some(v) = d.get_str("encryption").map_err(err)? {
            s.encryption = crate::swarm::Encryption::parse(v).ok_or_else(|| {
                format!("{origin}: encryption {v:?}: expected \"prefer\", \"require\" or \"off\"")
            })?;
        }
    }
    if let Some(v) = &flags.listen {
        s.listen = parse_addr("--listen", v)?;
    }
    if let Some(v) = &flags.data {
        s.data_dir = v.clone();
    }
    if let Some(v) = &flags.board {
        s.board = Some(v.clone()).filter(|b| b != "auto");
    }
    if let Some(v) = &flags.peer_listen {
        s.peer_listen = Some(parse_addr("--peer-listen", v)?);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_without_config() {
        let s = settings_from(None, &Flags::default()).unwrap();
        assert_eq!(s.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.data_dir, PathBuf::from("./rill-data"));
        assert_eq!(s.board, None);
        assert_eq!(s.peer_listen, None);
        assert_eq!(s.password, None);
        assert_eq!(s.upload_limit, 16 << 20);
        assert!(s.seed);
        assert_eq!(s.storage, Storage::Keep);
        assert_eq!(s.stream_cache_mib, 1024);
        assert!(s.lsd);
        assert!(s.pex);
    }

    #[test]
    fn config_then_flags() {
        let doc = Document::parse(
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/rill\"\nboard = \"pi4\"\n\
             peer_listen = \"0.0.0.0:7000\"\nuser = \"me\"\npassword = \"pw\"\n\
             upload_limit = 2048\nseed = false\nlsd = false\npex = false\nstorage = \"stream\"\nstream_cache_mib = 64\nffmpeg = \"/opt/ff/ffmpeg\"\n",
        )
        .unwrap();
        let s = settings_from(Some(("c.toml".into(), &doc)), &Flags::default()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(s.data_dir, PathBuf::from("/srv/rill"));
        assert_eq!(s.board.as_deref(), Some("pi4"));
        assert_eq!(s.peer_listen, Some("0.0.0.0:7000".parse().unwrap()));
        assert_eq!((s.user.as_str(), s.password.as_deref()), ("me", Some("pw")));
        assert_eq!(s.upload_limit, 2048);
        assert!(!s.seed);
        assert!(!s.lsd);
        assert!(!s.pex);
        assert_eq!((s.storage, s.stream_cache_mib), (Storage::Stream, 64));
        assert_eq!(s.tools.ffmpeg, PathBuf::from("/opt/ff/ffmpeg"));
        assert_eq!(s.tools.ffprobe, PathBuf::from("ffprobe"));
        let flags = parse_flags(&args(&[
            "--listen",
            "127.0.0.2:1",
            "--data=/d",
            "--board",
            "auto",
            "--peer-listen=127.0.0.3:2",
        ]))
        .unwrap();
        let s = settings_from(Some(("c.toml".into(), &doc)), &flags).unwrap();
        assert_eq!(s.listen, "127.0.0.2:1".parse().unwrap());
        assert_eq!(s.data_dir, PathBuf::from("/d"));
        assert_eq!(s.board, None);
        assert_eq!(s.peer_listen, Some("127.0.0.3:2".parse().unwrap()));
    }

    #[test]
    fn sample_config_and_docs_cover_every_key() {
        let sample = include_str!("../../../docs/rill.example.toml");
        let doc = Document::parse(sample).unwrap();
        assert!(doc.unknown_keys(KNOWN_KEYS).is_empty());
        let s = settings_from(Some(("sample".into(), &doc)), &Flags::default()).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/var/lib/rill"));
        let docs = include_str!("../../../docs/config.md");
        for key in KNOWN_KEYS {
            assert!(
                docs.contains(&format!("| `{key}` |")),
                "{key} not in docs/config.md"
            );
        }
    }

    #[test]
    fn bad_settings_are_errors() {
        for text in [
            "listen = 8080",
            "listen = \"nonsense\"",
            "upload_limit = -1",
            "upload_limit = 10",
            "seed = \"yes\"",
            "peer_listen = \"1.2.3.4\"",
            "storage = \"cache\"",
            "storage = true",
            "stream_cache_mib = 15",
            "stream_cache_mib = \"64\"",
            "encryption = \"on\"",
            "port_mapping = \"yes\"",
            "lsd = 1",
            "encryption = true",
        ] {
            let doc = Document::parse(text).unwrap();
            let e = settings_from(Some(("c.toml".into(), &doc)), &Flags::default());
            assert!(e.is_err(), "{text}");
            assert!(e.unwrap_err().starts_with("c.toml"), "{text}");
        }
        for bad in [&["--listen"][..], &["--bogus"], &["x"], &["--listen=nope"]] {
            let r = parse_flags(&args(bad)).and_then(|f| settings_from(None, &f));
            assert!(r.is_err(), "{bad:?}");
        }
    }
}
