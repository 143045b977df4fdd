// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PocoTest} from "./utils/PocoTest.sol";
import {Reference} from "./utils/Reference.sol";
import {IPocoErrors} from "../src/interfaces/IPocoErrors.sol";
import {IexecLibOrders_v5 as Orders} from "../src/libs/IexecLibOrders_v5.sol";
import {IexecLibCore_v5 as Core} from "../src/libs/IexecLibCore_v5.sol";
import {Workerpool} from "../src/registries/Workerpool.sol";

/// @notice Property tests: matching succeeds exactly when the §2.1 rules hold, with the §2.4
/// locks; the consensus and reward maths match a reference written from §3.4 and §3.9.
contract FuzzTest is PocoTest {
    bytes32 internal constant GOOD = keccak256("good");
    bytes32 internal constant BAD_RESULT = keccak256("bad");

    function setUp() public override {
        super.setUp();
        locateScore(); // once: every fuzz run starts from this state
    }

    // ------------------------------------------------------------------ matching

    /// Maps 4 bits to the tag bits TEE (0), Scone (1), TDX (3) and GPU (8).
    function spread(uint256 bits) internal pure returns (bytes32) {
        uint256 t;
        if (bits & 1 != 0) t |= 1;
        if (bits & 2 != 0) t |= 2;
        if (bits & 4 != 0) t |= 8;
        if (bits & 8 != 0) t |= 0x100;
        return bytes32(t);
    }

    struct Case {
        uint256 appPrice;
        uint256 appMax;
        uint256 dsPrice;
        uint256 dsMax;
        uint256 wpPrice;
        uint256 wpMax;
        uint256 rTrust;
        uint256 wTrust;
        uint256 rCat;
        uint256 wCat;
        bytes32 aTag;
        bytes32 dTag;
        bytes32 rTag;
        bytes32 wTag;
        bool withDataset;
    }

    /// The first rule that fails, in the order of §2.1, or empty when all hold.
    function expectedFailure(Case memory c) internal pure returns (bytes memory) {
        if (c.rCat != c.wCat) return abi.encodeWithSelector(IPocoErrors.CategoryMismatch.selector, c.rCat, c.wCat);
        if (c.rCat >= 5) return abi.encodeWithSelector(IPocoErrors.UnknownCategory.selector, c.rCat, 5);
        if (c.rTrust > c.wTrust) return abi.encodeWithSelector(IPocoErrors.TrustTooHigh.selector, c.rTrust, c.wTrust);
        if (c.appMax < c.appPrice) {
            return abi.encodeWithSelector(IPocoErrors.AppPriceTooHigh.selector, c.appPrice, c.appMax);
        }
        if (c.dsMax < c.dsPrice) {
            return abi.encodeWithSelector(IPocoErrors.DatasetPriceTooHigh.selector, c.dsPrice, c.dsMax);
        }
        if (c.wpMax < c.wpPrice) {
            return abi.encodeWithSelector(IPocoErrors.WorkerpoolPriceTooHigh.selector, c.wpPrice, c.wpMax);
        }
        bytes32 tag = c.aTag | c.dTag | c.rTag;
        bytes32 missing = tag & ~c.wTag;
        if (missing != 0) return abi.encodeWithSelector(IPocoErrors.TagNotOffered.selector, missing);
        if (uint256(tag) & 1 != uint256(c.aTag) & 1) {
            return abi.encodeWithSelector(IPocoErrors.TeeTagMissingInAppOrder.selector);
        }
        return "";
    }

    function buildCase(
        uint256 priceSeed,
        uint256 maxSeed,
        uint256 tagSeed,
        uint256 trustSeed,
        uint256 categorySeed,
        bool withDataset
    ) internal pure returns (Case memory c) {
        c.appPrice = bound(priceSeed % 1e12, 0, 100e9);
        c.dsPrice = bound((priceSeed >> 64) % 1e12, 0, 100e9);
        c.wpPrice = bound((priceSeed >> 128) % 1e12, 0, 100e9);
        // each maximum is at or above the price 3 times out of 4
        c.appMax = (maxSeed & 3) == 0 ? bound(maxSeed >> 8, 0, c.appPrice) : c.appPrice + ((maxSeed >> 8) % 5e9);
        c.dsMax = ((maxSeed >> 2) & 3) == 0 ? bound(maxSeed >> 80, 0, c.dsPrice) : c.dsPrice + ((maxSeed >> 80) % 5e9);
        c.wpMax = ((maxSeed >> 4) & 3) == 0 ? bound(maxSeed >> 160, 0, c.wpPrice) : c.wpPrice + ((maxSeed >> 160) % 5e9);
        c.aTag = spread(tagSeed);
        c.dTag = spread(tagSeed >> 4);
        c.rTag = spread(tagSeed >> 8);
        c.wTag = spread(tagSeed >> 12);
        // half of the time the pool offers at least what is asked
        if ((tagSeed >> 16) & 1 == 1) c.wTag |= c.aTag | c.dTag | c.rTag;
        c.rTrust = bound(trustSeed & 0xff, 0, 12);
        c.wTrust = bound((trustSeed >> 8) & 0xff, 0, 12);
        c.rCat = categorySeed % 6; // 5 does not exist
        c.wCat = (categorySeed >> 8) & 3 == 0 ? (categorySeed >> 16) % 6 : c.rCat;
        c.withDataset = withDataset;
    }

    function testFuzz_matchSucceedsIffRulesHold(
        uint256 priceSeed,
        uint256 maxSeed,
        uint256 tagSeed,
        uint256 trustSeed,
        uint256 categorySeed,
        uint256 volumeSeed,
        bool withDataset
    ) public {
        Case memory c = buildCase(priceSeed, maxSeed, tagSeed, trustSeed, categorySeed, withDataset);
        OrderSet memory s = withDataset ? datasetOrders() : defaultOrders();
        s.a.appprice = c.appPrice;
        s.a.tag = c.aTag;
        s.a.volume = bound(volumeSeed & 0xff, 1, 20);
        // without a dataset the (empty) dataset order's price and tag are still read
        s.d.datasetprice = c.dsPrice;
        s.d.tag = c.dTag;
        s.d.volume = bound((volumeSeed >> 8) & 0xff, 1, 20);
        s.w.workerpoolprice = c.wpPrice;
        s.w.tag = c.wTag;
        s.w.trust = c.wTrust;
        s.w.category = c.wCat;
        s.w.volume = bound((volumeSeed >> 16) & 0xff, 1, 20);
        s.r.appmaxprice = c.appMax;
        s.r.datasetmaxprice = c.dsMax;
        s.r.workerpoolmaxprice = c.wpMax;
        s.r.tag = c.rTag;
        s.r.trust = c.rTrust;
        s.r.category = c.rCat;
        s.r.volume = bound((volumeSeed >> 24) & 0xff, 1, 20);
        s = signAll(s);

        bytes memory failure = expectedFailure(c);
        (bool ok, bytes memory ret) = address(hub).call(abi.encodeCall(hub.matchOrders, (s.a, s.d, s.w, s.r)));
        assertEq(ok, failure.length == 0, "succeeds iff every rule holds");
        if (!ok) {
            assertEq(ret, failure, "the first broken rule is reported");
            assertBal(requester, INITIAL_DEPOSIT, 0, "nothing locked");
            return;
        }
        bytes32 dealid = abi.decode(ret, (bytes32));
        uint256 volume = s.r.volume;
        if (s.a.volume < volume) volume = s.a.volume;
        if (s.w.volume < volume) volume = s.w.volume;
        if (withDataset && s.d.volume < volume) volume = s.d.volume;
        uint256 dsPrice = withDataset ? c.dsPrice : 0;
        uint256 locked = (c.appPrice + dsPrice + c.wpPrice) * volume;
        assertBal(requester, INITIAL_DEPOSIT - locked, locked, "requester lock = (sum of prices) x volume");
        uint256 stake = (c.wpPrice * 30 / 100) * volume;
        assertBal(scheduler, INITIAL_DEPOSIT - stake, stake, "scheduler lock = floor(price x 30%) x volume");
        Core.Deal memory d = hub.viewDeal(dealid);
        assertEq(d.botSize, volume, "volume = min of the remaining volumes");
        assertEq(d.tag, c.aTag | c.dTag | c.rTag, "tag");
        assertEq(d.trust, c.rTrust == 0 ? 1 : c.rTrust, "trust");
        assertEq(d.dataset.price, dsPrice, "dataset price only with a dataset");
    }

    /// Valid matches only: partial volumes across two matches, sponsor or requester, policy.
    function testFuzz_lockedAmountsAndVolumes(
        uint256 appPrice,
        uint256 dsPrice,
        uint256 wpPrice,
        uint256 volumes,
        uint256 policy,
        bool sponsored
    ) public {
        appPrice = bound(appPrice, 0, 1000e9);
        dsPrice = bound(dsPrice, 0, 1000e9);
        wpPrice = bound(wpPrice, 0, 1000e9);
        uint256 stakeRatio = bound(policy & 0xffff, 0, 500);
        uint256 schedulerRatio = bound((policy >> 16) & 0xff, 0, 100);
        vm.prank(scheduler);
        Workerpool(workerpool).changePolicy(stakeRatio, schedulerRatio);

        OrderSet memory s = datasetOrders();
        s.a.appprice = appPrice;
        s.d.datasetprice = dsPrice;
        s.w.workerpoolprice = wpPrice;
        s.r.appmaxprice = appPrice;
        s.r.datasetmaxprice = dsPrice;
        s.r.workerpoolmaxprice = wpPrice;
        s.a.volume = bound(volumes & 0xff, 1, 40);
        s.d.volume = bound((volumes >> 8) & 0xff, 1, 40);
        s.w.volume = bound((volumes >> 16) & 0xff, 1, 40);
        s.r.volume = bound((volumes >> 24) & 0xff, 1, 40);
        s = signAll(s);
        address payer = sponsored ? sponsor : requester;

        uint256 v1 = min4(s.a.volume, s.d.volume, s.w.volume, s.r.volume);
        assertEq(hub.computeDealVolume(s.a, s.d, s.w, s.r), v1, "computeDealVolume");
        vm.prank(payer);
        bytes32 dealid = sponsored ? hub.sponsorMatchOrders(s.a, s.d, s.w, s.r) : hub.matchOrders(s.a, s.d, s.w, s.r);
        uint256 taskPrice = appPrice + dsPrice + wpPrice;
        assertBal(payer, INITIAL_DEPOSIT - taskPrice * v1, taskPrice * v1, "payer lock");
        assertBal(scheduler, INITIAL_DEPOSIT - wpPrice * 30 / 100 * v1, wpPrice * 30 / 100 * v1, "stake lock");
        Core.Deal memory d = hub.viewDeal(dealid);
        assertEq(d.workerStake, wpPrice * stakeRatio / 100, "worker stake from the policy");
        assertEq(d.schedulerRewardRatio, schedulerRatio, "scheduler ratio");
        assertEq(d.sponsor, payer, "sponsor");
        assertEq(hub.viewConsumed(hashOf(s.r)), v1, "request consumed");
        assertEq(hub.viewConsumed(hashOf(s.d)), v1, "dataset consumed");

        // refill whichever orders are exhausted except the request, and match the rest
        uint256 rLeft = s.r.volume - v1;
        if (rLeft == 0) return;
        s.a.salt = keccak256("a2");
        s.d.salt = keccak256("d2");
        s.w.salt = keccak256("w2");
        s = signAll(s);
        uint256 v2 = min4(s.a.volume, s.d.volume, s.w.volume, rLeft);
        vm.prank(payer);
        bytes32 second = sponsored ? hub.sponsorMatchOrders(s.a, s.d, s.w, s.r) : hub.matchOrders(s.a, s.d, s.w, s.r);
        assertEq(second, keccak256(abi.encodePacked(hashOf(s.r), v1)), "second deal id");
        assertEq(hub.viewDeal(second).botFirst, v1, "second botFirst");
        assertEq(hub.viewDeal(second).botSize, v2, "second botSize");
        assertBal(payer, INITIAL_DEPOSIT - taskPrice * (v1 + v2), taskPrice * (v1 + v2), "payer lock total");
    }

    function min4(uint256 a, uint256 b, uint256 c, uint256 d) internal pure returns (uint256 m) {
        m = a;
        if (b < m) m = b;
        if (c < m) m = c;
        if (d < m) m = d;
    }

    // ------------------------------------------------------------------ consensus maths

    struct Sim {
        address[4] w;
        uint256[4] score;
        bool[4] bad;
        bool[4] voted;
        uint256[4] logw;
        uint256 groupGood;
        uint256 groupBad;
        uint256 total;
        bool done;
        bool consensusBad;
        uint256 contributors;
        uint256 price;
        uint256 stake;
        uint256 ratio;
        uint256 trust;
    }

    /// Four workers with random scores vote in order, each good or bad; the reference decides
    /// after each vote whether consensus is reached and what every weight is; then the task is
    /// finalized (or claimed) and every payout and score is compared to the reference.
    function testFuzz_consensusAndRewards(
        uint256[4] memory scores,
        uint8 badMask,
        uint256 trust,
        uint256 price,
        uint256 policy
    ) public {
        Sim memory m;
        m.w = [workers[0], workers[1], workers[2], extraWorker(0)];
        m.trust = bound(trust, 1, 40);
        m.price = bound(price, 0, 100e9);
        uint256 stakeRatio = bound(policy & 0xff, 0, 100);
        m.ratio = bound((policy >> 8) & 0xff, 0, 100);
        m.stake = m.price * stakeRatio / 100;
        vm.prank(scheduler);
        Workerpool(workerpool).changePolicy(stakeRatio, m.ratio);
        for (uint256 i = 0; i < 4; ++i) {
            m.score[i] = bound(scores[i], 0, 400);
            m.bad[i] = (badMask >> i) & 1 == 1;
            setScore(m.w[i], m.score[i]);
        }

        uint256 schedulerFree = hub.balanceOf(scheduler);
        OrderSet memory s = defaultOrders();
        s.w.workerpoolprice = m.price;
        s.r.workerpoolmaxprice = m.price;
        s.r.trust = m.trust;
        bytes32 dealid = matchSet(s);
        bytes32 t = hub.initialize(dealid, 0);

        m.total = 1;
        for (uint256 i = 0; i < 4; ++i) {
            bytes32 dg = m.bad[i] ? BAD_RESULT : GOOD;
            if (m.done) {
                bytes memory auth = authorization(m.w[i], t, address(0));
                bytes32 rh = resultHash(t, dg);
                bytes32 seal = resultSeal(m.w[i], t, dg);
                vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TaskNotActive.selector, t, uint8(2)));
                vm.prank(m.w[i]);
                hub.contribute(t, rh, seal, address(0), "", auth);
                continue;
            }
            uint256 w = Reference.weight(m.score[i]);
            m.logw[i] = Reference.log2(w);
            uint256 group;
            if (m.bad[i]) {
                (m.groupBad, m.total) = Reference.vote(m.groupBad, m.total, w);
                group = m.groupBad;
            } else {
                (m.groupGood, m.total) = Reference.vote(m.groupGood, m.total, w);
                group = m.groupGood;
            }
            contributeFrom(m.w[i], t, dg);
            m.voted[i] = true;
            m.contributors += 1;
            assertEq(hub.viewContribution(t, m.w[i]).weight, m.logw[i], "weight = floor(log2(w))");
            if (Reference.consensus(group, m.total, m.trust)) {
                m.done = true;
                m.consensusBad = m.bad[i];
            }
            assertEq(status(t), m.done ? 2 : 1, "consensus as the reference says");
        }

        if (!m.done) {
            vm.warp(block.timestamp + 10 * XS);
            hub.claim(t);
            for (uint256 i = 0; i < 4; ++i) {
                assertBal(m.w[i], INITIAL_DEPOSIT, 0, "claim returns every stake");
                assertEq(hub.viewScore(m.w[i]), m.score[i], "claim changes no score");
            }
            assertBal(scheduler, schedulerFree - m.price * 30 / 100, 0, "pool stake to the kitty");
            return;
        }

        Core.Task memory task = hub.viewTask(t);
        assertEq(task.consensusValue, resultHash(t, m.consensusBad ? BAD_RESULT : GOOD), "consensus value");
        uint256 winners;
        uint256 totalWeight;
        for (uint256 i = 0; i < 4; ++i) {
            if (m.voted[i] && m.bad[i] == m.consensusBad) {
                winners += 1;
                totalWeight += m.logw[i];
                revealFrom(m.w[i], t, m.bad[i] ? BAD_RESULT : GOOD);
            }
        }
        assertEq(task.winnerCounter, winners, "winnerCounter");
        finalizeAsScheduler(t, "ipfs://fuzz", "");

        uint256 totalReward = m.price + m.stake * (m.contributors - winners);
        uint256 workersReward = totalReward * (100 - m.ratio) / 100;
        uint256 paid;
        for (uint256 i = 0; i < 4; ++i) {
            if (!m.voted[i]) {
                assertBal(m.w[i], INITIAL_DEPOSIT, 0, "late worker untouched");
                assertEq(hub.viewScore(m.w[i]), m.score[i], "late worker score");
            } else if (m.bad[i] == m.consensusBad) {
                uint256 share = Reference.share(workersReward, m.logw[i], totalWeight);
                paid += share;
                assertBal(m.w[i], INITIAL_DEPOSIT + share, 0, "winner share by log-weight");
                assertEq(
                    hub.viewScore(m.w[i]), m.score[i] + (m.contributors > 1 ? 1 : 0), "winner score +1 if replicated"
                );
            } else {
                assertBal(m.w[i], INITIAL_DEPOSIT - m.stake, 0, "loser stake seized");
                assertEq(hub.viewScore(m.w[i]), m.score[i] * 2 / 3, "loser score x 2/3");
            }
        }
        assertBal(scheduler, schedulerFree + totalReward - paid, 0, "scheduler gets the rest");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");
    }

    /// The weight formula on its own, for any score, against what the hub records.
    function testFuzz_weightOfScore(uint256 score) public {
        score = bound(score, 0, 100_000);
        setScore(workers[0], score);
        bytes32 t = hub.initialize(classicDeal(100, 1, "weight"), 0);
        contributeFrom(workers[0], t, GOOD);
        uint256 w = Reference.weight(score);
        assertEq(hub.viewContribution(t, workers[0]).weight, Reference.log2(w), "log2 weight");
        // with trust 100 a single vote wins iff w / (w + 1) > 99 / 100, i.e. w >= 100
        assertEq(status(t), w >= 100 ? 2 : 1, "single-vote consensus iff w > trust - 1");
    }
}
