#include "common/comm/mpi_communicator.h"

#include "common/comm/collective_util.h"

#include <mpi.h>


#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

namespace chorus::comm {
namespace {

MPI_Comm AsComm(void* p) { return static_cast<MPI_Comm>(p); }

Result<MPI_Datatype> DatatypeOf(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    case at::kInt: return MPI_INT32_T;
    case at::kByte: return MPI_UINT8_T;
    default: return InvalidArgument(std::string("MPI collectives do not support dtype ") + c10::toString(t.scalar_type()));
  }
}

Status CheckTensor(const at::Tensor& t, const char* what) {
  RETURN_IF_ERROR(CheckTensorArgument(t, what));
  if (!t.device().is_cpu()) return InvalidArgument(std::string(what) + " tensor must be on the CPU for MPI");
  return Status::Ok();
}

std::string MpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, len);
}

Status Check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) return Unavailable(std::string(what) + ": " + MpiError(rc));
  return Status::Ok();
}


}  // namespace

Result<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return FailedPrecondition("MPI is not initialized (call MpiRuntime::Initialize first)");
  MPI_Comm comm;
  if (int rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm); rc != MPI_SUCCESS) return Unavailable("MPI_Comm_dup: " + MpiError(rc));
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(comm, rank, size));
}

MpiCommunicator::MpiCommunicator(void* comm, int rank, int world_size)
    : comm_(comm), rank_(rank), world_size_(world_size),
      queue_(std::make_unique<WorkQueue>("rank " + std::to_string(rank) + " of " + std::to_string(world_size) +
                                         " (mpi)")) {}

MpiCommunicator::~MpiCommunicator() {
  queue_.reset();  // drains pending collectives first
  MPI_Comm comm = AsComm(comm_);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm);
}

WorkPtr MpiCommunicator::AllReduce(at::Tensor tensor, ReduceOp op, const std::string& tag) {
  if (Status st = CheckTensor(tensor, "all_reduce"); !st.ok()) return FinishedWork(st);
  auto type = DatatypeOf(tensor);
  if (!type.ok()) return FinishedWork(type.status());
  return queue_->Enqueue("all_reduce", tag, timeout(), [this, tensor, op, type = *type]() mutable -> Status {
    int rc = MPI_Allreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()), type, MPI_SUM,
                           AsComm(comm_));
    RETURN_IF_ERROR(Check(rc, "MPI_Allreduce"));
    if (op == ReduceOp::kAverage) DivideBy(tensor, world_size_);
    return Status::Ok();
  });
}

WorkPtr MpiCommunicator::Broadcast(at::Tensor tensor, int root, const std::string& tag) {
  if (Status st = CheckTensor(tensor, "broadcast"); !st.ok()) return FinishedWork(st);
  if (root < 0 || root >= world_size_) return FinishedWork(InvalidArgument("broadcast root " + std::to_string(root) + " out of range"));
  auto type = DatatypeOf(tensor);
  if (!type.ok()) return FinishedWork(type.status());
  return queue_->Enqueue("broadcast", tag, timeout(), [this, tensor, root, type = *type]() mutable -> Status {
    return Check(MPI_Bcast(tensor.data_ptr(), static_cast<int>(tensor.numel()), type, root, AsComm(comm_)),
                 "MPI_Bcast");
  });
}

WorkPtr MpiCommunicator::AllGather(at::Tensor output, at::Tensor input, const std::string& tag) {
  if (Status st = CheckTensor(output, "all_gather output"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckTensor(input, "all_gather input"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckGatherSizes(output, input, world_size_, "all_gather"); !st.ok()) return FinishedWork(st);
  auto type = DatatypeOf(input);
  if (!type.ok()) return FinishedWork(type.status());
  return queue_->Enqueue("all_gather", tag, timeout(), [this, output, input, type = *type]() mutable -> Status {
    const int n = static_cast<int>(input.numel());
    return Check(MPI_Allgather(input.data_ptr(), n, type, output.data_ptr(), n, type, AsComm(comm_)),
                 "MPI_Allgather");
  });
}

WorkPtr MpiCommunicator::ReduceScatter(at::Tensor output, at::Tensor input, ReduceOp op, const std::string& tag) {
  if (Status st = CheckTensor(output, "reduce_scatter output"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckTensor(input, "reduce_scatter input"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckGatherSizes(input, output, world_size_, "reduce_scatter"); !st.ok()) return FinishedWork(st);
  auto type = DatatypeOf(input);
  if (!type.ok()) return FinishedWork(type.status());
  return queue_->Enqueue("reduce_scatter", tag, timeout(), [this, output, input, op, type = *type]() mutable -> Status {
    int rc = MPI_Reduce_scatter_block(input.data_ptr(), output.data_ptr(), static_cast<int>(output.numel()), type,
                                      MPI_SUM, AsComm(comm_));
    RETURN_IF_ERROR(Check(rc, "MPI_Reduce_scatter_block"));
    if (op == ReduceOp::kAverage) DivideBy(output, world_size_);
    return Status::Ok();
  });
}

WorkPtr MpiCommunicator::Barrier(const std::string& tag) {
  return queue_->Enqueue("barrier", tag, timeout(), [this]() -> Status {
    return Check(MPI_Barrier(AsComm(comm_)), "MPI_Barrier");
  });
}

void MpiCommunicator::Abort(const Status& why) {
  spdlog::critical("rank {} of {}: aborting the job: {}", rank_, world_size_, why.ToString());
  spdlog::default_logger()->flush();
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace chorus::comm
