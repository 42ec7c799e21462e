//! Board auto-detection and RAM scaling.
//!
//! The device tree names a Raspberry Pi exactly ("Raspberry Pi 4 Model B
//! Rev 1.4"); other boards are told apart by architecture and memory. The
//! decision ([`detect_from`]) is a pure function of what was read, so it is
//! tested without the hardware; [`detect`] only reads the files.
//!
//! Profiles are sized for a typical memory size of their board family
//! (`ram.assumed_mib`); a board with less (a 1 GB Pi 4, a 512 MB NAS) gets
//! the RAM-bound caps scaled down in proportion, so rill does not push it
//! into swap or the OOM killer.

use super::{by_name, BoardError, BoardProfile, MIB};

const MODEL_PATH: &str = "/proc/device-tree/model";
const MEMINFO_PATH: &str = "/proc/meminfo";

/// ARM boards below this MemTotal (KiB) get the smallest profile.
const SMALL_BOARD_KIB: u64 = 1024 * 1024;

/// Lower bounds when scaling down: below these nothing works well anyway.
const MIN_INFLIGHT: u64 = 4 * MIB;
const MIN_TIER: u64 = 4 * MIB;
/// Smallest write queue a scaled profile keeps.
const MIN_WRITE_QUEUE: u64 = 4 * MIB;
const MIN_SEGMENT_CACHE: u64 = 4 * MIB;
const MIN_CONNECTIONS: u32 = 8;
const MIN_PEERS_PER_TORRENT: u32 = 4;
const MIN_PROBE_ENTRIES: u32 = 16;

/// The profile name for a machine: `model` is the device-tree model (NULs
/// and surrounding space allowed), `mem_total_kib` MemTotal from
/// /proc/meminfo, `arch` as in `std::env::consts::ARCH`.
///
/// Raspberry Pis are recognised by model (Pi 400 / CM4 count as Pi 4,
/// Pi 500 / CM5 as Pi 5); an x86-64 machine is generic; any other board is
/// an arm64 NAS, or a Pi Zero 2 W class board when it has under 1 GiB or
/// its memory is unknown (the smallest profile is the safe guess).
pub fn detect_from(model: Option<&str>, mem_total_kib: Option<u64>, arch: &str) -> &'static str {
    let model = model.map(|m| m.trim_matches(|c: char| c == '\0' || c.is_whitespace()));
    if let Some(m) = model {
        if m.starts_with("Raspberry Pi Zero 2") {
            return "pi-zero-2w";
        }
        if m.starts_with("Raspberry Pi 4")
            || m.starts_with("Raspberry Pi 400")
            || m.starts_with("Raspberry Pi Compute Module 4")
        {
            return "pi4";
        }
        if m.starts_with("Raspberry Pi 5") || m.starts_with("Raspberry Pi Compute Module 5") {
            return "pi5";
        }
    }
    if arch == "x86_64" {
        return "generic-x86_64";
    }
    match mem_total_kib {
        Some(kib) if kib >= SMALL_BOARD_KIB => "arm64-nas",
        _ => "pi-zero-2w",
    }
}

/// MemTotal in KiB from the text of /proc/meminfo.
pub fn parse_meminfo_kib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.get("MemTotal:".len()..)?.split_whitespace();
    let value = words.next()?.parse::<u64>().ok()?;
    match words.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

