"""The worker's protocol: who talks to whom, with which command bytes, descriptors and frames.

Three kinds of process take part, and each channel has exactly one trusted writer:

  judge       the pytest process; decides scores.
  zygote      a fork server (course.sandbox.zygote): imports torch once; on FORK it forks a supervisor.
  supervisor  one submission at a time (course.sandbox.supervisor), never runs student code: PID 1 of its own
              PID namespace, it holds the judge's socket and each call's result pipe, forks a runner per
              exercise file, relays calls to it and writes the one reply the judge reads; NEXT hands it
              the judge's next submission, with fresh containment.
  runner      (course.sandbox.runner) executes one file's submitted bytes and its probes; it holds only its own
              socket to the supervisor, the current call's request and answer pipes and output pipe.

judge -> zygote (SOCK_SEQPACKET):   FORK -> zygote replies FORKED + pid, with [supervisor socket, output pipe]
                                    SPLIT -> SPLIT, with [a new control socket] (for a forked judge)
judge -> supervisor (its socket):   CALL + file name, with [request pipe (read), result pipe (write),
                                    output pipe (write)]; the request frame follows in the request pipe
                                    NEXT: the calls that follow are another submission's (no reply: a
                                    supervisor that cannot start afresh exits, and its next call is a fault)
supervisor -> runner (its socket):  CALL, with [the same request pipe, a fresh answer pipe (write), the same
                                    output pipe]
runner -> supervisor:               one frame into the answer pipe, then it closes it
supervisor -> judge:                one frame into the result pipe: REPLY header and the runner's answer

A frame is a little-endian u64 length and that many bytes. Nothing here imports torch.
"""
from __future__ import annotations

import json
import os
import struct

from course.limits import LIMITS

FORK, FORKED, SPLIT, CALL, NEXT = b"F", b"F", b"S", b"C", b"N"
READY = b"R"

# where a runner finds the current call's channels (stdout and stderr are its output pipe)
ANSWER_FD, REQUEST_FD, RUNNER_FD = 3, 4, 5
# where a supervisor keeps its socket to the judge
SUPERVISOR_FD = 3

HEAD = struct.Struct("<Q")
MAX_REQUEST = LIMITS.request_bytes
MAX_ANSWER = LIMITS.answer_bytes  # a runner's answer is one wire frame

# What one submission may use (the values and their reasons: course.limits). A runner: CPU seconds over all
# of its file's calls, address space, size of a file it writes, open descriptors. A submission (its
# supervisor and runners, in its own cgroup where cgroups are writable): memory and processes.
RUNNER_LIMITS = {"cpu_seconds": LIMITS.runner_cpu_seconds, "address_space": LIMITS.runner_address_space,
                 "file_size": LIMITS.runner_file_size, "open_files": LIMITS.runner_open_files}
SESSION_MEMORY, SESSION_PIDS = LIMITS.submission_memory, LIMITS.submission_pids
SUBMISSIONS_PER_SUPERVISOR = LIMITS.submissions_per_supervisor
OUTPUT_CAP = LIMITS.output_bytes

STATUSES = ("ok", "error", "timeout", "crashed", "too_large", "malformed", "fault")


class ProtocolError(ValueError):
    """A frame that is truncated, too long or not what the protocol says comes next."""


def frame(body: bytes) -> bytes:
    return HEAD.pack(len(body)) + body


def read_exact(fd: int, n: int) -> bytes | None:
    """n bytes from fd, or None at end of file before the first byte; ProtocolError if cut short."""
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            if left == n:
                return None
            raise ProtocolError("the stream ended inside a frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limit: int = MAX_REQUEST) -> bytes | None:
    """One frame's body from fd, or None at end of file."""
    head = read_exact(fd, HEAD.size)
    if head is None:
        return None
    (n,) = HEAD.unpack(head)
    if n > limit:
        raise ProtocolError("frame too large")
    body = read_exact(fd, n)
    if body is None and n:
        raise ProtocolError("the stream ended inside a frame")
    return body or b""


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def whole_frame(data: bytes | bytearray) -> bool | None:
    """True: data is exactly one frame; False: more than one (or trailing bytes); None: incomplete."""
    if len(data) < HEAD.size:
        return None
    (n,) = HEAD.unpack_from(data)
    if len(data) - HEAD.size < n:
        return None
    return len(data) - HEAD.size == n


def pack_reply(status: str, answer: bytes = b"", **facts: object) -> bytes:
    """The supervisor's reply to one call: a JSON header (status and what the supervisor saw, such as
    exit_code or a fault's message) and the runner's answer frame body, untouched."""
    return reply_prefix(status, len(answer), **facts) + answer


def reply_prefix(status: str, answer_size: int, **facts: object) -> bytes:
    """A reply up to its answer (pack_reply without the answer), for a writer that sends the answer from
    its own buffer."""
    header = json.dumps({"status": status, **facts}, ensure_ascii=True).encode()
    return HEAD.pack(HEAD.size + len(header) + answer_size) + HEAD.pack(len(header)) + header


def unpack_reply(body: bytes) -> tuple[dict, bytes]:
    """(header, answer) of a supervisor's reply body; ProtocolError if it is not one."""
    if len(body) < HEAD.size:
        raise ProtocolError("reply too short")
    (n,) = HEAD.unpack_from(body)
    if n > len(body) - HEAD.size:
        raise ProtocolError("reply header cut short")
    try:
        header = json.loads(body[HEAD.size:HEAD.size + n])
    except ValueError:
        raise ProtocolError("reply header is not JSON") from None
    if type(header) is not dict or header.get("status") not in STATUSES:
        raise ProtocolError("reply header has no known status")
    return header, body[HEAD.size + n:]
