"""Data Docs without CDNs: the built pages point at a bundled copy of their CSS, JS and fonts.

Great Expectations' page templates load Bootstrap, jQuery, Font Awesome, Vega... from public CDNs, so
the pages are unstyled (and their tables dead) offline, and every reader's browser calls third parties.
After a build, `bundle_assets` copies `docs_vendor/` into the site as `vendor/` and rewrites each page's
CDN URLs to relative paths into it (so the site also works from a file:// folder or behind a prefix).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDOR = Path(__file__).with_name("docs_vendor")
VENDOR_DIR = "vendor"
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"

# CDN URL in GX's templates -> file in docs_vendor/
ASSETS = {
    "https://cdn.jsdelivr.net/npm/vega@5": "vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "css/fontawesome-all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-prefers-dark.min.css"
    ),
}
# Subresource-integrity attributes name the CDN's bytes; the bundled files are served by us.
_INTEGRITY = re.compile(r'\s+(?:integrity="[^"]*"|crossorigin="[^"]*")')
_REMOTE = re.compile(r"""(?:src|href)=["'](https?://[^"']+)["']""")


def bundle_assets(site: Path) -> int:
    """Copy the assets into `site/vendor` and repoint every page; returns how many pages were rewritten."""
    shutil.copytree(VENDOR, site / VENDOR_DIR, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    rewritten = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        up = os.path.relpath(site, page.parent).replace(os.sep, "/")
        up = "" if up == "." else f"{up}/"
        new = text
        for url, name in ASSETS.items():
            new = new.replace(f'"{url}"', f'"{up}{VENDOR_DIR}/{name}"')
        new = new.replace(GX_IMAGES, f"{up}static/images/")
        new = _INTEGRITY.sub("", new)
        if new != text:
            page.write_text(new, encoding="utf-8")
            rewritten += 1
    return rewritten


def remote_references(site: Path) -> set[str]:
    """Every http(s) URL a page still loads a script or stylesheet from (links in the text not included)."""
    found: set[str] = set()
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", text):
            found.update(_REMOTE.findall(tag))
    return found
