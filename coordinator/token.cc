#include "coordinator/token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <vector>

#include "common/util/fs.h"

namespace chorus::coordinator {

namespace {

std::string Hex(const unsigned char* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

}  // namespace

Result<std::string> RandomHex(int bytes) {
  std::vector<unsigned char> buffer(bytes);
  if (RAND_bytes(buffer.data(), bytes) != 1) return Internal("cannot generate random bytes");
  return Hex(buffer.data(), buffer.size());
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  return Hex(digest, n);
}

std::string HmacSha256Hex(const std::string& key, const std::string& message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), digest, &n);
  return Hex(digest, n);
}

Result<std::string> LoadOrCreateToken(const std::string& configured, const std::string& state_dir) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("CHORUS_TOKEN"); env && *env) return std::string(env);
  const std::string path = state_dir + "/token";
  if (auto existing = ReadFile(path); existing.ok()) {
    std::string token = *existing;
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    if (token.empty()) return InvalidArgument(path + ": empty token file");
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077))
    {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
      return FailedPrecondition(path + ": token file is open to other users (mode " + mode + "); chmod 600 it");
    }
    return token;
  }
  ASSIGN_OR_RETURN(std::string token, RandomHex(32));
  RETURN_IF_ERROR(MakeDirs(state_dir));
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(tmp + ": " + std::strerror(errno));
  fchmod(fd, 0600);
  std::string line = token + "\n";
  bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) return IoError(path + ": cannot write token");
  return token;
}

bool TokensEqual(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) diff |= static_cast<unsigned char>(a[i % (a.empty() ? 1 : a.size())] ^ b[i]);
  return diff == 0 && !a.empty();
}

}  // namespace chorus::coordinator
