// rz-transform's library side: pitch shift and tempo change of the stems of a stem directory,
// with the stems kept sample-aligned with each other.
//
// Over Rubber Band (Debian's librubberband, 3.1), in its offline mode: a study pass over each
// stem, then the processing pass, with the library's own delay compensation, so the output
// starts where the input starts and lasts exactly round(frames / tempo) frames. Why Rubber Band
// and not SoundTouch (LGPL): a phase vocoder with phase locking and multi-resolution analysis
// (R3) against SoundTouch's WSOLA, which stretches by repeating or dropping whole waveform
// segments in the time domain and so smears or doubles attacks and beats on sustained chords;
// and only Rubber Band preserves formants when shifting pitch (--formant preserve, which a sung
// line needs). Rubber Band is
// GPL-2.0-or-later: this module is its own library (rz_transform), linked only by rz-transform,
// and built only when RZ_WITH_RUBBERBAND is ON (the default); a distributed rz-transform binary
// is a work under the GPL (README, "Licence").
//
// Rubber Band's R3 ("finer") engine only. Its R2 ("faster") engine was measured beside it
// (tests/unit/test_transform.cpp's signals) and fails two of the tool's bars: a shifted sine lands
// up to 2.4 cents off (R3: within 0.001), and with a pitch shift of -3 or +4 semitones an
// attack's 10-90 % rise grows from 1.5 ms to 40 ms (R3, standard window: at most 7.5 ms over
// tempos 0.5 to 2).
//
// Sample alignment: every stem has its own stretcher (on its own thread), and every stretcher
// gets the same key-frame map, input frame k -> output frame round(k / tempo) every
// kKeyFrameSeconds. Rubber Band 3.1's R3 already follows that uniform time line in offline mode
// (with and without the map the output is the same, bit for bit: tests/unit/test_transform.cpp),
// and it honours a map (one offset by 10 ms moved a stem's hits by 10 to 16 ms): the map keeps
// the stems on one time line should a later version time each stem by its own content.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::transform {

// The limits of the options: two octaves either way (beyond, every method sounds like an
// effect, not the instrument), and a quarter to four times the tempo.
inline constexpr double kMaxPitchSemitones = 24.0;
inline constexpr double kMinTempo = 0.25;
inline constexpr double kMaxTempo = 4.0;
// R3's analysis window. "standard" is its full multi-resolution analysis: the sharper attacks (on
// the tests' struck hits, over tempos 0.5 to 2 and shifts up to an octave, every onset keeps a
// slope of 6.5 dB/ms or more, against down to 2.1 dB/ms with "short"), at about 9x real time per
// stereo stem on one core of a 2-core EPYC. "short" is a single short window, about 3x faster
// (27x there), as exact in pitch and length, with softer attacks when the tempo rises or the
// pitch moves far: for previews and long sets (bench/transform.sh).
enum class Window { kStandard, kShort };

// Key frames of the shared time map (see above): close enough that no stem could drift audibly
// between them, hundreds of R3's hops apart.
inline constexpr double kKeyFrameSeconds = 0.5;

struct Options {
  double pitch_semitones = 0.0;  // > 0 up; fractions are cents (0.5 = 50 cents)
  double tempo = 1.0;            // > 1 faster and shorter
  bool preserve_formants = false;
  Window window = Window::kStandard;
  // The stems whose pitch changes (empty: all). A tempo change applies to every stem: a stem
  // directory's stems share one length.
  std::vector<std::string> stems;
  int threads = 0;                        // stems processed at once; 0: one per core
  double key_frame_s = kKeyFrameSeconds;  // the shared time line's key frames; 0: none

  // Ranges above, a finite pitch and tempo, known stem names. Throws UsageError.
  void validate(const stems::StemDir& dir) const;
  nlohmann::json to_json() const;
  double pitch_scale() const;  // 2^(semitones / 12)
  double time_ratio() const;   // output length over input length: 1 / tempo
};

Window parse_window(const std::string& name);  // "standard", "short"; UsageError otherwise
std::string window_name(Window window);

struct Report : stage::StageReport {
  std::vector<std::string> transformed;  // stems written anew
  std::vector<std::string> copied;       // stems copied bit for bit
  int64_t frames_in = 0, frames_out = 0;
};

// Transforms `in` into a new stem directory at `output` (refused if it exists unless `force`):
// the stems `options` selects shifted in pitch, every stem changed in tempo, the rest copied bit
// for bit (with neither a pitch shift nor a tempo change, every stem is copied). One history
// entry records the parameters and, per stem, what was done with its peak level. Nothing is
// left at `output` when this throws.
Report transform(const stems::StemDir& in, const std::filesystem::path& output, bool force,
                 const Options& options, const nlohmann::json& provenance,
                 const Progress& progress);

// The Rubber Band library's version ("3.1.2"), for --version and the manifest.
std::string library_version();

}  // namespace rz::transform
