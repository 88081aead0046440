"""Flask CLI commands: train, models list/activate, users create, bootstrap."""

import os

from tests.conftest import NORMAL_CSV, csrf_token
from webapp.services import users


def test_train_prints_the_new_version_alone_on_the_last_line(runner):
    result = runner.invoke(args=["train", "--asset", "pump-1", "--data", NORMAL_CSV,
                                 "--normal-rows", "300"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "v2"
    assert "not active" in result.output


def test_train_a_new_asset_makes_its_first_version_active(runner):
    result = runner.invoke(args=["train", "--asset", "line_2", "--data", NORMAL_CSV])
    assert result.output.splitlines()[-1] == "v1"
    listing = runner.invoke(args=["models", "list"]).output.splitlines()
    assert any(line.startswith("line_2\tv1\t") and line.endswith("\tactive") for line in listing)


def test_train_reports_user_mistakes_without_traceback(runner, tmp_path):
    for args, message in [
        (["--asset", "../x", "--data", NORMAL_CSV], "invalid asset name"),
        (["--asset", "p", "--data", str(tmp_path / "none.csv")], "no such file"),
        (["--asset", "p", "--data", NORMAL_CSV, "--normal-rows", "5000"], "only 400"),
    ]:
        result = runner.invoke(args=["train", *args])
        assert result.exit_code == 1
        assert message in result.output and "Traceback" not in result.output


def test_models_list_marks_the_active_version(runner):
    runner.invoke(args=["train", "--asset", "pump-1", "--data", NORMAL_CSV])
    lines = runner.invoke(args=["models", "list"]).output.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["pump-1", "v1"], ["pump-1", "v2"]]
    assert lines[0].endswith("\tactive") and not lines[1].endswith("active")


def test_users_create_reads_the_password_from_stdin(runner, app):
    result = runner.invoke(args=["users", "create", "maria", "--role", "analyst",
                                 "--password-stdin"], input="s3cret-pass\n")
    assert result.exit_code == 0, result.output
    user = users.authenticate(app.config["DATABASE"], "maria", "s3cret-pass")
    assert user is not None and user.role == "analyst"
    again = runner.invoke(args=["users", "create", "maria", "--role", "analyst",
                                "--password-stdin"], input="s3cret-pass\n")
    assert again.exit_code == 1 and "already exists" in again.output


def test_bootstrap_trains_pump_1_on_an_empty_store(tmp_path):
    from webapp import create_app
    app = create_app({"MODEL_STORE": str(tmp_path / "store"), "LOG_DIR": str(tmp_path / "logs"),
                      "INSTANCE_DIR": str(tmp_path / "instance")})
    result = app.test_cli_runner().invoke(args=["bootstrap", "--data", NORMAL_CSV])
    assert result.exit_code == 0, result.output
    assert "ready: pump-1 v1" in result.output
    assert os.path.isfile(tmp_path / "store" / "pump-1" / "v1" / "model.pkl")
    password = (tmp_path / "instance" / "initial_admin_password").read_text().strip()
    client = app.test_client()
    response = client.post("/login", data={"username": "admin", "password": password,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302
