"""Open redirects: every redirect target taken from the request stays on this site."""

import pytest

from tests.conftest import PASSWORDS, csrf_token

HOSTILE = ["/%09/evil.example", "/%0d%0a/x", "/%0a/evil.example", "/%5C/evil.example",
           "//evil.example/x", "https://evil.example/", "/%00/x", "javascript:alert(1)"]


@pytest.mark.parametrize("target", HOSTILE)
def test_language_switch_never_leaves_the_site(client, target):
    response = client.get(f"/language/en?next={target}")
    assert response.status_code == 302
    assert response.location == "/"


@pytest.mark.parametrize("target", HOSTILE)
def test_login_never_sends_off_site(client, target):
    response = client.post(f"/login?next={target}", data={
        "username": "admin", "password": PASSWORDS["admin"], "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.location == "/"


def test_a_local_path_with_its_query_is_kept(client):
    response = client.get("/language/en?next=/history%3Fasset%3Dpump-1")
    assert response.location == "/history?asset=pump-1"
