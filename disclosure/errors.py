"""Errors of disclosure."""

from __future__ import annotations


class DisclosureError(Exception):
    """Disclosure failed."""


class Refused(DisclosureError):
    """Refused: an order that fails verification, a request outside scope, a missing approval.

    The `ruaj` command exits 3 with this message, which says why, on stderr.
    """


class OperatorKeyError(DisclosureError):
    """The operator's Ed25519 key is missing, unreadable or not an Ed25519 key."""


class VerificationError(DisclosureError):
    """Something does not verify: a Merkle proof, a signature, a checkpoint or a receipt."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not verify."""


class BadSignature(VerificationError):
    """A signature does not verify with the operator's public key."""


class CheckpointError(VerificationError):
    """A checkpoint is malformed, not for this log, or not signed by the operator's key."""


class ReceiptError(VerificationError):
    """An audit receipt does not prove that its entry is in the signed log."""


class CheckpointRefused(Refused):
    """A checkpoint was not signed: the log now is not an extension of the last checkpoint.

    The message names the problem (entries removed, or a prefix that no longer matches).
    """


class NotConfigured(DisclosureError):
    """A setting this action needs is not set (the message names the variable)."""


class PackageRefused(Refused):
    """A disclosure package was refused: not for this key, altered, or not what it claims.

    The message names the layer that failed (decryption, archive, signature, a file's hash, the
    audit receipt); nothing from such a package is written out.
    """


class OrderRefused(Refused):
    """An order, or a step of its lifecycle, was refused; `reason` is the reason code.

    The message says why in words and ends with the code in brackets, as the audit log and the
    `ruaj` command's stderr show it.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{message} [{reason}]")
        self.reason = reason
        self.explanation = message


class InvalidTrustMaterial(OrderRefused):
    """A trust-anchor file or a CRL offered for an authority is unusable (the message says why)."""


class InvalidInput(DisclosureError):
    """An argument given to a disclosure action is not acceptable (the message says why)."""
