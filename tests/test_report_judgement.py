"""The report's judgement on hand-made sweeps with a known answer: equivalence verdicts, the
budget check, the recommendation and the ranks across tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decoderlab.records import RunRecord, write_run_record
from decoderlab.report import main, write_report

SEEDS = (1, 2, 3, 4)
SEED_EFFECT = {1: 0.0, 2: 0.004, 3: -0.003, 4: 0.002}


def job(sweep: Path, num: int, decoder: str, seed: int, loss: float, params: int, **extra):
    """A successful run directory: its config (task, budget), overrides and record."""
    directory = sweep / str(num)
    (directory / ".hydra").mkdir(parents=True)
    task = extra.pop("task", "mnist")
    (directory / ".hydra" / "overrides.yaml").write_text(
        f"- model/decoder={decoder}\n- seed={seed}\n- task={task}\n"
    )
    (directory / ".hydra" / "config.yaml").write_text(
        f"task:\n  name: {task}\ndata:\n  train_size: 600\n  val_size: 200\n  test_size: 100\n"
        "  batch_size: 25\ntrainer:\n  max_epochs: 8\n"
    )
    record = RunRecord(
        decoder=decoder,
        seed=seed,
        status="ok",
        params=params,
        seconds_per_epoch=[1.0],
        test={"test/loss": loss, "test/cbe2": extra.pop("cbe2", 0.01 + 0.0001 * seed)},
        **extra,
    )
    write_run_record(directory, record)


def curve(floor: float, height: float, scale: float, seed: int) -> list[float]:
    epochs = np.arange(1, 9)
    return list(floor + height * np.exp(-epochs / scale) + SEED_EFFECT[seed])


@pytest.fixture
def judged_sweep(tmp_path) -> Path:
    """`big` is best on test loss; `small` is 0.5% behind it with tiny spread (equivalent at
    ±5%) and 3x cheaper; `tiny` is 30% behind (worse). On validation, `big` learns slowly
    and passes the others only in the last epochs: the ranking flips late."""
    sweep = tmp_path / "sweep"
    shapes = {"big": (0.088, 0.30, 1.5), "small": (0.0905, 0.05, 1.0), "tiny": (0.12, 0.05, 1.0)}
    offsets = {"big": 0.0, "small": 0.0005, "tiny": 0.03}
    params = {"big": 300_000, "small": 100_000, "tiny": 50_000}
    num = 0
    for decoder in shapes:
        for seed in SEEDS:
            noise = 0.00002 * ((seed + len(decoder)) % 3)
            loss = 0.1 + offsets[decoder] + SEED_EFFECT[seed] + noise
            history = {"val/loss": curve(*shapes[decoder], seed)}
            job(sweep, num, decoder, seed, loss, params[decoder], history=history)
            num += 1
    return sweep


def test_equivalence_budget_check_and_recommendation(judged_sweep):
    report = write_report(judged_sweep)
    markdown = report.markdown_path.read_text()
    outcomes = {c.decoder: c.outcome for c in report.verdicts.comparisons}
    assert outcomes == {
        "big": "best",
        "small": "equivalent to the best",
        "tiny": "worse than the best",
    }
    assert "TOST Holm p |" in markdown.split("## Verdicts on")[1].split("\n")[2]
    findings = markdown.split("## Findings")[1].split("\n## ")[0]
    assert "`small` is equivalent to it within ±0.005" in findings
    assert "**Recommendation: `small`.**" in findings
    assert "the one with the fewest parameters" in findings
    assert "left out: `tiny` (worse on test/loss)" in findings
    # the budget check: big was behind at epochs 4 and 6 and is best at epoch 8
    assert "**The verdicts are not settled at this budget.**" in findings
    section = markdown.split("## Budget check")[1].split("\n## ")[0]
    assert "| 8 (last) | 1.00 | `big` | |" in section
    assert "Try a budget of at least 16 epochs" in section
    assert (judged_sweep / "budget_check.png").is_file()
    assert "](budget_check.png)" in section


def test_no_recommendation_while_a_cheaper_decoder_is_inconclusive(tmp_path):
    """`small` swings ±0.02 around the best from seed to seed: inconclusive; nothing cheaper
    than `big` is shown equivalent, so the report recommends nothing and says why."""
    sweep = tmp_path / "sweep"
    for num, seed in enumerate(SEEDS):
        job(sweep, num, "big", seed, 0.1 + SEED_EFFECT[seed], 300_000)
        swing = 0.02 * (-1) ** seed
        job(sweep, 10 + num, "small", seed, 0.1005 + SEED_EFFECT[seed] + swing, 100_000)
    findings = write_report(sweep).markdown_path.read_text().split("## Findings")[1]
    assert "`small` is inconclusive with 4 seeds" in findings
    assert "**No recommendation yet.**" in findings
    assert "the cheaper `small` is inconclusive on `test/loss`" in findings


def test_ranks_across_tasks(tmp_path):
    """Three tasks, three decoders: `a` best everywhere, `c` worst everywhere."""
    sweep = tmp_path / "sweep"
    num = 0
    for task, scale in (("mnist", 1.0), ("reconstruction", 2.0), ("sr_x4", 3.0)):
        for decoder, loss in (("a", 0.10), ("b", 0.11), ("c", 0.12)):
            for seed in (1, 2):
                job(sweep, num, decoder, seed, scale * loss + 0.001 * seed, 1000, task=task)
                num += 1
    markdown = write_report(sweep).markdown_path.read_text()
    section = markdown.split("## Across tasks")[1].split("\n## ")[0]
    assert "| `a` | 1 | 1 | 1 | 1.00 |" in section
    assert "| `c` | 3 | 3 | 3 | 3.00 |" in section
    # Friedman: ranks 1, 2, 3 in all 3 tasks: chi2 = 12*3/(3*4) * (9 + 36 + 81 - 3*16*... )
    assert "χ² = 6," in section
    assert (sweep / "critical_difference.png").is_file()


def test_a_bad_equivalence_margin_exits_2(judged_sweep, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(judged_sweep), "--equivalence-margin", "2"])
    assert exit_info.value.code == 2
    assert "--equivalence-margin must be in (0, 1)" in capsys.readouterr().err
    assert not (judged_sweep / "report.md").exists()


def test_a_one_epoch_budget_says_there_is_nothing_to_check(tmp_path):
    sweep = tmp_path / "sweep"
    for num, seed in enumerate(SEEDS):
        for k, decoder in enumerate(("a", "b")):
            loss = 0.1 + 0.01 * k + SEED_EFFECT[seed]
            job(sweep, 10 * k + num, decoder, seed, loss, 1000, history={"val/loss": [loss]})
    markdown = write_report(sweep).markdown_path.read_text()
    assert "no earlier epoch to check the ranking against" in markdown
    assert not (sweep / "budget_check.png").exists()
