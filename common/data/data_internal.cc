#include "common/data/data_internal.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <system_error>

namespace chorus::data::internal {

namespace fs = std::filesystem;

std::string Sha1Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest with SHA-1 cannot fail for in-memory input short of an
  // allocation failure; an empty result then makes every caller's lookup miss.
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha1(), nullptr) != 1) return std::string();
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string SpeakerFromName(const std::string& filename) {
  std::string base = BaseName(filename);
  size_t pos = base.find("_nohash_");
  return pos == std::string::npos ? std::string() : base.substr(0, pos);
}

bool EndsWithNoCase(const std::string& name, const std::string& suffix) {
  if (name.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    unsigned char a = static_cast<unsigned char>(name[name.size() - suffix.size() + i]);
    unsigned char b = static_cast<unsigned char>(suffix[i]);
    if (std::tolower(a) != std::tolower(b)) return false;
  }
  return true;
}

bool IsDirectory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

bool IsRegularFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

namespace {

Result<std::vector<std::string>> ListEntries(const std::string& dir, bool want_dirs,
                                             const std::vector<std::string>& extensions) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return IoError(dir + ": cannot list directory: " + ec.message());
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return IoError(dir + ": cannot list directory: " + ec.message());
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code type_ec;
    if (want_dirs) {
      if (!it->is_directory(type_ec)) continue;
    } else {
      if (!it->is_regular_file(type_ec)) continue;
      bool match = false;
      for (const auto& ext : extensions) match = match || EndsWithNoCase(name, ext);
      if (!match) continue;
    }
    names.push_back(std::move(name));
  }
  if (ec) return IoError(dir + ": cannot list directory: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Result<std::vector<std::string>> ListSubdirs(const std::string& dir) { return ListEntries(dir, true, {}); }

Result<std::vector<std::string>> ListFiles(const std::string& dir, const std::vector<std::string>& extensions) {
  return ListEntries(dir, false, extensions);
}

Status ValidateSplitPercentages(double validation_percentage, double testing_percentage) {
  auto in_range = [](double p) { return std::isfinite(p) && p >= 0.0 && p <= 100.0; };
  if (!in_range(validation_percentage)) {
    return InvalidArgument("validation_percentage must be in [0, 100], got " + std::to_string(validation_percentage));
  }
  if (!in_range(testing_percentage)) {
    return InvalidArgument("testing_percentage must be in [0, 100], got " + std::to_string(testing_percentage));
  }
  if (validation_percentage + testing_percentage > 100.0) {
    return InvalidArgument("validation_percentage + testing_percentage must be at most 100, got " +
                           std::to_string(validation_percentage + testing_percentage));
  }
  return Status::Ok();
}

uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Rng::Below(uint64_t n) {
  if (n <= 1) return 0;
  // Rejection sampling: discard the top partial block of the 2^64 range.
  uint64_t limit = (~uint64_t{0}) - ((~uint64_t{0}) % n);
  uint64_t x;
  do {
    x = Next();
  } while (x >= limit);
  return x % n;
}

double Rng::Gaussian() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1;
  do {
    u1 = Uniform();
  } while (u1 <= 1e-300);
  double u2 = Uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  double theta = 2.0 * M_PI * u2;
  spare_ = r * std::sin(theta);
  has_spare_ = true;
  return r * std::cos(theta);
}

uint64_t MixSeed(uint64_t a, uint64_t b) {
  Rng r(a ^ (b * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL));
  r.Next();
  return r.Next();
}

uint64_t HashString(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace chorus::data::internal
