//! The Ethereum V3 keystore format ("Web3 Secret Storage"), as written by geth, ethers (the
//! iExec SDK) and web3.js.
//!
//! The private key is encrypted with AES-128-CTR under the first 16 bytes of a key derived
//! from the password with scrypt or PBKDF2-HMAC-SHA256; `mac = keccak256(derived[16..32] ‖
//! ciphertext)` detects a wrong password.

use crate::{Error, Result};
use aes::cipher::{KeyIvInit, StreamCipher};
use alloy_primitives::{keccak256, Address, B256};
use alloy_signer_local::PrivateKeySigner;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zeroize::Zeroizing;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Length of the derived key (`dklen`): 16 bytes of cipher key and 16 bytes of MAC key.
const DKLEN: usize = 32;
/// Refuse scrypt parameters that need more memory than this (`128·r·n` bytes).
const MAX_SCRYPT_MEMORY: u64 = 1 << 31;

/// scrypt cost parameters (`n = 2^log_n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScryptParams {
    /// `log2(n)`.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl ScryptParams {
    /// geth's standard parameters (`n = 2^18, r = 8, p = 1`: 256 MiB, about a second).
    pub const STANDARD: Self = Self {
        log_n: 18,
        r: 8,
        p: 1,
    };
    /// The iExec SDK's (ethers) parameters (`n = 2^17, r = 8, p = 1`).
    pub const ETHERS: Self = Self {
        log_n: 17,
        r: 8,
        p: 1,
    };
    /// geth's light parameters (`n = 2^12, r = 8, p = 6`), for tests and low-value keys.
    pub const LIGHT: Self = Self {
        log_n: 12,
        r: 8,
        p: 6,
    };

    fn to_scrypt(self) -> Result<scrypt::Params> {
        let memory = 128u64
            .saturating_mul(self.r.into())
            .saturating_mul(1u64 << self.log_n.min(63));
        if self.log_n == 0 || self.log_n >= 64 || memory > MAX_SCRYPT_MEMORY {
            return Err(Error::KdfParams(format!(
                "scrypt n = 2^{}, r = {} needs more than 2 GiB or is out of range",
                self.log_n, self.r
            )));
        }
        scrypt::Params::new(self.log_n, self.r, self.p).map_err(|e| {
            Error::KdfParams(format!(
                "scrypt n = 2^{}, r = {}, p = {}: {e}",
                self.log_n, self.r, self.p
            ))
        })
    }
}

/// The key derivation function of a keystore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kdf {
    /// scrypt (geth, ethers).
    Scrypt(ScryptParams),
    /// PBKDF2-HMAC-SHA256 with `c` rounds (web3.js, some exports).
    Pbkdf2 {
        /// Number of rounds.
        c: u32,
    },
}

impl Kdf {
    /// The rounds used for PBKDF2 by web3.js and the Web3 Secret Storage test vectors.
    pub const PBKDF2_ROUNDS: u32 = 262_144;
}

impl Default for Kdf {
    /// scrypt with geth's standard parameters.
    fn default() -> Self {
        Self::Scrypt(ScryptParams::STANDARD)
    }
}

/// A V3 keystore file.
///
/// Reads both `crypto` (geth) and `Crypto` (ethers, the iExec SDK); unknown keys such as
/// `x-ethers` are ignored. Writes geth's form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keystore {
    /// Lowercase hex address without `0x` (optional in the format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The encrypted key.
    #[serde(alias = "Crypto")]
    pub crypto: Crypto,
    /// A UUID.
    #[serde(default)]
    pub id: String,
    /// Must be 3.
    pub version: u64,
}

/// The `crypto` object of a [`Keystore`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Crypto {
    /// Must be `aes-128-ctr`.
    pub cipher: String,
    /// Hex ciphertext.
    pub ciphertext: String,
    /// `{"iv": hex}`.
    pub cipherparams: CipherParams,
    /// `scrypt` or `pbkdf2`.
    pub kdf: String,
    /// KDF parameters, read according to `kdf`.
    pub kdfparams: Value,
    /// Hex `keccak256(derived[16..32] ‖ ciphertext)`.
    pub mac: String,
}

/// The `cipherparams` of a [`Crypto`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CipherParams {
    /// Hex 16-byte IV.
    pub iv: String,
}

fn unhex(field: &str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim().trim_start_matches("0x"))
        .map_err(|e| Error::Unsupported(format!("{field} is not hex ({e})")))
}

impl Keystore {
    /// Encrypts `signer`'s key under `password` with `kdf`, with a random salt, IV and id.
    pub fn encrypt(signer: &PrivateKeySigner, password: &[u8], kdf: Kdf) -> Result<Self> {
        let mut rng = rand::thread_rng();
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        let mut uuid = [0u8; 16];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
        rng.fill_bytes(&mut uuid);
        Self::encrypt_with(signer, password, kdf, &salt, iv, uuid_v4(uuid))
    }

