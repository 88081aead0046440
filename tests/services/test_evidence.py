"""The evidence summary of a candidate: verdict per metric, overlap and small-sample warnings."""

from webapp.services.evidence import switch_evidence


def comparison(**changes):
    base = {"file_name": "labelled.csv", "sha256": "b" * 64, "rows": 1200, "anomalous_rows": 300,
            "candidate": {"version": "v2", "f1": 0.80, "far": 0.02, "mar": 0.30},
            "active": {"version": "v1", "f1": 0.60, "far": 0.10, "mar": 0.25}}
    return {**base, **changes}


CANDIDATE = {"training_data": {"file_name": "normal.csv", "sha256": "a" * 64}}
ACTIVE = {"training_data": {"file_name": "old.csv", "sha256": "c" * 64}}


def test_what_improves_and_what_worsens_on_which_file():
    evidence = switch_evidence(CANDIDATE, ACTIVE, [comparison()], None)
    assert evidence["improves"] == ["f1", "far"] and evidence["worsens"] == ["mar"]
    verdicts = {m["metric"]: m["verdict"] for m in evidence["labelled"][0]["metrics"]}
    assert verdicts == {"f1": "better", "far": "better", "mar": "worse"}
    assert not evidence["weak"] and not evidence["none"]


def test_a_file_the_candidate_was_trained_on_is_named_even_under_another_name():
    same_content = comparison(file_name="renamed.csv", sha256="a" * 64)
    warnings = switch_evidence(CANDIDATE, ACTIVE, [same_content], None)["labelled"][0]["warnings"]
    assert warnings == [{"code": "overlap", "side": "candidate", "version": "v2",
                         "file": "renamed.csv"}]


def test_older_comparisons_without_a_hash_fall_back_on_the_file_name():
    older = comparison(file_name="normal.csv")
    del older["sha256"]
    assert switch_evidence(CANDIDATE, ACTIVE, [older], None)["weak"]


def test_small_samples_are_called_weak():
    evidence = switch_evidence(CANDIDATE, ACTIVE, [comparison(rows=300, anomalous_rows=12)], {
        "readings": 40, "agreement_rate": 0.9, "candidate": {"anomaly_rate": 0.1},
        "active": {"anomaly_rate": 0.05}})
    assert [w["code"] for w in evidence["labelled"][0]["warnings"]] == ["small_labelled"]
    assert [w["code"] for w in evidence["audit"]["warnings"]] == ["small_audit"]


def test_no_comparison_yet_says_so():
    assert switch_evidence(CANDIDATE, ACTIVE, [], None)["none"]
    assert switch_evidence(CANDIDATE, ACTIVE, [], {"error": "unloadable"})["none"]
