"""The notification tests' channels and a small child-watch configuration.

The servers are the stand-ins of ``app.demo.standins`` (a LINE push API that checks each
request as the documented endpoint would, a webhook receiver that verifies signatures, an
SMTP sink), with this module's test credentials.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from app.demo.standins import LineApi, SmtpSink, WebhookReceiver
from citytrack.config.watch import (
    Channel,
    Child,
    Guardian,
    NotifyConfig,
    School,
    Station,
    WatchConfig,
)

__all__ = [
    "LINE_TOKEN",
    "WEBHOOK_SECRET",
    "LineApi",
    "SmtpSink",
    "WebhookReceiver",
    "watch_config",
]

LINE_TOKEN = "test-channel-token"
WEBHOOK_SECRET = "whsec-test-secret"


def watch_config(webhook_url: str = "http://127.0.0.1:9/hook", **notify: Any) -> WatchConfig:
    """Two schools in two wards. Naniwa: Hana and Mio (siblings; Sato, LINE, Japanese),
    Yuto (Ito, e-mail, English). Chuo: Kenta (Tanaka, webhook, Japanese), Sora (both Ito
    and Tanaka). Quiet hours off unless given."""
    notify = {"quiet_start": time(0, 0), "quiet_end": time(0, 0), **notify}
    return WatchConfig(
        schools=[
            School(id="naniwa-es", name="Naniwa Elementary School", ward="Naniwa",
                   lat_deg=34.6622, lon_deg=135.4985),
            School(id="chuo-es", name="Chuo Elementary School", ward="Chuo",
                   lat_deg=34.6803, lon_deg=135.5094),
        ],
        stations=[
            Station(id="st-ward-office", name="Naniwa ward office gate", name_ja="浪速区役所前",
                    kind="roadside", ward="Naniwa", lat_deg=34.6594, lon_deg=135.4968),
            Station(id="st-crossing", name="Sennichimae crossing", name_ja="千日前交差点",
                    kind="roadside", ward="Naniwa", lat_deg=34.6595, lon_deg=135.4969),
            Station(id="gate-naniwa", name="Naniwa Elementary School gate",
                    name_ja="難波小学校の正門", kind="school_gate", school_id="naniwa-es",
                    ward="Naniwa", lat_deg=34.6620, lon_deg=135.4985),
        ],
        children=[
            Child(id="c-hana", name="Hana", school_id="naniwa-es", guardian_ids=["g-sato"]),
            Child(id="c-mio", name="Mio", school_id="naniwa-es", guardian_ids=["g-sato"]),
            Child(id="c-yuto", name="Yuto", school_id="naniwa-es", guardian_ids=["g-ito"]),
            Child(id="c-kenta", name="Kenta", school_id="chuo-es", guardian_ids=["g-tanaka"]),
            Child(id="c-sora", name="Sora", school_id="chuo-es",
                  guardian_ids=["g-ito", "g-tanaka"]),
        ],
        guardians=[
            Guardian(id="g-sato", name="Sato", language="ja",
                     channels=[Channel(kind="line", to="U" + "a" * 32)]),
            Guardian(id="g-ito", name="Ito", language="en",
                     channels=[Channel(kind="email", to="ito@example.jp")]),
            Guardian(id="g-tanaka", name="Tanaka", language="ja",
                     channels=[Channel(kind="webhook", to=webhook_url)]),
        ],
        notify=NotifyConfig(**notify),
    )  # fmt: skip
