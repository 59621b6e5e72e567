#include "common/comm/local_communicator.h"

#include "common/comm/collective_util.h"

#include <condition_variable>
#include <map>
#include <mutex>

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

namespace chorus::comm {
namespace internal {

struct Rendezvous {
  std::vector<at::Tensor> ins, outs;
  std::vector<bool> joined;
  int arrived = 0;
  int left = 0;
  bool done = false;
  Status status;  // of combine, for every rank
};

struct LocalGroupState {
  explicit LocalGroupState(int n) : world_size(n) {}
  int world_size;
  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, Rendezvous> pending;  // by collective sequence number
};

}  // namespace internal

std::vector<std::unique_ptr<LocalCommunicator>> LocalCommunicator::CreateGroup(int world_size) {
  auto group = std::make_shared<internal::LocalGroupState>(world_size);
  std::vector<std::unique_ptr<LocalCommunicator>> comms;
  for (int r = 0; r < world_size; ++r) comms.emplace_back(new LocalCommunicator(group, r, world_size));
  return comms;
}

LocalCommunicator::LocalCommunicator(std::shared_ptr<internal::LocalGroupState> group, int rank, int world_size)
    : group_(std::move(group)), rank_(rank), world_size_(world_size),
      queue_(std::make_unique<WorkQueue>("rank " + std::to_string(rank) + " of " + std::to_string(world_size) +
                                         " (local)")) {}

LocalCommunicator::~LocalCommunicator() = default;

WorkPtr LocalCommunicator::Collective(
    const char* kind, const std::string& tag, at::Tensor in, at::Tensor out,
    std::function<void(const std::vector<at::Tensor>&, const std::vector<at::Tensor>&)> combine) {
  const int64_t seq = next_seq_++;
  const auto limit = timeout();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  return queue_->Enqueue(kind, tag, limit, [this, kind, tag, limit, seq, in, out, combine, deadline]() -> Status {
    auto& g = *group_;
    std::unique_lock<std::mutex> lock(g.mu);
    auto& rv = g.pending[seq];
    if (rv.ins.empty()) {
      rv.ins.resize(world_size_);
      rv.outs.resize(world_size_);
      rv.joined.resize(world_size_, false);
    }
    rv.ins[rank_] = in;
    rv.outs[rank_] = out;
    rv.joined[rank_] = true;
    if (++rv.arrived == world_size_) {
      // A failure here is every rank's failure: the peers must not wait for
      // a result that never comes.
      try {
        combine(rv.ins, rv.outs);
      } catch (const std::exception& e) {
        rv.status = Internal(std::string(kind) + ": " + e.what());
      }
      rv.done = true;
      g.cv.notify_all();
    } else if (!g.cv.wait_until(lock, deadline, [&] { return rv.done; })) {
      // This status races the Work's own deadline (the same instant), so it
      // must say as much: who, what, and which peers are missing.
      std::string missing;
      for (int r = 0; r < world_size_; ++r) {
        if (!rv.joined[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      }
      return DeadlineExceeded("rank " + std::to_string(rank_) + " of " + std::to_string(world_size_) + " (local): " +
                              kind + " '" + tag + "' (timeout " + std::to_string(limit.count() / 1000.0).substr(0, 6) +
                              " s) did not finish in time: rank(s) " + missing + " never joined");
    }
    Status status = rv.status;
    if (++rv.left == world_size_) g.pending.erase(seq);
    return status;
  });
}

WorkPtr LocalCommunicator::AllReduce(at::Tensor tensor, ReduceOp op, const std::string& tag) {
  if (Status st = CheckTensorArgument(tensor, "all_reduce"); !st.ok()) return FinishedWork(st);
  const int n = world_size_;
  return Collective("all_reduce", tag, tensor, tensor, [op, n](const auto& ins, const auto& outs) {
    at::Tensor sum = ins[0].clone();
    for (int r = 1; r < n; ++r) sum.add_(ins[r]);
    if (op == ReduceOp::kAverage) DivideBy(sum, n);
    for (const auto& o : outs) o.copy_(sum);
  });
}

WorkPtr LocalCommunicator::Broadcast(at::Tensor tensor, int root, const std::string& tag) {
  if (Status st = CheckTensorArgument(tensor, "broadcast"); !st.ok()) return FinishedWork(st);
  if (root < 0 || root >= world_size_) return FinishedWork(InvalidArgument("broadcast root " + std::to_string(root) + " out of range"));
  return Collective("broadcast", tag, tensor, tensor, [root](const auto& ins, const auto& outs) {
    at::Tensor value = ins[root].clone();
    for (const auto& o : outs) o.copy_(value);
  });
}

WorkPtr LocalCommunicator::AllGather(at::Tensor output, at::Tensor input, const std::string& tag) {
  if (Status st = CheckTensorArgument(output, "all_gather output"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckTensorArgument(input, "all_gather input"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckGatherSizes(output, input, world_size_, "all_gather"); !st.ok()) return FinishedWork(st);
  return Collective("all_gather", tag, input, output, [](const auto& ins, const auto& outs) {
    std::vector<at::Tensor> flat;
    for (const auto& in : ins) flat.push_back(in.reshape(-1));
    at::Tensor all = at::cat(flat);
    for (const auto& o : outs) o.copy_(all.view(o.sizes()));
  });
}

WorkPtr LocalCommunicator::ReduceScatter(at::Tensor output, at::Tensor input, ReduceOp op, const std::string& tag) {
  if (Status st = CheckTensorArgument(output, "reduce_scatter output"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckTensorArgument(input, "reduce_scatter input"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckGatherSizes(input, output, world_size_, "reduce_scatter"); !st.ok()) return FinishedWork(st);
  const int n = world_size_;
  return Collective("reduce_scatter", tag, input, output, [op, n](const auto& ins, const auto& outs) {
    at::Tensor sum = ins[0].reshape(-1).clone();
    for (int r = 1; r < n; ++r) sum.add_(ins[r].reshape(-1));
    if (op == ReduceOp::kAverage) DivideBy(sum, n);
    const int64_t chunk = sum.numel() / n;
    for (int r = 0; r < n; ++r) outs[r].view(-1).copy_(sum.narrow(0, r * chunk, chunk));
  });
}

WorkPtr LocalCommunicator::Barrier(const std::string& tag) {
  return Collective("barrier", tag, at::Tensor(), at::Tensor(), [](const auto&, const auto&) {});
}

void LocalCommunicator::Abort(const Status& why) {
  spdlog::critical("rank {} of {} (local): aborting: {}", rank_, world_size_, why.ToString());
  std::_Exit(1);
}

}  // namespace chorus::comm
