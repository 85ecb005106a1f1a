// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ModelOracle
/// @notice A model that posts its outputs on-chain: each call emits what the model saw and said, so the
///         watchdog can read the predictions from the logs (watchdog.sources.chain). Features and the
///         prediction are fixed-point integers with `decimals` decimals; a label may follow later.
contract ModelOracle {
    /// @notice Decimals of the fixed-point numbers in the events.
    uint8 public immutable decimals;
    address public immutable poster;

    event Prediction(bytes32 indexed model, string version, bytes32 indexed id, int256[] features, int256 prediction);
    event Label(bytes32 indexed model, bytes32 indexed id, int256 label);

    error NotPoster(address caller);

    constructor(uint8 decimals_) {
        decimals = decimals_;
        poster = msg.sender;
    }

    function post(bytes32 model, string calldata version, bytes32 id, int256[] calldata features, int256 prediction)
        external
    {
        if (msg.sender != poster) revert NotPoster(msg.sender);
        emit Prediction(model, version, id, features, prediction);
    }

    function postLabel(bytes32 model, bytes32 id, int256 label) external {
        if (msg.sender != poster) revert NotPoster(msg.sender);
        emit Label(model, id, label);
    }
}
