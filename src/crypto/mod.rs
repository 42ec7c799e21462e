//! Cryptography written for rill, below every other layer: the pieces of
//! Message Stream Encryption (MSE/PE) that no crate we use provides.
//!
//! - [`dh`]: 768-bit Diffie-Hellman over the MSE prime (generator 2), on a
//!   small fixed-width Montgomery bignum.
//! - [`rc4`]: RC4, with the keystream drop MSE asks for.
//! - [`ct`]: [`ct_eq`], comparing secrets in constant time (HTTP Basic
//!   credentials, stream token MACs).
//!
//! All are pure (no I/O) and allocation-free. SHA-1 comes from `sha1_smol`.
//! DH and RC4 are protocol obfuscation, not security: MSE's 768-bit group
//! and RC4 are weak by today's standards, and nothing else in rill uses them.

pub mod ct;
pub mod dh;
pub mod rc4;

pub use ct::ct_eq;
