"""Page-cache hygiene shared by the benchmark driver and the client workloads."""

import os


def make_room(nbytes, where):
    """Free `nbytes` of page-cache memory before a timed big transfer (untimed), by writing a
    scratch file and deleting it: its dirty pages are dropped, not written back. Without this,
    whichever transfer runs first after the machine's memory filled with cache pays for the
    kernel's page reclaim while it writes (measured: 530-690 MiB/s vs 2-4 GiB/s for the same
    download right after), so the order of servers, not the servers, decided the ratios."""
    path = os.path.join(where, ".make-room")
    block = bytes(1 << 20)
    with open(path, "wb", buffering=0) as f:
        for _ in range(max(1, nbytes >> 20)):
            f.write(block)
    os.unlink(path)
