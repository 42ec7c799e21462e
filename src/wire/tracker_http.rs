//! HTTP tracker announce: building the query, parsing the bencoded answer.
//!
//! INTERFACE STUB — owned by the tracker work.
