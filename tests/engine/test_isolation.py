"""Functions never reach the learner's real AWS account, and the local endpoints answer only this machine.

A function process runs as the learner, so these tests close the routes by which the engine itself
would lead it to the learner's credentials: the HOME it passes, the variables it passes, its own
environment and memory. And a web page the learner visits must not drive the local endpoints
(another Host name, a cross-origin request), unless the template's API declares CORS.
See docs/architecture.md, Isolation.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from lambdalab import LocalCloud
from tests.engine.apps import function

REAL_KEY = "AKIAREALUSERKEY00001"
REAL_SECRET = "real/user/secret/key/0000000000000000000"

# Drops the fake keys and the engine's pins, then asks botocore's own credential chain what it finds.
BOTOCORE_HUNT = """
import os
import botocore.session

def handler(event, context):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(key, None)
    credentials = botocore.session.Session().get_credentials()
    home = os.environ["HOME"]
    return {"home": home, "in_home": sorted(os.listdir(home)), "profile": os.environ.get("AWS_PROFILE"),
            "access_key": credentials.access_key if credentials else None}
"""

# Whether the engine's (the parent's) environment and memory can be opened, and what powers the
# function process holds over other processes (Linux).
PROC_HUNT = """
import os

def handler(event, context):
    parent = os.getppid()
    opened = {}
    for name in ("environ", "mem"):
        try:
            with open(f"/proc/{parent}/{name}", "rb"):
                opened[name] = True
        except OSError:
            opened[name] = False
    status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
    return {"opened": opened, "effective": int(status["CapEff"], 16), "bounding": int(status["CapBnd"], 16)}
"""
CAP_SYS_PTRACE = 19


def _fake_user_home(tmp_path: Path) -> Path:
    """A HOME like a learner's with real keys in ~/.aws (the test's own, never the real ~/.aws)."""
    home = tmp_path / "user-home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {REAL_KEY}\naws_secret_access_key = {REAL_SECRET}\n"
        f"[work]\naws_access_key_id = {REAL_KEY}\naws_secret_access_key = {REAL_SECRET}\n")
    (home / ".aws" / "config").write_text("[default]\nregion = eu-west-1\n[profile work]\nregion = eu-west-1\n")
    return home


def test_a_function_has_an_empty_home_of_its_own_and_boto3_finds_no_user_credentials(
        monkeypatch, tmp_path, make_cloud):
    """A handler that drops the fake keys must not make boto3 find the learner's ~/.aws: the engine's
    HOME and AWS config variables never pass through, and the function's HOME goes with the cloud."""
    user_home = _fake_user_home(tmp_path)
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.setenv("AWS_PROFILE", "work")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(user_home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(user_home / ".aws" / "credentials"))
    cloud = make_cloud(function("Fn", Timeout=10), {"app.py": BOTOCORE_HUNT})
    found = cloud.invoke("Fn", {}).json
    assert found["access_key"] is None
    assert found["home"] != str(user_home) and found["in_home"] == [] and found["profile"] is None
    cloud.close()
    assert not Path(found["home"]).exists()


def test_the_home_of_an_engine_killed_with_its_cloud_open_is_removed_by_the_next_cloud(tmp_path, make_cloud):
    """close removes the functions' HOME; an engine killed first cannot, so the next cloud does."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = Path(tempfile.gettempdir()) / f"lambdalab-home-{int(ended.stdout)}-abc123"
    left.mkdir()
    mine = Path(tempfile.mkdtemp(prefix=f"lambdalab-home-{os.getpid()}-"))
    try:
        cloud = make_cloud(function("Fn"), {"app.py": "def handler(e, c):\n    return 1\n"})
        cloud.invoke("Fn", {})
        assert not left.exists() and mine.exists()
    finally:
        shutil.rmtree(left, ignore_errors=True)
        shutil.rmtree(mine, ignore_errors=True)


def test_a_functions_own_variables_cannot_point_boto3_at_the_users_files(monkeypatch, tmp_path, make_cloud):
    """Variables from the template or ``env_vars`` naming a profile or credentials file are not passed
    on: locally they would lead boto3 to the learner's real account."""
    user_home = _fake_user_home(tmp_path)
    overrides = {"Fn": {"AWS_PROFILE": "work", "AWS_SHARED_CREDENTIALS_FILE": str(user_home / ".aws" / "credentials"),
                        "AWS_CONFIG_FILE": str(user_home / ".aws" / "config")}}
    cloud = make_cloud(function("Fn", Timeout=10), {"app.py": BOTOCORE_HUNT}, env_vars=overrides)
    found = cloud.invoke("Fn", {}).json
    assert found["access_key"] is None and found["profile"] is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's")
