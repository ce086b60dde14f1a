"""The card page as it ships: web/ made for one stack, and the inventory of what it runs (PCI DSS 6.4.3).

For a stack, web/config.js names the stack's API (SAME_ORIGIN behind the public edge), the pages' meta
Content-Security-Policy names the same origin, and every script and stylesheet a page loads is pinned by its
SHA-384 (Subresource Integrity): a page's entry module by its `integrity`, the modules it imports by a
`modulepreload` link with theirs, so a changed script is not run. The manifest lists every file's hash and
the policy the pages are served with: `make deploy` uploads it with them (local/deploy.py), and the scheduled
page check compares what the edge serves with it (billing/page_check.py, PCI DSS 11.6.1).

`make dev` serves the same files (local/dev.py), made afresh for each request so an edit shows at once. For
a page hosted elsewhere than the edge:

    python -m local.page --api-url https://abc.execute-api.ap-northeast-2.amazonaws.com --out site/
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

SAME_ORIGIN = ""  # an API on the page's own origin (the edge): its URLs are paths
MANIFEST = "page-manifest.json"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
_CONFIG_URL = re.compile(r"^(export const (API_BASE_URL|DEV_TOKEN_URL) = ).*;$", re.MULTILINE)
_CSP_META = re.compile(r'(<meta http-equiv="Content-Security-Policy" content=")[^"]*(")')
_ENTRY_SCRIPT = re.compile(r'<script type="module" src="([\w.-]+\.js)"></script>')
_STYLESHEET = re.compile(r'<link rel="stylesheet" href="([\w.-]+\.css)">')
_PINNED = re.compile(r'(?:src|href)="([\w.-]+)" integrity="sha384-')
_IMPORT = re.compile(r'^(?:import|export)\b[^;]*?\bfrom "\./([\w.-]+\.js)";', re.MULTILINE | re.DOTALL)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(connect_to: Sequence[str], *, meta: bool = False) -> str:
    """The page's policy: its own scripts and styles only, requests only to the API (and the dev issuer),
    each named by its URL, or SAME_ORIGIN when it is on the page's own origin (the edge).

    `frame-ancestors` only works as a header (a <meta> policy may not carry it), so the meta form omits it.
    """
    directives = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src " + " ".join(dict.fromkeys(origin_of(u) if u else "'self'" for u in connect_to)),
        "base-uri 'none'",
        "form-action 'none'",
        "require-trusted-types-for 'script'",
    ]
    if not meta:
        directives.append("frame-ancestors 'none'")
    return "; ".join(directives)


def integrity(content: bytes) -> str:
    """A Subresource Integrity value: `sha384-<base64>`."""
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


@dataclass(frozen=True)
class ShippedPage:
    files: dict[str, bytes]  # by path under the site's root, e.g. "index.html"
    policy: str  # the Content-Security-Policy header the pages are served with

    def manifest(self) -> bytes:
        """The inventory: each file's hash, and the policy (PCI DSS 6.4.3; the page check reads it)."""
        hashes = {path: integrity(content) for path, content in sorted(self.files.items())}
        return json.dumps({"files": hashes, "content_security_policy": self.policy}, indent=2).encode()

    def manifest_digest(self) -> str:
        """The manifest's own hash: the stack keeps it (PageManifestDigest), apart from the bucket."""
        return integrity(self.manifest())


def ship(root: Path, api_url: str, token_url: str = "") -> ShippedPage:
    """web/ made for a stack whose API is at `api_url` (SAME_ORIGIN: the page's own origin)."""
    files = {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }
    values = {"API_BASE_URL": api_url, "DEV_TOKEN_URL": token_url}
    config = _CONFIG_URL.sub(lambda m: f"{m[1]}{json.dumps(values[m[2]])};", files["config.js"].decode())
    files["config.js"] = ("// Made for this stack from web/config.js (local/page.py).\n" + config).encode()
    connect_to = [api_url, *filter(None, [token_url])]
    meta = content_security_policy(connect_to, meta=True)
    pinned: set[str] = set()
    for name in [n for n in files if n.endswith(".html")]:
        html = _CSP_META.sub(lambda m: m[1] + meta + m[2], files[name].decode())
        files[name] = _pinned(html, files).encode()
        pinned |= set(_PINNED.findall(files[name].decode()))
    # A script no page pins (an import of a form _IMPORT does not read, a page's inline script) would run
    # unchecked: refuse to ship it.
    unpinned = sorted(n for n in files if n.endswith((".js", ".css")) and n not in pinned)
    if unpinned:
        raise ValueError(f"not pinned by any page: {', '.join(unpinned)}")
    return ShippedPage(files, content_security_policy(connect_to))


def _pinned(html: str, files: dict[str, bytes]) -> str:
    """The page with its stylesheets and scripts pinned by their hashes, its entry module's imports too."""
    html = _STYLESHEET.sub(
        lambda m: f'<link rel="stylesheet" href="{m[1]}" integrity="{integrity(files[m[1]])}">', html
    )

    def entry(match: re.Match[str]) -> str:
        links = [
            f'<link rel="modulepreload" href="{module}" integrity="{integrity(files[module])}">\n  '
            for module in _imports(match[1], files)
        ]
        script = f'<script type="module" src="{match[1]}" integrity="{integrity(files[match[1]])}"></script>'
        return "".join(links) + script

    return _ENTRY_SCRIPT.sub(entry, html)


def _imports(module: str, files: dict[str, bytes]) -> list[str]:
    """Every module `module` imports, directly or not, each once, in a stable order."""
    found: dict[str, None] = {}
    pending = [module]
    while pending:
        for imported in _IMPORT.findall(files[pending.pop()].decode()):
            if imported not in found:
                found[imported] = None
                pending.append(imported)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="web/ made for a stack, with its inventory")
    parser.add_argument("--api-url", required=True, help="the stack's ApiUrl output")
    parser.add_argument("--out", type=Path, required=True, help="a directory to write the page into")
    args = parser.parse_args(argv)
    page = ship(WEB_ROOT, args.api_url)
    for path, content in {**page.files, MANIFEST: page.manifest()}.items():
        (args.out / path).parent.mkdir(parents=True, exist_ok=True)
        (args.out / path).write_bytes(content)
    print(f"{len(page.files)} files and {MANIFEST} in {args.out}; serve the pages with this header:")
    print(f"Content-Security-Policy: {page.policy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
