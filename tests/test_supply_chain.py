"""Supply chain: what the build fetches is pinned, so a re-pushed tag or release changes nothing."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_base_image_is_pinned_by_digest():
    froms = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.upper().startswith("FROM ")]
    assert froms
    for image in froms:
        assert re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", image), image


def test_every_github_action_is_pinned_by_commit():
    uses = [line.split("uses:", 1)[1].split("#")[0].strip()
            for path in (ROOT / ".github" / "workflows").glob("*.yml")
            for line in path.read_text().splitlines() if "uses:" in line]
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), action


def test_every_runtime_package_is_pinned_with_hashes():
    text = (ROOT / "requirements.txt").read_text()
    requirements = re.split(r"\n(?=[A-Za-z0-9])", re.sub(r"(?m)^\s*#.*\n", "", text).strip())
    assert len(requirements) > 10
    for requirement in requirements:
        name = requirement.split()[0]
        assert re.fullmatch(r"[A-Za-z0-9._\[\],-]+==[\w.+-]+", name), name
        assert "--hash=sha256:" in requirement, name
