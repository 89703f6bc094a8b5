"""The report's "Race" section from a race.json (``race_section``)."""

from __future__ import annotations

import json

from decoderlab.records import RaceRecord, race_record_from_json
from decoderlab.report.race import race_section
from decoderlab.stats.racing import Race, RaceSettings
from tests.test_race_rounds import noise, run_race


def race_json(race: Race) -> RaceRecord:
    """race.json as the sweeper writes it (the race's state plus overrides and decoder) and the
    report reads it back, through JSON (seed keys become strings)."""
    record = race.state()
    for name, entry in record.candidates.items():
        entry.overrides, entry.decoder = [f"model/decoder={name}"], f"{name}_block"
    return race_record_from_json(json.loads(json.dumps(record.to_json())))


def rows(section: str) -> dict[str, list[str]]:
    """Table rows of the section by candidate: the cells after the candidate's."""
    found = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            found[cells[0].strip("`")] = cells[1:]
    return found


def test_a_race_with_a_winner_shows_the_drops_with_round_and_holm_p():
    race = Race(["good", "bad", "fails"], RaceSettings(initial_seeds=3, max_seeds=6))
    run_race(
        race,
        lambda c, s: s + (0.0 if c == "good" else 1.0 + 0.01 * noise(c, s)),
        fails={("fails", s) for s in (1, 2, 3)},
    )
    dropped = race.candidates["bad"].decision

    section = race_section(race_json(race))

    assert section.startswith("## Race\n")
    table = rows(section)
    assert table["good"] == ["good_block", "3", "0", "2", "**winner**"]
    assert table["bad"][:3] == ["bad_block", "3", "0"]
    assert table["bad"][4] == (
        f"dropped in round 1 (Holm p = {dropped.p_holm:.3g}, {dropped.difference:+.4g} vs the best)"
    )
    assert table["fails"] == [
        "fails_block",
        "3",
        "3",
        "–",
        "failed in round 1 (no seed gave a result)",
    ]
    assert list(table) == ["good", "bad", "fails"]  # winner, drops, failures
    assert "The race stopped after round 1 (9 jobs): one candidate was left, `good`" in section


def test_survivors_at_max_seeds_are_named_with_the_best():
    race = Race(["a", "b"], RaceSettings(initial_seeds=2, max_seeds=3))
    run_race(race, noise)
    best = race.best

    section = race_section(race_json(race))

    table = rows(section)
    assert table[best][-1] == "survived, best mean"
    assert table[({"a", "b"} - {best}).pop()][-1] == "survived"
    assert (
        f"stopped after round 2 (6 jobs) at max_seeds = 3: the other survivor was not "
        f"distinguishable from the best, `{best}`, on test/loss at α = 0.05." in section
    )
    three = Race(["a", "b", "c"], RaceSettings(initial_seeds=2, max_seeds=3))
    run_race(three, lambda c, s: s + 0.01 * noise(c, s))
    assert "the 2 other survivors were not distinguishable from the best" in race_section(
        race_json(three)
    )


def test_an_unfinished_race_says_so():
    race = Race(["a", "b"], RaceSettings(initial_seeds=2, max_seeds=4))
    jobs = race.next_round()
    race.record({j: noise(*j) for j in jobs}, {})
    race.next_round()  # round 2 launched, never recorded

    section = race_section(race_json(race))

    assert "The race did not finish: round 2 was running (4 jobs recorded)" in section
    assert rows(section)["a"][-1] == "racing (unfinished)"


def test_a_one_round_race_is_described_as_one_round():
    race = Race(["a", "b", "c"], RaceSettings(initial_seeds=2, max_seeds=2))
    run_race(race, lambda c, s: s + 0.01 * noise(c, s))
    section = race_section(race_json(race))
    assert "2 seeds per candidate in one round." in section
    assert "up to" not in section and "more per round" not in section
    longer = Race(["a", "b", "c"], RaceSettings(initial_seeds=2, max_seeds=4))
    run_race(longer, lambda c, s: s + 0.01 * noise(c, s))
    assert "then 1 more per round for the survivors, up to 4 seeds." in race_section(
        race_json(longer)
    )
