// Progress reporting from library to caller: the library never prints, it calls back.
#pragma once

#include <functional>
#include <string_view>

namespace rz {

// stage: short label ("decode", "limit"); fraction: 0..1 within that stage.
using Progress = std::function<void(std::string_view stage, double fraction)>;

inline void report(const Progress& progress, std::string_view stage, double fraction) {
  if (progress) progress(stage, fraction);
}

}  // namespace rz
