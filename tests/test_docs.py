"""Documents name only things that exist; the architecture record and the talk keep their shape."""

import glob
import os
import re

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ("README.md", *sorted(os.path.relpath(path, ROOT)
                            for path in glob.glob(os.path.join(ROOT, "docs", "*.md"))))
ARCHITECTURE, TALK = "docs/architecture.md", "docs/presentation.md"

FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Node labels ["..."] and ("..."), and edge labels |"..."|, of a Mermaid diagram (subgraph
# titles are headings, not boxes).
NODE = re.compile(r'^\s*(?!subgraph)(\w+)[\[(]"([^"]*)"[\])](:::(\w+))?')
ANY_LABEL = re.compile(r'[\[(|]"([^"]*)"[\])|]')
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#+ (.+)$", re.M)
# Documented placeholders: <asset>, <batch_id>, <stream id>, v<N>, YYYY-MM-DD.
PLACEHOLDER = re.compile(r"<[^<>/]+>|YYYY-MM-DD")
PATH_TOKEN = re.compile(r"[\w.*\-/]+")
EXTENSIONS = (".py", ".csv", ".html", ".md", ".json", ".txt", ".yml", ".sh", ".png", ".pkl",
              ".log", ".db", ".lock")
TOP_LEVEL = {"Makefile", "Dockerfile"}
# Runtime folders: created by the app or the tests, git-ignored; what they hold is checked
# against the code. A first part in capitals (DIR/, DEPLOY_DIR/) is an argument or a setting.
RUNTIME_ROOTS = ("logs", "instance", "model_store", "test-artifacts", ".mermaid")
SETTING = re.compile(r"[A-Z][A-Z_]*")
SOURCE_GLOBS = ("webapp/**/*.py", "features/*.py", ".ci/*.sh", "Dockerfile",
                "tests/benchmarks/*.py", "tests/browser/*.py")
# Words shaped like paths that are not paths of the repository: media types, and the hostile
# names the API documents as refused (../v1).
NOT_A_PATH = re.compile(r"(application|text)/[\w.+-]+|\.\./.*")
# Absolute paths of a server or a container, not routes of the application.
HOST_FOLDERS = ("app", "dev", "etc", "srv", "tmp", "usr", "var", "data", "backup")
FLASK = re.compile(r"flask --app webapp((?: [a-z][a-z-]*){1,2})")
MAKE = re.compile(r"\bmake ([a-z][a-z-]*)")
# Services a box may name instead of a file.
SERVICES = ("gunicorn", "podman", "nginx", "PostgreSQL")
THEMES = ("sécurité", "robustesse", "reproductibilité", "intégration au métier")
EVOLUTION = re.compile(r"\*\*Évolution : (incrémentale|changement d'architecture|point de départ)")


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
        if NOT_A_PATH.fullmatch(word):
            continue
        if "/" in word or word.endswith(EXTENSIONS) or word in TOP_LEVEL:
            tokens.append(word)
    return tokens


def route_tokens(snippet):
    """Words of a snippet that look like a URL path of the app (/batch, /api/v1/predict)."""
    snippet = PLACEHOLDER.sub("x", snippet)
    words = [word.strip("(),;:") for word in snippet.split()]
    return [word for word in words if re.fullmatch(r"/[\w./\-]*", word)
            and word.split("/")[1] not in HOST_FOLDERS]


def source_text():
    texts = []
    for pattern in SOURCE_GLOBS:
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            with open(path, encoding="utf-8") as handle:
                texts.append(handle.read())
    return "\n".join(texts)


def named_in_code(parts, sources):
    """The literal pieces of path parts that the code never writes."""
    pieces = [piece for part in parts for piece in part.split("*") if len(piece) >= 3]
    return [piece for piece in pieces if piece not in sources]


def path_problem(token, sources):
    """Why `token` does not name something of the repository, or None."""
    parts = [part for part in token.split("/") if part]
    if parts[0] in RUNTIME_ROOTS or SETTING.fullmatch(parts[0]):
        # A runtime file: its literal name pieces must be written somewhere in the code.
        missing = named_in_code(parts[1:], sources)
        return f"{token}: the code never names {missing}" if missing else None
    if len(parts) == 1 and token not in TOP_LEVEL and not os.path.exists(
            os.path.join(ROOT, token)):
        # A bare name (manifest.json, audit/, *.errors.csv): a file or folder of the
        # repository, or a name the code writes.
        found = (glob.glob(os.path.join(ROOT, "**", parts[0]), recursive=True)
                 or not named_in_code(parts, sources))
        return None if found else f"{token}: no such file, and the code never names it"
    matches = glob.glob(os.path.join(ROOT, token.rstrip("/")))
    return None if matches else f"{token}: no such path in the repository"


def route_problem(adapter, prefixes, path):
    if path.rstrip("/") in prefixes:
        return None  # a prefix of routes, such as /api/v1
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


def route_prefixes(app):
    """Every leading part of every static route: /api, /api/v1, /admin, /admin/models, ..."""
    prefixes = set()
    for rule in app.url_map.iter_rules():
        parts = rule.rule.split("<")[0].strip("/").split("/")
        prefixes.update("/" + "/".join(parts[:count]) for count in range(1, len(parts)))
    return prefixes


def problems(text, app, runner):
    """Every name in `text` that does not exist in the repository, the app or the Makefile."""
    sources, makefile = source_text(), read("Makefile")
    adapter, prefixes = app.url_map.bind("localhost"), route_prefixes(app)
    found = []
    for snippet in snippets(text):
        found += [path_problem(token, sources) for token in path_tokens(snippet)]
        found += [route_problem(adapter, prefixes, path) for path in route_tokens(snippet)]
        found += [command_problem(runner, words.split()) for words in FLASK.findall(snippet)]
        found += [make_problem(makefile, target) for target in MAKE.findall(snippet)]
    return sorted({problem for problem in found if problem})


def sections(text, title):
    """The text of each '## ' section whose title starts with `title`."""
    return [section for section in re.split(r"^## ", text, flags=re.M)
            if section.startswith(title)]


def stage_sections(text):
    """{stage number: its section} for every '## Étape N' of the architecture record."""
    return {int(re.match(r"Étape (\d+)", section).group(1)): section
            for section in sections(text, "Étape ")}


def boxes(block):
    """(label, class) of every box of a Mermaid diagram."""
    return [(match.group(2), match.group(4)) for line in block.splitlines()
            if (match := NODE.match(line))]


def spoken_words(talk):
    """The words of the spoken text: the quoted lines of the talk."""
    return " ".join(line[1:] for line in talk.splitlines() if line.startswith(">")).split()


@pytest.mark.parametrize("document", DOCS)
def test_every_path_route_command_and_target_named_exists(document, app, runner):
    text = read(document)
    assert snippets(text), f"{document} names nothing the test could check"
    assert problems(text, app, runner) == []


def anchors(text):
    """The anchors GitHub gives the headings of a Markdown text (lower case, no punctuation)."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in HEADING.findall(FENCE.sub("", text))}


def link_problems(document, text=None):
    """Links of `document` to a file that does not exist, or to a heading it does not have."""
    found = []
    for target in LINK.findall(FENCE.sub("", read(document) if text is None else text)):
        if "://" in target:
            continue
        name, _, anchor = target.partition("#")
        path = os.path.normpath(os.path.join(os.path.dirname(document), name)) if name else document
        if not os.path.exists(os.path.join(ROOT, path)):
            found.append(f"{target}: no such file")
        elif anchor and path.endswith(".md") and anchor not in anchors(read(path)):
            found.append(f"{target}: no such heading in {path}")
    return found


@pytest.mark.parametrize("document", DOCS)
def test_every_link_leads_to_a_file_and_heading_that_exist(document):
    assert link_problems(document) == []


@pytest.mark.parametrize("wrong", ["[a](no-such.md)", "[a](guide.md#no-such-heading)",
                                   "[a](#no-such-heading)", "[a](../no/such/file.py)"])
def test_the_link_check_fails_on_a_wrong_link(wrong):
    assert link_problems("docs/api.md", wrong), f"{wrong} was accepted"


def test_the_record_has_four_stages_and_the_planned_several_hosts_stage():
    assert sorted(stage_sections(read(ARCHITECTURE))) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_every_stage_has_a_need_a_diagram_reasons_and_its_kind_of_change(number):
    section = stage_sections(read(ARCHITECTURE))[number]
    prose = FENCE.sub("", section)
    assert "**Besoin.**" in prose and "**Pourquoi.**" in prose
    assert len(mermaid_blocks(section)) == 1
    (kind,) = EVOLUTION.findall(prose)
    assert (kind == "point de départ") == (number == 1)
    for paragraph in ("**Besoin.**", "**Pourquoi.**", "**Évolution"):
        after = prose.split(paragraph, 1)[1].split("\n\n", 1)[0]
        assert after.count(". ") + after.endswith(".") >= 1, f"stage {number}: {paragraph} empty"


def test_the_stage_table_says_incremental_or_change_of_architecture_for_each_stage():
    (table,) = sections(read(ARCHITECTURE), "Les étapes en un tableau")
    rows = [line for line in table.splitlines() if re.match(r"\| \d\. ", line)]
    assert [row[2] for row in rows] == ["1", "2", "3", "4", "5"]
    for row in rows[1:]:
        assert "incrémentale" in row or "changement d'architecture" in row, row


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_every_box_names_a_real_component_or_an_actor(number, app, runner):
    (block,) = mermaid_blocks(stage_sections(read(ARCHITECTURE))[number])
    for label, kind in boxes(block):
        if kind == "acteur":
            continue
        named = (path_tokens(label) or route_tokens(label) or FLASK.search(label)
                 or MAKE.search(label) or any(service in label for service in SERVICES))
        assert named, f"stage {number}: box {label!r} names no module, file, command or service"
        assert problems(f"`{label}`", app, runner) == []


@pytest.mark.parametrize("number", [2, 3, 4, 5])
def test_each_diagram_carries_the_previous_one_forward_with_the_new_boxes_marked(number):
    (block,) = mermaid_blocks(stage_sections(read(ARCHITECTURE))[number])
    kinds = [kind for _, kind in boxes(block)]
    assert "classDef nouveau" in block
    assert "nouveau" in kinds, f"stage {number}: no new box marked"
    assert None in kinds, f"stage {number}: nothing carried over from the stage before"


def test_the_production_diagram_draws_who_predicted_what_with_which_version():
    (section,) = sections(read(ARCHITECTURE), "Le schéma de production")
    (block,) = mermaid_blocks(section)
    for piece in ("webapp/views/auth.py", "webapp/services/apikeys.py", "principal",
                  "logs/audit/predictions-YYYY-MM-DD.csv", "model_version", "model_sha256"):
        assert piece in block, piece


def test_sizing_and_risks_are_tabled():
    text = read(ARCHITECTURE)
    (sizing,) = sections(text, "Dimensionnement")
    assert "| sites × pompes × relevés/s par pompe |" in sizing
    (risks,) = sections(text, "Risques")
    for topic in ("TLS", "sauvegarde", "rétention", "RGPD", "clé de signature"):
        assert topic.lower() in risks.lower(), topic


def test_the_figures_still_to_measure_sit_in_one_paragraph():
    text = read(ARCHITECTURE)
    paragraphs = [paragraph for paragraph in text.split("\n\n") if "à mesurer" in paragraph]
    assert len(paragraphs) == 1 and paragraphs[0].startswith("> **À mesurer")


def test_the_talk_is_two_minutes_and_names_the_four_themes():
    talk = read(TALK)
    words = spoken_words(talk)
    assert 240 <= len(words) <= 300, len(words)
    spoken = " ".join(words).lower()
    for theme in THEMES:
        assert theme in spoken, theme
    assert "la version active est ramenée à la précédente" in spoken


def test_the_talk_shows_the_four_stage_diagrams_of_the_record():
    record = stage_sections(read(ARCHITECTURE))
    shown = mermaid_blocks(read(TALK))
    assert shown[:4] == [mermaid_blocks(record[number])[0] for number in (1, 2, 3, 4)]


def test_the_presentation_shows_real_screenshots():
    text = read(TALK)
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
    "`DIR/teleported/<asset>/`",
    "`flask --app webapp teleport`",
    "`flask --app webapp models obliterate`",
    "`make deploy-to-mars`",
    "`GET /api/v1/teleport`",
    "`/batchez`",
    '```mermaid\nflowchart LR\n    A["webapp/ghost.py"] --> B["gunicorn"]\n```',
])
def test_the_check_fails_on_a_wrong_name(wrong, app, runner):
    assert problems(wrong, app, runner), f"{wrong} was accepted"
