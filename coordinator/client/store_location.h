// Which job store a location names, shared by the config reader (clients
// link it) and JobStore::Open: a postgresql:// or postgres:// URI is the
// PostgreSQL backend; anything else is a SQLite file. Pure.
#pragma once

#include <string>

namespace chorus::coordinator {

inline bool IsPostgresUri(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

}  // namespace chorus::coordinator
