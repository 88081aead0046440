"""Numbers, shares and times read the reader's way: locale decimals, plant time, UTC on hover."""

import csv
import io
import re

import pytest
from flask_babel import force_locale

from tests.views.test_batch import normal_text, upload_and_wait
from tests.views.test_predict import NORMAL, submit
from webapp import create_app
from webapp.views.formatting import local_time, number, percent, severity


@pytest.mark.parametrize("language,value,decimals,text", [
    ("fr", 2281.456, None, "2\u202f281"), ("en", 2281.456, None, "2,281"),
    ("fr", 0.15, None, "0,150"), ("en", 0.15, None, "0.150"), ("fr", 38.14, None, "38,1"),
    ("fr", 7999, 0, "7\u202f999"), ("fr", "0.254", 2, "0,25"), ("fr", "", None, "—"),
])
def test_numbers_follow_the_locale(app, language, value, decimals, text):
    with app.test_request_context(), force_locale(language):
        assert number(value, decimals) == text


def test_shares_are_percentages_in_the_locale(app):
    with app.test_request_context():
        with force_locale("fr"):
            assert percent(0.1234) == "12,3\u00a0%" and percent(0.5, 0) == "50\u00a0%"
        with force_locale("en"):
            assert percent(0.1234) == "12.3%"


def test_times_are_plant_local_with_utc_on_hover(app):
    with app.test_request_context(), force_locale("fr"):
        html = str(local_time("2026-11-28T00:08:04.196Z"))  # winter: Paris is UTC+1
        assert "01:08:04" in html and 'title="2026-11-28 00:08:04 UTC"' in html
        summer = str(local_time("2026-07-01T12:00:00Z"))  # summer time: UTC+2
        assert "14:00:00" in summer
        assert local_time("") == "—" and local_time("not a time") == "not a time"


def test_the_plant_timezone_comes_from_the_configuration(paths):
    app = create_app({**paths, "TESTING": True, "TIMEZONE": "America/Montreal"})
    with app.test_request_context(), force_locale("en"):
        assert "7:08:04" in str(local_time("2026-11-28T12:08:04Z"))


def test_an_unknown_timezone_is_refused_at_start_up(paths):
    with pytest.raises(ValueError, match="VIGIE_TIMEZONE"):
        create_app({**paths, "TESTING": True, "TIMEZONE": "Mars/Olympus"})


@pytest.mark.parametrize("score,words", [
    (5, "sous le seuil (0,5 × le seuil)"), (15, "juste au-dessus du seuil (1,5 × le seuil)"),
    (50, "nettement au-dessus du seuil (5,0 × le seuil)"),
    (3390, "très au-dessus du seuil (339 × le seuil)"),
])
def test_severity_says_how_far_above_the_threshold(app, score, words):
    with app.test_request_context(), force_locale("fr"):
        assert severity(score, 10) == words


def test_form_names_the_single_reading_threshold_and_the_severity(client, login):
    login("operator")
    page = submit(client, {**NORMAL, "Pressure": "9.5"}).get_data(as_text=True)
    assert "pour un seuil de relevé isolé de" in page
    severity_text = re.search(r'id="severity">([^<]+)<', page).group(1)
    assert re.fullmatch(r"(très|nettement|juste) au-dessus du seuil \([0-9\u202f,]+ × le seuil\)",
                        severity_text)


def test_results_download_in_the_french_excel_dialect_beside_the_standard_one(client, login):
    login("operator")
    batch_id, _ = upload_and_wait(client, normal_text(30))
    page = client.get(f"/batch/{batch_id}").get_data(as_text=True)
    assert f"/batch/{batch_id}/results.csv?dialect=excel-fr" in page
    standard = client.get(f"/batch/{batch_id}/results.csv").get_data(as_text=True)
    excel = client.get(f"/batch/{batch_id}/results.csv?dialect=excel-fr")
    assert "attachment" in excel.headers["Content-Disposition"]
    text = excel.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    plain = list(csv.reader(io.StringIO(standard)))
    french = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert len(french) == len(plain) == 31 and french[0] == plain[0]
    score = plain[0].index("score")
    for row_plain, row_french in zip(plain[1:], french[1:], strict=True):
        assert row_french[score] == row_plain[score].replace(".", ",")
    assert any("," in row[score] for row in french[1:])
    assert standard.splitlines()[0].count(",") > 5  # the standard file is unchanged
