"""Officers: database login roles that are members of `ruaj_officer` (DESIGN §6).

The database's `session_user` is who acted, so each officer is a role of their own. Creating
one needs an administrator's login (a superuser, or CREATEROLE with ADMIN on ruaj_officer).
The role and its audit entry are created in one transaction.

A password, when given, is sent as a SCRAM-SHA-256 verifier computed here (as psql's
`\\password` does), never in clear: the server's statement log, if it logs DDL, sees no
secret. Without one the role can log in only by whatever else pg_hba.conf allows
(certificates, peer, GSSAPI).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from typing import LiteralString

from store import audit, db, errors

# Lower case, so the name is the same quoted or not, and within PostgreSQL's 63 bytes.
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_RESERVED_PREFIXES = ("pg_", "ruaj_")
_VERIFIER = re.compile(r"^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")
SCRAM_ITERATIONS = 4096
PASSWORD_MIN_LENGTH = 12

_EXISTS: LiteralString = "SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1)"
_OFFICERS: LiteralString = """
SELECT r.rolname AS name, r.rolcanlogin AS can_login
FROM pg_catalog.pg_roles r
WHERE pg_catalog.pg_has_role(r.oid, 'ruaj_officer', 'MEMBER') AND r.rolname <> 'ruaj_officer'
ORDER BY r.rolname
"""


def check_name(name: str) -> str:
    """`name` if it may name an officer's role; `ValueError` saying why not."""
    if not _NAME.match(name):
        raise ValueError(
            "an officer's name is 1 to 63 characters: lower-case letters, digits and _, "
            "not starting with a digit"
        )
    if name.startswith(_RESERVED_PREFIXES):
        raise ValueError(f"names starting with {' or '.join(_RESERVED_PREFIXES)} are reserved")
    return name


def check_password(password: str) -> str:
    """`password` if acceptable: printable ASCII (where SASLprep changes nothing), 12 or more."""
    if not all(" " <= ch <= "~" for ch in password):
        raise ValueError("the password must be printable ASCII")
    if not PASSWORD_MIN_LENGTH <= len(password) <= 1024:
        raise ValueError(f"the password must be {PASSWORD_MIN_LENGTH} to 1024 characters")
    return password


def scram_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes, bytes]:
    """(ClientKey, StoredKey, ServerKey) of RFC 5802 / RFC 7677 for an ASCII password."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return client_key, hashlib.sha256(client_key).digest(), server_key


def scram_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> str:
    """PostgreSQL's stored form of a password: `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`."""
    salt = os.urandom(16) if salt is None else salt
    _, stored_key, server_key = scram_keys(check_password(password), salt, iterations)
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}$"
        f"{b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


async def add(conn: db.Connection, name: str, *, password: str | None = None) -> None:
    """Create the login role `name` in ruaj_officer, audited, in one transaction.

    Raises `InvalidRequest` when the name is not acceptable or taken, `InsufficientPrivilege`
    when the connected role may not create roles.
    """
    try:
        check_name(name)
        verifier = None if password is None else scram_verifier(password)
    except ValueError as exc:
        raise errors.InvalidRequest(str(exc)) from None
    statement = f"CREATE ROLE {db.quote_ident(name)} LOGIN"
    if verifier is not None:
        # Base64 and `$:` only (checked), so the literal cannot hold a quote.
        if not _VERIFIER.match(verifier):
            raise errors.InvalidRequest("internal error: malformed SCRAM verifier")
        statement += f" PASSWORD '{verifier}'"
    statement += " IN ROLE ruaj_officer"
    async with db.translated(), conn.transaction():
        if await conn.fetchval(_EXISTS, name):
            raise errors.InvalidRequest(f"a database role named {name} exists already")
        await conn.execute(statement)
        await audit.append(
            conn, "officer.added", {"officer": name, "password": verifier is not None}
        )


async def list_officers(conn: db.Connection) -> list[tuple[str, bool]]:
    """(name, can log in) of every member of ruaj_officer, by name."""
    async with db.translated():
        rows = await conn.fetch(_OFFICERS)
    return [(row["name"], row["can_login"]) for row in rows]
