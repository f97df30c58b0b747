#!/usr/bin/env python3
"""The two entry points a newcomer needs, with nothing but Python installed.

    python3 tasks.py course   # set up .venv, start the local cloud and JupyterLab on notebooks/
    python3 tasks.py test     # set up .venv, run lint, types, engine tests, graded checks, notebooks
    python3 tasks.py sam      # set up .venv-sam (the SAM CLI) and run `sam validate --lint`
    python3 tasks.py sam build  # `sam build` into .aws-sam/, with the template's Runtime interpreter
    python3 tasks.py events   # regenerate events/ with `sam local generate-event`

Everything else (`lambdalab ...`) runs from the virtual environment this script creates.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".requirements.sha256"
SUPPORTED = ((3, 10), (3, 13))  # the oldest and newest Python the pins resolve on (CI proves both)


def _digest() -> str:
    h = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


SAM_VENV = ROOT / ".venv-sam"
SAM_BIN = SAM_VENV / ("Scripts" if os.name == "nt" else "bin")
SAM_STAMP = SAM_VENV / ".requirements.sha256"
# events/<file> -> the `sam local generate-event` arguments that produce it.
SAMPLE_EVENTS = {
    "apigateway/aws-proxy.json": ("apigateway", "aws-proxy"),
    "apigateway/http-api-proxy.json": ("apigateway", "http-api-proxy"),
    "s3/put.json": ("s3", "put"),
    "s3/delete.json": ("s3", "delete"),
    "sns/notification.json": ("sns", "notification"),
    "kinesis/get-records.json": ("kinesis", "get-records"),
    "dynamodb/update.json": ("dynamodb", "update"),
    "sqs/receive-message.json": ("sqs", "receive-message"),
    "cloudwatch/scheduled-event.json": ("cloudwatch", "scheduled-event"),
}


def _install(python: Path, requirements: Path, stamp: Path, venv_dir: Path) -> None:
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r",
                    str(requirements)], check=True)
    stamp.write_text(digest)


def sam(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the SAM CLI from its own virtual environment, telemetry off."""
    _install(SAM_BIN / "python", ROOT / "requirements-sam.txt", SAM_STAMP, SAM_VENV)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION",
                                                                                         "us-east-1")}
    print("$ sam", " ".join(args), flush=True)
    return subprocess.run([str(SAM_BIN / "sam"), *args], cwd=ROOT, env=env, text=True, check=False,
                          capture_output=capture)


def template_runtimes() -> list[str]:
    """The Python runtimes template.yaml declares (Globals or per function), e.g. ["python3.12"]."""
    text = (ROOT / "template.yaml").read_text()
    return sorted(set(re.findall(r"^\s*Runtime:\s*[\"']?(python3\.\d+)", text, flags=re.MULTILINE)))


def _interpreter_problem(name: str) -> str | None:
    """Why ``name`` (e.g. python3.12) cannot build, or None when it runs."""
    if shutil.which(name) is None:
        return f"{name} is not on PATH"
    done = subprocess.run([name, "--version"], capture_output=True, text=True, check=False)
    if done.returncode:  # a pyenv shim for a version that is installed but not selected
        reason = (done.stderr or done.stdout).strip().splitlines()
        return f"{name} is on PATH but does not run ({reason[0] if reason else f'exit {done.returncode}'})"
    return None


def sam_build() -> int:
    """`sam build` into .aws-sam/: pip installs each function's requirements with the interpreter of
    its Runtime, so that interpreter must run here (or Docker must, for `sam build --use-container`)."""
    missing = [(name, problem) for name in template_runtimes() if (problem := _interpreter_problem(name))]
    if missing:
        name, version = missing[0][0], missing[0][0].removeprefix("python")
        print("sam build needs the interpreter of the template's Runtime:",
              *(problem for _, problem in missing), sep="\n  ")
        print(f"Get {name} from python.org, with pyenv (`pyenv install {version}`, then list it after your "
              f"own version in `pyenv global` or `pyenv shell`) or on Ubuntu from the deadsnakes PPA "
              f"(`sudo apt install {name}`); or, with Docker running, build in the runtime's image: "
              "`.venv-sam/bin/sam build --use-container`.")
        return 1
    return sam("build", "--template", "template.yaml", "--build-dir", ".aws-sam/build").returncode


