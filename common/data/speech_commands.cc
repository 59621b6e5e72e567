#include "common/data/speech_commands.h"

#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/data/data_internal.h"
#include "common/util/fs.h"

namespace chorus::data {

namespace {

using internal::JoinPath;

constexpr const char* kBackgroundNoiseDir = "_background_noise_";
// TensorFlow's MAX_NUM_WAVS_PER_CLASS: 2^27 - 1.
constexpr uint64_t kMaxNumWavsPerClass = (uint64_t{1} << 27) - 1;

enum SplitIndex { kTrain = 0, kValidation = 1, kTest = 2 };

int SplitFromName(const std::string& which) {
  if (which == "validation") return kValidation;
  if (which == "testing") return kTest;
  return kTrain;
}

// The lines of a list file, trimmed, with "\" turned into "/" and a leading
// "./" dropped; empty lines skipped.
Result<std::unordered_set<std::string>> ReadList(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::unordered_set<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    size_t e = line.find_last_not_of(" \t\r");
    line = line.substr(b, e - b + 1);
    for (char& c : line) {
      if (c == '\\') c = '/';
    }
    if (line.rfind("./", 0) == 0) line = line.substr(2);
    out.insert(line);
  }
  return out;
}

}  // namespace

std::string WhichSet(const std::string& filename, double validation_percentage, double testing_percentage) {
  std::string base = internal::BaseName(filename);
  // re.sub(r'_nohash_.*$', '', base): the leftmost "_nohash_" and all after it.
  size_t pos = base.find("_nohash_");
  std::string hash_name = pos == std::string::npos ? base : base.substr(0, pos);
  std::string hex = internal::Sha1Hex(hash_name);
  // int(hex, 16) % (MAX_NUM_WAVS_PER_CLASS + 1), digit by digit (Horner's rule).
  const uint64_t modulus = kMaxNumWavsPerClass + 1;
  uint64_t rem = 0;
  for (char c : hex) {
    uint64_t d = (c >= '0' && c <= '9') ? static_cast<uint64_t>(c - '0') : static_cast<uint64_t>(c - 'a' + 10);
    rem = (rem * 16 + d) % modulus;
  }
  double percentage = static_cast<double>(rem) * (100.0 / static_cast<double>(kMaxNumWavsPerClass));
  if (percentage < validation_percentage) return "validation";
  if (percentage < validation_percentage + testing_percentage) return "testing";
  return "training";
}

