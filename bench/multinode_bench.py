"""Chorus across the nodes of the multi-node dev cluster, side by side with its
anchors in one run (run as root with Debian's /usr/bin/python3):

  1. all-reduce over TCP between 2 nodes: Chorus's MpiCommunicator against raw
     MPI_Allreduce on the same nodes, by message size (allreduce_bench under
     srun --mpi=pmix -N2 -n2); the same on 1 node (shared memory) for scale;
  2. data-parallel training (ddp_bench's DS-CNN), 1 node against 2 nodes with
     1 rank each: samples/s and scaling, beside PyTorch DDP (gloo over TCP
     between the same namespaces; bench/ddp_bench.py --rank under srun);
  3. submit-to-first-step latency of a 2-node, 2-rank job: by hand (srun of
     chorus-worker train) against through the coordinator (chorus submit
     --launcher slurm --nodes 2), the first step taken from the job's log.

  /usr/bin/python3 bench/multinode_bench.py [--build build] [--quick]

Starts the 2-node cluster (slurm/dev-cluster/start.sh --nodes 2) unless one
answers, and stops it at the end if it started it. The 2 "nodes" share this
host's cores: figures compare transports and software, not hardware.
"""
import argparse
import calendar
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER_DIR = os.environ.get("CHORUS_SLURM_DIR", "/var/tmp/chorus-slurm-multi")
SLURM_CONF = os.path.join(CLUSTER_DIR, "slurm.conf")
SUBNET = os.environ.get("CHORUS_NET_SUBNET", "198.18.0")
HEAD = SUBNET + ".1"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, timeout, env=None, check=True):
    e = dict(os.environ, SLURM_CONF=SLURM_CONF)
    e.update(env or {})
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, timeout=timeout, env=e,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def cluster_up():
    """Starts the 2-node cluster unless it answers; returns whether it did."""
    if os.path.exists(SLURM_CONF) and run(["sinfo", "-h"], 10, check=False).returncode == 0:
        nodes = run(["sinfo", "-h", "-N", "-o", "%N %T"], 10).stdout.split("\n")
        if sum(1 for n in nodes if n.strip()) >= 2:
            return False
    log("starting the 2-node dev cluster ...")
    run([os.path.join(SRC, "slurm/dev-cluster/start.sh"), "--nodes", "2"], 120)
    return True


def last_number(text):
    nums = [l for l in text.strip().split("\n") if re.fullmatch(r"[0-9.]+", l.strip())]
    if not nums:
        raise RuntimeError("no number in:\n" + text[-2000:])
    return float(nums[-1])


# ---------------------------------------------------------------- 1. all-reduce
def allreduce(build, seconds):
    out = {}
    for nodes in (2, 1):
        log(f"all-reduce, 2 ranks on {nodes} node(s) ...")
        r = run(["srun", "--mpi=pmix", f"-N{nodes}", "-n2", os.path.join(build, "bench/allreduce_bench"),
                 "--seconds", str(seconds), "--max-bytes", str(16 << 20)], 600)
        out[nodes] = r.stdout
    return out


# ---------------------------------------------------------------- 2. DDP
def ddp(build, steps, reps):
    """samples/s of chorus and of PyTorch DDP on 1 and 2 nodes: the best of
    `reps` runs each, as one thread per rank on a shared host is noisy."""
    res = {}
    for nodes in (1, 2):
        ours, theirs = [], []
        for rep in range(reps):
            log(f"data-parallel training, {nodes} node(s) x 1 rank, run {rep + 1}/{reps}: chorus ...")
            r = run(["srun", "--mpi=pmix", f"-N{nodes}", f"-n{nodes}", "--ntasks-per-node=1",
                     os.path.join(build, "bench/ddp_bench"), "--worker", "--steps", str(steps)], 600,
                    env={"OMP_NUM_THREADS": "1"})
            ours.append(last_number(r.stdout))
            log(f"data-parallel training, {nodes} node(s) x 1 rank, run {rep + 1}/{reps}: pytorch DDP (gloo) ...")
            port = 29500 + (int(time.time()) + rep) % 1000
            # Rank 0 runs on the allocation's first node (block distribution)
            # and listens there; the nodes resolve each other's names.
            cmd = (f"OMP_NUM_THREADS=1 GLOO_SOCKET_IFNAME=eth0 exec /usr/bin/python3 {SRC}/bench/ddp_bench.py "
                   f"--steps {steps} --rank $SLURM_PROCID --world $SLURM_NTASKS "
                   f"--master $(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -1):{port}")
            try:
                r = run(["srun", "--mpi=none", f"-N{nodes}", f"-n{nodes}", "--ntasks-per-node=1",
                         "--kill-on-bad-exit=1", "sh", "-c", cmd], 300)
                theirs.append(last_number(r.stdout))
            except (RuntimeError, subprocess.TimeoutExpired) as e:  # the anchor failing is reported, not fatal
                log(f"pytorch DDP on {nodes} node(s) failed: {e}")
        res[nodes] = (max(ours), max(theirs) if theirs else float("nan"), ours, theirs)
    return res


# ---------------------------------------------------------------- 3. latency
STEP_RE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}).*\bstep 1/")


