"""Which child a beacon belongs to: the hub's tag directory.

A station forwards what it hears (``beacon_kind``, ``beacon_id``); only the hub knows whose
tag it is. iBeacon tags are looked up by their fixed ``{uuid}/{major}/{minor}``;
Eddystone-EID tags rotate their identifier every 2^K seconds and are resolved with the
tags' identity keys, which never leave the hub (``citytrack.ble.eid.EidResolver``).

A beacon no tag matches (a neighbour's key finder, a shop's iBeacon, a tag not
registered yet) resolves to ``None``: the passage is still stored, as an unresolved one.
Near a school that is normal, not an error.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from citytrack.ble.eid import EidResolver
from citytrack.config.watch import Tag, WatchConfig
from citytrack.wire import BeaconKind

log = logging.getLogger(__name__)

EID_WINDOW = 2  # rotation periods either side of ``at``: tolerates tag clock drift
_EID = re.compile(r"^[0-9a-f]{16}$")  # 8-byte ephemeral id, hex (see BeaconKind)


class TagDirectory:
    """Resolves beacons to the configured tags of ``watch``.

    Args:
        watch: the child-watch configuration (its tags, with EID identity keys).
        eid_window: EID rotation periods either side of the passage time that still match.
    """

    def __init__(self, watch: WatchConfig, *, eid_window: int = EID_WINDOW) -> None:
        self._tags = {t.id: t for t in watch.tags}
        self._ibeacons = {t.ibeacon_id(): t for t in watch.tags if t.kind == "ibeacon"}
        eid_tags = [
            (t.id, bytes.fromhex(t.eid_identity_key), t.eid_rotation_exponent)
            for t in watch.tags
            if t.kind == "eddystone_eid" and t.eid_identity_key is not None
        ]
        self._eid = EidResolver(eid_tags, window=eid_window) if eid_tags else None
        trackable = [t.id for t in self.trackable_tags()]
        if trackable:
            log.info("%d tags have a fixed id anyone can follow: %s", len(trackable), trackable)

    def resolve(self, beacon_kind: BeaconKind, beacon_id: str, at: datetime) -> Tag | None:
        """The tag behind a beacon heard at ``at`` (aware), or None if no tag matches.

        Only iBeacon and Eddystone-EID tags are registered; other kinds, an EID that is
        not 16 hex digits, and an EID heard at a time outside the tags' counter range
        resolve to None.

        Raises:
            ValueError: ``at`` is naive.
        """
        if at.utcoffset() is None:
            raise ValueError(f"at must be timezone-aware, got {at!r}")
        if beacon_kind == BeaconKind.IBEACON:
            return self._ibeacons.get(beacon_id.lower())
        eid = beacon_id.lower()
        if beacon_kind == BeaconKind.EDDYSTONE_EID and self._eid and _EID.match(eid):
            try:
                tag_id = self._eid.resolve(eid, at)
            except ValueError:  # ``at`` outside the tags' 32-bit counter (1970..2106)
                return None
            return None if tag_id is None else self._tags.get(tag_id)
        return None

    @staticmethod
    def trackable(tag: Tag) -> bool:
        """True for a fixed-id tag (iBeacon): a stranger with a scanner can follow it."""
        return tag.trackable

    def trackable_tags(self) -> list[Tag]:
        """The configured fixed-id tags, by id (to be replaced by rotating ones)."""
        return sorted((t for t in self._tags.values() if t.trackable), key=lambda t: t.id)
