"""Fails when an edge of a rendered Mermaid diagram runs through a box other than its two ends.

Reads the SVG files mermaid-cli wrote (docs/check_diagrams.sh passes them): each box is a
`node` group translated to its centre with a rect; each edge carries its route as base64 JSON
points in `data-points`, and names its two ends in its id (`L_<from>_<to>_<n>`).
"""

import base64
import json
import re
import sys

NODE = re.compile(r'<g class="node[^"]*" id="[^"]*-flowchart-(\w+?)-\d+"[^>]*'
                  r'transform="translate\(([-\d.]+), ?([-\d.]+)\)"[^>]*>(.*?)</g>', re.S)
RECT = re.compile(r'<rect[^>]*x="([-\d.]+)" y="([-\d.]+)" width="([\d.]+)" height="([\d.]+)"')
EDGE = re.compile(r'id="[^"]*-L_(\w+?)_(\w+?)_\d+"[^>]*data-points="([^"]+)"')
# Points closer than this to a box's border are a route grazing the box, not crossing it.
MARGIN = 3.0
STEPS = 20


def boxes(svg):
    """{node id: (left, top, right, bottom)} of every rectangular box."""
    found = {}
    for name, tx, ty, body in NODE.findall(svg):
        rect = RECT.search(body)
        if rect:
            x, y, width, height = map(float, rect.groups())
            left, top = float(tx) + x, float(ty) + y
            found[name] = (left, top, left + width, top + height)
    return found


def route_points(encoded):
    """Points along an edge's route, STEPS per straight piece."""
    points = json.loads(base64.b64decode(encoded))
    for start, end in zip(points, points[1:], strict=False):
        for step in range(STEPS + 1):
            share = step / STEPS
            yield (start["x"] + (end["x"] - start["x"]) * share,
                   start["y"] + (end["y"] - start["y"]) * share)


def crossings(svg):
    """'A -> B crosses C' for every edge that runs through a third box."""
    found_boxes, problems = boxes(svg), set()
    for source, target, encoded in EDGE.findall(svg):
        for x, y in route_points(encoded):
            for name, (left, top, right, bottom) in found_boxes.items():
                if name in (source, target):
                    continue
                if left + MARGIN < x < right - MARGIN and top + MARGIN < y < bottom - MARGIN:
                    problems.add(f"{source} -> {target} crosses {name}")
    return sorted(problems)


def main(paths):
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            svg = handle.read()
        if not boxes(svg):
            print(f"{path}: no box found: the SVG layout changed, this check must follow it")
            failed = True
        for problem in crossings(svg):
            print(f"{path}: edge {problem}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
