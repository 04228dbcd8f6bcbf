// Strict state-dict loading into libtorch modules.
#include "rz/nn/state_dict.hpp"

#include <cstdint>
#include <set>

#include "rz/error.hpp"

namespace rz::nn {

void load_state_strict(torch::nn::Module& module,
                       const std::vector<std::pair<std::string, formats::Tensor>>& state,
                       const std::string& subject) {
  auto params = module.named_parameters(/*recurse=*/true);
  std::set<std::string> seen;
  torch::NoGradGuard no_grad;
  for (const auto& [key, t] : state) {
    auto* p = params.find(key);
    if (!p)
      throw InputError(describe("bad checkpoint", subject, "unexpected tensor '" + key + "'"));
    std::vector<int64_t> want(p->sizes().begin(), p->sizes().end());
    if (want != t.shape) {
      auto dims = [](const std::vector<int64_t>& v) {
        std::string s;
        for (size_t i = 0; i < v.size(); ++i) s += (i ? "x" : "") + std::to_string(v[i]);
        return s.empty() ? std::string("scalar") : s;
      };
      throw InputError(
          describe("bad checkpoint", subject,
                   "tensor '" + key + "' has shape " + dims(t.shape) + ", expected " + dims(want)));
    }
    auto src = torch::from_blob(const_cast<float*>(t.data.data()), t.shape, torch::kFloat);
    p->copy_(src);
    seen.insert(key);
  }
  for (const auto& item : params) {
    if (!seen.count(item.key()))
      throw InputError(describe("bad checkpoint", subject, "missing tensor '" + item.key() + "'"));
  }
}

}  // namespace rz::nn
