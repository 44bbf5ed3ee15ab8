"""What a signed-in client holds: an access token naming its session, and the session's
refresh token. Used by every flow that opens or renews a session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from falcon.asgi import Request, Response

from api.auth.access_tokens import AccessTokens
from api.auth.client_address import ClientAddresses
from api.auth.opaque_tokens import new_opaque_token
from api.http.responses import SignedIn, UserRef, organization_ref

MAX_USER_AGENT = 512


@dataclass(frozen=True)
class Assurance:
    """How a session's user proved who they are: aal 1 (a password) or 2 (and a second
    factor), and the methods (amr: pwd, otp, recovery_code)."""

    aal: int = 1
    amr: tuple[str, ...] = ("pwd",)


PASSWORD = Assurance()


def answer_with_secret(resp: Response, body: msgspec.Struct) -> None:
    """A response that carries a token: no cache along the way may keep a copy."""
    resp.media = body
    resp.cache_control = ["no-store"]


class SessionIssuer:
    def __init__(self, tokens: AccessTokens, refresh_ttl_seconds: int, addresses: ClientAddresses) -> None:
        self.tokens = tokens
        self.refresh_ttl_seconds = refresh_ttl_seconds
        self._addresses = addresses

    def new_session(self, req: Request) -> tuple[str, dict[str, Any]]:
        """A refresh token, and the parameters that every function opening a session takes
        for it (iam.register_user, iam.sign_in, iam.switch_organization, ...)."""
        refresh_token, refresh_token_hash = new_opaque_token()
        address = self._addresses.of(req)
        return refresh_token, {
            "refresh_token_hash": refresh_token_hash,
            "ttl_seconds": self.refresh_ttl_seconds,
            "user_agent": (req.user_agent or "")[:MAX_USER_AGENT] or None,
            "client_address": str(address) if address else None,
        }

    def answer(
        self, resp: Response, session: dict[str, Any], refresh_token: str, assurance: Assurance = PASSWORD
    ) -> None:
        """The sign-in answer for a row of a function that opened or renewed a session, at
        the session's assurance."""
        answer_with_secret(
            resp,
            SignedIn(
                user=UserRef(id=session["user_id"], email=session["email"]),
                organization=organization_ref(session["organization_id"], session["organization_name"]),
                role=session["role"],
                session_id=session["session_id"],
                access_token=self.tokens.issue(
                    session["user_id"],
                    session["organization_id"],
                    session["role"],
                    session["session_id"],
                    assurance.aal,
                    assurance.amr,
                ),
                token_type="Bearer",  # noqa: S106 (the scheme's name, not a secret)
                expires_in=self.tokens.ttl_seconds,
                refresh_token=refresh_token,
                refresh_token_expires_at=session["expires_at"],
                aal=assurance.aal,
                amr=list(assurance.amr),
            ),
        )