def first_step_time(text):
    m = STEP_RE.search(text)
    if not m:
        raise RuntimeError("no 'step 1/' line in:\n" + text[-3000:])
    whole, ms = m.group(1).split(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000.0


def job_yaml(work, data):
    path = os.path.join(work, "job.yaml")
    with open(path, "w") as f:
        f.write(f"""name: multinode-latency
dataset: {{kind: speech_commands, root: {data}, words: [yes, no, up], validation_percentage: 10, testing_percentage: 10}}
model: {{name: tc_resnet, width: 8}}
training: {{batch_size: 4, max_steps: 2, threads: 1, eval_every_steps: 100000000}}
output: {{dir: {work}/unused}}
""")
    return path


def by_hand(build, job, work, i):
    out_dir = os.path.join(work, f"hand-{i}")
    t0 = time.time()
    r = run(["srun", "--mpi=pmix", "-N2", "-n2", os.path.join(build, "bin/chorus-worker"), "train", job,
             "--output-dir", out_dir, "--log-every-steps", "1"], 300)
    return first_step_time(r.stdout + r.stderr) - t0


class Coordinator:
    def __init__(self, build, work):
        self.build, self.state = build, os.path.join(work, "state")
        cfg = os.path.join(work, "coordinator.yaml")
        with open(cfg, "w") as f:
            f.write(f"""listen: tcp://{HEAD}:0
state_dir: {self.state}
worker: {build}/bin/chorus-worker
tick_ms: 100
default_launcher: slurm
launchers:
  local: {{slots: 2}}
  slurm: {{slots: 4, partition: debug, template: {SRC}/slurm/train.sbatch.in, pool_template: {SRC}/slurm/serve-pool.sbatch.in, slurm_conf: {SLURM_CONF}}}
serving: {{enabled: false}}
""")
        self.log = open(os.path.join(work, "coordinator.log"), "w")
        self.proc = subprocess.Popen([os.path.join(build, "bin/chorus-coordinator"), "--config", cfg],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(os.path.join(self.state, "endpoint")):
                return
            time.sleep(0.1)
        raise RuntimeError("the coordinator did not start")

    def chorus(self, *args, timeout=300):
        return run([os.path.join(self.build, "bin/chorus"), "--log-level", "warn", "--state-dir", self.state,
                    *args], timeout)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def through_coordinator(coord, job):
    t0 = time.time()
    out = coord.chorus("submit", job, "--launcher", "slurm", "--ranks", "2", "--nodes", "2", "--log-every-steps", "1",
                       "--watch").stdout
    jid = re.search(r"submitted job (\d+)", out).group(1)
    log_text = coord.chorus("logs", jid).stdout
    return first_step_time(log_text) - t0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(SRC, "build"))
    p.add_argument("--data", default="", help="speech_commands-style folder (default: BUILD/test-data/ddp)")
    p.add_argument("--quick", action="store_true", help="fewer steps and repetitions")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("multinode_bench: run as root (it starts Slurm daemons in network namespaces)")
    build = os.path.abspath(a.build)
    data = a.data or os.path.join(build, "test-data/ddp")
    if not os.path.isdir(os.path.join(data, "yes")):
        sys.exit(f"multinode_bench: no dataset at {data} (ctest -R ddp_data makes it, or pass --data)")
    started = cluster_up()
    work = tempfile.mkdtemp(prefix="multinode-bench-", dir=build)  # beside the build, which the nodes share
    coord = None
    try:
        t_start = time.time()
        ar = allreduce(build, 0.1 if a.quick else 0.3)
        dd = ddp(build, 10 if a.quick else 30, 1 if a.quick else a.repeats)
        job = job_yaml(work, data)
        reps = 1 if a.quick else a.repeats
        hand = [by_hand(build, job, work, i) for i in range(reps)]
        coord = Coordinator(build, work)
        ours = [through_coordinator(coord, job) for _ in range(reps)]

        print("== 1. all-reduce, 2 ranks: over TCP between 2 nodes (chorus vs raw MPI_Allreduce) ==")
        print(ar[2].rstrip())
        print("-- the same 2 ranks on 1 node (shared memory), for scale --")
        print(ar[1].rstrip())
        print()
        print("== 2. data-parallel training (DS-CNN, batch 64 per rank, 1 thread per rank), 1 rank per node, "
              "best of %d runs ==" % len(dd[1][2]))
        print(f"{'nodes':<6} {'chorus samples/s':>17} {'pytorch DDP':>12} {'ratio':>7}   all runs (chorus | pytorch)")
        for n in (1, 2):
            runs = " ".join(f"{x:.0f}" for x in dd[n][2]) + " | " + " ".join(f"{x:.0f}" for x in dd[n][3])
            print(f"{n:<6} {dd[n][0]:>17.1f} {dd[n][1]:>12.1f} {dd[n][0] / dd[n][1]:>6.2f}x   {runs}")
        print(f"scaling 1 -> 2 nodes: chorus {dd[2][0] / dd[1][0] / 2 * 100:.0f}%, "
              f"pytorch DDP {dd[2][1] / dd[1][1] / 2 * 100:.0f}% (ideal 100%; both nodes share this host's 2 cores)")
        print()
        print("== 3. submit to first step, 2 nodes x 1 rank (median of %d) ==" % reps)
        mh, mo = statistics.median(hand), statistics.median(ours)
        print(f"by hand (srun chorus-worker train)      {mh:6.2f} s   runs: {', '.join(f'{x:.2f}' for x in hand)}")
        print(f"through the coordinator (chorus submit) {mo:6.2f} s   runs: {', '.join(f'{x:.2f}' for x in ours)}")
        print(f"coordinator / by hand: {mo / mh:.2f}x  (+{mo - mh:.2f} s: sbatch, the scheduler's tick, the batch script)")
        print(f"total {time.time() - t_start:.0f} s")
    finally:
        if coord:
            coord.stop()
        shutil.rmtree(work, ignore_errors=True)
        if started:
            run([os.path.join(SRC, "slurm/dev-cluster/stop.sh"), "--nodes", "2"], 120, check=False)


if __name__ == "__main__":
    main()
