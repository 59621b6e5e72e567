// Endpoint lists: how a client names both coordinators of an active/standby
// pair. "tcp://a:7450,tcp://b:7450" is a list; one endpoint is a list of one.
// A client connects to every endpoint of its list and talks to whichever
// peer is there (only the active coordinator binds its sockets), so it
// follows a failover without being told. Joined lists are sorted, so both
// coordinators of a pair advertise the same text. Pure.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace chorus::net {

// The non-empty, comma-separated parts of `list`.
inline std::vector<std::string> SplitEndpoints(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// `own` and `peer` (either may be "") as one sorted list without repeats.
inline std::string JoinEndpoints(const std::string& own, const std::string& peer) {
  std::vector<std::string> all = SplitEndpoints(own);
  for (auto& e : SplitEndpoints(peer)) all.push_back(std::move(e));
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::string out;
  for (const auto& e : all) out += (out.empty() ? "" : ",") + e;
  return out;
}

}  // namespace chorus::net
