"""Issue 16: does the "unlike the active version" warning catch contaminated calibrations?

Run from the repository root (under a minute):

    .venv/bin/python docs/research/contamination_study.py --data data/skab

Each SKAB file stands for a new version of its family's asset, the previous file of the
same family for the active version: both calibrate on their first 400 readings, and
features.calibration.compare_calibration scores the new calibration readings with the
previous model.  Only other/2 has a contaminated calibration window (296 of 400 readings
labelled anomalous); every other warning is a false alarm (or a genuine change of state
between experiments, e.g. the rig's temperature).
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from features.calibration import UNLIKE_SHARE, compare_calibration  # noqa: E402
from features.pipeline import fit_model  # noqa: E402
from features.schema import SENSOR_COLUMNS  # noqa: E402

FAMILIES = ([f"valve1/{i}" for i in range(16)], [f"other/{i}" for i in range(1, 5)],
            [f"other/{i}" for i in range(5, 10)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/skab")
    args = parser.parse_args()
    warned, pairs, caught = [], 0, False
    for family in FAMILIES:
        frames = {name: pd.read_csv(Path(args.data) / f"{name}.csv", sep=";")
                  for name in family}
        previous = None
        for name in family:
            frame = frames[name]
            calibration = frame[list(SENSOR_COLUMNS)].iloc[:400]
            contaminated = int(frame["anomaly"].iloc[:400].sum())
            if previous is not None:
                result = compare_calibration(previous[1], calibration)
                pairs += 1
                mark = "WARN" if result["unlike"] else "    "
                print(f"{mark} {previous[0]:>10} -> {name:<10} flagged "
                      f"{result['share_flagged']:.0%} ({', '.join(result['sensors'])}); "
                      f"labelled anomalous in calibration: {contaminated}")
                if result["unlike"]:
                    warned.append(name)
                    caught |= contaminated > 0
            previous = (name, fit_model(calibration)[0])
    print(f"\nwarning (share flagged > {UNLIKE_SHARE:.0%}) on {len(warned)} of {pairs} new "
          f"calibrations: {', '.join(warned)}; the contaminated one caught: {caught}")


if __name__ == "__main__":
    main()
