#include "coordinator/cli/history_plot.h"

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/config/job_spec.h"
#include "common/util/fs.h"

namespace chorus::cli {

namespace fs = std::filesystem;

plot::TrainingHistory TrainingHistoryFromProto(const proto::History& h) {
  plot::TrainingHistory out;
  for (const auto& p : h.progress())
    out.steps.push_back({static_cast<double>(p.step()), p.loss(), p.accuracy(), p.learning_rate()});
  for (const auto& e : h.evaluations()) {
    plot::TrainingHistory::Evaluation ev;
    ev.step = static_cast<double>(e.step());
    ev.split = e.split();
    ev.metric = e.metric().empty() ? "accuracy" : e.metric();
    ev.score = e.metric().empty() || e.metric() == "accuracy" ? e.accuracy() : e.score();
    ev.loss = NAN;
    out.evaluations.push_back(ev);
  }
  return out;
}

Result<std::vector<std::string>> PlotJobHistory(JobClient& client, const proto::Job& job, const std::string& dir,
                                                const plot::PlotOptions& options) {
  proto::Request request;
  request.mutable_history()->set_job_id(job.id());
  request.mutable_history()->set_after_step(-1);
  ASSIGN_OR_RETURN(proto::Reply reply, client.Call(request));
  std::vector<std::string> written;
  const std::string title = "job " + std::to_string(job.id()) + " " + job.name();
  ASSIGN_OR_RETURN(std::string training, plot::PlotTraining(TrainingHistoryFromProto(reply.history()), title,
                                                            (fs::path(dir) / "training").string(), options));
  written.push_back(training);
  // The final confusion matrices, when this host can read the trainer's
  // eval.json: in RUN_DIR/output, where the coordinator has its ranks write
  // (scheduler.cc), else in the job file's output.dir (relative to the job's
  // working directory).
  std::vector<fs::path> candidates;
  if (!job.run_dir().empty()) candidates.push_back(fs::path(job.run_dir()) / "output");
  if (Result<config::TrainJobSpec> spec = config::LoadTrainJobSpec(job.spec_path()); spec.ok()) {
    fs::path out = spec->output.dir;
    candidates.push_back(out.is_absolute() ? out : fs::path(job.workdir()) / out);
  }
  Result<std::string> text = NotFound("no eval.json");
  for (const fs::path& dir : candidates)
    if (text = ReadFile((dir / "eval.json").string()); text.ok()) break;
  if (!text.ok()) return written;
  const nlohmann::json eval = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (eval.is_discarded()) return written;
  for (const std::string split : {"validation", "test"}) {
    if (!eval.contains(split)) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> images,
                     plot::PlotEvaluation(eval[split], {}, title + ", " + split, dir, split + "_", options));
    written.insert(written.end(), images.begin(), images.end());
  }
  return written;
}

}  // namespace chorus::cli
