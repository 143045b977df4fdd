// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubBase} from "./HubBase.sol";
import {PocoStorage} from "../libs/PocoStorage.sol";
import {Packing} from "../libs/Packing.sol";
import {IexecLibCore_v5 as Core} from "../libs/IexecLibCore_v5.sol";
import {IexecLibOrders_v5 as Orders} from "../libs/IexecLibOrders_v5.sol";
import {App} from "../registries/App.sol";
import {Dataset} from "../registries/Dataset.sol";
import {Workerpool} from "../registries/Workerpool.sol";
import {IPoco} from "../interfaces/IPoco.sol";

/// @title Read-only views of the PoCo interface: deals, tasks, contributions, configuration.
contract ViewModule is HubBase {
    using Packing for uint256;

    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](29);
        s[0] = this.viewDeal.selector;
        s[1] = this.viewTask.selector;
        s[2] = this.viewContribution.selector;
        s[3] = this.viewScore.selector;
        s[4] = this.resultFor.selector;
        s[5] = this.viewConsumed.selector;
        s[6] = this.viewPresigned.selector;
        s[7] = this.viewCategory.selector;
        s[8] = this.countCategory.selector;
        s[9] = this.owner.selector;
        s[10] = this.appregistry.selector;
        s[11] = this.datasetregistry.selector;
        s[12] = this.workerpoolregistry.selector;
        s[13] = this.teebroker.selector;
        s[14] = this.callbackgas.selector;
        s[15] = this.contribution_deadline_ratio.selector;
        s[16] = this.reveal_deadline_ratio.selector;
        s[17] = this.final_deadline_ratio.selector;
        s[18] = this.workerpool_stake_ratio.selector;
        s[19] = this.kitty_ratio.selector;
        s[20] = this.kitty_min.selector;
        s[21] = this.kitty_address.selector;
        s[22] = this.groupmember_purpose.selector;
        s[23] = this.eip712domain_separator.selector;
        s[24] = this.domain.selector;
        s[25] = this.viewApp.selector;
        s[26] = this.viewDataset.selector;
        s[27] = this.viewWorkerpool.selector;
        s[28] = this.pendingOwner.selector;
    }

    function viewDeal(bytes32 id) external view returns (Core.Deal memory deal) {
        PocoStorage.DealRecord storage d = PocoStorage.get().deals[id];
        uint256 pool = d.pool;
        uint256 requester = d.requester;
        deal.app = Core.Resource(d.app.addr(), d.appOwner.addr(), d.app.high());
        deal.dataset = Core.Resource(d.dataset.addr(), d.datasetOwner, d.dataset.high());
        deal.workerpool = Core.Resource(d.workerpool.addr(), pool.addr(), d.appOwner.high());
        deal.trust = pool.trust();
        deal.category = pool.category();
        deal.tag = d.tag;
        deal.requester = requester.addr();
        deal.beneficiary = Packing.beneficiary(d, requester);
        deal.callback = d.callback;
        deal.params = d.params;
        deal.startTime = pool.startTime();
        deal.botFirst = requester.botFirst();
        deal.botSize = requester.botSize();
        deal.workerStake = d.workerpool.high();
        deal.schedulerRewardRatio = pool.schedulerRewardRatio();
        deal.sponsor = requester == 0 ? address(0) : Packing.sponsor(d, requester);
    }

    function viewTask(bytes32 taskid) external view returns (Core.Task memory task) {
        PocoStorage.Layout storage l = PocoStorage.get();
        PocoStorage.TaskRecord storage t = l.tasks[taskid];
        Packing.Task memory p = t.packed.unpack();
        task.status = Core.TaskStatusEnum(p.status);
        task.dealid = t.dealid;
        task.idx = p.idx;
        task.timeref = p.timeref;
        if (p.status != 0 && t.dealid != 0) {
            uint256 start = l.deals[t.dealid].pool.startTime();
            task.contributionDeadline = start + PocoStorage.CONTRIBUTION_DEADLINE_RATIO * p.timeref;
            task.finalDeadline = start + PocoStorage.FINAL_DEADLINE_RATIO * p.timeref;
        }
        task.revealDeadline = p.revealDeadline;
        if (p.hasConsensus) task.consensusValue = l.values[taskid][p.consensusId];
        task.revealCounter = p.revealCounter;
        task.winnerCounter = p.winnerCounter;
        task.contributors = new address[](p.count);
        for (uint256 i = 0; i < p.count; ++i) {
            task.contributors[i] = l.contributors[taskid][i].addr();
        }
        task.resultDigest = t.resultDigest;
        task.results = t.results;
        task.resultsTimestamp = p.resultsTimestamp;
        task.resultsCallback = t.resultsCallback;
    }

    function viewContribution(bytes32 taskid, address worker) external view returns (Core.Contribution memory c) {
        PocoStorage.Layout storage l = PocoStorage.get();
        uint256 count = l.tasks[taskid].packed.unpack().count;
        for (uint256 i = 0; i < count; ++i) {
            uint256 entry = l.contributors[taskid][i];
            if (entry.addr() == worker) {
                c.status = Core.ContributionStatusEnum(entry.entryStatus());
                c.resultHash = l.values[taskid][entry.entryValue()];
                // Only the low 72 bits of the seal are kept on chain: ample for the reveal check,
                // which needs a commitment nobody can guess before the digest is known.
                c.resultSeal = entry.entrySeal();
                c.enclaveChallenge = l.enclaves[taskid][worker];
                c.weight = entry.entryWeight();
                break;
            }
        }
    }

    function viewScore(address worker) external view returns (uint256) {
        return PocoStorage.get().accounts[worker].score;
    }

    /// @notice The callback data of a completed task (ERC-1154 pull side).
    function resultFor(bytes32 id) external view returns (bytes memory) {
        PocoStorage.TaskRecord storage t = PocoStorage.get().tasks[id];
        require(t.packed & 0xff == Packing.COMPLETED, "task-pending");
        return t.resultsCallback;
    }

    function viewConsumed(bytes32 id) external view returns (uint256) {
        return PocoStorage.consumedOf(PocoStorage.get().consumed[id]);
    }

    function viewPresigned(bytes32 id) external view returns (address) {
        return PocoStorage.get().presigned[id];
    }

    function viewCategory(uint256 index) external view returns (Core.Category memory) {
        PocoStorage.Layout storage l = PocoStorage.get();
        if (index >= l.categories.length) revert UnknownCategory(index, l.categories.length);
        return l.categories[index];
    }

    function countCategory() external view returns (uint256) {
        return PocoStorage.get().categories.length;
    }

    // ------------------------------------------------------------------ configuration

    function owner() external view returns (address) {
        return PocoStorage.get().owner;
    }

    /// The owner named by `transferOwnership` that has not accepted yet (zero if none).
    function pendingOwner() external view returns (address) {
        return PocoStorage.get().pendingOwner;
    }

    function appregistry() external view returns (address) {
        return PocoStorage.get().appRegistry;
    }

    function datasetregistry() external view returns (address) {
        return PocoStorage.get().datasetRegistry;
    }

    function workerpoolregistry() external view returns (address) {
        return PocoStorage.get().workerpoolRegistry;
    }

    function teebroker() external view returns (address) {
        return PocoStorage.get().teebroker;
    }

    function callbackgas() external view returns (uint256) {
        return PocoStorage.get().callbackgas;
    }

    function contribution_deadline_ratio() external pure returns (uint256) {
        return PocoStorage.CONTRIBUTION_DEADLINE_RATIO;
    }

    function reveal_deadline_ratio() external pure returns (uint256) {
        return PocoStorage.REVEAL_DEADLINE_RATIO;
    }

    function final_deadline_ratio() external pure returns (uint256) {
        return PocoStorage.FINAL_DEADLINE_RATIO;
    }

    function workerpool_stake_ratio() external pure returns (uint256) {
        return PocoStorage.WORKERPOOL_STAKE_RATIO;
    }

    function kitty_ratio() external pure returns (uint256) {
        return PocoStorage.KITTY_RATIO;
    }

    function kitty_min() external pure returns (uint256) {
        return PocoStorage.KITTY_MIN;
    }

    function kitty_address() external pure returns (address) {
        return PocoStorage.KITTY_ADDRESS;
    }

    function groupmember_purpose() external pure returns (uint256) {
        return PocoStorage.GROUPMEMBER_PURPOSE;
    }

    /// The separator of the current chain id: what order signatures are checked against.
    function eip712domain_separator() external view returns (bytes32) {
        return _domainSeparator();
    }

    function domain() external view returns (Orders.EIP712Domain memory) {
        return Orders.EIP712Domain("iExecODB", "5.0.0", block.chainid, address(this));
    }

    // ------------------------------------------------------------------ assets

    function viewApp(address app) external view returns (IPoco.AppInfo memory) {
        App a = App(app);
        return IPoco.AppInfo(
            a.owner(), a.m_appName(), a.m_appType(), a.m_appMultiaddr(), a.m_appChecksum(), a.m_appMREnclave()
        );
    }

    function viewDataset(address dataset) external view returns (IPoco.DatasetInfo memory) {
        Dataset d = Dataset(dataset);
        return IPoco.DatasetInfo(d.owner(), d.m_datasetName(), d.m_datasetMultiaddr(), d.m_datasetChecksum());
    }

    function viewWorkerpool(address workerpool) external view returns (IPoco.WorkerpoolInfo memory) {
        Workerpool w = Workerpool(workerpool);
        (uint256 stakeRatio, uint256 rewardRatio) = w.viewPolicies();
        return IPoco.WorkerpoolInfo(w.owner(), w.m_workerpoolDescription(), stakeRatio, rewardRatio);
    }
}
