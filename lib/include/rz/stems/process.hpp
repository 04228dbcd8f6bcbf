// Shared by the stages that rewrite stems one by one (rz-enhance, rz-restore, rz-dereverb): copying
// a stem through unchanged, and running a chain of dsp::Processor blocks over a stem file with the
// chain's latency compensated, so the output lines up with the input sample for sample.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "rz/dsp/processor.hpp"
#include "rz/progress.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::stems {

// Frames per block read from a stem file.
inline constexpr size_t kStemBlockFrames = 8192;

// Adds `stem` (file `src`) to `out` unchanged (a float stem is first checked for non-finite
// samples): a WAV bit for bit (its encoding recorded as
// "wav/<encoding>"), another container (FLAC...) decoded to a float WAV. Its role goes with it.
void copy_stem(StemDirWriter& out, const StemEntry& stem, const std::filesystem::path& src);

// Sees aligned blocks: `in` the input frames, `out` the chain's output for exactly those frames.
using BlockObserver = std::function<void(const float* in, const float* out, size_t frames)>;

struct ProcessedFile {
  int64_t frames = 0;
  std::string sha256;  // of the written file's bytes
};

// Runs `chain` (in order) over `src` into a float32 WAV at `dst`, same rate, channels and length;
// the first sum-of-latencies output frames are dropped and the tail is flushed with silence.
// `observer` (may be empty) sees every input block with its output. Progress reports `stage`.
// Refuses non-finite input samples (audio::check_finite); checks for interruption between blocks.
ProcessedFile process_file(const std::filesystem::path& src, const std::filesystem::path& dst,
                           const std::vector<dsp::Processor*>& chain, const BlockObserver& observer,
                           const std::string& stage, const Progress& progress);

// Reads `src` block by block, handing each block (interleaved, `frames` frames) to `on_block`;
// refuses non-finite samples (audio::check_finite), checks for interruption and reports progress as
// `stage`. Returns the frames read.
int64_t scan_file(const std::filesystem::path& src,
                  const std::function<void(const float* block, size_t frames)>& on_block,
                  const std::string& stage, const Progress& progress);

}  // namespace rz::stems
