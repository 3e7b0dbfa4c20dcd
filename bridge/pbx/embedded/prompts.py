"""What the embedded engine says on its own: PIN tones and the spoken join/leave media.

Tones are generated here. Spoken media comes from the `MediaLibrary`:
- a participant's `name` then `has_joined_message` (or `has_left_message`), heard by the
  whole room when it enters (or leaves) the mixing, as the Asterisk announcer plays them;
- a conference's `pre_actions`, heard by each entering call alone before it is mixed, and
  its `post_actions`, heard by each call we disconnect, after it left the mixing (VoIPbin:
  actions run for each entering / leaving call).
These are comfort, not control: an item that cannot be loaded (a missing file, `say`
without espeak-ng) is logged and left out; it never fails a call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.core.models import Conference, MediaItem, Participant
from bridge.media import tones
from bridge.pbx.backend import EngineError
from bridge.pbx.embedded.media_source import MediaLibrary

log = logging.getLogger(__name__)


def pin_prompt() -> list[bytes]:
    return tones.beep(600.0, 150)


def _reorder_burst() -> bytes:
    return tones.tone_pcm([480.0, 620.0], 250, 6000) + tones.silence_pcm(250)


def pin_retry() -> list[bytes]:
    """A wrong PIN with attempts left: one reorder burst, then the prompt again."""
    return tones.frames_of(_reorder_burst()) + pin_prompt()


def pin_rejected() -> list[bytes]:
    """The last attempt failed: three reorder bursts (then the call ends)."""
    return tones.frames_of(_reorder_burst() * 3)


@dataclass(frozen=True, slots=True)
class Farewell:
    """What is kept from a join for its leave: the room's announcement, the call's own."""

    to_room: tuple[MediaItem, ...]  # name + has_left_message
    to_call: tuple[MediaItem, ...]  # the conference's post_actions


def join_items(p: Participant) -> tuple[MediaItem, ...]:
    return _present(p.options.name, p.options.has_joined_message)


def farewell(conf: Conference, p: Participant) -> Farewell:
    return Farewell(_present(p.options.name, p.options.has_left_message), conf.post_actions)


def _present(*items: MediaItem | None) -> tuple[MediaItem, ...]:
    return tuple(item for item in items if item is not None)


async def spoken(library: MediaLibrary, items: Iterable[MediaItem], what: str) -> list[bytes]:
    """The frames of `items` in order; an item that cannot be loaded is logged and skipped."""
    frames: list[bytes] = []
    for item in items:
        try:
            frames.extend(await library.item_frames(item))
        except EngineError as exc:
            log.warning("%s: %s item left out: %s", what, item.kind, exc)
    return frames
