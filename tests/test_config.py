"""Typed configuration: the shipped city loads; bad files get one clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from citytrack.config import ConfigError, load_config
from citytrack.config.reference import reference_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_osaka_config_loads_and_resolves_references() -> None:
    cfg = load_config(ROOT / "config" / "osaka.toml")
    assert len(cfg.city.trucks) == 5
    assert any(z.kind == "school_zone" and z.limit_kmh == 30 for z in cfg.city.speed_zones)
    places = cfg.city.place_ids()
    for truck in cfg.city.trucks:
        assert truck.vehicle_class in cfg.city.vehicle_classes
        assert all(isinstance(s, tuple) or s in places for s in truck.route)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    text = (
        (ROOT / "config" / "osaka.toml").read_text().replace("[hub]\n", "[hub]\nbatch_maxx = 3\n")
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert err.value.key == "hub.batch_maxx"
    assert str(tmp_path / "c.toml") in str(err.value)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    text = (
        (ROOT / "config" / "osaka.toml")
        .read_text()
        .replace("default_road_limit_kmh = 60", 'default_road_limit_kmh = "fast"')
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert err.value.key == "city.default_road_limit_kmh"


def test_an_unknown_time_zone_is_refused_at_load(tmp_path: Path) -> None:
    osaka = (ROOT / "config" / "osaka.toml").read_text()
    assert 'timezone = "Asia/Tokyo"' in osaka
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, osaka.replace('"Asia/Tokyo"', '"Asia/Tokio"')))
    assert err.value.key == "city.timezone"
    assert str(err.value).endswith(
        "city.timezone: unknown time zone 'Asia/Tokio': give an IANA name such as 'Asia/Tokyo'"
    )


def test_dangling_reference_is_an_error(tmp_path: Path) -> None:
    text = (
        (ROOT / "config" / "osaka.toml")
        .read_text()
        .replace('135.4960], "cp-01"', '135.4960], "cp-99"')
    )
    with pytest.raises(ConfigError, match="cp-99"):
        load_config(write(tmp_path, text))


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[city\n"))


def test_readme_configuration_reference_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- config-reference:start -->\n") + len(
        "<!-- config-reference:start -->\n"
    )
    end = readme.index("<!-- config-reference:end -->")
    assert readme[start:end] == reference_markdown(), "run: python -m citytrack.config.reference"
