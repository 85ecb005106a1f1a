"""Evidence anyone can recompute: the incident's hashed document, its Merkle tree, bundles and their check.

    merkle.py   a positional keccak-256 Merkle tree, proofs and their check (a public format)
    bundle.py   the evidence document, record and reference leaves, the incident id (public formats)
    verify.py   a bundle checked against the raw records, the policy and the monitor contract

It sits on the engine's floor: the responder (watchdog/actions) builds evidence with it; the on-chain check
is handed in by the command (watchdog/commands/evidence.py), so nothing here imports the chain client.
"""
