#include "worker/train/flat_optimizer.h"

#include <sstream>
#include <type_traits>

#include <torch/torch.h>

namespace chorus::train {
namespace {

// LibTorch keys an optimizer's per-parameter state by the parameter's
// TensorImpl: as a string of its address up to 1.x, as the pointer itself
// since 2.0.
using StateKey = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

template <typename Key>
Key KeyFor(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream address;
    address << impl;
    return address.str();
  } else {
    return static_cast<Key>(impl);
  }
}

StateKey KeyOf(const torch::Tensor& param) { return KeyFor<StateKey>(param.unsafeGetTensorImpl()); }

}  // namespace

FlatOptimizer::~FlatOptimizer() = default;

Result<std::unique_ptr<FlatOptimizer>> FlatOptimizer::Create(std::vector<torch::Tensor> params,
                                                             const config::OptimizerSpec& spec,
                                                             comm::Communicator* comm, bool shard) {
  if (shard && !comm) return InvalidArgument("a sharded optimizer needs a communicator");
  std::unique_ptr<FlatOptimizer> o(new FlatOptimizer());
  o->params_ = std::move(params);
  o->spec_ = spec;
  o->comm_ = comm;
  o->shard_ = shard;
  if (o->params_.empty()) return InvalidArgument("FlatOptimizer needs at least one parameter");
  o->options_ = torch::TensorOptions().dtype(torch::kFloat32).device(o->params_.front().device());
  for (const auto& p : o->params_) {
    if (p.scalar_type() != torch::kFloat32) return InvalidArgument("FlatOptimizer supports float32 parameters only");
    if (p.device() != o->params_.front().device()) {
      return InvalidArgument("FlatOptimizer needs every parameter on one device; found " + p.device().str() +
                             " and " + o->params_.front().device().str());
    }
    o->total_ += p.numel();
  }
  const int world = shard ? comm->world_size() : 1;
  const int rank = shard ? comm->rank() : 0;
  o->chunk_ = (o->total_ + world - 1) / world;
  o->padded_ = o->chunk_ * world;
  o->offset_ = o->chunk_ * rank;

  torch::NoGradGuard no_grad;
  torch::Tensor flat = torch::zeros({o->padded_}, o->options_);
  int64_t at = 0;
  for (const auto& p : o->params_) {
    flat.narrow(0, at, p.numel()).copy_(p.detach().reshape(-1));
    at += p.numel();
  }
  o->local_ = flat.narrow(0, o->offset_, o->chunk_).clone().set_requires_grad(true);
  if (spec.kind == "sgd") {
    o->optimizer_ = std::make_unique<torch::optim::SGD>(
        std::vector<torch::Tensor>{o->local_},
        torch::optim::SGDOptions(spec.lr).momentum(spec.momentum).nesterov(spec.nesterov).weight_decay(spec.weight_decay));
  } else {
    o->optimizer_ = std::make_unique<torch::optim::Adam>(
        std::vector<torch::Tensor>{o->local_}, torch::optim::AdamOptions(spec.lr).weight_decay(spec.weight_decay));
  }
  return o;
}

void FlatOptimizer::FlattenGrads(torch::Tensor out) const {
  int64_t at = 0;
  for (const auto& p : params_) {
    torch::Tensor dst = out.narrow(0, at, p.numel());
    if (p.grad().defined()) dst.copy_(p.grad().reshape(-1));
    else dst.zero_();
    at += p.numel();
  }
  if (at < out.numel()) out.narrow(0, at, out.numel() - at).zero_();
}

void FlatOptimizer::ScatterToParams(const torch::Tensor& flat) const {
  int64_t at = 0;
  for (const auto& p : params_) {
    p.detach().copy_(flat.narrow(0, at, p.numel()).view(p.sizes()));  // any memory format
    at += p.numel();
  }
}

