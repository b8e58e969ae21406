"""Judge mode against a loopback OpenAI-compatible server: success, retries, persistent failure,
and the API key never leaving the request header."""

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from eval.judge import MASK, Judge, JudgeConfig, JudgeError
from eval.scoring import Target

KEY_ENV = "DURIAN_TEST_JUDGE_KEY"
KEY = "sk-loopback-secret-7f3a9c"


def _reply(prompt: str) -> str:
    """A rule-following stand-in for the judge model."""
    if "Judgement:" in prompt:
        answer = re.findall(r"\[Standard Answer\]: (.*)", prompt)[-1].strip()
        extracted = re.findall(r"\[Model_answer\]: (.*)", prompt)[-1].strip()
        return "1" if answer == extracted else "0"
    response = prompt.rsplit("Model response:", 1)[-1] if "Extracted answer:" in prompt else prompt
    boxed = re.findall(r"\\boxed\{([^{}]*)\}", response)
    if "Output only the letter" in prompt:
        return boxed[-1].upper() if boxed else "unclear"
    numbers = re.findall(r"\d+", response)
    return boxed[-1] if boxed else numbers[-1] if numbers else "null"


class Server:
    """``failures`` 500 replies first (-1: always), then ``reply`` or the stand-in judge; with
    ``fail_after``, 500 replies for good once that many requests were answered. With ``echo``, every
    answer sends the request's Authorization header back: in the reply's text (after the answer), a
    JSON field and a response header, and in a failure's HTTP status text and body."""

    def __init__(self, failures: int = 0, reply: str | None = None, fail_after: int | None = None,
                 echo: bool = False):
        self.failures, self.fixed, self.requests, self.fail_after = failures, reply, [], fail_after
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization")
                outer.requests.append({"path": self.path, "auth": auth, "body": body})
                said = f"you sent {auth}" if echo else ""
                if outer.fail_after is not None and len(outer.requests) > outer.fail_after:
                    outer.failures = -1
                if outer.failures != 0:
                    outer.failures -= 1 if outer.failures > 0 else 0
                    self.send_response(500, f"overloaded {said}".strip())
                    self.end_headers()
                    self.wfile.write(f"overloaded {said}".encode())
                    return
                content = outer.fixed if outer.fixed is not None else _reply(body["messages"][0]["content"])
                reply = {"choices": [{"message": {"role": "assistant", "content": f"{content}\n({said})" if echo
                                                  else content}}], **({"echo": auth} if echo else {})}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if echo:
                    self.send_header("X-Echo", str(auth))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    servers = []

    def make(**kwargs) -> Server:
        servers.append(Server(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def judge_for(server: Server, retries: int = 2) -> Judge:
    config = JudgeConfig(server.url, "loopback-judge", KEY_ENV, retries=retries, backoff_seconds=0.01,
                         timeout_seconds=5.0)
    return Judge(config)


def test_judge_extracts_and_judges(server_factory):
    server = server_factory()
    judge = judge_for(server)
    boxed = judge.score("mathverse", "<think>x</think> \\boxed{4}", Target("4"), "How many?")
    assert (boxed.extracted, boxed.method, boxed.correct) == ("4", "boxed+judge", True)
    unboxed = judge.score("mathverse", "I count 4 shapes.", Target("4"), "How many?")
    assert (unboxed.extracted, unboxed.method, unboxed.correct) == ("4", "judge", True)
    wrong = judge.score("mathverse", "<think>x</think> \\boxed{3}", Target("4"), "How many?")
    assert wrong.correct is False
    choice = judge.score("mathvista", "<think>x</think> \\boxed{C}", Target("C", "choice", ("3", "4", "5")), "q")
    assert (choice.extracted, choice.correct) == ("C", True)
    by_text = judge.score("mathvision", "so \\boxed{5}", Target("C", "choice", ("3", "4", "5")), "q")
    assert by_text.correct is True
    wemath = judge.score("wemath", "\\boxed{b}", Target("B", "choice", ("3", "4", "5", "6", "none")), "q")
    assert (wemath.extracted, wemath.correct) == ("B", True)
    assert all(r["path"] == "/v1/chat/completions" for r in server.requests)
    assert all(r["body"]["model"] == "loopback-judge" and r["body"]["temperature"] == 0 for r in server.requests)
    assert all(r["auth"] == f"Bearer {KEY}" for r in server.requests)
    with pytest.raises(ValueError, match="rules only"):
        judge.score("geometry3k", "\\boxed{1}", Target("1"), "q")


def test_judge_retries_then_succeeds(server_factory):
    server = server_factory(failures=2)
    assert judge_for(server, retries=2).chat("Extracted answer: \\boxed{7}") == "7"
    assert len(server.requests) == 3


def test_persistent_failure_raises_without_the_key(server_factory, capsys, caplog):
    server = server_factory(failures=-1, echo=True)  # its status text holds the key sent
    with pytest.raises(JudgeError, match="failed after 3 attempts: HTTP 500") as error:
        judge_for(server, retries=2).score("mathvista", "\\boxed{1}", Target("1"), "q")
    assert len(server.requests) == 3
    captured = capsys.readouterr()
    assert KEY not in str(error.value) + repr(error.value) + captured.out + captured.err + caplog.text
    assert f"you sent Bearer {MASK}" in str(error.value)  # the echo came back, masked
    echoed = judge_for(server_factory(echo=True)).chat("Extracted answer: \\boxed{7}")
    assert echoed == f"7\n(you sent Bearer {MASK})"


def test_malformed_judgement_is_a_failure_not_a_zero(server_factory):
    server = server_factory(reply="maybe")
    with pytest.raises(JudgeError, match="malformed reply"):
        judge_for(server, retries=1).matches("q", "4", "4")
    assert len(server.requests) == 2


def test_unreachable_server_and_missing_key(server_factory, monkeypatch):
    server = server_factory()
    url = server.url
    server.close()
    with pytest.raises(JudgeError, match="failed after 2 attempts"):
        Judge(JudgeConfig(url, "m", KEY_ENV, retries=1, backoff_seconds=0.01, timeout_seconds=2)).chat("hi")
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(JudgeError, match=f"{KEY_ENV} is not set"):
        Judge(JudgeConfig(url, "m", KEY_ENV)).chat("hi")


# ------------------------------------------------------------------- through lmms-eval (tiny model)
SMOKE = {"max_new_tokens": 32, "min_pixels": 3136, "max_pixels": 12544, "limit": 3}


@pytest.fixture
def debug_everywhere(caplog, monkeypatch):
    """Every logging logger at DEBUG and propagating to caplog's handler (transformers' own does not
    propagate), and a DEBUG sink on loguru, which lmms-eval logs through; yields loguru's messages."""
    import datasets  # noqa: F401 - libraries that set their loggers' levels on import, imported first
    import lmms_eval.evaluator
    import lmms_eval.models  # noqa: F401 - resets loguru's sinks on import
    import transformers  # noqa: F401
    from loguru import logger as loguru

    caplog.set_level(logging.DEBUG)
    for name, item in list(logging.root.manager.loggerDict.items()):
        if isinstance(item, logging.Logger):
            caplog.set_level(logging.DEBUG, logger=name)
            monkeypatch.setattr(item, "propagate", True)
    messages: list[str] = []
    sink = loguru.add(messages.append, level="DEBUG")
    yield messages
    loguru.remove(sink)


def test_judge_mode_run_records_the_judge_and_never_the_key(server_factory, smoke_world, tmp_path, debug_everywhere,
                                                           caplog, capfd):
    """A full judge-mode lmms-eval run against a judge that echoes the key in every answer and
    failure: the key is in no log record at any level, nothing written to the process's stdout or
    stderr (file-descriptor level), no error and no file the run writes."""
    from eval.fixtures import write_fixtures
    from eval.run import evaluate

    fixtures = write_fixtures(tmp_path / "fixtures", n=6)
    server = server_factory(echo=True)
    config = JudgeConfig(server.url, "loopback-judge", KEY_ENV, retries=1, backoff_seconds=0.01)
    out = tmp_path / "out"
    summary = json.loads(evaluate(smoke_world / "model", "mathverse", out, run="judge-smoke", scoring="judge",
                                  judge=config, data_files=fixtures["mathverse"], **SMOKE).read_text())
    assert (summary["scoring"], summary["judge_model"], summary["n"]) == ("judge", "loopback-judge", 3)
    assert server.requests, "the judge was never asked"
    assert all(r["auth"] == f"Bearer {KEY}" for r in server.requests)  # the key was sent, and echoed
    rows = [json.loads(line) for line in (out / "mathverse.samples.jsonl").read_text().splitlines()]
    assert all(r["method"] in ("boxed+judge", "judge") for r in rows)

    # HallusionBench stays rule-scored (docs/method.md §9) even when a judge is configured.
    rules = json.loads(evaluate(smoke_world / "model", "hallusionbench", out, run="judge-smoke", scoring="judge",
                                judge=config, data_files=fixtures["hallusionbench"], **SMOKE).read_text())
    assert (rules["scoring"], rules["scoring_requested"], rules["judge_model"]) == ("rules", "judge", None)

    server.failures = -1
    with pytest.raises(JudgeError) as failed:
        evaluate(smoke_world / "model", "wemath", tmp_path / "failed", run="judge-down", scoring="judge",
                 judge=config, data_files=fixtures["wemath"], **SMOKE)
    assert not (tmp_path / "failed" / "wemath.json").exists()
    assert f"you sent Bearer {MASK}" in str(failed.value)  # the server's echo reached the error, masked

    captured = capfd.readouterr()
    assert any(r.levelno == logging.DEBUG for r in caplog.records), "nothing was logged at DEBUG"
    assert any("| DEBUG" in message for message in debug_everywhere), "lmms-eval's loguru logged nothing at DEBUG"
    logged = caplog.text + "".join(debug_everywhere) + captured.out + captured.err
    assert KEY not in logged + str(failed.value) + repr(failed.value)
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert {out / "mathverse.json", out / "mathverse.samples.jsonl", out / "mathverse.generations.jsonl",
            out / "hallusionbench.json"} <= set(written)
    assert [path for path in written if KEY.encode() in path.read_bytes()] == []


# ------------------------------------------------------------- judge failures before and after generation
@pytest.fixture
def no_model(monkeypatch):
    from eval.session import Session

    monkeypatch.setattr(Session, "lm", lambda self: pytest.fail("the model was loaded: generation began"))


def test_an_unreachable_judge_or_an_unset_key_fails_before_any_generation(server_factory, no_model, tmp_path,
                                                                         monkeypatch):
    from eval.fixtures import write_fixtures
    from eval.run import evaluate, evaluate_many

    fixtures = write_fixtures(tmp_path / "fixtures", n=4)
    server = server_factory()
    url = server.url
    server.close()
    down = JudgeConfig(url, "m", KEY_ENV, retries=1, backoff_seconds=0.01, timeout_seconds=2)
    with pytest.raises(JudgeError, match="failed after 2 attempts"):
        evaluate("unused-model", "mathverse", tmp_path / "out", run="x", scoring="judge", judge=down,
                 data_files=fixtures["mathverse"], **SMOKE)
    # checked before the first benchmark, even one scored by rules (HallusionBench) that comes first
    with pytest.raises(JudgeError, match="failed after 2 attempts"):
        evaluate_many("unused-model", ["hallusionbench", "mathverse"], tmp_path / "out", run="x", scoring="judge",
                      judge=down, data_files=fixtures, **SMOKE)
    monkeypatch.delenv(KEY_ENV)
    live = server_factory()
    with pytest.raises(JudgeError, match=f"{KEY_ENV} is not set"):
        evaluate("unused-model", "wemath", tmp_path / "out", run="x", scoring="judge", data_files=fixtures["wemath"],
                 judge=JudgeConfig(live.url, "m", KEY_ENV, retries=0), **SMOKE)
    assert not live.requests and not (tmp_path / "out").exists()


def test_a_judge_failing_midway_keeps_the_generations_and_a_rerun_reuses_them(server_factory, smoke_world, tmp_path,
                                                                            monkeypatch):
    from eval.fixtures import write_fixtures
    from eval.run import evaluate
    from eval.session import Session

    fixtures = write_fixtures(tmp_path / "fixtures", n=6)
    server = server_factory(fail_after=2)  # the check and one question answered, then down
    config = JudgeConfig(server.url, "loopback-judge", KEY_ENV, retries=1, backoff_seconds=0.01, timeout_seconds=5)
    out = tmp_path / "out"
    with pytest.raises(JudgeError, match="HTTP 500"):
        evaluate(smoke_world / "model", "mathverse", out, run="judged", scoring="judge", judge=config,
                 data_files=fixtures["mathverse"], **SMOKE)
    assert not (out / "mathverse.json").exists()
    lines = (out / "mathverse.generations.jsonl").read_text().splitlines()
    header, generations = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert header["benchmark"] == "mathverse" and header["limit"] == 3 and len(generations) == 3
    assert all(isinstance(g["prediction"], str) and "visual_entropy" in g for g in generations)

    server.fail_after, server.failures = None, 0  # the judge is back; generating again would fail the test
    monkeypatch.setattr(Session, "lm", lambda self: pytest.fail("regenerated"))
    summary = json.loads(evaluate(smoke_world / "model", "mathverse", out, run="judged", scoring="judge",
                                  judge=config, data_files=fixtures["mathverse"], **SMOKE).read_text())
    assert (summary["generations"], summary["scoring"], summary["n"]) == ("reused", "judge", 3)
    rows = [json.loads(line) for line in (out / "mathverse.samples.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in rows] == [g["prediction"] for g in generations]
    assert all(r["method"] in ("boxed+judge", "judge") for r in rows)
    # other settings (a different limit) are not these generations: they would be generated again
    with pytest.raises(pytest.fail.Exception, match="regenerated"):
        evaluate(smoke_world / "model", "mathverse", out, run="judged", scoring="judge", judge=config,
                 data_files=fixtures["mathverse"], **{**SMOKE, "limit": 2})


def test_the_judge_timeout_is_a_setting(monkeypatch, capsys):
    from eval import run

    seen = []
    monkeypatch.setattr(run, "evaluate_many", lambda *args, **kwargs: seen.append(kwargs))
    base = ["--model", "M", "--run", "R", "--out", "O", "--device", "cpu", "--benchmarks", "mathverse",
            "--scoring", "judge", "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "m"]
    run.main(base + ["--judge-timeout", "7.5"])
    run.main(base)
    assert [kwargs["judge"].timeout_seconds for kwargs in seen] == [7.5, 120.0]
    with pytest.raises(SystemExit) as error:
        run.main(base + ["--judge-timeout", "0"])
    assert error.value.code == 2 and "--judge-timeout" in capsys.readouterr().err and len(seen) == 2


def test_python_m_eval_run_scores_with_the_judge(server_factory, smoke_world, tmp_path):
    """``python -m eval.run --scoring judge`` as a user calls it, against the loopback judge."""
    import os
    import subprocess
    import sys

    from eval.fixtures import write_fixtures

    fixtures = write_fixtures(tmp_path / "fixtures", n=4)
    server, out = server_factory(), tmp_path / "out"
    command = [sys.executable, "-m", "eval.run", "--model", str(smoke_world / "model"), "--run", "cli-judge",
               "--out", str(out), "--benchmarks", "mathvision", "--data-file", f"mathvision={fixtures['mathvision']}",
               "--limit", "2", "--max-new-tokens", "16", "--min-pixels", "3136", "--max-pixels", "12544",
               "--device", "cpu", "--scoring", "judge", "--judge-url", server.url, "--judge-model", "loopback-judge",
               "--judge-key-env", KEY_ENV, "--judge-timeout", "30"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, KEY_ENV: KEY},
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.fullmatch(r"mathvision +n=2 +accuracy=\d\.\d{3} +\d+\.\d s", done.stdout.strip().splitlines()[-1])
    summary = json.loads((out / "mathvision.json").read_text())
    assert (summary["scoring"], summary["judge_model"], summary["judge_base_url"]) == ("judge", "loopback-judge",
                                                                                      server.url)
    assert summary["extraction"] == "judge:extract" and summary["n"] == 2  # MathVision: the judge extracts
    rows = [json.loads(line) for line in (out / "mathvision.samples.jsonl").read_text().splitlines()]
    assert [r["method"] for r in rows] == ["judge", "judge"]
    # one check before generating, then one extraction per question, each with the key
    assert len(server.requests) == 3 and server.requests[0]["body"]["max_tokens"] == 1
    assert all(r["auth"] == f"Bearer {KEY}" and r["body"]["model"] == "loopback-judge" for r in server.requests)
    assert KEY not in done.stdout + done.stderr
