// Per-clip class labels, shared by the tasks whose targets are one class per
// example (classify: the word; embed: the training speaker): the example's
// target, a batch's stacked labels, and the progress line's decisions (the
// highest output is the label). Pure functions; thread-safe.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "common/data/example.h"
#include "common/tasks/task.h"

namespace chorus::tasks {

// A 0-d int64 tensor holding example.label.
at::Tensor ClipLabel(const data::Example& example);
// Targets with labels [B] int64 (pinned when asked).
Targets CollateClipLabels(const std::vector<at::Tensor>& per_example, bool pin_memory);
// [2] float64 on the output's device: argmax(output) == label, and the batch size.
at::Tensor ArgmaxDecisions(const at::Tensor& output, const Targets& targets);

}  // namespace chorus::tasks
