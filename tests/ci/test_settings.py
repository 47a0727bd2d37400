"""Settings: every bad value names its variable, booleans are strict, secrets stay hidden, each
plugin reads its own variables, and the README's tables are the models'."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ci.cli.commands import main
from ci.cli.settings_table import marked, render, tables
from ci.config import Settings, SettingsError
from runners.kubernetes.settings import KubernetesSettings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AXON_PORT", "abc", "AXON_PORT: expected an integer, got 'abc'"),
        ("AXON_SWEEP_AFTER_SECONDS", "soon", "AXON_SWEEP_AFTER_SECONDS: expected a number"),
        ("AXON_NOTIFY_MAX_ATTEMPTS", "", "AXON_NOTIFY_MAX_ATTEMPTS: expected an integer, got ''"),
        ("AXON_KUBERNETES_WATCH_TIMEOUT", "5m", "AXON_KUBERNETES_WATCH_TIMEOUT: expected an int"),
        ("AXON_SMTP_PORT", "smtp", "AXON_SMTP_PORT: expected an integer, got 'smtp'"),
        ("AXON_SMTP_SECURITY", "tls", "AXON_SMTP_SECURITY: Input should be 'starttls'"),
        ("AXON_PAGERDUTY_EVENTS_API", "v3", "AXON_PAGERDUTY_EVENTS_API: Input should be 'v2'"),
    ],
)
def test_a_bad_value_names_its_variable(variable, value, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: value})

    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("word", "value"),
    [("true", True), ("TRUE", True), ("1", True), ("Yes", True), ("false", False)]
    + [("False", False), ("0", False), ("no", False), (" NO ", False)],
)
def test_booleans_read_true_false_1_0_yes_no_in_any_case(word, value):
    settings = Settings.from_env({"AXON_EMBEDDED": word, "AXON_KUBERNETES_KUBEFLOW": word})

    assert settings.embedded is value
    assert settings.runner_config("kubernetes")["kubeflow"] is value


@pytest.mark.parametrize("word", ["flase", "on", "off", "", "2"])
def test_any_other_boolean_is_an_error_not_a_silent_false(word):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"AXON_EMBEDDED": word})

    assert str(error.value) == f"AXON_EMBEDDED: expected true/false/1/0/yes/no, got {word!r}"


def test_an_unset_in_cluster_decides_for_itself_and_a_bad_one_is_named():
    assert (
        Settings.from_env({"AXON_KUBERNETES_IN_CLUSTER": ""}).runner_config("kubernetes")[
            "in_cluster"
        ]
        is None
    )
    with pytest.raises(SettingsError, match="AXON_KUBERNETES_IN_CLUSTER: expected true/false"):
        Settings.from_env({"AXON_KUBERNETES_IN_CLUSTER": "maybe"})


def test_an_unknown_setting_in_code_is_named():
    with pytest.raises(SettingsError, match="^AXON_GITHUB_TOKN: not a setting$"):
        Settings(github_tokn="x")


def test_secrets_never_appear_in_a_repr_or_a_log(caplog):
    secrets = {
        "api_token": "api-token-value",
        "secret_key": "secret-key-value",
        "database_url": "postgresql://axon:db-password@db/axon",
        "github_token": "ghp_token_value",
        "github_app_private_key": "-----BEGIN PRIVATE KEY-----",
        "gitlab_token": "glpat-token-value",
        "slack_webhook_url": "https://hooks.slack.test/services/T0/B0/slack-secret",
        "smtp_password": "smtp-password-value",
        "webhook_secret": "webhook-secret-value",
        "pagerduty_service_key": "pagerduty-key-value",
    }
    settings = Settings(**secrets)
    caplog.set_level(logging.INFO)

    logging.getLogger("axon.test").info("settings %s %r", settings, settings)

    shown = repr(settings) + str(settings) + caplog.text
    assert [value for value in secrets.values() if value in shown] == []
    assert "api_token" not in shown and "port=8000" in shown
    assert set(secrets.values()) <= set(settings.secrets())


def test_each_plugin_reads_its_own_variables():
    env = {
        "AXON_GITHUB_TOKEN": "ghp_env",
        "AXON_GITHUB_API_URL": "https://ghe.example/api/v3",
        "AXON_GITLAB_TOKEN": "glpat_env",
        "AXON_SLACK_CHANNEL": "#ml",
        "AXON_SMTP_HOST": "mail.example",
        "AXON_EMAIL_RECIPIENTS": "team@example.com",
        "AXON_PAGERDUTY_SERVICE_KEY": "routing",
        "AXON_KUBERNETES_NAMESPACE": "ml",
        "AXON_ALLOW_PRIVATE_URLS": "yes",
        "AXON_NOTIFY_TIMEOUT_SECONDS": "3",
    }
    settings = Settings.from_env(env)

    assert settings.notifier_config("checks") == settings.notifier_config("github")
    assert settings.notifier_config("github")["api_url"] == "https://ghe.example/api/v3"
    assert settings.notifier_config("note")["token"] == "glpat_env"
    assert settings.notifier_config("slack")["channel"] == "#ml"
    assert settings.notifier_config("slack")["allow_private"] is True
    email = settings.notifier_config("email")
    assert (email["host"], email["recipients"], email["timeout"]) == (
        "mail.example",
        "team@example.com",
        3.0,
    )
    assert settings.notifier_config("pagerduty")["routing_key"] == "routing"
    assert "allow_private" not in settings.notifier_config("github")
    assert settings.runner_config("kubernetes")["namespace"] == "ml"
    assert settings.runner_config("local") == {
        "root": settings.runs_dir,
        "system_metrics_interval": 10.0,
    }
    assert KubernetesSettings.load(env).namespace == "ml"


def test_in_code_a_plugin_value_goes_by_its_variables_name():
    settings = Settings(github_token="ghp_code", kubernetes_namespace="ml")

    changed = settings.model_copy(update={"github_token": "", "port": 9000})

    assert settings.notifier_config("comment")["token"] == "ghp_code"
    assert (changed.notifier_config("comment")["token"], changed.port) == ("", 9000)
    assert changed.runner_config("kubernetes")["namespace"] == "ml"
    with pytest.raises(SettingsError, match="AXON_PORT: expected an integer"):
        settings.model_copy(update={"port": "high"})


def test_variables_are_read_in_any_case_and_only_when_asked(monkeypatch):
    monkeypatch.setenv("AXON_PORT", "1234")

    assert Settings.from_env({"axon_port": "9"}).port == 9
    assert Settings().port == 8000  # built in code: the process's variables play no part
    assert Settings.from_env().port == 1234


def test_axon_prints_a_bad_setting_in_one_line_without_a_traceback(tmp_path):
    env = {"AXON_HOME": str(tmp_path), "AXON_EMBEDDED": "flase"}

    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)

    assert result.exit_code == 1
    assert result.output == "Error: AXON_EMBEDDED: expected true/false/1/0/yes/no, got 'flase'\n"


def test_reading_every_plugins_settings_never_imports_the_kubernetes_client():
    probe = "import sys; from ci.config import Settings; Settings.from_env({});"
    probe += "print('kubernetes' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)

    assert result.stdout.strip() == "False", result.stderr


def test_the_readme_settings_tables_are_the_models():
    readme = README.read_text()

    assert marked(readme) == tables(), "run: python -m ci.cli.settings_table --write README.md"


def test_a_drifted_readme_table_is_caught_and_rewritten():
    readme = README.read_text()
    drifted = readme.replace("| `AXON_PORT` | `8000` |", "| `AXON_PORT` | `8080` |")

    assert drifted != readme and marked(drifted) != tables()
    assert render(drifted) == readme
