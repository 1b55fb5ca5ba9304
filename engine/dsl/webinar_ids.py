"""R-ADD-2: Zoom webinar ids are digits; users may paste them with spaces or dashes."""

from __future__ import annotations

import re

#: Zoom meeting and webinar ids are 9 to 11 digits today; 12 leaves room for growth without
#: accepting a phone number or an order number by mistake.
_DIGITS = re.compile(r"\d{9,12}", re.ASCII)


class InvalidWebinarId(ValueError):
    pass


def normalise_webinar_id(value: str | int) -> str:
    """``"123 4567 8901"`` and ``"123-4567-8901"`` → ``"12345678901"``; InvalidWebinarId for anything else.

    Every Unicode white space goes, not only the space (#13.10): ids pasted from a web page or a
    spreadsheet arrive with a tab, a trailing newline or a non-breaking space.
    """
    text = str(value)
    compact = "".join(text.split()).replace("-", "")
    if not _DIGITS.fullmatch(compact):
        raise InvalidWebinarId(
            f"{text!r} is not a Zoom webinar id: after removing spaces and dashes it must be 9 to 12 digits"
        )
    return compact
