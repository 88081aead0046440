"""The evidence for switching to a candidate: what improves or worsens, on which data, how weak.

Weak evidence is named: scores computed on a version's own training rows, or a sample too
small to rank two versions.
"""

# Below these counts two versions cannot be ranked: a few misclassified readings swing the
# rates by several points.
MIN_LABELLED_ROWS = 500
MIN_ANOMALOUS_ROWS = 20
MIN_AUDITED_READINGS = 500
SAME = 0.01  # rates closer than one point are "about the same"

# metric -> True when a higher value is better
METRICS = {"f1": True, "far": False, "mar": False}


def compare_metric(name, candidate, active):
    """One metric of both versions, and whether the candidate is better, worse or the same."""
    if candidate is None or active is None:
        return None
    difference = candidate - active
    if abs(difference) < SAME:
        verdict = "same"
    else:
        verdict = "better" if (difference > 0) == METRICS[name] else "worse"
    return {"metric": name, "candidate": candidate, "active": active, "verdict": verdict}


def labelled_findings(comparison, candidate_manifest, active_manifest):
    """Findings and warnings of one labelled comparison."""
    metrics = [compare_metric(name, comparison["candidate"].get(name),
                              comparison["active"].get(name)) for name in METRICS]
    warnings = []
    for side, manifest in (("candidate", candidate_manifest), ("active", active_manifest)):
        if trained_on(comparison, manifest):
            warnings.append({"code": "overlap", "side": side,
                             "version": comparison[side]["version"],
                             "file": comparison["file_name"]})
    if (comparison["rows"] < MIN_LABELLED_ROWS
            or comparison["anomalous_rows"] < MIN_ANOMALOUS_ROWS):
        warnings.append({"code": "small_labelled", "file": comparison["file_name"],
                         "rows": comparison["rows"], "anomalous": comparison["anomalous_rows"],
                         "min_rows": MIN_LABELLED_ROWS, "min_anomalous": MIN_ANOMALOUS_ROWS})
    return {"file": comparison["file_name"], "rows": comparison["rows"],
            "anomalous": comparison["anomalous_rows"],
            "metrics": [m for m in metrics if m is not None], "warnings": warnings}


def trained_on(comparison, manifest):
    """True when the labelled file is the one this version was trained on (same content)."""
    training = (manifest or {}).get("training_data") or {}
    if comparison.get("sha256") and training.get("sha256"):
        return comparison["sha256"] == training["sha256"]
    return bool(training.get("file_name")) and training["file_name"] == comparison["file_name"]


def audit_findings(audit):
    """The agreement with the active version on recent readings, and its warnings."""
    if not audit or audit.get("error") or not audit.get("readings"):
        return None
    warnings = []
    if audit["readings"] < MIN_AUDITED_READINGS:
        warnings.append({"code": "small_audit", "readings": audit["readings"],
                         "minimum": MIN_AUDITED_READINGS})
    return {"readings": audit["readings"], "agreement": audit["agreement_rate"],
            "candidate_rate": audit["candidate"]["anomaly_rate"],
            "active_rate": audit["active"]["anomaly_rate"], "warnings": warnings}


def switch_evidence(candidate_manifest, active_manifest, labelled, audit):
    """Everything the summary at the top of a candidate's page says, as plain values."""
    files = [labelled_findings(c, candidate_manifest, active_manifest) for c in labelled]
    recent = audit_findings(audit)
    return {"labelled": files, "audit": recent,
            "improves": sorted({m["metric"] for f in files for m in f["metrics"]
                                if m["verdict"] == "better"}),
            "worsens": sorted({m["metric"] for f in files for m in f["metrics"]
                               if m["verdict"] == "worse"}),
            "weak": any(f["warnings"] for f in files) or bool(recent and recent["warnings"]),
            "none": not files and recent is None}
