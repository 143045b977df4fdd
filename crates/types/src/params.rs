//! Deal parameters: the JSON string in a request order's `params` (stored in the deal).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The `iexec_*` keys of a request order's `params`, with every other key kept in
/// [`extra`](Self::extra).
///
/// ```json
/// {"iexec_args":"--size 64","iexec_input_files":["https://example.org/in.png"],
///  "iexec_result_storage_provider":"ipfs","iexec_result_encryption":false,
///  "iexec_secrets":{"1":"my-api-key"}}
/// ```
///
/// Absent keys stay absent on output (no `null`s), so a parsed object serialises back to the
/// same keys. The order hash covers the exact `params` string, so keep the signed string as it
/// is and use this type to read it or to build a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealParams {
    /// Command-line arguments given to the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iexec_args: Option<String>,
    /// URLs downloaded into the task's input folder (`IEXEC_INPUT_FILE_NAME_{n}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iexec_input_files: Option<Vec<String>>,
    /// Where results are uploaded: `"ipfs"` or `"dropbox"` in iExec (the SDK default is IPFS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iexec_result_storage_provider: Option<String>,
    /// URL of the result proxy used for the upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iexec_result_storage_proxy: Option<String>,
    /// Encrypt results for the beneficiary (TEE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iexec_result_encryption: Option<bool>,
    /// Ask the workerpool to expose the app's logs to the requester.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iexec_developer_logger: Option<bool>,
    /// Requester secrets given to the app: app secret index → requester secret name (TEE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iexec_secrets: Option<BTreeMap<String, String>>,
    /// Bulk processing: CID of the list of datasets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_cid: Option<String>,
    /// Every other key, kept as it is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DealParams {
    /// Parses a `params` string the way iExec's stack reads it: an empty string is no
    /// parameter, a JSON object is read key by key, and anything else (plain text, or JSON
    /// that is not an object) is the app's arguments (`iexec_args`).
    pub fn parse(params: &str) -> Result<Self> {
        if params.trim().is_empty() {
            return Ok(Self::default());
        }
        match serde_json::from_str::<Value>(params) {
            Ok(value @ Value::Object(_)) => {
                serde_json::from_value(value).map_err(Error::DealParams)
            }
            _ => Ok(Self {
                iexec_args: Some(params.to_owned()),
                ..Self::default()
            }),
        }
    }

    /// Parameters with only `iexec_args`.
    pub fn with_args(args: impl Into<String>) -> Self {
        Self {
            iexec_args: Some(args.into()),
            ..Self::default()
        }
    }

    /// The compact JSON string to put in a request order's `params`.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).expect("a JSON object with string keys always serialises")
    }

    /// The app arguments, or `""`.
    pub fn args(&self) -> &str {
        self.iexec_args.as_deref().unwrap_or_default()
    }

    /// The input file URLs, or none.
    pub fn input_files(&self) -> &[String] {
        self.iexec_input_files.as_deref().unwrap_or_default()
    }

    /// Whether results must be encrypted for the beneficiary.
    pub fn result_encryption(&self) -> bool {
        self.iexec_result_encryption.unwrap_or(false)
    }

    /// Whether the requester lets anyone read the task's results and logs once the task is
    /// completed: `"poco_public_results": true` (a poco key, kept in [`extra`](Self::extra)).
    /// Without it, a pool serves them only to the deal's requester and beneficiary, after a
    /// signed sign-in.
    pub fn public_results(&self) -> bool {
        self.extra
            .get(POCO_PUBLIC_RESULTS)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// The params key of [`DealParams::public_results`].
pub const POCO_PUBLIC_RESULTS: &str = "poco_public_results";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_unknown_keys() {
        let src = r#"{"iexec_args":"--size 64 \"quoted\" é","iexec_input_files":["https://example.org/in.png"],"iexec_result_storage_provider":"ipfs","iexec_result_storage_proxy":"https://proxy","iexec_result_encryption":true,"iexec_developer_logger":false,"iexec_secrets":{"1":"key"},"bulk_cid":"bafy","custom":{"a":[1,2]},"iexec_tee_post_compute_image":"img"}"#;
        let params = DealParams::parse(src).unwrap();
        assert_eq!(params.args(), "--size 64 \"quoted\" é");
        assert_eq!(params.input_files(), ["https://example.org/in.png"]);
        assert!(params.result_encryption());
        assert_eq!(params.iexec_secrets.as_ref().unwrap()["1"], "key");
        assert_eq!(params.extra["custom"]["a"][1], 2);
        let out = params.to_json_string();
        let reparsed: Value = serde_json::from_str(&out).unwrap();
        let original: Value = serde_json::from_str(src).unwrap();
        assert_eq!(reparsed, original);
        assert_eq!(DealParams::parse(&out).unwrap(), params);
    }

    #[test]
    fn non_object_params_are_arguments() {
        assert_eq!(DealParams::parse("").unwrap(), DealParams::default());
        assert_eq!(
            DealParams::parse("--verbose 1").unwrap().args(),
            "--verbose 1"
        );
        assert_eq!(DealParams::parse("42").unwrap().args(), "42");
        assert_eq!(DealParams::default().to_json_string(), "{}");
        assert_eq!(
            DealParams::with_args("x").to_json_string(),
            r#"{"iexec_args":"x"}"#
        );
    }

    #[test]
    fn public_results_is_a_poco_key() {
        assert!(!DealParams::parse("{}").unwrap().public_results());
        assert!(!DealParams::parse("plain args").unwrap().public_results());
        assert!(!DealParams::parse(r#"{"poco_public_results":"yes"}"#)
            .unwrap()
            .public_results());
        let params = DealParams::parse(r#"{"poco_public_results":true}"#).unwrap();
        assert!(params.public_results());
        assert_eq!(params.to_json_string(), r#"{"poco_public_results":true}"#);
    }

    #[test]
    fn wrong_types_are_reported() {
        let err = DealParams::parse(r#"{"iexec_input_files":"https://one"}"#).unwrap_err();
        assert!(matches!(err, Error::DealParams(_)));
        assert!(err.to_string().contains("iexec_args"), "{err}");
    }
}
