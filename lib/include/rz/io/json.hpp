// JSON that comes from outside, read with limits, and JSON written so that it always serialises.
//
// nlohmann::json builds any document it is given and converts numbers with static_cast; the
// helpers here refuse what rz must never take: nesting deeper than a bound (copying or printing a
// 30,000-deep document overflows the stack or grows quadratically), text after the document,
// numbers that overflow, and values outside the range of the field they fill.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace rz::io {

// Deeper than any document rz writes (a manifest's history entries reach about 8 levels) and far
// below what a recursive copy of nlohmann::json can take.
inline constexpr int kMaxJsonDepth = 64;

// Parses exactly one JSON document (whitespace around it allowed). Throws rz::InputError
// "<what> '<subject>': <reason>" where reason is "bad JSON: ..." (syntax, trailing text, number
// overflow, invalid UTF-8) or "nested deeper than N levels".
nlohmann::json parse_json(std::string_view text, const std::string& subject, const char* what,
                          int max_depth = kMaxJsonDepth);

// read_file(path, max_bytes, kind, what) then parse_json.
nlohmann::json read_json_file(const std::filesystem::path& path, size_t max_bytes, const char* kind,
                              const char* what, int max_depth = kMaxJsonDepth);

// j.dump(indent), with bytes that are not valid UTF-8 (file names on Linux are bytes) replaced by
// U+FFFD instead of throwing.
std::string dump_json(const nlohmann::json& j, int indent = -1);

// A nlohmann exception's message without its "[json.exception.type_error.302] " prefix.
std::string json_reason(const nlohmann::json::exception& e);

// `v` as T when it holds a value of T's kind that T can represent exactly: integers only from
// JSON integers within T's range, floating point from any finite JSON number, bool from a
// boolean, std::string from a string. nullopt otherwise (never a narrowing or undefined cast).
template <typename T>
std::optional<T> get_checked(const nlohmann::json& v) {
  if constexpr (std::is_same_v<T, bool>) {
    if (v.is_boolean()) return v.get<bool>();
    return std::nullopt;
  } else if constexpr (std::is_integral_v<T>) {
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(u);
    } else if (v.is_number_integer()) {
      const int64_t i = v.get<int64_t>();
      if constexpr (std::is_signed_v<T>) {
        if (i >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
            i <= static_cast<int64_t>(std::numeric_limits<T>::max()))
          return static_cast<T>(i);
      } else {
        if (i >= 0 && static_cast<uint64_t>(i) <= std::numeric_limits<T>::max())
          return static_cast<T>(i);
      }
    }
    return std::nullopt;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return std::nullopt;
    const double d = v.get<double>();
    if (!(d >= -std::numeric_limits<T>::max() && d <= std::numeric_limits<T>::max()))
      return std::nullopt;
    return static_cast<T>(d);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (v.is_string()) return v.get<std::string>();
    return std::nullopt;
  } else {
    static_assert(!sizeof(T), "get_checked: unsupported type");
  }
}

// get_checked of member `key` of object `j` (nullopt when `j` is no object or has no such key).
template <typename T>
std::optional<T> get_checked(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  return get_checked<T>(*it);
}

}  // namespace rz::io
