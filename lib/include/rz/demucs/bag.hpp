// Reader for demucs' bag-of-models YAML files (htdemucs_ft.yaml, ...), without a YAML library.
//
// Hand-written rather than yaml-cpp: it accepts only the 3-key subset below and refuses the rest
// of YAML (anchors, tags, mappings) instead of parsing it; its "line N: <reason>" messages are
// asserted by tests/model/test_checkpoint.cpp; it bounds size and nesting and is fuzzed
// (tests/fuzz/fuzz_bag.cpp); and rz_core, which every tool links, needs no YAML library for it.
// The RoFormer configs of MSST (full YAML) will be read with yaml-cpp instead.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rz::demucs {

// A bag of models in demucs' YAML format (e.g. htdemucs_ft.yaml):
//   models: ['f7e0c4bc', 'd12395a8']     # or a block list: "- f7e0c4bc" lines
//   weights: [[1., 0.], [0., 1.]]         # optional; flow lists may span lines
//   segment: 44                           # optional, seconds
struct Bag {
  std::vector<std::string> models;  // model names (checkpoint `name`s), in order
  // weights[i][k]: weight of model i for source k. Empty when the file has none, which means
  // weight 1 for every model and source. Otherwise one row per model, all rows of equal length.
  std::vector<std::vector<double>> weights;
  std::optional<double> segment;  // seconds; demucs applies it only to non-HTDemucs members
};

// Parses the YAML subset above: top-level keys `models`, `weights` and `segment`; flow lists
// `[a, b]` (nested up to 16 levels, multi-line, trailing comma allowed) and block lists `- a`;
// plain, 'single'- or "double"-quoted scalars; `#` comments. Weights are numbers in 0..1000.
// Anything else throws rz::InputError ("bad model bag '<path>': line N: <reason>"). The file must
// be a regular file of at most 1 MiB ("cannot read '<path>': ...").
Bag read_bag(const std::filesystem::path& yaml);
// The same for bag text already read; `path` names it in messages.
Bag parse_bag(std::string text, const std::filesystem::path& path);

}  // namespace rz::demucs
