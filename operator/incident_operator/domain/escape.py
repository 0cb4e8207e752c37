"""Text from the cluster made safe to print on a terminal.

Titles, summaries, messages and names come from people and from Alertmanager
annotations, and any of them may hold terminal control characters: ESC starts sequences
that recolour the text, move the cursor, retitle the window or (on some terminals) set
the clipboard; BEL rings; CR and backspace overwrite what was printed before. The plugin
shows each control character as an escape (``\\x1b``, ``\\x07``, ``\\r``) instead, so the
terminal does nothing and the reader still sees what was there. The rest of an ESC
sequence (``[31m``) is plain text and stays as it is.

Which characters
----------------
The C0 controls (U+0000-U+001F), DEL (U+007F) and the C1 controls (U+0080-U+009F;
U+009B is a one-character CSI on some terminals). Tab and newline are kept only in a
multi-line field printed as a block (a summary, the post-mortem draft), where a CRLF is
read as a newline; in a single-line field (a table cell, a name, a timeline message)
they are escaped too, so one row stays one row.

Backslashes are left alone: escaping never adds a control character, so escaping
escaped text changes nothing.
"""

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0)]

# str.translate tables: a field printed on one line, and a field printed as a block.
_LINE = {code: _SHORT.get(chr(code), f"\\x{code:02x}") for code in _CONTROLS}
_BLOCK = {code: text for code, text in _LINE.items() if chr(code) not in "\t\n"}


def escape(value: object) -> str:
    """``value`` as text for one line: every control character, newline included, escaped."""
    return str(value).translate(_LINE)


def escape_block(value: object) -> str:
    """``value`` as text printed on several lines: tabs and newlines kept, the rest escaped."""
    return str(value).replace("\r\n", "\n").translate(_BLOCK)
