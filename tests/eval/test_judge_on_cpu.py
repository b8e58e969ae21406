"""Judge mode against a loopback OpenAI-compatible server: success, retries, persistent failure,
and the API key never leaving the request header."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from eval.judge import Judge, JudgeConfig, JudgeError
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
    """``failures`` 500 replies first (-1: always), then ``reply`` or the stand-in judge."""

    def __init__(self, failures: int = 0, reply: str | None = None):
        self.failures, self.fixed, self.requests = failures, reply, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if outer.failures != 0:
                    outer.failures -= 1 if outer.failures > 0 else 0
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"overloaded")
                    return
                content = outer.fixed if outer.fixed is not None else _reply(body["messages"][0]["content"])
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
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
    server = server_factory(failures=-1)
    with pytest.raises(JudgeError, match="failed after 3 attempts: HTTP 500") as error:
        judge_for(server, retries=2).score("mathvista", "\\boxed{1}", Target("1"), "q")
    assert len(server.requests) == 3
    captured = capsys.readouterr()
    assert KEY not in str(error.value) + repr(error.value) + captured.out + captured.err + caplog.text


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


def test_judge_mode_run_records_the_judge_and_never_the_key(server_factory, smoke_world, tmp_path):
    from eval.fixtures import write_fixtures
    from eval.run import evaluate

    fixtures = write_fixtures(tmp_path / "fixtures", n=6)
    server = server_factory()
    config = JudgeConfig(server.url, "loopback-judge", KEY_ENV, retries=1, backoff_seconds=0.01)
    out = tmp_path / "out"
    summary = json.loads(evaluate(smoke_world / "model", "mathverse", out, run="judge-smoke", scoring="judge",
                                  judge=config, data_files=fixtures["mathverse"], **SMOKE).read_text())
    assert (summary["scoring"], summary["judge_model"], summary["n"]) == ("judge", "loopback-judge", 3)
    assert server.requests, "the judge was never asked"
    rows = [json.loads(line) for line in (out / "mathverse.samples.jsonl").read_text().splitlines()]
    assert all(r["method"] in ("boxed+judge", "judge") for r in rows)
    assert all(KEY not in path.read_text() for path in out.iterdir())

    # HallusionBench stays rule-scored (docs/method.md §9) even when a judge is configured.
    rules = json.loads(evaluate(smoke_world / "model", "hallusionbench", out, run="judge-smoke", scoring="judge",
                                judge=config, data_files=fixtures["hallusionbench"], **SMOKE).read_text())
    assert (rules["scoring"], rules["scoring_requested"], rules["judge_model"]) == ("rules", "judge", None)

    server.failures = -1
    with pytest.raises(JudgeError):
        evaluate(smoke_world / "model", "wemath", tmp_path / "failed", run="judge-down", scoring="judge",
                 judge=config, data_files=fixtures["wemath"], **SMOKE)
    assert not (tmp_path / "failed" / "wemath.json").exists()
