#include "coordinator/training/slurm_launcher.h"

#include <algorithm>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/util/fs.h"
#include "common/util/subprocess.h"
#include "coordinator/training/sbatch_template.h"

namespace chorus::coordinator {

namespace {

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "Key=Value" from scontrol's one-line output.
std::string Field(const std::string& line, const std::string& key) {
  std::istringstream in(line);
  std::string word;
  while (in >> word)
    if (word.rfind(key + "=", 0) == 0) return word.substr(key.size() + 1);
  return "";
}

}  // namespace

SlurmLauncher::SlurmLauncher(SlurmLauncherOptions options) : options_(std::move(options)) {}

std::string SlurmLauncher::JobName(const LaunchSpec& spec) {
  if (!spec.mpi) return "chorus-" + spec.name + "-" + std::to_string(spec.attempt);  // chorus-serve-MODEL-N
  return "chorus-" + std::to_string(spec.job_id) + "-" + std::to_string(spec.attempt);
}

Result<std::string> SlurmLauncher::Slurm(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) const {
  CommandOptions co;
  co.env = options_.command_env;
  co.timeout = timeout.count() > 0 ? timeout : options_.command_timeout;
  ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, co));
  if (r.exit_code != 0) {
    std::string why = Trim(r.err.empty() ? r.out : r.err);
    return Unavailable(ShellJoin(argv) + " failed (exit " + std::to_string(r.exit_code) + "): " + why);
  }
  return r.out;
}

Result<std::string> SlurmLauncher::RenderScript(const LaunchSpec& spec) const {
  const std::string& path = spec.mpi ? options_.template_path : options_.pool_template_path;
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::string environment, extra;
  std::map<std::string, std::string> env = options_.env;
  for (const auto& [k, v] : spec.env) env[k] = v;
  for (const auto& [k, v] : options_.run_as.Environment()) env[k] = v;
  for (const auto& [k, v] : env) environment += "export " + k + "=" + ShellQuote(v) + "\n";
  for (const auto& line : options_.extra_sbatch) extra += line + "\n";
  std::map<std::string, std::string> values = {
      {"job_name", JobName(spec)},
      {"partition", options_.partition},
      {"ntasks", std::to_string(spec.ranks)},
      {"cpus_per_task", std::to_string(options_.cpus_per_task)},
      {"time_limit", options_.time_limit},
      {"log_path", spec.log_path},
      {"workdir", spec.workdir},
      {"extra_sbatch", extra},
      {"environment", environment},
      {"command", ShellJoin(spec.command)},
      {"exit_file", spec.exit_file},
      {"gpus", spec.gpus_per_task > 0 ? "#SBATCH --gpus-per-task=" + std::to_string(spec.gpus_per_task) : ""},
      {"nodes", spec.nodes > 0 ? "#SBATCH --nodes=" + std::to_string(spec.nodes) : ""},
  };
  return RenderTemplate(text, values, path);
}

int SlurmLauncher::NodesToAsk(int requested, const std::vector<proto::SlurmNode>& nodes,
                              const std::string& partition) {
  if (requested <= 1) return requested;
  int up = 0;
  for (const auto& n : nodes) {
    if (n.partition() != partition) continue;
    std::string state = n.state();
    if (!state.empty() && state.back() == '*') continue;  // "idle*", "down*": not responding
    // Other suffixes ("~" powered off, "#" powering up, "-" planned, ...) do not bar it.
    while (!state.empty() && std::string("~#!%$@^-+").find(state.back()) != std::string::npos) state.pop_back();
    if (state == "idle" || state == "mixed" || state == "allocated" || state == "completing") ++up;
  }
  return up > 0 ? std::min(requested, up) : requested;
}

Result<std::string> SlurmLauncher::Launch(const LaunchSpec& requested) {
  LaunchSpec spec = requested;
  if (spec.nodes > 1) {
    Result<std::vector<proto::SlurmNode>> parsed = QueryNodes();
    if (parsed.ok()) {
      spec.nodes = NodesToAsk(spec.nodes, *parsed, options_.partition);
      if (spec.nodes < requested.nodes)
        spdlog::warn("{}: only {} of the {} nodes asked for are up in partition {}; launching on {}", JobName(spec),
                     spec.nodes, requested.nodes, options_.partition, spec.nodes);
    }
  }
  ASSIGN_OR_RETURN(std::string script, RenderScript(spec));
  const std::string script_path = spec.run_dir + "/attempt-" + std::to_string(spec.attempt) + ".sbatch";
  RETURN_IF_ERROR(AtomicWriteFile(script_path, script));
  RETURN_IF_ERROR(GiveTree(options_.run_as, spec.run_dir));  // Slurm writes the log and the script the exit file
  std::vector<std::string> sbatch = {"sbatch", "--parsable"};
  if (options_.run_as.enabled())
    sbatch.insert(sbatch.end(), {"--uid=" + options_.run_as.user, "--gid=" + std::to_string(options_.run_as.gid)});
  sbatch.push_back(script_path);
  ASSIGN_OR_RETURN(std::string out, Slurm(sbatch));
  std::string id = Trim(out.substr(0, out.find(';')));
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    return Internal("sbatch answered '" + Trim(out) + "' instead of a job id");
  return id;
}

