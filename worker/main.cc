// chorus-worker: the process that does the work on a node.
//   chorus-worker train JOB.yaml   train one job; started by `mpirun -np N` or
//                                  `srun --mpi=pmix` it becomes rank r of N.
//                                  Started by the coordinator (CHORUS_COORDINATOR
//                                  and CHORUS_JOB_ID set), rank 0 reports progress
//                                  and heartbeats to it.
//   chorus-worker serve --broker EP --model DIR...   answer inference requests
//                                  from the coordinator's broker (dynamic batching)
//   chorus-worker eval MODEL_DIR --data SPEC   evaluate an exported model on a
//                                  dataset split (worker/train/model_eval.h);
//                                  under mpirun each rank takes a shard
// Exit codes: 0 success, 1 the job (or evaluation) failed, 2 bad usage or an
// invalid job file / dataset / model, 3 interrupted by SIGINT/SIGTERM after
// writing a checkpoint.
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <cstdio>
#include <iostream>

#include <filesystem>

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/comm/factory.h"
#include "common/comm/mpi_runtime.h"
#include "common/config/job_spec.h"
#include "common/models/device.h"
#include "common/models/threads.h"
#include "common/util/allocator.h"
#include "common/util/fs.h"
#include "common/util/logging.h"
#include "worker/serve/serve_loop.h"
#include "worker/train/coordinator_reporter.h"
#include "worker/train/eval_output.h"
#include "worker/train/model_eval.h"
#include "worker/train/trainer.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// True when an MPI launcher (mpirun, or Slurm's srun with PMIx/PMI) started
// this process; the launcher, not the user, sets these variables.
bool LaunchedByMpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

// The MPI world this process joined, and its communicator; torn down in that
// order (communicator, then MPI) on every path out of the command.
struct RankWorld {
  std::unique_ptr<chorus::comm::Communicator> comm;  // null: not launched by MPI
  int local_rank = 0;
  ~RankWorld() {
    comm.reset();
    if (chorus::comm::MpiRuntime::initialized()) chorus::comm::MpiRuntime::Finalize();
  }
};

// Under an MPI launcher: joins the world and makes the communicator where
// `device` is (NCCL for a GPU, MPI for the CPU); ranks other than 0 log
// warnings only. A bad device is InvalidArgument; anything else Unavailable
// or as MPI says. Not under MPI: nothing to do.
chorus::Status JoinWorld(const std::string& device_name, std::optional<std::chrono::milliseconds> timeout,
                         RankWorld* world) {
  if (!LaunchedByMpi()) return chorus::Status::Ok();
  ASSIGN_OR_RETURN(chorus::comm::WorldInfo mpi, chorus::comm::MpiRuntime::Initialize());
  if (mpi.rank != 0) spdlog::set_level(spdlog::level::warn);  // rank 0 speaks for the job
  spdlog::info("rank {} of {} (local rank {})", mpi.rank, mpi.world_size, mpi.local_rank);
  world->local_rank = mpi.local_rank;
  auto device = chorus::models::ResolveDevice(device_name, mpi.local_rank);
  if (!device.ok()) return chorus::InvalidArgument(device.status().message());
  chorus::comm::CommunicatorOptions co;
  co.device = *device;
  if (timeout) co.timeout = *timeout;
  ASSIGN_OR_RETURN(world->comm, chorus::comm::CreateCommunicator(co));
  return chorus::Status::Ok();
}

// Command-line settings that override the job file's.
struct TrainOverrides {
  int threads = 0, max_steps = 0, log_every_steps = 0;
  std::string output_dir, device, precision;
};

