//! Whom we upload to: tit-for-tat with an optimistic unchoke.
//!
//! INTERFACE STUB — to be implemented.
