"""Alarm logic (K of N open, M normal close), the alarm log and the /alarms page."""

import pytest

from webapp.services.alarms import (AlarmLog, AlarmPolicy, AlarmPolicyError, AlarmTracker, Verdict,
                                    format_duration, list_alarms, open_alarm_count,
                                    read_events)


def feed(tracker, flags, start=1, scores=None):
    """Feed readings (True = anomalous); returns [(reading number, event kind)]."""
    happened = []
    for offset, flag in enumerate(flags):
        number = start + offset
        score = scores[offset] if scores else (3.0 if flag else 0.2)
        verdict = Verdict(score, flag, ["Current", "Pressure"], "v1", reading_id=f"r{number}")
        happened += [(number, event["event"]) for event in tracker.update(verdict)]
    return happened


def tracker_for(k=3, n=5, m=4):
    return AlarmTracker(AlarmPolicy(k, n, m), "pump-1", "test-stream")


def test_alarm_opens_at_the_kth_anomalous_reading_among_the_last_n():
    tracker = tracker_for()
    # Readings 1..7: anomalies at 1, 4, 6: 1 has left the 5-window when 6 arrives.
    assert feed(tracker, [True, False, False, True, False, True, False]) == []
    assert feed(tracker, [True], start=8) == [(8, "open")]
    assert tracker.current["alarm_id"] == "r8"


def test_isolated_anomalies_never_open_an_alarm():
    assert feed(tracker_for(), [True, False, False, False, False] * 10) == []


def test_alarm_closes_after_m_normal_readings_in_a_row_only():
    tracker = tracker_for()
    assert feed(tracker, [True, True, True]) == [(3, "open")]
    # Three normal readings then an anomaly: the count of normal readings starts again.
    assert feed(tracker, [False, False, False, True], start=4) == []
    assert feed(tracker, [False, False, False, False], start=8) == [(11, "close")]
    assert tracker.current is None


def test_a_closed_alarm_does_not_reopen_from_anomalies_it_already_counted():
    tracker = tracker_for(k=2, n=10, m=2)
    assert feed(tracker, [True, True, False, False]) == [(2, "open"), (4, "close")]
    assert feed(tracker, [True], start=5) == []
    assert feed(tracker, [True], start=6) == [(6, "open")]


def test_peak_score_and_top_sensors_follow_the_highest_reading():
    tracker = tracker_for(k=2, n=3, m=1)
    events = []
    for score, top in ((5.0, ["Current"]), (7.0, ["Pressure"]), (9.0, ["Voltage"]),
                       (0.1, ["Current"])):
        events += tracker.update(Verdict(score, score > 1, top, "v1", reading_id=str(score)))
    opened, closed = events
    assert (opened["peak_score"], opened["top_sensors"]) == (7.0, "Pressure")
    assert (closed["peak_score"], closed["top_sensors"]) == (9.0, "Voltage")
    assert closed["alarm_id"] == opened["alarm_id"] and closed["closed_at"]


def test_tracker_state_survives_a_round_trip():
    first = tracker_for()
    feed(first, [True, True, True, False])
    second = tracker_for()
    second.restore(first.state())
    assert feed(second, [False, False, False], start=5) == [(7, "close")]


@pytest.mark.parametrize("k, n, m", [(0, 10, 30), (11, 10, 30), (5, 10, 0)])
def test_impossible_policies_are_refused(k, n, m):
    with pytest.raises(AlarmPolicyError):
        AlarmPolicy(k, n, m)


def write_alarm(logs, alarm_id, asset, opened_at, closed_at=None, source="s1"):
    """Append an open row (and a close row when closed_at) as the follower does."""
    base = {"alarm_id": alarm_id, "asset": asset, "opened_at": opened_at, "closed_at": "",
            "peak_score": 12.5, "top_sensors": "Current;Pressure", "model_version": "v1",
            "source": source, "file": "/data/pump.csv", "reading_opened_at": "2020-03-09 10:14:37",
            "reading_closed_at": "", "logged_at": opened_at}
    log = AlarmLog(logs, source)
    log.append([{**base, "event": "open"}])
    if closed_at:
        log.append([{**base, "event": "close", "closed_at": closed_at, "peak_score": 20.0}])


