// Helpers shared by the benchmarks: locating files of the source tree and
// running a baseline program whose last stdout line is one number.
#pragma once

#include <string>

#include "common/util/status.h"

namespace chorus::bench {

// CHORUS_SOURCE_DIR when set, else the source dir this binary was built from.
std::string SourcePath(const std::string& relative);

// Runs `command` through the shell; its last non-empty stdout line must be a
// number. Failure to run or a non-number is an error quoting the output.
Result<double> RunAndReadNumber(const std::string& command);

}  // namespace chorus::bench
