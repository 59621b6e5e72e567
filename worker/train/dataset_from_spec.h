// Resolves a job's DatasetSpec into a DatasetSplit: dispatches to the reader
// for its kind and appends the extra training sources. Thread-safe.
#pragma once

#include "common/config/job_spec.h"
#include "common/data/example.h"
#include "common/util/status.h"

namespace chorus::train {

Result<data::DatasetSplit> LoadDatasetFromSpec(const config::DatasetSpec& spec, uint64_t seed);

}  // namespace chorus::train
