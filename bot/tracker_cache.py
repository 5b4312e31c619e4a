"""Trackers this process saved, reused on the next turn while the database agrees.

Rasa's SQL tracker store rebuilds the tracker from every event of the session on each
turn and counts the stored events again before saving: together about a fifth of the
Rasa server's CPU per turn (docs/benchmarks.md). A conversation's next turn usually
comes to the same process, so the store keeps the tracker it just saved and hands it
back while the newest event id stored for that sender is still the one it wrote.

What the store may keep is exactly what it would load: a tracker is kept only when its
events are the ones the database returns for it (no event was changed by redaction, none
predates the session start that loading filters on). A tracker handed out is marked as
checked out until it is saved again, so a turn that fails half way leaves nothing
reusable behind and the next turn loads from the database.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_history import event_index

CHECKED_OUT = -1  # version of an entry handed out and not yet saved again


@dataclass
class Entry:
    """A tracker, how many of its events are stored, and the newest stored event id."""

    tracker: DialogueStateTracker
    stored: int
    version: int | None


class TrackerCache:
    """A bounded LRU map from sender id to the tracker last saved for it."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    def take(self, sender_id: str, version: int | None) -> DialogueStateTracker | None:
        """The kept tracker if the database's newest event id is still ``version``."""
        entry = self._entries.get(sender_id)
        if entry is None or entry.version == CHECKED_OUT or entry.version != version:
            return None
        return entry.tracker

    def check_out(self, sender_id: str, tracker: DialogueStateTracker | None) -> None:
        """Remember ``tracker`` as handed out, with all of its events stored."""
        if tracker is None or self.size <= 0:
            self._entries.pop(sender_id, None)
            return
        self._entries[sender_id] = Entry(tracker, len(tracker.events), CHECKED_OUT)
        self._entries.move_to_end(sender_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def stored_count(self, tracker: DialogueStateTracker) -> int | None:
        """How many of ``tracker``'s events are stored, if this cache handed it out."""
        entry = self._entries.get(tracker.sender_id)
        return entry.stored if entry is not None and entry.tracker is tracker else None

    def keep(self, tracker: DialogueStateTracker, version: int | None, exact: bool) -> None:
        """After a save: keep ``tracker`` at ``version`` if it is ``exact``ly what loads."""
        if exact and self.size > 0 and loads_as_is(tracker):
            self._entries[tracker.sender_id] = Entry(tracker, len(tracker.events), version)
            self._entries.move_to_end(tracker.sender_id)
        else:
            self._entries.pop(tracker.sender_id, None)

    def __len__(self) -> int:
        return len(self._entries)


def loads_as_is(tracker: DialogueStateTracker) -> bool:
    """Whether loading the session back returns every event ``tracker`` holds.

    Rasa loads the events stamped at or after the latest ``SessionStarted``.
    """
    index = event_index(tracker)
    start = index.latest_session_start
    return start is None or index.earliest >= start
