"""A program that looks for ways out of the sandbox; it exits 1 listing each one it found.

It flags environment variables whose names look like the server's (prefixes or words), files
that hold a marker (a secret, the host's Ray variables in init's environment), and every
(host, port) it can connect to (Ray's GCS and dashboard, the Docker bridge, the host).
"""
from __future__ import annotations

PROBE = '''
import os, socket, sys
leaks = [k for k in os.environ if k.startswith({prefixes!r}) or any(w in k for w in {words!r})]
for path, marker in {files!r}:
    try:
        if marker in open(path, errors="ignore").read():
            leaks.append(path)
    except OSError:
        pass
for host, port in {targets!r}:
    try:
        socket.create_connection((host, port), timeout=1)
        leaks.append(f"{{host}}:{{port}}")
    except OSError:
        pass
print(leaks)
if leaks:
    sys.exit(1)
'''


def escape_probe(targets: list[tuple[str, int]], files: list[tuple[str, str]] = (),
                 prefixes: tuple[str, ...] = ("RAY_", "TTC_"), words: tuple[str, ...] = ("KEY", "TOKEN")) -> str:
    return PROBE.format(prefixes=tuple(prefixes), words=tuple(words), files=list(files), targets=list(targets))
