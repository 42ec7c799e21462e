//! DLNA/UPnP MediaServer: TVs and media players on the LAN find rill by
//! themselves, browse its torrents and play their files.
//!
//! - [`ssdp`]: SSDP messages (parse M-SEARCH, build answers and NOTIFYs), pure.
//! - [`announce`]: the UDP thread on 239.255.255.250:1900.
//! - [`description`]: device description and the two service descriptions.
//! - [`content`]: ContentDirectory Browse over the torrents, as DIDL-Lite.
//! - [`soap`], [`xml`]: reading control calls and writing answers and faults.
//!
//! The `/dlna/...` routes over these are `http::dlna_routes`.
//!
//! On by default (`dlna = false` turns it off). TVs cannot send HTTP Basic
//! credentials, so the `/dlna/` routes need none and items point at the
//! per-file token URLs (`/s/TOKEN/NAME`). With a password set that would
//! open the box's media to the whole LAN, so DLNA then stays off unless the
//! config says `dlna = true` explicitly. `docs/dlna.md` has the details.
//!
//! The device's UUID is generated once and kept in `<data_dir>/dlna-uuid`,
//! so a TV keeps recognising the box across restarts.

pub mod announce;
pub mod content;
pub mod description;
pub mod soap;
pub mod ssdp;
pub mod xml;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use log::{info, warn};

use crate::config::toml::Document;

/// File under the data dir holding the device UUID.
const UUID_FILE: &str = "dlna-uuid";

/// The DLNA settings of `rill serve` (default: on, unless a password is set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DlnaSettings {
    /// `dlna` as the config file says it; `None` (not set) means on,
    /// unless a password is set.
    pub enabled: Option<bool>,
    /// Friendly name; `None`: `rill on <hostname>`.
    pub name: Option<String>,
    /// IPv4 address of the interface to announce on.
    pub interface: Option<Ipv4Addr>,
}

impl DlnaSettings {
    /// Read `dlna`, `dlna_name` and `dlna_interface` from a config file;
    /// errors name `origin` (the file) and the line.
    pub fn from_config(doc: &Document, origin: &str) -> Result<DlnaSettings, String> {
        let err = |e: crate::config::toml::TomlError| format!("{origin}: {e}");
        let mut s = DlnaSettings::default();
        if let Some(v) = doc.get_bool("dlna").map_err(err)? {
            s.enabled = Some(v);
        }
        if let Some(v) = doc.get_str("dlna_name").map_err(err)? {
            let v = v.trim();
            if v.is_empty() || v.chars().count() > 64 {
                return Err(format!("{origin}: dlna_name must be 1 to 64 characters"));
            }
            s.name = Some(v.to_string());
        }
        if let Some(v) = doc.get_str("dlna_interface").map_err(err)? {
            let ip = v
                .parse()
                .map_err(|_| format!("{origin}: dlna_interface {v:?}: not an IPv4 address"))?;
            s.interface = Some(ip);
        }
        Ok(s)
    }
}

/// Who the box is on the LAN.
#[derive(Clone, Debug)]
pub struct Device {
    pub uuid: String,
    pub name: String,
}

/// The device to serve, or `None` when DLNA is off (by config, because a
/// password is set and `dlna = true` is not, or because the UUID cannot be
/// kept; each is logged).
pub fn prepare(s: &DlnaSettings, data_dir: &Path, password_set: bool) -> Option<Arc<Device>> {
    match (s.enabled, password_set) {
        (Some(false), _) => return None,
        (None, true) => {
            warn!(
                "dlna: off because a password is set; with dlna = true, TVs on the LAN \
                 can browse and play every file without it (see docs/dlna.md)"
            );
            return None;
        }
        (Some(true), true) => info!(
            "dlna: on with a password set (dlna = true): the DLNA routes and the \
             files' stream links need no password"
        ),
        _ => {}
    }
    let uuid = match load_or_create_uuid(data_dir) {
        Ok(u) => u,
        Err(e) => {
            warn!("dlna: off: {e}");
            return None;
        }
    };
    let name = s.name.clone().unwrap_or_else(default_name);
    Some(Arc::new(Device { uuid, name }))
}

