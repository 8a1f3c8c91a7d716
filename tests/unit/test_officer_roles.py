"""Officers' role names and SCRAM-SHA-256 verifiers (store/officers.py), no database."""

from __future__ import annotations

import base64
import hmac

import pytest

from store import officers

# RFC 7677 §3: user "user", password "pencil", this salt and 4096 iterations; the client's
# proof and the server's signature over this AuthMessage.
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
NONCE = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
AUTH_MESSAGE = (
    f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={NONCE}"
).encode()
CLIENT_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_keys_reproduce_the_rfc_7677_exchange() -> None:
    client_key, stored_key, server_key = officers.scram_keys("pencil", SALT, 4096)
    client_signature = hmac.digest(stored_key, AUTH_MESSAGE, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
    assert base64.b64encode(proof).decode() == CLIENT_PROOF
    signature = hmac.digest(server_key, AUTH_MESSAGE, "sha256")
    assert base64.b64encode(signature).decode() == SERVER_SIGNATURE


def test_the_verifier_has_postgresqls_form() -> None:
    _, stored_key, server_key = officers.scram_keys("correct horse battery", SALT, 4096)
    verifier = officers.scram_verifier("correct horse battery", salt=SALT)
    b64 = base64.b64encode
    assert verifier == (
        f"SCRAM-SHA-256$4096:{b64(SALT).decode()}${b64(stored_key).decode()}:"
        f"{b64(server_key).decode()}"
    )
    assert officers.scram_verifier("correct horse battery") != officers.scram_verifier(
        "correct horse battery"
    ), "each verifier has a fresh salt"


@pytest.mark.parametrize("password", ["short", "x" * 11, "pässword-long-enough", "tab\tinside-it"])
def test_unacceptable_passwords_are_refused(password: str) -> None:
    with pytest.raises(ValueError, match="password must be"):
        officers.check_password(password)


@pytest.mark.parametrize("name", ["alice", "officer_2", "_x", "a" * 63])
def test_acceptable_names(name: str) -> None:
    assert officers.check_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Alice", "lower-case"),
        ("1alice", "not starting with a digit"),
        ("al ice", "lower-case"),
        ('a"; DROP ROLE x; --', "lower-case"),
        ("a" * 64, "1 to 63"),
        ("", "1 to 63"),
        ("pg_monitor2", "reserved"),
        ("ruaj_officer", "reserved"),
    ],
)
def test_unacceptable_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        officers.check_name(name)