fn read_model() -> Option<String> {
    let bytes = std::fs::read(MODEL_PATH).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_mem_total_kib() -> Option<u64> {
    parse_meminfo_kib(&std::fs::read_to_string(MEMINFO_PATH).ok()?)
}

/// The profile for this machine, detected and scaled to its memory.
pub fn detect() -> BoardProfile {
    let model = read_model();
    let mem = read_mem_total_kib();
    let name = detect_from(model.as_deref(), mem, std::env::consts::ARCH);
    log::info!(
        "board: detected '{name}' (model {:?}, MemTotal {} KiB, arch {})",
        model.as_deref().map(|m| m.trim_matches('\0')),
        mem.map_or_else(|| "unknown".to_string(), |m| m.to_string()),
        std::env::consts::ARCH
    );
    // detect_from only returns names of embedded profiles, and the tests
    // check that every embedded profile loads.
    let profile = by_name(name)
        .unwrap_or_else(|e| panic!("embedded board profile '{name}' does not load: {e}"));
    fit_to_memory(profile, mem)
}

/// The profile to run with: `name` (from `--board` or the config) if given,
/// else the detected one; either way scaled to this machine's memory.
pub fn select(name: Option<&str>) -> Result<BoardProfile, BoardError> {
    match name {
        Some(name) => Ok(fit_to_memory(by_name(name)?, read_mem_total_kib())),
        None => Ok(detect()),
    }
}

fn fit_to_memory(profile: BoardProfile, mem_total_kib: Option<u64>) -> BoardProfile {
    let Some(bytes) = mem_total_kib.and_then(|kib| kib.checked_mul(1024)) else {
        return profile;
    };
    if bytes >= profile.ram_assumed {
        return profile;
    }
    let scaled = profile.scaled_to_memory(bytes);
    log::info!(
        "board: {} MiB of RAM is less than the {} MiB '{}' assumes; RAM caps scaled to {} MiB",
        bytes / MIB,
        profile.ram_assumed / MIB,
        profile.name,
        scaled.ram_budget / MIB
    );
    scaled
}

impl BoardProfile {
    /// This profile for a machine with `mem_total` bytes of RAM: if that is
    /// less than the profile assumes, the RAM caches, connection limits,
    /// ffmpeg jobs and probe cache shrink in proportion (with floors); CPU
    /// bound settings stay. Never scales up.
    pub fn scaled_to_memory(&self, mem_total: u64) -> BoardProfile {
        // Below, mem_total < ram_assumed, so ram_assumed > 0.
        if mem_total >= self.ram_assumed {
            return self.clone();
        }
        let scale64 = |v: u64, floor: u64| -> u64 {
            let scaled = u128::from(v) * u128::from(mem_total) / u128::from(self.ram_assumed);
            // scaled <= v because mem_total < ram_assumed.
            u64::try_from(scaled).unwrap_or(v).max(floor)
        };
        let scale32 = |v: u32, floor: u32| -> u32 {
            u32::try_from(scale64(u64::from(v), u64::from(floor))).unwrap_or(v)
        };
        let mut p = self.clone();
        p.inflight_ram = scale64(self.inflight_ram, MIN_INFLIGHT.min(self.inflight_ram));
        p.ram_tier = scale64(self.ram_tier, MIN_TIER.min(self.ram_tier));
        p.write_queue = scale64(self.write_queue, MIN_WRITE_QUEUE.min(self.write_queue));
        p.segment_cache = scale64(
            self.segment_cache,
            MIN_SEGMENT_CACHE.min(self.segment_cache),
        );
        let caches = p.inflight_ram + p.ram_tier + p.segment_cache + p.write_queue;
        p.ram_budget = scale64(self.ram_budget, 0).max(caches);
        p.max_connections = scale32(
            self.max_connections,
            MIN_CONNECTIONS.min(self.max_connections),
        );
        p.max_peers_per_torrent = scale32(
            self.max_peers_per_torrent,
            MIN_PEERS_PER_TORRENT.min(self.max_peers_per_torrent),
        )
        .min(p.max_connections);
        p.ffmpeg_jobs = scale32(self.ffmpeg_jobs, 1);
        p.probe_cache_entries = scale32(
            self.probe_cache_entries,
            MIN_PROBE_ENTRIES.min(self.probe_cache_entries),
        );
        p.ram_assumed = mem_total;
        p.description = format!(
            "{} (scaled to {} MiB RAM)",
            self.description,
            mem_total / MIB
        );
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::known_names;

    const GIB_KIB: u64 = 1024 * 1024;

    #[test]
    fn raspberry_pis_by_model() {
        let m = |model: &str| detect_from(Some(model), Some(4 * GIB_KIB), "aarch64");
        assert_eq!(m("Raspberry Pi Zero 2 W Rev 1.0\0"), "pi-zero-2w");
        assert_eq!(m("Raspberry Pi 4 Model B Rev 1.4\0"), "pi4");
        assert_eq!(m("Raspberry Pi 400 Rev 1.0\0"), "pi4");
        assert_eq!(m("Raspberry Pi Compute Module 4 Rev 1.0\0"), "pi4");
        assert_eq!(m("Raspberry Pi 5 Model B Rev 1.0\0"), "pi5");
        assert_eq!(m("Raspberry Pi 500 Rev 1.0"), "pi5");
        assert_eq!(m("Raspberry Pi Compute Module 5 Rev 1.0"), "pi5");
        assert_eq!(m("  Raspberry Pi 4 Model B Rev 1.1 \n"), "pi4");
        // A 32-bit OS on a Pi 4 is still a Pi 4.
        assert_eq!(
            detect_from(Some("Raspberry Pi 4 Model B Rev 1.2"), None, "arm"),
            "pi4"
        );
    }

    #[test]
    fn other_machines_by_arch_and_memory() {
        assert_eq!(
            detect_from(None, Some(16 * GIB_KIB), "x86_64"),
            "generic-x86_64"
        );
        assert_eq!(detect_from(None, None, "x86_64"), "generic-x86_64");
        assert_eq!(
            detect_from(Some("Synology DS220j"), Some(512 * 1024), "aarch64"),
            "pi-zero-2w"
        );
        assert_eq!(
            detect_from(Some("Rockchip RK3568 NAS"), Some(2 * GIB_KIB), "aarch64"),
            "arm64-nas"
        );
        assert_eq!(detect_from(None, Some(4 * GIB_KIB), "aarch64"), "arm64-nas");
        assert_eq!(detect_from(None, None, "aarch64"), "pi-zero-2w");
        assert_eq!(
            detect_from(
                Some("Raspberry Pi 3 Model B Plus Rev 1.3"),
                Some(926_000),
                "arm"
            ),
            "pi-zero-2w"
        );
        assert_eq!(
            detect_from(Some(""), Some(2 * GIB_KIB), "riscv64"),
            "arm64-nas"
        );
        // Every answer names an embedded profile.
        for arch in ["x86_64", "aarch64", "arm", "riscv64"] {
            for mem in [None, Some(1), Some(GIB_KIB), Some(u64::MAX)] {
                assert!(known_names().contains(&detect_from(None, mem, arch)));
            }
        }
    }

    #[test]
    fn meminfo_parsing() {
        let text = "MemTotal:         427040 kB\nMemFree:           93220 kB\n";
        assert_eq!(parse_meminfo_kib(text), Some(427_040));
        assert_eq!(parse_meminfo_kib("MemFree: 1 kB\nMemTotal: 8 kB"), Some(8));
        assert_eq!(parse_meminfo_kib("MemTotal: 8"), Some(8));
        assert_eq!(parse_meminfo_kib(""), None);
        assert_eq!(parse_meminfo_kib("MemTotal:"), None);
        assert_eq!(parse_meminfo_kib("MemTotal: -5 kB"), None);
        assert_eq!(
            parse_meminfo_kib("MemTotal: 99999999999999999999999 kB"),
            None
        );
        assert_eq!(parse_meminfo_kib("MemTotal: 8 MB"), None);
    }

    #[test]
    fn less_memory_scales_ram_caps_down() {
        let pi4 = by_name("pi4").unwrap();
        // A 1 GB Pi 4 reports about 900 MiB: half of what pi4 assumes.
        let small = pi4.scaled_to_memory(pi4.ram_assumed / 2);
        assert_eq!(small.inflight_ram, pi4.inflight_ram / 2);
        assert_eq!(small.ram_tier, pi4.ram_tier / 2);
        assert_eq!(small.segment_cache, pi4.segment_cache / 2);
        assert_eq!(small.ram_budget, pi4.ram_budget / 2);
        assert_eq!(small.max_connections, pi4.max_connections / 2);
        assert_eq!(small.max_peers_per_torrent, pi4.max_peers_per_torrent / 2);
        assert_eq!(small.ffmpeg_jobs, 1);
        // CPU-bound settings and choices stay.
        assert_eq!(small.hash_threads, pi4.hash_threads);
        assert_eq!(small.http_workers, pi4.http_workers);
        assert_eq!(small.encoder, pi4.encoder);
        assert!(small.description.contains("scaled"));
        // Scaling again to the same memory changes nothing.
        assert_eq!(small.scaled_to_memory(small.ram_assumed), small);
        // More memory never scales up.
        assert_eq!(pi4.scaled_to_memory(pi4.ram_assumed * 4), pi4);
    }

    #[test]
    fn scaling_keeps_floors_and_invariants() {
        for name in known_names() {
            let p = by_name(name).unwrap();
            for mem in [0, 1, 16 * MIB, 100 * MIB, p.ram_assumed - 1] {
                let s = p.scaled_to_memory(mem);
                assert!(
                    s.inflight_ram >= MIN_INFLIGHT && s.ram_tier >= MIN_TIER,
                    "{name} {mem}"
                );
                assert!(s.inflight_ram + s.ram_tier + s.segment_cache <= s.ram_budget);
                assert!(s.max_peers_per_torrent >= 1);
                assert!(s.max_peers_per_torrent <= s.max_connections);
                assert!(s.ffmpeg_jobs >= 1 && s.probe_cache_entries >= 1);
                assert!(s.inflight_ram <= p.inflight_ram && s.max_connections <= p.max_connections);
            }
        }
    }

    #[test]
    fn fit_to_memory_leaves_unknown_or_ample_memory_alone() {
        let zero = by_name("pi-zero-2w").unwrap();
        assert_eq!(fit_to_memory(zero.clone(), None), zero);
        assert_eq!(fit_to_memory(zero.clone(), Some(u64::MAX)), zero);
        assert_eq!(fit_to_memory(zero.clone(), Some(512 * 1024)), zero);
        assert!(fit_to_memory(zero.clone(), Some(200 * 1024)).ram_budget < zero.ram_budget);
    }

    #[test]
    fn select_prefers_the_given_name() {
        let p = select(Some("pi5")).unwrap();
        assert_eq!(p.name, "pi5");
        assert!(select(Some("nope")).is_err());
        // Detection on the test machine yields one of the embedded profiles.
        assert!(known_names().contains(&select(None).unwrap().name.as_str()));
    }
}
