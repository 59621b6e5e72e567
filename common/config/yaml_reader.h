// YamlReader: typed, validated reading of a YAML file into option structs.
//
// Every value read is checked for type; every problem is recorded with
// "file:line:col: dotted.key: what is wrong", and reading goes on so one run
// reports all problems at once. Keys that exist in the file but were never
// asked for are reported as unknown (with the known keys listed) when Finish()
// is called. Typical use:
//
//   ASSIGN_OR_RETURN(YamlReader reader, YamlReader::LoadFile(path));
//   ConfigNode root = reader.Root();
//   root.Get("epochs", &spec.epochs);            // optional: default kept
//   root.Require("name", &spec.name);            // must be present
//   root.Check(spec.epochs > 0, "epochs", "must be positive");
//   RETURN_IF_ERROR(reader.Finish());
//
// Not thread-safe: one reader per file on one thread.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/util/status.h"

namespace chorus::config {

namespace internal {
struct ReaderState {
  std::string file;
  std::vector<std::string> errors;
  // For each mapping node (by its dotted path) the keys that were asked for.
  std::map<std::string, std::set<std::string>> known;
  std::map<std::string, YAML::Node> maps;
};
}  // namespace internal

class ConfigNode {
 public:
  // Optional scalar/list: leaves *out untouched when the key is absent.
  // Supported T: bool, int, int64_t, uint64_t, double, std::string,
  // std::vector<std::string>, std::vector<int>, std::map<std::string, std::string>.
  template <typename T>
  void Get(const std::string& key, T* out);
  // Like Get, but a missing key is an error.
  template <typename T>
  void Require(const std::string& key, T* out);

  // A nested mapping. Absent: an empty node (all Gets keep defaults); when
  // `required`, absence is an error. Present but not a mapping: an error.
  ConfigNode Child(const std::string& key, bool required = false);

  // Elements of a list of mappings (e.g. extra data sources). Absent: empty.
  std::vector<ConfigNode> ChildList(const std::string& key);

  bool Has(const std::string& key) const;

  // Records "file:line:col: path.key: message" unless `condition` holds.
  void Check(bool condition, const std::string& key, const std::string& message);
  // Records an error about the whole node (e.g. a cross-field rule).
  void Error(const std::string& key, const std::string& message);

  const std::string& path() const { return path_; }

 private:
  friend class YamlReader;
  ConfigNode(YAML::Node node, std::string path, std::shared_ptr<internal::ReaderState> state);

  std::string KeyPath(const std::string& key) const;
  std::string Where(const std::string& key) const;  // "file:line:col: path.key"
  YAML::Node Lookup(const std::string& key);         // marks key as known
  template <typename T>
  bool Convert(const YAML::Node& value, const std::string& key, T* out);

  YAML::Node node_;
  std::string path_;
  std::shared_ptr<internal::ReaderState> state_;
};

class YamlReader {
 public:
  // Parse errors and a top level that is not a mapping are InvalidArgument with file:line.
  static Result<YamlReader> LoadFile(const std::string& path);
  // `name` stands for the file in messages.
  static Result<YamlReader> LoadString(const std::string& text, const std::string& name);

  ConfigNode Root();

  // OK when no errors were recorded and no unknown keys remain; otherwise an
  // InvalidArgument listing every problem, one per line.
  Status Finish();

 private:
  YamlReader(YAML::Node root, std::string file);
  YAML::Node root_;
  std::shared_ptr<internal::ReaderState> state_;
};

}  // namespace chorus::config
