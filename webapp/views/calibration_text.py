"""Calibration warnings of a manifest, said in the reader's language.

Manifests keep their warnings as English sentences (auditors and `models list` read them as
written, and manifests are never modified after training), so pages recognise each sentence
the detector and the training service write and say it again in the reader's language; a
sentence not recognised is shown as written.
"""

import re

from flask_babel import gettext as _

NAMES = r"(?P<sensors>[^.]+)"
PATTERNS = (
    (re.compile(r"Only (?P<rows>\d+) calibration readings; at least (?P<advised>\d+) \(about "
                r"(?P<minutes>\d+) minutes at one reading a second\) are advised for a reliable "
                r"threshold\.$"),
     lambda p: _("Only %(rows)s calibration readings: at least %(advised)s (about %(minutes)s "
                 "minutes at one reading a second) are advised for a reliable threshold.", **p)),
    (re.compile(r"The calibration data contains missing or non-numeric values\.$"),
     lambda p: _("The calibration data contains missing or non-numeric values.")),
    (re.compile(r"These sensors do not vary during calibration, so any change in them will look "
                r"abnormal: " + NAMES + r"\.$"),
     lambda p: _("These sensors do not vary during calibration, so any change in them will "
                 "look abnormal: %(sensors)s.", **p)),
    (re.compile(r"The level of these sensors steps during calibration, which suggests the "
                r"calibration data is not steady normal operation: " + NAMES + r"\.$"),
     lambda p: _("The level of these sensors steps during calibration, which suggests the "
                 "calibration data is not steady normal operation: %(sensors)s.", **p)),
    (re.compile(r"(?P<share>\d+)% of calibration readings score far above the calibration "
                r"limits; the calibration data may contain abnormal operation\.$"),
     lambda p: _("%(share)s%% of the calibration readings score far above the calibration "
                 "limits: the calibration data may contain abnormal operation.", **p)),
    (re.compile(r"(?P<run>\d+) consecutive calibration readings score far above the calibration "
                r"limits; an anomaly may have been under way during calibration\.$"),
     lambda p: _("%(run)s consecutive calibration readings score far above the calibration "
                 "limits: an anomaly may have been under way during calibration.", **p)),
    (re.compile(r"The calibration data is unlike the active version (?P<version>\S+): it flags "
                r"(?P<share>\d+)% of these readings as anomalous, mostly through " + NAMES
                + r"\. Unless the machine changed on purpose \(overhaul, new operating point\), "
                r"an anomaly may have been under way during calibration: check the data before "
                r"activating this version\.$"),
     lambda p: _("The calibration data is unlike the active version %(version)s: it flags "
                 "%(share)s%% of these readings as anomalous, mostly through %(sensors)s. "
                 "Unless the machine changed on purpose (overhaul, new operating point), an "
                 "anomaly may have been under way during calibration: check the data before "
                 "activating this version.", **p)),
)


def calibration_warning(text):
    """One manifest warning in the reader's language; an unknown sentence as written."""
    for pattern, say in PATTERNS:
        match = pattern.match(text or "")
        if match:
            return say(match.groupdict())
    return text
