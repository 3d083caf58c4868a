"""Who is calling: the operator (the token in ``LEC_OPT_OPERATOR_TOKEN``) or a peer (its own token,
stored as its sha256); nobody else gets anything but 401 or 403."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from lec_opt.service.errors import Forbidden, Unauthorized

OPERATOR_TOKEN_ENV = "LEC_OPT_OPERATOR_TOKEN"
TOKEN = re.compile(r"^[A-Za-z0-9_\-.~+/]{16,256}=*$")  # RFC 6750's b64token, at least 16 characters


class Role(Enum):
    """A caller's role."""

    OPERATOR = "operator"
    PEER = "peer"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the operator, or peer number ``peer``."""

    role: Role
    peer: int | None = None

    @property
    def name(self) -> str:
        """How the audit log names the caller."""
        return "operator" if self.role is Role.OPERATOR else f"peer {self.peer}"


def token_hash(token: str) -> str:
    """The sha256 of a token, hex: what the database stores."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def check_operator_token(token: str | None) -> str:
    """The operator's token, or ValueError saying what it must be."""
    if not token or not TOKEN.match(token):
        raise ValueError(f"set {OPERATOR_TOKEN_ENV} to the operator's token: at least 16 letters, digits or -_.~+/")
    return token


def authenticate(header: str | None, operator_token: str, peer_of: Callable[[str], int | None]) -> Caller:
    """The caller an ``Authorization: Bearer <token>`` header names, or Unauthorized; ``peer_of`` finds
    the peer whose token has a sha256."""
    if not header:
        raise Unauthorized("this route needs a token: Authorization: Bearer <token>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not TOKEN.match(token):
        raise Unauthorized("malformed token: expected Authorization: Bearer <token>")
    if hmac.compare_digest(token.encode(), operator_token.encode()):
        return Caller(Role.OPERATOR)
    peer = peer_of(token_hash(token))
    if peer is None:
        raise Unauthorized("unknown token")
    return Caller(Role.PEER, peer)


def require(caller: Caller, role: Role) -> Caller:
    """The caller if it has ``role``, else Forbidden."""
    if caller.role is not role:
        raise Forbidden(f"this route is for the {role.value}'s token")
    return caller
