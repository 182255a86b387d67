"""The icon in the ``<head>`` of lilqueue's own pages (the status page, the dashboard): inline,
so that no browser asks the host for ``/favicon.ico`` and fills its log with 404s. Their
Content-Security-Policy allows it with ``img-src data:``.

    f"<head>{LINK}</head>"
"""

from __future__ import annotations

from urllib.parse import quote

SVG = ("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><rect width='16' height='16' rx='3' "
       "fill='#1d2329'/><rect x='3' y='6.5' width='10' height='3' rx='1' fill='#5f6b76'/>"
       "<rect x='3' y='6.5' width='6' height='3' rx='1' fill='#2e8b57'/></svg>")
LINK = f'<link rel="icon" href="data:image/svg+xml,{quote(SVG)}">'
