"""The values the Plex writer takes and returns (no I/O): a play to write, a row to remove,
an apply's result."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # numpy loads with the first apply, not with every command
    import numpy as np
    import numpy.typing as npt


class PlayToWrite(NamedTuple):
    """One scrobble to insert as a Plex history row (a NamedTuple: a million are built per
    large apply, ten times faster than a frozen dataclass). The writer takes any
    (key, rating_key, viewed_at) tuples (`Play`): a plain tuple from zip() is cheaper still."""

    key: int  # caller's id for this play (our scrobble id), echoed back
    rating_key: int  # metadata_items.id of the track
    viewed_at: int  # epoch seconds (UTC)


class PlayToRemove(NamedTuple):
    """The fingerprint of a history row we wrote: it is deleted only if the row with this id
    still has exactly this guid and time (and the writer's account, metadata_type track)."""

    view_id: int
    guid: str
    viewed_at: int  # epoch seconds (UTC), as given to PlayToWrite


Play = tuple[int, int, int]
"""(key, rating_key, viewed_at), as in `PlayToWrite`."""


@dataclass(frozen=True)
class PlayColumns:
    """Plays as three integer arrays, the form a large apply passes (1M plays as tuples were
    ~100 MB of heap): keys (unique), rating keys, viewed_at epoch seconds."""

    keys: npt.NDArray[np.int64]
    rating_keys: npt.NDArray[np.int64]
    viewed_at: npt.NDArray[np.int64]
    _order: npt.NDArray[np.intp] | None = field(default=None, init=False, repr=False,
                                                compare=False)

    @classmethod
    def of(cls, plays: Sequence[Play] | PlayColumns) -> PlayColumns:
        if isinstance(plays, PlayColumns):
            return plays
        import numpy as np

        table = np.array(plays, dtype=np.int64).reshape(-1, 3)
        return cls(table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy())

    def __len__(self) -> int:
        return len(self.keys)

    def history_order(self) -> npt.NDArray[np.intp]:
        """The order in which the plays become history rows with consecutive ids: by track
        (rating key), then time, then key. A track's rows side by side keep the work on Plex's
        guid and grandparent_guid indexes, and a track's later removal, in one place (1M
        plays: the insert ~1.5-3 s faster than in time order); Plex's history is read by
        viewed_at, not by id (docs/plex-fidelity.md).

        Sorted once (1M plays: 0.25 s) and kept, read-only: the writer and the ledger thread
        both number the rows in this order, in the same apply."""
        import numpy as np

        order = self._order
        if order is None:
            order = np.lexsort((self.keys, self.viewed_at, self.rating_keys))
            order.setflags(write=False)
            object.__setattr__(self, "_order", order)  # (frozen: a cache, not a field)
        return order


class InsertedIds(Mapping[int, int]):
    """key -> history id of the rows an apply inserted, held as two arrays sorted by key
    (a dict of 1M entries was ~100 MB)."""

    def __init__(self, keys: npt.NDArray[np.int64], ids: npt.NDArray[np.int64]) -> None:
        import numpy as np

        order = np.argsort(keys, kind="stable")
        self._keys, self._ids = keys[order], ids[order]

    def __getitem__(self, key: int) -> int:
        import numpy as np

        at = int(np.searchsorted(self._keys, key))
        if at < len(self._keys) and self._keys[at] == key:
            return int(self._ids[at])
        raise KeyError(key)

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys.tolist())

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The ids of `keys` (all of which must have been inserted), in their order."""
        import numpy as np

        at = np.searchsorted(self._keys, keys)
        if len(keys) and (at.max() >= len(self._keys) or (self._keys[at] != keys).any()):
            raise KeyError("a key was not inserted")
        ids: npt.NDArray[np.int64] = self._ids[at]
        return ids


@dataclass(frozen=True)
class WriteResult:
    """What one `PlexDatabaseWriter.apply` did (or, for a dry run, would have done)."""

    inserted: Mapping[int, int]  # key -> metadata_item_views.id created (`InsertedIds`)
    deleted: list[int]  # view ids deleted
    touched_tracks: int  # settings rows updated or created
    backup: Path | None
    timestamp_mode: str  # "integer" or "legacy-string"
    guids: dict[int, str] = field(default_factory=dict)  # rating_key -> guid written

    def view_ids(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The history ids given to `keys`."""
        if isinstance(self.inserted, InsertedIds):
            return self.inserted.lookup(keys)
        import numpy as np

        return np.array([self.inserted[k] for k in keys.tolist()], dtype=np.int64)

    def removable(self, plays: Iterable[Play]) -> list[PlayToRemove]:
        """The fingerprints of the rows written for ``plays`` (which must be among this
        apply's), to remove them again."""
        return [PlayToRemove(self.inserted[key], self.guids[rating_key], viewed_at)
                for key, rating_key, viewed_at in plays]
