"""The candidate's side of the unit-test harness: import `solution` and answer calls on the socket.

Runs in the sandbox as the peer uid, in a directory the harness's uid owns nothing in, with
solution.py and ttc_wire.py beside it. Nothing here is trusted: the candidate's code shares this
process and may rewrite any of it. The harness decodes every reply strictly and judges on its own
objects, so the worst a rewrite can do is send wrong plain data or none.
"""
import os
import sys

import ttc_wire as wire


def describe_exception(exc):
    return [type(exc).__name__, str(exc)[:2000]]


def public_names(module):
    """[name, "callable" | "value"] for what `from solution import *` would bind, less what
    cannot cross (imported modules, objects that are not plain data): the tests get those
    names only by asking, and then learn that they cannot have them."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    listed = []
    for name in names:
        value = getattr(module, name, None)
        if callable(value) and not isinstance(value, type(sys)):
            listed.append([name, "callable"])
        elif crosses(value):
            listed.append([name, "value"])
    return listed


def crosses(value):
    try:
        wire.encode(value)
        return True
    except wire.NotPlainData:
        return False


def answer(module, request):
    op, name = request.get("op"), request.get("name", "")
    if op == "names":
        return {"ok": public_names(module)}
    if not hasattr(module, name):
        return {"missing": True}
    target = getattr(module, name)
    if op == "get":
        return {"callable": True} if callable(target) else {"ok": target}
    try:
        value = target(*request["args"], **request["kwargs"])
    except Exception as exc:  # the candidate's exception: the harness re-raises its kind
        return {"raised": describe_exception(exc)}
    return {"ok": value}


def serve(fd, module):
    while True:
        try:
            request = wire.receive(fd)
        except wire.ChannelClosed:
            return
        reply = answer(module, request)
        try:
            wire.send(fd, reply)
        except wire.NotPlainData as exc:
            wire.send(fd, {"not_plain": str(exc)})


def main():
    fd = int(os.environ["SANDBOX_PEER_FD"])
    sys.path.insert(0, os.getcwd())
    try:
        import solution
    except BaseException as exc:  # noqa: BLE001  (SyntaxError, SystemExit, ...: the candidate's failure)
        sys.stderr.write("importing the solution failed: %s: %s\n" % tuple(describe_exception(exc)))
        wire.send(fd, {"import_error": describe_exception(exc)})
        return
    wire.send(fd, {"ready": True})
    serve(fd, solution)


main()
