// Reader for the checkpoints of MSST's RoFormers (`.ckpt`): a torch.save of a state dict, read
// with rz/formats' restricted pickle machine (libtorch 1.13's pickle_load cannot read the
// OrderedDict these files hold).
#pragma once

#include <filesystem>
#include <string>

#include "rz/formats/torch_state.hpp"

namespace rz::roformer {

struct Checkpoint {
  formats::StateDict state;  // parameter name -> tensor (fp32), in file order
  std::string sha256;        // lower-case hex SHA-256 of the whole file
  std::string wrapper;       // "" for a bare state dict, else the key it sat under
};

// Reads `path` as MSST's inference loader does: torch.load, then, when the top-level dict has a
// key 'state', then 'state_dict', then 'model_state_dict', descends into it. The pickle may use
// only collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch.{Half,Float,Double}Storage and torch.jit._pickle.restore_type_tag (what libtorch's
// torch::pickle_save writes). Throws rz::InputError ("bad checkpoint '<path>': <reason>")
// for an unreadable, truncated or corrupt file, an unsupported pickle global (named), a value
// that is not a tensor, or a storage that is absent or of the wrong size.
Checkpoint read_checkpoint(const std::filesystem::path& path);

}  // namespace rz::roformer
