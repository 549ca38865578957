"""Whether a data set's tensors fit in memory, asked before they are allocated.

A data set that does not fit would otherwise grow the process until the kernel kills it (no message,
no exit code 2, minutes lost); refusing up front costs one arithmetic check.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError

# Measured peak of make_synthetic + load_data: 16.6-16.8 bytes per uint8 element for 10,000 and
# 40,000 images (ru_maxrss; float32 templates, rolled copies, noise and its sum are alive at once).
SYNTHETIC_BYTES_PER_ELEMENT = 17
# A decoded image folder: the uint8 tensor (1 byte per element) plus, for the training part, the
# train/val subset copies (1) and the float32 copy the normalisation statistics are computed on (4).
DECODED_BYTES_PER_ELEMENT = 1
TRAIN_EXTRA_BYTES_PER_ELEMENT = 5


def available_memory() -> int:
    """Bytes this process can still allocate: the kernel's MemAvailable (free plus reclaimable
    cache), capped by a cgroup limit when one is set; physical memory where neither is readable."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return 2**63  # unknown (not Linux or macOS): do not refuse on a guess
    for limit_file, used_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = int(Path(limit_file).read_text().strip())
            used = int(Path(used_file).read_text().strip())
        except (OSError, ValueError):
            continue  # "max" (no limit) or no such controller
        avail = min(avail, max(0, limit - used))
    return avail


def gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_fits(what: str, needed: int, fix: str) -> None:
    """A UserError naming the estimate, what is available and ``fix``, unless ``needed`` fits."""
    avail = available_memory()
    if needed > avail:
        raise UserError(
            f"{what} would need about {gib(needed)} of memory ({needed:,} bytes) but "
            f"{gib(avail)} is available; {fix}"
        )
