// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AssetRegistry, RegistryEntry} from "./AssetRegistry.sol";

/// @title A workerpool: a scheduler (the owner) and its workers, with its stake and reward policy.
contract Workerpool is RegistryEntry {
    string public m_workerpoolDescription;

    event PolicyUpdate(
        uint256 oldWorkerStakeRatioPolicy,
        uint256 newWorkerStakeRatioPolicy,
        uint256 oldSchedulerRewardRatioPolicy,
        uint256 newSchedulerRewardRatioPolicy
    );

    error InvalidSchedulerRewardRatio(uint256 ratio);
    error InvalidWorkerStakeRatio(uint256 ratio);

    /// @notice Percentage of the workerpool price each worker stakes per contribution.
    function m_workerStakeRatioPolicy() public view returns (uint256 ratio) {
        (, ratio,) = WorkerpoolRegistry(registry).workerpoolTerms(address(this));
    }

    /// @notice Percentage of the workers' reward the scheduler keeps (0 to 100).
    function m_schedulerRewardRatioPolicy() public view returns (uint256 ratio) {
        (,, ratio) = WorkerpoolRegistry(registry).workerpoolTerms(address(this));
    }

    function initialize(string calldata description) external initializer {
        m_workerpoolDescription = description;
    }

    /// @notice Changes the policy for deals matched from now on (the scheduler ratio is at most 100).
    function changePolicy(uint256 newWorkerStakeRatioPolicy, uint256 newSchedulerRewardRatioPolicy) external onlyOwner {
        if (newSchedulerRewardRatioPolicy > 100) revert InvalidSchedulerRewardRatio(newSchedulerRewardRatioPolicy);
        // The stake ratio has no protocol bound; this one only keeps stakes within uint96.
        if (newWorkerStakeRatioPolicy > type(uint32).max) revert InvalidWorkerStakeRatio(newWorkerStakeRatioPolicy);
        emit PolicyUpdate(
            m_workerStakeRatioPolicy(),
            newWorkerStakeRatioPolicy,
            m_schedulerRewardRatioPolicy(),
            newSchedulerRewardRatioPolicy
        );
        WorkerpoolRegistry(registry).setPolicy(newWorkerStakeRatioPolicy, newSchedulerRewardRatioPolicy);
    }

    /// @notice Both policies in one call.
    function viewPolicies() external view returns (uint256 workerStakeRatio, uint256 schedulerRewardRatio) {
        (, workerStakeRatio, schedulerRewardRatio) = WorkerpoolRegistry(registry).workerpoolTerms(address(this));
    }
}

/// @title The registry of workerpools ("iExec Workerpool Registry (V5)" interface).
/// @notice The registry keeps each pool's policies next to its NFT, so that the hub reads the
/// owner and both policies of a pool in one call when it matches orders.
contract WorkerpoolRegistry is AssetRegistry {
    uint256 private constant DEFAULT_POLICIES = 30 | 1 << 128;

    // workerStakeRatio | schedulerRewardRatio << 128
    mapping(address => uint256) private policies;

    error NotAWorkerpool(address caller);

    constructor() AssetRegistry("iExec Workerpool Registry (V5)", "iExecWorkerpoolV5", address(new Workerpool())) {}

    function createWorkerpool(address workerpoolOwner, string calldata workerpoolDescription)
        external
        returns (Workerpool pool)
    {
        pool = Workerpool(_create(abi.encodeCall(Workerpool.initialize, (workerpoolDescription)), workerpoolOwner));
        policies[address(pool)] = DEFAULT_POLICIES;
    }

    /// @notice The owner and policies of `workerpool` (zero owner when it is not registered here).
    function workerpoolTerms(address workerpool)
        external
        view
        returns (address owner_, uint256 workerStakeRatio, uint256 schedulerRewardRatio)
    {
        uint256 p = policies[workerpool];
        return (_ownerOf(uint256(uint160(workerpool))), uint128(p), p >> 128);
    }

    /// @notice Called by a workerpool whose owner changed its policy (checked by the pool).
    function setPolicy(uint256 workerStakeRatio, uint256 schedulerRewardRatio) external {
        if (_ownerOf(uint256(uint160(msg.sender))) == address(0)) revert NotAWorkerpool(msg.sender);
        policies[msg.sender] = workerStakeRatio | schedulerRewardRatio << 128;
    }

    function predictWorkerpool(address workerpoolOwner, string calldata workerpoolDescription)
        external
        view
        returns (Workerpool)
    {
        return Workerpool(_predict(abi.encodeCall(Workerpool.initialize, (workerpoolDescription)), workerpoolOwner));
    }
}
