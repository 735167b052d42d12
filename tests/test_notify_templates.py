# ruff: noqa: RUF001  (Japanese text uses full-width brackets on purpose)
"""Notice texts in Japanese and English, local times, stable event ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from analytics.watch.events import WatchEvent, WatchEventKind, make_event_id
from hub.notify.templates import render_broadcast, render_event, scope_name
from tests.notify_servers import watch_config

TOKYO = ZoneInfo("Asia/Tokyo")
CFG = watch_config()
HANA = next(c for c in CFG.children if c.id == "c-hana")
K = WatchEventKind


def event(kind: WatchEventKind, utc: str, station: str | None = None) -> WatchEvent:
    when = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    return WatchEvent.create(kind, "c-hana", when, station_id=station, school_id="naniwa-es")


@pytest.mark.parametrize(
    ("kind", "utc", "station", "ja", "en"),
    [
        (
            K.PASSED, "2026-04-13T22:42:05", "st-ward-office",
            "Hanaさんが浪速区役所前を07:42に通過しました。",
            "Hana passed the Naniwa ward office gate at 07:42.",
        ),
        (
            K.ARRIVED_SCHOOL, "2026-04-13T22:58:00", "gate-naniwa",
            "HanaさんがNaniwa Elementary Schoolに到着しました（07:58）。",
            "Hana arrived at Naniwa Elementary School at 07:58.",
        ),
        (
            K.LEFT_SCHOOL, "2026-04-14T06:05:00", "gate-naniwa",
            "HanaさんがNaniwa Elementary Schoolを出ました（15:05）。",
            "Hana left Naniwa Elementary School at 15:05.",
        ),
        (
            K.ENTERED_AREA, "2026-04-13T22:30:00", "st-crossing",
            "Hanaさんが千日前交差点から見守りエリアに入りました（07:30）。",
            "Hana entered the watch area at the Sennichimae crossing at 07:30.",
        ),
        (
            K.LEFT_AREA, "2026-04-14T07:10:00", "st-crossing",
            "Hanaさんが千日前交差点から見守りエリアを出ました（16:10）。",
            "Hana left the watch area at the Sennichimae crossing at 16:10.",
        ),
        (
            K.NOT_ARRIVED, "2026-04-13T23:15:00", None,
            "Hanaさんは08:15の時点でNaniwa Elementary Schoolに到着していません。",
            "Hana had not arrived at Naniwa Elementary School by 08:15.",
        ),
    ],
)  # fmt: skip
def test_every_kind_in_both_languages(
    kind: WatchEventKind, utc: str, station: str | None, ja: str, en: str
) -> None:
    e = event(kind, utc, station)
    assert render_event(e, HANA, CFG, "ja", TOKYO).text == ja
    assert render_event(e, HANA, CFG, "en", TOKYO).text == en


def test_subjects_and_unknown_station() -> None:
    e = event(K.PASSED, "2026-04-13T22:42:00", "st-gone")
    assert (
        render_event(e, HANA, CFG, "ja", TOKYO).text
        == "Hanaさんが見守りポイントを07:42に通過しました。"
    )
    assert render_event(e, HANA, CFG, "en", TOKYO).subject == "Child watch: Hana"
    urgent = render_event(event(K.NOT_ARRIVED, "2026-04-13T23:15:00"), HANA, CFG, "ja", TOKYO)
    assert urgent.subject == "【至急】見守り通知: Hanaさん"


def test_wrong_child_is_refused() -> None:
    mio = next(c for c in CFG.children if c.id == "c-mio")
    with pytest.raises(ValueError, match="c-hana"):
        render_event(event(K.PASSED, "2026-04-13T22:42:00"), mio, CFG, "en", TOKYO)


def test_broadcast_template() -> None:
    ja = render_broadcast(scope_name(CFG, "ward", "浪速区", "ja"), "避難所を開設しました。", "ja")
    assert ja.text == "【緊急・浪速区】避難所を開設しました。"
    en_scope = scope_name(CFG, "school", "naniwa-es", "en")
    en = render_broadcast(en_scope, "Shelters are open.", "en")
    assert en.text == "[Emergency: Naniwa Elementary School] Shelters are open."
    assert scope_name(CFG, "ward", "Naniwa", "en") == "Naniwa Ward"


def test_event_ids_are_stable_and_normalised_to_utc() -> None:
    jst = datetime(2026, 4, 14, 7, 42, 5, tzinfo=timezone(timedelta(hours=9)))
    utc = jst.astimezone(UTC)
    a = make_event_id(K.PASSED, "c-hana", jst, "st-ward-office")
    assert a == make_event_id(K.PASSED, "c-hana", utc, "st-ward-office")
    assert a == "c-hana:passed:st-ward-office:2026-04-13T22:42:05.000000+00:00"
    e = WatchEvent.create(K.NOT_ARRIVED, "c-hana", jst)
    assert e.event_id.startswith("c-hana:not_arrived:-:") and e.time.tzinfo == UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        WatchEvent.create(K.PASSED, "c-hana", datetime(2026, 4, 14, 7, 42))
