"""Tests of the event-level figures (webapp/services/events.py) and their place in `evaluate`."""

import os

import numpy as np
import pytest

from webapp.services.alarms import AlarmPolicy, AlarmTracker, Verdict
from webapp.services.evaluation import evaluate_paths, load_labelled_frame
from webapp.services.events import (
    Span,
    alarm_spans,
    episodes,
    event_counts,
    pool_counts,
    summarise,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKAB = os.path.join(ROOT, "data", "skab")
# Open at 2 anomalous of the last 3 readings, close after 2 normal in a row.
POLICY = AlarmPolicy(2, 3, 2)


def flags(text):
    """'..xx.' -> [0, 0, 1, 1, 0]: readable verdict and label sequences."""
    return np.array([char == "x" for char in text], dtype=int)


def test_episodes_are_runs_of_anomalous_labels():
    assert episodes(flags("..xx...x")) == [Span(2, 4), Span(7, 8)]
    assert episodes(flags("....")) == []
    assert episodes(flags("xx")) == [Span(0, 2)]


def test_alarm_spans_follow_the_stream_trackers_events():
    verdicts = flags(".x.x..xx.....x")
    tracker = AlarmTracker(POLICY, asset="a", source="s")
    events = []
    for index, anomalous in enumerate(verdicts):
        verdict = Verdict(float(anomalous), bool(anomalous), [], "v", reading_id=str(index))
        events += [(event["event"], index) for event in tracker.update(verdict)]
    assert events == [("open", 3), ("close", 5), ("open", 7), ("close", 9)]
    assert alarm_spans(verdicts, POLICY) == [Span(3, 5), Span(7, 9)]


def test_an_alarm_never_closed_runs_to_the_end():
    assert alarm_spans(flags("..xxx."), POLICY) == [Span(3, 6)]


def test_detection_delay_false_alarms_and_overrun():
    labels = flags("....xxxxx......" + "." * 20)
    verdicts = flags(".x.x.....xx....." + "." * 9 + "xx" + "." * 8)
    counts = event_counts(labels, verdicts, POLICY, seconds_per_reading=2.0)
    # Alarm 1 (3..5) opens before the episode and covers its first reading; alarm 2 opens
    # on reading 10, after the episode: a false alarm; alarm 3 (26..28) too.
    assert counts["episodes"] == 1 and counts["detected"] == 1
    assert counts["delays"] == [0.0]
    assert counts["alarms"] == 3 and counts["false_alarms"] == 2
    assert counts["open_after_end"] == 0
    assert counts["normal_hours"] == pytest.approx(30 * 2.0 / 3600)


def test_late_detection_and_an_alarm_open_after_the_episode():
    labels = flags("..xxxxxx......")
    verdicts = flags("....xxxx......")
    counts = event_counts(labels, verdicts, POLICY)
    # Opens on reading 5 (2 of the last 3 anomalous), episode began on reading 2: 3 s late.
    assert counts["delays"] == [3.0]
    # Open on the episode's last reading (7); closes on reading 9 (2 normal in a row).
    assert counts["open_after_end"] == 1 and counts["overruns"] == [1.0]
    assert counts["false_alarms"] == 0 and counts["never_closed"] == 0


def test_missed_episode_and_figures_of_pooled_files():
    missed = event_counts(flags("..xx.."), flags("......"), POLICY)
    caught = event_counts(flags("..xx" + "." * 3598), flags("..xx" + "." * 3598), POLICY)
    assert missed["detected"] == 0 and missed["delays"] == []
    figures = summarise(pool_counts([missed, caught]))
    assert figures["episodes"] == 2 and figures["detected"] == 1
    assert figures["detected_share"] == 0.5
    assert figures["delay_median_s"] == figures["delay_worst_s"] == 1.0
    assert figures["false_alarms_per_hour"] == 0.0
    assert summarise(missed)["delay_median_s"] is None


def test_labels_and_verdicts_must_align():
    with pytest.raises(ValueError):
        event_counts([0, 1], [0], POLICY)


def test_evaluate_reports_events_of_each_file_and_pooled():
    files = [os.path.join(SKAB, "valve1", "1.csv"), os.path.join(SKAB, "other", "9.csv")]
    evaluation = evaluate_paths(files, 400, policy=AlarmPolicy())
    for path, result in zip(files, evaluation.files, strict=True):
        labels = load_labelled_frame(path)[1][400:]
        assert result.event_counts == event_counts(labels, result.verdicts, AlarmPolicy())
        assert result.events["episodes"] == 1
    pooled = evaluation.pooled_events
    assert pooled["episodes"] == 2
    assert pooled["detected"] == sum(f.events["detected"] for f in evaluation.files)


def test_cli_prints_the_alarm_table(runner):
    result = runner.invoke(args=["evaluate", "--data", os.path.join(SKAB, "valve1", "1.csv")])
    assert result.exit_code == 0, result.output
    assert "open at 5 anomalous of 10 readings, close after 30 normal" in result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith("pooled")]
    assert len(rows) == 2 and rows[1][3:5] == ["1", "1"]


def test_alarms_are_causal():
    # An alarm's opening and closing depend only on the verdicts up to that reading: the
    # alarms of a prefix are those of the whole sequence, cut at the prefix's end.
    verdicts = np.random.default_rng(5).random(400) < 0.3
    whole = alarm_spans(verdicts, POLICY)
    for cut in (50, 123, 250, 399):
        expected = [Span(span.start, min(span.end, cut)) for span in whole if span.start < cut]
        assert alarm_spans(verdicts[:cut], POLICY) == expected
