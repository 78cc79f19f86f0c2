"""/docs: Swagger UI over /openapi.json, served from the swagger-ui-bundle package's files so it
works offline (no CDN). The route table is in the page too, for readers without JavaScript."""

from __future__ import annotations

from html import escape

import swagger_ui_bundle
from flask import Blueprint, Response, send_from_directory

from web.endpoint import ROUTES

bp = Blueprint("docs", __name__)
_ASSETS = str(swagger_ui_bundle.swagger_ui_path)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fusion Prime Workers API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head><body>
<div id="swagger-ui"></div>
<noscript><h1>Fusion Prime Workers API</h1><p>Machine-readable:
<a href="/openapi.json">/openapi.json</a>. Every <code>/v1</code> route needs
<code>Authorization: Bearer &lt;key&gt;</code>.</p>
<table><tr><th>Method</th><th>Path</th><th>Scope</th><th>Summary</th></tr>{rows}</table>
</noscript>
<script src="/docs/swagger-ui-bundle.js" charset="utf-8"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  persistAuthorization: true, displayOperationId: true, displayRequestDuration: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"
});
</script>
</body></html>"""


@bp.get("/docs")
def docs() -> Response:
    rows = "".join(
        f"<tr><td>{r.method}</td><td><code>{escape(r.path)}</code></td>"
        f"<td>{escape(r.scope or '')}</td><td>{escape(r.summary)}</td></tr>" for r in ROUTES)
    return Response(_PAGE.replace("{rows}", rows), mimetype="text/html")


@bp.get("/docs/<path:filename>")
def docs_asset(filename: str) -> Response:
    return send_from_directory(_ASSETS, filename, max_age=3600)
