"""A hostile handler hunts the learner's real AWS credentials by every route it has, and finds none.

The engine runs in a process of its own, started the way a learner starts Jupyter: "real" keys
exported in its environment (so they sit in its initial environment block, /proc/<pid>/environ),
a profile and its config variables, and a HOME whose ~/.aws holds the same keys (a HOME made for
this test: the machine's own ~/.aws is never touched). The handler looks in its environment, its
HOME, the files AWS_* variables name, the user's home from the password database, botocore's
credential chain after dropping the fake keys, the engine's /proc environ, memory and command line
(itself and through a program it runs), and reports what it tried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REAL = {
    "AWS_ACCESS_KEY_ID": "AKIAREALLEARNERKEY01",
    "AWS_SECRET_ACCESS_KEY": "real+learner+secret+0123456789abcdefghij",
    "AWS_SESSION_TOKEN": "real-learner-session-token-0123456789",
}
MARKERS = list(REAL.values())

HANDLER = r'''
import json
import os
import pwd
import subprocess

MARKERS = json.loads(r"""{markers}""")
MEMORY_SCAN_LIMIT = 512 * 1024 * 1024


def found_in(data):
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    return [m for m in MARKERS if m.encode() in data]


def read(path):
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        return error


def file_route(path):
    data = read(path)
    if isinstance(data, Exception):
        return {"found": [], "tried": f"{path}: {type(data).__name__}"}
    return {"found": found_in(data), "tried": f"{path}: read {len(data)} bytes"}


def memory_route(pid):
    maps = read(f"/proc/{pid}/maps")
    if isinstance(maps, Exception):
        return {"found": [], "tried": f"/proc/{pid}/maps: {type(maps).__name__}"}
    found, scanned = set(), 0
    try:
        memory = open(f"/proc/{pid}/mem", "rb")
    except OSError as error:
        return {"found": [], "tried": f"/proc/{pid}/mem: {type(error).__name__}"}
    with memory:
        for line in maps.decode().splitlines():
            span, perms = line.split()[:2]
            if not perms.startswith("r") or scanned > MEMORY_SCAN_LIMIT:
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                memory.seek(start)
                chunk = memory.read(min(end - start, 64 * 1024 * 1024))
            except (OSError, ValueError, OverflowError):
                continue
            scanned += len(chunk)
            found.update(found_in(chunk))
    return {"found": sorted(found), "tried": f"/proc/{pid}/mem: scanned {scanned} bytes"}


def handler(event, context):
    engine = os.getppid()
    routes = {}
    routes["own environment"] = {"found": found_in(json.dumps(dict(os.environ))),
                                 "tried": f"{len(os.environ)} variables"}
    home = os.environ.get("HOME", "")
    for name in ("credentials", "config"):
        routes[f"HOME/.aws/{name}"] = file_route(os.path.join(home, ".aws", name))
    user_home = pwd.getpwuid(os.getuid()).pw_dir
    routes["password database home/.aws/credentials"] = file_route(os.path.join(user_home, ".aws", "credentials"))
    for key, value in sorted(os.environ.items()):
        if key.startswith("AWS_") and value.startswith("/"):
            routes[f"file named by {key}"] = file_route(value)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
                "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"):
        os.environ.pop(key, None)
    os.environ["AWS_METADATA_SERVICE_NUM_ATTEMPTS"] = "1"
    os.environ["AWS_METADATA_SERVICE_TIMEOUT"] = "1"
    import botocore.session
    credentials = botocore.session.Session().get_credentials()
    key = credentials.access_key if credentials else None
    routes["botocore chain without the fake keys"] = {"found": found_in(key or ""), "tried": f"access key {key!r}"}
    routes["engine /proc environ"] = file_route(f"/proc/{engine}/environ")
    routes["engine /proc cmdline"] = file_route(f"/proc/{engine}/cmdline")
    routes["engine /proc memory"] = memory_route(engine)
    seen = subprocess.run(["cat", f"/proc/{engine}/environ"], capture_output=True)
    routes["engine /proc environ through cat"] = {
        "found": found_in(seen.stdout), "tried": f"cat exit {seen.returncode} {seen.stderr.decode().strip()[:80]}"}
    return routes
'''

ENGINE = r'''
import json, sys
from lambdalab import LocalCloud
with LocalCloud.start(sys.argv[1]) as cloud:
    print(json.dumps(cloud.invoke("Hunter", {}).json))
'''

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Hunter:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      Timeout: 120
      MemorySize: 1024
"""


def test_a_hostile_handler_finds_no_real_credentials_by_any_route(tmp_path: Path) -> None:
    home = tmp_path / "learner-home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        "[default]\n" + "".join(f"{k.lower()} = {v}\n" for k, v in REAL.items())
        + "[work]\n" + "".join(f"{k.lower()} = {v}\n" for k, v in REAL.items()))
    (home / ".aws" / "config").write_text("[default]\nregion = eu-west-1\n[profile work]\nregion = eu-west-1\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(textwrap.dedent(HANDLER).replace("{markers}", json.dumps(MARKERS)))
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(REAL, HOME=str(home), AWS_PROFILE="work", AWS_CONFIG_FILE=str(home / ".aws" / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"))

    began, cpu = time.perf_counter(), os.times()
    engine = subprocess.run([sys.executable, "-c", ENGINE, str(tmp_path / "template.yaml")], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    wall, after = time.perf_counter() - began, os.times()
    assert engine.returncode == 0, engine.stderr
    routes = json.loads(engine.stdout.strip().splitlines()[-1])
    assert "errorMessage" not in routes, routes

    for route, result in routes.items():
        print(f"{route:45} {'FOUND ' + ','.join(result['found']) if result['found'] else 'nothing'}  "
              f"({result['tried']})")
    cpu_s = after.children_user + after.children_system - cpu.children_user - cpu.children_system
    print(f"engine process and its function: {wall:.1f} s wall, {cpu_s:.1f} s CPU")
    assert {route: result["found"] for route, result in routes.items() if result["found"]} == {}
    assert "engine /proc memory" in routes and "engine /proc environ" in routes
