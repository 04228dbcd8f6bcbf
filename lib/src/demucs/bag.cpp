// Parser of demucs' bag-of-models YAML: the subset demucs' own bag files use.
#include "rz/demucs/bag.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>
#include <utility>

#include "rz/error.hpp"
#include "rz/io/file.hpp"

namespace fs = std::filesystem;

namespace rz::demucs {

namespace {

constexpr const char* kBadBag = "bad model bag";
// A bag YAML file is a few lines; nested flow lists deeper than this are not a bag.
constexpr size_t kMaxBagBytes = size_t{1} << 20;
constexpr int kMaxYamlDepth = 16;
// Bag weights mix the members' estimates (out = sum w * est / sum w): demucs' own are 0 or 1.
// Larger ones only overflow the sum.
constexpr double kMaxBagWeight = 1000.0;

struct YamlNode {
  bool is_list = false;
  bool quoted = false;
  std::string scalar;
  std::vector<YamlNode> items;
  int line = 0;
};

class BagParser {
 public:
  BagParser(std::string text, const fs::path& path) : s_(std::move(text)), path_(path) {}

  Bag parse() {
    Bag bag;
    bool seen_models = false, seen_weights = false, seen_segment = false;
    skip_blank_lines();
    if (s_.compare(pos_, 3, "---") == 0 && at_line_end(pos_ + 3)) {
      pos_ += 3;
      skip_blank_lines();
    }
    while (pos_ < s_.size()) {
      const int key_line = line_;
      if (!std::isalpha(static_cast<unsigned char>(s_[pos_]))) {
        fail("expected a top-level 'key:' (indentation and other YAML forms are not supported)");
      }
      const size_t start = pos_;
      while (pos_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
        ++pos_;
      }
      const std::string key = s_.substr(start, pos_ - start);
      if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':' after " + in_quotes(key));
      ++pos_;
      const YamlNode value = parse_value();
      skip_blank_lines();
      line_for_error_ = key_line;
      if (key == "models") {
        if (seen_models) fail("duplicate key 'models'");
        seen_models = true;
        bag.models = models(value);
      } else if (key == "weights") {
        if (seen_weights) fail("duplicate key 'weights'");
        seen_weights = true;
        bag.weights = weights(value);
      } else if (key == "segment") {
        if (seen_segment) fail("duplicate key 'segment'");
        seen_segment = true;
        if (value.is_list) fail("'segment' must be a number");
        bag.segment = number(value);
        if (*bag.segment <= 0) fail("'segment' must be positive");
      } else {
        fail("unsupported key " + in_quotes(key) + " (expected models, weights or segment)");
      }
      line_for_error_ = 0;
    }
    line_for_error_ = line_;
    if (!seen_models) fail("no 'models' list");
    if (bag.models.empty()) fail("'models' is empty");
    if (!bag.weights.empty()) {
      if (bag.weights.size() != bag.models.size()) {
        fail("'weights' has " + std::to_string(bag.weights.size()) + " rows for " +
             std::to_string(bag.models.size()) + " models");
      }
      for (const auto& row : bag.weights) {
        if (row.empty() || row.size() != bag.weights[0].size()) {
          fail("the rows of 'weights' differ in length");
        }
      }
    }
    return bag;
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    const int line = line_for_error_ ? line_for_error_ : line_;
    throw InputError(kBadBag, path_.string(), "line " + std::to_string(line) + ": " + reason);
  }

  // True when only blanks or a comment follow `p` on its line.
  bool at_line_end(size_t p) const {
    while (p < s_.size() && (s_[p] == ' ' || s_[p] == '\t' || s_[p] == '\r')) ++p;
    return p >= s_.size() || s_[p] == '\n' || s_[p] == '#';
  }
  void skip_spaces() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '#') {
      while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
    }
  }
  void next_line() {
    skip_spaces();
    if (pos_ < s_.size()) {
      if (s_[pos_] != '\n') fail("unexpected " + in_quotes(std::string(1, s_[pos_])));
      ++pos_;
      ++line_;
    }
  }
  void skip_blank_lines() {
    while (pos_ < s_.size()) {
      const size_t line_start = pos_;
      skip_spaces();
      if (pos_ < s_.size() && s_[pos_] == '\n') {
        ++pos_;
        ++line_;
        continue;
      }
      if (pos_ < s_.size()) pos_ = line_start;  // a line with content: leave it whole
      return;
    }
  }
  // Spaces, comments and line breaks, inside a flow list.
  void skip_flow_space() {
    while (pos_ < s_.size()) {
      skip_spaces();
      if (pos_ < s_.size() && s_[pos_] == '\n') {
        ++pos_;
        ++line_;
      } else {
        return;
      }
    }
  }

  // After "key:": a flow list, a scalar, or a line break followed by a block list.
  YamlNode parse_value() {
    skip_spaces();
    if (pos_ < s_.size() && s_[pos_] != '\n') {
      YamlNode v = s_[pos_] == '[' ? parse_flow() : parse_scalar(false);
      next_line();
      return v;
    }
    next_line();
    YamlNode list;
    list.is_list = true;
    list.line = line_;
    while (true) {
      skip_blank_lines();
      size_t p = pos_;
      while (p < s_.size() && s_[p] == ' ') ++p;
      const bool item = p < s_.size() && s_[p] == '-' &&
                        (p + 1 == s_.size() || std::isspace(static_cast<unsigned char>(s_[p + 1])));
      if (!item) break;
      pos_ = p + 1;
      skip_spaces();
      if (pos_ >= s_.size() || s_[pos_] == '\n') fail("empty list item");
      list.items.push_back(s_[pos_] == '[' ? parse_flow() : parse_scalar(false));
      next_line();
    }
    if (list.items.empty()) fail("missing value");
    return list;
  }

