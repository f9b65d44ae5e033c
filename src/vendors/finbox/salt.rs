//! FinBox's request salt, exactly as its "Salt Generation" page describes it:
//! A = upper-case hex MD5 of the customer id; B = A followed by SERVER_HASH (as given);
//! C = SHA-256 of B as UTF-8, the raw 32-byte digest (not its hex); salt = standard
//! base64 of C with `=` padding. The same steps with WEBHOOK_SECRET give the webhook salt.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// The salt a client must send for `customer_id` under `server_hash`.
pub fn salt(customer_id: &str, server_hash: &str) -> String {
    // A in a fixed buffer, B fed to the digest in two parts: every FinBox request checks
    // a salt, and the strings in between cost about as much as the MD5.
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut a = [0u8; 32];
    for (pair, b) in a
        .chunks_exact_mut(2)
        .zip(Md5::digest(customer_id.as_bytes()))
    {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    let c = Sha256::new()
        .chain_update(a)
        .chain_update(server_hash.as_bytes())
        .finalize();
    // 32 bytes are 44 base64 characters, `=` included.
    let mut out = [0u8; 44];
    let n = STANDARD
        .encode_slice(c, &mut out)
        .expect("44 bytes hold the base64 of 32");
    String::from_utf8(out[..n].to_vec()).expect("base64 is ASCII")
}

#[cfg(test)]
fn upper_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[(b >> 4) as usize], DIGITS[(b & 15) as usize]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FinBox's published worked example, step by step.
    #[test]
    fn finboxs_published_worked_example_reproduces() {
        let customer = "82169C6312B50CA8233482169F9F288F812B5C02114A6A74E9A62";
        let hash = "5f8cd80c69a34b9785dc66298eabe95b";
        let a = upper_hex(&Md5::digest(customer.as_bytes()));
        assert_eq!(a, "7B85689C14D32209779241F14A09C29B");
        let b = a + hash;
        assert_eq!(
            b,
            "7B85689C14D32209779241F14A09C29B5f8cd80c69a34b9785dc66298eabe95b"
        );
        assert_eq!(
            crate::generate::hex(&Sha256::digest(b.as_bytes()).into(), 64),
            "2a2e163b66dbcd838bd6d122e17038e90f2ba5c0b6ca295364c84e19746ca8e4"
        );
        assert_eq!(
            salt(customer, hash),
            "Ki4WO2bbzYOL1tEi4XA46Q8rpcC2yilTZMhOGXRsqOQ="
        );
    }

    #[test]
    fn the_salt_is_the_documented_steps_over_varied_customers() {
        let steps = |customer: &str, hash: &str| {
            let a = upper_hex(&Md5::digest(customer.as_bytes()));
            STANDARD.encode(Sha256::digest((a + hash).as_bytes()))
        };
        let long = "x".repeat(300);
        for (customer, hash) in [
            ("c1", "test-finbox-hash"),
            ("", ""),
            ("bench-customer", "test-finbox-hash"),
            ("été 日本 🎉", "hash with spaces"),
            ("a\"b\\c\n", "5f8cd80c69a34b9785dc66298eabe95b"),
            (long.as_str(), long.as_str()),
        ] {
            assert_eq!(salt(customer, hash), steps(customer, hash), "{customer:?}");
        }
    }

    #[test]
    fn the_salt_depends_on_the_customer_and_the_hash() {
        let s = salt("c1", "test-finbox-hash");
        assert_ne!(s, salt("c2", "test-finbox-hash"));
        assert_ne!(s, salt("c1", "other-hash"));
        assert_eq!(s.len(), 44);
    }
}
