//! Who owns an app or a dataset now: [`Owners`], read from the chain by [`PocoClient`]'s typed
//! registry views (the owner at the latest block, so a transferred dataset's new owner is the
//! one who may set its key).

use std::{future::Future, pin::Pin};

use alloy_primitives::Address;
use poco_chain::{AssetKind, PocoClient};

use crate::Error;

/// A boxed future of an owner read.
pub type OwnerFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Address>, Error>> + Send + 'a>>;

/// Reads the current owner of an asset.
pub trait Owners: Send + Sync + 'static {
    /// The owner of the `kind` asset at `asset`; `None` when no such asset exists.
    fn owner(&self, kind: AssetKind, asset: Address) -> OwnerFuture<'_>;
}

impl Owners for PocoClient {
    fn owner(&self, kind: AssetKind, asset: Address) -> OwnerFuture<'_> {
        Box::pin(async move {
            let read = match kind {
                AssetKind::App => self.view_app(asset).await.map(|a| a.owner),
                AssetKind::Dataset => self.view_dataset(asset).await.map(|d| d.owner),
                AssetKind::Workerpool => self.view_workerpool(asset).await.map(|w| w.owner),
            };
            match read {
                Ok(owner) => Ok(Some(owner)),
                Err(poco_chain::Error::UnknownAsset { .. }) => Ok(None),
                Err(e) => Err(Error::Chain(e)),
            }
        })
    }
}
