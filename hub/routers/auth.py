"""Login and the caller's identity."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from hub.auth import AuthError
from hub.deps import CallerDep, HubDep
from hub.schemas import LoginRequest, MeResponse, TokenResponse

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login")
async def login(body: LoginRequest, hub: HubDep) -> TokenResponse:
    """Exchange a username and password for a signed, expiring bearer token."""
    try:
        token = await hub.auth.login(body.username, body.password)
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
