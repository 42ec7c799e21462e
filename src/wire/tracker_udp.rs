//! UDP tracker packets (BEP 15).
//!
//! INTERFACE STUB — owned by the tracker work.
