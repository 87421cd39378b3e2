"""Framework layer: flash messages, one-time notes kept in the session until shown.

``request.flash("Saved.", "success")`` appends to the session's ``_flashes`` list;
``request.flashed_messages()`` takes them out (the session is then saved without
them) and returns the same list for the rest of that request, so a layout and a
page may both ask. Each message is a :class:`Flash`: ``(category, message)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from micro.plugins.api import Session

__all__ = ["FLASH_KEY", "Flash", "add_flash", "take_flashes"]

FLASH_KEY = "_flashes"


class Flash(NamedTuple):
    category: str
    message: str


def add_flash(session: Session, message: str, category: str) -> None:
    """Keep ``message`` until a later request shows it."""
    if not isinstance(message, str) or not isinstance(category, str):
        raise TypeError("flash(message, category): both are str")
    # Assigned, not appended in place, so that the session knows it changed.
    session[FLASH_KEY] = [*session.get(FLASH_KEY, ()), [category, message]]


def take_flashes(session: Session) -> list[Flash]:
    """The waiting messages, oldest first, removed from the session."""
    if FLASH_KEY not in session:
        return []
    flashes = []
    for item in session.pop(FLASH_KEY) or ():
        if isinstance(item, list | tuple) and len(item) == 2:
            flashes.append(Flash(str(item[0]), str(item[1])))
    return flashes
