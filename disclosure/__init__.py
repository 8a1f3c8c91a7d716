"""Orders: intake, signature verification, policy, four-eyes approval, execution, packages;
the Merkle tree over the audit log, checkpoints and the verifier."""
