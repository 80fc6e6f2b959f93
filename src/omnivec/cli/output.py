"""Human output that a file cannot turn against the terminal, and that shows code as it is.

File contents and file names reach the screen through here: control characters (escape
sequences that clear the screen or retitle the window), bidirectional overrides and lone
surrogates are shown as escapes; nothing else is changed. Rich is told not to read markup,
emoji shortcodes (`:b:` would become an emoji inside `seq[a:b:c]`) or to wrap long lines.
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls except tab and newline, DEL, bidi embeddings/overrides/isolates, surrogates
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_IN_NAMES = re.compile("[\t\n]|" + _UNSAFE.pattern)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """Text as it is, except characters that would drive the terminal, shown as escapes."""
    return _UNSAFE.sub(_escape, text)


def safe_name(name: Any) -> str:
    """A one-line label (a path, a symbol): newlines and tabs are escaped too."""
    return _UNSAFE_IN_NAMES.sub(_escape, str(name))


def console(stderr: bool = False) -> Any:
    """A rich console for plain, verbatim output (no markup, emoji codes or re-wrapping)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=True, markup=False)
