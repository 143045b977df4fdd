// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice ERC-1271: signature validation by contract accounts.
interface IERC1271 {
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4);
}

/// @notice ERC-734 identity contracts used as group restrictions (purpose 4 = group member).
interface IERC734 {
    function keyHasPurpose(bytes32 key, uint256 purpose) external view returns (bool);
}

/// @notice ERC-1154 oracle consumer: receives a task's result through a callback.
interface IOracleConsumer {
    function receiveResult(bytes32 taskId, bytes calldata resultsCallback) external;
}

/// @notice What the hub asks of an asset registry.
interface IAssetRegistry {
    function isRegistered(address asset) external view returns (bool);
    /// @return owner the holder of the asset's NFT, or 0 when the asset is not registered here.
    function ownerOfAsset(address asset) external view returns (address owner);
}

/// @notice What the hub asks of the workerpool registry at match time, in one call.
interface IWorkerpoolTerms {
    function workerpoolTerms(address workerpool)
        external
        view
        returns (address owner, uint256 workerStakeRatio, uint256 schedulerRewardRatio);
}

/// @notice The receiving side of `approveAndCall`.
interface IApprovalReceiver {
    function receiveApproval(address sender, uint256 amount, address token, bytes calldata extraData)
        external
        returns (bool);
}
