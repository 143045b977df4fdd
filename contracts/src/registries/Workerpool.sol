// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AssetRegistry, RegistryEntry} from "./AssetRegistry.sol";

/// @title A workerpool: a scheduler (the owner) and its workers, with its stake and reward policy.
contract Workerpool is RegistryEntry {
    string public m_workerpoolDescription;
    // Both policies share one slot so that matching reads them with one storage access.
    uint128 private workerStakeRatio;
    uint128 private schedulerRewardRatio;

    event PolicyUpdate(
        uint256 oldWorkerStakeRatioPolicy,
        uint256 newWorkerStakeRatioPolicy,
        uint256 oldSchedulerRewardRatioPolicy,
        uint256 newSchedulerRewardRatioPolicy
    );

    error InvalidSchedulerRewardRatio(uint256 ratio);
    error InvalidWorkerStakeRatio(uint256 ratio);

    /// @notice Percentage of the workerpool price each worker stakes per contribution.
    function m_workerStakeRatioPolicy() external view returns (uint256) {
        return workerStakeRatio;
    }

    /// @notice Percentage of the workers' reward the scheduler keeps (0 to 100).
    function m_schedulerRewardRatioPolicy() external view returns (uint256) {
        return schedulerRewardRatio;
    }

    function initialize(string calldata description) external initializer {
        m_workerpoolDescription = description;
        workerStakeRatio = 30;
        schedulerRewardRatio = 1;
    }

    /// @notice Changes the policy for deals matched from now on (the scheduler ratio is at most 100).
    function changePolicy(uint256 newWorkerStakeRatioPolicy, uint256 newSchedulerRewardRatioPolicy) external onlyOwner {
        if (newSchedulerRewardRatioPolicy > 100) revert InvalidSchedulerRewardRatio(newSchedulerRewardRatioPolicy);
        // The stake ratio has no protocol bound; this one only keeps stakes within uint96.
        if (newWorkerStakeRatioPolicy > type(uint32).max) revert InvalidWorkerStakeRatio(newWorkerStakeRatioPolicy);
        emit PolicyUpdate(
            workerStakeRatio, newWorkerStakeRatioPolicy, schedulerRewardRatio, newSchedulerRewardRatioPolicy
        );
        workerStakeRatio = uint128(newWorkerStakeRatioPolicy);
        schedulerRewardRatio = uint128(newSchedulerRewardRatioPolicy);
    }

    /// @notice Both policies in one call, for the hub's matching.
    function viewPolicies() external view returns (uint256, uint256) {
        return (workerStakeRatio, schedulerRewardRatio);
    }
}

/// @title The registry of workerpools ("iExec Workerpool Registry (V5)" interface).
contract WorkerpoolRegistry is AssetRegistry {
    constructor() AssetRegistry("iExec Workerpool Registry (V5)", "iExecWorkerpoolV5", address(new Workerpool())) {}

    function createWorkerpool(address workerpoolOwner, string calldata workerpoolDescription)
        external
        returns (Workerpool)
    {
        return Workerpool(_create(abi.encodeCall(Workerpool.initialize, (workerpoolDescription)), workerpoolOwner));
    }

    function predictWorkerpool(address workerpoolOwner, string calldata workerpoolDescription)
        external
        view
        returns (Workerpool)
    {
        return Workerpool(_predict(abi.encodeCall(Workerpool.initialize, (workerpoolDescription)), workerpoolOwner));
    }
}
