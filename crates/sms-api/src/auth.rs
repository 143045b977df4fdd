//! The authorization of iExec's SMS API: the caller signs (EIP-191 personal sign) a keccak
//! challenge over what it asks, and sends the signature in the `Authorization` header. The
//! challenge binds the target and the value, so a signature for one request does not authorize
//! another; the SMS also remembers each challenge once used (its store, in `poco-sms`) so an
//! observed request cannot be replayed later to put back an older value.
//!
//! - dataset key (web3 secret): `keccak(keccak("IEXEC_SMS_DOMAIN") ‖ dataset ‖ keccak(value))`;
//! - named secret of an owner (web2, requester): `keccak(keccak("IEXEC_SMS_DOMAIN") ‖ owner ‖
//!   keccak(name) ‖ keccak(value))`;
//! - app developer secret: the web2 challenge with the app as owner and `"1"` as name.

use alloy_primitives::{keccak256, Address, Signature, B256};

use crate::Error;

/// The domain string hashed at the start of every challenge.
pub const DOMAIN: &str = "IEXEC_SMS_DOMAIN";

/// The challenge of a dataset key (web3 secret) `value` for `dataset`.
pub fn web3_challenge(dataset: Address, value: &[u8]) -> B256 {
    let mut data = Vec::with_capacity(84);
    data.extend_from_slice(keccak256(DOMAIN).as_slice());
    data.extend_from_slice(dataset.as_slice());
    data.extend_from_slice(keccak256(value).as_slice());
    keccak256(data)
}

/// The challenge of the secret `name` = `value` of `owner` (web2 and requester secrets; an app
/// secret is the app's secret `"1"`).
pub fn web2_challenge(owner: Address, name: &str, value: &[u8]) -> B256 {
    let mut data = Vec::with_capacity(116);
    data.extend_from_slice(keccak256(DOMAIN).as_slice());
    data.extend_from_slice(owner.as_slice());
    data.extend_from_slice(keccak256(name).as_slice());
    data.extend_from_slice(keccak256(value).as_slice());
    keccak256(data)
}

/// The address that personal-signed `challenge` (its 32 bytes, as the SDK signs them) with the
/// hex signature `authorization`.
pub fn signer(authorization: Option<&str>, challenge: &B256) -> Result<Address, Error> {
    let text = authorization
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Error::Unauthorized(
            "the Authorization header is missing: send the personal signature of the request's \
             challenge (as the iExec SDK does)"
                .into(),
        ))?;
    let signature: Signature = text.parse().map_err(|_| {
        Error::Unauthorized(
            "the Authorization header is not a 65-byte hex signature: send the personal \
             signature of the request's challenge"
                .into(),
        )
    })?;
    signature
        .recover_address_from_msg(challenge.as_slice())
        .map_err(|_| {
            Error::Unauthorized(
                "the Authorization signature recovers no signer: sign the request's challenge \
                 with the owner's wallet"
                    .into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    fn sign(wallet: &PrivateKeySigner, challenge: &B256) -> String {
        let sig = wallet.sign_message_sync(challenge.as_slice()).unwrap();
        format!("0x{}", hex::encode(sig.as_bytes()))
    }

    #[test]
    fn the_signer_of_a_challenge_is_recovered() {
        let wallet = PrivateKeySigner::random();
        let dataset = Address::repeat_byte(7);
        let challenge = web3_challenge(dataset, b"key");
        let auth = sign(&wallet, &challenge);
        assert_eq!(signer(Some(&auth), &challenge).unwrap(), wallet.address());
        // the same signature over another value or target names another signer
        let other = web3_challenge(dataset, b"other key");
        assert_ne!(signer(Some(&auth), &other).unwrap(), wallet.address());
        let other = web3_challenge(Address::repeat_byte(8), b"key");
        assert_ne!(signer(Some(&auth), &other).unwrap(), wallet.address());
    }

    #[test]
    fn challenges_bind_every_field() {
        let owner = Address::repeat_byte(1);
        let base = web2_challenge(owner, "token", b"v");
        assert_ne!(base, web2_challenge(Address::repeat_byte(2), "token", b"v"));
        assert_ne!(base, web2_challenge(owner, "token2", b"v"));
        assert_ne!(base, web2_challenge(owner, "token", b"w"));
        assert_ne!(web3_challenge(owner, b"v"), web2_challenge(owner, "", b"v"));
    }

    #[test]
    fn a_missing_or_malformed_authorization_is_refused() {
        let challenge = web3_challenge(Address::ZERO, b"k");
        let err = signer(None, &challenge).unwrap_err();
        assert!(err.to_string().contains("header is missing"), "{err}");
        let err = signer(Some("0x1234"), &challenge).unwrap_err();
        assert!(err.to_string().contains("65-byte hex signature"), "{err}");
    }
}
