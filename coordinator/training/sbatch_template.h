// RenderTemplate: fills the {{key}} placeholders of an sbatch template (see
// slurm/*.sbatch.in). Every placeholder must have a value and every value a
// placeholder, so a template and the code that fills it cannot drift apart
// silently; the error names the key. Pure function, thread-safe.
#pragma once

#include <map>
#include <string>

#include "common/util/status.h"

namespace chorus::coordinator {

Result<std::string> RenderTemplate(const std::string& text, const std::map<std::string, std::string>& values,
                                   const std::string& template_name);

}  // namespace chorus::coordinator
