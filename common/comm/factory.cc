#include "common/comm/factory.h"

#include "common/comm/mpi_communicator.h"
#if CHORUS_WITH_NCCL
#include "common/comm/nccl_communicator.h"
#endif

namespace chorus::comm {

bool NcclCompiledIn() {
#if CHORUS_WITH_NCCL
  return true;
#else
  return false;
#endif
}

Result<std::unique_ptr<Communicator>> CreateCommunicator(const CommunicatorOptions& options) {
  std::unique_ptr<Communicator> comm;
  if (options.device.is_cuda()) {
#if CHORUS_WITH_NCCL
    ASSIGN_OR_RETURN(comm, NcclCommunicator::Create(options.device));
#else
    return FailedPrecondition("training on " + options.device.str() +
                              " needs NCCL, and this build of Chorus was made without it (CHORUS_WITH_NCCL=OFF)");
#endif
  } else if (options.device.is_cpu()) {
    ASSIGN_OR_RETURN(comm, MpiCommunicator::Create());
  } else {
    return InvalidArgument("no communicator for device " + options.device.str());
  }
  comm->set_timeout(options.timeout);
  return comm;
}

}  // namespace chorus::comm
