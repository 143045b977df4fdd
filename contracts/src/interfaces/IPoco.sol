// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IexecLibOrders_v5 as Orders} from "../libs/IexecLibOrders_v5.sol";
import {IexecLibCore_v5 as Core} from "../libs/IexecLibCore_v5.sol";
import {IPocoErrors} from "./IPocoErrors.sol";
import {IPocoEvents} from "./IPocoEvents.sol";

/// @title Everything the hub address answers to: the PoCo (IexecInterfaceToken) surface plus
/// the fast path. Clients use this one ABI; `test/Routing.t.sol` checks every function is routed.
interface IPoco is IPocoErrors, IPocoEvents {
    struct AppInfo {
        address owner;
        string m_appName;
        string m_appType;
        bytes m_appMultiaddr;
        bytes32 m_appChecksum;
        bytes m_appMREnclave;
    }

    struct DatasetInfo {
        address owner;
        string m_datasetName;
        bytes m_datasetMultiaddr;
        bytes32 m_datasetChecksum;
    }

    struct WorkerpoolInfo {
        address owner;
        string m_workerpoolDescription;
        uint256 m_workerStakeRatioPolicy;
        uint256 m_schedulerRewardRatioPolicy;
    }

    // ---- hub routing ----
    function setModule(address module) external;
    function moduleOf(bytes4 selector) external view returns (address);

    // ---- escrow ----
    function deposit(uint256 amount) external returns (bool);
    function depositFor(uint256 amount, address target) external returns (bool);
    function depositForArray(uint256[] calldata amounts, address[] calldata targets) external returns (bool);
    function withdraw(uint256 amount) external returns (bool);
    function withdrawTo(uint256 amount, address target) external returns (bool);
    function receiveApproval(address sender, uint256 amount, address token, bytes calldata data) external returns (bool);
    function recover() external returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function increaseAllowance(address spender, uint256 added) external returns (bool);
    function decreaseAllowance(address spender, uint256 subtracted) external returns (bool);
    function approveAndCall(address spender, uint256 amount, bytes calldata extraData) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
    function frozenOf(address account) external view returns (uint256);
    function viewAccount(address account) external view returns (Core.Account memory);
    function allowance(address owner, address spender) external view returns (uint256);
    function totalSupply() external view returns (uint256);
    function name() external view returns (string memory);
    function symbol() external view returns (string memory);
    function decimals() external view returns (uint8);
    function token() external view returns (address);

    // ---- administration and categories ----
    function createCategory(string calldata name, string calldata description, uint256 workClockTimeRef)
        external
        returns (uint256);
    function setCallbackGas(uint256 gas) external;
    function setTeeBroker(address broker) external;
    /// @notice Two-step: names `newOwner` as the pending owner (zero cancels); `owner()` changes
    /// only when the pending owner calls `acceptOwnership`.
    function transferOwnership(address newOwner) external;
    function acceptOwnership() external;
    function updateDomainSeparator() external;
    function countCategory() external view returns (uint256);
    function viewCategory(uint256 index) external view returns (Core.Category memory);

    // ---- signatures and orders ----
    function verifySignature(address account, bytes32 hash, bytes calldata signature) external view returns (bool);
    function verifyPresignature(address account, bytes32 hash) external view returns (bool);
    function manageAppOrder(Orders.AppOrderOperation calldata op) external;
    function manageDatasetOrder(Orders.DatasetOrderOperation calldata op) external;
    function manageWorkerpoolOrder(Orders.WorkerpoolOrderOperation calldata op) external;
    function manageRequestOrder(Orders.RequestOrderOperation calldata op) external;
    function viewConsumed(bytes32 id) external view returns (uint256);
    function viewPresigned(bytes32 id) external view returns (address);

