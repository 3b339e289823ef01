"""MOTChallenge files and track tables: round trips, parsing errors, the sequence layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilewise import Detections, TilewiseError
from tilewise.tracking import (
    format_mot,
    frames_to_table,
    parse_mot,
    read_mot,
    table_to_frames,
    write_mot,
    write_mot_sequence,
)


def _sorted(table: Detections) -> Detections:
    return table[np.lexsort((table.data["tracker_id"], table.data["frame"]))]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 40), st.booleans())
def test_write_read_round_trip_is_exact(tmp_path_factory: pytest.TempPathFactory, seed: int,
                                        n: int, quarter: bool) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-50, 4000, (n, 2)).astype(np.float32)
    wh = rng.uniform(0, 40, (n, 2)).astype(np.float32)
    if quarter:
        xy, wh = np.round(xy * 4) / 4, np.round(wh * 4) / 4
    table = Detections(
        np.concatenate([xy, xy + wh], axis=1),
        rng.random(n),
        data={"frame": rng.integers(0, 30, n), "tracker_id": rng.integers(1, 50, n)},
    )
    path = write_mot(tmp_path_factory.mktemp("mot") / "t.txt", table)
    assert read_mot(path) == _sorted(table)


def test_format_is_motchallenge() -> None:
    table = Detections(
        np.array([[10, 20, 18.5, 28], [0, 0, 4, 4], [1, 1, 2, 2]]),
        [0.9, 0.5, 0.7],
        data={"frame": [1, 0, 0], "tracker_id": [3, 8, -1]},
    )
    assert format_mot(table) == (
        "1,8,0.0,0.0,4.0,4.0,0.5,-1,-1,-1\n2,3,10.0,20.0,8.5,8.0,0.9,-1,-1,-1\n"
    )
    assert format_mot(table, unassigned=True).splitlines()[0] == "1,-1,1.0,1.0,1.0,1.0,0.7,-1,-1,-1"


def test_parse_accepts_motchallenge_variants() -> None:
    text = "# comment\n\n1,1,10,10,5,5\n2 1 11 10 5 5 0.5\n3,1,12,10,5,5,1,1,0.8\n"
    table = parse_mot(text)
    assert table.data["frame"].tolist() == [0, 1, 2]
    assert table.confidence.tolist() == [1.0, 0.5, 1.0]
    assert table.xyxy[2].tolist() == [12, 10, 17, 15]
    assert len(parse_mot("")) == 0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1,2,3\n", "6 to 10 values"),
        ("1,a,3,4,5,6\n", "not numbers"),
        ("0,1,3,4,5,6\n", "frame must be an integer >= 1"),
        ("1.5,1,3,4,5,6\n", "frame must be an integer"),
        ("1,1,3,4,-5,6\n", "w, h >= 0"),
        ("1,1,3,4,inf,6\n", "finite"),
    ],
)
def test_parse_errors_name_the_line(text: str, match: str) -> None:
    with pytest.raises(TilewiseError, match=match) as info:
        parse_mot("1,1,0,0,1,1\n" + text, source="gt.txt")
    assert "gt.txt:2" in str(info.value)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TilewiseError, match="not found"):
        read_mot(tmp_path / "nope.txt")


def test_frames_and_tables() -> None:
    f0 = Detections(np.array([[0, 0, 4, 4], [5, 5, 9, 9]]), data={"tracker_id": [2, -1]})
    f2 = Detections(np.array([[1, 1, 4, 4]]), data={"tracker_id": [2]})
    table = frames_to_table([f0, Detections.empty(), f2], start=10)
    assert table.data["frame"].tolist() == [10, 12]
    assert len(frames_to_table([f0], unassigned=True)) == 2
    plain = Detections(np.array([[0, 0, 4, 4]]))
    assert frames_to_table([plain], unassigned=True).data["tracker_id"].tolist() == [-1]
    with pytest.raises(TilewiseError, match="tracker_id"):
        frames_to_table([plain])
    per_frame = table_to_frames(frames_to_table([f0, Detections.empty(), f2]))
    assert [len(f) for f in per_frame] == [1, 0, 1]
    assert [len(f) for f in table_to_frames(frames_to_table([f0]), frames=3)] == [1, 0, 0]
    with pytest.raises(TilewiseError, match="outside"):
        table_to_frames(frames_to_table([f0, f2]), frames=1)
    with pytest.raises(TilewiseError, match="track table"):
        format_mot(Detections(np.array([[0, 0, 1, 1]])))


def test_write_sequence_layout(tmp_path: Path) -> None:
    frames = [np.full((32, 48, 3), v, np.uint8) for v in (10, 200)]
    gt = Detections(np.array([[1, 1, 5, 5]]), [0.3], data={"frame": [1], "tracker_id": [4]})
    root = write_mot_sequence(tmp_path / "seq", frames, gt, fps=25)
    assert sorted(p.name for p in (root / "img1").iterdir()) == ["000001.jpg", "000002.jpg"]
    assert (root / "gt" / "gt.txt").read_text() == "2,4,1.0,1.0,4.0,4.0,1.0,-1,-1,-1\n"
    info = (root / "seqinfo.ini").read_text()
    assert "seqLength = 2" in info
    assert "imWidth = 48" in info
    assert "frameRate = 25" in info
    with pytest.raises(TilewiseError, match="not empty"):
        write_mot_sequence(root, frames, gt)