def regenerate_events() -> int:
    for name, args in SAMPLE_EVENTS.items():
        done = sam("local", "generate-event", *args, capture=True)
        if done.returncode:
            print(done.stderr)
            return done.returncode
        target = ROOT / "events" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(done.stdout)
    return 0


def _venv_python_version() -> str | None:
    """The X.Y of the Python .venv was made with, from its pyvenv.cfg (None: no usable .venv)."""
    try:
        config = (VENV / "pyvenv.cfg").read_text()
    except OSError:
        return None
    found = re.search(r"^version(?:_info)?\s*=\s*(\d+)\.(\d+)", config, flags=re.MULTILINE)
    return f"{found.group(1)}.{found.group(2)}" if found else None


def setup() -> None:
    """Create .venv and install the pinned requirements, once per requirements change. A .venv made
    by another Python (an earlier try with another version) is made again with this one."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not SUPPORTED[0] <= sys.version_info[:2] <= SUPPORTED[1]:
        print(f"tasks.py: lambdalab runs on Python {'.'.join(map(str, SUPPORTED[0]))} to "
              f"{'.'.join(map(str, SUPPORTED[1]))}, not {running}; run this file with one of those "
              "(e.g. `python3.12 tasks.py ...`)", flush=True)
        raise SystemExit(1)
    made_with = _venv_python_version()
    if VENV.exists() and made_with != running:
        print(f"re-creating .venv with Python {running} (it was made with {made_with or 'an unknown Python'}) ...",
              flush=True)
        shutil.rmtree(VENV)
    if STAMP.exists() and STAMP.read_text() == _digest():
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    print("installing the pinned requirements (the first time: a few minutes on two cores) ...", flush=True)
    for args in (["-r", str(ROOT / "requirements.txt")], ["--no-deps", "-e", str(ROOT)]):
        if subprocess.run([*pip, *args]).returncode:
            print(f"tasks.py: pip could not install the pinned requirements with Python {running} (its message is "
                  "above); try another installed Python 3, e.g. `python3.12 tasks.py ...`", flush=True)
            raise SystemExit(1)
    STAMP.write_text(_digest())


def run(*argv: str) -> int:
    """Run a command of .venv; Ctrl-C reaches it too (same terminal), so wait for it to stop tidily
    instead of printing a traceback of our own."""
    print("$", " ".join(argv), flush=True)
    with subprocess.Popen([str(BIN / argv[0]), *argv[1:]], cwd=ROOT) as child:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                continue


def test() -> int:
    """Every check CI runs; every step runs, and any failure fails the whole.

    Graded checks and notebooks grade ``solutions/`` (full marks expected); an instructor grading a
    learner's clone sets LAMBDALAB_TARGET=labs (see docs/instructors.md).
    """
    os.environ.setdefault("LAMBDALAB_TARGET", "solutions")
    steps = [
        ("ruff", "check", "--no-cache", "."),
        ("mypy",),
        ("lambdalab", "labs", "check"),
        ("pytest", "-q", "-p", "no:cacheprovider", "tests", "--target", os.environ["LAMBDALAB_TARGET"]),
        ("lambdalab", "labs", "verify-starters"),
        ("lambdalab", "labs", "verify-mutants", "--jobs", "2"),
        ("lambdalab", "labs", "run-notebooks"),
        ("pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-sanitize-with",
         "tests/nbval-sanitize.cfg", "notebooks"),
    ]
    failed = [" ".join(s) for s in steps if run(*s) != 0]
    if failed:
        print("FAILED steps:\n  " + "\n  ".join(failed), flush=True)
        return 1
    print("all steps passed", flush=True)
    return 0


def course() -> int:
    return run("lambdalab", "up", "--jupyter")


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command not in ("course", "test", "setup", "sam", "events"):
        print(__doc__)
        return 2
    if command == "sam":
        if sys.argv[2:] == ["build"]:
            return sam_build()
        return sam("validate", "--lint", "--template", "template.yaml").returncode
    if command == "events":
        return regenerate_events()
    setup()
    if command == "setup":
        return 0
    os.environ.setdefault("MPLBACKEND", "Agg")
    return test() if command == "test" else course()


if __name__ == "__main__":
    sys.exit(main())
