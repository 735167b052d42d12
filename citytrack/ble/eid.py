"""Eddystone-EID: the rotating ephemeral identifier, and resolving it back to a tag.

Per github.com/google/eddystone/tree/master/eddystone-eid (``eid-computation.md``), with
AES-128 in ECB mode on single 16-byte blocks::

    temporary key = AES(identity key, 00 x11 | FF | 00 00 | counter[31:24] | counter[23:16])
    EID           = AES(temporary key, 00 x11 | K | counter[31:0] with its low K bits cleared)[:8]

The counter is the beacon's clock in seconds; the EID changes every 2**K seconds (the
rotation period), the temporary key every 65 536 s.

Clock choice: a tag's counter counts seconds since its *beacon epoch*. Our tags are
provisioned with the counter set to Unix time (seconds since 1970-01-01 UTC), which fits
the 32-bit counter until 2106, so the hub derives any tag's counter from a UTC time with
no per-tag state. A tag provisioned otherwise needs its own ``beacon_epoch``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from citytrack.config.watch import Tag

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ROTATION_EXPONENT = 15
COUNTER_LIMIT = 1 << 32
KEY_SALT = 0xFF


def _aes_block(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def _check(identity_key: bytes, counter: int) -> None:
    if len(identity_key) != 16:
        raise ValueError(f"identity key must be 16 bytes, not {len(identity_key)}")
    if not 0 <= counter < COUNTER_LIMIT:
        raise ValueError(f"counter {counter} out of the 32-bit range")


def temporary_key(identity_key: bytes, counter: int) -> bytes:
    """The 16-byte temporary key for ``counter`` (seconds); only ``counter >> 16`` matters.

    Raises:
        ValueError: the key is not 16 bytes or the counter is not a 32-bit unsigned value.
    """
    _check(identity_key, counter)
    block = bytes(11) + bytes([KEY_SALT, 0, 0]) + (counter >> 16).to_bytes(2, "big")
    return _aes_block(identity_key, block)


def compute_eid(identity_key: bytes, counter: int, rotation_exponent: int) -> bytes:
    """The 8-byte EID a tag broadcasts at ``counter`` (seconds) with rotation exponent K.

    Raises:
        ValueError: bad key or counter (see :func:`temporary_key`), K outside 0..15.
    """
    if not 0 <= rotation_exponent <= MAX_ROTATION_EXPONENT:
        raise ValueError(f"rotation exponent {rotation_exponent} out of 0..15")
    key = temporary_key(identity_key, counter)
    period_start = (counter >> rotation_exponent) << rotation_exponent
    block = bytes(11) + bytes([rotation_exponent]) + period_start.to_bytes(4, "big")
    return _aes_block(key, block)[:8]


class EidResolver:
    """Tells which tag an EID belongs to, from the tags' identity keys.

    ``tags``: ``(tag_id, identity_key (16 bytes), rotation_exponent K)``. ``window``: how
    many rotation periods before and after the one containing the sighting time are also
    tried, to tolerate tag clock drift. Computed EIDs are cached per (tag, period); the
    cache is dropped whole when it passes ``max_cached`` entries.

    Raises (constructor):
        ValueError: a duplicate tag id, a key that is not 16 bytes, K outside 0..15, a
            negative window, or a naive ``beacon_epoch``.
    """

    def __init__(
        self,
        tags: Iterable[tuple[str, bytes, int]],
        *,
        beacon_epoch: datetime = UNIX_EPOCH,
        window: int = 2,
        max_cached: int = 100_000,
    ) -> None:
        if beacon_epoch.tzinfo is None:
            raise ValueError("beacon_epoch must be timezone-aware")
        if window < 0:
            raise ValueError(f"window {window} must be >= 0")
        self._epoch = beacon_epoch
        self._window = window
        self._max_cached = max_cached
        self._tags: dict[str, tuple[bytes, int]] = {}
        for tag_id, key, exponent in tags:
            if tag_id in self._tags:
                raise ValueError(f"tag {tag_id!r} given twice")
            _check(key, 0)
            if not 0 <= exponent <= MAX_ROTATION_EXPONENT:
                raise ValueError(f"tag {tag_id!r}: rotation exponent {exponent} out of 0..15")
            self._tags[tag_id] = (bytes(key), exponent)
        self._eids: dict[tuple[str, int], str] = {}

    def counter_at(self, at: datetime) -> int:
        """The beacon counter (whole seconds since the beacon epoch) at ``at``.

        Raises:
            ValueError: ``at`` is naive, or outside the 32-bit counter range.
        """
        if at.tzinfo is None:
            raise ValueError("time must be timezone-aware")
        counter = int((at - self._epoch).total_seconds() // 1)
        if not 0 <= counter < COUNTER_LIMIT:
            raise ValueError(f"{at.isoformat()} is outside the beacon counter's range")
        return counter

    def eid_at(self, tag_id: str, at: datetime) -> str:
        """The EID (16 lower-case hex) tag ``tag_id`` broadcasts at ``at``.

        Raises:
            KeyError: unknown tag.
            ValueError: see :meth:`counter_at`.
        """
        key, exponent = self._tags[tag_id]
        return compute_eid(key, self.counter_at(at), exponent).hex()

    def resolve(self, eid_hex: str, at: datetime) -> str | None:
        """The tag whose EID is ``eid_hex`` within +-``window`` periods of ``at``, or None.

        Periods nearest ``at`` are tried first, over all tags, so a (2**-64 rare) collision
        goes to the most plausible tag.

        Raises:
            ValueError: ``eid_hex`` is not 16 hex digits; ``at`` as in :meth:`counter_at`.
        """
        wanted = eid_hex.lower()
        if len(wanted) != 16 or not all(c in "0123456789abcdef" for c in wanted):
            raise ValueError(f"an EID is 16 hex digits, not {eid_hex!r}")
        counter = self.counter_at(at)
        if len(self._eids) > self._max_cached:
            self._eids.clear()
        for offset in _nearest_first(self._window):
            for tag_id, (key, exponent) in self._tags.items():
                period = (counter >> exponent) + offset
                if self._eid_of_period(tag_id, key, exponent, period) == wanted:
                    return tag_id
        return None

    def _eid_of_period(self, tag_id: str, key: bytes, exponent: int, period: int) -> str | None:
        if not 0 <= period << exponent < COUNTER_LIMIT:
            return None
        cached = self._eids.get((tag_id, period))
        if cached is None:
            cached = compute_eid(key, period << exponent, exponent).hex()
            self._eids[(tag_id, period)] = cached
        return cached


def eid_tags(tags: Iterable[Tag]) -> list[tuple[str, bytes, int]]:
    """``(tag id, identity key, K)`` of every ``eddystone_eid`` tag, for :class:`EidResolver`."""
    return [
        (tag.id, bytes.fromhex(tag.eid_identity_key), tag.eid_rotation_exponent)
        for tag in tags
        if tag.kind == "eddystone_eid" and tag.eid_identity_key is not None
    ]


def _nearest_first(window: int) -> list[int]:
    """0, -1, +1, -2, +2, ... up to +-window."""
    offsets = [0]
    for step in range(1, window + 1):
        offsets += [-step, step]
    return offsets