def test_functions_cannot_read_the_engines_environment_or_memory_while_a_cloud_is_open(make_cloud):
    """The engine's initial environment block (/proc/<pid>/environ) keeps the learner's variables
    whatever os.environ says, and its memory holds the saved ones: while a cloud is open the engine
    is not dumpable, and a function holds no power to read another process's memory."""
    cloud = make_cloud(function("Fn"), {"app.py": PROC_HUNT})
    assert _dumpable() == 0
    seen = cloud.invoke("Fn", {}).json
    assert seen["opened"] == {"environ": False, "mem": False}
    assert not seen["effective"] >> CAP_SYS_PTRACE & 1 and not seen["bounding"] >> CAP_SYS_PTRACE & 1
    cloud.close()
    assert _dumpable() == 1


def _dumpable() -> int:
    pr_get_dumpable = 3
    return int(ctypes.CDLL(None, use_errno=True).prctl(pr_get_dumpable, 0, 0, 0, 0))


# -- the local endpoints ----------------------------------------------------------------------------
API_APP = {"app.py": """
    def handler(event, context):
        return {"statusCode": 200, "body": "hi"}
"""}
API_RESOURCES = function("Fn", Events="""
      Http:
        Type: HttpApi
        Properties: {Path: "/hi", Method: get}
""".rstrip())
REFUSED = "lambdalab: refused"


def _endpoints(cloud: LocalCloud) -> dict[str, str]:
    return {"data plane": cloud.dataplane.endpoint_url + "/",
            "Lambda API": cloud.lambda_endpoint + "/2015-03-31/functions/",
            "API stage": cloud.api_url("ServerlessHttpApi") + "/hi"}


def test_local_endpoints_answer_only_loopback_host_names(make_cloud):
    """DNS rebinding: a web page's own name pointed at 127.0.0.1 reaches the port with that name as
    Host; only loopback names (any port) are served."""
    cloud = make_cloud(API_RESOURCES, API_APP)
    port_of = {name: url.split("/")[2].rsplit(":", 1)[1] for name, url in _endpoints(cloud).items()}
    for name, url in _endpoints(cloud).items():
        port = port_of[name]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}",
                     f"bucket.localhost:{port}"):
            answer = requests.get(url, headers={"Host": host}, timeout=30)
            assert REFUSED not in answer.text, (name, host)
        for host in ("attacker.example", f"attacker.example:{port}", f"127.0.0.1.attacker.example:{port}"):
            answer = requests.get(url, headers={"Host": host}, timeout=30)
            assert answer.status_code == 403 and REFUSED in answer.text, (name, host)
            assert "access-control-allow-origin" not in {k.lower() for k in answer.headers}


def test_local_endpoints_refuse_cross_origin_requests_from_web_pages(make_cloud):
    """A page elsewhere may not preflight, send simple requests to, or read from the local endpoints;
    pages served from this machine (JupyterLab on 127.0.0.1 or localhost) and clients that send no
    Origin (boto3, requests) are served."""
    cloud = make_cloud(API_RESOURCES, API_APP)
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for name, url in _endpoints(cloud).items():
        for origin in ("https://attacker.example", "null"):
            answer = requests.options(url, headers={"Origin": origin, **preflight}, timeout=30)
            assert answer.status_code == 403 and REFUSED in answer.text, (name, origin)
            assert "access-control-allow-origin" not in {k.lower() for k in answer.headers}
            answer = requests.post(url, data="Action=ListQueues", timeout=30,
                                   headers={"Origin": origin, "Content-Type": "application/x-www-form-urlencoded"})
            assert answer.status_code == 403 and REFUSED in answer.text, (name, origin)
        for origin in ("http://127.0.0.1:8888", "http://localhost:8888"):
            answer = requests.get(url, headers={"Origin": origin}, timeout=30)
            assert REFUSED not in answer.text, (name, origin)
    assert requests.get(_endpoints(cloud)["API stage"], timeout=30).text == "hi"
    assert cloud.invoke("Fn", {}).function_error is None


def test_an_api_that_declares_cors_still_serves_its_allowed_origins(tmp_path):
    """CorsConfiguration is the template's consent to cross-origin requests: the API answers them as
    API Gateway does (its other origins get no CORS headers, so browsers block them)."""
    template = Path(__file__).parent / "templates" / "starts_cors_http" / "template.yaml"
    (tmp_path / "template.yaml").write_text(
        template.read_text().replace("../code/", str(Path(__file__).parent / "templates" / "code")))
    with LocalCloud.start(tmp_path / "template.yaml") as cloud:
        url = cloud.api_url("Http") + "/items"
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
        answer = requests.options(url, headers=preflight, timeout=30)
        assert answer.status_code == 204 and answer.headers["access-control-allow-origin"] == "https://app.example"
        answer = requests.get(url, headers={"Origin": "https://app.example"}, timeout=30)
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "https://app.example"
        answer = requests.get(url, headers={"Origin": "https://app.example", "Host": "attacker.example"}, timeout=30)
        assert answer.status_code == 403 and REFUSED in answer.text
        other = requests.options(cloud.lambda_endpoint + "/2015-03-31/functions/", timeout=30,
                                 headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
        assert other.status_code == 403, "only the API declares CORS, not the engine's other endpoints"

