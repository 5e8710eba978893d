"""Login and the caller's identity."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from hub.access.auth import AuthError, LoginRefused
from hub.edge.deps import CallerDep, HubDep
from hub.schemas import LoginRequest, MeResponse, RevokedOut, TokenResponse

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
    The session itself ends ``auth.session_max_s`` after its login, however often it is refreshed
    (then 401).
    """
    try:
        token = hub.auth.refresh(who)
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return TokenResponse(access_token=token, expires_in=hub.settings.auth.token_ttl_s)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(hub: HubDep, who: CallerDep) -> Response:
    """End this session on every node: its tokens stop working, its live connections close and
    its calls end. Other sessions of the same user (another device) go on."""
    if who.session is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this token was not made by a login; it has no session to end")
    await hub.login_sessions.log_out(who.username, who.session, who.expires_at)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/users/{username}/revoke")
async def revoke(username: str, hub: HubDep, who: CallerDep) -> RevokedOut:
    """End every session ``username`` has now, on every node (admins): a lost phone, a person who
    left. Their tokens stop working at once, their connections close and their calls end; a new
    login works (remove their password from the config to keep them out)."""
    if username not in {u.username for u in hub.settings.users}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username!r}")
    ev = await hub.login_sessions.revoke(username, who.username)
    return RevokedOut(user=username, before=ev.data["before"])


@router.get("/me")
async def me(who: CallerDep) -> MeResponse:
    """The logged-in user, their roles and grids."""
    return MeResponse(username=who.username, roles=sorted(who.roles), person=who.person, grids=sorted(who.grids))
