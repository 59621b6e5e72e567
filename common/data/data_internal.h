// Helpers shared by the dataset readers and the synthesizer in common/data.
// Not part of the public API. Thread-safe (pure functions and value types).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/util/status.h"

namespace chorus::data::internal {

// Lower-case hex SHA-1 of `bytes` (40 characters).
std::string Sha1Hex(const std::string& bytes);

// The file name without its directories.
std::string BaseName(const std::string& path);

// The part of a file name before the first "_nohash_", or "" when it has none.
std::string SpeakerFromName(const std::string& filename);

// True when `name` ends with `suffix`, ignoring ASCII case.
bool EndsWithNoCase(const std::string& name, const std::string& suffix);

// Sorted names of the sub-directories of `dir` (hidden ones skipped).
Result<std::vector<std::string>> ListSubdirs(const std::string& dir);

// Sorted names of the regular files in `dir` whose name ends with one of
// `extensions` (case-insensitive, e.g. ".wav"); hidden files are skipped.
Result<std::vector<std::string>> ListFiles(const std::string& dir, const std::vector<std::string>& extensions);

bool IsDirectory(const std::string& path);
bool IsRegularFile(const std::string& path);

// `dir` + "/" + `name` (no doubled separator).
std::string JoinPath(const std::string& dir, const std::string& name);

// Checks a (validation, testing) percentage pair: each in [0, 100], sum <= 100.
Status ValidateSplitPercentages(double validation_percentage, double testing_percentage);

// Small deterministic generator (SplitMix64). Unlike the <random> distributions
// its output is the same on every platform and standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, n), n >= 1, without modulo bias.
  uint64_t Below(uint64_t n);
  // Uniform integer in [lo, hi].
  int64_t Int(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1)); }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Standard normal (Box-Muller).
  double Gaussian();

  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) {
      size_t j = static_cast<size_t>(Below(i));
      std::swap(v[i - 1], v[j]);
    }
  }

 private:
  uint64_t state_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Mixes values into one 64-bit seed (order matters).
uint64_t MixSeed(uint64_t a, uint64_t b);
uint64_t HashString(const std::string& s);  // FNV-1a, 64-bit

}  // namespace chorus::data::internal
