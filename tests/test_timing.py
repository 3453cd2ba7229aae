"""The stage timer behind the book's profile table (ecgsignal.timing)."""

import json
import time

import pytest

from ecgsignal import timing
from ecgsignal.errors import ConfigError


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv(timing.ENV_FILE, raising=False)
    monkeypatch.delenv(timing.ENV_CHAPTER, raising=False)
    timing.reset()
    yield
    timing.reset()


def test_nested_stages_record_self_time_so_kinds_add_up():
    with timing.stage("experiment", "outer"):
        time.sleep(0.05)
        with timing.stage("attribution", "inner"):
            time.sleep(0.1)
    recs = {r["name"]: r for r in timing.records()}
    assert recs["inner"]["seconds"] >= 0.09
    # the outer stage's own time excludes the inner one
    assert 0.04 <= recs["outer"]["seconds"] < 0.09
    assert recs["outer"]["kind"] == "experiment"


def test_records_go_to_the_file_named_by_the_environment(tmp_path, monkeypatch):
    log = tmp_path / "sub" / "t.jsonl"
    monkeypatch.setenv(timing.ENV_FILE, str(log))
    monkeypatch.setenv(timing.ENV_CHAPTER, "06_randomization")

    @timing.timed("bootstrap")
    def boot(x):
        return x + 1

    with timing.stage("experiment", "randomization"):
        assert boot(1) == 2
        assert not log.exists()  # written when the outermost stage ends, in one write
    recs = timing.read_timings(log)
    assert [(r["kind"], r["name"]) for r in recs] == [("bootstrap", "boot"),
                                                     ("experiment", "randomization")]
    assert {r["chapter"] for r in recs} == {"06_randomization"}


def test_read_timings_skips_a_line_cut_by_a_killed_run(tmp_path):
    log = tmp_path / "t.jsonl"
    log.write_text(json.dumps({"kind": "data", "seconds": 1.5}) + "\n{\"kind\": \"attri")
    assert timing.read_timings(log) == [{"kind": "data", "seconds": 1.5}]


def test_unknown_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown timing kind 'plotting'"):
        with timing.stage("plotting"):
            pass
    with pytest.raises(ConfigError, match="unknown timing kind"):
        timing.timed("nope")


def test_an_exception_still_closes_the_stage():
    with pytest.raises(RuntimeError):
        with timing.stage("training", "boom"):
            raise RuntimeError("x")
    with timing.stage("data", "after"):
        pass
    assert [r["name"] for r in timing.records()] == ["boom", "after"]
