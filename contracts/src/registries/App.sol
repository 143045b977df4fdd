// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AssetRegistry, RegistryEntry} from "./AssetRegistry.sol";

/// @title An application: what workers run, named by a multiaddr and pinned by a checksum.
contract App is RegistryEntry {
    string public m_appName;
    string public m_appType;
    bytes public m_appMultiaddr;
    bytes32 public m_appChecksum;
    bytes public m_appMREnclave;

    function initialize(
        string calldata name,
        string calldata appType,
        bytes calldata multiaddr,
        bytes32 checksum,
        bytes calldata mrenclave
    ) external initializer {
        m_appName = name;
        m_appType = appType;
        m_appMultiaddr = multiaddr;
        m_appChecksum = checksum;
        m_appMREnclave = mrenclave;
    }
}

/// @title The registry of applications ("iExec Application Registry (V5)" interface).
contract AppRegistry is AssetRegistry {
    constructor() AssetRegistry("iExec Application Registry (V5)", "iExecAppsV5", address(new App())) {}

    function createApp(
        address appOwner,
        string calldata appName,
        string calldata appType,
        bytes calldata appMultiaddr,
        bytes32 appChecksum,
        bytes calldata appMREnclave
    ) external returns (App) {
        return App(_create(_initializer(appName, appType, appMultiaddr, appChecksum, appMREnclave), appOwner));
    }

    function predictApp(
        address appOwner,
        string calldata appName,
        string calldata appType,
        bytes calldata appMultiaddr,
        bytes32 appChecksum,
        bytes calldata appMREnclave
    ) external view returns (App) {
        return App(_predict(_initializer(appName, appType, appMultiaddr, appChecksum, appMREnclave), appOwner));
    }

    function _initializer(
        string calldata appName,
        string calldata appType,
        bytes calldata appMultiaddr,
        bytes32 appChecksum,
        bytes calldata appMREnclave
    ) private pure returns (bytes memory) {
        return abi.encodeCall(App.initialize, (appName, appType, appMultiaddr, appChecksum, appMREnclave));
    }
}
