#include "coordinator/client/graph_spec.h"

#include <set>

namespace chorus::coordinator {

Status GraphSpec::Validate() const {
  if (steps.size() < 2) return InvalidArgument(std::string("a ") + kind_name() + " needs at least two models");
  if (kind == Kind::kPipeline && steps.size() != 2)
    return InvalidArgument("a pipeline is [detector, model]: two models, not " + std::to_string(steps.size()));
  for (const auto& s : steps)
    if (s == name) return InvalidArgument("graph '" + name + "' names itself as a step");
  if (std::set<std::string>(steps.begin(), steps.end()).size() != steps.size() && kind == Kind::kEnsemble)
    return InvalidArgument("an ensemble's members must differ");
  return Status::Ok();
}

}  // namespace chorus::coordinator
