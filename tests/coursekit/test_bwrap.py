"""The OS sandbox's parts that run without a kernel: the view and bwrap's command line
(coursekit/bwrap.py), the seccomp filter of coursekit/confine.py (run on an interpreter of
the BPF it installs), and how grading settles --sandbox. The attacks themselves, graded
by real kernels in the sandbox: tests/test_sandbox_attacks.py."""
import os
import struct
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from coursekit import bwrap, confine, grading
from coursekit.notebook import REPO


# ========================================================================== the view
def _pairs(args, flag):
    return [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == flag]


@pytest.fixture()
def sized(monkeypatch):
    monkeypatch.setattr(bwrap, "size_supported", lambda: True)


def test_command_isolates_and_shows_only_the_view(sized):
    view = bwrap.Sandbox(disk_mb=7, deny=(str(REPO / "solutions"),)).view(
        "/tmp/ck/nb", rw=["/tmp/sockets"], dirs=("/tmp/ck/nb/work", "/tmp/ck/nb/home"),
        cwd="/tmp/ck/nb/work")
    args = bwrap.command(view, ["python", "-m", "x"])
    assert args[0] == "bwrap" and args[-4:] == ["--", "python", "-m", "x"]
    for flag in ("--unshare-all", "--die-with-parent", "--new-session"):
        assert flag in args
    assert args[args.index("--cap-drop") + 1] == "ALL"
    assert "--share-net" not in args and "--as-pid-1" not in args
    assert args[args.index("--unsetenv") + 1] == "JPY_PARENT_PID"
    ro = dict(_pairs(args, "--ro-bind"))
    assert all(src == dst for src, dst in ro.items())  # everything at its own place
    shown = set(ro) | {s for s, _ in _pairs(args, "--ro-bind-try")}
    assert {str(REPO / "utils"), str(REPO / "coursekit")} <= shown
    for secret in (REPO, REPO / "solutions", REPO / "tests", REPO / ".git", Path.home(), "/"):
        assert str(secret) not in shown, secret
    assert not any(s.startswith(str(REPO / "solutions")) for s in shown)
    assert _pairs(args, "--bind") == [("/tmp/sockets", "/tmp/sockets")]  # the only rw bind
    assert {s for s, _ in _pairs(args, "--dev-bind")} == {"/dev/null", "/dev/random",
                                                          "/dev/urandom"}
    i = args.index("/tmp/ck/nb") - 1  # the scratch tmpfs, sized by --disk-mb
    assert args[i] == "--tmpfs" and args[i - 2:i] == ["--size", str(7 * 2**20)]
    assert args[args.index("--chdir") + 1] == "/tmp/ck/nb/work"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--dir"] == [
        "/tmp/ck/nb/work", "/tmp/ck/nb/home"]
    assert args[-6:-4] == ["--remount-ro", "/"]  # the root, last: nothing else writable
    zygote = bwrap.command(replace(view, as_pid_1=True), ["z"])
    assert "--as-pid-1" in zygote


def test_a_program_named_through_a_link_gets_the_link_in_the_view(tmp_path):
    """A ``.venv`` that links to an environment elsewhere: the view shows the real
    folder, and the link (the first linked folder of the program's path) points into it;
    a link to a folder outside the view is not made."""
    real = tmp_path / "env"
    (real / "bin").mkdir(parents=True)
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / ".venv").symlink_to(real, target_is_directory=True)
    python = str(tmp_path / "course" / ".venv" / "bin" / "python")
    shown = bwrap.View(str(tmp_path / "scratch"), ro=(str(real),))
    args = bwrap.command(shown, [python, "-c", "pass"])
    link = ["--symlink", str(real), str(tmp_path / "course" / ".venv")]
    assert any(args[i:i + 3] == link for i in range(len(args)))
    hidden = bwrap.View(str(tmp_path / "scratch"), ro=(str(tmp_path / "other"),))
    assert bwrap._aliases(hidden, [python]) == []
    assert bwrap._aliases(shown, ["python"]) == []