/// Start announcing `device` for the HTTP server at `http`. A failure
/// (port 1900 unusable, no multicast) is logged: browsing by URL still
/// works, only discovery does not.
pub fn announce(
    device: &Device,
    http: SocketAddr,
    s: &DlnaSettings,
) -> Option<announce::Announcer> {
    // A box serving only on loopback announces only on loopback: nothing
    // on the LAN could reach the URLs (and tests stay off the LAN).
    let interface = match (s.interface, http.ip()) {
        (Some(ip), _) => Some(ip),
        (None, IpAddr::V4(ip)) if ip.is_loopback() => Some(ip),
        (None, ip) if ip.is_loopback() => Some(Ipv4Addr::LOCALHOST),
        (None, _) => None,
    };
    let cfg = announce::AnnounceConfig {
        uuid: device.uuid.clone(),
        http,
        interface,
    };
    match announce::Announcer::start(cfg) {
        Ok(a) => {
            info!("dlna: media server \"{}\" is on", device.name);
            Some(a)
        }
        Err(e) => {
            warn!("dlna: cannot use UDP port 1900 for discovery ({e}); TVs will not find the box");
            None
        }
    }
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.trim().chars().take(40).collect();
    if host.is_empty() {
        "rill".to_string()
    } else {
        format!("rill on {host}")
    }
}

/// Whether `s` is a UUID in its 8-4-4-4-12 lowercase hex form.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// A random (version 4) UUID: kernel random bytes (the clock-and-process
/// seed if the kernel has none to give).
fn new_uuid() -> String {
    let mut b = [0u8; 16];
    if crate::random::os_bytes(&mut b).is_err() {
        b[..8].copy_from_slice(&crate::random::seed().to_le_bytes());
        b[8..].copy_from_slice(&crate::random::seed().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The UUID kept in the data dir, made (and saved atomically) if missing
/// or unreadable.
pub fn load_or_create_uuid(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join(UUID_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let t = text.trim();
        if is_uuid(t) {
            return Ok(t.to_string());
        }
        warn!(
            "dlna: {} does not hold a UUID; making a new one",
            path.display()
        );
    }
    let uuid = new_uuid();
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    crate::session::files::write_atomic(&path, format!("{uuid}\n").as_bytes())
        .map_err(|e| format!("cannot save the device UUID: {e}"))?;
    Ok(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("rill-dlna-uuid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = load_or_create_uuid(&dir).unwrap();
        assert!(is_uuid(&a), "{a}");
        assert_eq!(&a[14..15], "4");
        assert_eq!(load_or_create_uuid(&dir).unwrap(), a);
        std::fs::write(dir.join(UUID_FILE), "garbage").unwrap();
        let b = load_or_create_uuid(&dir).unwrap();
        assert!(is_uuid(&b) && b != a);
        let _ = std::fs::remove_dir_all(&dir);
        for bad in [
            "",
            "x",
            "4d696e69-444c-164e-9d41-b827eb96c6c",
            "4D696E69-444C-164E-9D41-B827EB96C6C2",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn settings_from_config() {
        let doc = Document::parse("").unwrap();
        assert_eq!(
            DlnaSettings::from_config(&doc, "c").unwrap(),
            DlnaSettings::default()
        );
        let doc = Document::parse(
            "dlna = false\ndlna_name = \"Living room\"\ndlna_interface = \"192.168.1.5\"\n",
        )
        .unwrap();
        let s = DlnaSettings::from_config(&doc, "c").unwrap();
        assert_eq!(s.enabled, Some(false));
        assert_eq!(s.name.as_deref(), Some("Living room"));
        assert_eq!(s.interface, Some(Ipv4Addr::new(192, 168, 1, 5)));
        for bad in [
            "dlna = 1",
            "dlna_name = \"\"",
            "dlna_interface = \"eth0\"",
            "dlna_interface = \"::1\"",
        ] {
            let doc = Document::parse(bad).unwrap();
            let e = DlnaSettings::from_config(&doc, "c.toml").unwrap_err();
            assert!(e.starts_with("c.toml"), "{bad}: {e}");
        }
    }

    #[test]
    fn off_by_config_or_by_password_without_opt_in() {
        let dir = std::env::temp_dir().join(format!("rill-dlna-prep-{}", std::process::id()));
        let off = DlnaSettings {
            enabled: Some(false),
            ..Default::default()
        };
        assert!(prepare(&off, &dir, false).is_none());
        assert!(prepare(&DlnaSettings::default(), &dir, true).is_none());
        let on = DlnaSettings {
            enabled: Some(true),
            ..Default::default()
        };
        assert!(prepare(&on, &dir, true).is_some());
        let d = prepare(&DlnaSettings::default(), &dir, false).unwrap();
        assert!(d.name.starts_with("rill"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
