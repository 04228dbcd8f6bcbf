// rz-mix's library side: a gain-staged, streaming sum of the stems of a stem directory.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rz/audio/decode.hpp"
#include "rz/audio/file.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::mix {

struct StemSettings {
  double gain_db = 0.0;
  bool mute = false;
  bool solo = false;
  double pan = 0.0;  // -1 left .. +1 right; a balance control on stereo (0 = unchanged)
};

// Which stems are in the sum. Every ordinary stem plays at unity unless muted or another is
// soloed. A removed stem (role "removed": crowd, noise, reverb a stage took out) is left out unless
// `keep` names it or it is soloed (an explicit choice); kept, it is an ordinary member of the sum.
struct Options {
  std::map<std::string, StemSettings> stems;  // stems not named here play at unity
  std::vector<std::string> keep;              // removed stems to bring into the sum (--keep)
  double master_gain_db = 0.0;

  // Reads {"master_gain_db": x, "keep": ["crowd"], "stems": {"vocals": {"gain_db": 3, "mute":
  // false, "solo": false, "pan": -0.2}}}; throws UsageError naming a bad field.
  static Options from_json(const nlohmann::json& j, const std::string& subject);
  nlohmann::json to_json() const;
  // Stem names must exist in `dir`; pan needs stereo; `keep` names only removed stems; a removed
  // stem left out takes no gain or pan (that would be lost silently: --keep it); some stem must
  // be admitted (not all removed and left out: "nothing to mix"). Throws UsageError.
  void validate(const stems::StemDir& dir) const;
  // Whether the stem `stem` plays a part in the sum by its role: an ordinary stem always, a
  // removed one when kept or soloed. (Mute and solo still apply to those that do.)
  bool admits(const stems::StemEntry& stem) const;
  // Applies the command line's NAME=DB gains, NAME=P pans, mutes and solos (parse_assignment).
  void apply_flags(const std::vector<std::string>& gains, const std::vector<std::string>& pans,
                   const std::vector<std::string>& mutes, const std::vector<std::string>& solos);
};

// Per-stem linear gains per output channel after mute/solo/gain/pan.
struct StemGains {
  std::string name;
  std::vector<double> channel_gain;
};
std::vector<StemGains> resolve_gains(const stems::StemDir& dir, const Options& options);
// The removed stems of `dir` that their role alone keeps out of the sum (not admitted, not muted,
// no stem soloed), in manifest order: what --keep would bring in.
std::vector<std::string> left_out_removed(const stems::StemDir& dir, const Options& options);
// One note per stem left out ("crowd: removed stem, left out (--keep crowd brings it in)") added
// to `report`; rz-mix and rz-master say the same.
void note_left_out(const std::vector<std::string>& left_out, stage::StageReport& report);

// Streams the weighted sum of the stems (float, never clipped).
class StemSum {
 public:
  StemSum(const stems::StemDir& dir, const Options& options);
  // Interleaved; 0 at the end. With every stem muted: silence as long as the directory.
  size_t read(float* out, size_t frames);
  int channels() const { return channels_; }
  int sample_rate_hz() const { return rate_; }
  int64_t frames() const { return frames_; }
  const std::vector<StemGains>& gains() const { return gains_; }

 private:
  int channels_;
  int rate_;
  int64_t frames_;
  int64_t position_ = 0;
  std::vector<StemGains> gains_;
  std::vector<audio::Reader> readers_;
  std::vector<float> scratch_;
  std::vector<double> acc_;
};

// What a directory or a recording sounds like as a whole, streamed: an audio file itself (any
// format audio::DecodedFile opens), a stem directory's one stem, or the unity sum of its ordinary
// stems (StemSum with default Options: removed stems left out). rz-analyze and rz-report measure
// this "programme".
class Programme {
 public:
  explicit Programme(const std::filesystem::path& file);
  explicit Programme(const stems::StemDir& dir);
  // Interleaved; 0 at the end.
  size_t read(float* out, size_t frames);
  int channels() const { return channels_; }
  int sample_rate_hz() const { return rate_; }
  int64_t frames() const { return frames_; }
  bool is_sum() const { return sum_.has_value(); }

 private:
  std::optional<StemSum> sum_;
  std::optional<audio::DecodedFile> file_;
  int channels_ = 0, rate_ = 0;
  int64_t frames_ = 0;
  void take_file_info();
};

struct Report : stage::StageReport {
  double peak_dbfs = 0;
  double headroom_db = 0;  // -peak_dbfs: positive means below full scale
  double integrated_lufs = 0;
  std::vector<std::string> active_stems;
  std::vector<std::string> left_out;  // removed stems left out (left_out_removed)
};

Report mix(const stems::StemDir& in, const std::filesystem::path& output, bool force,
           const Options& options, const nlohmann::json& provenance, const Progress& progress);

// Parses "NAME=VALUE" (for --gain and --pan).
std::pair<std::string, double> parse_assignment(const std::string& text, const std::string& flag);

}  // namespace rz::mix
