//! Small network clients of our own, over async-io.
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

pub mod http_client;
