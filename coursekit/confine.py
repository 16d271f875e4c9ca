"""What a sandboxed grading process installs on itself before any student code runs.

Runs inside the OS sandbox (``coursekit/bwrap.py``), first thing in a cold Jupyter kernel
(the grader sends this file's source, as it does ``guard.py``) and in each child of the
warm zygote right after the fork (``coursekit/warm.py`` imports it). Linux only.

1. **No new processes.** A seccomp filter (for every thread of the process, and every
   thread it starts later) makes ``fork``, ``vfork`` and a ``clone`` that is not a thread
   fail with ``EAGAIN`` (Python: ``BlockingIOError``), and ``clone3`` fail with
   ``ENOSYS`` (the C library then makes threads with ``clone``). RLIMIT_NPROC cannot do
   this where the grader runs as root (the kernel does not count root's processes).
2. **No memory beside the limit.** ``RLIMIT_DATA`` bounds the private memory; the filter
   refuses what it does not count: shared anonymous mappings (``mmap.mmap(-1, n)``),
   ``memfd_create`` and System V shared memory (``ENOMEM`` / ``EPERM``).
3. **No way out.** ``unshare``, ``setns``, ``mount`` and its new API, ``pivot_root``,
   ``chroot``, ``ptrace``, ``process_vm_readv/writev``, ``bpf``, ``perf_event_open``,
   ``userfaultfd`` and ``io_uring_setup`` fail with ``EPERM``, and so does any system
   call of another ABI (x32, i386 on x86-64). So do ``chmod`` and ``chown`` in all their
   forms: what the grader made read-only (the cold kernel's socket folder) stays so.
4. **Disk.** ``RLIMIT_FSIZE``: no file larger than the scratch folder (the sandbox's
   size-limited tmpfs bounds the total).

Threads stay allowed (torch, ipykernel); each one's stack counts against RLIMIT_DATA.
"""
import ctypes
import os
import platform
import resource
import struct

# system call numbers: x86-64 (asm/unistd_64.h) and aarch64 (asm-generic/unistd.h)
_ARCHES = {
    "x86_64": (0xC000003E, dict(
        fork=57, vfork=58, clone=56, clone3=435, mmap=9, memfd_create=319, shmget=29,
        ptrace=101, process_vm_readv=310, process_vm_writev=311, unshare=272, setns=308,
        mount=165, umount2=166, pivot_root=155, chroot=161, bpf=321, perf_event_open=298,
        userfaultfd=323, io_uring_setup=425, open_tree=428, move_mount=429, fsopen=430,
        fsmount=432, mount_setattr=442, memfd_secret=447, chmod=90, fchmod=91,
        fchmodat=268, fchmodat2=452, chown=92, fchown=93, lchown=94, fchownat=260,
        seccomp=317)),
    "aarch64": (0xC00000B7, dict(
        clone=220, clone3=435, mmap=222, memfd_create=279, shmget=194, ptrace=117,
        process_vm_readv=270, process_vm_writev=271, unshare=97, setns=268, mount=40,
        umount2=39, pivot_root=41, chroot=51, bpf=280, perf_event_open=241,
        userfaultfd=282, io_uring_setup=425, open_tree=428, move_mount=429, fsopen=430,
        fsmount=432, mount_setattr=442, memfd_secret=447, fchmod=52, fchmodat=53,
        fchmodat2=452, fchown=55, fchownat=54, seccomp=277)),
}
_DENIED = ("memfd_create", "shmget", "ptrace", "process_vm_readv", "process_vm_writev",
           "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "bpf",
           "perf_event_open", "userfaultfd", "io_uring_setup", "open_tree", "move_mount",
           "fsopen", "fsmount", "mount_setattr", "memfd_secret", "chmod", "fchmod",
           "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat")
EAGAIN, ENOSYS, EPERM, ENOMEM = 11, 38, 1, 12
CLONE_THREAD, MAP_SHARED, MAP_ANONYMOUS = 0x10000, 0x01, 0x20
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
# BPF opcodes: load word (absolute), jump if equal / greater-or-equal / any bit set, return
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_NR, _ARCH, _ARG0, _ARG3 = 0, 4, 16, 40  # offsets in struct seccomp_data (low 32 bits)


def program(machine: str) -> list:
    """The filter as (code, jt, jf, k) instructions for ``machine`` (platform.machine())."""
    audit_arch, nr = _ARCHES[machine]
    errno = {name: EPERM for name in _DENIED}
    errno.update(fork=EAGAIN, vfork=EAGAIN, clone3=ENOSYS)
    errno = {nr[n]: e for n, e in errno.items() if n in nr}
    ret = lambda value: (_RET, 0, 0, value)  # noqa: E731
    head = [(_LD, 0, 0, _ARCH), (_JEQ, 1, 0, audit_arch), ret(_ERRNO | EPERM), (_LD, 0, 0, _NR)]
    if machine == "x86_64":  # the x32 ABI: the same calls under numbers | 0x40000000
        head += [(_JGE, 0, 1, 0x40000000), ret(_ERRNO | EPERM)]
    body = []
    for number, e in sorted(errno.items()):
        body += [(_JEQ, 0, 1, number), ret(_ERRNO | e)]
    # clone: a thread (CLONE_THREAD) is allowed, anything else is a new process
    clone = [(_JEQ, 0, 4, nr["clone"]), (_LD, 0, 0, _ARG0), (_JSET, 1, 0, CLONE_THREAD),
             ret(_ERRNO | EAGAIN), ret(_ALLOW)]
    # mmap: MAP_SHARED with MAP_ANONYMOUS is memory RLIMIT_DATA does not count
    mmap = [(_JEQ, 0, 5, nr["mmap"]), (_LD, 0, 0, _ARG3), (_JSET, 0, 2, MAP_SHARED),
            (_JSET, 0, 1, MAP_ANONYMOUS), ret(_ERRNO | ENOMEM), ret(_ALLOW)]
    return head + body + clone + mmap + [ret(_ALLOW)]


def supported() -> bool:
    return platform.system() == "Linux" and platform.machine() in _ARCHES


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def install_filter() -> None:
    """Install the filter on every thread of this process (seccomp TSYNC); OSError if the
    kernel refuses."""
    machine = platform.machine()
    code = b"".join(struct.pack("HBBI", *ins) for ins in program(machine))
    n = len(code) // 8
    buf = ctypes.create_string_buffer(code, len(code))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Prog(n, ctypes.cast(buf, ctypes.c_void_p))
    libc = _libc()
    PR_SET_NO_NEW_PRIVS, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 38, 1, 1
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    done = syscall(ctypes.c_long(_ARCHES[machine][1]["seccomp"]),
                   ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
                   ctypes.c_ulong(SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(prog))
    if done != 0:
        err = ctypes.get_errno() if done < 0 else 0
        raise OSError(err, f"seccomp filter not installed (result {done}, "
                           f"{os.strerror(err) if err else 'a thread could not sync'})")


def set_dumpable(flag: bool) -> None:
    """A process that is not dumpable cannot be traced nor its memory read through /proc
    by processes of the same user (the zygote, for its children)."""
    PR_SET_DUMPABLE = 4
    _libc().prctl(PR_SET_DUMPABLE, int(flag), 0, 0, 0)


def install(disk_mb=None) -> None:
    """Everything above, in this process: called once, before any student code."""
    if disk_mb:
        n = int(disk_mb) * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    install_filter()
