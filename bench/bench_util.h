// Helpers shared by the benchmarks: locating files of the source tree and
// the build, a fresh output folder, and running a baseline program whose
// last stdout line is one number.
#pragma once

#include <string>
#include <vector>

#include "common/util/status.h"

namespace chorus::bench {

// CHORUS_SOURCE_DIR when set, else the source dir this binary was built from.
std::string SourcePath(const std::string& relative);

// The build's bin/ folder (chorus-coordinator, chorus-worker), beside this
// benchmark's bench/ folder.
std::string BinDir();

// bench-out/NAME under the working directory, emptied and created; absolute.
std::string FreshOutputDir(const std::string& name);

// Runs `command` through the shell and returns its last non-empty stdout
// line; failure to run is an error quoting that line.
Result<std::string> RunAndReadLastLine(const std::string& command);

// The q-quantile (0..1) of `values`, nearest rank below; 0 when empty.
double Quantile(std::vector<double> values, double q);

// As RunAndReadLastLine, and that line must be a number.
Result<double> RunAndReadNumber(const std::string& command);

}  // namespace chorus::bench
