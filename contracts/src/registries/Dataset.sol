// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AssetRegistry, RegistryEntry} from "./AssetRegistry.sol";

/// @title A dataset: named by a multiaddr and pinned by a checksum.
contract Dataset is RegistryEntry {
    string public m_datasetName;
    bytes public m_datasetMultiaddr;
    bytes32 public m_datasetChecksum;

    function initialize(string calldata name, bytes calldata multiaddr, bytes32 checksum) external initializer {
        m_datasetName = name;
        m_datasetMultiaddr = multiaddr;
        m_datasetChecksum = checksum;
    }
}

/// @title The registry of datasets ("iExec Dataset Registry (V5)" interface).
contract DatasetRegistry is AssetRegistry {
    constructor() AssetRegistry("iExec Dataset Registry (V5)", "iExecDatasetsV5", address(new Dataset())) {}

    function createDataset(
        address datasetOwner,
        string calldata datasetName,
        bytes calldata datasetMultiaddr,
        bytes32 datasetChecksum
    ) external returns (Dataset) {
        return Dataset(
            _create(abi.encodeCall(Dataset.initialize, (datasetName, datasetMultiaddr, datasetChecksum)), datasetOwner)
        );
    }

    function predictDataset(
        address datasetOwner,
        string calldata datasetName,
        bytes calldata datasetMultiaddr,
        bytes32 datasetChecksum
    ) external view returns (Dataset) {
        return Dataset(
            _predict(abi.encodeCall(Dataset.initialize, (datasetName, datasetMultiaddr, datasetChecksum)), datasetOwner)
        );
    }
}
