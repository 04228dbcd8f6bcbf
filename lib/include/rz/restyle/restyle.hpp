// rz-restyle's library side: granular re-styling of stems with the grains of another sound.
//
// For each selected stem:
// 1. Analyse (one streaming pass over the stem): the mono sum (mean of the channels) goes to the
//    onset detector and the pitch tracker of rz-analyze (rz/analyze/notes.hpp); each channel's
//    energy is kept per envelope hop (kEnvelopeHopS).
// 2. Segment: [0, first onset) when it is not silent, then [onset_i, onset_i+1), the last up to
//    the end; boundaries on the envelope hop grid. Per segment: pitch (segment_pitch: the median
//    of the voiced pitch frames inside it, 0 = unvoiced) and level (RMS, dBFS, of the mono sum).
//    A segment under kSilentSegmentDbfs stays silent.
// 3. Choose a grain of the style's library (GrainLibrary) per segment: the nearest pitch in cents
//    (a voiced segment among the voiced grains, an unvoiced one among the unvoiced grains, each
//    from all grains when there is none of its kind); grains within kEqualPitchCents of the
//    nearest count as equally near and the seeded generator picks one. Without pitch mapping the
//    generator picks among all grains.
// 4. Render (streaming, second pass): the grain tiled over the segment (looped with raised-cosine
//    crossfades of kLoopFadeS when shorter), times a per-channel gain curve at the hop rate,
//    linearly interpolated: the ratio of the original channel's smoothed RMS envelope to the
//    tile's (whose own envelope is floored kEnvelopeFloorDb under the tile's RMS, so the ratio
//    never blows up), scaled so the segment's energy on each channel equals the original's. With
//    envelope following off, one gain per segment and channel (the level match only). Each
//    channel's gains come from that channel, so a stereo stem keeps its panning. Neighbouring
//    segments meet in raised-cosine crossfades of kSeamS centred on the boundary. The output has
//    the input's length, rate and channels.
//
// Every choice is recorded: the grain library once in the history entry's parameters (with the
// style's path and SHA-256), per stem its segments (onset_s, end_s, pitch_hz, level_dbfs, grain,
// gain_db). Same input, style, options and seed give identical output.
//
// The random generator of a stem is std::mt19937_64 seeded through std::seed_seq with the seed's
// two 32-bit halves and those of the FNV-1a hash of the stem's name (both fully specified by the
// standard), and an index in [0, n) is drawn by rejection (pick_index): the choices are the same
// with every standard library, and a stem's choices do not depend on which other stems run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "rz/analyze/notes.hpp"
#include "rz/dsp/processor.hpp"
#include "rz/params.hpp"
#include "rz/progress.hpp"
#include "rz/stage/report.hpp"
#include "rz/stems/stem_dir.hpp"

