"""Every configuration error exits 2 with one line naming the field, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mention_monitor.cli import main
from mention_monitor.config import load_settings
from mention_monitor.errors import ConfigError
from tests.conftest import REPO, SRC_PATH, toml_config

GOOD = """
[x]
api_base = "http://127.0.0.1:9"
[[watches]]
name = "Acme"
terms = ["acme"]
notify = ["c"]
[notifiers.c]
type = "console"
"""


def test_defaults_and_env_override(tmp_path, monkeypatch):
    cfg = toml_config(tmp_path, GOOD)
    s = load_settings(cfg)
    assert s.log_level == "INFO"
    assert (s.x.max_query_length, s.x.page_size, s.x.auth) == (512, 100, "bearer")
    assert s.state.backend == "sqlite" and s.secrets.backend == "env"
    w = s.watches[0]
    assert (w.first_run, w.include_retweets) == ("latest", False)
    monkeypatch.setenv("MENTION_MONITOR_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("MENTION_MONITOR_X__PAGE_SIZE", "50")
    monkeypatch.setenv("MENTION_MONITOR_STATE__TABLE", "t1")
    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", "not-a-config-key")
    s = load_settings(cfg)
    assert (s.log_level, s.x.page_size, s.state.table) == ("DEBUG", 50, "t1")
    assert s.x.api_base == "http://127.0.0.1:9"  # the file still applies where env is silent


def test_config_path_from_env_then_default(tmp_path, monkeypatch):
    cfg = toml_config(tmp_path, GOOD, name="elsewhere.toml")
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(cfg))
    assert load_settings().watches[0].name == "Acme"
    monkeypatch.delenv("MENTION_MONITOR_CONFIG")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"monitor\.toml"):
        load_settings()


BAD = [
    ("bad toml", "[x\napi_base = 1", "not valid TOML"),
    ("unknown top key", GOOD + "\nbogus = 1\n", "bogus: unknown key"),
    ("unknown x key", GOOD.replace("[x]", "[x]\nfoo = 2"), "x.foo: unknown key"),
    ("page size", GOOD.replace("[x]", "[x]\npage_size = 500"), "x.page_size"),
    ("auth", GOOD.replace("[x]", '[x]\nauth = "basic"'), "x.auth"),
    ("empty terms", GOOD.replace('terms = ["acme"]', "terms = []"), "watches.0.terms"),
    ("blank term", GOOD.replace('terms = ["acme"]', 'terms = [" "]'), "watches.0.terms"),
    ("missing terms", GOOD.replace('terms = ["acme"]', ""), "watches.0.terms"),
    ("unknown notifier", GOOD.replace('notify = ["c"]', 'notify = ["nope"]'), "watches.0.notify"),
    ("unknown type", GOOD.replace('type = "console"', 'type = "pager"'), "notifiers.c.type"),
    ("bad option", GOOD + "colour = 'red'\n", "notifiers.c.colour: unknown key"),
    ("routing type", GOOD + "min_author_followers = 'many'\n", "notifiers.c.min_author_followers"),
    ("first run", GOOD.replace('notify = ["c"]', 'notify = ["c"]\nfirst_run = "all"'), "watches.0.first_run"),
    ("no watches", "[x]\n", "watches"),
    ("aws secret id", GOOD + '\n[secrets]\nbackend = "aws"\n', "secrets.aws_secret_id"),
    ("state backend", GOOD + '\n[state]\nbackend = "redis"\n', "state.backend"),
    ("log level", 'log_level = "LOUD"\n' + GOOD, "log_level"),
    ("duplicate watch", GOOD + '\n[[watches]]\nname = "Acme"\nterms = ["x"]\n', "watches.1.name"),
    ("bad author", GOOD.replace('notify = ["c"]', 'notify = ["c"]\nexclude_authors = ["a b"]'), "watches.0.exclude_authors"),
]


@pytest.mark.parametrize(("label", "body", "field"), BAD, ids=[b[0] for b in BAD])
def test_config_errors_exit_2_with_one_line(tmp_path, capsys, label, body, field):
    cfg = toml_config(tmp_path, body)
    code = main(["check", "--config", str(cfg)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert field in lines[0]
    assert "Traceback" not in err


def test_env_override_error_names_field(tmp_path, capsys, monkeypatch):
    cfg = toml_config(tmp_path, GOOD)
    monkeypatch.setenv("MENTION_MONITOR_X__PAGE_SIZE", "7")
    assert main(["run", "--config", str(cfg)]) == 2
    assert "x.page_size" in capsys.readouterr().err


def test_term_too_long_for_query(tmp_path, capsys):
    body = GOOD.replace("[x]", "[x]\nmax_query_length = 40").replace(
        'terms = ["acme"]', 'terms = ["' + "a" * 60 + '"]'
    )
    assert main(["check", "--config", str(toml_config(tmp_path, body))]) == 2
    assert "watches.0.terms" in capsys.readouterr().err


def test_real_process_no_traceback(tmp_path):
    cfg = toml_config(tmp_path, "[x\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mention_monitor", "run", "--config", str(cfg)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, "PYTHONPATH": SRC_PATH},
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert "TOML" in proc.stderr


def test_missing_secret_key_exits_2_naming_key(tmp_path, capsys):
    cfg = toml_config(tmp_path, GOOD)
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "x_bearer_token" in err and len(err.strip().splitlines()) == 1


def test_check_prints_queries_with_lengths(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.setenv("MENTION_MONITOR_SECRET_X_BEARER_TOKEN", "tok-123456")
    cfg = toml_config(tmp_path, GOOD.replace('terms = ["acme"]', 'terms = ["acme", "acme cloud"]'))
    assert main(["check", "--config", str(cfg)]) == 0
    out = json.loads(capsys.readouterr().out)
    q = out["watches"]["Acme"][0]
    assert q["query"] == '(acme OR "acme cloud") -is:retweet'
    assert q["length"] == len(q["query"])
    assert "tok-123456" not in json.dumps(out)


def test_example_config_is_valid():
    s = load_settings(Path(REPO / "examples" / "local.toml"))
    assert s.x.source == "replay" and s.state.backend == "sqlite"
