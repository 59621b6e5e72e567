// Voice activity end to end in one process: a small vad-synth set, a detect
// job trained, evaluated and exported, then served: recordings of different
// lengths batched together, each answered from its own frames; bad inputs
// refused with a reason; a model and a task that do not fit refused with
// both named; a streaming session chunk by chunk across two copies.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/audio/wav_io.h"
#include "common/data/vad_synth.h"
#include "common/models/model_bundle.h"
#include "common/tasks/outputs.h"
#include "common/tasks/vad_postprocess.h"
#include "common/util/fs.h"
#include "tests/common/audio/audio_test_util.h"
#include "tests/worker/train_test_util.h"
#include "worker/serve/served_model.h"
#include "worker/train/trainer.h"

namespace chorus::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class VadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = TestRoot("chorus_vad_test");
    fs::remove_all(root_);
    data::VadSynthOptions o;
    o.out = (root_ / "data").string();
    o.recordings = 40;
    o.min_seconds = 2;
    o.max_seconds = 4;
    o.voices = 6;
    o.words = {"yes", "no", "seven", "house"};
    o.snr_min_db = 0;
    o.snr_max_db = 30;
    ASSERT_TRUE(data::MakeVadDataset(o).ok());
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static config::TrainJobSpec Spec(const std::string& run) {
    config::TrainJobSpec spec;
    spec.name = "vad";
    spec.task = "detect";
    spec.dataset.kind = "segments";
    spec.dataset.root = (root_ / "data").string();
    spec.dataset.validation_percentage = 20;
    spec.dataset.testing_percentage = 20;
    spec.dataset.crop_seconds = 2;
    spec.augment_enabled = false;
    spec.model.name = "vad_crnn";
    spec.model.width = 16;
    spec.model.hidden = 16;
    spec.model.dropout = 0;
    spec.optimizer.lr = 0.01;
    spec.training.batch_size = 8;
    spec.training.max_steps = 60;
    spec.training.eval_every_steps = 30;
    spec.training.threads = 1;
    spec.training.loader_threads = 2;
    spec.output.dir = (root_ / run).string();
    spec.output.model_repository = (root_ / "models").string();
    return spec;
  }

  static proto::InferRequest Pcm(const std::vector<float>& samples, int rate = 16000) {
    proto::InferRequest r;
    r.mutable_pcm()->set_sample_rate(rate);
    r.mutable_pcm()->mutable_samples()->Add(samples.begin(), samples.end());
    return r;
  }

  // An untrained vad_crnn (width 8) exported under root_/FOLDER; its version folder.
  static Result<std::string> ExportSmallModel(const std::string& folder) {
    models::ModelMetadata meta;
    meta.name = "vad";
    meta.task = "detect";
    meta.model.name = "vad_crnn";
    meta.model.width = 8;
    meta.model.hidden = 8;
    meta.shape = {200, 40, 1};
    meta.labels = {"speech"};
    ASSIGN_OR_RETURN(models::ModelPtr model, models::CreateModel(meta.model, meta.shape));
    return models::ExportModel(*model, meta, (root_ / folder).string());
  }

  static fs::path root_;
};
fs::path VadTest::root_;

