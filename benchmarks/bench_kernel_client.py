"""What closing a kernel's client costs: jupyter_client's client, the same client never reconnecting, and the grader's
QuickReadyClient (never reconnecting, on the process's shared ZeroMQ context), side by side in one run.

    .venv/bin/python benchmarks/bench_kernel_client.py [--kernels 8]

The grader's kernel clients never reconnect (``RECONNECT_IVL`` -1): a path the student's code replaces with a link
is never followed. With that option, terminating a client's own ZeroMQ context (what jupyter_client's
``stop_channels`` does) blocks after the kernel is gone, although every socket is closed with linger 0; on the shared
context, which is never terminated, nothing waits. For each client this starts ``--kernels`` plain ipykernel kernels
over IPC one after another, connects once their sockets exist (as the grader's provisioner does), runs one cell,
shuts the kernel down as nbclient does (``shutdown_kernel``, ``cleanup_resources``, ``stop_channels``), and prints the
median seconds of ``stop_channels`` and of the whole cycle, and this process's open file descriptors after the first
kernel and after the last (the shared context keeps its own few open; it must gain none per kernel).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from grader.compat.kernels import QuickReadyClient


class NeverReconnectingClient(AsyncKernelClient):
    """jupyter_client's client whose sockets never reconnect, each client on a context of its own (the grader's
    client before it shared one)."""

    def _create_connected_socket(self, channel: str, identity: bytes | None = None) -> Any:
        import zmq

        self.context.setsockopt(zmq.RECONNECT_IVL, QuickReadyClient.RECONNECT_MS)
        return super()._create_connected_socket(channel, identity)


CLIENTS = {"jupyter_client (reconnects, own context)": AsyncKernelClient,
           "never reconnects, own context": NeverReconnectingClient,
           "QuickReadyClient (never reconnects, shared context)": QuickReadyClient}


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def sockets_bound(prefix: str, km: AsyncKernelManager) -> None:
    paths = [f"{prefix}-{getattr(km, f'{channel}_port')}" for channel in ("shell", "iopub", "stdin", "control", "hb")]
    while not all(os.path.exists(path) for path in paths):
        await asyncio.sleep(0.005)


async def cycle(client_class: type, folder: Path, index: int) -> tuple[float, float]:
    """One kernel from start to closed: (seconds of stop_channels, seconds of the whole cycle)."""
    start = time.perf_counter()
    km = AsyncKernelManager(kernel_name="python3", transport="ipc",
                            client_class=f"{client_class.__module__}.{client_class.__qualname__}")
    km.ip = str(folder / f"k{index}")
    await km.start_kernel()
    await sockets_bound(km.ip, km)
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    await kc.execute_interactive("x = 1 + 1", timeout=60)
    await km.shutdown_kernel(now=False)
    await km.cleanup_resources()
    closing = time.perf_counter()
    kc.stop_channels()
    end = time.perf_counter()
    return end - closing, end - start


async def measure(client_class: type, kernels: int) -> tuple[list[float], list[float], int]:
    """Seconds of stop_channels and of each cycle, and the open descriptors after the first kernel."""
    stops, cycles, first = [], [], 0
    with tempfile.TemporaryDirectory() as folder:
        for index in range(kernels):
            stop, whole = await cycle(client_class, Path(folder), index)
            stops.append(stop)
            cycles.append(whole)
            first = first or open_descriptors()
    return stops, cycles, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=8)
    args = parser.parse_args()
    print(f"{args.kernels} kernels per client over IPC; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    medians = {}
    for name, client_class in CLIENTS.items():
        stops, cycles, first = asyncio.run(measure(client_class, args.kernels))
        medians[name] = (statistics.median(stops), statistics.median(cycles))
        print(f"  {name:52s} stop_channels {medians[name][0]:.3f} s   whole cycle {medians[name][1]:.3f} s   "
              f"open descriptors after the first kernel {first}, after the last {open_descriptors()}")
    own, shared = medians["never reconnects, own context"], medians[
        "QuickReadyClient (never reconnects, shared context)"]
    print(f"the shared context saves {own[0] - shared[0]:.3f} s per kernel in stop_channels; whole cycle "
          f"{own[1] / shared[1]:.2f}x faster")


if __name__ == "__main__":
    main()
