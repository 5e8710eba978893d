"""Login and the caller's identity."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from hub.auth import AuthError, LoginRefused
from hub.deps import CallerDep, HubDep
from hub.schemas import LoginRequest, MeResponse, TokenResponse

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login")
async def login(body: LoginRequest, request: Request, hub: HubDep) -> TokenResponse:
    """Exchange a username and password for a signed, expiring bearer token.

    After a few wrong passwords for one user name (or many from one address), further tries are
    answered 429 with ``Retry-After`` for a time that doubles with each failure; 503 with
    ``Retry-After`` while too many logins are being checked at once.
    """
    address = request.client.host if request.client else "?"
    try:
        token = await hub.auth.login(body.username, body.password, address)
    except LoginRefused as exc:
        headers = {"Retry-After": hub.auth.throttle.retry_after(exc.retry_after_s)}
        raise HTTPException(exc.status, str(exc), headers=headers) from None
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return TokenResponse(access_token=token, expires_in=hub.settings.auth.token_ttl_s)


@router.post("/refresh")
async def refresh(hub: HubDep, who: CallerDep) -> TokenResponse:
    """Exchange a valid token for a new one with a full lifetime (an expired token gets 401).

    A page calls this before its token runs out; once it has run out, only a new login helps.
    """
    token = hub.auth.issue(who.username)
    return TokenResponse(access_token=token, expires_in=hub.settings.auth.token_ttl_s)


@router.get("/me")
async def me(who: CallerDep) -> MeResponse:
    """The logged-in user, their roles and grids."""
    return MeResponse(username=who.username, roles=sorted(who.roles), person=who.person, grids=sorted(who.grids))