TEST_F(VadTest, TrainsEvaluatesExportsAndServesRecordingsOfAnyLength) {
  TrainerOptions o;
  o.spec = Spec("train");
  auto trainer = Trainer::Create(o);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  auto result = (*trainer)->Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_TRUE(result->validation.has_value());
  ASSERT_TRUE(result->test.has_value());
  EXPECT_EQ(result->test->score_name, "roc_auc");
  // Speech is louder than the noise in most of these recordings: even a
  // briefly trained detector ranks its frames well above chance.
  EXPECT_GT(result->validation->score, 0.75);
  for (const char* key : {"f1", "miss_rate", "false_alarm_rate", "onset_error_s", "offset_error_s", "threshold"})
    EXPECT_TRUE(result->test->details.contains(key)) << key;
  auto eval = ReadFile((fs::path(o.spec.output.dir) / "eval.json").string());
  ASSERT_TRUE(eval.ok());
  EXPECT_THAT(*eval, HasSubstr("\"task\": \"detect\""));
  EXPECT_THAT(*eval, HasSubstr("\"roc_auc\""));

  // The export records the task and the threshold tuned on validation data.
  auto meta = models::LoadModel(result->export_dir);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->metadata.task, "detect");
  const double tuned = meta->metadata.task_options.at("threshold").get<double>();
  EXPECT_DOUBLE_EQ(tuned, result->validation->details.at("best_f1_threshold").get<double>());

  auto served = serve::ServedModel::Load(result->export_dir);
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  const proto::ServedModelInfo& info = (*served)->info();
  EXPECT_EQ(info.task(), "detect");
  ASSERT_EQ(info.outputs_size(), 2);
  EXPECT_EQ(info.outputs(0).name(), "speech_probability");
  EXPECT_EQ(info.outputs(1).name(), "segments");

  // Three recordings of different lengths, one at 8 kHz, one as a WAV file: one batch.
  auto wave = audio::ReadAudio((root_ / "data/recordings/rec_00003.wav").string());
  ASSERT_TRUE(wave.ok());
  std::vector<float> a(wave->samples.begin(), wave->samples.begin() + 16000);
  std::vector<float> b8k;
  for (size_t i = 0; i < 18000; i += 2) b8k.push_back(wave->samples[i]);
  std::vector<proto::InferRequest> requests = {Pcm(a), Pcm(b8k, 8000), proto::InferRequest()};
  requests[2].set_wav(ReadFile((root_ / "data/recordings/rec_00003.wav").string()).value());
  std::vector<at::Tensor> inputs;
  std::vector<const proto::InferRequest*> request_ptrs;
  for (const auto& r : requests) {
    auto prepared = (*served)->Prepare(r);
    ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
    inputs.push_back(*prepared);
    request_ptrs.push_back(&r);
  }
  std::vector<proto::InferReply> batch(3);
  std::vector<proto::InferReply*> out = {&batch[0], &batch[1], &batch[2]};
  ASSERT_TRUE((*served)->Predict(inputs, request_ptrs, out).ok());
  // 25 ms windows every 10 ms: (n - 400) / 160 + 1 frames of n samples at 16 kHz (the 8 kHz one is resampled).
  const int64_t expected_frames[] = {98, (18000 - 400) / 160 + 1,
                                     (static_cast<int64_t>(wave->samples.size()) - 400) / 160 + 1};
  for (int i = 0; i < 3; ++i) {
    const proto::NamedTensor* p = tasks::FindOutput(batch[i], "speech_probability");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->fp32_size(), expected_frames[i]) << "request " << i;
    // Alone, each answers the same as in the batch: padding never leaks in.
    proto::InferReply alone;
    std::vector<proto::InferReply*> one = {&alone};
    ASSERT_TRUE((*served)->Predict({inputs[i]}, {request_ptrs[i]}, one).ok());
    const proto::NamedTensor* q = tasks::FindOutput(alone, "speech_probability");
    ASSERT_EQ(q->fp32_size(), p->fp32_size());
    for (int k = 0; k < p->fp32_size(); ++k) ASSERT_NEAR(q->fp32(k), p->fp32(k), 1e-5) << "request " << i;
    EXPECT_EQ(tasks::FindOutput(alone, "segments")->fp32_size(), tasks::FindOutput(batch[i], "segments")->fp32_size());
  }
}

