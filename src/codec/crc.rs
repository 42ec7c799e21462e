//! The two reflected CRC-32s rill needs, over one table builder and one
//! loop: the IEEE CRC-32 (polynomial 0xEDB88320: gzip's trailer) and
//! CRC-32C (Castagnoli, 0x82F63B78: BEP 42's DHT node ids). Tables are
//! built at compile time; the inputs are small (a playlist, a few bytes of
//! address), so no need for the CPUs' CRC instructions.

/// The 256-entry table of a reflected CRC-32 with polynomial `poly`.
const fn table(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static IEEE: [u32; 256] = table(0xEDB8_8320);
static CASTAGNOLI: [u32; 256] = table(0x82F6_3B78);

fn run(t: &[u32; 256], data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        // The index is a byte: always within the 256 entries.
        c = t[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The CRC-32 of `data` as gzip (and zip, PNG, Ethernet) defines it.
pub fn crc32(data: &[u8]) -> u32 {
    run(&IEEE, data)
}

/// The CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    run(&CASTAGNOLI, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
    }

    /// The check values of the catalogue of CRC algorithms and RFC 3720
    /// (iSCSI), appendix B.4.
    #[test]
    fn crc32c_published_check_values() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&inc), 0x46DD_794E);
        assert_eq!(crc32c(b""), 0);
    }
}
