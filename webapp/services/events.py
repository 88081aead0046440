"""Event-level detection figures: labelled anomaly episodes against the stream follower's alarms.

Reading-level F1 counts readings; a maintenance team counts episodes and alarms.  Here the
verdicts of a labelled recording, in time order, are fed one by one to the stream follower's
own `AlarmTracker` (K anomalous of the last N readings open an alarm, M normal in a row close
it), and the resulting alarms are compared with the labelled anomaly episodes (runs of
consecutive anomalous labels):

* an episode is detected when an alarm is open at one of its readings; its delay is the time
  from its first reading to the first of its readings with an alarm open (0 when an alarm
  was already open as it began);
* a false alarm is an alarm whose open span touches no episode;
* an alarm "still open after the episode" is one open on the episode's last reading; its
  overrun is the time from the episode's end to the alarm's closing (usually about M
  readings or more, since M normal verdicts in a row close it; less when the episode's last
  readings were already judged normal), or to the end of the recording when it never
  closes there.

Times are in readings times `seconds_per_reading` (SKAB records one reading a second).
"""

from dataclasses import dataclass

import numpy as np

from webapp.services.alarms import AlarmPolicy, AlarmTracker, Verdict


@dataclass(frozen=True)
class Span:
    """Readings start .. end - 1 of a recording (end is exclusive)."""

    start: int
    end: int

    def touches(self, other):
        return self.start < other.end and other.start < self.end


def episodes(labels):
    """The labelled anomaly episodes: one Span per run of consecutive 1 labels."""
    flags = np.asarray(labels, dtype=np.int8) != 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return [Span(int(start), int(end)) for start, end in zip(edges[::2], edges[1::2], strict=True)]


def alarm_spans(verdicts, policy=None, scores=None):
    """The alarms the stream follower's K-of-N / M logic raises on these verdicts, as Spans.

    An alarm opened on reading i and closed on reading j covers i .. j - 1 (reading j is the
    M-th normal one in a row); one never closed covers i up to the end of the recording.
    """
    verdicts = np.asarray(verdicts, dtype=bool)
    scores = verdicts.astype(float) if scores is None else np.asarray(scores, dtype=float)
    tracker = AlarmTracker(policy or AlarmPolicy(), asset="evaluation", source="evaluation")
    spans, opened = [], None
    for index, (anomalous, score) in enumerate(zip(verdicts, scores, strict=True)):
        verdict = Verdict(float(score), bool(anomalous), [], "", reading_id=str(index))
        for event in tracker.update(verdict):
            if event["event"] == "open":
                opened = index
            else:
                spans.append(Span(opened, index))
                opened = None
    if opened is not None:
        spans.append(Span(opened, len(verdicts)))
    return spans


def _first_covered(episode, alarms):
    """First reading of the episode with an alarm open, or None."""
    starts = [max(alarm.start, episode.start) for alarm in alarms if alarm.touches(episode)]
    return min(starts) if starts else None


def _overrun(episode, alarms, n_readings):
    """(readings from the episode's end to the closing of the alarm open on its last reading,
    whether that alarm is still open at the end of the recording); None when none is open."""
    last = episode.end - 1
    for alarm in alarms:
        if alarm.start <= last < alarm.end:
            return alarm.end - episode.end, alarm.end >= n_readings
    return None


def event_counts(labels, verdicts, policy=None, scores=None, seconds_per_reading=1.0):
    """Raw event-level counts of one recording (see `summarise` for the figures).

    `labels` and `verdicts` are aligned 0/1 sequences over the scored readings, in time order.
    """
    labels = np.asarray(labels, dtype=np.int8)
    verdicts = np.asarray(verdicts, dtype=bool)
    if len(labels) != len(verdicts):
        raise ValueError(f"{len(labels)} labels but {len(verdicts)} verdicts")
    found, alarms = episodes(labels), alarm_spans(verdicts, policy, scores)
    delays, overruns, never_closed = [], [], 0
    for episode in found:
        first = _first_covered(episode, alarms)
        if first is not None:
            delays.append((first - episode.start) * seconds_per_reading)
        overrun = _overrun(episode, alarms, len(labels))
        if overrun is not None:
            overruns.append(overrun[0] * seconds_per_reading)
            never_closed += overrun[1]
    false_alarms = sum(not any(alarm.touches(e) for e in found) for alarm in alarms)
    return {
        "episodes": len(found), "detected": len(delays), "delays": delays,
        "alarms": len(alarms), "false_alarms": false_alarms,
        "normal_hours": float(np.sum(labels == 0)) * seconds_per_reading / 3600.0,
        "open_after_end": len(overruns), "overruns": overruns, "never_closed": never_closed,
    }


def pool_counts(counts):
    """Event counts of several recordings added together (lists joined, numbers summed)."""
    pooled = {}
    for one in counts:
        for key, value in one.items():
            pooled[key] = pooled.get(key, [] if isinstance(value, list) else 0) + value
    return pooled


def summarise(counts):
    """Figures from event counts: detection share, delay median / worst, false alarms per hour."""
    def median(values):
        return float(np.median(values)) if values else None

    hours = counts["normal_hours"]
    return {
        "episodes": counts["episodes"], "detected": counts["detected"],
        "detected_share": counts["detected"] / counts["episodes"] if counts["episodes"] else None,
        "delay_median_s": median(counts["delays"]),
        "delay_worst_s": max(counts["delays"]) if counts["delays"] else None,
        "false_alarms": counts["false_alarms"], "normal_hours": round(hours, 4),
        "false_alarms_per_hour": counts["false_alarms"] / hours if hours else None,
        "open_after_end": counts["open_after_end"],
        "overrun_median_s": median(counts["overruns"]),
        "never_closed": counts["never_closed"],
    }
