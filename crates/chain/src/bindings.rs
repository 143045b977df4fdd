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
        RLC,
        "../../contracts/artifacts/RLC.json"
    );
}

/// The application registry and its assets.
pub mod app {
    alloy::sol!(
        #[sol(rpc)]
        AppRegistry,
        "../../contracts/artifacts/AppRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        App,
        "../../contracts/artifacts/App.json"
    );
}

/// The dataset registry and its assets.
pub mod dataset {
    alloy::sol!(
        #[sol(rpc)]
        DatasetRegistry,
        "../../contracts/artifacts/DatasetRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        Dataset,
        "../../contracts/artifacts/Dataset.json"
    );
}

/// The workerpool registry and its assets.
pub mod workerpool {
    alloy::sol!(
        #[sol(rpc)]
        WorkerpoolRegistry,
        "../../contracts/artifacts/WorkerpoolRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        Workerpool,
        "../../contracts/artifacts/Workerpool.json"
    );
}
