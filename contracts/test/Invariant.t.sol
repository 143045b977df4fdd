// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./utils/Vm.sol";
import {PocoTest} from "./utils/PocoTest.sol";
import {Reference} from "./utils/Reference.sol";
import {IPocoEvents} from "../src/interfaces/IPocoEvents.sol";
import {IexecLibCore_v5 as Core} from "../src/libs/IexecLibCore_v5.sol";
import {Workerpool} from "../src/registries/Workerpool.sol";

/// @notice Drives the hub with random sequences of escrow moves, classic and fast matches,
/// contributions, reveals, reopens, finalizations, claims and time warps. It only attempts
/// operations its model says are valid, and keeps a ghost copy of every account (free, frozen,
/// score) computed from the formulas of protocol.md, never read back from the hub.
contract Handler is PocoTest {
    bytes32 internal constant GOOD = keccak256("invariant good");
    bytes32 internal constant BAD_RESULT = keccak256("invariant bad");

    enum Kind {
        CONTRIBUTE,
        SOLO,
        REVEAL,
        FINALIZE,
        REOPEN,
        CLAIM,
        PUSH,
        CLAIM_FAST
    }

    struct DealM {
        bytes32 dealid;
        bool fast;
        uint256 trust;
        address payer;
        uint256 appPrice;
        uint256 wpPrice;
        uint256 workerStake;
        uint256 ratio;
        uint256 start;
    }

    struct TaskM {
        uint256 deal;
        uint256 idx;
        bytes32 taskid;
        uint8 status; // 0 unset, 1 active, 2 revealing, 3 completed, 4 failed
        uint256 total; // the reference total (starts at 1)
        uint256 groupGood;
        uint256 groupBad;
        bool consensusBad;
        uint256 revealDeadline;
        uint256 reveals;
        uint256 winners;
    }

    uint256 public violations;
    uint256 public modelTime;
    uint256 internal nonce;
    uint256 internal stakeRatio = 30;
    uint256 internal schedulerRatio = 1;

    mapping(address => uint256) public gFree;
    mapping(address => uint256) public gFrozen;
    mapping(address => uint256) public gScore;
    address[] internal actors;
    address[] internal accountList;

    DealM[] internal deals;
    mapping(uint256 => IPocoEvents.FastDeal) internal fastDeals;
    TaskM[] internal tasks;
    mapping(uint256 => address[]) internal contributorsOf;
    mapping(uint256 => mapping(address => uint8)) internal cStatus; // 1 contributed, 2 proved, 3 rejected
    mapping(uint256 => mapping(address => bool)) internal cBad;
    mapping(uint256 => mapping(address => uint256)) internal cLogWeight;

    mapping(string => uint256) public calls;

    function init() external {
        setUp();
        modelTime = block.timestamp;
        actors.push(appOwner);
        actors.push(scheduler);
        actors.push(requester);
        actors.push(sponsor);
        actors.push(workers[0]);
        actors.push(workers[1]);
        actors.push(workers[2]);
        for (uint256 i = 0; i < actors.length; ++i) {
            accountList.push(actors[i]);
        }
        accountList.push(datasetOwner);
        accountList.push(KITTY);
        accountList.push(address(this));
        for (uint256 i = 0; i < accountList.length; ++i) {
            address a = accountList[i];
            gFree[a] = hub.balanceOf(a); // the fixture's deposits: the model's starting point
        }
    }

    modifier timed() {
        vm.warp(modelTime);
        _;
    }

    function accounts() external view returns (address[] memory) {
        return accountList;
    }

    function workerList() external view returns (address[3] memory) {
        return workers;
    }

    // ------------------------------------------------------------------ escrow

    function deposit(uint256 actorSeed, uint256 amount) external timed {
        address a = actors[actorSeed % actors.length];
        amount = bound(amount, 1, 10_000e9);
        rlc.transfer(a, amount);
        vm.startPrank(a);
        rlc.approve(address(hub), amount);
        hub.deposit(amount);
        vm.stopPrank();
        gFree[a] += amount;
        calls["deposit"]++;
    }

    function withdraw(uint256 actorSeed, uint256 amount) external timed {
        address a = actors[actorSeed % actors.length];
        if (gFree[a] == 0) return;
        amount = bound(amount, 1, gFree[a]);
        uint256 before = rlc.balanceOf(a);
        vm.prank(a);
        hub.withdraw(amount);
        if (rlc.balanceOf(a) != before + amount) violations++;
        gFree[a] -= amount;
        calls["withdraw"]++;
    }

    function transferStake(uint256 fromSeed, uint256 toSeed, uint256 amount) external timed {
        address from = actors[fromSeed % actors.length];
        address to = actors[toSeed % actors.length];
        if (gFree[from] == 0) return;
        amount = bound(amount, 1, gFree[from]);
        vm.prank(from);
        hub.transfer(to, amount);
        gFree[from] -= amount;
        gFree[to] += amount;
        calls["transfer"]++;
    }

    function changePolicy(uint256 seed) external timed {
        uint256 s = bound(seed & 0xff, 0, 100);
        uint256 r = bound((seed >> 8) & 0xff, 0, 100);
        vm.prank(scheduler);
        Workerpool(workerpool).changePolicy(s, r);
        stakeRatio = s;
        schedulerRatio = r;
        calls["changePolicy"]++;
    }

    function warp(uint256 dt) external {
        // mostly short steps (within a phase), sometimes long ones (past the deadlines)
        modelTime += dt % 3 == 0 ? bound(dt >> 8, 600, 3600) : bound(dt >> 8, 1, 300);
        vm.warp(modelTime);
        calls["warp"]++;
    }

    // ------------------------------------------------------------------ matching

    function matchClassic(uint256 seed) external timed {
        _match(seed, false);
    }

    function matchFast(uint256 seed) external timed {
        _match(seed, true);
    }

    function _match(uint256 seed, bool fast) internal {
        DealM memory d;
        d.fast = fast;
        d.trust = fast ? (seed & 1) : ((seed & 1) == 0 ? 1 : 3);
        uint256 volume = 1 + (seed >> 1) % 3;
        bool sponsored = (seed >> 3) & 1 == 1;
        d.appPrice = (seed >> 8) % 5e9;
        // one deal in four is free (self-dealing at price 0 must earn no kitty share)
        d.wpPrice = (seed >> 4) & 3 == 0 ? 0 : (seed >> 64) % 20e9;
        d.payer = sponsored ? sponsor : requester;
        d.workerStake = d.wpPrice * stakeRatio / 100;
        d.ratio = schedulerRatio;
        d.start = modelTime;
        uint256 cost = (d.appPrice + d.wpPrice) * volume;
        uint256 stake = Reference.poolStake(d.wpPrice) * volume;
        if (gFree[d.payer] < cost || gFree[scheduler] < stake) return;

        nonce++;
        OrderSet memory s = defaultOrders();
        s.a.appprice = d.appPrice;
        s.a.salt = bytes32(nonce);
        s.w.workerpoolprice = d.wpPrice;
        s.w.salt = bytes32(nonce);
        s.r.appmaxprice = d.appPrice;
        s.r.workerpoolmaxprice = d.wpPrice;
        s.r.trust = d.trust;
        s.r.volume = volume;
        s.r.salt = bytes32(nonce);
        s = signAll(s);

        if (fast) vm.recordLogs();
        vm.prank(d.payer);
        if (fast) {
            d.dealid =
                sponsored ? hub.sponsorMatchOrdersFast(s.a, s.d, s.w, s.r) : hub.matchOrdersFast(s.a, s.d, s.w, s.r);
        } else {
            d.dealid = sponsored ? hub.sponsorMatchOrders(s.a, s.d, s.w, s.r) : hub.matchOrders(s.a, s.d, s.w, s.r);
        }
        if (d.dealid != keccak256(abi.encodePacked(hashOf(s.r), uint256(0)))) violations++;
        gFree[d.payer] -= cost;
        gFrozen[d.payer] += cost;
        gFree[scheduler] -= stake;
        gFrozen[scheduler] += stake;

        uint256 di = deals.length;
        deals.push(d);
        if (fast) {
            (bytes32 announced, IPocoEvents.FastDeal memory fd) = fastDealFromLogs();
            if (announced != d.dealid) violations++;
            if (
                fd.sponsor != d.payer || fd.workerpoolPrice != d.wpPrice || fd.appPrice != d.appPrice
                    || fd.workerReward != d.wpPrice * (100 - d.ratio) / 100 || fd.botSize != volume || fd.botFirst != 0
                    || fd.startTime != d.start || fd.timeref != XS
                    || fd.seed != keccak256(abi.encodePacked(blockhash(block.number - 1), block.prevrandao))
            ) violations++;
            fastDeals[di] = fd;
        }
        for (uint256 idx = 0; idx < volume; ++idx) {
            TaskM memory t;
            t.deal = di;
            t.idx = idx;
            t.taskid = taskId(d.dealid, idx);
            t.total = 1;
            tasks.push(t);
        }
        calls[fast ? "matchFast" : "matchClassic"]++;
    }

    // ------------------------------------------------------------------ picking

    function eligible(uint256 i, Kind kind) internal view returns (bool) {
        TaskM storage t = tasks[i];
        DealM storage d = deals[t.deal];
        uint256 now_ = modelTime;
        uint256 contributionDeadline = d.start + 7 * XS;
        uint256 finalDeadline = d.start + 10 * XS;
        if (kind == Kind.PUSH) return d.fast && t.status == 0 && now_ < contributionDeadline;
        if (kind == Kind.CLAIM_FAST) return d.fast && t.status == 0 && now_ >= finalDeadline;
        if (d.fast) return false;
        if (kind == Kind.CONTRIBUTE) return d.trust == 3 && t.status <= 1 && now_ < contributionDeadline;
        if (kind == Kind.SOLO) {
            return d.trust == 1 && t.status <= 1 && contributorsOf[i].length == 0 && now_ < contributionDeadline;
        }
        if (kind == Kind.REVEAL) return t.status == 2 && now_ < t.revealDeadline;
        if (kind == Kind.FINALIZE) {
            return t.status == 2 && now_ < finalDeadline
                && (t.reveals == t.winners || (t.reveals > 0 && now_ >= t.revealDeadline));
        }
        if (kind == Kind.REOPEN) {
            return t.status == 2 && now_ >= t.revealDeadline && t.reveals == 0 && now_ < finalDeadline;
        }
        // CLAIM
        return t.status <= 2 && now_ >= finalDeadline;
    }

    function pick(uint256 seed, Kind kind) internal view returns (bool found, uint256 index) {
        uint256 n = tasks.length;
        if (n == 0) return (false, 0);
        uint256 start = seed % n;
        for (uint256 j = 0; j < n; ++j) {
            uint256 i = (start + j) % n;
            if (eligible(i, kind)) return (true, i);
        }
        return (false, 0);
    }

    /// A classic task open to contributions that already has contributors.
    function pickStarted(uint256 seed) internal view returns (bool found, uint256 index) {
        uint256 n = tasks.length;
        if (n == 0) return (false, 0);
        uint256 start = seed % n;
        for (uint256 j = 0; j < n; ++j) {
            uint256 i = (start + j) % n;
            if (contributorsOf[i].length > 0 && eligible(i, Kind.CONTRIBUTE)) return (true, i);
        }
        return (false, 0);
    }

    function ensureInitialized(uint256 i) internal {
        TaskM storage t = tasks[i];
        if (t.status != 0) return;
        bytes32 id = hub.initialize(deals[t.deal].dealid, t.idx);
        if (id != t.taskid) violations++;
        t.status = 1;
    }

    // ------------------------------------------------------------------ classic lifecycle

    function contribute(uint256 taskSeed, uint256 workerSeed, uint8 badSeed) external timed {
        // votes go preferably to tasks that already have some, so that replication completes
        (bool found, uint256 i) = pickStarted(taskSeed);
        if (!found) (found, i) = pick(taskSeed, Kind.CONTRIBUTE);
        if (!found) return;
        bool bad = badSeed % 4 == 0;
        TaskM storage t = tasks[i];
        DealM storage d = deals[t.deal];
        address w;
        for (uint256 k = 0; k < 3; ++k) {
            address candidate = workers[(workerSeed % 3 + k) % 3];
            if (cStatus[i][candidate] == 0 && gFree[candidate] >= d.workerStake) {
                w = candidate;
                break;
            }
        }
        if (w == address(0)) return;
        ensureInitialized(i);
        contributeFrom(w, t.taskid, bad ? BAD_RESULT : GOOD);

        gFree[w] -= d.workerStake;
        gFrozen[w] += d.workerStake;
        contributorsOf[i].push(w);
        cStatus[i][w] = 1;
        cBad[i][w] = bad;
        uint256 weight = Reference.weight(gScore[w]);
        cLogWeight[i][w] = Reference.log2(weight);
        uint256 group;
        if (bad) {
            (t.groupBad, t.total) = Reference.vote(t.groupBad, t.total, weight);
            group = t.groupBad;
        } else {
            (t.groupGood, t.total) = Reference.vote(t.groupGood, t.total, weight);
            group = t.groupGood;
        }
        if (Reference.consensus(group, t.total, d.trust)) {
            t.status = 2;
            t.consensusBad = bad;
            t.revealDeadline = modelTime + 2 * XS;
            t.reveals = 0;
            uint256 winners;
            address[] storage cs = contributorsOf[i];
            for (uint256 k = 0; k < cs.length; ++k) {
                if (cStatus[i][cs[k]] == 1 && cBad[i][cs[k]] == bad) winners++;
            }
            t.winners = winners;
        }
        calls["contribute"]++;
    }

    function reveal(uint256 taskSeed, uint256 workerSeed) external timed {
        (bool found, uint256 i) = pick(taskSeed, Kind.REVEAL);
        if (!found) return;
        TaskM storage t = tasks[i];
        address[] storage cs = contributorsOf[i];
        for (uint256 k = 0; k < cs.length; ++k) {
            address w = cs[(workerSeed % cs.length + k) % cs.length];
            if (cStatus[i][w] == 1 && cBad[i][w] == t.consensusBad) {
                revealFrom(w, t.taskid, t.consensusBad ? BAD_RESULT : GOOD);
                cStatus[i][w] = 2;
                t.reveals++;
                calls["reveal"]++;
                return;
            }
        }
    }

    /// §3.8: the sponsor pays, the app owner is paid, the kitty share (at most the task's pool
    /// stake) is taken.
    function successWork(DealM storage d) internal returns (uint256 poolStake, uint256 kittyShare) {
        gFrozen[d.payer] -= d.appPrice + d.wpPrice;
        gFree[appOwner] += d.appPrice;
        poolStake = Reference.poolStake(d.wpPrice);
        kittyShare = Reference.kittyShare(gFrozen[KITTY], poolStake);
        gFrozen[KITTY] -= kittyShare;
    }

    function finalize(uint256 taskSeed) external timed {
        (bool found, uint256 i) = pick(taskSeed, Kind.FINALIZE);
        if (!found) return;
        TaskM storage t = tasks[i];
        DealM storage d = deals[t.deal];
        finalizeAsScheduler(t.taskid, "ipfs://invariant", "");

        (uint256 poolStake, uint256 kittyShare) = successWork(d);
        address[] storage cs = contributorsOf[i];
        uint256 totalReward = d.wpPrice;
        uint256 totalWeight;
        for (uint256 k = 0; k < cs.length; ++k) {
            if (cStatus[i][cs[k]] == 2) totalWeight += cLogWeight[i][cs[k]];
            else totalReward += d.workerStake;
        }
        uint256 workersReward = totalReward * (100 - d.ratio) / 100;
        uint256 paid;
        for (uint256 k = 0; k < cs.length; ++k) {
            address w = cs[k];
            gFrozen[w] -= d.workerStake;
            if (cStatus[i][w] == 2) {
                uint256 share = Reference.share(workersReward, cLogWeight[i][w], totalWeight);
                paid += share;
                gFree[w] += d.workerStake + share;
                if (cs.length > 1) gScore[w] += 1;
            } else {
                gScore[w] = gScore[w] * 2 / 3;
            }
        }
        gFrozen[scheduler] -= poolStake;
        gFree[scheduler] += poolStake + totalReward - paid + kittyShare;
        t.status = 3;
        calls["finalize"]++;
    }

    function contributeAndFinalize(uint256 taskSeed, uint256 workerSeed) external timed {
        (bool found, uint256 i) = pick(taskSeed, Kind.SOLO);
        if (!found) return;
        TaskM storage t = tasks[i];
        DealM storage d = deals[t.deal];
        address w = workers[workerSeed % 3];
        ensureInitialized(i);
        soloFinalize(w, t.taskid, GOOD, "");
        (uint256 poolStake, uint256 kittyShare) = successWork(d);
        uint256 workerReward = d.wpPrice * (100 - d.ratio) / 100;
        gFree[w] += workerReward;
        gFrozen[scheduler] -= poolStake;
        gFree[scheduler] += poolStake + d.wpPrice - workerReward + kittyShare;
        t.status = 3;
        calls["contributeAndFinalize"]++;
    }

    function reopen(uint256 taskSeed) external timed {
        (bool found, uint256 i) = pick(taskSeed, Kind.REOPEN);
        if (!found) return;
        TaskM storage t = tasks[i];
        vm.prank(scheduler);
        hub.reopen(t.taskid);
        address[] storage cs = contributorsOf[i];
        for (uint256 k = 0; k < cs.length; ++k) {
            if (cStatus[i][cs[k]] == 1 && cBad[i][cs[k]] == t.consensusBad) cStatus[i][cs[k]] = 3;
        }
        if (t.consensusBad) {
            t.total -= t.groupBad;
            t.groupBad = 0;
        } else {
            t.total -= t.groupGood;
            t.groupGood = 0;
        }
        t.status = 1;
        t.revealDeadline = 0;
        t.winners = 0;
        calls["reopen"]++;
    }

    function claim(uint256 taskSeed) external timed {
        (bool found, uint256 i) = pick(taskSeed, Kind.CLAIM);
        if (!found) return;
        TaskM storage t = tasks[i];
        DealM storage d = deals[t.deal];
        if (t.status == 0) {
            bytes32[] memory ids = new bytes32[](1);
            ids[0] = d.dealid;
            uint256[] memory idxs = new uint256[](1);
            idxs[0] = t.idx;
            hub.initializeAndClaimArray(ids, idxs);
        } else {
            hub.claim(t.taskid);
        }
        uint256 price = d.appPrice + d.wpPrice;
        gFrozen[d.payer] -= price;
        gFree[d.payer] += price;
        uint256 poolStake = Reference.poolStake(d.wpPrice);
        gFrozen[scheduler] -= poolStake;
        gFrozen[KITTY] += poolStake;
        address[] storage cs = contributorsOf[i];
        for (uint256 k = 0; k < cs.length; ++k) {
            gFrozen[cs[k]] -= d.workerStake;
            gFree[cs[k]] += d.workerStake;
        }
        t.status = 4;
        calls["claim"]++;
    }

    // ------------------------------------------------------------------ fast path

    function pushFast(uint256 taskSeed, uint256 workerSeed) external timed {
        (bool found, uint256 i) = pick(taskSeed, Kind.PUSH);
        if (!found) return;
        TaskM storage t = tasks[i];
        DealM storage d = deals[t.deal];
        IPocoEvents.FastDeal memory fd = fastDeals[t.deal];
        address w = workers[workerSeed % 3];
        bytes memory auth = authorization(w, t.taskid, address(0));
        vm.prank(w);
        hub.pushResultFast(fd, d.dealid, t.idx, GOOD, "", "", address(0), "", auth);
        (uint256 poolStake, uint256 kittyShare) = successWork(d);
        gFree[w] += fd.workerReward;
        gFrozen[scheduler] -= poolStake;
        gFree[scheduler] += poolStake + d.wpPrice - fd.workerReward + kittyShare;
        t.status = 3;
        calls["pushFast"]++;
    }

    function claimFast(uint256 taskSeed) external timed {
        (bool found, uint256 i) = pick(taskSeed, Kind.CLAIM_FAST);
        if (!found) return;
        TaskM storage t = tasks[i];
        DealM storage d = deals[t.deal];
        hub.claimFast(fastDeals[t.deal], d.dealid, t.idx);
        uint256 price = d.appPrice + d.wpPrice;
        gFrozen[d.payer] -= price;
        gFree[d.payer] += price;
        uint256 poolStake = Reference.poolStake(d.wpPrice);
        gFrozen[scheduler] -= poolStake;
        gFrozen[KITTY] += poolStake;
        t.status = 4;
        calls["claimFast"]++;
    }

    // ------------------------------------------------------------------ checks

    /// Number of tasks whose status on the hub differs from the model's.
    function statusMismatches() external view returns (uint256 bad) {
        for (uint256 i = 0; i < tasks.length; ++i) {
            TaskM storage t = tasks[i];
            DealM storage d = deals[t.deal];
            uint256 onChain =
                d.fast ? hub.viewTaskFast(fastDeals[t.deal], d.dealid, t.idx) : uint256(hub.viewTask(t.taskid).status);
            if (onChain != t.status) bad++;
        }
    }

    function taskCount() external view returns (uint256) {
        return tasks.length;
    }

    function rlcBalanceOfHub() external view returns (uint256) {
        return rlc.balanceOf(address(hub));
    }

    function hubTotalSupply() external view returns (uint256) {
        return hub.totalSupply();
    }

    function freeOf(address a) external view returns (uint256) {
        return hub.balanceOf(a);
    }

    function lockedOf(address a) external view returns (uint256) {
        return hub.frozenOf(a);
    }

    function scoreOf(address a) external view returns (uint256) {
        return hub.viewScore(a);
    }
}

