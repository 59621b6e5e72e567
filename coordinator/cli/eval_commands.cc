#include "coordinator/cli/eval_commands.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <vector>

namespace chorus::cli {
namespace {

namespace fs = std::filesystem;

// The directory that holds this executable (chorus-worker lives beside it).
fs::path SelfDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

bool IsJobId(const std::string& s) {
  return !s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string::npos;
}

int Usage(const std::string& message) {
  std::cerr << "chorus eval: " << message << std::endl;
  return 2;
}

int Failure(const std::string& message) {
  std::cerr << "chorus eval: " << message << std::endl;
  return 1;
}

std::string Absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

}  // namespace

void EvalCommands::Register(CLI::App& app) {
  eval_ = app.add_subcommand(
      "eval",
      "Evaluate an exported model on a dataset split as the trainer does: accuracy, per-class precision / recall / "
      "F1, the confusion matrix, one-vs-rest ROC curves with AUC, DET curves with EER (a detector's frame figures, a "
      "speaker model's EER and minDCF). Prints the table; writes JSON, per-example scores and plots (PNG or SVG).");
  eval_->add_option("model", target_,
                    "a model version folder (models/NAME/VERSION) or a job id (its exported model, via the "
                    "coordinator)")
      ->required();
  eval_->add_option("--data", data_,
                    "the dataset: a job file (its dataset: section), a YAML file with one dataset mapping, or the "
                    "mapping inline, e.g. '{kind: fsdd, root: data/fsdd, train_speakers: [george], test_speakers: "
                    "[yweweler]}' (default: the model's or the job's own job file)");
  eval_->add_option("--split", split_, "train, validation or test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "validation", "test"}));
  eval_->add_option("--out", out_,
                    "FILE.json, or a folder for eval.json (default runs/eval/NAME-vVERSION-SPLIT); scores.csv and "
                    "the plots go beside it");
  eval_->add_flag("--no-plots", no_plots_, "write no images");
  eval_->add_option("--format", format_, "plot images: png or svg")
      ->capture_default_str()
      ->check(CLI::IsMember({"png", "svg"}));
  eval_->add_option("--ranks", ranks_, "evaluate on N processes (mpirun -np N), each a shard")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  eval_->add_option("--device", device_, "cpu, cuda or cuda:N")->capture_default_str();
  eval_->add_option("--batch-size", batch_size_, "examples per forward (default: the trainer's)")
      ->check(CLI::Range(1, 65536));
  eval_->add_option("--threads", threads_, "intra-op threads per process")->check(CLI::Range(1, 256));
  eval_->footer(
      "Exit codes: 0 success, 1 the evaluation failed (or no coordinator answered, or the job exported no model), 2 "
      "bad usage (no such model folder or job, a bad --data spec, a dataset whose classes the model lacks).\n"
      "Examples:\n"
      "  chorus eval models/fsdd-digits/1 --data jobs/kws/fsdd-digits.yaml --out runs/eval/fsdd\n"
      "  chorus eval 12 --ranks 2           # job 12's model on its own test split");
}

std::optional<int> EvalCommands::Run() {
  if (!eval_ || !eval_->parsed()) return std::nullopt;
  std::string model_dir, workdir, data = data_, out = out_.empty() ? "" : Absolute(out_);
  std::error_code ec;
  if (fs::is_directory(target_, ec)) {
    if (!fs::is_regular_file(fs::path(target_) / "model.json", ec))
      return Usage(target_ + " is a folder but not an exported model (no model.json)");
    model_dir = Absolute(target_);
  } else if (IsJobId(target_)) {
    Result<JobClient> client = JobClient::Connect(connect_);
    if (!client.ok()) return Failure(client.status().message());
    proto::Request request;
    request.mutable_status()->set_job_id(std::stoll(target_));
    Result<proto::Reply> reply = client->Call(request);
    if (!reply.ok()) {
      if (reply.status().code() == StatusCode::kNotFound) return Usage(reply.status().message());
      return Failure(reply.status().message());
    }
    const proto::Job& job = reply->job();
    if (job.export_dir().empty())
      return Failure("job " + target_ + " (" + job.name() + ") has exported no model yet; it is " +
                     proto::JobState_Name(job.state()));
    workdir = job.workdir();
    model_dir = fs::path(job.export_dir()).is_absolute() ? job.export_dir()
                                                         : (fs::path(workdir) / job.export_dir()).string();
    if (data.empty()) data = job.spec_path();
    if (out.empty()) out = Absolute("runs/eval/job-" + target_ + "-" + split_);
  } else {
    return Usage("'" + target_ + "' is neither a model folder (models/NAME/VERSION) nor a job id");
  }
  if (!data.empty() && fs::is_regular_file(data, ec)) data = Absolute(data);

  const std::string worker = (SelfDir() / "chorus-worker").string();
  if (::access(worker.c_str(), X_OK) != 0) return Failure("cannot run " + worker + " (build the chorus-worker target)");
  std::vector<std::string> args;
  if (ranks_ > 1) args = {"mpirun", "-np", std::to_string(ranks_)};
  args.insert(args.end(), {worker, "eval", model_dir, "--split", split_, "--format", format_, "--device", device_});
  if (!data.empty()) args.insert(args.end(), {"--data", data});
  if (!out.empty()) args.insert(args.end(), {"--out", out});
  if (no_plots_) args.push_back("--no-plots");
  if (batch_size_ > 0) args.insert(args.end(), {"--batch-size", std::to_string(batch_size_)});
  if (threads_ > 0) args.insert(args.end(), {"--threads", std::to_string(threads_)});
  if (ranks_ > 1 && ::geteuid() == 0) {  // Open MPI refuses root unless told twice
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  }
  if (!workdir.empty() && ::chdir(workdir.c_str()) != 0)
    return Failure("cannot enter job's working directory " + workdir);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  ::execvp(argv[0], argv.data());
  std::perror(("chorus eval: cannot start " + args[0]).c_str());
  return 1;
}

}  // namespace chorus::cli
