"""The live verdict's benchmark end to end on a few labelled runs: the table, the files and the labels it scores."""

from __future__ import annotations

import json

import pytest

from benchmarks import convergence, verdict
from minimax.eval.live import VERDICTS


def test_verdict_benchmark_scores_atlas_and_neural_runs(tmp_path, capsys) -> None:
    out = tmp_path / "verdict"
    result = verdict.main(["--atlas-lines", "3", "--seeds", "1", "--iterations", "60", "--ring8-iterations", "60",
                           "--no-progress", "--out", str(out)])  # fmt: skip
    rows = result["rows"]
    assert [r["set"] for r in rows] == ["atlas"] * 3 + ["Normal1D"] * len(verdict.NEURAL) + ["Ring8"] * len(verdict.RING8)
    assert all(r["label"] in (*VERDICTS, None) for r in rows)
    for row, case in zip(rows, convergence.atlas()[:3]):  # each atlas line is labelled by the atlas's own verdict
        assert row["run"] == f"{case.game} · {case.label}"
        assert row["label"] == verdict.LABELS[convergence.run_case(case, None)["observed"]]
    assert all(r["verdict"] in VERDICTS for r in rows)
    assert all(r["decided"] is None or 0 <= r["decided"] <= 1 for r in rows)
    text = (out / "results.md").read_text()
    assert f"{len(rows)} runs" in text and "| atlas | 3 |" in text and text in capsys.readouterr().out
    assert len(json.loads((out / "results.json").read_text())["rows"]) == len(rows)


@pytest.mark.parametrize("argv, message", [(["--atlas-lines", "0"], "--atlas-lines must be >= 1, got 0"),
                                           (["--iterations", "59"], "--iterations must be at least 60"),
                                           (["--ring8-iterations", "10"], "--ring8-iterations must be at least 60")])  # fmt: skip
def test_verdict_benchmark_refuses_bad_options(argv, message, capsys) -> None:
    with pytest.raises(SystemExit):
        verdict.parse_args(argv)
    assert message in capsys.readouterr().err
