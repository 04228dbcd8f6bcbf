// What every stage hands its tool: the output, lines for stderr and the --json record.
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rz::stage {

// Wall-clock seconds since `start`: a history entry's elapsed_s.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct StageReport {
  std::filesystem::path output;
  std::vector<std::string> warnings;  // shown unless -q
  std::vector<std::string> notes;     // shown at default verbosity: what was done, one line each
  std::vector<std::string> details;   // shown with -v (settings as resolved, speed)
  nlohmann::json record;              // the --json record
};

}  // namespace rz::stage
