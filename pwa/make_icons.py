"""Render the app icons (PNG) from static/icons/icon.svg with the system's Chromium.

Run after changing the SVG: ``.venv/bin/python pwa/make_icons.py``. Needs /usr/bin/chromium
and the playwright package (a dev dependency); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

ICONS = Path(__file__).parent / "static" / "icons"
# name, size, maskable (full-bleed background, artwork inside the 80% safe zone)
OUTPUTS = [
    ("icon-192.png", 192, False),
    ("icon-512.png", 512, False),
    ("maskable-192.png", 192, True),
    ("maskable-512.png", 512, True),
    ("apple-touch-icon.png", 180, True),
]


def main() -> None:
    svg = (ICONS / "icon.svg").read_text()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
        )
        page = browser.new_page()
        for name, size, maskable in OUTPUTS:
            inner = int(size * 0.8) if maskable else size
            sized = svg.replace("<svg ", f'<svg width="{inner}" height="{inner}" ', 1)
            html = (
                f"<body style='margin:0;width:{size}px;height:{size}px;display:grid;"
                f"place-items:center;background:{'#003479' if maskable else 'transparent'}'>"
                f"<div style='width:{inner}px;height:{inner}px'>"
                f"{sized}"
                "</div></body>"
            )
            page.set_viewport_size({"width": size, "height": size})
            page.set_content(html)
            page.screenshot(path=str(ICONS / name), omit_background=not maskable)
        browser.close()


if __name__ == "__main__":
    main()
