//! `rill download SOURCE [--out DIR] [--peer HOST:PORT]... [--seed]`.
//!
//! INTERFACE STUB — to be implemented.

pub fn run(_args: &[String]) -> i32 {
    todo!()
}
