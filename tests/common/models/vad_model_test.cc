// vad_crnn streams: any chunking of a recording, with the state carried,
// gives the offline output (to float rounding: 1e-5), in eval mode as it is
// served; it is causal (later frames never change earlier outputs).
#include "common/models/vad_model.h"

#include "common/audio/features.h"
#include "common/models/frame_stream.h"

#include <memory>
#include <random>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace chorus::models {
namespace {

std::shared_ptr<StreamingModel> MakeModel() {
  config::ModelSpec spec;
  spec.name = "vad_crnn";
  spec.width = 16;
  spec.hidden = 12;
  torch::manual_seed(3);
  auto made = CreateModel(spec, {100, 40, 1});
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  auto model = std::dynamic_pointer_cast<StreamingModel>(*made);
  EXPECT_NE(model, nullptr);
  // Non-trivial batch-norm statistics, as after training.
  model->train();
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) model->forward(torch::randn({4, 50, 40}) * 2 + 1);
  model->eval();
  return model;
}

TEST(VadModel, AnyChunkingEqualsTheOfflineOutput) {
  auto model = MakeModel();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 237, 40});
  const torch::Tensor offline = model->forward(x);
  ASSERT_EQ(offline.sizes(), (std::vector<int64_t>{2, 237}));
  std::mt19937 rng(7);
  for (int trial = 0; trial < 6; ++trial) {
    torch::Tensor state = model->InitialState(2);
    ASSERT_EQ(state.size(1), model->state_size());
    std::vector<torch::Tensor> parts;
    int64_t t = 0;
    while (t < 237) {
      const int64_t n = std::min<int64_t>(237 - t, trial == 0 ? 1 : std::uniform_int_distribution<int64_t>(0, 40)(rng));
      parts.push_back(model->ForwardChunk(x.narrow(1, t, n), state));
      t += n;
    }
    const torch::Tensor streamed = torch::cat(parts, 1);
    EXPECT_TRUE(torch::allclose(streamed, offline, 1e-5, 1e-5))
        << "trial " << trial << ": max difference " << (streamed - offline).abs().max().item<float>();
  }
}

// With the front end: audio pushed in pieces of any size (down to one
// sample) gives the outputs of the whole recording's features.
TEST(VadModel, AudioStreamedInAnyPiecesEqualsTheWholeRecording) {
  auto model = MakeModel();
  auto fx = audio::FeatureExtractor::Create(audio::FeatureOptions());
  ASSERT_TRUE(fx.ok());
  torch::Tensor audio = torch::randn({16000 * 2 + 123}) * 0.1;
  const float* a = audio.data_ptr<float>();
  torch::NoGradGuard no_grad;
  const torch::Tensor offline = model->forward(fx->Compute(a, audio.numel()).value().unsqueeze(0))[0];
  std::mt19937 rng(11);
  for (int trial = 0; trial < 4; ++trial) {
    FrameStream stream(*fx, model);
    std::vector<float> got;
    int64_t at = 0;
    while (at < audio.numel()) {
      const int64_t n = std::min<int64_t>(audio.numel() - at, trial == 0 ? 512 : trial == 1 ? 1 :
                                          std::uniform_int_distribution<int64_t>(0, 3000)(rng));
      auto out = stream.Push(a + at, n);
      ASSERT_TRUE(out.ok());
      got.insert(got.end(), out->begin(), out->end());
      at += n;
      if (trial == 1 && at > 2000) {  // one sample at a time is slow: the rest at once
        auto rest = stream.Push(a + at, audio.numel() - at);
        got.insert(got.end(), rest->begin(), rest->end());
        at = audio.numel();
      }
    }
    ASSERT_EQ(static_cast<int64_t>(got.size()), offline.size(0));
    EXPECT_EQ(stream.frames(), offline.size(0));
    const torch::Tensor streamed = torch::tensor(got);
    EXPECT_TRUE(torch::allclose(streamed, offline, 1e-5, 1e-5)) << "trial " << trial;
  }
}

