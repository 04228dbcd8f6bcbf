// Decisions of a history entry as lines (rz/stage/decisions.hpp).
#include "rz/stage/decisions.hpp"

#include <cstdio>

namespace rz::stage {

namespace {

using json = nlohmann::json;

std::string number(const json& v) {
  if (!v.is_number()) return v.is_string() ? v.get<std::string>() : v.dump();
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", v.get<double>());
  return buf;
}

std::string text(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// "snr_db 10.7 < 9 is false" for a rule decision; its note appended.
std::string rule_text(const json& d) {
  if (!d.contains("measure") || !d.contains("value")) return "";
  std::string s = text(d, "measure") + " " + number(d["value"]);
  if (d.contains("rule") && d.contains("threshold"))
    s += " (" + text(d, "rule") + " " + number(d["threshold"]) + " calls for it)";
  const std::string note = text(d, "note");
  return note.empty() ? s : s + ", " + note;
}

}  // namespace

std::vector<std::string> decision_lines(const json& entry) {
  std::vector<std::string> lines;
  if (!entry.is_object() || !entry.contains("stems") || !entry["stems"].is_object()) return lines;
  for (const auto& [stem, record] : entry["stems"].items()) {
    if (!record.is_object()) continue;
    const json decisions = record.value("decisions", json::array());
    if (decisions.is_array() && !decisions.empty()) {
      for (const auto& d : decisions) {
        if (!d.is_object()) continue;
        const bool applied = d.value("applied", false);
        std::string why = text(d, "why");
        if (why.empty()) why = rule_text(d);
        lines.push_back(stem + ": " + text(d, "block") + (applied ? " applied" : " not applied") +
                        (why.empty() ? "" : ": " + why));
      }
    }
    const std::string why = text(record, "why");
    if (!why.empty()) lines.push_back(stem + ": " + text(record, "result") + ": " + why);
  }
  return lines;
}

}  // namespace rz::stage