TEST_F(VadTest, BadAudioIsRefusedWithAReason) {
  auto dir = ExportSmallModel("bad-models");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  auto served = serve::ServedModel::Load(*dir);
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  auto prepare = [&](const proto::InferRequest& r) { return (*served)->Prepare(r).status(); };
  EXPECT_THAT(prepare(Pcm({})).message(), HasSubstr("no samples"));
  EXPECT_THAT(prepare(Pcm(std::vector<float>(100, 0.1f))).message(), HasSubstr("shorter than one frame"));
  EXPECT_THAT(prepare(Pcm(std::vector<float>(1000, NAN))).message(), HasSubstr("NaN"));
  EXPECT_THAT(prepare(Pcm(std::vector<float>(1000, 0.1f), 3)).message(), HasSubstr("not a usable rate"));
  proto::InferRequest junk;
  junk.set_wav("RIFF1234WAVEnot really");
  EXPECT_EQ(prepare(junk).code(), StatusCode::kInvalidArgument);
  proto::InferRequest empty;
  EXPECT_THAT(prepare(empty).message(), HasSubstr("no input"));
  // Half an hour and a second is more than a request may carry.
  EXPECT_THAT(prepare(Pcm(std::vector<float>(1801 * 8000, 0.0f), 8000)).message(), HasSubstr("at most 1800 s"));
  // So is a WAV whose header says so (refused before it is decoded).
  proto::InferRequest long_wav;
  long_wav.set_wav(audio::testing::WavBytes(1000, 1, 8, 1'801'000, std::string(1'801'000, '\x80')));
  EXPECT_THAT(prepare(long_wav).message(), HasSubstr("1801 s of audio; at most 1800 s"));
  // Any number of feature frames is fine for a detector, but not any number of bins.
  proto::InferRequest features;
  features.mutable_features()->add_shape(7);
  features.mutable_features()->add_shape(39);
  features.mutable_features()->mutable_data()->Resize(7 * 39, 0.0f);
  EXPECT_THAT(prepare(features).message(), HasSubstr("features must have shape [frames, 40]"));
  // A crop (a pipeline's segment) keeps its span of the audio, and must lie on it.
  proto::InferRequest cropped = Pcm(std::vector<float>(16000, 0.1f));
  cropped.mutable_crop()->set_start_s(0.25);
  cropped.mutable_crop()->set_end_s(0.5);
  auto part = (*served)->Prepare(cropped);
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(part->size(0), (4000 - 400) / 160 + 1);
  cropped.mutable_crop()->set_start_s(2);
  cropped.mutable_crop()->set_end_s(3);
  EXPECT_THAT(prepare(cropped).message(), HasSubstr("past the audio's end"));
  cropped.mutable_crop()->set_end_s(1);
  EXPECT_THAT(prepare(cropped).message(), HasSubstr("0 <= start_s < end_s"));
  features.mutable_crop()->set_end_s(1);
  EXPECT_THAT(prepare(features).message(), HasSubstr("crop applies to audio"));
}

TEST_F(VadTest, AModelThatDoesNotFitTheTaskIsRefusedNamingBoth) {
  TrainerOptions o;
  o.spec = Spec("mismatch");
  o.spec.model.name = "tc_resnet";
  auto detect_clip_model = Trainer::Create(o);
  ASSERT_FALSE(detect_clip_model.ok());
  EXPECT_THAT(detect_clip_model.status().message(), HasSubstr("model tc_resnet gives one output per clip"));
  EXPECT_THAT(detect_clip_model.status().message(), HasSubstr("task detect needs one output per frame"));

  // The same mismatch written into model.json is refused when served.
  models::ModelMetadata meta;
  meta.name = "confused";
  meta.task = "classify";
  meta.model.name = "vad_crnn";
  meta.model.width = 8;
  meta.model.hidden = 8;
  meta.shape = {100, 40, 2};
  meta.labels = {"a", "b"};
  auto model = models::CreateModel(meta.model, meta.shape);
  ASSERT_TRUE(model.ok());
  auto dir = models::ExportModel(**model, meta, (root_ / "confused").string());
  ASSERT_TRUE(dir.ok());
  auto served = serve::ServedModel::Load(*dir);
  ASSERT_FALSE(served.ok());
  EXPECT_THAT(served.status().message(), HasSubstr("model vad_crnn gives one output per frame"));
  EXPECT_THAT(served.status().message(), HasSubstr("task classify needs one output per clip"));
}