def test_the_log_joins_open_and_close_rows_and_lists_open_alarms_first(record_logs):
    assert open_alarm_count(record_logs) == 0
    write_alarm(record_logs, "a1", "pump-1", "2026-01-01T10:00:00.000Z",
                "2026-01-01T10:05:30.000Z")
    write_alarm(record_logs, "a2", "pump-2", "2026-01-01T09:00:00.000Z")
    assert open_alarm_count(record_logs) == 1
    write_alarm(record_logs, "a3", "pump-1", "2026-01-01T11:00:00.000Z",
                "2026-01-01T11:00:45.000Z")
    write_alarm(record_logs, "a4", "pump-1", "2026-01-01T12:00:00.000Z")
    assert open_alarm_count(record_logs) == 2  # the count follows the log, cache or not
    alarms = list_alarms(record_logs)
    assert [a.alarm_id for a in alarms] == ["a4", "a2", "a3", "a1"]
    assert alarms[3].peak_score == 20.0 and alarms[3].duration_seconds() == 330
    assert [a.alarm_id for a in list_alarms(record_logs, "pump-1")] == ["a4", "a3", "a1"]


def test_the_log_never_writes_the_same_event_twice(record_logs):
    write_alarm(record_logs, "a1", "pump-1", "2026-01-01T10:00:00.000Z",
                "2026-01-01T10:05:00.000Z")
    write_alarm(record_logs, "a1", "pump-1", "2026-01-01T10:00:01.000Z",
                "2026-01-01T10:05:01.000Z")
    assert [row["event"] for row in read_events(record_logs)] == ["open", "close"]


def test_the_file_store_keeps_one_alarms_csv(tmp_path):
    write_alarm(str(tmp_path), "a1", "pump-1", "2026-01-01T10:00:00.000Z",
                "2026-01-01T10:05:00.000Z")
    lines = (tmp_path / "alarms.csv").read_text().splitlines()
    assert len(lines) == 3  # header, open, close


@pytest.mark.parametrize("seconds, text", [(45, "45 s"), (725, "12 min 05 s"),
                                           (12_000, "3 h 20 min")])
def test_durations_read_naturally(seconds, text):
    assert format_duration(seconds) == text


def test_page_with_an_empty_log_says_there_is_no_alarm(login):
    page = login("operator").get("/alarms?asset=nope")
    assert page.status_code == 200
    assert 'id="no-alarms"' in page.get_data(as_text=True)


def test_page_lists_open_alarms_first_with_their_details_and_filters_by_asset(app, login):
    log_dir = app.config["LOG_DIR"]
    write_alarm(log_dir, "pump-1-abc-17", "pump-1", "2026-01-01T10:00:00.000Z",
                "2026-01-01T10:05:30.000Z")
    write_alarm(log_dir, "pump-2-def-40", "pump-2", "2026-01-01T09:00:00.000Z")
    client = login("operator")
    text = client.get("/alarms").get_data(as_text=True)
    assert text.index("pump-2-def-40") < text.index("pump-1-abc-17")
    for expected in ("2026-01-01 10:00:00", "2026-01-01 10:05:30", "5 min 30 s", "20",
                     "Courant moteur, Pression en sortie de pompe", "v1"):
        assert expected in text
    # French is the default language: the page and its labels are translated.
    for expected in ("Alarmes", "En cours", "Terminée", "Ouverte le", "Tous les équipements"):
        assert expected in text
    filtered = client.get("/alarms?asset=pump-1").get_data(as_text=True)
    assert "pump-1-abc-17" in filtered and "pump-2-def-40" not in filtered


def test_page_is_in_the_menu_for_operators_and_closed_to_visitors(client, login):
    assert client.get("/alarms").status_code == 302
    page = login("operator").get("/").get_data(as_text=True)
    assert 'href="/alarms"' in page


def test_page_shows_the_followed_streams_with_their_progress_and_rejected_lines(app, login,
                                                                                tmp_path):
    sensor_file = tmp_path / "pump.csv"
    header = "Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;" \
             "Voltage;Volume Flow RateRMS\n"
    sensor_file.write_text(header + "0.2;0.27;2.17;0.38;90.6;26.8;238.8;122.6\n"
                           + "0.2;0.27;abc;0.38;90.6;26.8;238.8;122.6\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["stream", str(sensor_file), "--asset", "pump-1",
                                                "--once"])
    assert result.exit_code == 0, result.output
    text = login("operator").get("/alarms").get_data(as_text=True)
    streams = text[text.index('id="streams"'):]
    assert ">pump.csv</code>" in streams  # the name an operator knows, not the server path
    assert str(tmp_path) not in streams and "errors.csv" not in streams
    assert '"Dernière ligne lue">3</td>' in streams  # the header is line 1
    assert "Dernière ligne lue" in streams
    assert "Flux suivis" in text
