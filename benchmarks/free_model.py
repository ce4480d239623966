"""A model made free: a loopback OpenAI-compatible server that answers at once.

Benchmarks of everything after generation (execution, verification, selection, storing,
orchestration) start one, so the numbers they print are the pipeline's, not a model's. It knows
the tasks by prompt; `answer(task, seed, index)` makes the text of sample `index` of a request
seeded `seed`. Runs in a thread of the process that starts it, or in a process of its own
(`start_in_process`) when that process's CPU is what is being measured.
"""
from __future__ import annotations

import json
import multiprocessing
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Callable

from pipeline.core.types import Task

Answer = Callable[[Task, int, int], str]


class FreeModel(BaseHTTPRequestHandler):
    """/v1/completions and /v1/chat/completions, answered at once from the task's prompt."""

    protocol_version = "HTTP/1.1"  # keep-alive: the generator's requests.Session reuses its connection

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        chat = self.path.endswith("/chat/completions")
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        task = self.server.tasks.get(prompt)
        if task is None or not self.path.endswith("/completions"):
            return self.reply(404, {"error": {"message": f"no task for this prompt at {self.path}"}})
        seed = body.get("seed") or next(self.server.unseeded)
        choices = []
        for index in range(int(body.get("n", 1))):
            text = self.server.answer(task, seed, index)
            choices.append({"index": index, "finish_reason": "stop",
                            **({"message": {"role": "assistant", "content": text}} if chat else {"text": text})})
        self.reply(200, {"object": "chat.completion" if chat else "text_completion", "choices": choices,
                         "usage": {"prompt_tokens": 60, "completion_tokens": 20 * len(choices)}})

    def reply(self, status: int, data: dict) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # one line per request would cost more than the answer
        pass


def make_server(tasks: list[Task], answer: Answer, port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), FreeModel)
    server.daemon_threads = True
    server.tasks = {t.prompt: t for t in tasks}
    server.answer = answer
    server.unseeded = count(1)
    return server


def start_model_server(tasks: list[Task], answer: Answer) -> ThreadingHTTPServer:
    """The server in a daemon thread of this process; `shutdown()` stops it."""
    server = make_server(tasks, answer)
    threading.Thread(target=server.serve_forever, daemon=True, name="free-model").start()
    return server


def _serve(tasks: list[Task], answer: Answer, ports) -> None:
    server = make_server(tasks, answer)
    ports.put(server.server_port)
    server.serve_forever()


def start_in_process(tasks: list[Task], answer: Answer) -> tuple[multiprocessing.Process, int]:
    """The server in a child process (start it before Ray: it forks); returns it and its port.
    `answer` must be a module-level function (it is pickled)."""
    ports = multiprocessing.get_context("fork").Queue()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(tasks, answer, ports),
                                                          daemon=True, name="free-model")
    process.start()
    return process, ports.get(timeout=30)
