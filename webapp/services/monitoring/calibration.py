"""Readings unlike the calibration data: per asset, the share of a window's readings that lie far
outside the data its active version was calibrated on (the batch page's and the API's check).

The monitoring summaries keep a bounded sample of readings per hour; each hour's sample is
checked with features.calibration.calibration_check and counts for the readings the hour
holds, so a busy hour weighs what it holds, as in drift. The verdict follows the batch page:
out of calibration when more than half the readings lie far outside.
"""

import pandas as pd

from features.calibration import MOST, calibration_check
from webapp.services.monitoring.summaries import decode_matrix


def calibration_section(registry, assets, samples):
    """[{asset, version, checked, volume, sampled, share_outside, out_of_calibration,
    sensors}] from each asset's hourly samples ({asset: [sample block]}); `checked` is False
    for versions trained before calibration ranges were recorded, or an empty window."""
    sections = []
    for asset in assets:
        version = registry.active_version(asset)
        ranges = (registry.manifest(asset, version).get("calibration_ranges")
                  if version else None)
        frames, volume, outside = [], 0, 0.0
        for block in samples.get(asset, []):
            matrix = decode_matrix(block["rows"], block["columns"])
            if not len(matrix) or ranges is None:
                continue
            frame = pd.DataFrame(matrix, columns=block["columns"])
            check = calibration_check(frame, ranges)
            count = block.get("count", len(matrix))
            volume += count
            outside += check["readings_outside"] / check["readings"] * count
            frames.append(frame)
        section = {"asset": asset, "version": version, "checked": bool(frames),
                   "volume": volume, "sampled": sum(len(f) for f in frames),
                   "share_outside": round(outside / volume, 4) if volume else None,
                   "out_of_calibration": False, "sensors": []}
        if frames:
            section["out_of_calibration"] = section["share_outside"] > MOST
            whole = calibration_check(pd.concat(frames, ignore_index=True), ranges)
            section["sensors"] = whole["sensors"] if section["out_of_calibration"] else []
        sections.append(section)
    return sections
