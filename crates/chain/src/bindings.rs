//! Typed bindings generated from the committed ABIs.
#![allow(missing_docs, clippy::too_many_arguments)]

/// The hub: everything the poco address answers to.
pub mod hub {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        IPoco,
        "../../contracts/artifacts/IPoco.json"
    );
}

/// The hub's constructor.
pub mod hub_constructor {
    alloy::sol!(Hub, "../../contracts/artifacts/Hub.json");
}

/// The RLC token of local chains.
pub mod rlc {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        RLC,
        "../../contracts/artifacts/RLC.json"
    );
}

/// The application registry and its assets.
pub mod app {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        AppRegistry,
        "../../contracts/artifacts/AppRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        App,
        "../../contracts/artifacts/App.json"
    );
}

/// The dataset registry and its assets.
pub mod dataset {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        DatasetRegistry,
        "../../contracts/artifacts/DatasetRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        Dataset,
        "../../contracts/artifacts/Dataset.json"
    );
}

/// The workerpool registry and its assets.
pub mod workerpool {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        WorkerpoolRegistry,
        "../../contracts/artifacts/WorkerpoolRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        Workerpool,
        "../../contracts/artifacts/Workerpool.json"
    );
}

/// What the three asset registries have in common (ERC-721 enumeration).
pub mod registry {
    alloy::sol! {
        #[sol(rpc)]
        #[derive(Debug)]
        interface IAssetRegistry {
            function balanceOf(address owner) external view returns (uint256);
            function tokenOfOwnerByIndex(address owner, uint256 index) external view returns (uint256);
            function totalSupply() external view returns (uint256);
            function isRegistered(address asset) external view returns (bool);
        }
    }
}