Result<DatasetSplit> LoadSpeechCommands(const SpeechCommandsOptions& options) {
  const std::string& root = options.root;
  if (root.empty()) return InvalidArgument("speech commands: root is empty");
  RETURN_IF_ERROR(internal::ValidateSplitPercentages(options.validation_percentage, options.testing_percentage)
                      .WithContext("speech commands " + root));
  auto non_negative = [](double p) { return std::isfinite(p) && p >= 0.0; };
  if (!non_negative(options.silence_percentage)) {
    return InvalidArgument("speech commands " + root + ": silence_percentage must be >= 0, got " +
                           std::to_string(options.silence_percentage));
  }
  if (!non_negative(options.unknown_percentage)) {
    return InvalidArgument("speech commands " + root + ": unknown_percentage must be >= 0, got " +
                           std::to_string(options.unknown_percentage));
  }
  if (!internal::IsDirectory(root)) return NotFound(root + ": speech commands root directory not found");

  ASSIGN_OR_RETURN(std::vector<std::string> subdirs, internal::ListSubdirs(root));
  std::vector<std::string> folders;
  for (const auto& d : subdirs) {
    if (d != kBackgroundNoiseDir) folders.push_back(d);
  }
  if (folders.empty()) return NotFound(root + ": no word folders (expected ROOT/<word>/*.wav)");

  // The wanted words; empty means every folder is a word.
  std::vector<std::string> words = options.words.empty() ? folders : options.words;
  std::unordered_map<std::string, int> word_label;
  std::set<std::string> folder_set(folders.begin(), folders.end());
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.empty() || w == kSilenceLabel || w == kUnknownLabel || w == kBackgroundNoiseDir) {
      return InvalidArgument("speech commands " + root + ": invalid word '" + w + "'");
    }
    if (word_label.count(w)) return InvalidArgument("speech commands " + root + ": word '" + w + "' listed twice");
    if (!folder_set.count(w)) {
      return NotFound(JoinPath(root, w) + ": no folder for wanted word '" + w + "'");
    }
    word_label[w] = static_cast<int>(i) + 2;
  }

  DatasetSplit split;
  split.labels.push_back(kSilenceLabel);
  split.labels.push_back(kUnknownLabel);
  for (const auto& w : words) split.labels.push_back(w);

  // The shipped lists, when both exist.
  const std::string val_list_path = JoinPath(root, "validation_list.txt");
  const std::string test_list_path = JoinPath(root, "testing_list.txt");
  const bool use_lists = internal::IsRegularFile(val_list_path) && internal::IsRegularFile(test_list_path);
  std::unordered_set<std::string> val_list, test_list;
  if (use_lists) {
    ASSIGN_OR_RETURN(val_list, ReadList(val_list_path));
    ASSIGN_OR_RETURN(test_list, ReadList(test_list_path));
  }

  std::vector<Example> words_by_split[3];
  std::vector<Example> unknown_by_split[3];
  for (const auto& folder : folders) {
    const std::string dir = JoinPath(root, folder);
    ASSIGN_OR_RETURN(std::vector<std::string> files, internal::ListFiles(dir, {".wav"}));
    auto it = word_label.find(folder);
    const bool is_word = it != word_label.end();
    if (is_word && files.empty()) return NotFound(dir + ": no .wav files for wanted word '" + folder + "'");
    for (const auto& file : files) {
      int which;
      if (use_lists) {
        const std::string rel = folder + "/" + file;
        which = val_list.count(rel) ? kValidation : (test_list.count(rel) ? kTest : kTrain);
      } else {
        which = SplitFromName(WhichSet(file, options.validation_percentage, options.testing_percentage));
      }
      Example ex;
      ex.path = JoinPath(dir, file);
      ex.label = is_word ? it->second : 1;
      ex.speaker = internal::SpeakerFromName(file);
      (is_word ? words_by_split : unknown_by_split)[which].push_back(std::move(ex));
    }
  }

  std::vector<Example>* outputs[3] = {&split.train, &split.validation, &split.test};
  for (int s = 0; s < 3; ++s) {
    std::vector<Example>& out = *outputs[s];
    const size_t set_size = words_by_split[s].size();
    out = std::move(words_by_split[s]);
    // As TensorFlow: ceil(set_size * percentage / 100) of each, from the word count.
    const size_t silence_size =
        static_cast<size_t>(std::ceil(static_cast<double>(set_size) * options.silence_percentage / 100.0));
    const size_t unknown_size =
        static_cast<size_t>(std::ceil(static_cast<double>(set_size) * options.unknown_percentage / 100.0));
    std::vector<Example>& unknown = unknown_by_split[s];
    internal::Rng rng(internal::MixSeed(options.seed, static_cast<uint64_t>(s) + 1));
    rng.Shuffle(unknown);
    for (size_t i = 0; i < unknown_size && i < unknown.size(); ++i) out.push_back(std::move(unknown[i]));
    for (size_t i = 0; i < silence_size; ++i) out.push_back(Example{std::string(), 0, std::string(), {}});
  }

  const std::string noise_dir = JoinPath(root, kBackgroundNoiseDir);
  if (internal::IsDirectory(noise_dir)) {
    ASSIGN_OR_RETURN(std::vector<std::string> noise, internal::ListFiles(noise_dir, {".wav"}));
    for (const auto& f : noise) split.noise_files.push_back(JoinPath(noise_dir, f));
  }
  return split;
}

}  // namespace chorus::data
