// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Reference formulas of protocol.md, written from the text (§2.4, §3.4, §3.8, §3.9),
/// independently of the hub's packed implementation.
library Reference {
    uint256 internal constant KITTY_MIN = 1e9;

    /// §3.4: w = max(score / 3, 3) - 1
    function weight(uint256 score) internal pure returns (uint256) {
        uint256 w = score / 3;
        if (w < 3) w = 3;
        return w - 1;
    }

    /// floor(log2(x)) for x >= 1
    function log2(uint256 x) internal pure returns (uint256 r) {
        while (x > 1) {
            x >>= 1;
            ++r;
        }
    }

    /// §3.4: delta = max(g, 1) * w - g; group += delta; total += delta (total starts at 1).
    function vote(uint256 group, uint256 total, uint256 w) internal pure returns (uint256, uint256) {
        uint256 delta = (group > 1 ? group : 1) * w - group;
        return (group + delta, total + delta);
    }

    /// §3.4: consensus when group * trust > total * (trust - 1)
    function consensus(uint256 group, uint256 total, uint256 trust) internal pure returns (bool) {
        return group * trust > total * (trust - 1);
    }

    /// §2.4: floor(price * 30 / 100), per task
    function poolStake(uint256 workerpoolPrice) internal pure returns (uint256) {
        return workerpoolPrice * 30 / 100;
    }

    /// §3.8 step 4: min(max(kitty * 10 / 100, 1 RLC), kitty), and (poco, not PoCo) at most the
    /// task's pool stake, so nothing for a zero-price task.
    function kittyShare(uint256 kitty, uint256 poolStake_) internal pure returns (uint256 amount) {
        if (kitty == 0) return 0;
        amount = kitty * 10 / 100;
        if (amount < KITTY_MIN) amount = KITTY_MIN;
        if (amount > kitty) amount = kitty;
        if (amount > poolStake_) amount = poolStake_;
    }

    /// §3.9: each proved worker gets mulDiv(workersReward, weight, totalWeight).
    function share(uint256 workersReward, uint256 w, uint256 totalWeight) internal pure returns (uint256) {
        return workersReward * w / totalWeight;
    }
}
