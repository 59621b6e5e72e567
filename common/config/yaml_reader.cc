#include "common/config/yaml_reader.h"

#include <cstdint>
#include <map>
#include <sstream>
#include <vector>

namespace chorus::config {
namespace {

std::string MarkText(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

std::string Describe(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

template <typename T>
const char* TypeName();
template <> const char* TypeName<bool>() { return "true or false"; }
template <> const char* TypeName<int>() { return "an integer"; }
template <> const char* TypeName<int64_t>() { return "an integer"; }
template <> const char* TypeName<uint64_t>() { return "a non-negative integer"; }
template <> const char* TypeName<double>() { return "a number"; }
template <> const char* TypeName<std::string>() { return "a string"; }

template <typename T>
bool ConvertScalar(const YAML::Node& value, T* out) {
  if (!value.IsScalar()) return false;
  try {
    *out = value.as<T>();
    return true;
  } catch (const YAML::Exception&) {
    return false;
  }
}

// yaml-cpp keeps both entries of a key written twice and answers lookups
// with the first: a job file's second `training:` would be silently ignored.
// Walks every mapping and refuses the first key seen twice. Aliases repeat
// the nodes they name, so the walk is bounded (a file of nested aliases
// could otherwise make it visit billions of nodes).
constexpr int64_t kMaxYamlNodes = 1000000;
Status CheckDuplicateKeys(const YAML::Node& root, const std::string& name) {
  std::vector<YAML::Node> stack = {root};
  int64_t visited = 0;
  while (!stack.empty()) {
    YAML::Node node = stack.back();
    stack.pop_back();
    if (++visited > kMaxYamlNodes)
      return InvalidArgument(name + ": more than " + std::to_string(kMaxYamlNodes) +
                             " YAML nodes once its aliases are expanded");
    if (node.IsSequence()) {
      for (const auto& child : node) stack.push_back(child);
    } else if (node.IsMap()) {
      std::map<std::string, YAML::Mark> keys;
      for (const auto& kv : node) {
        if (kv.first.IsScalar()) {
          auto [it, fresh] = keys.emplace(kv.first.Scalar(), kv.first.Mark());
          if (!fresh)
            return InvalidArgument(name + ":" + MarkText(kv.first.Mark()) + ": key '" + kv.first.Scalar() +
                                   "' appears twice in one mapping (first at " + MarkText(it->second) + ")");
        }
        stack.push_back(kv.second);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

ConfigNode::ConfigNode(YAML::Node node, std::string path, std::shared_ptr<internal::ReaderState> state)
    : node_(std::move(node)), path_(std::move(path)), state_(std::move(state)) {
  if (node_.IsMap()) {
    state_->maps[path_] = node_;
    state_->known[path_];  // present even when nothing is read from it
  }
}

std::string ConfigNode::KeyPath(const std::string& key) const {
  if (path_.empty()) return key;
  if (key.empty()) return path_;
  return path_ + "." + key;
}

std::string ConfigNode::Where(const std::string& key) const {
  YAML::Mark mark = node_.IsDefined() ? node_.Mark() : YAML::Mark::null_mark();
  if (!key.empty() && node_.IsMap() && node_[key].IsDefined()) mark = node_[key].Mark();
  std::string where = state_->file;
  std::string m = MarkText(mark);
  if (!m.empty()) where += ":" + m;
  return where + ": " + KeyPath(key);
}

YAML::Node ConfigNode::Lookup(const std::string& key) {
  if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  state_->known[path_].insert(key);
  return node_[key];
}

bool ConfigNode::Has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull();
}

void ConfigNode::Check(bool condition, const std::string& key, const std::string& message) {
  if (!condition) Error(key, message);
}

void ConfigNode::Error(const std::string& key, const std::string& message) {
  state_->errors.push_back(Where(key) + ": " + message);
}

template <typename T>
bool ConfigNode::Convert(const YAML::Node& value, const std::string& key, T* out) {
  if constexpr (std::is_same_v<T, std::vector<std::string>> || std::is_same_v<T, std::vector<int>>) {
    using E = typename T::value_type;
    if (!value.IsSequence()) {
      Error(key, std::string("expected a list of ") + TypeName<E>() + "s, got " + Describe(value));
      return false;
    }
    T result;
    for (std::size_t i = 0; i < value.size(); ++i) {
      E element{};
      if (!ConvertScalar(value[i], &element)) {
        Error(key, "element " + std::to_string(i) + ": expected " + TypeName<E>() + ", got " + Describe(value[i]));
        return false;
      }
      result.push_back(std::move(element));
    }
    *out = std::move(result);
    return true;
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    if (!value.IsMap()) {
      Error(key, "expected a mapping of strings, got " + Describe(value));
      return false;
    }
    T result;
    for (const auto& kv : value) {
      std::string k, v;
      if (!ConvertScalar(kv.first, &k) || !ConvertScalar(kv.second, &v)) {
        Error(key, "expected string keys and values, got " + Describe(kv.second));
        return false;
      }
      result[k] = v;
    }
    *out = std::move(result);
    return true;
  } else {
    if constexpr (std::is_same_v<T, uint64_t>) {
      // yaml-cpp happily wraps "-1" into a huge unsigned value.
      if (value.IsScalar() && !value.Scalar().empty() && value.Scalar()[0] == '-') {
        Error(key, std::string("expected ") + TypeName<T>() + ", got " + Describe(value));
        return false;
      }
    }
    if (!ConvertScalar(value, out)) {
      Error(key, std::string("expected ") + TypeName<T>() + ", got " + Describe(value));
      return false;
    }
    return true;
  }
}

template <typename T>
void ConfigNode::Get(const std::string& key, T* out) {
  YAML::Node value = Lookup(key);
  if (!value.IsDefined() || value.IsNull()) return;
  Convert(value, key, out);
}

template <typename T>
void ConfigNode::Require(const std::string& key, T* out) {
  YAML::Node value = Lookup(key);
  if (!value.IsDefined() || value.IsNull()) {
    Error(key, "required key is missing");
    return;
  }
  Convert(value, key, out);
}

#define CHORUS_INSTANTIATE(T)                                          \
  template void ConfigNode::Get<T>(const std::string&, T*);            \
  template void ConfigNode::Require<T>(const std::string&, T*);
CHORUS_INSTANTIATE(bool)
CHORUS_INSTANTIATE(int)
CHORUS_INSTANTIATE(int64_t)
CHORUS_INSTANTIATE(uint64_t)
CHORUS_INSTANTIATE(double)
CHORUS_INSTANTIATE(std::string)
CHORUS_INSTANTIATE(std::vector<std::string>)
CHORUS_INSTANTIATE(std::vector<int>)
using StringMap = std::map<std::string, std::string>;
CHORUS_INSTANTIATE(StringMap)
#undef CHORUS_INSTANTIATE

ConfigNode ConfigNode::Child(const std::string& key, bool required) {
  YAML::Node value = Lookup(key);
  if (!value.IsDefined() || value.IsNull()) {
    if (required) Error(key, "required section is missing");
    return ConfigNode(YAML::Node(YAML::NodeType::Undefined), KeyPath(key), state_);
  }
  if (!value.IsMap()) {
    Error(key, "expected a mapping, got " + Describe(value));
    return ConfigNode(YAML::Node(YAML::NodeType::Undefined), KeyPath(key), state_);
  }
  return ConfigNode(value, KeyPath(key), state_);
}

std::vector<ConfigNode> ConfigNode::ChildList(const std::string& key) {
  std::vector<ConfigNode> children;
  YAML::Node value = Lookup(key);
  if (!value.IsDefined() || value.IsNull()) return children;
  if (!value.IsSequence()) {
    Error(key, "expected a list of mappings, got " + Describe(value));
    return children;
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string path = KeyPath(key) + "[" + std::to_string(i) + "]";
    if (!value[i].IsMap()) {
      state_->errors.push_back(state_->file + ":" + MarkText(value[i].Mark()) + ": " + path +
                               ": expected a mapping, got " + Describe(value[i]));
      continue;
    }
    children.push_back(ConfigNode(value[i], path, state_));
  }
  return children;
}

YamlReader::YamlReader(YAML::Node root, std::string file)
    : root_(std::move(root)), state_(std::make_shared<internal::ReaderState>()) {
  state_->file = std::move(file);
}

Result<YamlReader> YamlReader::LoadString(const std::string& text, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return InvalidArgument(name + ":" + MarkText(e.mark) + ": YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(name + ": YAML error: " + e.what());
  }
  if (!root.IsMap()) {
    return InvalidArgument(name + ": expected a YAML mapping at the top level, got " + Describe(root));
  }
  RETURN_IF_ERROR(CheckDuplicateKeys(root, name));
  return YamlReader(root, name);
}

Result<YamlReader> YamlReader::LoadFile(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return NotFound(path + ": cannot open file");
  } catch (const YAML::ParserException& e) {
    return InvalidArgument(path + ":" + MarkText(e.mark) + ": YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(path + ": YAML error: " + e.what());
  }
  if (!root.IsMap()) {
    return InvalidArgument(path + ": expected a YAML mapping at the top level, got " + Describe(root));
  }
  RETURN_IF_ERROR(CheckDuplicateKeys(root, path));
  return YamlReader(root, path);
}

ConfigNode YamlReader::Root() { return ConfigNode(root_, "", state_); }

Status YamlReader::Finish() {
  std::vector<std::string> errors = state_->errors;
  for (const auto& [path, node] : state_->maps) {
    const auto& known = state_->known[path];
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (known.count(key)) continue;
      std::ostringstream msg;
      msg << state_->file << ":" << MarkText(kv.first.Mark()) << ": " << (path.empty() ? key : path + "." + key)
          << ": unknown key";
      if (!known.empty()) {
        msg << " (known here:";
        for (const auto& k : known) msg << " " << k;
        msg << ")";
      }
      errors.push_back(msg.str());
    }
  }
  if (errors.empty()) return Status::Ok();
  std::ostringstream all;
  for (std::size_t i = 0; i < errors.size(); ++i) all << (i ? "\n" : "") << errors[i];
  return InvalidArgument(all.str());
}

}  // namespace chorus::config
