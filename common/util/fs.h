// Small file-system helpers used everywhere: durable atomic writes and whole-file
// reads. AtomicWriteFile writes to a temporary file in the same directory,
// fsyncs it and renames it over the target, so readers see the old or the new
// content and never a torn file, even if the process dies midway.
// Thread-safe for distinct paths.
#pragma once

#include <functional>
#include <string>

#include "common/util/status.h"

namespace chorus {

Result<std::string> ReadFile(const std::string& path);
Status AtomicWriteFile(const std::string& path, const std::string& contents);

// For writers that need a path rather than bytes (LibTorch archives, libsndfile):
// `write` writes to the temporary path it is given; on success the file is fsynced
// and renamed over `path`, on failure the temporary file is removed.
Status AtomicWriteWith(const std::string& path, const std::function<Status(const std::string& tmp_path)>& write);

// Creates the directory and its parents; OK if it already exists.
Status MakeDirs(const std::string& path);

}  // namespace chorus
