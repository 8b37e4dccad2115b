"""DataLoaders with worker processes, run in the runner's own process.

A student's DataLoader(..., num_workers=2) starts worker processes on the student's machine. In a runner
they could not work: the runner's view of the file system is read-only but for its working folder
(multiprocessing's locks and torch's shared tensors need a writable /dev/shm), its descriptors are few,
and a call must leave no process behind. install() makes every DataLoader with workers load its batches
in the runner itself instead, as DataLoader(num_workers=0) does: the same sampler, the same generator
draws (the base seed, then the order), so the same batches in the same order. What changes is only what
a worker would see: worker_init_fn is not called and get_worker_info() is None. Each such loader prints
a note when it first loads, which the feedback shows among what the code printed.

Installed in the zygote before the runners' pristine snapshot (course.sandbox.runner.prepare), so every runner
inherits it and restores it; the judge's own process never has it.
"""
from __future__ import annotations

import sys

from torch.utils.data import dataloader

NOTE = ("note: the grader ran DataLoader(num_workers={n}) without worker processes, loading in its own "
        "process: the same batches in the same order\n"
        "참고: 채점기는 DataLoader(num_workers={n})를 작업자 프로세스 없이 자기 프로세스에서 읽었습니다. "
        "배치와 순서는 같습니다\n")

def _in_process(self: dataloader.DataLoader) -> dataloader._BaseDataLoaderIter:
    """DataLoader._get_iterator, with workers asked for or not: a single-process iterator."""
    workers, timeout = self.num_workers, self.timeout
    if workers and not self.__dict__.get("_course_noted"):
        self.__dict__["_course_noted"] = True
        sys.stderr.write(NOTE.format(n=workers))
    self.num_workers, self.timeout = 0, 0  # both may change after __init__ (DataLoader.__setattr__)
    try:
        return dataloader._SingleProcessDataLoaderIter(self)
    finally:
        self.num_workers, self.timeout = workers, timeout


def install() -> None:
    """From here on, in this process and its forks, no DataLoader starts worker processes."""
    dataloader.DataLoader._get_iterator = _in_process
