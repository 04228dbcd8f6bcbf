// Bounded JSON parsing and always-serialisable dumping (see json.hpp).
#include "rz/io/json.hpp"

#include "rz/error.hpp"
#include "rz/io/file.hpp"

namespace rz::io {

using nlohmann::json;

namespace {

// Thrown from the parser callback (nlohmann passes it through) to stop at the first level too deep.
struct TooDeep {};

}  // namespace

std::string json_reason(const json::exception& e) {
  std::string what = e.what();
  if (what.rfind("[json.exception.", 0) == 0) {
    const size_t end = what.find("] ");
    if (end != std::string::npos) what = what.substr(end + 2);
  }
  return what;
}

json parse_json(std::string_view text, const std::string& subject, const char* what,
                int max_depth) {
  // The callback sees every value as it is started, with its depth, before anything below it is
  // built: a deep document is refused after reading max_depth levels, not after building them.
  const json::parser_callback_t limit = [max_depth](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    // allow_exceptions, no comments; parse() refuses anything but whitespace after the document.
    return json::parse(text.begin(), text.end(), limit, true, false);
  } catch (const TooDeep&) {
    throw InputError(what, subject, "nested deeper than " + std::to_string(max_depth) + " levels");
  } catch (const json::exception& e) {
    throw InputError(what, subject, "bad JSON: " + json_reason(e));
  }
}

json read_json_file(const std::filesystem::path& path, size_t max_bytes, const char* kind,
                    const char* what, int max_depth) {
  return parse_json(read_file(path, max_bytes, kind, what), path.string(), what, max_depth);
}

std::string dump_json(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace rz::io
