// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PocoTest} from "./utils/PocoTest.sol";
import {IPoco} from "../src/interfaces/IPoco.sol";
import {IPocoErrors} from "../src/interfaces/IPocoErrors.sol";
import {IPocoEvents} from "../src/interfaces/IPocoEvents.sol";
import {IexecLibOrders_v5 as Orders} from "../src/libs/IexecLibOrders_v5.sol";

/// @notice The contract findings of the security review, each played as the review describes
/// it: M2 (fast-path commitment), M3 (kitty drain), L1 (contributors per task), L3 (domain after
/// a chain fork), L11 (two-step ownership). Gas figures are printed with `-vv`; run with
/// `--isolate` for cold, per-transaction figures.
contract SecurityTest is PocoTest {
    event log_named_uint(string key, uint256 val);

    bytes32 internal constant DIGEST = keccak256("fast result");
    bytes32 internal constant GOOD = keccak256("good result");
    uint256 internal constant ATTACKER_KEY = 0xA77AC4;
    uint256 internal constant KITTY_FILL = 60e9; // 20 claimed fast tasks x 3 RLC of pool stake
    uint256 internal constant FAST_DEAL_WORDS = 16;

    address internal attacker;

    function setUp() public override {
        super.setUp();
        attacker = vm.addr(ATTACKER_KEY);
    }

    // ------------------------------------------------------------------ helpers

    function fastMatch(OrderSet memory s) internal returns (bytes32 dealid, IPocoEvents.FastDeal memory deal) {
        s = signAll(s);
        vm.recordLogs();
        hub.matchOrdersFast(s.a, s.d, s.w, s.r);
        (dealid, deal) = fastDealFromLogs();
    }

    /// Pushes task `idx` as `worker`, authorized by `key` (the pool owner's); returns the gas of
    /// the call with the hub's storage cold.
    function pushBy(address worker, uint256 key, IPocoEvents.FastDeal memory deal, bytes32 dealid, uint256 idx)
        internal
        returns (uint256 gasUsed)
    {
        bytes memory auth = authorizationBy(key, worker, taskId(dealid, idx), address(0));
        vm.cool(address(hub));
        vm.prank(worker);
        gasUsed = gasleft();
        hub.pushResultFast(deal, dealid, idx, DIGEST, bytes("ipfs://r"), "", address(0), "", auth);
        gasUsed -= gasleft();
    }

    /// The review's setup: an honest pool's 20 fast tasks time out and are claimed, which puts
    /// their pool stakes (3 RLC each) in the kitty.
    function fillKitty() internal {
        OrderSet memory s = defaultOrders();
        s.r.volume = 20;
        s.r.salt = keccak256("honest pool, 20 tasks");
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(s);
        vm.warp(deal.startTime + 10 * XS);
        for (uint256 i = 0; i < 20; ++i) {
            hub.claimFast(deal, dealid, i);
        }
        assertEq(hub.frozenOf(KITTY), KITTY_FILL, "kitty holds 60 RLC");
    }

    /// The attacker's own app and pool, and orders between them at `price` (workerpool price;
    /// the app is free), signed by the attacker.
    function selfDealOrders(uint256 price, uint256 volume, uint256 trust, bytes32 salt)
        internal
        returns (OrderSet memory s)
    {
        address aApp = address(
            poco.appRegistry.createApp(attacker, string.concat("drain-", vm.toString(salt)), "WASM", "", salt, "")
        );
        address aPool = address(
            poco.workerpoolRegistry.createWorkerpool(attacker, string.concat("drain pool ", vm.toString(salt)))
        );
        s.a.app = aApp;
        s.a.volume = volume;
        s.a.salt = salt;
        s.w.workerpool = aPool;
        s.w.workerpoolprice = price;
        s.w.volume = volume;
        s.w.trust = trust;
        s.w.salt = salt;
        s.r.app = aApp;
        s.r.workerpoolmaxprice = price;
        s.r.requester = attacker;
        s.r.volume = volume;
        s.r.trust = trust;
        s.r.beneficiary = attacker;
        s.r.salt = salt;
        s.a.sign = signHash(ATTACKER_KEY, hashOf(s.a));
        s.w.sign = signHash(ATTACKER_KEY, hashOf(s.w));
        s.r.sign = signHash(ATTACKER_KEY, hashOf(s.r));
    }

    /// Where the hub keeps `consumed[requestHash]` (field 14 of PocoStorage.Layout).
    function consumedSlot(bytes32 requestHash) internal pure returns (bytes32) {
        return keccak256(abi.encode(requestHash, uint256(POCO_STORAGE_SLOT) + 14));
    }

    /// `deal` with its `k`-th word (in the ABI encoding) changed in its lowest bit.
    function withWordFlipped(IPocoEvents.FastDeal memory deal, uint256 k)
        internal
        pure
        returns (IPocoEvents.FastDeal memory)
    {
        bytes memory enc = abi.encode(deal);
        assembly ("memory-safe") {
            let p := add(add(enc, 0x20), mul(k, 0x20))
            mstore(p, xor(mload(p), 1))
        }
        return abi.decode(enc, (IPocoEvents.FastDeal));
    }

    // ------------------------------------------------------------------ M2: fast-path commitment

    /// The seed is set by the hub from the match block (the parent's hash and prevrandao), not
    /// by anyone who signs or submits the orders, and the commitment covers it.
    ///
    /// Why this closes the birthday attack: the attack needs a pair (D1, D2) whose commitments
    /// collide, D1 being the deal it then matches. Every input of D1 but the seed is the
    /// attacker's choice and was known in advance, so a 2^64 collision search could run for as
    /// long as needed before matching. With the seed, D1's hash is unknown until the parent of
    /// the match block exists; the search would have to run between that block and the match
    /// (one block interval), which 2^64 keccak evaluations cannot. After the match the
    /// commitment is fixed, and a D2 that passes needs a second preimage of 127 bits.
    function test_m2_seedBoundToMatchBlock() public {
        vm.roll(5000);
        vm.setBlockhash(4999, keccak256("parent block"));
        vm.prevrandao(bytes32(uint256(0xC0FFEE)));
        OrderSet memory s = defaultOrders();
        s.r.volume = 2;
        uint256 snap = vm.snapshotState();

        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(s);
        assertEq(
            deal.seed,
            keccak256(abi.encodePacked(keccak256("parent block"), uint256(0xC0FFEE))),
            "seed = keccak(blockhash(n - 1), prevrandao)"
        );
        uint256 word = uint256(vm.load(address(hub), consumedSlot(deal.requestHash)));
        assertEq(
            (word >> 128) & ((1 << 127) - 1),
            uint256(keccak256(abi.encode(deal))) >> 129,
            "the inline commitment is the hash of the fields, seed included"
        );

        // The same orders at the same time, in a block with another parent: every field the
        // attacker controls is equal, the seed and the commitment are not.
        vm.revertToState(snap);
        vm.setBlockhash(4999, keccak256("another parent"));
        (bytes32 dealid2, IPocoEvents.FastDeal memory deal2) = fastMatch(s);
        assertEq(dealid2, dealid, "same deal id");
        assertNotEq(deal2.seed, deal.seed, "the parent hash changes the seed");
        IPocoEvents.FastDeal memory same = deal2;
        same.seed = deal.seed;
        assertEq(keccak256(abi.encode(same)), keccak256(abi.encode(deal)), "nothing else differs");
        // ... so the commitment precomputed with the first seed does not settle this deal
        bytes memory mismatch = abi.encodeWithSelector(IPocoErrors.FastDealMismatch.selector, dealid);
        bytes memory auth = authorization(workers[0], taskId(dealid, 0), address(0));
        vm.expectRevert(mismatch);
        vm.prank(workers[0]);
        hub.pushResultFast(deal, dealid, 0, DIGEST, "", "", address(0), "", auth);

        // and prevrandao alone changes it too
        vm.revertToState(snap);
        vm.prevrandao(bytes32(uint256(0xC0FFEF)));
        (, IPocoEvents.FastDeal memory deal3) = fastMatch(s);
        assertNotEq(deal3.seed, deal.seed, "prevrandao changes the seed");
        pushBy(workers[0], SCHEDULER_KEY, deal3, dealid, 0);
        assertEq(hub.viewTaskFast(deal3, dealid, 0), 3, "the deal as matched settles");
    }

    /// Every field of a fast deal, the seed included, is bound: a deal differing in any one of
    /// them is refused by push, claim and view, for an inline commitment (the request's word)
    /// and for a deal in its own word; no balance moves.
    function test_m2_forgedDealFieldsRefused() public {
        OrderSet memory s = defaultOrders();
        s.r.volume = 2;
        (bytes32 inlineId, IPocoEvents.FastDeal memory inlineDeal) = fastMatch(s);
        s.r.volume = 200;
        s.r.salt = keccak256("own word");
        (bytes32 wordId, IPocoEvents.FastDeal memory wordDeal) = fastMatch(s);

        bytes32[2] memory ids = [inlineId, wordId];
        IPocoEvents.FastDeal[2] memory deals = [inlineDeal, wordDeal];
        uint256 requesterFrozen = hub.frozenOf(requester);
        for (uint256 j = 0; j < 2; ++j) {
            // the seed: a precomputed D1 with another seed is refused with the mismatch error
            IPocoEvents.FastDeal memory forged = withWordFlipped(deals[j], FAST_DEAL_WORDS - 1);
            assertNotEq(forged.seed, deals[j].seed, "seed flipped");
            bytes memory mismatch = abi.encodeWithSelector(IPocoErrors.FastDealMismatch.selector, ids[j]);
            bytes memory auth = authorization(workers[0], taskId(ids[j], 1), address(0));
            vm.expectRevert(mismatch);
            vm.prank(workers[0]);
            hub.pushResultFast(forged, ids[j], 1, DIGEST, "", "", address(0), "", auth);
            vm.warp(deals[j].startTime + 10 * XS);
            vm.expectRevert(mismatch);
            hub.claimFast(forged, ids[j], 1);
            vm.expectRevert(mismatch);
            hub.viewTaskFast(forged, ids[j], 1);
            vm.warp(deals[j].startTime);

            // every other field
            for (uint256 k = 0; k < FAST_DEAL_WORDS; ++k) {
                forged = withWordFlipped(deals[j], k);
                (bool ok, bytes memory ret) = address(hub)
                    .call(
                        abi.encodeCall(IPoco.pushResultFast, (forged, ids[j], 1, DIGEST, "", "", address(0), "", auth))
                    );
                assertTrue(!ok, string.concat("a deal with word ", vm.toString(k), " changed is refused"));
                bytes4 reason = bytes4(ret);
                assertTrue(
                    reason == IPocoErrors.FastDealMismatch.selector || reason == IPocoErrors.UnknownFastDeal.selector,
                    "refused as not the committed deal"
                );
            }
        }
        assertEq(hub.frozenOf(requester), requesterFrozen, "nothing paid");
        pushBy(workers[0], SCHEDULER_KEY, inlineDeal, inlineId, 1);
        pushBy(workers[0], SCHEDULER_KEY, wordDeal, wordId, 1);
        assertEq(hub.frozenOf(requester), requesterFrozen - 2 * (APP_PRICE + WORKERPOOL_PRICE), "true deals settle");
    }

    // ------------------------------------------------------------------ M3: the kitty

    /// The review's proof of concept (test_sec_kittyDrainedByZeroPriceSelfDealing): with the
    /// kitty at 60 RLC, an attacker with an empty account deals with itself at price 0 (its app,
    /// its pool, its request, volume 96) and pushes every task as its own worker. Before the fix
    /// 28 pushes took the whole kitty; now a zero-price task earns no kitty share.
    function test_m3_sec_kittyDrainedByZeroPriceSelfDealing() public {
        fillKitty();
        assertBal(attacker, 0, 0, "attacker starts empty");
        OrderSet memory s = selfDealOrders(0, 96, 1, keccak256("drain"));
        vm.recordLogs();
        vm.prank(attacker);
        hub.matchOrdersFast(s.a, s.d, s.w, s.r);
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastDealFromLogs();
        for (uint256 i = 0; i < 96; ++i) {
            pushBy(attacker, ATTACKER_KEY, deal, dealid, i);
        }
        assertEq(hub.viewTaskFast(deal, dealid, 95), 3, "all 96 tasks pushed");
        assertEq(hub.frozenOf(KITTY), KITTY_FILL, "kitty not drained");
        assertBal(attacker, 0, 0, "attacker gained nothing");

        // the classic path follows the same rule (trust 1, contributeAndFinalize)
        OrderSet memory c = selfDealOrders(0, 1, 1, keccak256("drain, classic"));
        vm.prank(attacker);
        bytes32 classic = hub.matchOrders(c.a, c.d, c.w, c.r);
        bytes32 t = hub.initialize(classic, 0);
        bytes memory auth = authorizationBy(ATTACKER_KEY, attacker, t, address(0));
        vm.prank(attacker);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", auth);
        assertEq(status(t), 3, "classic task completed");
        assertEq(hub.frozenOf(KITTY), KITTY_FILL, "kitty not drained by the classic path either");
        assertBal(attacker, 0, 0, "attacker still empty");
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");
    }

    /// With a small nonzero price the share is bounded by the task's own pool stake (30 % of the
    /// workerpool price), the same on the fast and the classic path: draining the kitty then
    /// takes stakes locked in proportion to what is taken.
    function test_m3_smallPriceShareBoundedByTaskStake() public {
        fillKitty();
        uint256 price = 1e9; // 1 RLC: pool stake 0.3 RLC, while 10 % of the kitty is 6 RLC
        uint256 stake = price * 30 / 100;
        fund(attacker, price + stake);

        OrderSet memory s = selfDealOrders(price, 1, 1, keccak256("small, fast"));
        vm.recordLogs();
        vm.prank(attacker);
        hub.matchOrdersFast(s.a, s.d, s.w, s.r);
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastDealFromLogs();
        pushBy(attacker, ATTACKER_KEY, deal, dealid, 0);
        assertEq(hub.frozenOf(KITTY), KITTY_FILL - stake, "fast: the share is the task's stake");
        assertBal(attacker, price + stake + stake, 0, "fast: the attacker gains its stake, not 10 % of the kitty");

        OrderSet memory c = selfDealOrders(price, 1, 1, keccak256("small, classic"));
        vm.prank(attacker);
        bytes32 classic = hub.matchOrders(c.a, c.d, c.w, c.r);
        bytes32 t = hub.initialize(classic, 0);
        bytes memory auth = authorizationBy(ATTACKER_KEY, attacker, t, address(0));
        vm.prank(attacker);
        hub.contributeAndFinalize(t, GOOD, "", "", address(0), "", auth);
        assertEq(hub.frozenOf(KITTY), KITTY_FILL - 2 * stake, "classic: the same share");
        assertBal(attacker, price + 3 * stake, 0, "classic: the same gain");

        // an honest 10 RLC task: 10 % of the kitty (5.94 RLC) is capped at its 3 RLC stake
        uint256 kitty = hub.frozenOf(KITTY);
        (bytes32 honest, IPocoEvents.FastDeal memory hd) = fastMatch(defaultOrders());
        uint256 before = hub.balanceOf(scheduler);
        pushBy(workers[0], SCHEDULER_KEY, hd, honest, 0);
        assertEq(hub.frozenOf(KITTY), kitty - POOL_STAKE, "share capped at the pool stake");
        assertEq(
            hub.balanceOf(scheduler),
            before + POOL_STAKE + (WORKERPOOL_PRICE - WORKERPOOL_PRICE * 99 / 100) + POOL_STAKE,
            "scheduler: stake back, its part, the kitty share"
        );
        assertEq(rlc.balanceOf(address(hub)), hub.totalSupply(), "backing");
    }

    /// Gas of a success settle with a nonempty kitty (printed; compare before/after the fix).
    function test_m3_successSettleGas() public {
        fillKitty();
        (bytes32 dealid, IPocoEvents.FastDeal memory deal) = fastMatch(defaultOrders());
        emit log_named_uint("pushResultFast, kitty 60 RLC", pushBy(workers[0], SCHEDULER_KEY, deal, dealid, 0));
        bytes32 t = hub.initialize(classicDeal(1, 1, keccak256("solo")), 0);
        bytes memory auth = authorization(workers[0], t, address(0));
        vm.cool(address(hub));
        vm.prank(workers[0]);
        uint256 g = gasleft();
        hub.contributeAndFinalize(t, DIGEST, bytes("ipfs://result"), "", address(0), "", auth);
        g -= gasleft();
        emit log_named_uint("contributeAndFinalize, kitty 60 RLC", g);
    }

    // ------------------------------------------------------------------ L1: contributors per task

    /// A task of trust 100 that never reaches consensus, with `n` contributors (values spread
    /// over 32 results, two or three votes each, far from a consensus).
    function crowdedTask(uint256 n) internal returns (bytes32 t) {
        t = hub.initialize(classicDeal(100, 1, keccak256("crowd")), 0);
        for (uint256 i = 0; i < n; ++i) {
            contributeFrom(extraWorker(i), t, keccak256(abi.encode("value", i % 32)));
        }
    }

    /// A scheduler authorizes Sybil workers on one task: the 65th contribution is refused, so a
    /// claim (which visits every contributor) always fits in a block.
    function test_l1_sixtyFifthContributionRefused() public {
        bytes32 t = crowdedTask(64);
        assertEq(hub.viewTask(t).contributors.length, 64, "64 contributors");
        address w = extraWorker(64);
        uint256 free = hub.balanceOf(w);
        bytes memory auth = authorization(w, t, address(0));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.TooManyContributors.selector, t, 64));
        vm.prank(w);
        hub.contribute(t, resultHash(t, GOOD), resultSeal(w, t, GOOD), address(0), "", auth);
        assertEq(hub.balanceOf(w), free, "no stake locked");
        // initializeAndContribute goes through the same check (on a fresh task it is the first)
        assertEq(status(t), 1, "still active");
    }

    /// Claiming a task with the maximum of 64 contributors costs less than 1,000,000 gas (about
    /// 3 % of a 30 M block; measured with the hub's storage cold).
    function test_l1_claimWith64ContributorsBounded() public {
        bytes32 t = crowdedTask(64);
        vm.warp(block.timestamp + 10 * XS);
        vm.cool(address(hub));
        uint256 g = gasleft();
        hub.claim(t);
        g -= gasleft();
        emit log_named_uint("claim, 64 contributors", g);
        assertLt(g, 1_000_000, "claim of a full task");
        assertEq(status(t), 4, "claimed");
        assertBal(extraWorker(63), INITIAL_DEPOSIT, 0, "stakes returned");
    }

    // ------------------------------------------------------------------ L3: domain after a fork

    uint256[2] internal chainIds;

    function separatorFor(uint256 chainId) internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("iExecODB"),
                keccak256("5.0.0"),
                chainId,
                address(hub)
            )
        );
    }

    function typed(bytes32 separator, bytes32 structHash) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", separator, structHash));
    }

    /// The four orders signed by their owners for the domain of `chainId`.
    function signedFor(uint256 chainId, bytes32 salt) internal view returns (OrderSet memory s) {
        bytes32 sep = separatorFor(chainId);
        s = defaultOrders();
        s.a.salt = salt;
        s.w.salt = salt;
        s.r.salt = salt;
        s.a.sign = signHash(APP_OWNER_KEY, typed(sep, hasher.appStructHash(s.a)));
        s.w.sign = signHash(SCHEDULER_KEY, typed(sep, hasher.workerpoolStructHash(s.w)));
        s.r.sign = signHash(REQUESTER_KEY, typed(sep, hasher.requestStructHash(s.r)));
    }

    /// After a fork changes the chain id, orders signed for the original chain are refused at
    /// once (no one has to call updateDomainSeparator), by both matching paths and by order
    /// management; orders signed for the new chain id are accepted.
    function test_l3_domainFollowsChainIdChange() public {
        // kept in storage: the optimizer may otherwise re-read CHAINID where a local is used,
        // since it cannot change within a real transaction (it does here, under vm.chainId)
        chainIds = [block.chainid, block.chainid + 1];
        uint256 original = chainIds[0];
        uint256 forked = chainIds[1];
        OrderSet memory old = signedFor(original, keccak256("before the fork"));
        assertEq(hub.eip712domain_separator(), separatorFor(original), "separator of the original chain");

        vm.chainId(forked);
        assertEq(hub.eip712domain_separator(), separatorFor(forked), "separator follows the chain id");
        bytes memory refused = abi.encodeWithSelector(IPocoErrors.InvalidAppOrderSignature.selector, appOwner);
        vm.expectRevert(refused);
        hub.matchOrders(old.a, old.d, old.w, old.r);
        vm.expectRevert(refused);
        hub.matchOrdersFast(old.a, old.d, old.w, old.r);

        // order management (a module) checks against the new chain id too: a CLOSE signed by
        // the requester for the original chain cannot be relayed on the fork
        Orders.RequestOrderOperation memory op;
        op.order = old.r;
        op.operation = Orders.OrderOperationEnum.CLOSE;
        op.sign = signHash(REQUESTER_KEY, typed(separatorFor(original), hasher.requestOperationStructHash(op)));
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.InvalidSenderOrSignature.selector, stranger, requester));
        vm.prank(stranger);
        hub.manageRequestOrder(op);
        op.sign = signHash(REQUESTER_KEY, typed(separatorFor(forked), hasher.requestOperationStructHash(op)));
        vm.prank(stranger);
        hub.manageRequestOrder(op);

        OrderSet memory fresh = signedFor(forked, keccak256("after the fork"));
        bytes32 dealid = hub.matchOrders(fresh.a, fresh.d, fresh.w, fresh.r);
        assertEq(hub.viewDeal(dealid).requester, requester, "orders signed for the new chain id match");
        OrderSet memory fast = signedFor(forked, keccak256("after the fork, fast"));
        hub.matchOrdersFast(fast.a, fast.d, fast.w, fast.r);

        // and the other way round: on the original chain, orders signed for the fork are refused
        vm.chainId(original);
        OrderSet memory replay = signedFor(forked, keccak256("replayed"));
        vm.expectRevert(refused);
        hub.matchOrders(replay.a, replay.d, replay.w, replay.r);
    }

    // ------------------------------------------------------------------ L11: ownership

    /// A transfer to a wrong address no longer loses the hub: the owner stays in charge until
    /// the named address accepts; iExec's owner()/transferOwnership selectors are unchanged.
    function test_l11_twoStepOwnershipTransfer() public {
        address owner_ = address(this);
        address next = vm.addr(0x0E4);
        assertEq(bytes32(IPoco.owner.selector), bytes32(bytes4(keccak256("owner()"))), "owner() selector");
        assertEq(
            bytes32(IPoco.transferOwnership.selector),
            bytes32(bytes4(keccak256("transferOwnership(address)"))),
            "transferOwnership selector"
        );

        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotHubOwner.selector, stranger, owner_));
        vm.prank(stranger);
        hub.transferOwnership(stranger);

        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.OwnershipTransferStarted(owner_, next);
        hub.transferOwnership(next);
        assertEq(hub.owner(), owner_, "owner unchanged until accepted");
        assertEq(hub.pendingOwner(), next, "pending owner");
        hub.setCallbackGas(123); // the owner still administers
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotHubOwner.selector, next, owner_));
        vm.prank(next);
        hub.setCallbackGas(1);

        // nobody else can accept
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotPendingOwner.selector, stranger, next));
        vm.prank(stranger);
        hub.acceptOwnership();
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotPendingOwner.selector, owner_, next));
        hub.acceptOwnership();

        // a mistyped address is simply replaced, or the transfer cancelled with zero
        hub.transferOwnership(stranger);
        assertEq(hub.pendingOwner(), stranger, "pending owner replaced");
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.OwnershipTransferStarted(owner_, address(0));
        hub.transferOwnership(address(0));
        assertEq(hub.pendingOwner(), address(0), "cancelled");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotPendingOwner.selector, stranger, address(0)));
        vm.prank(stranger);
        hub.acceptOwnership();
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotPendingOwner.selector, address(0), address(0)));
        vm.prank(address(0));
        hub.acceptOwnership();
        assertEq(hub.owner(), owner_, "still the owner");

        hub.transferOwnership(next);
        vm.expectEmit(true, true, false, true, address(hub));
        emit IPocoEvents.OwnershipTransferred(owner_, next);
        vm.prank(next);
        hub.acceptOwnership();
        assertEq(hub.owner(), next, "accepted");
        assertEq(hub.pendingOwner(), address(0), "no pending owner left");
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotHubOwner.selector, owner_, next));
        hub.setCallbackGas(1);
        vm.expectRevert(abi.encodeWithSelector(IPocoErrors.NotPendingOwner.selector, next, address(0)));
        vm.prank(next);
        hub.acceptOwnership();
        vm.prank(next);
        hub.setCallbackGas(456);
        assertEq(hub.callbackgas(), 456, "the new owner administers");
    }
}
