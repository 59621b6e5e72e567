// Keeping a model identical across ranks: broadcast rank 0's parameters and
// buffers (at the start of a run), or just its buffers (BatchNorm running
// statistics, before every step, as PyTorch DDP does). Each call is a
// collective: every rank must make it. Not thread-safe.
#pragma once

#include <string>

#include "common/comm/communicator.h"
#include "common/models/model.h"
#include "common/util/status.h"

namespace chorus::train {

Status BroadcastParameters(models::Model& model, comm::Communicator& comm, const std::string& tag);
Status BroadcastBuffers(models::Model& model, comm::Communicator& comm, const std::string& tag);

}  // namespace chorus::train
