"""Actions: what a decision does. The responder turns decisions into incidents, alerts and outbox intents; the
outbox signs and sends each on-chain action exactly once; the chain module is the one place web3 lives."""
