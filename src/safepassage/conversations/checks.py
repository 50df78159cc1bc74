"""Start-up checks: every flow file is valid and every applicant text exists in every language.

They run with `safepassage serve`, `safepassage check` and in CI (tests/test_catalogs.py), so a
broken flow or a half-translated catalog never reaches an applicant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core import checks

from safepassage.conversations import catalog, flows

_SRC = Path(__file__).resolve().parent.parent
_TEMPLATE_IDS = re.compile(r"""\{%\s*t\s+["']([a-z0-9_.]+)["']\s*%\}""")
_CODE_IDS = re.compile(
    r"""["']((?:reask|chat|nav|thread|summary|apply|menu|faq|delete)"""
    r"""\.[a-z0-9_.]+)["']"""
)


def ids_used_in_code() -> set[str]:
    ids: set[str] = set()
    for path in _SRC.rglob("*.html"):
        ids.update(_TEMPLATE_IDS.findall(path.read_text(encoding="utf-8")))
    for sub in ("channels", "conversations", "web"):
        for path in (_SRC / sub).rglob("*.py"):
            ids.update(_CODE_IDS.findall(path.read_text(encoding="utf-8")))
    return ids


def required_ids() -> set[str]:
    ids = ids_used_in_code()
    for path in flows.all_flow_files():
        ids |= flows.load_file(path).message_ids()
    return ids


def problems() -> list[str]:
    found: list[str] = []
    for path in flows.all_flow_files():
        try:
            flows.load_file(path)
        except flows.FlowError as exc:
            found.append(str(exc))
    if found:
        return found
    return catalog.completeness_problems(required_ids())


@checks.register("safepassage")
def check_flows_and_catalogs(app_configs: Sequence[Any] | None = None, **_: Any) -> list[Any]:
    return [checks.Error(problem, id="safepassage.E001") for problem in problems()]