// Several streams pushed together (one batch per frame count) give what each
// gives alone, whatever their piece sizes and however far along each is.
TEST(VadModel, StreamsPushedTogetherEqualEachAlone) {
  auto model = MakeModel();
  auto fx = audio::FeatureExtractor::Create(audio::FeatureOptions());
  ASSERT_TRUE(fx.ok());
  constexpr int kStreams = 5;
  std::vector<torch::Tensor> audio;
  for (int i = 0; i < kStreams; ++i) audio.push_back(torch::randn({16000 + 997 * i}) * 0.1);
  std::vector<std::vector<float>> alone(kStreams), together(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    FrameStream stream(*fx, model);
    auto out = stream.Push(audio[i].data_ptr<float>(), audio[i].numel());
    ASSERT_TRUE(out.ok());
    alone[i] = *out;
  }
  std::vector<std::unique_ptr<FrameStream>> streams;
  for (int i = 0; i < kStreams; ++i) streams.push_back(std::make_unique<FrameStream>(*fx, model));
  std::vector<int64_t> at(kStreams, 0);
  std::mt19937 rng(5);
  while (true) {
    std::vector<FrameStream::Piece> pieces;
    std::vector<int> who;
    for (int i = 0; i < kStreams; ++i) {
      const int64_t left = audio[i].numel() - at[i];
      if (left == 0) continue;
      const int64_t n = std::min<int64_t>(left, std::uniform_int_distribution<int64_t>(0, 700)(rng));
      pieces.push_back({streams[i].get(), audio[i].data_ptr<float>() + at[i], n});
      who.push_back(i);
      at[i] += n;
    }
    if (pieces.empty()) break;
    auto out = FrameStream::PushMany(pieces);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    for (size_t k = 0; k < who.size(); ++k)
      together[who[k]].insert(together[who[k]].end(), (*out)[k].begin(), (*out)[k].end());
  }
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_EQ(together[i].size(), alone[i].size()) << "stream " << i;
    for (size_t k = 0; k < alone[i].size(); ++k) ASSERT_NEAR(together[i][k], alone[i][k], 1e-5) << "stream " << i;
  }
  // A stream of another model cannot join the batch.
  auto other = MakeModel();
  FrameStream foreign(*fx, other);
  float x[512] = {0};
  EXPECT_FALSE(FrameStream::PushMany({{streams[0].get(), x, 512}, {&foreign, x, 512}}).ok());
}

// In eval mode the batch norms are folded into the convolutions: the same
// numbers as running the layers one by one.
TEST(VadModel, FoldedEvalEqualsTheLayersOneByOne) {
  auto model = MakeModel();
  torch::NoGradGuard no_grad;
  auto children = model->named_children();
  auto bn = [&](const char* n) { return children[n]->as<torch::nn::BatchNorm1d>(); };
  auto conv = [&](const char* n) { return children[n]->as<torch::nn::Conv1d>(); };
  const torch::Tensor x = torch::randn({3, 57, 40});
  torch::Tensor in1 = torch::cat({torch::zeros({3, 40, 2}), x.transpose(1, 2)}, 2);
  torch::Tensor y = torch::relu(bn("bn1")->forward(conv("conv1")->forward(bn("input_norm")->forward(in1))));
  y = torch::relu(bn("bn2")->forward(conv("conv2")->forward(torch::cat({torch::zeros({3, 16, 2}), y}, 2))));
  auto gru = children["gru"]->as<torch::nn::GRU>();
  torch::Tensor seq = std::get<0>(gru->forward(y.transpose(1, 2), torch::zeros({1, 3, 12})));
  const torch::Tensor expected = children["head"]->as<torch::nn::Linear>()->forward(seq).squeeze(2);
  EXPECT_TRUE(torch::allclose(model->forward(x), expected, 1e-5, 1e-5));
  // After the weights change, the folded copy follows.
  for (auto& p : model->parameters()) p.add_(0.01);
  in1 = torch::cat({torch::zeros({3, 40, 2}), x.transpose(1, 2)}, 2);
  y = torch::relu(bn("bn1")->forward(conv("conv1")->forward(bn("input_norm")->forward(in1))));
  y = torch::relu(bn("bn2")->forward(conv("conv2")->forward(torch::cat({torch::zeros({3, 16, 2}), y}, 2))));
  seq = std::get<0>(gru->forward(y.transpose(1, 2), torch::zeros({1, 3, 12})));
  EXPECT_TRUE(torch::allclose(model->forward(x), children["head"]->as<torch::nn::Linear>()->forward(seq).squeeze(2),
                              1e-5, 1e-5));
}

TEST(VadModel, IsCausal) {
  auto model = MakeModel();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({1, 80, 40});
  const torch::Tensor before = model->forward(x);
  x.narrow(1, 50, 30).normal_();
  const torch::Tensor after = model->forward(x);
  EXPECT_TRUE(torch::allclose(before.narrow(1, 0, 50), after.narrow(1, 0, 50), 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(before.narrow(1, 50, 30), after.narrow(1, 50, 30), 1e-3, 1e-3));
}

TEST(VadModel, IsSmall) {
  config::ModelSpec spec;
  spec.name = "vad_crnn";  // the defaults the jobs use
  auto model = CreateModel(spec, {400, 40, 1});
  ASSERT_TRUE(model.ok());
  EXPECT_TRUE((*model)->per_frame());
  EXPECT_LT(CountParameters(**model), 500000);
}

}  // namespace
}  // namespace chorus::models