    // ---- matching ----
    function matchOrders(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external returns (bytes32);
    function sponsorMatchOrders(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external returns (bytes32);
    function computeDealVolume(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external view returns (uint256);
    function viewDeal(bytes32 id) external view returns (Core.Deal memory);

    // ---- classic tasks ----
    function initialize(bytes32 dealid, uint256 idx) external returns (bytes32);
    function contribute(
        bytes32 taskid,
        bytes32 resultHash,
        bytes32 resultSeal,
        address enclaveChallenge,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external;
    function initializeAndContribute(
        bytes32 dealid,
        uint256 idx,
        bytes32 resultHash,
        bytes32 resultSeal,
        address enclaveChallenge,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external returns (bytes32);
    function reveal(bytes32 taskid, bytes32 resultDigest) external;
    function reopen(bytes32 taskid) external;
    function finalize(bytes32 taskid, bytes calldata results, bytes calldata resultsCallback) external;
    function contributeAndFinalize(
        bytes32 taskid,
        bytes32 resultDigest,
        bytes calldata results,
        bytes calldata resultsCallback,
        address enclaveChallenge,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external;
    function revealAndFinalize(
        bytes32 taskid,
        bytes32 resultDigest,
        bytes calldata results,
        bytes calldata resultsCallback
    ) external;
    function claim(bytes32 taskid) external;
    function initializeArray(bytes32[] calldata dealids, uint256[] calldata idxs) external returns (bool);
    function claimArray(bytes32[] calldata taskids) external returns (bool);
    function initializeAndClaimArray(bytes32[] calldata dealids, uint256[] calldata idxs) external returns (bool);
    function viewTask(bytes32 taskid) external view returns (Core.Task memory);
    /// @dev `resultSeal` holds the low 72 bits of the worker's seal (upper bits zero): the hub keeps
    /// only what the reveal check needs (see contracts/README.md, "Storage").
    function viewContribution(bytes32 taskid, address worker) external view returns (Core.Contribution memory);
    function viewScore(address worker) external view returns (uint256);
    function resultFor(bytes32 id) external view returns (bytes memory);

    // ---- fast path (trust <= 1) ----
    function matchOrdersFast(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external returns (bytes32);
    function sponsorMatchOrdersFast(
        Orders.AppOrder calldata appOrder,
        Orders.DatasetOrder calldata datasetOrder,
        Orders.WorkerpoolOrder calldata workerpoolOrder,
        Orders.RequestOrder calldata requestOrder
    ) external returns (bytes32);
    function pushResultFast(
        FastDeal calldata deal,
        bytes32 dealid,
        uint256 idx,
        bytes32 resultDigest,
        bytes calldata results,
        bytes calldata resultsCallback,
        address enclaveChallenge,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external;
    function claimFast(FastDeal calldata deal, bytes32 dealid, uint256 idx) external;
    function viewTaskFast(FastDeal calldata deal, bytes32 dealid, uint256 idx) external view returns (uint8);

    // ---- configuration views ----
    function owner() external view returns (address);
    function pendingOwner() external view returns (address);
    function appregistry() external view returns (address);
    function datasetregistry() external view returns (address);
    function workerpoolregistry() external view returns (address);
    function teebroker() external view returns (address);
    function callbackgas() external view returns (uint256);
    function contribution_deadline_ratio() external view returns (uint256);
    function reveal_deadline_ratio() external view returns (uint256);
    function final_deadline_ratio() external view returns (uint256);
    function workerpool_stake_ratio() external view returns (uint256);
    function kitty_ratio() external view returns (uint256);
    function kitty_min() external view returns (uint256);
    function kitty_address() external view returns (address);
    function groupmember_purpose() external view returns (uint256);
    function eip712domain_separator() external view returns (bytes32);
    function domain() external view returns (Orders.EIP712Domain memory);
    function viewApp(address app) external view returns (AppInfo memory);
    function viewDataset(address dataset) external view returns (DatasetInfo memory);
    function viewWorkerpool(address workerpool) external view returns (WorkerpoolInfo memory);
}
