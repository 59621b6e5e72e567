#include "common/comm/local_communicator.h"

#include <condition_variable>
#include <map>
#include <mutex>

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

namespace chorus::comm {
namespace internal {

struct Rendezvous {
  std::vector<at::Tensor> ins, outs;
  int arrived = 0;
  int left = 0;
  bool done = false;
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
  const auto deadline = std::chrono::steady_clock::now() + timeout();
  return queue_->Enqueue(kind, tag, timeout(), [this, seq, in, out, combine, deadline]() -> Status {
    auto& g = *group_;
    std::unique_lock<std::mutex> lock(g.mu);
    auto& rv = g.pending[seq];
    if (rv.ins.empty()) {
      rv.ins.resize(world_size_);
      rv.outs.resize(world_size_);
    }
    rv.ins[rank_] = in;
    rv.outs[rank_] = out;
    if (++rv.arrived == world_size_) {
      combine(rv.ins, rv.outs);
      rv.done = true;
      g.cv.notify_all();
    } else if (!g.cv.wait_until(lock, deadline, [&] { return rv.done; })) {
      return DeadlineExceeded("peers never joined the collective");
    }
    if (++rv.left == world_size_) g.pending.erase(seq);
    return Status::Ok();
  });
}

WorkPtr LocalCommunicator::AllReduce(at::Tensor tensor, ReduceOp op, const std::string& tag) {
  const int n = world_size_;
  return Collective("all_reduce", tag, tensor, tensor, [op, n](const auto& ins, const auto& outs) {
    at::Tensor sum = ins[0].clone();
    for (int r = 1; r < n; ++r) sum.add_(ins[r]);
    if (op == ReduceOp::kAverage) sum.div_(n);
    for (const auto& o : outs) o.copy_(sum);
  });
}

WorkPtr LocalCommunicator::Broadcast(at::Tensor tensor, int root, const std::string& tag) {
  return Collective("broadcast", tag, tensor, tensor, [root](const auto& ins, const auto& outs) {
    at::Tensor value = ins[root].clone();
    for (const auto& o : outs) o.copy_(value);
  });
}

WorkPtr LocalCommunicator::AllGather(at::Tensor output, at::Tensor input, const std::string& tag) {
  return Collective("all_gather", tag, input, output, [](const auto& ins, const auto& outs) {
    at::Tensor all = at::cat(ins);
    for (const auto& o : outs) o.copy_(all.view(o.sizes()));
  });
}

WorkPtr LocalCommunicator::ReduceScatter(at::Tensor output, at::Tensor input, ReduceOp op, const std::string& tag) {
  const int n = world_size_;
  return Collective("reduce_scatter", tag, input, output, [op, n](const auto& ins, const auto& outs) {
    at::Tensor sum = ins[0].reshape(-1).clone();
    for (int r = 1; r < n; ++r) sum.add_(ins[r].reshape(-1));
    if (op == ReduceOp::kAverage) sum.div_(n);
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
