"""Every message in the reader's language: error paths walked in French and in English."""

import html
import re
import os

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from tests.conftest import NORMAL_CSV
from tests.support.servers import ROOT
from tests.views.test_models import read, start_training, wait_for_job
from webapp.i18n import po_files

# English, library or code words that once reached French pages (issue 15, item 5).
ENGLISH = ("Error tokenizing", "C error", "Expected", "date_to", "date_from", "unknown window",
           "unknown asset", "choose one of", "is before", "trained in the browser",
           "first version of a new asset", "field_count", "not a readable", "readings; at least",
           "YYYY-MM-DD", "write the date")


def page_text(response):
    """The visible text of a page (tags and scripts removed), entities decoded."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def english_left(text):
    return [fragment for fragment in ENGLISH if fragment in text]


def field_count_file():
    """A normal file whose line 51 (header = line 1) has one field too many."""
    lines = read(NORMAL_CSV).decode().splitlines()
    lines[50] += ";12"
    return ("\n".join(lines) + "\n").encode()


def too_short_file():
    return ("\n".join(read(NORMAL_CSV).decode().splitlines()[:11]) + "\n").encode()


PAGES = [  # (url, words in French, words in English)
    ("/history?date_from=2026-03-05&date_to=2026-03-01", "le jour de fin est avant",
     "the end day is before"),
    ("/history?channel=fax", "choisissez un canal parmi", "choose a channel among"),
    ("/history?date_from=hier", "AAAA-MM-JJ", "YYYY-MM-DD"),
    ("/history/export.csv?channel=fax", "choisissez un canal parmi", "choose a channel among"),
    ("/monitoring?window=1h", "ne fait pas partie des périodes", "is not one of the windows"),
    ("/monitoring?window=dates&from=2026-03-05&to=2026-03-01", "La date de fin est avant",
     "The end date is before"),
    ("/monitoring?window=dates&from=x&to=y", "AAAA-MM-JJ", "YYYY-MM-DD"),
    ("/monitoring?asset=pump-9", "Aucun équipement ne s'appelle", "There is no asset named"),
]


@pytest.mark.parametrize("url,french,english", PAGES)
def test_filter_errors_are_in_the_readers_language(login, url, french, english):
    client = login("analyst")
    text = page_text(client.get(url))
    assert french in text and english_left(text) == []
    client.get("/language/en")
    assert english in page_text(client.get(url))


@pytest.mark.parametrize("content,french,english", [
    (field_count_file, "La ligne 51 compte 10 champs alors que l'en-tête en compte 9",
     "Line 51 has 10 fields where the header has 9"),
    (too_short_file, "Le fichier contient 10 relevés", "The file has 10 readings"),
    (lambda: b"", "Le fichier est vide", "The file is empty"),
])
def test_training_failures_are_in_the_readers_language(login, content, french, english):
    client = login("analyst")
    response = start_training(client, "pump-1", content())
    location = response.headers["Location"]
    assert wait_for_job(client, location)["state"] == "failed"
    text = page_text(client.get(location))
    assert french in text and english_left(text) == [], text
    client.get("/language/en")
    assert english in page_text(client.get(location))


def test_reasons_vigie_writes_in_the_model_history_are_translated(login):
    client = login("admin")  # only an admin may create a new asset
    response = start_training(client, "pump-8", read(NORMAL_CSV), normal_rows="300")
    assert wait_for_job(client, response.headers["Location"])["state"] == "done"
    text = page_text(client.get("/admin/models/"))
    assert "entraînée dans le navigateur à partir de normal.csv" in text
    assert "première version d'un nouvel équipement" in text and english_left(text) == []


def test_every_message_of_the_code_and_templates_has_a_french_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F",
                                os.path.join(ROOT, "webapp", "translations", "babel.cfg"),
                                "-k", "_l", "-o", str(pot), ROOT])
    french = set()
    for path in po_files():
        if "/fr/" in path.replace("\\", "/"):
            with open(path, "rb") as handle:
                french.update(m.id if isinstance(m.id, str) else m.id[0]
                              for m in read_po(handle) if m.id and m.string)
    with open(pot, "rb") as handle:
        used = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    assert len(used) > 300 and sorted(used - french) == []