namespace rz::restyle {

// Envelope hop: the grid of segment boundaries and of the gain curves. 2.5 ms: finer than the
// onset detector's own hop (5.8 ms), coarse enough that the per-hop data of a 3-hour stem stays
// small (4.3 M hops, a float per channel).
inline constexpr double kEnvelopeHopS = 0.0025;
// Smoothing of the RMS envelopes (Hann-weighted over this span): more than the period of the
// lowest bass note (E1, 41 Hz: 24 ms), so that neither envelope ripples at the fundamental and
// the gain curve does not modulate the grain at its pitch.
inline constexpr double kEnvelopeWindowS = 0.03;
// The tile's envelope is floored this far under the tile's RMS over the segment: the envelope
// ratio is at most ~30 dB above the level match, also where the tile dips.
inline constexpr double kEnvelopeFloorDb = -30.0;
// Crossfade between neighbouring segments (raised cosine, two envelope hops, centred on the
// boundary): long enough that no seam steps, short enough to keep an attack's edge.
inline constexpr double kSeamS = 2 * kEnvelopeHopS;
// Crossfade where a grain loops (raised cosine), at most a quarter of the grain.
inline constexpr double kLoopFadeS = 0.01;
// Segments (and grains) quieter than this stay silent (resp. are not grains): aubio's own silence
// gate for the pitch tracker.
inline constexpr double kSilentSegmentDbfs = -60.0;
// Grains whose pitch lies within this many cents of the nearest are equally near (a quarter of a
// semitone: closer than any two notes of a scale); the seeded generator picks among them.
inline constexpr double kEqualPitchCents = 25.0;
// A segment or grain is voiced when at least this share of its sounding pitch frames (those over
// kSilentSegmentDbfs) is voiced, and at least kMinVoicedFrames (30 ms) are.
inline constexpr double kMinVoicedShare = 1.0 / 3.0;
inline constexpr int kMinVoicedFrames = 3;
// An onset this close to the start or the end of the stem makes no segment of its own.
inline constexpr double kMinSegmentS = 0.02;
// The style is split on silence, in frames of kStyleFrameS: a frame is silent when its RMS is more
// than kStyleSilenceBelowLoudDb under the style's loud level (the 95th percentile of its frames'
// levels) or under kStyleSilenceFloorDbfs; kMinSilenceS of silent frames in a row split the sound
// (a shorter gap, a breath or a stop, stays inside its stretch). A stretch (or a remainder) shorter
// than kMinGrainS makes no grain: under two periods of a low note.
inline constexpr double kStyleFrameS = 0.01;
inline constexpr double kStyleSilenceBelowLoudDb = 40.0;
inline constexpr double kStyleSilenceFloorDbfs = -70.0;
inline constexpr double kMinSilenceS = 0.05;
inline constexpr double kMinGrainS = 0.02;
// A longer style sound is refused (it is held in memory, mono, at the stem's rate).
inline constexpr double kMaxStyleS = 600.0;

struct Options {
  std::filesystem::path style;     // the style sound: any file audio::DecodedFile opens
  double grain_ms = 120.0;         // grain length
  uint64_t seed = 0;               // drives every choice among equally near grains
  bool pitch_map = true;           // false: any grain, at random
  bool envelope = true;            // false: the segment's level only
  std::vector<std::string> stems;  // stems to touch (empty: all but removed ones); others copied

