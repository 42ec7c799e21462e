//! The DHT keys of `rill serve`'s config file: `dht = true|false` and
//! `dht_bootstrap = ["HOST:PORT", ...]` (replaces the built-in routers).

use std::path::Path;

use super::{check_bootstrap, DhtConfig};
use crate::config::toml::Document;

/// The routing table's file name under the data directory.
pub const STATE_FILE: &str = "dht-routing";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhtSettings {
    pub enabled: bool,
    pub bootstrap: Option<Vec<String>>,
}

impl Default for DhtSettings {
    fn default() -> Self {
        DhtSettings {
            enabled: true,
            bootstrap: None,
        }
    }
}

impl DhtSettings {
    /// Read `dht` and `dht_bootstrap`; errors start with `origin`.
    pub fn from_config(doc: &Document, origin: &str) -> Result<DhtSettings, String> {
        let err = |e: crate::config::toml::TomlError| format!("{origin}: {e}");
        let mut s = DhtSettings::default();
        if let Some(v) = doc.get_bool("dht").map_err(err)? {
            s.enabled = v;
        }
        if let Some(v) = doc.get_str_array("dht_bootstrap").map_err(err)? {
            for e in &v {
                check_bootstrap(e).map_err(|m| format!("{origin}: dht_bootstrap: {m}"))?;
            }
            s.bootstrap = Some(v.iter().map(|e| e.to_string()).collect());
        }
        Ok(s)
    }

    /// The engine's DHT config (`None` when off), the table kept in
    /// `data_dir/dht-routing`.
    pub fn engine_config(&self, data_dir: &Path) -> Option<DhtConfig> {
        if !self.enabled {
            return None;
        }
        let mut c = DhtConfig {
            state_file: Some(data_dir.join(STATE_FILE)),
            ..DhtConfig::default()
        };
        if let Some(b) = &self.bootstrap {
            c.bootstrap = b.clone();
        }
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<DhtSettings, String> {
        DhtSettings::from_config(&Document::parse(text).unwrap(), "c.toml")
    }

    #[test]
    fn keys_and_defaults() {
        assert_eq!(read("").unwrap(), DhtSettings::default());
        let s = read("dht_bootstrap = [\"127.0.0.2:6881\", \"h:1\"]").unwrap();
        let c = s.engine_config(Path::new("/d")).unwrap();
        assert_eq!(c.bootstrap, ["127.0.0.2:6881", "h:1"]);
        assert_eq!(c.state_file.as_deref(), Some(Path::new("/d/dht-routing")));
        // An empty list: no bootstrap at all (the saved table only).
        let c = read("dht_bootstrap = []")
            .unwrap()
            .engine_config(Path::new("/d"));
        assert!(c.unwrap().bootstrap.is_empty());
        let d = DhtSettings::default()
            .engine_config(Path::new("/d"))
            .unwrap();
        assert_eq!(d.bootstrap.len(), 4);
        assert!(read("dht = false")
            .unwrap()
            .engine_config(Path::new("/d"))
            .is_none());
        for bad in [
            "dht = 1",
            "dht_bootstrap = \"h:1\"",
            "dht_bootstrap = [\"nope\"]",
            "dht_bootstrap = [1]",
        ] {
            let e = read(bad).unwrap_err();
            assert!(e.starts_with("c.toml"), "{bad}: {e}");
        }
    }
}
