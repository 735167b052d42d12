"""The one builder of the hub's self-contained HTML pages (driving report, collection plan).

A ``Page`` collects HTML parts and Plotly figure specs; ``html()`` returns one document with
plotly.js embedded when there are figures (the machines that open these files are often
offline: no CDN), the figures drawn from ``<script type="application/json" class="figure">``
blocks, and the page's numbers as a JSON block a program can read back.
"""

from __future__ import annotations

import html as _html
import json
from collections.abc import Mapping
from typing import Any

from plotly.offline import get_plotlyjs

_SHOW = """
document.querySelectorAll("script.figure").forEach(function (s) {
  var spec = JSON.parse(s.textContent);
  Plotly.newPlot(s.dataset.target, spec.data, spec.layout,
                 {displaylogo: false, responsive: true});
});
"""


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element (no "</script>" can close it early)."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("<", "\\u003c")


class Page:
    """Collects the HTML parts and figures of one page."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figures = 0

    def add(self, text: str) -> None:
        self.parts.append(text)

    def figure(self, spec: Mapping[str, Any], css: str = "chart") -> None:
        """A Plotly figure (``{"data": [...], "layout": {...}}``) in a ``div`` of class ``css``."""
        self.figures += 1
        target = f"fig-{self.figures}"
        self.add(f'<div class="{css}" id="{target}"></div>')
        self.add(
            f'<script type="application/json" class="figure" data-target="{target}">'
            f"{script_json(spec)}</script>"
        )

    def html(self, title: str, css: str, *, data_id: str, data: Any) -> str:
        """The whole document; ``data`` goes in ``<script type="application/json"
        id="{data_id}">``."""
        plotly = f"<script>{get_plotlyjs()}</script>" if self.figures else ""
        return (
            f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>"
            f"{_html.escape(title)}</title><style>{css}</style>{plotly}</head><body>"
            + "\n".join(self.parts)
            + f"<script type='application/json' id='{data_id}'>{script_json(data)}</script>"
            + (f"<script>{_SHOW}</script>" if self.figures else "")
            + "</body></html>"
        )
