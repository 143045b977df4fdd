//! iExec's dataset format against an independent implementation: OpenSSL's `enc -aes-256-cbc`
//! (PKCS#7 padding) with a fixed key and IV, both ways.

use std::process::Command;

use poco_sms_api::dataset::{self, DatasetKey, IV_LEN};

fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::write(&inp, input).unwrap();
    let status = Command::new("openssl")
        .args(["enc", "-aes-256-cbc"])
        .args(args)
        .arg("-in")
        .arg(&inp)
        .arg("-out")
        .arg(&out)
        .status()
        .expect("openssl is installed (apt-get install openssl)");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

#[test]
fn the_format_matches_openssl_both_ways() {
    let key_bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
    let iv: [u8; IV_LEN] = std::array::from_fn(|i| 0xa0 + i as u8);
    let key = DatasetKey::from_bytes(key_bytes);
    let (key_hex, iv_hex) = (hex::encode(key_bytes), hex::encode(iv));
    for plain in [
        &b""[..],
        b"0123456789abcdef",
        b"a small trained model's weights\n",
    ] {
        let ours = dataset::encrypt_with_iv(plain, &key, &iv);
        assert_eq!(&ours[..IV_LEN], &iv, "the IV comes first");
        let theirs = openssl(&["-K", &key_hex, "-iv", &iv_hex], plain);
        assert_eq!(&ours[IV_LEN..], theirs.as_slice());
        // OpenSSL decrypts ours, we decrypt a random-IV encryption of ours
        let back = openssl(&["-d", "-K", &key_hex, "-iv", &iv_hex], &ours[IV_LEN..]);
        assert_eq!(back, plain);
        let random = dataset::encrypt(plain, &key);
        assert_ne!(&random[..IV_LEN], &iv);
        assert_eq!(dataset::decrypt(&random, &key).unwrap().as_slice(), plain);
    }
    // a fixed vector: the first block of "0123456789abcdef" under this key and IV
    let enc = dataset::encrypt_with_iv(b"0123456789abcdef", &key, &iv);
    assert_eq!(enc.len(), IV_LEN + 32, "a whole block gets a padding block");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("enc");
    std::fs::write(&file, &enc).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        hex::encode(dataset::checksum(&enc)),
        text.split_whitespace().next().unwrap()
    );
}
