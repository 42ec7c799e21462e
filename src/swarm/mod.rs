//! The swarm engine: one smol executor thread doing all network I/O.
//!
//! INTERFACE STUB — to be implemented.

pub mod choker;
pub mod picker;
