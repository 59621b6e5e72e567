"""PyTorch DDP twin of bench/ddp_bench.cc (gloo backend, one thread per rank).

Starts --nproc ranks with torch.multiprocessing.spawn (rendezvous over TCP on
127.0.0.1; Debian's torch.distributed.run fails on Python 3.11). Rank 0 prints
samples/s of all ranks as the last line. Run with Debian's /usr/bin/python3.

Across hosts, start one process per rank yourself (e.g. under srun) with
--rank R --world W --master ADDR:PORT (rank 0 listens there; set
GLOO_SOCKET_IFNAME to the interface the hosts share).
"""
import argparse
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

from train_bench import MODELS


def worker(rank, a, master):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://{master}", rank=rank, world_size=a.nproc)
    world = dist.get_world_size()
    torch.manual_seed(rank)
    model = DDP(MODELS[a.model]())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(a.batch, 1, 98, 40)
    y = torch.randint(0, 12, (a.batch,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(5):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    elapsed = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    if rank == 0:
        print(a.steps * a.batch * world / elapsed.item(), flush=True)
    if a.rank >= 0:
        # One process per host: the timing collective above has completed on
        # every rank, and gloo's teardown can hang when a peer exits first.
        os._exit(0)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nproc", type=int, default=1)
    p.add_argument("--model", default="ds_cnn")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rank", type=int, default=-1, help="run only this rank (with --world and --master)")
    p.add_argument("--world", type=int, default=0)
    p.add_argument("--master", default="", help="ADDR:PORT where rank 0 listens")
    a = p.parse_args()
    if a.rank >= 0:
        if a.world < 1 or not a.master:
            p.error("--rank needs --world and --master")
        a.nproc = a.world
        worker(a.rank, a, a.master)
        return
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    with socket.socket() as s:  # a free loopback port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(a, f"127.0.0.1:{port}"), nprocs=a.nproc, join=True)


if __name__ == "__main__":
    main()
