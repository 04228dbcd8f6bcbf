// Strict loading of a state dict into a libtorch module, as torch's load_state_dict(strict=True).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "rz/formats/torch_state.hpp"

namespace rz::nn {

// Copies `state` (parameter name -> tensor) into `module`'s parameters by name, widened to fp32
// on `module`'s device. Strict: throws InputError ("bad checkpoint '<subject>': ...") naming the
// first unexpected or mis-shaped tensor, in `state` order, or else the first missing parameter.
void load_state_strict(torch::nn::Module& module,
                       const std::vector<std::pair<std::string, formats::Tensor>>& state,
                       const std::string& subject);

}  // namespace rz::nn