    /// Encrypts with the given salt, IV and id (deterministic; for tests and known vectors).
    pub fn encrypt_with(
        signer: &PrivateKeySigner,
        password: &[u8],
        kdf: Kdf,
        salt: &[u8],
        iv: [u8; 16],
        id: String,
    ) -> Result<Self> {
        let kdfparams = match kdf {
            Kdf::Scrypt(p) => json!({
                "dklen": DKLEN, "n": 1u64 << p.log_n, "p": p.p, "r": p.r, "salt": hex::encode(salt),
            }),
            Kdf::Pbkdf2 { c } => json!({
                "c": c, "dklen": DKLEN, "prf": "hmac-sha256", "salt": hex::encode(salt),
            }),
        };
        let derived = derive(password, &kdf, salt)?;
        let mut ciphertext = Zeroizing::new(signer.to_bytes().0);
        Aes128Ctr::new(derived[..16].into(), &iv.into()).apply_keystream(ciphertext.as_mut());
        let mac = mac(&derived, ciphertext.as_ref());
        Ok(Self {
            address: Some(hex::encode(signer.address())),
            crypto: Crypto {
                cipher: "aes-128-ctr".to_owned(),
                ciphertext: hex::encode(ciphertext.as_ref()),
                cipherparams: CipherParams {
                    iv: hex::encode(iv),
                },
                kdf: match kdf {
                    Kdf::Scrypt(_) => "scrypt",
                    Kdf::Pbkdf2 { .. } => "pbkdf2",
                }
                .to_owned(),
                kdfparams,
                mac: hex::encode(mac),
            },
            id,
            version: 3,
        })
    }

    /// The address written in the file, if any.
    pub fn stated_address(&self) -> Option<Address> {
        self.address.as_deref().and_then(|a| {
            let a = a.trim_start_matches("0x");
            (a.len() == 40).then(|| a.parse().ok()).flatten()
        })
    }

    /// The KDF and salt of this keystore.
    pub fn kdf(&self) -> Result<(Kdf, Vec<u8>)> {
        let params = &self.crypto.kdfparams;
        let get = |key: &str| -> Result<u64> {
            params.get(key).and_then(Value::as_u64).ok_or_else(|| {
                Error::KdfParams(format!(
                    "{} kdfparams lacks the integer {key:?}",
                    self.crypto.kdf
                ))
            })
        };
        let salt = params.get("salt").and_then(Value::as_str).ok_or_else(|| {
            Error::KdfParams(format!(
                "{} kdfparams lacks the hex \"salt\"",
                self.crypto.kdf
            ))
        })?;
        let salt = unhex("salt", salt)?;
        let dklen = get("dklen")?;
        if dklen != DKLEN as u64 {
            return Err(Error::Unsupported(format!(
                "dklen {dklen} (only 32 is supported)"
            )));
        }
        let small = |key: &str| -> Result<u32> {
            u32::try_from(get(key)?).map_err(|_| Error::KdfParams(format!("{key} is too large")))
        };
        let kdf = match self.crypto.kdf.to_ascii_lowercase().as_str() {
            "scrypt" => {
                let n = get("n")?;
                if n < 2 || !n.is_power_of_two() {
                    return Err(Error::KdfParams(format!(
                        "scrypt n = {n} is not a power of two"
                    )));
                }
                Kdf::Scrypt(ScryptParams {
                    log_n: n.trailing_zeros() as u8,
                    r: small("r")?,
                    p: small("p")?,
                })
            }
            "pbkdf2" => {
                let prf = params
                    .get("prf")
                    .and_then(Value::as_str)
                    .unwrap_or("hmac-sha256");
                if prf != "hmac-sha256" {
                    return Err(Error::Unsupported(format!("pbkdf2 prf {prf:?}")));
                }
                Kdf::Pbkdf2 { c: small("c")? }
            }
            other => return Err(Error::Unsupported(format!("kdf {other:?}"))),
        };
        Ok((kdf, salt))
    }