// A streaming session served chunk by chunk, its chunks alternating between
// two loaded copies of the model (two workers) with only the state carried
// between them: the same probabilities as the whole recording at once, and
// the events the incremental detector finds in them.
TEST_F(VadTest, AStreamChunkByChunkAcrossTwoWorkersGivesWhatTheWholeRecordingGives) {
  torch::manual_seed(7);
  auto dir = ExportSmallModel("stream-models");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  auto first = serve::ServedModel::Load(*dir), second = serve::ServedModel::Load(*dir);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE((*first)->info().streams());
  auto wave = audio::ReadAudio((root_ / "data/recordings/rec_00005.wav").string());
  ASSERT_TRUE(wave.ok());

  // The whole recording at once.
  proto::InferRequest whole = Pcm(wave->samples);
  auto input = (*first)->Prepare(whole);
  ASSERT_TRUE(input.ok());
  proto::InferReply all;
  std::vector<proto::InferReply*> out = {&all};
  ASSERT_TRUE((*first)->Predict({*input}, {&whole}, out).ok());
  const proto::NamedTensor* p = tasks::FindOutput(all, "speech_probability");
  std::vector<float> probabilities(p->fp32().begin(), p->fp32().end());
  // Thresholds inside this untrained model's range, so the stream has events.
  std::vector<float> sorted = probabilities;
  std::sort(sorted.begin(), sorted.end());
  tasks::VadOptions vad;
  vad.threshold = sorted[sorted.size() * 6 / 10];
  vad.release_threshold = sorted[sorted.size() * 4 / 10];
  vad.min_silence_ms = 30;
  std::vector<float> expected_events;
  tasks::VadEventDetector detector(vad);
  auto add = [&](const std::optional<tasks::VadEvent>& e) {
    if (e) expected_events.insert(expected_events.end(), {static_cast<float>(e->seconds), e->start ? 1.0f : 0.0f});
  };
  for (float v : probabilities) add(detector.Push(v));
  add(detector.Finish());
  ASSERT_GE(expected_events.size(), 4u);

  // 32 ms chunks (512 samples), alternating between the two copies.
  std::string state;
  std::vector<float> streamed, events;
  const size_t chunk = 512, n = wave->samples.size();
  for (size_t from = 0, i = 0; from < n; from += chunk, ++i) {
    proto::InferRequest r = Pcm(std::vector<float>(wave->samples.begin() + from,
                                                   wave->samples.begin() + std::min(n, from + chunk)));
    r.mutable_sequence()->set_id("s");
    r.mutable_sequence()->set_end(from + chunk >= n);
    r.set_stream_state(state);
    (*r.mutable_parameters())["threshold"] = vad.threshold;
    (*r.mutable_parameters())["release_threshold"] = vad.release_threshold;
    (*r.mutable_parameters())["min_silence_ms"] = vad.min_silence_ms;
    proto::InferReply reply;
    serve::ServedModel& worker = i % 2 ? **second : **first;
    ASSERT_TRUE(worker.StreamChunk(r, &reply).ok()) << "chunk " << i;
    state = reply.stream_state();
    const proto::NamedTensor* q = tasks::FindOutput(reply, "speech_probability");
    const proto::NamedTensor* e = tasks::FindOutput(reply, "events");
    ASSERT_TRUE(q && e);
    streamed.insert(streamed.end(), q->fp32().begin(), q->fp32().end());
    events.insert(events.end(), e->fp32().begin(), e->fp32().end());
  }
  ASSERT_EQ(streamed.size(), probabilities.size());
  for (size_t k = 0; k < streamed.size(); ++k) ASSERT_NEAR(streamed[k], probabilities[k], 1e-5) << "frame " << k;
  ASSERT_EQ(events.size(), expected_events.size());
  for (size_t k = 0; k < events.size(); ++k) EXPECT_NEAR(events[k], expected_events[k], 1e-6) << "event value " << k;

  // A chunk at another rate, a state from another model and a non-PCM chunk are refused by name.
  proto::InferRequest bad = Pcm(std::vector<float>(512, 0.1f), 8000);
  bad.mutable_sequence()->set_id("s");
  proto::InferReply reply;
  EXPECT_THAT((*first)->StreamChunk(bad, &reply).message(), HasSubstr("must be at the model's rate, 16000 Hz"));
  proto::StreamState foreign;
  foreign.mutable_model_state()->Resize(3, 0.0f);
  bad = Pcm(std::vector<float>(512, 0.1f));
  bad.mutable_sequence()->set_id("s");
  bad.set_stream_state(foreign.SerializeAsString());
  EXPECT_EQ((*first)->StreamChunk(bad, &reply).code(), StatusCode::kFailedPrecondition);
  bad.clear_pcm();
  bad.set_wav("RIFF");
  EXPECT_THAT((*first)->StreamChunk(bad, &reply).message(), HasSubstr("must be PCM audio"));
}

}  // namespace
}  // namespace chorus::train
