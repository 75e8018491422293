"""Downloading a missing data set through torchvision, or saying plainly where to put it."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from resdeep.errors import UserError


def download_or_explain(dataset: str, root: Path, expected: str, download: bool, fetch: Callable[[], None]) -> None:
    """Run fetch() if allowed; on failure remove what it created and raise one actionable line."""
    hint = f"download {dataset} yourself and point data.root at the folder that holds it"
    if not download:
        raise UserError(f"{dataset} not found: looked for {expected}; {hint} (or set data.download=true)")
    created = [parent for parent in [root, *root.parents] if not parent.exists()]
    try:
        fetch()
    except Exception as error:  # noqa: BLE001 - offline, refused, or a partial file: all end the same way
        if created:
            shutil.rmtree(created[-1], ignore_errors=True)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{dataset} not found: looked for {expected}, and the download failed ({reason}); {hint}") from None
