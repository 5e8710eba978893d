"""The hub's own CA for phones: ``/ca.crt`` (the file) and ``/ca`` (how to trust it, zh and en).

Only a hub that made its own CA (``skyhub run --https``, see :mod:`hub.edge.tls`) has one to offer; a hub
serving a certificate from elsewhere answers 404 here. The page is plain server-rendered HTML with
no script at all, readable over plain HTTP before the phone trusts anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
from typing import Annotated, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Header, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response

from hub.edge.deps import HubDep
from hub.edge.tls import local_ca

router = APIRouter(tags=["tls"])

CA_CONTENT_TYPE = "application/x-x509-ca-cert"
"""What Android and iOS open as a CA certificate to install."""

PAGE_CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
"""The page runs no script and loads nothing but itself."""

TEXT = {
    "en": {
        "title": "Trust this hub on your phone",
        "intro": (
            "This hub made its own certificate authority so that phones on the district's network can "
            "use it over HTTPS (the camera, the microphone and the location need it). Install it once on "
            "each phone; after that the hub's pages open without warnings."
        ),
        "download": "Download the certificate",
        "check": "Before trusting it, check that its SHA-256 fingerprint is the one your administrator gives:",
        "android": "Android",
        "android_steps": [
            "Tap “Download the certificate” above.",
            "Open Settings → Security → More security settings → Encryption & credentials → "
            "Install a certificate → CA certificate (names differ a little between phones; search "
            "Settings for “CA certificate”).",
            "Choose the downloaded file “skyhub-ca.crt” and confirm.",
            "Open the hub's address with https:// in Chrome.",
        ],
        "ios": "iPhone and iPad",
        "ios_steps": [
            "Open this page in Safari and tap “Download the certificate”; allow the profile download.",
            "Open Settings → General → VPN & Device Management, tap the downloaded profile and install it.",
            "Open Settings → General → About → Certificate Trust Settings and switch on full trust "
            "for “skyhub local CA”.",
            "Open the hub's address with https:// in Safari.",
        ],
        "other": "中文",
        "missing": "This hub does not use its own certificate authority; ask your administrator.",
    },
    "zh": {
        "title": "在手机上信任本指挥中心",
        "intro": (
            "本指挥中心自建了证书颁发机构（CA），让辖区网络中的手机可以通过 HTTPS 使用它"
            "（摄像头、麦克风和定位都需要 HTTPS）。每部手机安装一次即可，之后打开页面不再出现警告。"
        ),
        "download": "下载证书",
        "check": "信任之前，请核对证书的 SHA-256 指纹与管理员提供的一致：",
        "android": "安卓手机",
        "android_steps": [
            "点击上方的“下载证书”。",
            "打开 设置 → 安全 → 更多安全设置 → 加密与凭据 → 安装证书 → CA 证书"
            "（不同手机名称略有不同，可在设置中搜索“CA 证书”）。",
            "选择下载的文件“skyhub-ca.crt”并确认。",
            "在 Chrome 中用 https:// 打开指挥中心的地址。",
        ],
        "ios": "iPhone 和 iPad",
        "ios_steps": [
            "用 Safari 打开本页，点击“下载证书”，允许下载描述文件。",
            "打开 设置 → 通用 → VPN 与设备管理，点击已下载的描述文件并安装。",
            "打开 设置 → 通用 → 关于本机 → 证书信任设置，为“skyhub local CA”打开完全信任。",
            "在 Safari 中用 https:// 打开指挥中心的地址。",
        ],
        "other": "English",
        "missing": "本指挥中心未使用自建的证书颁发机构，请联系管理员。",
    },
}


async def _ca_pem(hub: HubDep) -> bytes | None:
    path = local_ca(hub.settings.data_dir).ca_cert
    try:
        return await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        return None


@router.get("/ca.crt", response_class=Response)
async def ca_certificate(hub: HubDep) -> Response:
    """The hub's CA certificate (PEM), for phones to install and trust; 404 without a local CA."""
    pem = await _ca_pem(hub)
    if pem is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, TEXT["en"]["missing"])
    return Response(
        pem,
        media_type=CA_CONTENT_TYPE,
        headers={"Content-Disposition": 'attachment; filename="skyhub-ca.crt"', "Cache-Control": "no-cache"},
    )


def _language(lang: str | None, accept: str | None) -> Literal["zh", "en"]:
    if lang in ("zh", "en"):
        return lang  # type: ignore[return-value]
    return "zh" if (accept or "").strip().lower().startswith("zh") else "en"


@router.get(
    "/ca",
    response_class=HTMLResponse,
    responses={404: {"description": "The page saying there is no local CA.", "content": {"text/html": {}}}},
)
async def ca_page(
    hub: HubDep,
    lang: Annotated[str | None, Query(max_length=8, description="zh or en (default: the browser's).")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """How to trust the hub's CA on Android and iOS, with its fingerprint to check."""
    code = _language(lang, accept_language)
    t = TEXT[code]
    pem = await _ca_pem(hub)
    if pem is None:
        body = f"<p>{html.escape(str(t['missing']))}</p>"
        status_code = status.HTTP_404_NOT_FOUND
    else:
        der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        digest = hashlib.sha256(der).hexdigest().upper()
        # Broken only between bytes on a narrow screen.
        fingerprint = ":<wbr>".join(digest[i : i + 2] for i in range(0, len(digest), 2))

        def steps(key: str) -> str:
            return "".join(f"<li>{html.escape(s)}</li>" for s in t[key])

        body = (
            f"<p>{html.escape(str(t['intro']))}</p>"
            f'<p><a class="button" href="/ca.crt" download="skyhub-ca.crt">{html.escape(str(t["download"]))}</a></p>'
            f"<p>{html.escape(str(t['check']))}</p><p><code data-fingerprint>{fingerprint}</code></p>"
            f"<h2>{html.escape(str(t['android']))}</h2><ol>{steps('android_steps')}</ol>"
            f"<h2>{html.escape(str(t['ios']))}</h2><ol>{steps('ios_steps')}</ol>"
        )
        status_code = status.HTTP_200_OK
    other = "en" if code == "zh" else "zh"
    page = (
        f'<!doctype html><html lang="{code}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="/web/icons/worker-192.png">'
        f"<title>{html.escape(str(t['title']))}</title><style>{STYLE}</style></head>"
        f'<body><main><nav><a href="/ca?lang={other}" lang="{other}">{html.escape(str(t["other"]))}</a></nav>'
        f"<h1>{html.escape(str(t['title']))}</h1>{body}</main></body></html>"
    )
    headers = {
        "Content-Security-Policy": PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }
    return HTMLResponse(page, status_code=status_code, headers=headers)


STYLE = (
    "body{margin:0;background:#fff;color:#111;font:18px/1.5 system-ui,sans-serif}"
    "main{max-width:40rem;margin:0 auto;padding:1rem}"
    "h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:1.5rem}"
    "nav{text-align:right}a{color:#0b4fa8}"
    "a.button{display:inline-block;padding:.8rem 1.2rem;background:#0b4fa8;color:#fff;border-radius:.4rem;"
    "text-decoration:none;font-weight:600;min-height:44px;box-sizing:border-box}"
    "a:focus-visible{outline:3px solid #e07000;outline-offset:2px}"
    "code{font-size:1rem;line-height:1.8}li{margin:.4rem 0}"
)