def test_an_old_bwrap_gets_no_size(monkeypatch):
    monkeypatch.setattr(bwrap, "size_supported", lambda: False)
    args = bwrap.command(bwrap.Sandbox().view("/tmp/s"), ["x"])
    assert "--size" not in args and "/tmp/s" in args


def test_unsafe_paths(tmp_path):
    deny = [str(tmp_path / "class")]
    for path in ("/", str(REPO), str(REPO / "solutions"), str(REPO / "tests" / "x"),
                 str(REPO / "notebooks"), str(Path.home()), str(tmp_path / "class" / "bob"),
                 str(tmp_path)):  # tmp_path holds the denied class folder
        assert bwrap.unsafe(path, deny), path
    for path in (str(REPO / "utils"), str(REPO / "coursekit" / "warm.py"), sys.prefix,
                 str(REPO / "data")):
        assert not bwrap.unsafe(path, deny), path
    other = tmp_path / "other-checkout"
    (other / "solutions").mkdir(parents=True)
    assert bwrap.unsafe(str(other))  # a second copy of the course: it has solutions/


def test_python_paths_leave_out_what_sys_path_should_not_show(tmp_path, monkeypatch):
    extra = tmp_path / "libs"
    extra.mkdir()
    monkeypatch.setattr(sys, "path", [str(REPO), str(REPO / "tests"), str(extra), "",
                                      str(tmp_path / "missing"), *sys.path])
    paths = bwrap.python_paths(deny=[str(REPO / "tests")])
    assert str(extra) in paths and str(REPO / "utils") in paths
    assert not {str(REPO), str(REPO / "tests"), str(tmp_path / "missing")} & set(paths)
    assert all(not any(p != q and p.startswith(q + os.sep) for q in paths) for p in paths)
    assert bwrap.python_paths(deny=[str(extra)]).count(str(extra)) == 0


def test_available_says_why_not(monkeypatch):
    bwrap.available.cache_clear()
    try:
        monkeypatch.setattr(bwrap.sys, "platform", "darwin")
        assert bwrap.available() == "bubblewrap runs on Linux only (this is darwin)"
        bwrap.available.cache_clear()
        monkeypatch.setattr(bwrap.sys, "platform", "linux")
        monkeypatch.setattr(bwrap.shutil, "which", lambda name: None)
        assert bwrap.available().startswith("bubblewrap is not installed")
    finally:
        bwrap.available.cache_clear()


def test_scratch_root_is_one_folder_per_process():
    root = bwrap.scratch_root()
    assert os.path.isdir(root) and bwrap.scratch_root() == root


# ========================================================================== settling
@pytest.mark.parametrize("mode, why, settled, warns", [
    ("auto", "", "required", False),
    ("auto", "bubblewrap is not installed", "off", True),
    ("off", "", "off", True),
    ("required", "", "required", False),
])
def test_settle_sandbox(monkeypatch, mode, why, settled, warns):
    monkeypatch.setattr(bwrap, "available", lambda: why)
    opts, warning = grading.settle_sandbox(grading.Options(sandbox=mode))
    assert opts.sandbox == settled and bool(warning) is warns
    if warns:
        assert warning.startswith("WARNING: grading WITHOUT the OS sandbox: ")
        assert (why or "--sandbox off") in warning and '"sandbox": "none"' in warning
    assert (grading.sandbox_for(opts) is None) is (settled == "off")


def test_settle_sandbox_required_without_bwrap_is_an_error(monkeypatch):
    monkeypatch.setattr(bwrap, "available", lambda: "bubblewrap is not installed")
    with pytest.raises(grading.GradeError, match="--sandbox required, but bubblewrap is not"):
        grading.settle_sandbox(grading.Options(sandbox="required"))
    with pytest.raises(grading.GradeError, match="--sandbox must be one of"):
        grading.settle_sandbox(grading.Options(sandbox="maybe"))


def test_sandbox_for_carries_the_disk_limit_and_the_denied_folders(monkeypatch):
    monkeypatch.setattr(bwrap, "available", lambda: "")
    box = grading.sandbox_for(grading.Options(disk_mb=9, deny=("/the/class",)))
    assert box.disk_mb == 9 and "/the/class" in box.deny
    assert str(REPO / "solutions") in box.deny
    monkeypatch.setattr(bwrap, "available", lambda: "no")
    assert grading.sandbox_for(grading.Options()) is None  # auto, and it does not work


