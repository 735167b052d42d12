# ruff: noqa: RUF001  (Japanese text uses full-width brackets on purpose)
"""Notice texts, Japanese and English, one template per event kind (pure).

Times are shown as ``HH:MM`` in the city's local time. Station names come from
``Station.name_ja`` (Japanese; ``Station.name`` when empty) and ``Station.name``
(English, written to follow "the": "passed the Naniwa ward office gate"). Schools have
one name, ``School.name``, used in both languages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from analytics.watch.events import WatchEvent, WatchEventKind
from citytrack.config.watch import Child, WatchConfig

Language = Literal["ja", "en"]

LINE_TEXT_MAX = 5000  # LINE text message limit, characters

_EVENT_TEMPLATES: dict[WatchEventKind, dict[Language, str]] = {
    WatchEventKind.PASSED: {
        "ja": "{child}さんが{station}を{hhmm}に通過しました。",
        "en": "{child} passed the {station} at {hhmm}.",
    },
    WatchEventKind.ARRIVED_SCHOOL: {
        "ja": "{child}さんが{school}に到着しました（{hhmm}）。",
        "en": "{child} arrived at {school} at {hhmm}.",
    },
    WatchEventKind.LEFT_SCHOOL: {
        "ja": "{child}さんが{school}を出ました（{hhmm}）。",
        "en": "{child} left {school} at {hhmm}.",
    },
    WatchEventKind.ENTERED_AREA: {
        "ja": "{child}さんが{station}から見守りエリアに入りました（{hhmm}）。",
        "en": "{child} entered the watch area at the {station} at {hhmm}.",
    },
    WatchEventKind.LEFT_AREA: {
        "ja": "{child}さんが{station}から見守りエリアを出ました（{hhmm}）。",
        "en": "{child} left the watch area at the {station} at {hhmm}.",
    },
    WatchEventKind.NOT_ARRIVED: {
        "ja": "{child}さんは{hhmm}の時点で{school}に到着していません。",
        "en": "{child} had not arrived at {school} by {hhmm}.",
    },
}

_SUBJECTS: dict[Language, str] = {"ja": "見守り通知: {child}さん", "en": "Child watch: {child}"}
_URGENT_SUBJECTS: dict[Language, str] = {
    "ja": "【至急】見守り通知: {child}さん",
    "en": "[Urgent] Child watch: {child}",
}
_EMERGENCY: dict[Language, str] = {
    "ja": "【緊急・{scope}】{text}",
    "en": "[Emergency: {scope}] {text}",
}
_EMERGENCY_SUBJECTS: dict[Language, str] = {
    "ja": "【緊急】{scope}からのお知らせ",
    "en": "[Emergency] Notice from {scope}",
}
_UNKNOWN_STATION: dict[Language, str] = {"ja": "見守りポイント", "en": "watch point"}
_UNKNOWN_SCHOOL: dict[Language, str] = {"ja": "学校", "en": "school"}
_WARD_SCOPE: dict[Language, str] = {"ja": "{ward}区", "en": "{ward} Ward"}


@dataclass(frozen=True)
class Rendered:
    """A notice's text and a subject line (e-mail), both plain Unicode."""

    subject: str
    text: str


def local_hhmm(time: datetime, tz: tzinfo) -> str:
    """``HH:MM`` of an aware ``time`` in ``tz``. Raises ValueError on a naive time."""
    if time.utcoffset() is None:
        raise ValueError(f"time must be timezone-aware, got {time!r}")
    return time.astimezone(tz).strftime("%H:%M")


def _station_name(cfg: WatchConfig, station_id: str | None, language: Language) -> str:
    station = cfg.station(station_id) if station_id else None
    if station is None:
        return _UNKNOWN_STATION[language]
    return (station.name_ja or station.name) if language == "ja" else station.name


def _school_name(cfg: WatchConfig, school_id: str | None, language: Language) -> str:
    school = next((s for s in cfg.schools if s.id == school_id), None)
    if school is None:
        return _UNKNOWN_SCHOOL[language]
    return (school.name_ja or school.name) if language == "ja" else school.name


def render_event(
    event: WatchEvent, child: Child, cfg: WatchConfig, language: Language, tz: tzinfo
) -> Rendered:
    """The notice for ``event`` about ``child`` in ``language``, times in ``tz``.

    The school is the event's ``school_id``, else the child's school. An unknown or
    missing station reads as "watch point" / 見守りポイント.

    Raises:
        ValueError: ``child`` is not the event's child.
    """
    if child.id != event.child_id:
        raise ValueError(f"event {event.event_id} is about {event.child_id}, not {child.id}")
    text = _EVENT_TEMPLATES[event.kind][language].format(
        child=child.name,
        station=_station_name(cfg, event.station_id, language),
        school=_school_name(cfg, event.school_id or child.school_id, language),
        hhmm=local_hhmm(event.time, tz),
    )
    subjects = _URGENT_SUBJECTS if event.kind == WatchEventKind.NOT_ARRIVED else _SUBJECTS
    return Rendered(subject=subjects[language].format(child=child.name), text=text)


def scope_name(
    cfg: WatchConfig, scope: Literal["school", "ward"], scope_id: str, language: Language
) -> str:
    """Display name of a broadcast's scope: the school's name, or "Naniwa Ward" / 浪速区.

    Wards are named by their ``School.ward`` value; the Japanese form appends 区 unless
    the name already ends with it.
    """
    if scope == "school":
        return _school_name(cfg, scope_id, language)
    if language == "ja" and scope_id.endswith("区"):
        return scope_id
    return _WARD_SCOPE[language].format(ward=scope_id)


def render_broadcast(scope: str, text: str, language: Language) -> Rendered:
    """An emergency broadcast: the city's ``text`` headed with the scope's name."""
    return Rendered(
        subject=_EMERGENCY_SUBJECTS[language].format(scope=scope),
        text=_EMERGENCY[language].format(scope=scope, text=text),
    )
