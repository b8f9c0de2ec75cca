"""The real headless Chromium (Debian's) for page tests, with axe-core and Lighthouse from npm.

The npm packages live in `tests/web/` (`npm ci --prefix tests/web`, run by
`scripts/ensure-system-deps.sh`); nothing here downloads a browser of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

WEB = Path(__file__).resolve().parents[1] / "web"
AXE_JS = WEB / "node_modules" / "axe-core" / "axe.min.js"
LIGHTHOUSE_JS = WEB / "node_modules" / "lighthouse" / "cli" / "index.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What the targets count as failing: axe's two worst impact levels.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for one test module (use it from a module-scoped fixture)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def axe_violations(page: Page, *, impacts: frozenset[str] = BLOCKING_IMPACTS) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.0/2.1 A and AA rules) on the loaded page; its violations at these impacts.

    axe's source is evaluated through the DevTools protocol, not added as a <script>, so the page's
    Content-Security-Policy (no inline or foreign scripts) does not stop the check.
    """
    if not AXE_JS.exists():
        raise RuntimeError(f"axe-core is not installed: run `npm ci --prefix {WEB}`")
    page.evaluate(AXE_JS.read_text())
    result: dict[str, Any] = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [node["target"] for node in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v.get("impact") in impacts
    ]


def lighthouse(
    url: str, *, categories: tuple[str, ...] = ("performance", "accessibility", "best-practices")
) -> dict[str, Any]:
    """Lighthouse's mobile profile (its default) on `url` in the Debian Chromium.

    Returns `{"scores": {category: 0-100}, "transfer_bytes": int, "report": full_json}`.
    """
    if not LIGHTHOUSE_JS.exists():
        raise RuntimeError(f"lighthouse is not installed: run `npm ci --prefix {WEB}`")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (Debian package nodejs)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        subprocess.run(
            [
                node,
                str(LIGHTHOUSE_JS),
                url,
                "--quiet",
                "--output=json",
                f"--output-path={out}",
                f"--only-categories={','.join(categories)}",
                f"--chrome-flags={' '.join([*CHROMIUM_ARGS, f'--user-data-dir={tmp}/profile'])}",
            ],
            check=True,
            env={**os.environ, "CHROME_PATH": CHROMIUM},
            timeout=180,
            capture_output=True,
        )
        report: dict[str, Any] = json.loads(out.read_text())
    scores = {name: round(100 * (cat["score"] or 0)) for name, cat in report["categories"].items()}
    transfer = int(report["audits"]["total-byte-weight"]["numericValue"])
    return {"scores": scores, "transfer_bytes": transfer, "report": report}
