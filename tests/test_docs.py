"""The architecture record names only things that exist: paths, routes, commands, make targets."""

import glob
import os
import re

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ("docs/architecture.md", "docs/presentation.md")

FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Node labels ["..."] and ("..."), and edge labels |"..."|, of a Mermaid diagram (subgraph
# titles are headings, not boxes).
NODE_LABEL = re.compile(r'^\s*(?!subgraph)\S.*?[\[(]"([^"]*)"[\])]')
ANY_LABEL = re.compile(r'[\[(|]"([^"]*)"[\])|]')
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
# Documented placeholders: <asset>, <batch_id>, <stream id>, v<N>, YYYY-MM-DD.
PLACEHOLDER = re.compile(r"<[^<>/]+>|YYYY-MM-DD")
PATH_TOKEN = re.compile(r"[\w.*\-/]+")
EXTENSIONS = (".py", ".csv", ".html", ".md", ".json", ".txt", ".yml", ".sh", ".png", ".pkl",
              ".log", ".db", ".lock")
TOP_LEVEL = {"Makefile", "Dockerfile"}
# Runtime folders: created by the app, git-ignored; what they hold is checked against the code.
RUNTIME_ROOTS = ("logs", "instance", "model_store")
SOURCE_GLOBS = ("webapp/**/*.py", "features/*.py", ".ci/*.sh", "Dockerfile")
FLASK = re.compile(r"flask --app webapp((?: [a-z][a-z-]*){1,2})")
MAKE = re.compile(r"\bmake ([a-z][a-z-]*)")
# Services a box may name instead of a file (stage 3 and 4 diagrams).
SERVICES = ("gunicorn", "podman")


def read(relative):
    with open(os.path.join(ROOT, relative), encoding="utf-8") as handle:
        return handle.read()


def mermaid_blocks(text):
    """The Mermaid diagrams, with the entity codes #lt; and #gt; read back as < and >."""
    return [body.replace("#lt;", "<").replace("#gt;", ">")
            for kind, body in FENCE.findall(text) if kind == "mermaid"]


def snippets(text):
    """The code spans outside fenced blocks, and every label of every Mermaid diagram."""
    outside = FENCE.sub("", text)
    labels = [label for block in mermaid_blocks(text) for line in block.splitlines()
              if not line.strip().startswith("subgraph") for label in ANY_LABEL.findall(line)]
    return CODE_SPAN.findall(outside) + labels


def path_tokens(snippet):
    """Words of a snippet that look like a repository path (placeholders become '*')."""
    snippet = PLACEHOLDER.sub("*", snippet.replace("<br/>", " "))
    tokens = []
    for word in snippet.split():
        word = word.strip("()[],;:\"'")
        if "://" in word or word.startswith("/") or not PATH_TOKEN.fullmatch(word):
            continue
        if "/" in word or word.endswith(EXTENSIONS) or word in TOP_LEVEL:
            tokens.append(word)
    return tokens


def route_tokens(snippet):
    """Words of a snippet that look like a URL path of the app (/batch, /api/v1/predict)."""
    snippet = PLACEHOLDER.sub("x", snippet)
    return [word.strip("(),;:") for word in snippet.split()
            if re.fullmatch(r"/[\w./\-]*", word.strip("(),;:"))]


def source_text():
    texts = []
    for pattern in SOURCE_GLOBS:
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            with open(path, encoding="utf-8") as handle:
                texts.append(handle.read())
    return "\n".join(texts)


def path_problem(token, sources):
    """Why `token` does not name something of the repository, or None."""
    parts = [part for part in token.split("/") if part]
    if parts[0] in RUNTIME_ROOTS:
        # A runtime file: its literal name pieces must be written somewhere in the code.
        pieces = [piece for part in parts[1:] for piece in part.split("*") if len(piece) >= 3]
        missing = [piece for piece in pieces if piece not in sources]
        return f"{token}: the code never names {missing}" if missing else None
    if "/" not in token and token not in TOP_LEVEL and not os.path.exists(
            os.path.join(ROOT, token)):
        # A bare file name (manifest.json): a file of the repository or a name the code writes.
        found = token in sources or glob.glob(os.path.join(ROOT, "**", token), recursive=True)
        return None if found else f"{token}: no such file, and the code never names it"
    matches = glob.glob(os.path.join(ROOT, token.rstrip("/")))
    return None if matches else f"{token}: no such path in the repository"


def route_problem(adapter, path):
    try:
        adapter.match(path, method="GET")
    except (MethodNotAllowed, RequestRedirect):
        return None
    except NotFound:
        return f"{path}: no such route"
    return None


def command_problem(runner, words):
    result = runner.invoke(args=[*words, "--help"])
    if result.exit_code != 0 or "Usage" not in result.output:
        return f"flask --app webapp {' '.join(words)}: no such command ({result.output.strip()})"
    return None


def make_problem(makefile, target):
    if re.search(rf"^{re.escape(target)}:", makefile, re.M):
        return None
    return f"make {target}: no such target in the Makefile"


def problems(text, app, runner):
    """Every name in `text` that does not exist in the repository, the app or the Makefile."""
    sources, makefile = source_text(), read("Makefile")
    adapter = app.url_map.bind("localhost")
    found = []
    for snippet in snippets(text):
        found += [path_problem(token, sources) for token in path_tokens(snippet)]
        found += [route_problem(adapter, path) for path in route_tokens(snippet)]
        found += [command_problem(runner, words.split()) for words in FLASK.findall(snippet)]
        found += [make_problem(makefile, target) for target in MAKE.findall(snippet)]
    return sorted({problem for problem in found if problem})


def stage_sections(text, numbers=(3, 4)):
    """The text of the sections '## Étape N' for the given stage numbers."""
    sections = re.split(r"^## ", text, flags=re.M)
    return [section for section in sections
            if any(section.startswith(f"Étape {number}") for number in numbers)]


@pytest.mark.parametrize("document", DOCS)
def test_every_path_route_command_and_target_named_exists(document, app, runner):
    text = read(document)
    assert snippets(text), f"{document} names nothing the test could check"
    assert problems(text, app, runner) == []


def test_every_box_of_the_stage_3_and_4_diagrams_names_a_real_component(app, runner):
    sections = stage_sections(read("docs/architecture.md"))
    assert len(sections) == 2
    for section in sections:
        blocks = mermaid_blocks(section)
        assert len(blocks) == 1
        labels = [match.group(1) for line in blocks[0].splitlines()
                  if (match := NODE_LABEL.match(line))]
        assert len(labels) >= 10
        for label in labels:
            named = (path_tokens(label) or route_tokens(label) or FLASK.search(label)
                     or MAKE.search(label) or any(service in label for service in SERVICES))
            assert named, f"box {label!r} names no module, file, command or service"
            assert problems(f"`{label}`", app, runner) == []


def test_every_stage_has_a_diagram_and_an_explanation():
    text = read("docs/architecture.md")
    for number in (1, 2, 3, 4):
        (section,) = stage_sections(text, (number,))
        assert len(mermaid_blocks(section)) == 1
        prose = FENCE.sub("", section)
        assert prose.count(". ") >= 2, f"stage {number}: fewer than two sentences"


def test_the_presentation_shows_real_screenshots():
    text = read("docs/presentation.md")
    images = IMAGE_LINK.findall(text)
    assert len(images) >= 4
    for image in images:
        path = os.path.normpath(os.path.join(ROOT, "docs", image))
        assert os.path.isfile(path), image
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n", image


@pytest.mark.parametrize("wrong", [
    "`webapp/no_such_module.py`",
    "`logs/audit/forecasts-YYYY-MM-DD.csv`",
    "`model_store/<asset>/CURRENT`",
    "`docs/img/no-such-*.png`",
    "`flask --app webapp teleport`",
    "`flask --app webapp models obliterate`",
    "`make deploy-to-mars`",
    "`GET /api/v1/teleport`",
    '```mermaid\nflowchart LR\n    A["webapp/ghost.py"] --> B["gunicorn"]\n```',
])
def test_the_check_fails_on_a_wrong_name(wrong, app, runner):
    assert problems(wrong, app, runner), f"{wrong} was accepted"
