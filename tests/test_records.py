"""metrics.json and race.json through their typed definitions: written and read back, records of
the landed format (no schema_version) still load, other versions and other programs' files are
refused with the file named."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from decoderlab.records import (
    METRICS_FILE,
    RACE_FILE,
    ForeignRecordError,
    RaceRecord,
    RecordError,
    RecordVersionError,
    RunRecord,
    read_race_record,
    read_run_record,
    write_race_record,
    write_run_record,
)
from decoderlab.stats.racing import Race, RaceSettings
from tests.test_race_rounds import noise, run_race

# written by the landed main (before records carried producer and schema_version): a tiny
# compare_decoders run's metrics.json and a racing sweep's race.json, unedited
LANDED = Path(__file__).parent / "records"


def place(tmp_path: Path, source: str, name: str) -> Path:
    shutil.copy(LANDED / source, tmp_path / name)
    return tmp_path


def test_a_run_record_of_the_landed_format_loads_with_every_field(tmp_path):
    raw = json.loads((LANDED / "metrics_v1.json").read_text())
    assert "schema_version" not in raw and "producer" not in raw

    record = read_run_record(place(tmp_path, "metrics_v1.json", METRICS_FILE))

    assert (record.decoder, record.seed, record.status) == ("resize_conv_nearest", 1, "ok")
    assert record.config_hash == raw["config_hash"] and record.versions == raw["versions"]
    assert record.params == raw["params"] and record.threads == raw["threads"]
    assert (record.val, record.test, record.ffcr) == (raw["val"], raw["test"], raw["ffcr"])
    assert record.history == raw["history"]
    assert record.seconds_per_epoch == raw["seconds_per_epoch"]
    assert record.wall_s == raw["wall_s"] and record.extra == {}


def test_a_run_record_written_is_read_back_the_same_and_says_it_is_decoderlabs(tmp_path):
    record = RunRecord(
        status="ok",
        seed=3,
        decoder="d",
        test={"test/loss": 0.25, "test/cbe2": math.nan},
        history={"val/loss": [0.5, 0.4]},
        extra={"sizes": {"train": 100}},  # a field this version does not know survives
    )
    write_run_record(tmp_path, record)

    raw = json.loads((tmp_path / METRICS_FILE).read_text())
    assert (raw["producer"], raw["schema_version"]) == ("decoderlab", 2)
    assert raw["test"]["test/cbe2"] is None and raw["sizes"] == {"train": 100}
    expected = RunRecord(**{**record.__dict__, "test": {"test/loss": 0.25, "test/cbe2": None}})
    assert read_run_record(tmp_path) == expected


def write(tmp_path: Path, content: dict, name: str = METRICS_FILE) -> Path:
    (tmp_path / name).write_text(json.dumps(content))
    return tmp_path


def test_a_record_of_another_schema_version_names_the_file_and_the_versions_read(tmp_path):
    content = {"producer": "decoderlab", "schema_version": 7, "status": "ok", "seed": 1}
    with pytest.raises(RecordVersionError) as info:
        read_run_record(write(tmp_path, content))
    message = str(info.value)
    assert str(tmp_path / METRICS_FILE) in message
    assert "schema_version 7" in message and "schema versions 1, 2" in message


@pytest.mark.parametrize(
    "content",
    [
        {"decoder": "unet", "test": {"test/loss": "0.5"}},  # another tool's metrics.json
        {"producer": "other-tool", "schema_version": 2, "status": "ok", "seed": 1},
        [0.5, 0.6],
    ],
)
def test_a_metrics_json_decoderlab_did_not_write_is_foreign(tmp_path, content):
    with pytest.raises(ForeignRecordError, match="not a decoderlab|not decoderlab's") as info:
        read_run_record(write(tmp_path, content))
    assert str(tmp_path / METRICS_FILE) in str(info.value)


def test_a_field_of_the_wrong_type_is_named_with_what_is_allowed(tmp_path):
    content = {
        "producer": "decoderlab",
        "schema_version": 2,
        "status": "ok",
        "seed": 1,
        "test": {"test/loss": "0.5"},
    }
    with pytest.raises(RecordError, match=r"field 'test' is .*metric name -> number or null"):
        read_run_record(write(tmp_path, content))
    content.update(test={}, status="done")
    with pytest.raises(RecordError, match="field 'status' is 'done'; it must be one of running"):
        read_run_record(write(tmp_path, content))


def test_a_race_record_of_the_landed_format_loads(tmp_path):
    raw = json.loads((LANDED / "race_v1.json").read_text())
    assert "schema_version" not in raw

    race = read_race_record(place(tmp_path, "race_v1.json", RACE_FILE))

    assert race.knobs.metric == raw["knobs"]["metric"] == "test/loss"
    assert race.knobs.initial_seeds == raw["knobs"]["initial_seeds"]
    assert (race.jobs_run, race.best, race.stop_reason) == (
        raw["jobs_run"],
        raw["best"],
        raw["stop_reason"],
    )
    assert [[j.job for j in r.jobs] for r in race.rounds] == [
        [j["job"] for j in r["jobs"]] for r in raw["rounds"]
    ]
    for label, candidate in race.candidates.items():
        listed = raw["candidates"][label]
        assert candidate.values == {int(s): v for s, v in listed["values"].items()}
        assert (candidate.overrides, candidate.decoder) == (listed["overrides"], listed["decoder"])


def test_a_race_record_written_is_read_back_the_same(tmp_path):
    race = Race(["good", "bad", "fails"], RaceSettings(initial_seeds=3, max_seeds=6))
    run_race(
        race,
        lambda c, s: s + (0.0 if c == "good" else 1.0 + 0.01 * noise(c, s)),
        fails={("fails", s) for s in (1, 2, 3)},
    )
    record = race.state()
    record.candidates["good"].decoder = "good_block"

    write_race_record(tmp_path, record)

    raw = json.loads((tmp_path / RACE_FILE).read_text())
    assert (raw["producer"], raw["schema_version"]) == ("decoderlab", 2)
    assert raw["candidates"]["fails"]["failed_seeds"].keys() == {"1", "2", "3"}
    again = read_race_record(tmp_path)
    assert isinstance(again, RaceRecord) and again == record
    assert [d.action for d in again.rounds[0].decisions] == ["failed", "dropped"]


def test_a_race_record_of_another_version_or_shape_is_refused(tmp_path):
    raw = json.loads((LANDED / "race_v1.json").read_text())
    with pytest.raises(RecordVersionError, match="schema_version 9"):
        read_race_record(
            write(tmp_path, {"producer": "decoderlab", "schema_version": 9}, RACE_FILE)
        )
    del raw["candidates"][next(iter(raw["candidates"]))]["status"]
    with pytest.raises(RecordError, match=str(tmp_path / RACE_FILE)):
        read_race_record(write(tmp_path, raw, RACE_FILE))