/// @notice The escrow conserves value and matches the model whatever the sequence of calls.
contract InvariantTest is Test {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    Handler internal handler;

    function setUp() public {
        handler = new Handler();
        handler.init();
    }

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory s) {
        bytes4[] memory sel = new bytes4[](21);
        sel[0] = Handler.deposit.selector;
        sel[1] = Handler.withdraw.selector;
        sel[2] = Handler.transferStake.selector;
        sel[3] = Handler.changePolicy.selector;
        sel[4] = Handler.warp.selector;
        sel[5] = Handler.matchClassic.selector;
        sel[6] = Handler.matchFast.selector;
        sel[7] = Handler.contribute.selector;
        sel[8] = Handler.reveal.selector;
        sel[9] = Handler.finalize.selector;
        sel[10] = Handler.contributeAndFinalize.selector;
        sel[11] = Handler.reopen.selector;
        sel[12] = Handler.claim.selector;
        sel[13] = Handler.pushFast.selector;
        sel[14] = Handler.claimFast.selector;
        // the replicated lifecycle needs several steps in a row: weigh them more
        sel[15] = Handler.contribute.selector;
        sel[16] = Handler.contribute.selector;
        sel[17] = Handler.reveal.selector;
        sel[18] = Handler.reveal.selector;
        sel[19] = Handler.finalize.selector;
        sel[20] = Handler.warp.selector;
        s = new FuzzSelector[](1);
        s[0] = FuzzSelector(address(handler), sel);
    }

    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_hubHoldsExactlyTheSupply() public view {
        assertEq(handler.rlcBalanceOfHub(), handler.hubTotalSupply(), "RLC.balanceOf(hub) == totalSupply");
    }

    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_supplyIsTheSumOfAllAccounts() public view {
        address[] memory accts = handler.accounts();
        uint256 sum;
        for (uint256 i = 0; i < accts.length; ++i) {
            sum += handler.freeOf(accts[i]) + handler.lockedOf(accts[i]);
        }
        assertEq(sum, handler.hubTotalSupply(), "totalSupply == sum of free + frozen (kitty included)");
    }

    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_accountsMatchTheModel() public view {
        address[] memory accts = handler.accounts();
        for (uint256 i = 0; i < accts.length; ++i) {
            assertEq(handler.freeOf(accts[i]), handler.gFree(accts[i]), "free balance == model");
            assertEq(handler.lockedOf(accts[i]), handler.gFrozen(accts[i]), "frozen balance == model");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_scoresMatchTheModel() public view {
        address[3] memory ws = handler.workerList();
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(handler.scoreOf(ws[i]), handler.gScore(ws[i]), "score == model");
        }
    }

    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_taskStatusesMatchTheModel() public view {
        assertEq(handler.statusMismatches(), 0, "task statuses == model");
        assertEq(handler.violations(), 0, "handler-side checks");
    }
}
