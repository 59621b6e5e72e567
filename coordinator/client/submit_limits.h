// Bounds on what a submit may carry, checked by the chorus CLI before it
// sends and by the coordinator before it stores anything: a job file of
// 50 MB or a name of 50 MB once grew the job store by hundreds of MB and
// made `chorus list` return them. Every refusal names the field, its size
// and the bound. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/proto/job.pb.h"
#include "common/util/status.h"

namespace chorus::coordinator {

inline constexpr int64_t kMaxJobFileBytes = int64_t{1} << 20;  // a job file is a few hundred bytes
inline constexpr int kMaxJobNameBytes = 128;
inline constexpr int kMaxPathBytes = 4096;  // PATH_MAX
inline constexpr int kMaxWorkerArgs = 64;
inline constexpr int kMaxWorkerArgBytes = 4096;
inline constexpr int kMaxRequestIdBytes = 64;

// A job's name: 1 to kMaxJobNameBytes bytes of UTF-8 without control characters.
Status CheckJobName(const std::string& name);

// Everything in `r` but the job file's contents (which the job-file parser
// checks): sizes, UTF-8 where a reply will carry it back, max_restarts.
Status CheckSubmitRequest(const proto::SubmitRequest& r);

// `text` with every byte sequence that is not UTF-8 replaced by U+FFFD, so a
// protobuf string field (a reply's error naming what a client sent) stays
// valid for the client that parses it.
std::string ValidUtf8(const std::string& text);

}  // namespace chorus::coordinator