int Train(const std::string& job_path, bool resume, const TrainOverrides& overrides) {
  chorus::Result<chorus::config::TrainJobSpec> spec = chorus::config::LoadTrainJobSpec(job_path);
  if (!spec.ok()) {
    std::cerr << "invalid job file:\n" << spec.status().message() << std::endl;
    return 2;
  }
  if (overrides.threads > 0) spec->training.threads = overrides.threads;
  if (overrides.max_steps > 0) spec->training.max_steps = overrides.max_steps;
  if (!overrides.output_dir.empty()) spec->output.dir = overrides.output_dir;
  if (!overrides.device.empty()) spec->training.device = overrides.device;
  if (!overrides.precision.empty()) spec->training.precision = overrides.precision;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  RankWorld world;
  if (chorus::Status s = JoinWorld(spec->training.device,
                                   std::chrono::milliseconds(static_cast<int64_t>(spec->training.collective_timeout_s * 1000)),
                                   &world);
      !s.ok()) {
    spdlog::error("{}", s.code() == chorus::StatusCode::kInvalidArgument ? "training.device: " + s.message()
                                                                        : s.ToString());
    return 1;
  }
  std::unique_ptr<chorus::comm::Communicator>& comm = world.comm;
  const int local_rank = world.local_rank;

  // Rank 0 of a coordinator-launched job reports to the coordinator (and the log).
  chorus::train::LogProgressReporter log_reporter;
  std::unique_ptr<chorus::train::CoordinatorReporter> coordinator;
  if (auto link = chorus::train::CoordinatorLinkFromEnvironment(); link && (!comm || comm->rank() == 0)) {
    spdlog::info("reporting to coordinator {} as job {} attempt {}", link->endpoint, link->job_id, link->attempt);
    coordinator = std::make_unique<chorus::train::CoordinatorReporter>(*link, &log_reporter,
                                                                       comm ? comm->world_size() : 1);
  }

  chorus::train::TrainerOptions options;
  options.reporter = coordinator.get();
  if (overrides.log_every_steps > 0) options.log_every_steps = overrides.log_every_steps;
  options.spec = *spec;
  options.resume = resume;
  options.stop_requested = &g_stop;
  options.comm = comm.get();
  options.local_rank = local_rank;
  auto trainer = chorus::train::Trainer::Create(options);
  if (!trainer.ok()) {
    spdlog::error("{}", trainer.status().ToString());
    // Other ranks may already wait in a collective: end them too.
    if (comm && comm->world_size() > 1) comm->Abort(trainer.status());
    return trainer.status().code() == chorus::StatusCode::kInvalidArgument ? 2 : 1;
  }
  auto result = (*trainer)->Run();
  if (!result.ok()) {
    spdlog::error("{}", result.status().ToString());
    if (comm && comm->world_size() > 1) comm->Abort(result.status());
    return 1;
  }
  if (result->interrupted) return 3;
  if (comm && comm->rank() != 0) return 0;
  if (result->test) {
    std::cout << "\nTest set of " << spec->name << ":\n" << result->test->table;
    std::printf("\ntest %s: %.4f (%lld examples)\n", result->test->score_name.c_str(), result->test->score,
                static_cast<long long>(result->test->count));
  }
  if (!result->export_dir.empty()) {
    std::cout << "exported: " << result->export_dir << "\n";
    if (coordinator) coordinator->OnExport(result->export_dir);
  }
  return 0;
}

// `chorus-worker eval`'s settings.
struct EvalArgs {
  std::string model_dir, data, split = "test", out, device = "cpu", format = "png";
  int batch_size = 0, threads = 0;
  bool no_plots = false;
};

// Without --data: the job file model.json names (source_job), if it is here.
chorus::Result<std::string> DefaultDataArgument(const std::string& model_dir) {
  const std::string json_path = model_dir + "/model.json";
  chorus::Result<std::string> text = chorus::ReadFile(json_path);
  if (!text.ok()) return chorus::InvalidArgument(model_dir + " is not an exported model: " + text.status().message());
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  const std::string job = j.is_object() ? j.value("source_job", "") : "";
  std::error_code ec;
  if (job.empty() || !std::filesystem::is_regular_file(job, ec)) {
    return chorus::InvalidArgument("--data is needed: " + json_path + " names no job file that exists here (source_job '" +
                                   job + "')");
  }
  return job;
}

