# SPDX-License-Identifier: GPL-2.0-or-later
"""``memhp map`` as an HTML page: the SVG map, with the details of whatever is under the
mouse shown beside it (inline CSS and JavaScript only)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from memhp.kernel.state import Boot
from memhp.output.memmap_svg import render_svg

__all__ = ["render_html"]

_CSS = """
body { margin: 20px; font-family: DejaVu Sans, Verdana, Arial, Helvetica, sans-serif;
       background: #ffffff; color: #222; }
svg.memhp-map { display: block; max-width: 100%; height: auto; }
svg [data-tip] { cursor: default; }
svg rect[data-tip]:hover { stroke: #000; stroke-width: 1.5; }
svg text[data-tip]:hover { text-decoration: underline; }
#tip { position: fixed; display: none; z-index: 10; max-width: 520px; padding: 7px 10px;
       background: #222; color: #fff; font-size: 12.5px; line-height: 1.45; border-radius: 5px;
       white-space: pre-line; pointer-events: none; box-shadow: 0 2px 8px rgba(0,0,0,.3); }
#details { margin-top: 8px; width: 1316px; max-width: 100%; min-height: 3.2em; padding: 8px 12px;
           border: 1px solid #ddd; border-radius: 5px; background: #fafafa; font-size: 13px;
           white-space: pre-line; color: #333; }
"""

_JS = """
(function () {
  var tip = document.getElementById('tip');
  var details = document.getElementById('details');
  var svg = document.querySelector('svg.memhp-map');
  svg.querySelectorAll('title').forEach(function (t) { t.remove(); });
  function move(ev) {
    var pad = 14, w = tip.offsetWidth, h = tip.offsetHeight;
    var x = ev.clientX + pad, y = ev.clientY + pad;
    if (x + w > window.innerWidth - 4) { x = ev.clientX - pad - w; }
    if (y + h > window.innerHeight - 4) { y = ev.clientY - pad - h; }
    tip.style.left = Math.max(4, x) + 'px';
    tip.style.top = Math.max(4, y) + 'px';
  }
  function fill(box, text) {  // first line in bold, the rest as it is
    var lines = text.split('\\n');
    var head = document.createElement('b');
    head.textContent = lines[0];
    box.textContent = '';
    box.appendChild(head);
    if (lines.length > 1) {
      box.appendChild(document.createTextNode('\\n' + lines.slice(1).join('\\n')));
    }
  }
  svg.querySelectorAll('[data-tip]').forEach(function (el) {
    el.addEventListener('mouseenter', function (ev) {
      fill(tip, el.getAttribute('data-tip'));
      fill(details, el.getAttribute('data-tip'));
      tip.style.display = 'block';
      move(ev);
    });
    el.addEventListener('mousemove', move);
    el.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  });
})();
"""


def render_html(boot: Boot) -> str:
    """The map of ``boot`` in a self-contained HTML page that shows details on hover."""
    svg = render_svg(boot)
    name = boot.machine.name or "machine"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(f'memhp map of {name}')}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{svg}<div id=\"details\">Point at a zone, a reservation or a memory block "
        "to see its details.</div>\n<div id=\"tip\" role=\"tooltip\"></div>\n"
        f"<script>{_JS}</script>\n</body>\n</html>\n"
    )


