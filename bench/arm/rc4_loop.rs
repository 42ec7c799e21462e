//! RC4 keystream XOR in a loop, for bench/arm_counts.sh; not part of rill.
//!
//! Compiles rill's own `src/crypto/rc4.rs` (through `#[path]`, with the
//! release profile's flags given by the script) and XORs the keystream
//! of an MSE key into one 1 MiB buffer N times: `rc4_loop N`. Run under
//! qemu-user with the instruction counter at two values of N, the
//! difference divided by the difference in MiB is the cost per MiB with
//! start-up and key setup cancelled. The buffer's final checksum is
//! printed so the work cannot be optimised away.

#[path = "../../src/crypto/rc4.rs"]
mod rc4;

fn main() {
    let mib: u32 = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: rc4_loop MIB (the number of 1 MiB buffers to XOR)");
            std::process::exit(2);
        }
    };
    let mut cipher = rc4::Rc4::mse(b"a twenty byte key!!!");
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mib {
        cipher.apply(std::hint::black_box(&mut buf[..]));
    }
    let sum = buf
        .iter()
        .fold(0u32, |a, &b| a.rotate_left(5) ^ u32::from(b));
    println!("{mib} MiB, checksum {sum:08x}");
}
