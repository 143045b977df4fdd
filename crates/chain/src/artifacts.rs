//! Creation bytecode of the contracts, from the committed artifacts.

use alloy::primitives::Bytes;

use crate::{Error, Result};

macro_rules! artifacts {
    ($($name:ident),* $(,)?) => {
        /// A contract whose creation bytecode is committed in `contracts/artifacts/`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Artifact { $($name),* }

        impl Artifact {
            /// The contract's name.
            pub fn name(self) -> &'static str {
                match self { $(Self::$name => stringify!($name)),* }
            }

            fn json(self) -> &'static str {
                match self {
                    $(Self::$name => include_str!(concat!(
                        env!("CARGO_MANIFEST_DIR"), "/../../contracts/artifacts/", stringify!($name), ".json"
                    ))),*
                }
            }
        }
    };
}

artifacts!(
    Hub,
    EscrowModule,
    OrderModule,
    TaskModule,
    ViewModule,
    RLC,
    AppRegistry,
    DatasetRegistry,
    WorkerpoolRegistry,
);

impl Artifact {
    /// The contract's creation bytecode.
    pub fn bytecode(self) -> Result<Bytes> {
        let value: serde_json::Value =
            serde_json::from_str(self.json()).map_err(|e| Error::Artifact {
                name: self.name(),
                reason: e.to_string(),
            })?;
        let hex = value["bytecode"].as_str().ok_or(Error::Artifact {
            name: self.name(),
            reason: "no bytecode field".into(),
        })?;
        hex.parse::<Bytes>().map_err(|e| Error::Artifact {
            name: self.name(),
            reason: e.to_string(),
        })
    }
}