int Eval(EvalArgs args) {
  if (args.data.empty()) {
    chorus::Result<std::string> data = DefaultDataArgument(args.model_dir);
    if (!data.ok()) {
      std::cerr << "chorus-worker eval: " << data.status().message() << std::endl;
      return 2;
    }
    args.data = *data;
  }
  chorus::Result<chorus::config::DatasetSpec> dataset = chorus::config::DatasetSpecFromArgument(args.data);
  if (!dataset.ok()) {
    std::cerr << "chorus-worker eval: --data: " << dataset.status().message() << std::endl;
    return 2;
  }
  chorus::models::SetComputeThreads(args.threads);
  RankWorld world;
  if (chorus::Status s = JoinWorld(args.device, std::nullopt, &world); !s.ok()) {
    if (s.code() == chorus::StatusCode::kInvalidArgument) {
      std::cerr << "chorus-worker eval: --device: " << s.message() << std::endl;
      return 2;
    }
    spdlog::error("{}", s.ToString());
    return 1;
  }
  std::unique_ptr<chorus::comm::Communicator>& comm = world.comm;
  const int local_rank = world.local_rank;

  chorus::train::ModelEvalOptions options;
  options.model_dir = args.model_dir;
  options.dataset = *dataset;
  options.split = args.split;
  options.device = args.device;
  options.batch_size = args.batch_size;
  options.comm = comm.get();
  options.local_rank = local_rank;
  auto result = chorus::train::EvaluateModel(options);
  if (!result.ok()) {
    std::cerr << "chorus-worker eval: " << result.status().message() << std::endl;
    if (comm && comm->world_size() > 1) comm->Abort(result.status());
    const auto code = result.status().code();
    return code == chorus::StatusCode::kInvalidArgument || code == chorus::StatusCode::kNotFound ? 2 : 1;
  }
  if (comm && comm->rank() != 0) return 0;
  chorus::train::EvalOutputOptions output;
  output.out = !args.out.empty() ? args.out
                                 : "runs/eval/" + result->model_name + "-v" + std::to_string(result->model_version) +
                                       "-" + result->split;
  output.plots = !args.no_plots;
  output.plot.format = args.format;
  auto files = chorus::train::WriteEvalOutputs(*result, *dataset, output);
  std::cout << chorus::train::EvalTable(*result);
  if (!files.ok()) {
    std::cerr << "chorus-worker eval: " << files.status().message() << std::endl;
    return 1;
  }
  std::cout << "wrote " << files->json;
  if (!files->scores.empty()) std::cout << ", " << files->scores;
  for (const auto& p : files->plots) std::cout << ", " << p;
  std::cout << std::endl;
  if (!files->plot_warning.empty()) std::cerr << "chorus-worker eval: " << files->plot_warning << std::endl;
  return 0;
}