    /// Decrypts the private key. A wrong password gives [`Error::WrongPassword`].
    pub fn decrypt(&self, password: &[u8]) -> Result<PrivateKeySigner> {
        if self.version != 3 {
            return Err(Error::Unsupported(format!(
                "keystore version {}",
                self.version
            )));
        }
        if !self.crypto.cipher.eq_ignore_ascii_case("aes-128-ctr") {
            return Err(Error::Unsupported(format!(
                "cipher {:?}",
                self.crypto.cipher
            )));
        }
        let (kdf, salt) = self.kdf()?;
        let iv: [u8; 16] = unhex("iv", &self.crypto.cipherparams.iv)?
            .try_into()
            .map_err(|_| Error::Unsupported("an IV that is not 16 bytes".to_owned()))?;
        let ciphertext = unhex("ciphertext", &self.crypto.ciphertext)?;
        let expected_mac = unhex("mac", &self.crypto.mac)?;
        let derived = derive(password, &kdf, &salt)?;
        if !constant_time_eq(mac(&derived, &ciphertext).as_slice(), &expected_mac) {
            return Err(Error::WrongPassword { path: None });
        }
        let mut key = Zeroizing::new(ciphertext);
        Aes128Ctr::new(derived[..16].into(), &iv.into()).apply_keystream(key.as_mut_slice());
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| Error::Unsupported(format!("a {}-byte private key", key.len())))?;
        let key = Zeroizing::new(key);
        let signer = PrivateKeySigner::from_bytes(&B256::from(*key))
            .map_err(|_| Error::PrivateKey { from: None })?;
        if let Some(stored) = self.stated_address() {
            if stored != signer.address() {
                return Err(Error::AddressMismatch {
                    path: None,
                    stored,
                    actual: signer.address(),
                });
            }
        }
        Ok(signer)
    }

    /// Pretty JSON, as written to disk.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a keystore always serialises")
    }
}

fn derive(password: &[u8], kdf: &Kdf, salt: &[u8]) -> Result<Zeroizing<[u8; DKLEN]>> {
    let mut out = Zeroizing::new([0u8; DKLEN]);
    match kdf {
        Kdf::Scrypt(p) => scrypt::scrypt(password, salt, &p.to_scrypt()?, out.as_mut())
            .map_err(|e| Error::KdfParams(format!("scrypt: {e}")))?,
        Kdf::Pbkdf2 { c } => {
            if *c == 0 {
                return Err(Error::KdfParams("pbkdf2 c = 0".to_owned()));
            }
            pbkdf2::pbkdf2::<hmac::Hmac<sha2::Sha256>>(password, salt, *c, out.as_mut())
        }
    }
    Ok(out)
}

fn mac(derived: &[u8; DKLEN], ciphertext: &[u8]) -> B256 {
    keccak256([&derived[16..32], ciphertext].concat())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Formats 16 random bytes as a version 4 UUID.
fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Kdf = Kdf::Scrypt(ScryptParams {
        log_n: 4,
        r: 8,
        p: 1,
    });

    #[test]
    fn round_trip_and_wrong_password() {
        let signer = PrivateKeySigner::random();
        let ks = Keystore::encrypt(&signer, b"secret", TINY).unwrap();
        assert_eq!(ks.stated_address(), Some(signer.address()));
        assert_eq!(ks.decrypt(b"secret").unwrap().address(), signer.address());
        let err = ks.decrypt(b"Secret").unwrap_err();
        assert!(matches!(err, Error::WrongPassword { path: None }));
        assert!(err.to_string().contains("wrong password"), "{err}");

        let ks = Keystore::encrypt(&signer, b"", Kdf::Pbkdf2 { c: 16 }).unwrap();
        assert_eq!(ks.decrypt(b"").unwrap().address(), signer.address());
        assert!(ks.decrypt(b"x").is_err());
    }

    #[test]
    fn uuid_shape() {
        let id = uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn edited_files_are_refused() {
        let signer = PrivateKeySigner::random();
        let ks = Keystore::encrypt(&signer, b"pw", TINY).unwrap();

        let mut other = ks.clone();
        other.address = Some(hex::encode(Address::repeat_byte(1)));
        assert!(matches!(
            other.decrypt(b"pw"),
            Err(Error::AddressMismatch { .. })
        ));

        let mut v4 = ks.clone();
        v4.version = 4;
        assert!(v4
            .decrypt(b"pw")
            .unwrap_err()
            .to_string()
            .contains("version 4"));

        let mut cbc = ks.clone();
        cbc.crypto.cipher = "aes-128-cbc".into();
        assert!(matches!(cbc.decrypt(b"pw"), Err(Error::Unsupported(_))));

        let mut n3 = ks.clone();
        n3.crypto.kdfparams["n"] = 3.into();
        assert!(matches!(n3.decrypt(b"pw"), Err(Error::KdfParams(_))));

        let mut huge = ks.clone();
        huge.crypto.kdfparams["n"] = (1u64 << 30).into();
        let err = huge.decrypt(b"pw").unwrap_err();
        assert!(err.to_string().contains("2 GiB"), "{err}");

        let mut argon = ks;
        argon.crypto.kdf = "argon2".into();
        assert!(argon
            .decrypt(b"pw")
            .unwrap_err()
            .to_string()
            .contains("argon2"));
    }
}