def test_the_table_says_when_notebooks_ran_without_the_sandbox():
    rec = {"points": 1, "max_points": 1, "file": "01_x.ipynb", "sandbox": "none",
           "tasks": [{"id": "t", "points": 1, "max_points": 1, "status": "passed",
                      "message": ""}]}
    book = grading.gradebook_from_json(
        {"a": {"01_x": rec}, "b": {"01_x": {**rec, "sandbox": "bubblewrap"}}})
    assert grading.table(book).splitlines()[-1] == (
        'WARNING: 1 notebook(s) were graded WITHOUT the OS sandbox (grades.json: '
        '"sandbox": "none")')
    book["a"]["01_x"].sandbox = "bubblewrap"
    assert "WITHOUT" not in grading.table(book)


# ========================================================================== the filter
def run_bpf(program, nr, arch, args=(0,) * 6):
    """What the seccomp filter returns for one system call (a small BPF interpreter of the
    instructions confine.program emits)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *args)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:  # load word
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == 0x06:
            return k
        else:
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)


ALLOW, ERRNO = 0x7FFF0000, 0x00050000


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_filter_allows_threads_and_refuses_processes(machine):
    arch, nr = confine._ARCHES[machine]
    prog = confine.program(machine)
    assert all(0 <= i + 1 + max(jt, jf) < len(prog) for i, (c, jt, jf, _) in enumerate(prog)
               if c != 0x06)  # every jump lands inside the program
    thread = 0x3D0F00  # what glibc's pthread_create passes: CLONE_THREAD among others
    assert run_bpf(prog, nr["clone"], arch, (thread, 0, 0, 0, 0, 0)) == ALLOW
    assert run_bpf(prog, nr["clone"], arch, (0x11, 0, 0, 0, 0, 0)) == ERRNO | 11  # fork
    assert run_bpf(prog, nr["clone3"], arch) == ERRNO | 38  # ENOSYS: glibc falls back
    if "fork" in nr:
        assert run_bpf(prog, nr["fork"], arch) == ERRNO | 11
        assert run_bpf(prog, nr["vfork"], arch) == ERRNO | 11
    shared_anon, private_anon, shared_file = 0x21, 0x22, 0x01
    assert run_bpf(prog, nr["mmap"], arch, (0, 1 << 30, 3, shared_anon, 2**64 - 1, 0)) == \
        ERRNO | 12
    assert run_bpf(prog, nr["mmap"], arch, (0, 1 << 30, 3, private_anon, 2**64 - 1, 0)) == ALLOW
    assert run_bpf(prog, nr["mmap"], arch, (0, 4096, 1, shared_file, 3, 0)) == ALLOW
    for name in ("unshare", "setns", "mount", "ptrace", "memfd_create", "shmget", "bpf",
                 "process_vm_writev", "io_uring_setup", "fchmodat", "fchmod", "fchownat",
                 "fchmodat2"):
        assert run_bpf(prog, nr[name], arch) == ERRNO | 1, name
    for other in (0, 1, 3, 60, 202, 231):  # read, write, close, exit, futex, exit_group
        if other not in nr.values():
            assert run_bpf(prog, other, arch) == ALLOW
    assert run_bpf(prog, 2, 0x40000003) == ERRNO | 1  # an i386 call on x86-64: refused
    if machine == "x86_64":
        assert run_bpf(prog, 0x40000000 | nr["fork"], arch) == ERRNO | 1  # x32


def test_confine_install_sets_the_file_limit_then_the_filter(monkeypatch):
    calls = []
    monkeypatch.setattr(confine.resource, "setrlimit", lambda what, v: calls.append((what, v)))
    monkeypatch.setattr(confine, "install_filter", lambda: calls.append("filter"))
    confine.install(3)
    assert calls == [(confine.resource.RLIMIT_FSIZE, (3 * 2**20, 3 * 2**20)), "filter"]
    calls.clear()
    confine.install(None)
    assert calls == ["filter"]
