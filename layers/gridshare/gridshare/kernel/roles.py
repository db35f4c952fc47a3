"""Who is calling and from where: the roles, the verified caller, the client's address.

Kept out of gridshare.http so services and domain code can name a caller without importing the JWT
stack (PyJWT + cryptography cost ~60 ms of a cold start).
"""

from __future__ import annotations

from dataclasses import dataclass

# Highest privilege first: a user in several groups acts with the first one found here.
ROLE_ORDER = ("admin", "operator", "prosumer", "consumer", "investor", "viewer")


@dataclass(frozen=True)
class Caller:
    """Who is calling, as proved by a verified access token."""

    user_id: str
    sub: str
    role: str
    groups: tuple[str, ...]
    issued_at: int
    token_id: str
    expires_at: int | None = None  # the token's `exp` (epoch s), when known

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def as_context(self) -> dict[str, str]:
        """Flat string context, as an API Gateway authorizer must return it."""
        return {
            "userId": self.user_id,
            "sub": self.sub,
            "role": self.role,
            "groups": ",".join(self.groups),
            "iat": str(self.issued_at),
            "jti": self.token_id,
            **({"exp": str(self.expires_at)} if self.expires_at is not None else {}),
        }


def role_of(groups: list[str] | tuple[str, ...]) -> str:
    """The role of a user in these groups: the first of ROLE_ORDER found, else viewer."""
    for role in ROLE_ORDER:
        if role in groups:
            return role
    return "viewer"


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from (API Gateway's sourceIp and the User-Agent header)."""

    ip: str | None = None
    user_agent: str | None = None
