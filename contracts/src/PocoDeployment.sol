// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {RLC} from "./token/RLC.sol";
import {AppRegistry} from "./registries/App.sol";
import {DatasetRegistry} from "./registries/Dataset.sol";
import {WorkerpoolRegistry} from "./registries/Workerpool.sol";
import {Hub} from "./hub/Hub.sol";
import {EscrowModule} from "./hub/EscrowModule.sol";
import {OrderModule} from "./hub/OrderModule.sol";
import {TaskModule} from "./hub/TaskModule.sol";
import {ViewModule} from "./hub/ViewModule.sol";
import {IPoco} from "./interfaces/IPoco.sol";

/// @title A full poco instance on a fresh chain, in the order the Rust deployer follows too:
/// token (unless one is given), registries, modules, hub, default categories.
library PocoDeployment {
    uint256 internal constant DEFAULT_CALLBACK_GAS = 200_000;

    struct Deployed {
        RLC token;
        AppRegistry appRegistry;
        DatasetRegistry datasetRegistry;
        WorkerpoolRegistry workerpoolRegistry;
        IPoco hub;
    }

    /// Deploys with the calling contract as hub owner (it creates the default categories).
    function deploy(address token) internal returns (Deployed memory d) {
        d.token = token == address(0) ? new RLC(address(this)) : RLC(token);
        d.appRegistry = new AppRegistry();
        d.datasetRegistry = new DatasetRegistry();
        d.workerpoolRegistry = new WorkerpoolRegistry();
        address[] memory modules = new address[](4);
        modules[0] = address(new EscrowModule());
        modules[1] = address(new OrderModule());
        modules[2] = address(new TaskModule());
        modules[3] = address(new ViewModule());
        d.hub = IPoco(
            address(
                new Hub(
                    Hub.Config({
                        owner: address(this),
                        token: address(d.token),
                        appRegistry: address(d.appRegistry),
                        datasetRegistry: address(d.datasetRegistry),
                        workerpoolRegistry: address(d.workerpoolRegistry),
                        callbackgas: DEFAULT_CALLBACK_GAS
                    }),
                    modules
                )
            )
        );
        createDefaultCategories(d.hub);
    }

    /// XS, S, M, L, XL with iExec's reference times (description: the JSON empty string).
    function createDefaultCategories(IPoco hub) internal {
        hub.createCategory("XS", '""', 300);
        hub.createCategory("S", '""', 1200);
        hub.createCategory("M", '""', 3600);
        hub.createCategory("L", '""', 10800);
        hub.createCategory("XL", '""', 36000);
    }
}
