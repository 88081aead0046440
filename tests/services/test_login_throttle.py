"""Login throttling: per user name and per address, shared through the database, cleared by
success."""

import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORDS, csrf_token
from tests.support.postgres import fresh_database_url
from webapp import create_app
from webapp.services import database, login_throttle


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Every test here runs on the embedded SQLite file and on PostgreSQL."""
    return fresh_database_url(request)


def attempt(client, username, password, address="10.0.0.1"):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)},
                       environ_base={"REMOTE_ADDR": address})


def fail_times(client, count, username="operator", address="10.0.0.1"):
    for _ in range(count):
        assert attempt(client, username, "wrong-password", address).status_code == 401


def test_five_failures_lock_the_user_name_even_with_the_right_password(client, app):
    client.get("/language/en")
    fail_times(client, 5)
    response = attempt(client, "operator", PASSWORDS["operator"])
    assert response.status_code == 429
    assert ("Too many failed sign-ins for this user name or from this address. Try again in 5 "
            "minutes.") in response.get_data(as_text=True)
    # Another user from another address is not affected.
    assert attempt(client, "analyst", PASSWORDS["analyst"], "10.0.0.2").status_code == 302


def test_success_before_the_limit_clears_the_count(client):
    fail_times(client, 4)
    assert attempt(client, "operator", PASSWORDS["operator"]).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    fail_times(client, 4)
    assert attempt(client, "operator", PASSWORDS["operator"]).status_code == 302


def test_one_address_trying_many_names_is_locked(client, app):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 6
    for number in range(6):
        fail_times(client, 1, username=f"guess{number}", address="10.9.9.9")
    assert attempt(client, "analyst", PASSWORDS["analyst"], "10.9.9.9").status_code == 429
    assert attempt(client, "analyst", PASSWORDS["analyst"], "10.0.0.3").status_code == 302


def test_the_count_is_shared_by_every_worker(app, paths):
    fail_times(app.test_client(), 5)
    other_worker = create_app({**paths, "TESTING": True, "ADMIN_PASSWORD": PASSWORDS["admin"]})
    assert attempt(other_worker.test_client(), "operator",
                   PASSWORDS["operator"]).status_code == 429


def test_the_lock_ends_when_the_failures_leave_the_window(app):
    database, policy = app.config["DATABASE"], login_throttle.Policy(5, 20, 300)
    for second in range(5):
        login_throttle.record_failure(database, "operator", "10.0.0.1", policy, now=1000 + second)
    assert login_throttle.retry_after(database, "operator", "10.0.0.7", policy,
                                      now=1010) == pytest.approx(290)
    assert login_throttle.retry_after(database, "operator", "10.0.0.7", policy, now=1300.5) == 0
    assert login_throttle.retry_after(database, "someone", "10.0.0.7", policy, now=1010) == 0


def test_the_refusal_is_in_french_by_default(client):
    fail_times(client, 5)
    page = attempt(client, "operator", PASSWORDS["operator"]).get_data(as_text=True)
    assert "Trop de tentatives de connexion échouées" in page and "5 minutes" in page


def test_a_refused_attempt_does_not_extend_the_lock(app, client):
    fail_times(client, 5)
    for _ in range(3):
        assert attempt(client, "operator", "wrong-password").status_code == 429
    with database.engine(app.config["DATABASE"]).connect() as connection:
        count = connection.execute(sa.text("SELECT COUNT(*) FROM login_failures")).scalar()
    assert count == 5


def test_signing_in_as_oneself_does_not_clear_the_failures_of_another_name(client):
    # Four guesses at the operator's password, a good login as analyst from the same address,
    # one more guess: the fifth failure locks the operator's name.
    fail_times(client, 4)
    assert attempt(client, "analyst", PASSWORDS["analyst"]).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    fail_times(client, 1)
    assert attempt(client, "operator", PASSWORDS["operator"]).status_code == 429