  YamlNode parse_flow(int depth = 1) {
    if (depth > kMaxYamlDepth) {
      fail("lists nested deeper than " + std::to_string(kMaxYamlDepth) + " levels");
    }
    YamlNode list;
    list.is_list = true;
    list.line = line_;
    ++pos_;  // '['
    while (true) {
      skip_flow_space();
      if (pos_ >= s_.size()) fail("unterminated '['");
      if (s_[pos_] == ']') {
        ++pos_;
        return list;
      }
      list.items.push_back(s_[pos_] == '[' ? parse_flow(depth + 1) : parse_scalar(true));
      skip_flow_space();
      if (pos_ >= s_.size()) fail("unterminated '['");
      if (s_[pos_] == ',') {
        ++pos_;
      } else if (s_[pos_] != ']') {
        fail("expected ',' or ']'");
      }
    }
  }

  YamlNode parse_scalar(bool in_flow) {
    YamlNode v;
    v.line = line_;
    const char c = s_[pos_];
    if (c == '\'' || c == '"') {
      v.quoted = true;
      ++pos_;
      while (true) {
        if (pos_ >= s_.size() || s_[pos_] == '\n') fail("unterminated quoted string");
        const char ch = s_[pos_++];
        if (ch == c && c == '\'' && pos_ < s_.size() && s_[pos_] == '\'') {
          v.scalar += '\'';  // '' inside single quotes
          ++pos_;
        } else if (ch == c) {
          return v;
        } else if (ch == '\\' && c == '"') {
          if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\\')) {
            fail("unsupported escape in a double-quoted string");
          }
          v.scalar += s_[pos_++];
        } else {
          v.scalar += ch;
        }
      }
    }
    if (in_flow && c == ',') fail("empty list item");
    if (std::strchr("{}&*!|>%@`,]", c)) {
      fail("unsupported YAML " + in_quotes(std::string(1, c)) + " (only lists and scalars)");
    }
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != '\n' &&
           !(in_flow && (s_[pos_] == ',' || s_[pos_] == ']'))) {
      if (s_[pos_] == '#' && std::isspace(static_cast<unsigned char>(s_[pos_ - 1]))) break;
      if (s_[pos_] == ':' &&
          (pos_ + 1 >= s_.size() || std::isspace(static_cast<unsigned char>(s_[pos_ + 1])))) {
        fail("nested mappings are not supported");
      }
      ++pos_;
    }
    v.scalar = s_.substr(start, pos_ - start);
    while (!v.scalar.empty() && std::isspace(static_cast<unsigned char>(v.scalar.back()))) {
      v.scalar.pop_back();
    }
    return v;
  }

  std::vector<std::string> models(const YamlNode& v) {
    if (!v.is_list) fail("'models' must be a list");
    std::vector<std::string> out;
    for (const YamlNode& item : v.items) {
      if (item.is_list || item.scalar.empty()) fail("'models' must be a list of names");
      out.push_back(item.scalar);
    }
    return out;
  }

  std::vector<std::vector<double>> weights(const YamlNode& v) {
    if (!v.is_list) fail("'weights' must be a list of lists");
    std::vector<std::vector<double>> out;
    for (const YamlNode& row : v.items) {
      if (!row.is_list) fail("'weights' must be a list of lists");
      out.emplace_back();
      for (const YamlNode& w : row.items) {
        if (w.is_list) fail("'weights' must be a list of lists of numbers");
        const double x = number(w);
        if (!(x >= 0 && x <= kMaxBagWeight)) {
          throw InputError(kBadBag, path_.string(),
                           "line " + std::to_string(w.line) + ": weight " + in_quotes(w.scalar) +
                               " is outside 0.." + fixed(kMaxBagWeight, 0));
        }
        out.back().push_back(x);
      }
    }
    return out;
  }

  double number(const YamlNode& v) const {
    std::string s = v.scalar;
    if (!s.empty() && s[0] == '+') s.erase(0, 1);
    double x = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), x);
    if (v.quoted || s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() ||
        !std::isfinite(x)) {
      throw InputError(kBadBag, path_.string(),
                       "line " + std::to_string(v.line) + ": " + in_quotes(v.scalar) +
                           " is not a finite number");
    }
    return x;
  }

  std::string s_;
  fs::path path_;
  size_t pos_ = 0;
  int line_ = 1;
  int line_for_error_ = 0;  // when set, errors name this line (the key's) instead of line_
};

}  // namespace

Bag parse_bag(std::string text, const fs::path& path) {
  return BagParser(std::move(text), path).parse();
}

Bag read_bag(const fs::path& yaml) {
  // A FIFO or /dev/zero in the bag's place is refused; a real bag is a few hundred bytes.
  return parse_bag(io::read_file(yaml, kMaxBagBytes, "model bag", "cannot read"), yaml);
}

}  // namespace rz::demucs
