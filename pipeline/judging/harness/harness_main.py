"""The harness side of the unit-test verifier: run the task's tests on the harness's own objects,
calling the candidate's functions across the socket, and report.

Runs in the sandbox as the sandbox uid in /work (mode 0700), which holds the tests, this file and
harness_spec.bin; the candidate runs beside it as another uid and reaches us only through the
socket in $SANDBOX_PEER_FD. Standard library only, and no module a bare interpreter has not
loaded beyond what ttc_wire needs (each costs every verification its import time).

The report is one line on the stdout we were started with, `ttc-harness-report ` and the repr of
a dict of plain values; the tests' own prints go to stderr. It says `passed` only when the tests ran to their end, the candidate answered every call
with plain data, and at least one call was made. Anything else (the candidate exiting, hanging,
answering garbage or an object that is not plain data) is recorded here, where the tests cannot
swallow it, and fails the run whatever the tests did with the exception.
"""
import builtins
import os
import sys
import time

import ttc_wire as wire

SPEC_FILE = "harness_spec.bin"
REPORT_PREFIX = "ttc-harness-report "


def reply_margin_s(timeout_s):
    """Time kept back to report before the sandbox's own timeout kills us (our start-up, on a
    loaded machine, already ate into it)."""
    return min(max(0.5, 0.25 * timeout_s), 2.0)


class CandidateBroken(BaseException):
    """The candidate can no longer be judged (gone, hung, garbled, not plain data). A
    BaseException, so that a test's `except Exception` cannot swallow it."""


class RemoteError(Exception):
    """An exception of the candidate's whose type is not a builtin exception."""


class Channel:
    def __init__(self, fd, deadline):
        self.fd, self.deadline = fd, deadline
        self.calls, self.broken, self.timed_out, self.ready = 0, None, False, False

    def request(self, message):
        if self.broken:
            raise CandidateBroken(self.broken)
        try:
            wire.send(self.fd, message)
        except OSError:  # a closed peer: EPIPE, ECONNRESET
            self.fail("the candidate's process exited before answering")
        return self.receive()

    def receive(self):
        try:
            reply = wire.receive(self.fd, self.deadline, time.monotonic)
        except wire.ChannelTimeout:
            self.timed_out = True
            self.fail("the candidate did not answer in time")
        except (OSError, wire.ChannelClosed):
            self.fail("the candidate's process exited before answering")
        except wire.NotPlainData as garbled:
            self.fail("garbled reply from the candidate: %s" % garbled)
        if type(reply) is not dict:
            self.fail("garbled reply from the candidate")
        return reply

    def fail(self, reason):
        self.broken = self.broken or reason
        raise CandidateBroken(self.broken)

    def value(self, reply):
        if "not_plain" in reply:
            self.fail("the candidate returned something that is not plain data: %s" % reply["not_plain"])
        if "ok" not in reply:
            self.fail("garbled reply from the candidate")
        return reply["ok"]  # decoded by ttc_wire into our own builtin values already

    def call(self, name, args, kwargs):
        message = {"op": "call", "name": name, "args": list(args), "kwargs": kwargs}
        try:
            wire.encode(message)
        except wire.NotPlainData as bad:
            raise HarnessCannotJudge("the tests pass %s to %s(): only plain data can cross" % (bad, name)) from None
        self.calls += 1
        reply = self.request(message)
        if "raised" in reply:
            raise rebuilt_exception(reply["raised"])
        if "missing" in reply:
            raise AttributeError("module 'solution' has no attribute %r" % name)
        return self.value(reply)


class HarnessCannotJudge(BaseException):
    """The tests need something the harness cannot give them: an error verdict, not a fail."""


def rebuilt_exception(raised):
    """The candidate's exception as one of ours: the builtin type of that name, else RemoteError."""
    try:
        name, message = (str(part) for part in raised)
    except (TypeError, ValueError):
        name, message = "Exception", "malformed exception from the candidate"
    kind = getattr(builtins, name, None)
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        return RemoteError("%s: %s" % (name, message))
    try:
        return kind(message)
    except Exception:  # noqa: BLE001  (an exception type with other constructor arguments)
        return RemoteError("%s: %s" % (name, message))


class RemoteFunction:
    def __init__(self, channel, name):
        self.channel, self.__name__ = channel, name

    def __call__(self, *args, **kwargs):
        return self.channel.call(self.__name__, args, kwargs)

    def __repr__(self):
        return "<candidate function %s>" % self.__name__


def remote_module(channel):
    """A `solution` module whose functions are calls into the candidate's process and whose other
    attributes are plain-data copies of the candidate's, fetched when the tests ask for them."""
    module = type(sys)("solution")
    if channel.broken:  # it never loaded: the tests still import us, and each use fails
        module.__all__, module.__getattr__ = [], lambda name: channel.fail(channel.broken)
        return module
    names = channel.value(channel.request({"op": "names"}))
    if type(names) is not list or not all(type(n) is list and len(n) == 2 and type(n[0]) is str
                                          and n[0].isidentifier() for n in names):
        channel.fail("garbled reply from the candidate: a bad list of names")
    module.__all__ = [name for name, _ in names]
    module.__getattr__ = lambda name: remote_attribute(channel, name)  # PEP 562: only names not set
    return module


