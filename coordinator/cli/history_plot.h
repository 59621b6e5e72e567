// `chorus status JOB --plot`: a job's curves, from the coordinator's history
// of it (Request.history: every progress report and evaluation), drawn with
// common/plot into DIR/training.png|svg (loss, accuracy, validation and test
// scores, learning rate against the step); and, when the trainer's eval.json
// is readable here (RUN_DIR/output, where the coordinator's ranks write, or
// the job file's output.dir),
// DIR/test_confusion (and validation_confusion). Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "common/plot/figures.h"
#include "common/proto/job.pb.h"
#include "common/util/status.h"
#include "coordinator/cli/job_client.h"

namespace chorus::cli {

plot::TrainingHistory TrainingHistoryFromProto(const proto::History& history);

// Returns the images written.
Result<std::vector<std::string>> PlotJobHistory(JobClient& client, const proto::Job& job, const std::string& dir,
                                                const plot::PlotOptions& options);

}  // namespace chorus::cli
