"""The engine: per-model state (reference, label join, detectors, pending batch), fed validated records and column
batches, evaluated by the policy's rules; its checkpoints and policy reloads act on that state through its methods."""
