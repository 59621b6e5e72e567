// GraphSpec: a served model made of served models, as the coordinator
// config declares it (serving.graphs): a pipeline [detector, model] or an
// ensemble [model, model, ...]. What the graphs do is coordinator/serving/
// graph.h; this is only their shape, shared with the config reader. Pure.
#pragma once

#include <string>
#include <vector>

#include "common/util/status.h"

namespace chorus::coordinator {

struct GraphSpec {
  enum class Kind { kPipeline, kEnsemble };
  std::string name;
  Kind kind = Kind::kPipeline;
  std::vector<std::string> steps;  // model names

  // The graph's shape: a pipeline has two steps, an ensemble at least two,
  // none names the graph itself.
  Status Validate() const;
  const char* kind_name() const { return kind == Kind::kPipeline ? "pipeline" : "ensemble"; }
};

}  // namespace chorus::coordinator
