"""Security headers on every response, API and console alike (issue 11, finding 9).

The console loads only its own scripts, styles and fonts (`'self'`), talks only to its
own API, and may show product logos from anywhere (`img-src`: logo_url may be an
http(s) or data: URL); nothing may frame it, and no page it links to learns where the
user came from. API answers are JSON and never rendered, so the same strict policy
does them no harm and leaves nothing to sniff.
"""
from __future__ import annotations

CSP = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: https: http:",
    "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'"])
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """Falcon middleware: runs for every response, errors and static files included."""

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        resp.set_headers(HEADERS)
