//! Configuration files: the small TOML reader shared by board profiles and
//! the service configuration.
//!
//! rill reads only a few hand-written TOML files, so it carries its own
//! reader of the subset it needs ([`toml`]) instead of a TOML crate: a few
//! hundred lines that never panic on a malformed file and report unknown
//! keys, so a typo in a config gives a warning instead of being ignored.

pub mod toml;
