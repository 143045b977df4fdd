// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./Fixture.sol";
import {OrderHasher} from "./Mocks.sol";
import {IexecLibOrders_v5 as Orders} from "../../src/libs/IexecLibOrders_v5.sol";
import {IexecLibCore_v5 as Core} from "../../src/libs/IexecLibCore_v5.sol";

/// @notice Shared helpers of the suites on top of the fixture: order sets, signature variants,
/// extra actors, balance snapshots.
abstract contract PocoTest is Fixture {
    address internal constant KITTY = 0x99c2268479b93fDe36232351229815DF80837e23;
    uint256 internal constant POOL_STAKE = WORKERPOOL_PRICE * 30 / 100; // 3 RLC
    uint256 internal constant WORKER_STAKE = WORKERPOOL_PRICE * 30 / 100; // default policy 30 %
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant XS = 300; // category 0 work clock time ref
    uint256 internal constant STRANGER_KEY = 0x57A4;

    OrderHasher internal hasher;
    address internal stranger;

    function setUp() public virtual override {
        super.setUp();
        hasher = new OrderHasher();
        stranger = vm.addr(STRANGER_KEY);
    }

    // ------------------------------------------------------------------ actors

    /// Extra workers beyond the fixture's three (funded on first use).
    function extraWorkerKey(uint256 i) internal pure returns (uint256) {
        return 0x3004 + i;
    }

    function extraWorker(uint256 i) internal returns (address w) {
        w = vm.addr(extraWorkerKey(i));
        if (hub.balanceOf(w) == 0 && hub.frozenOf(w) == 0) fund(w, INITIAL_DEPOSIT);
    }

    // ------------------------------------------------------------------ orders

    struct OrderSet {
        Orders.AppOrder a;
        Orders.DatasetOrder d;
        Orders.WorkerpoolOrder w;
        Orders.RequestOrder r;
    }

    function defaultOrders() internal view returns (OrderSet memory s) {
        s.a = appOrder();
        s.d = noDatasetOrder();
        s.w = workerpoolOrder();
        s.r = requestOrder();
    }

    function datasetOrders() internal view returns (OrderSet memory s) {
        s = defaultOrders();
        s.d = datasetOrder();
        s.r.dataset = dataset;
        s.r.datasetmaxprice = DATASET_PRICE;
    }

    function signAll(OrderSet memory s) internal view returns (OrderSet memory) {
        s.a = signed(s.a);
        s.d = signed(s.d);
        s.w = signed(s.w);
        s.r = signed(s.r);
        return s;
    }

    function matchSet(OrderSet memory s) internal returns (bytes32) {
        s = signAll(s);
        return hub.matchOrders(s.a, s.d, s.w, s.r);
    }

    /// A classic deal without dataset, with the given trust, volume and request salt.
    function classicDeal(uint256 trust, uint256 volume, bytes32 salt) internal returns (bytes32) {
        OrderSet memory s = defaultOrders();
        s.r.trust = trust;
        s.r.volume = volume;
        s.r.salt = salt;
        return matchSet(s);
    }

    function requestHashOf(OrderSet memory s) internal view returns (bytes32) {
        return hashOf(s.r);
    }

    // ------------------------------------------------------------------ signatures

    /// EIP-2098 compact signature: r || (s | (v - 27) << 255).
    function signCompact(uint256 key, bytes32 h) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, h);
        bytes32 vs = bytes32(uint256(s) | (uint256(v - 27) << 255));
        return abi.encodePacked(r, vs);
    }

    /// The malleable twin of a valid signature: (r, n - s, v ^ 1). ecrecover accepts it.
    function signMalleable(uint256 key, bytes32 h) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, h);
        return abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
    }

    function personalSign(uint256 key, bytes32 messageHash) internal pure returns (bytes memory) {
        return signHash(key, ethSigned(messageHash));
    }

    function authorizationBy(uint256 key, address worker, bytes32 taskid, address enclaveChallenge)
        internal
        pure
        returns (bytes memory)
    {
        return personalSign(key, keccak256(abi.encodePacked(worker, taskid, enclaveChallenge)));
    }

    // ------------------------------------------------------------------ workers

    function contributeFrom(address worker, bytes32 taskid, bytes32 resultDigest) internal {
        bytes memory auth = authorization(worker, taskid, address(0));
        vm.prank(worker);
        hub.contribute(
            taskid, resultHash(taskid, resultDigest), resultSeal(worker, taskid, resultDigest), address(0), "", auth
        );
    }

    function revealFrom(address worker, bytes32 taskid, bytes32 resultDigest) internal {
        vm.prank(worker);
        hub.reveal(taskid, resultDigest);
    }

    function finalizeAsScheduler(bytes32 taskid, bytes memory results, bytes memory resultsCallback) internal {
        vm.prank(scheduler);
        hub.finalize(taskid, results, resultsCallback);
    }

    function soloFinalize(address worker, bytes32 taskid, bytes32 resultDigest, bytes memory resultsCallback) internal {
        bytes memory auth = authorization(worker, taskid, address(0));
        vm.prank(worker);
        hub.contributeAndFinalize(taskid, resultDigest, bytes("ipfs://result"), resultsCallback, address(0), "", auth);
    }

    function status(bytes32 taskid) internal view returns (uint256) {
        return uint256(hub.viewTask(taskid).status);
    }

    function contributionStatus(bytes32 taskid, address worker) internal view returns (uint256) {
        return uint256(hub.viewContribution(taskid, worker).status);
    }

    // ------------------------------------------------------------------ white-box: scores

    /// Where a worker's score lives in the hub's storage: the field of the storage struct whose
    /// mapping slot (keyed by the worker) holds it, and the bit offset of its 64 bits in that
    /// word. Found by probing, so that the tests follow layout changes of the hub.
    uint256 internal scoreField = type(uint256).max;
    uint256 internal scoreShift;
    bytes32 internal constant POCO_STORAGE_SLOT = 0xa8395040508cec780b72b7eef305f639b1f200ca7cb05d81e256702f73e2c500;

    function scoreSlot(address worker, uint256 field) internal pure returns (bytes32) {
        return keccak256(abi.encode(worker, uint256(POCO_STORAGE_SLOT) + field));
    }

    function locateScore() internal {
        address probe = address(0x5C07E);
        uint256[8] memory shifts = [uint256(192), 0, 96, 128, 64, 32, 160, 224];
        for (uint256 f = 0; f < 48; ++f) {
            bytes32 slot = scoreSlot(probe, f);
            bytes32 old = vm.load(address(hub), slot);
            for (uint256 k = 0; k < 8; ++k) {
                uint256 mask = uint256(type(uint64).max) << shifts[k];
                vm.store(address(hub), slot, bytes32((uint256(old) & ~mask) | (uint256(12345) << shifts[k])));
                bool found = hub.viewScore(probe) == 12345 && hub.balanceOf(probe) == 0 && hub.frozenOf(probe) == 0;
                vm.store(address(hub), slot, old);
                if (found) {
                    scoreField = f;
                    scoreShift = shifts[k];
                    return;
                }
            }
        }
        fail("worker score not found in the hub's storage");
    }

    /// Sets a worker's score directly (for property tests over scores); checks that nothing
    /// else of the account moved.
    function setScore(address worker, uint256 score) internal {
        if (scoreField == type(uint256).max) locateScore();
        uint256 free = hub.balanceOf(worker);
        uint256 frozen = hub.frozenOf(worker);
        bytes32 slot = scoreSlot(worker, scoreField);
        uint256 mask = uint256(type(uint64).max) << scoreShift;
        uint256 old = uint256(vm.load(address(hub), slot));
        vm.store(address(hub), slot, bytes32((old & ~mask) | (score << scoreShift)));
        assertEq(hub.viewScore(worker), score, "score written");
        assertEq(hub.balanceOf(worker), free, "free balance untouched");
        assertEq(hub.frozenOf(worker), frozen, "frozen balance untouched");
    }

    // ------------------------------------------------------------------ balances

    struct Bal {
        uint256 free;
        uint256 frozen;
    }

    function bal(address a) internal view returns (Bal memory b) {
        b.free = hub.balanceOf(a);
        b.frozen = hub.frozenOf(a);
    }

    function assertBal(address a, uint256 free, uint256 frozen, string memory label) internal view {
        assertEq(hub.balanceOf(a), free, string.concat(label, " free"));
        assertEq(hub.frozenOf(a), frozen, string.concat(label, " frozen"));
    }

    function err(bytes4 selector) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(selector);
    }

    function taskStatusOf(Core.Task memory t) internal pure returns (uint256) {
        return uint256(t.status);
    }
}
