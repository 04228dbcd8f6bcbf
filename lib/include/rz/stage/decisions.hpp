// Each decision a stage recorded in its history entry, one line each, for -v: what ran, what did
// not, and the measurement that said so.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rz::stage {

// Lines "<stem>: <block> applied|not applied: <why>" from a history entry's per-stem
// "decisions" (rz-restore's {block, applied, why}; rz-enhance's {block, applied, measure, value,
// rule, threshold}), and "<stem>: <result>: <why>" for a stem whose record has a reason but no
// decisions (copied through). Empty for an entry without per-stem records.
std::vector<std::string> decision_lines(const nlohmann::json& entry);

}  // namespace rz::stage