Result<std::string> SlurmLauncher::Find(const LaunchSpec& spec) {
  ASSIGN_OR_RETURN(std::string out, Slurm({"squeue", "-h", "-n", JobName(spec), "-o", "%i"}));
  std::istringstream in(out);
  std::string id;
  in >> id;
  return id;
}

RunStatus SlurmLauncher::Poll(const std::string& handle, const std::string& exit_file) {
  if (auto code = ReadExitFile(exit_file)) return {RunState::kExited, *code, ""};
  auto queued = Slurm({"squeue", "-h", "-j", handle, "-o", "%T"});
  if (queued.ok()) {
    std::string state = Trim(*queued);
    if (state == "PENDING" || state == "CONFIGURING") return {RunState::kQueued, 0, state};
    if (!state.empty()) return {RunState::kRunning, 0, state};
  } else if (queued.status().code() == StatusCode::kDeadlineExceeded) {
    return {RunState::kRunning, 0, "squeue did not answer; assuming still running"};
  }
  if (auto code = ReadExitFile(exit_file)) return {RunState::kExited, *code, ""};
  auto shown = Slurm({"scontrol", "show", "job", handle, "-o"});
  if (!shown.ok()) return {RunState::kLost, 0, "Slurm no longer knows job " + handle};
  std::string state = Field(*shown, "JobState"), exit_code = Field(*shown, "ExitCode");
  if (state == "PENDING" || state == "CONFIGURING") return {RunState::kQueued, 0, state};
  if (state == "RUNNING" || state == "COMPLETING" || state == "SUSPENDED") return {RunState::kRunning, 0, state};
  return {RunState::kLost, 0,
          "Slurm job " + handle + " ended as " + state + " (ExitCode " + exit_code + ") without an exit status"};
}

Status SlurmLauncher::Terminate(const std::string& handle, bool force) {
  std::vector<std::string> argv = {"scancel"};
  if (force) argv.insert(argv.end(), {"--signal=KILL", "--full"});
  argv.push_back(handle);
  Status s = Slurm(argv).status();
  // A job whose node was lost lingers in squeue (COMPLETING) while scancel
  // already refuses it: nothing is left to signal, Poll sees it end.
  if (!s.ok() && s.message().find("Invalid job id specified") != std::string::npos) return Status::Ok();
  return s;
}

Result<std::vector<proto::SlurmNode>> SlurmLauncher::ParseSinfoNodes(const std::string& text) {
  std::vector<proto::SlurmNode> nodes;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = Trim(line);
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, '|');) f.push_back(Trim(x));
    if (f.size() < 5)
      return InvalidArgument("sinfo line " + std::to_string(number) + " has " + std::to_string(f.size()) +
                             " fields, not NODE|PARTITION|STATE|CPUS|A/I/O/T[|GRES]: " + line);
    proto::SlurmNode n;
    n.set_name(f[0]);
    std::string partition = f[1];
    if (!partition.empty() && partition.back() == '*') partition.pop_back();  // the default partition
    n.set_partition(partition);
    n.set_state(f[2]);
    n.set_cpus(std::atoi(f[3].c_str()));
    n.set_cpus_allocated(std::atoi(f[4].c_str()));  // "A/I/O/T": atoi stops at the first '/'
    if (f.size() > 5 && f[5] != "(null)") n.set_gres(f[5]);
    nodes.push_back(std::move(n));
  }
  return nodes;
}

Result<std::vector<proto::SlurmNode>> SlurmLauncher::QueryNodes() const {
  // The coordinator's loop waits on it: a slurmctld that does not answer
  // costs at most 3 s, not the 20 s a launch may take.
  ASSIGN_OR_RETURN(std::string out, Slurm({"sinfo", "-h", "-N", "-o", "%N|%P|%T|%c|%C|%G"}, std::chrono::seconds(3)));
  return ParseSinfoNodes(out);
}

Status SlurmLauncher::DescribeNodes(proto::ClusterStatus* cluster) {
  const auto now = std::chrono::steady_clock::now();
  if (nodes_at_ == std::chrono::steady_clock::time_point{} || now - nodes_at_ >= std::chrono::seconds(5)) {
    nodes_at_ = now;
    nodes_error_.clear();
    Result<std::vector<proto::SlurmNode>> parsed = QueryNodes();
    if (parsed.ok()) {
      nodes_ = std::move(*parsed);
    } else {
      nodes_.clear();
      nodes_error_ = parsed.status().message();
    }
  }
  for (const auto& n : nodes_) *cluster->add_slurm_nodes() = n;
  if (!nodes_error_.empty()) cluster->set_slurm_error(nodes_error_);
  return Status::Ok();
}

}  // namespace chorus::coordinator