def remote_attribute(channel, name):
    if name.startswith("__"):
        raise AttributeError(name)  # the import machinery probes dunders: never the candidate's
    reply = channel.request({"op": "get", "name": name})
    if reply.get("missing"):
        raise AttributeError("module 'solution' has no attribute %r" % name)
    return RemoteFunction(channel, name) if reply.get("callable") is True else channel.value(reply)


def run_tests(spec, channel):
    if spec["format"] == "humaneval":
        namespace = prompt_namespace(spec.get("prompt", ""))
        candidate = RemoteFunction(channel, spec["entry_point"])
        namespace[spec["entry_point"]] = candidate
        exec(compile(spec["tests"], "tests", "exec"), namespace)
        namespace["check"](candidate)
    else:
        sys.modules["solution"] = remote_module(channel)
        exec(compile(spec["tests"], "test_solution.py", "exec"), {"__name__": "__main__"})


def prompt_namespace(prompt):
    """The task's own prompt, run on our side: HumanEval's tests call its helpers (`poly`,
    `encode_cyclic`), and those must be the task's, not the candidate's rewrites of them."""
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(prompt, "prompt", "exec"), namespace)
    except Exception:  # noqa: BLE001  (a prompt that is not a complete module: no helpers then)
        namespace = {"__name__": "__main__"}
    return namespace


def handshake(channel):
    reply = channel.receive()
    if "import_error" in reply:
        name, message = (list(reply["import_error"]) + ["", ""])[:2]
        return "importing the solution failed: %s: %s" % (name, message)
    if reply.get("ready") is not True:
        channel.fail("garbled greeting from the candidate")
    channel.ready = True
    return None


def judge(spec, channel):
    """(passed, failure, error): error when the harness could not judge at all."""
    try:
        failure = handshake(channel)
        if failure:
            run_anyway(spec, channel, failure)
            return False, failure, None
        run_tests(spec, channel)
    except CandidateBroken:
        pass
    except SystemExit as ended:  # the tests' own sys.exit (unittest.main ends so): 0 is their success
        if ended.code not in (None, 0):
            return False, "the tests exited with %r" % (ended.code,), None
    except HarnessCannotJudge as cannot:
        return False, None, str(cannot)
    except BaseException as exc:  # noqa: BLE001  (an assertion, an exception of the tests)
        return False, describe_failure(exc), None
    if channel.broken:
        return False, channel.broken, None
    if channel.calls == 0:
        return False, None, "the tests never called the candidate"
    return True, None, None


def run_anyway(spec, channel, failure):
    """The tests, run although the candidate failed to load (each call fails at once), so that what
    they print or check of the sandbox itself does not depend on the candidate; the load failure
    decides the verdict whatever they do."""
    channel.broken = failure
    try:
        run_tests(spec, channel)
    except BaseException:  # noqa: BLE001
        pass


def describe_failure(exc):
    """`AssertionError: message (tests, line 7)`: what traceback would say, without importing it."""
    text = type(exc).__name__ + (": %s" % exc if str(exc) else "")
    tb, where = exc.__traceback__, ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in ("tests", "test_solution.py"):
            where = " (%s, line %d)" % (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return (text + where)[-2000:]


def probe_outputs(spec, channel):
    """The candidate's outputs on the task's probe inputs (majority vote over behaviour), from
    this same execution: ["ok", value] or ["raised", exception name] per input, or None when the
    candidate could not be asked (it broke, or never loaded)."""
    if not spec.get("probes") or channel.broken or not channel.ready:
        return None
    function, outputs = RemoteFunction(channel, spec["entry_point"]), []
    for args in spec["probes"]:
        try:
            outputs.append(["ok", function(*args)])
        except CandidateBroken:
            return None
        except Exception as exc:  # noqa: BLE001  (the candidate's exception is its output)
            outputs.append(["raised", type(exc).__name__])
    return outputs


def main():
    report = os.dup(1)
    os.dup2(2, 1)  # the tests' prints go to stderr, never into the report
    with open(SPEC_FILE, "rb") as f:
        spec = wire.decode(f.read())
    deadline = time.monotonic() + float(spec["timeout_s"]) - reply_margin_s(float(spec["timeout_s"]))
    channel = Channel(int(os.environ["SANDBOX_PEER_FD"]), deadline)
    passed, failure, error = judge(spec, channel)
    calls = channel.calls  # the tests' own calls, before any probe
    outputs = probe_outputs(spec, channel)
    summary = {"ttc_harness": 1, "passed": passed, "calls": calls, "timed_out": channel.timed_out,
               "failure": failure, "error": error}
    if spec.get("probes"):  # plain data the candidate chose (nan, sets): ttc_wire's bytes, not a repr
        summary["probe_outputs"] = None if outputs is None else wire.encode(outputs).hex()
    for stream in (sys.stdout, sys.stderr):  # the tests' prints, before _exit drops them
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  (a test that closed or replaced its stream)
            pass
    os.write(report, (REPORT_PREFIX + repr(summary) + "\n").encode())
    os._exit(0)  # whatever the tests left behind (threads, atexit hooks) cannot change the report


main()