int Serve(chorus::serve::ServeOptions options) {
  if (options.token.empty())
    if (const char* t = std::getenv("CHORUS_TOKEN")) options.token = t;
  auto curve = chorus::net::CurveClientFromEnvironment();
  if (!curve.ok()) {
    std::cerr << "chorus-worker serve: " << curve.status().message() << std::endl;
    return 2;
  }
  options.curve = *curve;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  auto loop = chorus::serve::ServeLoop::Create(std::move(options));
  if (!loop.ok()) {
    std::cerr << "chorus-worker serve: " << loop.status().message() << std::endl;
    return loop.status().code() == chorus::StatusCode::kInvalidArgument ? 2 : 1;
  }
  chorus::Status s = (*loop)->Run(g_stop);
  if (!s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chorus-worker: runs Chorus work on this node: training ranks and inference workers"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")->capture_default_str();

  CLI::App* train = app.add_subcommand("train", "Train the job described by a YAML file (see jobs/)");
  std::string job_path;
  bool no_resume = false;
  TrainOverrides overrides;
  train->add_option("job", job_path, "job file, e.g. jobs/kws/synth.yaml")->required()->check(CLI::ExistingFile);
  train->add_flag("--no-resume", no_resume, "start from scratch even if OUTPUT/checkpoints has a checkpoint");
  auto device_name = [](const std::string& d) {
    return chorus::config::IsDeviceName(d) ? std::string() : "must be cpu, cuda or cuda:N, got '" + d + "'";
  };
  train->add_option("--threads", overrides.threads, "intra-op threads for the model (overrides training.threads)")
      ->check(CLI::Range(1, 256));
  train->add_option("--max-steps", overrides.max_steps, "stop after this many steps (overrides training.max_steps)")
      ->check(CLI::Range(1, 1 << 30));
  train->add_option("--output-dir", overrides.output_dir, "checkpoints and metrics go here (overrides output.dir)");
  train->add_option("--log-every-steps", overrides.log_every_steps,
                    "progress line (and report) every N steps (default 20)")
      ->check(CLI::Range(1, 1 << 30));
  train->add_option("--device", overrides.device,
                    "cpu, cuda (GPU local_rank of those visible) or cuda:N (overrides training.device)")
      ->check(device_name);
  train->add_option("--precision", overrides.precision, "fp32 or bf16 (overrides training.precision)")
      ->check(CLI::IsMember({"fp32", "bf16"}));

  CLI::App* serve = app.add_subcommand("serve", "Answer inference requests from the coordinator's broker");
  chorus::serve::ServeOptions serve_options;
  int64_t max_delay_us = 0;
  serve->add_option("--broker", serve_options.broker, "the broker's worker endpoint, e.g. tcp://127.0.0.1:7452; an active/standby pair: both, comma-separated")
      ->required();
  serve->add_option("--model", serve_options.model_dirs,
                    "model version folder(s), e.g. models/kws-synth/1, or NAME=FOLDER to serve it as NAME");
  serve->add_option("--id", serve_options.worker_id, "worker id (default host:pid)");
  serve->add_option("--max-batch", serve_options.batching.max_batch_size, "largest batch")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  serve->add_option("--max-delay-us", max_delay_us, "longest a request waits for a batch to fill")
      ->capture_default_str()->check(CLI::Range(0, 10000000));
  serve->add_option("--preferred", serve_options.batching.preferred_sizes, "preferred batch sizes");
  serve->add_option("--capacity", serve_options.capacity, "requests accepted at once")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  int give_up_s = 0;
  serve->add_option("--give-up-after", give_up_s,
                    "exit when the broker has been silent this many seconds (0: keep trying forever)")
      ->capture_default_str()->check(CLI::Range(0, 86400));
  int serve_threads = 1;
  serve->add_option("--threads", serve_threads, "intra-op threads")->capture_default_str()->check(CLI::Range(1, 256));
  serve->add_option("--device", serve_options.device,
                    "cpu, cuda (GPU 0 of those visible) or cuda:N: where batches run; the front end stays on the CPU")
      ->capture_default_str()
      ->check(device_name);

  CLI::App* eval = app.add_subcommand(
      "eval", "Evaluate an exported model on a dataset split, as the trainer evaluates: accuracy, per-class "
              "precision / recall / F1, confusion matrix, one-vs-rest ROC and AUC, DET and EER (or the detector's and "
              "speaker model's figures); JSON, per-example scores, plots and a table. Under mpirun -np N each rank "
              "evaluates a shard.");
  EvalArgs eval_args;
  eval->add_option("model", eval_args.model_dir, "exported model version folder, e.g. models/fsdd-digits/1")
      ->required();
  eval->add_option("--data", eval_args.data,
                   "the dataset: a job file (its dataset: section), a YAML file with one dataset mapping, or the "
                   "mapping inline, e.g. '{kind: fsdd, root: data/fsdd, train_speakers: [george], test_speakers: "
                   "[yweweler]}' (default: the job file named in model.json, source_job)");
  eval->add_option("--split", eval_args.split, "train, validation or test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "validation", "test"}));
  eval->add_option("--out", eval_args.out,
                   "FILE.json, or a folder for eval.json (default runs/eval/NAME-vVERSION-SPLIT); scores and plots "
                   "go beside it");
  eval->add_flag("--no-plots", eval_args.no_plots, "write no images");
  eval->add_option("--format", eval_args.format, "plot images: png or svg")
      ->capture_default_str()
      ->check(CLI::IsMember({"png", "svg"}));
  eval->add_option("--device", eval_args.device, "cpu, cuda or cuda:N")->capture_default_str()->check(device_name);
  eval->add_option("--batch-size", eval_args.batch_size, "examples per forward (default: the trainer's)")
      ->check(CLI::Range(1, 65536));
  eval->add_option("--threads", eval_args.threads, "intra-op threads")->check(CLI::Range(1, 256));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  chorus::InitLogging(log_level);
  chorus::TuneAllocatorForTensors();
  if (serve->parsed()) {
    serve_options.batching.max_queue_delay = std::chrono::microseconds(max_delay_us);
    serve_options.give_up = std::chrono::seconds(give_up_s);
    chorus::models::SetComputeThreads(serve_threads);
    return Serve(std::move(serve_options));
  }
  if (train->parsed()) return Train(job_path, !no_resume, overrides);
  if (eval->parsed()) return Eval(eval_args);
  return 2;
}
