// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./Vm.sol";
import {PocoDeployment} from "../../src/PocoDeployment.sol";
import {IPoco} from "../../src/interfaces/IPoco.sol";
import {IPocoEvents} from "../../src/interfaces/IPocoEvents.sol";
import {IexecLibOrders_v5 as Orders} from "../../src/libs/IexecLibOrders_v5.sol";
import {RLC} from "../../src/token/RLC.sol";
import {App, AppRegistry} from "../../src/registries/App.sol";
import {Dataset, DatasetRegistry} from "../../src/registries/Dataset.sol";
import {Workerpool, WorkerpoolRegistry} from "../../src/registries/Workerpool.sol";

/// @notice A deployed poco instance with funded actors, registered assets and order helpers.
abstract contract Fixture is Test {
    using Orders for Orders.AppOrder;

    PocoDeployment.Deployed internal poco;
    IPoco internal hub;
    RLC internal rlc;

    // actors (private keys are fixed so that signatures are reproducible)
    uint256 internal constant APP_OWNER_KEY = 0xA11CE;
    uint256 internal constant DATASET_OWNER_KEY = 0xDA7A;
    uint256 internal constant SCHEDULER_KEY = 0x5C4ED;
    uint256 internal constant REQUESTER_KEY = 0x4E0;
    uint256 internal constant SPONSOR_KEY = 0x5B0;
    uint256 internal constant ENCLAVE_KEY = 0xE4C1;
    uint256[3] internal WORKER_KEYS = [uint256(0x3001), 0x3002, 0x3003];

    address internal appOwner;
    address internal datasetOwner;
    address internal scheduler;
    address internal requester;
    address internal sponsor;
    address internal enclave;
    address[3] internal workers;

    address internal app;
    address internal dataset;
    address internal workerpool;

    uint256 internal constant INITIAL_DEPOSIT = 1_000_000 * 1e9; // 1M RLC
    uint256 internal constant APP_PRICE = 2e9;
    uint256 internal constant DATASET_PRICE = 1e9;
    uint256 internal constant WORKERPOOL_PRICE = 10e9;
    string internal constant PARAMS = '{"iexec_args":"hello"}';

    function setUp() public virtual {
        poco = PocoDeployment.deploy(address(0));
        hub = poco.hub;
        rlc = poco.token;
        appOwner = vm.addr(APP_OWNER_KEY);
        datasetOwner = vm.addr(DATASET_OWNER_KEY);
        scheduler = vm.addr(SCHEDULER_KEY);
        requester = vm.addr(REQUESTER_KEY);
        sponsor = vm.addr(SPONSOR_KEY);
        enclave = vm.addr(ENCLAVE_KEY);
        for (uint256 i = 0; i < 3; ++i) {
            workers[i] = vm.addr(WORKER_KEYS[i]);
        }
        address[8] memory funded =
            [appOwner, datasetOwner, scheduler, requester, sponsor, workers[0], workers[1], workers[2]];
        for (uint256 i = 0; i < funded.length; ++i) {
            fund(funded[i], INITIAL_DEPOSIT);
        }
        app = address(
            poco.appRegistry.createApp(appOwner, "hello", "WASM", bytes("file:///hello.wasm"), keccak256("wasm"), "")
        );
        dataset = address(
            poco.datasetRegistry.createDataset(datasetOwner, "words", bytes("file:///words.txt"), keccak256("data"))
        );
        workerpool = address(poco.workerpoolRegistry.createWorkerpool(scheduler, "pool"));
    }

    /// Gives `account` RLC and deposits it in the hub.
    function fund(address account, uint256 amount) internal {
        rlc.transfer(account, amount);
        vm.startPrank(account);
        rlc.approve(address(hub), amount);
        hub.deposit(amount);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ orders

    function appOrder() internal view returns (Orders.AppOrder memory o) {
        o.app = app;
        o.appprice = APP_PRICE;
        o.volume = 1000;
        o.salt = keccak256("app salt");
    }

    function datasetOrder() internal view returns (Orders.DatasetOrder memory o) {
        o.dataset = dataset;
        o.datasetprice = DATASET_PRICE;
        o.volume = 1000;
        o.salt = keccak256("dataset salt");
    }

    function noDatasetOrder() internal pure returns (Orders.DatasetOrder memory o) {}

    function workerpoolOrder() internal view returns (Orders.WorkerpoolOrder memory o) {
        o.workerpool = workerpool;
        o.workerpoolprice = WORKERPOOL_PRICE;
        o.volume = 1000;
        o.category = 0;
        o.trust = 100;
        o.salt = keccak256("workerpool salt");
    }

    function requestOrder() internal view returns (Orders.RequestOrder memory o) {
        o.app = app;
        o.appmaxprice = APP_PRICE;
        o.dataset = address(0);
        o.datasetmaxprice = 0;
        o.workerpool = address(0);
        o.workerpoolmaxprice = WORKERPOOL_PRICE;
        o.requester = requester;
        o.volume = 1;
        o.category = 0;
        o.trust = 1;
        o.beneficiary = requester;
        o.params = PARAMS;
        o.salt = keccak256("request salt");
    }

    function digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", hub.eip712domain_separator(), structHash));
    }

    function hashOf(Orders.AppOrder memory o) internal view returns (bytes32) {
        return digest(
            keccak256(
                abi.encode(
                    Orders.APPORDER_TYPEHASH,
                    o.app,
                    o.appprice,
                    o.volume,
                    o.tag,
                    o.datasetrestrict,
                    o.workerpoolrestrict,
                    o.requesterrestrict,
                    o.salt
                )
            )
        );
    }

    function hashOf(Orders.DatasetOrder memory o) internal view returns (bytes32) {
        return digest(
            keccak256(
                abi.encode(
                    Orders.DATASETORDER_TYPEHASH,
                    o.dataset,
                    o.datasetprice,
                    o.volume,
                    o.tag,
                    o.apprestrict,
                    o.workerpoolrestrict,
                    o.requesterrestrict,
                    o.salt
                )
            )
        );
    }

    function hashOf(Orders.WorkerpoolOrder memory o) internal view returns (bytes32) {
        return digest(
            keccak256(
                abi.encode(
                    Orders.WORKERPOOLORDER_TYPEHASH,
                    o.workerpool,
                    o.workerpoolprice,
                    o.volume,
                    o.tag,
                    o.category,
                    o.trust,
                    o.apprestrict,
                    o.datasetrestrict,
                    o.requesterrestrict,
                    o.salt
                )
            )
        );
    }

    function hashOf(Orders.RequestOrder memory o) internal view returns (bytes32) {
        bytes memory head = abi.encode(
            Orders.REQUESTORDER_TYPEHASH,
            o.app,
            o.appmaxprice,
            o.dataset,
            o.datasetmaxprice,
            o.workerpool,
            o.workerpoolmaxprice,
            o.requester,
            o.volume
        );
        bytes memory tail =
            abi.encode(o.tag, o.category, o.trust, o.beneficiary, o.callback, keccak256(bytes(o.params)), o.salt);
        return digest(keccak256(abi.encodePacked(head, tail)));
    }

    function signHash(uint256 key, bytes32 h) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, h);
        return abi.encodePacked(r, s, v);
    }

    function signed(Orders.AppOrder memory o) internal view returns (Orders.AppOrder memory) {
        o.sign = signHash(APP_OWNER_KEY, hashOf(o));
        return o;
    }

    function signed(Orders.DatasetOrder memory o) internal view returns (Orders.DatasetOrder memory) {
        if (o.dataset != address(0)) o.sign = signHash(DATASET_OWNER_KEY, hashOf(o));
        return o;
    }

    function signed(Orders.WorkerpoolOrder memory o) internal view returns (Orders.WorkerpoolOrder memory) {
        o.sign = signHash(SCHEDULER_KEY, hashOf(o));
        return o;
    }

    function signed(Orders.RequestOrder memory o) internal view returns (Orders.RequestOrder memory) {
        o.sign = signHash(REQUESTER_KEY, hashOf(o));
        return o;
    }

    /// Signs all four and matches them on the classic path.
    function matchSigned(
        Orders.AppOrder memory a,
        Orders.DatasetOrder memory d,
        Orders.WorkerpoolOrder memory w,
        Orders.RequestOrder memory r
    ) internal returns (bytes32) {
        return hub.matchOrders(signed(a), signed(d), signed(w), signed(r));
    }

    // ------------------------------------------------------------------ worker helpers

    function ethSigned(bytes32 h) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", h));
    }

    function authorization(address worker, bytes32 taskid, address enclaveChallenge)
        internal
        pure
        returns (bytes memory)
    {
        return signHash(SCHEDULER_KEY, ethSigned(keccak256(abi.encodePacked(worker, taskid, enclaveChallenge))));
    }

    function resultHash(bytes32 taskid, bytes32 resultDigest) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(taskid, resultDigest));
    }

    function resultSeal(address worker, bytes32 taskid, bytes32 resultDigest) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(worker, taskid, resultDigest));
    }

    function taskId(bytes32 dealid, uint256 idx) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(dealid, idx));
    }

    /// `worker` contributes `resultDigest` to `taskid` with a scheduler authorization.
    function contributeAs(uint256 workerIndex, bytes32 taskid, bytes32 resultDigest) internal {
        address worker = workers[workerIndex];
        vm.prank(worker);
        hub.contribute(
            taskid,
            resultHash(taskid, resultDigest),
            resultSeal(worker, taskid, resultDigest),
            address(0),
            "",
            authorization(worker, taskid, address(0))
        );
    }

    /// The fast deal announced by the last SchedulerNoticeFast in the recorded logs.
    function fastDealFromLogs() internal returns (bytes32 dealid, IPocoEvents.FastDeal memory deal) {
        Vm_Log[] memory logs = _logs();
        bytes32 topic = IPocoEvents.SchedulerNoticeFast.selector;
        for (uint256 i = logs.length; i > 0; --i) {
            if (logs[i - 1].topics.length > 0 && logs[i - 1].topics[0] == topic) {
                dealid = logs[i - 1].topics[2];
                (,,,,, deal) =
                    abi.decode(logs[i - 1].data, (address, address, uint256, address, string, IPocoEvents.FastDeal));
                return (dealid, deal);
            }
        }
        fail("no SchedulerNoticeFast event recorded");
    }

    struct Vm_Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function _logs() private returns (Vm_Log[] memory out) {
        bytes memory raw = abi.encode(vm.getRecordedLogs());
        out = abi.decode(raw, (Vm_Log[]));
    }
}
