"""``TrackerConfig`` from plain values and files, as ``--tracker-config`` reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise.errors import TilewiseError
from tilewise.tracking import TrackerConfig
from tilewise.tracking.motion import MotionNoise


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"min_travl": 0.5}, "unknown tracker parameter(s) min_travl; expected some of"),
        ({"noise": {"acel_std": 1}}, "unknown noise parameter(s) acel_std"),
        ({"noise": 3}, "noise must be a mapping, got int"),
        ({"min_hits": "2"}, "min_hits must be an int >= 0, got '2'"),
        ({"gate": "wide"}, "could not convert string to float"),
        ({"class_agnostic": "true"}, "class_agnostic must be true or false, got 'true'"),
        ({"class_vote": 1}, "class_vote must be true or false, got 1"),
        ({"min_travel": -1}, "min_travel must be a finite number >= 0"),
        ({"lost_birth_iou": 0}, "lost_birth_iou must be in (0, 1]"),
        ({"noise": {"measure_std": 0, "measure_std_px": 0}}, "needs measure_std or"),
        ([1, 2], "tracker settings must be a mapping, got list"),
    ],
)
def test_from_dict_refuses_with_a_clear_error(values, message: str) -> None:
    with pytest.raises(TilewiseError) as info:
        TrackerConfig.from_dict(values)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, TrackerConfig()),
        ({"min_travel": 0.5, "lost_birth_iou": 0.1},
         TrackerConfig(min_travel=0.5, lost_birth_iou=0.1)),
        ({"class_vote": True, "min_hits": 1}, TrackerConfig(class_vote=True, min_hits=1)),
        ({"noise": {"measure_std": 0.1}}, TrackerConfig(noise=MotionNoise(measure_std=0.1))),
        ({"noise": MotionNoise(accel_std=0.2)}, TrackerConfig(noise=MotionNoise(accel_std=0.2))),
    ],
)  # fmt: skip
def test_from_dict_table(values: dict, expected: TrackerConfig) -> None:
    assert TrackerConfig.from_dict(values) == expected


@settings(max_examples=100, deadline=None)
@given(
    high=st.floats(0.1, 1.0),
    low_fraction=st.floats(0.0, 1.0),
    min_hits=st.integers(0, 5),
    min_travel=st.floats(0.0, 5.0),
    lost_birth_iou=st.floats(0.01, 1.0),
    class_vote=st.booleans(),
    measure_std=st.floats(0.01, 1.0),
)
def test_to_dict_json_from_dict_round_trip(
    high, low_fraction, min_hits, min_travel, lost_birth_iou, class_vote, measure_std
) -> None:
    config = TrackerConfig(
        high_threshold=high,
        low_threshold=high * low_fraction,
        min_hits=min_hits,
        min_travel=min_travel,
        lost_birth_iou=lost_birth_iou,
        class_vote=class_vote,
        noise=MotionNoise(measure_std=measure_std),
    )
    assert TrackerConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_from_file_reads_settings_or_a_video_report(tmp_path: Path) -> None:
    chosen = TrackerConfig(min_travel=0.5, lost_birth_iou=0.1, confirm_mean=0.0)
    plain = tmp_path / "tracker.json"
    plain.write_text(json.dumps({"min_travel": 0.5, "lost_birth_iou": 0.1, "confirm_mean": 0}))
    assert TrackerConfig.from_file(plain) == chosen
    report = tmp_path / "clip.report.json"
    report.write_text(json.dumps({"frames_processed": 3, "tracker": chosen.to_dict()}))
    assert TrackerConfig.from_file(report) == chosen
    (tmp_path / "bad.json").write_text("{min_travel: 0.5}")
    with pytest.raises(TilewiseError, match=r"cannot read tracker settings from .*bad\.json"):
        TrackerConfig.from_file(tmp_path / "bad.json")
    with pytest.raises(TilewiseError, match="cannot read tracker settings"):
        TrackerConfig.from_file(tmp_path / "missing.json")
    (tmp_path / "typo.json").write_text(json.dumps({"min_travl": 1}))
    with pytest.raises(TilewiseError, match=r"typo.json: unknown tracker parameter\(s\) min_travl"):
        TrackerConfig.from_file(tmp_path / "typo.json")
