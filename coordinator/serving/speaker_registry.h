// SpeakerRegistry: the enrolled speakers of every embed deployment, kept in
// the coordinator's job store (the same SQLite file, table `speakers`, its
// own connection: WAL, synchronous=FULL), so an enrolment is on disk before
// it is answered and survives a coordinator restart.
//
// What is stored per (deployment, name): the enrolment embedding (the
// normalised mean of the utterances' normalised embeddings, float32), how
// many utterances made it and when. Never audio. Embeddings are biometric
// data: they leave this class only to the scoring code of the speaker API,
// never to logs or list results. Deleting a speaker overwrites its row's
// bytes (secure_delete) and checkpoints the write-ahead log so no copy
// stays in the WAL either.
//
// Names: as for deployments (names.h).
// Thread-safe (one mutex around the connection).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/util/status.h"

struct sqlite3;

namespace chorus::coordinator {

struct EnrolledSpeaker {
  std::string name;
  int64_t utterances = 0;
  double enrolled_at = 0;        // Unix seconds
  std::vector<float> embedding;  // empty in List()
};

class SpeakerRegistry {
 public:
  static Result<std::unique_ptr<SpeakerRegistry>> Open(const std::string& path);
  ~SpeakerRegistry();

  // Enrols, or re-enrols (replacing the old embedding), `name` in `deployment`.
  Status Enrol(const std::string& deployment, const EnrolledSpeaker& speaker);
  // NotFound naming the speaker and deployment.
  Result<EnrolledSpeaker> Get(const std::string& deployment, const std::string& name);
  // Without embeddings, by name.
  Result<std::vector<EnrolledSpeaker>> List(const std::string& deployment);
  // With embeddings, by name (identification).
  Result<std::vector<EnrolledSpeaker>> All(const std::string& deployment);
  // NotFound when there is no such speaker.
  Status Delete(const std::string& deployment, const std::string& name);

 private:
  SpeakerRegistry(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Result<std::vector<EnrolledSpeaker>> Select(const std::string& deployment, const std::string& name, bool embeddings);
  Status Exec(const char* sql);

  std::mutex mu_;
  sqlite3* db_;
  std::string path_;
};

// InvalidArgument saying what is wrong with a speaker name, if anything.
Status ValidateSpeakerName(const std::string& name);

}  // namespace chorus::coordinator