  // The numeric settings (key, unit, range, meaning, flag): --grain-ms.
  static const params::Fields<Options>& fields();
  // Ranges (UsageError naming the flag), a style named, the stems exist in `in`.
  void validate(const stems::StemDir& in) const;
  nlohmann::json to_json() const;
};

struct Grain {
  int64_t start = 0;                                 // first frame in GrainLibrary::audio
  int64_t frames = 0;                                // length
  double pitch_hz = 0;                               // 0: unvoiced
  double level_dbfs = 0;                             // RMS
  nlohmann::json to_json(int sample_rate_hz) const;  // start_s, end_s, pitch_hz, level_dbfs
};

// The grains of a style sound: its mono sum at the stems' rate and where each grain lies in it.
struct GrainLibrary {
  int sample_rate_hz = 0;
  std::vector<float> audio;
  std::vector<Grain> grains;
  int regions = 0;  // non-silent stretches the grains were cut from
  nlohmann::json to_json() const;
};

// Splits `mono` (at `sample_rate_hz`) on silence and cuts each sounding region into grains of
// `grain_ms`: a remainder of half a grain or more is a grain of its own, a shorter one joins the
// region's last grain; a region shorter than a grain is one grain when at least kMinGrainS long.
// The library may be empty (a silent or too short sound): callers refuse that.
GrainLibrary build_grain_library(std::vector<float> mono, int sample_rate_hz, double grain_ms);
// Decodes `path` (audio::DecodedFile), mixes it to mono, resamples it to `sample_rate_hz` and
// builds its library. Throws InputError when it cannot be read, UsageError when it is longer than
// kMaxStyleS or yields no grain ("no sound above the silence threshold" or "no sounding stretch
// of 20 ms").
GrainLibrary load_style(const std::filesystem::path& path, int sample_rate_hz, double grain_ms,
                        const Progress& progress);

// One streaming pass over a stem (or a style sound): onsets and the pitch track of the mono sum,
// each channel's energy (sum of squares) per envelope hop.
struct Analysis {
  int channels = 0;
  int sample_rate_hz = 0;
  int64_t frames = 0;
  int64_t hop_frames = 0;
  std::vector<double> onsets_s;
  analyze::PitchTrack pitch;
  std::vector<std::vector<double>> hop_energy;  // [channel][hop]
  std::vector<double> mono_energy;              // of the mono sum, per hop
  int64_t hops() const { return static_cast<int64_t>(mono_energy.size()); }
};

class Analyzer {
 public:
  Analyzer(int channels, int sample_rate_hz, bool onsets = true);
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;
  void add(const float* interleaved, size_t frames);
  Analysis finish();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// The envelope hop of a rate, in frames.
int64_t hop_frames(int sample_rate_hz);

// Median pitch (Hz) of the voiced frames of `a.pitch` whose centres lie in frames [begin, end); 0
// when too few of them are voiced (kMinVoicedShare, kMinVoicedFrames).
double segment_pitch(const Analysis& a, int64_t begin, int64_t end);

struct Segment {
  int64_t begin_hop = 0, end_hop = 0;    // [begin, end) on the envelope hop grid
  bool onset = true;                     // false for the stretch before the first onset
  double pitch_hz = 0;                   // 0: unvoiced
  double level_dbfs = 0;                 // RMS of the mono sum
  int grain = -1;                        // -1: silent
  double gain_db = 0;                    // segment RMS minus the grain's (mono), when not silent
  std::vector<std::vector<float>> gain;  // [channel][hop from begin_hop - 1 to end_hop + 1)
};

struct StemPlan {
  int channels = 0;
  int sample_rate_hz = 0;
  int64_t frames = 0;
  int64_t hop_frames = 0;
  std::vector<Segment> segments;
  int silent_segments() const;
  int grains_used() const;
  // {"onsets": n, "segments": [{onset_s, end_s, pitch_hz, level_dbfs, grain, gain_db}, ...]}
  nlohmann::json to_json() const;
};

// The generator of stem `stem_name` for `seed` (see the file's comment).
std::mt19937_64 stem_generator(uint64_t seed, const std::string& stem_name);
// A uniform index in [0, n) from `rng` by rejection (n > 0): the same on every standard library.
size_t pick_index(std::mt19937_64& rng, size_t n);

// Steps 2 and 3 and the gain curves of step 4: what the renderer plays.
StemPlan plan_stem(const Analysis& analysis, const GrainLibrary& library, const Options& options,
                   std::mt19937_64& rng);

// Step 4 as a streaming block: output frame t is the plan's rendering at t (the input is only
// counted); statistics() reports the output's peak.
class Renderer : public dsp::Processor {
 public:
  Renderer(std::shared_ptr<const StemPlan> plan, std::shared_ptr<const GrainLibrary> library);
  void process(const float* in, float* out, size_t frames) override;
  int channels() const override { return plan_->channels; }
  nlohmann::json statistics() const override;

 private:
  std::shared_ptr<const StemPlan> plan_;
  std::shared_ptr<const GrainLibrary> library_;
  int64_t position_ = 0;
  size_t first_ = 0;  // the first segment whose extended span reaches position_
  float peak_ = 0;
};

// The whole of steps 1-4 on interleaved audio in memory (tests, small inputs): the output (same
// length and channels) and the plan.
struct Restyled {
  std::vector<float> audio;
  StemPlan plan;
};
Restyled restyle_audio(const std::vector<float>& interleaved, int channels, int sample_rate_hz,
                       const GrainLibrary& library, const Options& options,
                       const std::string& stem_name);

using Report = stage::StageReport;

// rz-restyle: every selected stem of `in` re-styled into a new stem directory at `output`
// (stage::run_stems: others copied bit for bit, roles kept, one history entry, atomic commit).
Report restyle(const stems::StemDir& in, const std::filesystem::path& output, bool force,
               const Options& options, const nlohmann::json& provenance, const Progress& progress);

}  // namespace rz::restyle