Status FlatOptimizer::Step(double lr, const std::string& tag) {
  torch::NoGradGuard no_grad;
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
  torch::Tensor grad = torch::empty({chunk_}, options_);
  if (shard_) {
    torch::Tensor full = torch::empty({padded_}, options_);
    FlattenGrads(full);
    RETURN_IF_ERROR(comm_->ReduceScatter(grad, full, comm::ReduceOp::kAverage, tag + " reduce_scatter")->Wait());
  } else {
    FlattenGrads(grad);
  }
  local_.mutable_grad() = grad;
  optimizer_->step();
  if (shard_) {
    torch::Tensor full = torch::empty({padded_}, options_);
    RETURN_IF_ERROR(comm_->AllGather(full, local_.detach(), tag + " all_gather")->Wait());
    ScatterToParams(full);
  } else {
    ScatterToParams(local_.detach());
  }
  return Status::Ok();
}

std::vector<std::string> FlatOptimizer::StateNames() const {
  if (spec_.kind == "sgd") return spec_.momentum > 0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{};
  return {"exp_avg", "exp_avg_sq"};
}

int64_t FlatOptimizer::StateBytesPerRank() const {
  return static_cast<int64_t>(StateNames().size()) * chunk_ * static_cast<int64_t>(sizeof(float));
}

torch::Tensor& FlatOptimizer::StateTensor(const std::string& name) {
  const StateKey key = KeyOf(local_);
  auto& state = optimizer_->state();
  if (spec_.kind == "sgd") {
    if (!state.count(key)) {
      auto s = std::make_unique<torch::optim::SGDParamState>();
      s->momentum_buffer(torch::zeros({chunk_}, options_));
      state[key] = std::move(s);
    }
    auto& s = static_cast<torch::optim::SGDParamState&>(*state[key]);
    return const_cast<torch::Tensor&>(s.momentum_buffer());
  }
  if (!state.count(key)) {
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->exp_avg(torch::zeros({chunk_}, options_));
    s->exp_avg_sq(torch::zeros({chunk_}, options_));
    state[key] = std::move(s);
  }
  auto& s = static_cast<torch::optim::AdamParamState&>(*state[key]);
  return const_cast<torch::Tensor&>(name == "exp_avg" ? s.exp_avg() : s.exp_avg_sq());
}

Result<FlatState> FlatOptimizer::GatherState(const std::string& tag) {
  FlatState out;
  const StateKey key = KeyOf(local_);
  auto& state = optimizer_->state();
  if (spec_.kind != "sgd" && state.count(key)) {
    out.step = static_cast<torch::optim::AdamParamState&>(*state[key]).step();
  }
  const bool has_state = state.count(key) > 0;
  for (const auto& name : StateNames()) {
    torch::Tensor local = has_state ? StateTensor(name).detach().contiguous() : torch::zeros({chunk_}, options_);
    torch::Tensor full = torch::empty({padded_}, options_);
    if (shard_) {
      RETURN_IF_ERROR(comm_->AllGather(full, local, tag + " gather " + name)->Wait());
    } else {
      full.copy_(local);
    }
    out.tensors[name] = full.narrow(0, 0, total_).clone();
  }
  if (!has_state) out.tensors.clear();  // nothing stepped yet
  return out;
}

Status FlatOptimizer::LoadState(const FlatState& in) {
  if (in.tensors.empty()) return Status::Ok();  // state of an optimizer that never stepped
  torch::NoGradGuard no_grad;
  for (const auto& name : StateNames()) {
    auto it = in.tensors.find(name);
    if (it == in.tensors.end()) {
      return Corruption("optimizer state has no '" + name + "' (was the checkpoint written with another optimizer?)");
    }
    if (it->second.numel() != total_) {
      return Corruption("optimizer state '" + name + "' has " + std::to_string(it->second.numel()) +
                        " elements, the model has " + std::to_string(total_));
    }
    torch::Tensor padded = torch::zeros({padded_}, options_);
    padded.narrow(0, 0, total_).copy_(it->second.reshape(-1));
    StateTensor(name).copy_(padded.narrow(0, offset_, chunk_));
  }
  if (spec_.kind != "sgd") {
    const StateKey key = KeyOf(local_);
    static_cast<torch::optim::AdamParamState&>(*optimizer_->state()[key]).step(in.step);
  }
  return Status::Ok();
}

}  // namespace chorus::train
