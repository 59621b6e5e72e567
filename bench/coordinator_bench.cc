// coordinator_bench: what the coordinator costs on top of starting ranks by hand.
//  1. Submit-to-first-step latency, per launcher: `chorus submit` through the
//     coordinator against the same ranks started directly (mpirun, or a plain
//     sbatch + srun script), until rank 0 has finished its first step.
//  2. Status calls answered per second: RPC clients against the coordinator,
//     and the `chorus status` command against Slurm's `scontrol show job`.
// Slurm rows appear when a cluster answers (slurm/dev-cluster/start.sh).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "bench/bench_process.h"
#include "bench/bench_util.h"
#include "common/net/rpc_client.h"
#include "common/proto/job.pb.h"
#include "common/util/fs.h"
#include "common/util/subprocess.h"
#include "coordinator/training/local_launcher.h"

namespace {

namespace fs = std::filesystem;
using namespace chorus;
using chorus::bench::KillSession;
using chorus::bench::SpawnSession;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool WaitForText(const std::string& path, const std::string& text, double timeout_s) {
  auto start = Clock::now();
  while (Since(start) < timeout_s) {
    std::ifstream in(path);
    std::string content((std::istreambuf_iterator<char>(in)), {});
    if (content.find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Env {
  std::string bin, dir, data, job, slurm_conf;
  int ranks = 2;
};

std::vector<std::string> WorkerArgs(const Env& env, const std::string& out) {
  return {env.bin + "/chorus-worker", "train", env.job, "--max-steps", "1000000", "--log-every-steps", "1",
          "--output-dir", out};
}

// Rank 0 of ranks started by hand, until "step 1/".
double DirectLocal(const Env& env, int run) {
  const std::string log = env.dir + "/direct-local-" + std::to_string(run) + ".log";
  std::vector<std::string> argv = {"mpirun", "-np", std::to_string(env.ranks), "--oversubscribe"};
  for (auto& a : WorkerArgs(env, env.dir + "/direct-local-" + std::to_string(run))) argv.push_back(a);
  auto t0 = Clock::now();
  pid_t pid = SpawnSession(argv, log, {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
                                       "OMPI_MCA_btl=self,vader"});
  bool ok = pid > 0 && WaitForText(log, "step 1/", 120);
  double s = Since(t0);
  if (pid > 0) KillSession(pid);
  return ok ? s : -1;
}

double DirectSlurm(const Env& env, int run) {
  const std::string log = env.dir + "/direct-slurm-" + std::to_string(run) + ".log";
  const std::string script = env.dir + "/direct-slurm-" + std::to_string(run) + ".sbatch";
  std::ofstream(script) << "#!/bin/bash\n#SBATCH --ntasks=" << env.ranks << "\n#SBATCH --output=" << log
                        << "\nexport OMPI_MCA_btl=self,vader\nsrun --mpi=pmix "
                        << ShellJoin(WorkerArgs(env, env.dir + "/direct-slurm-" + std::to_string(run))) << "\n";
  CommandOptions co;
  co.env = {{"SLURM_CONF", env.slurm_conf}};
  auto t0 = Clock::now();
  auto submitted = RunCommand({"sbatch", "--parsable", script}, co);
  if (!submitted.ok() || submitted->exit_code != 0) return -1;
  std::string id = submitted->out.substr(0, submitted->out.find_first_of(";\n"));
  bool ok = WaitForText(log, "step 1/", 120);
  double s = Since(t0);
  (void)RunCommand({"scancel", "--signal=KILL", "--full", id}, co);
  return ok ? s : -1;
}

class Coordinator {
 public:
  Status Start(const Env& env) {
    state_ = env.dir + "/state";
    std::string config = env.dir + "/coordinator.yaml";
    std::ofstream(config) << "listen: tcp://127.0.0.1:0\nstate_dir: " << state_ << "\nworker: " << env.bin
                          << "/chorus-worker\nserving: {enabled: false}\nlaunchers:\n  local: {slots: " << env.ranks
                          << "}\n"
                          << (env.slurm_conf.empty() ? ""
                                                     : "  slurm: {slots: " + std::to_string(env.ranks) +
                                                           ", template: " + bench::SourcePath("slurm/train.sbatch.in") +
                                                           ", slurm_conf: " + env.slurm_conf +
                                                           ", env: {OMPI_MCA_btl: \"self,vader\"}}\n");
    pid_ = SpawnSession({env.bin + "/chorus-coordinator", "--config", config, "--log-level", "warn"},
                        env.dir + "/coordinator.log");
    for (int i = 0; i < 100 && !fs::exists(state_ + "/endpoint"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto endpoint = ReadFile(state_ + "/endpoint");
    auto token = ReadFile(state_ + "/token");
    if (!endpoint.ok() || !token.ok()) return Unavailable("the coordinator did not start; see " + env.dir);
    endpoint_ = endpoint->substr(0, endpoint->find('\n'));
    token_ = token->substr(0, token->find('\n'));
    return Status::Ok();
  }
  ~Coordinator() {
    if (pid_ > 0) KillSession(pid_);
  }
  Result<proto::Reply> Call(proto::Request request, net::RpcClient* client = nullptr) {
    request.set_token(token_);
    proto::Reply reply;
    net::RpcClient own({endpoint_, std::chrono::milliseconds(10000), {}});
    RETURN_IF_ERROR((client ? client : &own)->Call(request, &reply));
    if (reply.code() != "OK") return Internal(reply.error());
    return reply;
  }
  // Submit-to-first-step through the coordinator; the job is cancelled afterwards.
  Result<std::pair<double, int64_t>> FirstStep(const Env& env, const std::string& launcher) {
    proto::Request submit;
    auto* s = submit.mutable_submit();
    ASSIGN_OR_RETURN(std::string yaml, ReadFile(env.job));
    s->set_spec_yaml(yaml);
    s->set_spec_path(env.job);
    s->set_workdir(fs::current_path().string());
    s->set_ranks(env.ranks);
    s->set_launcher(launcher);
    s->set_max_restarts(0);
    for (const char* a : {"--max-steps", "1000000", "--log-every-steps", "1"}) s->add_worker_args(a);
    net::RpcClient client({endpoint_, std::chrono::milliseconds(10000), {}});
    auto t0 = Clock::now();
    ASSIGN_OR_RETURN(proto::Reply submitted, Call(submit, &client));
    const int64_t id = submitted.job().id();
    proto::Request status;
    status.mutable_status()->set_job_id(id);
    double seconds = -1;
    while (Since(t0) < 120) {
      ASSIGN_OR_RETURN(proto::Reply r, Call(status, &client));
      if (r.job().progress().step() >= 1) {
        seconds = Since(t0);
        break;
      }
      if (r.job().state() == proto::FAILED) return Internal("job failed: " + r.job().reason());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    proto::Request cancel;
    cancel.mutable_cancel()->set_job_id(id);
    (void)Call(cancel, &client);
    while (Since(t0) < 180) {  // free the slots before the next run
      ASSIGN_OR_RETURN(proto::Reply r, Call(status, &client));
      if (r.job().state() == proto::CANCELLED) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (seconds < 0) return DeadlineExceeded("no first step within 120 s");
    return std::make_pair(seconds, id);
  }
  double StatusCallsPerSecond(int64_t id, int clients, double seconds) {
    std::atomic<int64_t> calls{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
      threads.emplace_back([&] {
        net::RpcClient client({endpoint_, std::chrono::milliseconds(10000), {}});
        proto::Request status;
        status.mutable_status()->set_job_id(id);
        auto t0 = Clock::now();
        while (Since(t0) < seconds)
          if (Call(status, &client).ok()) calls.fetch_add(1);
      });
    for (auto& t : threads) t.join();
    return calls.load() / seconds;
  }
  const std::string& state() const { return state_; }

 private:
  pid_t pid_ = -1;
  std::string state_, endpoint_, token_;
};

// Runs a command repeatedly for `seconds`; returns completed runs per second.
double CommandsPerSecond(const std::vector<std::string>& argv, const CommandOptions& co, double seconds) {
  int n = 0;
  auto t0 = Clock::now();
  while (Since(t0) < seconds) {
    auto r = RunCommand(argv, co);
    if (!r.ok() || r->exit_code != 0) return -1;
    ++n;
  }
  return n / Since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coordinator_bench: submit-to-first-step latency and status calls per second, against starting "
               "ranks by hand and against Slurm's own commands"};
  Env env;
  int repeats = 3;
  double seconds = 3;
  std::string slurm = "auto";
  app.add_option("--ranks", env.ranks, "ranks per job")->capture_default_str();
  app.add_option("--repeats", repeats, "latency runs per row (median)")->capture_default_str();
  app.add_option("--seconds", seconds, "duration of each calls/s measurement")->capture_default_str();
  app.add_option("--slurm", slurm, "auto, on or off")->check(CLI::IsMember({"auto", "on", "off"}));
  CLI11_PARSE(app, argc, argv);

  std::error_code ec;
  env.bin = fs::read_symlink("/proc/self/exe", ec).parent_path().parent_path().string() + "/bin";
  env.dir = fs::absolute("bench-out/coordinator").string();
  fs::remove_all(env.dir, ec);
  fs::create_directories(env.dir);
  env.data = env.dir + "/data";
  env.job = env.dir + "/job.yaml";
  auto made = RunCommand({env.bin + "/chorus", "--log-level", "warn", "dataset", "synth", "--out", env.data, "--words",
                          "yes", "no", "up", "--voices", "10", "--takes", "1"},
                         {{}, std::chrono::milliseconds(300000)});
  if (!made.ok() || made->exit_code != 0) {
    std::cerr << "cannot synthesize the benchmark data\n";
    return 1;
  }
  std::ofstream(env.job) << "name: coordinator-bench\n"
                            "dataset: {kind: speech_commands, root: " << env.data
                         << ", words: [yes, no, up]}\n"
                            "model: {name: tc_resnet, width: 8}\n"
                            "training: {batch_size: 4, epochs: 100000, threads: 1, checkpoint_every_steps: 1000000}\n"
                            "output: {dir: " << env.dir << "/unused}\n";
  if (slurm != "off") {
    std::string conf = std::getenv("SLURM_CONF") ? std::getenv("SLURM_CONF") : "/var/tmp/chorus-slurm/slurm.conf";
    auto up = RunCommand({"sinfo", "-h"}, {{{"SLURM_CONF", conf}}, std::chrono::milliseconds(5000)});
    if (up.ok() && up->exit_code == 0) env.slurm_conf = conf;
    else if (slurm == "on") {
      std::cerr << "no Slurm cluster answers (SLURM_CONF=" << conf << "); start slurm/dev-cluster/start.sh\n";
      return 1;
    }
  }

  Coordinator coordinator;
  if (Status s = coordinator.Start(env); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  std::printf("submit-to-first-step latency, %d ranks, median of %d (this machine: %u cores)\n", env.ranks, repeats,
              std::thread::hardware_concurrency());
  std::printf("%-8s %22s %22s %12s\n", "launcher", "direct (by hand)", "through coordinator", "ratio");
  int64_t last_job = 0;
  for (std::string launcher : {"local", "slurm"}) {
    if (launcher == "slurm" && env.slurm_conf.empty()) {
      std::printf("%-8s %22s\n", "slurm", "(no cluster answers; skipped)");
      continue;
    }
    std::vector<double> direct, through;
    for (int r = 0; r < repeats; ++r) {
      direct.push_back(launcher == "local" ? DirectLocal(env, r) : DirectSlurm(env, r));
      auto t = coordinator.FirstStep(env, launcher);
      if (!t.ok()) {
        std::cerr << launcher << ": " << t.status().ToString() << "\n";
        return 1;
      }
      through.push_back(t->first);
      last_job = t->second;
    }
    const double d = Median(direct), c = Median(through);
    std::printf("%-8s %20.3f s %20.3f s %11.2fx\n", launcher.c_str(), d, c, d > 0 ? c / d : 0);
    std::fflush(stdout);
  }

  std::printf("\nstatus calls answered per second (job %lld with its history)\n", (long long)last_job);
  for (int clients : {1, 4})
    std::printf("  chorus RPC, %d client(s): %10.0f calls/s\n", clients,
                coordinator.StatusCallsPerSecond(last_job, clients, seconds));
  const double cli = CommandsPerSecond({env.bin + "/chorus", "--state-dir", coordinator.state(), "status",
                                        std::to_string(last_job)},
                                       {}, seconds);
  std::printf("  `chorus status` command:   %10.1f calls/s", cli);
  if (!env.slurm_conf.empty()) {
    CommandOptions co;
    co.env = {{"SLURM_CONF", env.slurm_conf}};
    const double sc = CommandsPerSecond({"scontrol", "show", "job", "-o"}, co, seconds);
    std::printf("   vs `scontrol show job`: %.1f calls/s (ratio %.2fx)", sc, sc > 0 ? cli / sc : 0);
  }
  std::printf("\n");
  return 0;
}
