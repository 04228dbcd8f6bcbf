// rz-phone-sim: turn a clean recording into a simulated phone recording of it in a crowd.
//
// The test inputs of bench/quality.sh: the clean original is known, so what an enhancer recovers
// can be measured against it (--reference writes it aligned with the output). Every effect is
// optional; those given run in this fixed order, the order of a phone at a concert:
//
//   1. --ir FILE       room reverb: FFT convolution with an impulse response (1 channel: applied
//                      to both; 2: per channel; 4: true stereo L->L, L->R, R->L, R->R). Alignment:
//                      each output channel is advanced by p frames and its sign taken out,
//                      y[n] = sign * (x * h)[n + p], with p the lag in the direct region of its
//                      direct route (L->L, or the IR's left channel, for the left output: from
//                      the first frame within 20 dB of the largest |h| to 2.5 ms after it) where
//                      it correlates best with the clean channel. The direct sound then lines up
//                      with the clean input, so SI-SDR against it is meaningful (the IR's frames
//                      before p act as pre-echo). The reverberant signal is cut to the input's
//                      length and scaled, one gain for both channels, to the clean input's power
//                      (sum of squares): the room changes the sound, not the level. --ir-wet DB
//                      scales the IR outside the direct path (p +/- 2.5 ms, the usual window of the
//                      direct-to-reverberant ratio) for a wetter or drier room.
//   2. --noise FILE    crowd noise at --snr DB. Fades at the noise recording's edges are trimmed;
//                      it is looped when shorter than
//                      needed (a seamless loop: its last second cross-faded, equal power, into its
//                      first) and read from a --seed-chosen offset. With s the music as it reaches
//                      the microphone (after step 1) and n the scaled noise:
//                          SNR = 10 log10( sum s^2 / sum n^2 )
//                      with both sums over every channel and every frame of the music (the
//                      --noise-lead frames excluded). --noise-lead S puts S seconds of crowd alone
//                      before the music, for noise estimators to learn from.
//   3. --band LO:HI    the phone's microphone and OS filtering: a high-pass at LO Hz with 24 dB per
//                      octave (a 4th-order Butterworth's slope) and a low-pass at HI Hz with 48 dB
//                      per octave (8th order; --band-lowpass-order N for 6 N dB per octave, e.g.
//                      16 for the steep low-pass of a lossy coder at a low bitrate); 0 or empty
//                      turns a side off. By default the filters
//                      have zero phase (Butterworths of half the order run forwards and backwards:
//                      -6 dB at the corners): a phone's filters are minimum phase, but that phase
//                      shift alone (a few frames of delay from the low-pass, a large rotation
//                      below 300 Hz from the high-pass) costs 10 to 20 dB of SI-SDR on music
//                      without removing anything, and no enhancer can know to undo it; the
//                      benchmark should measure the lost bands. --band-causal applies the 4th- and
//                      8th-order Butterworths themselves once, with their phase.
//   4. --clip DB       overload of the microphone/ADC at concert levels: the signal is scaled so
//                      that its sample peak lies --clip-drive dB (default 6) above DB dBFS, then
//                      hard-clipped at DB dBFS. --clip-ratio R instead clips, without any gain, at
//                      the level that a share R of the samples reach (the |x| quantile 1 - R), so
//                      that R of them sit at the clip level and the clean input remains the
//                      reference sample for sample (de-clipping benchmarks).
//   5. --agc           a phone's slow automatic gain control: a 0.2 s mean-square detector (both
//                      channels) steers one gain towards --agc-target dBFS RMS (10 log10 of the
//                      mean square, default -20), falling with --agc-attack (0.5 s) and rising
//                      with --agc-release (3 s) time constants, within +/- --agc-max-gain (20 dB),
//                      held while the input is below -60 dBFS. It starts at the gain for the first
//                      second's level. Pumping is the point.
//   6. --codec C[:K]   lossy coding through libsndfile and back: mp3 (LAME, constant bitrate K
//                      kbps), vorbis (quality chosen for a nominal K kbps) or opus (K kbps, coded
//                      at 48 kHz and resampled back). The decoder's delay is measured by cross-
//                      correlating the decoded audio with the coder's input (lags up to +/- 8192
//                      frames) and removed, then the length is restored: libsndfile trims the
//                      encoder delay from mp3 only when LAME wrote its gapless header, which it
//                      skips at low bitrates (at 56 kbps 1105 frames of delay remain).
//
// Input: any recording rz-ingest reads (libsndfile, else ffmpeg), mono or stereo, resampled to
// 44.1 kHz; --start/--duration crop it. Output: 44.1 kHz stereo float WAV (a mono input is
// duplicated). --reference writes the clean input the same way, with silence under the noise lead:
// the same length as the output and aligned with it (without effects the two files are identical).
// With --ir and --reference-early MS, the reference is instead the early sound: the clean input
// through only the first MS of each IR route, counted from the direct path's onset (its first
// frame within 20 dB of the largest |h|), aligned and scaled exactly like the reverberant output
// (dereverberation benchmarks: 50 ms is the usual early/late boundary of C50 and D50).
// --seed drives every random choice (the noise offset): the same arguments give the same files.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "rz/audio/decode.hpp"
#include "rz/audio/file.hpp"
#include "rz/audio/resample.hpp"
#include "rz/cli/tool.hpp"
#include "rz/dsp/biquad.hpp"
#include "rz/dsp/convolve.hpp"
#include "rz/error.hpp"
#include "rz/stems/stem_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kRate = 44100;
constexpr size_t kChannels = 2;
constexpr size_t kReadBlockFrames = 65536;
// Half-width of the direct-path window of an IR (the common choice for the direct-to-
// reverberant ratio: +/- 2.5 ms around the peak).
constexpr double kDirectHalfWidthS = 0.0025;
// Edges of the noise recording quieter than its median 100 ms level by this are trimmed (fades).
constexpr double kFadeTrimDb = 6.0;
// Cross-fade of the noise loop: one second, or a quarter of a short noise recording.
constexpr double kLoopFadeS = 1.0;
// How much of the signal the reverb alignment correlates (2^19 frames, 11.9 s).
constexpr size_t kAlignFrames = size_t{1} << 19;
constexpr int kHighpassOrder = 4;
constexpr int kLowpassOrder = 8;
constexpr double kAgcDetectorS = 0.2;
constexpr double kAgcGateDbfs = -60.0;
constexpr double kAgcStartS = 1.0;
// Largest codec delay searched for (LAME's 576 + 529 frames is the largest seen), and how much of
// the signal the cross-correlation looks at (23.8 s is plenty to make the peak unambiguous).
constexpr int64_t kCodecMaxLagFrames = 8192;
constexpr size_t kCodecXcorrFrames = size_t{1} << 20;

double db_power(double ratio) { return 10.0 * std::log10(ratio); }
double from_db(double db) { return std::pow(10.0, db / 20.0); }

// Interleaved stereo at 44.1 kHz.
struct Stereo {
  std::vector<float> x;
  size_t frames() const { return x.size() / kChannels; }
  double energy() const {
    double e = 0;
    for (float v : x) e += double(v) * v;
    return e;
  }
  std::vector<float> channel(size_t c) const {
    std::vector<float> out(frames());
    for (size_t i = 0; i < out.size(); ++i) out[i] = x[i * kChannels + c];
    return out;
  }
};

// A whole recording, interleaved, resampled to 44.1 kHz.
struct Recording {
  int channels = 0;
  int source_rate_hz = 0;
  std::vector<float> x;
  size_t frames() const { return x.size() / static_cast<size_t>(channels); }
};

Recording load(const fs::path& path) {
  rz::audio::DecodedFile file(path, {});
  Recording rec;
  rec.channels = file.info().channels;
  rec.source_rate_hz = file.info().sample_rate_hz;
  const size_t ch = static_cast<size_t>(rec.channels);
  std::vector<float> block(kReadBlockFrames * ch);
  std::vector<float> raw;
  size_t got;
  while ((got = file.reader().read(block.data(), kReadBlockFrames)) > 0) {
    raw.insert(raw.end(), block.begin(), block.begin() + static_cast<std::ptrdiff_t>(got * ch));
    rz::throw_if_interrupted();
  }
  if (raw.empty()) throw rz::InputError("cannot use", path.string(), "no audio in it");
  if (rec.source_rate_hz == kRate) {
    rec.x = std::move(raw);
  } else {
    rz::audio::Resampler rs(rec.channels, rec.source_rate_hz, kRate,
                            rz::audio::ResampleQuality::kMedium);
    rs.process(raw.data(), raw.size() / ch, true, rec.x);
  }
  return rec;
}

// Mono or stereo as stereo; anything else refused naming `what` ("input", "noise").
Stereo as_stereo(const Recording& rec, const fs::path& path, const std::string& what) {
  if (rec.channels != 1 && rec.channels != 2) {
    throw rz::InputError("cannot use " + what, path.string(),
                         std::to_string(rec.channels) + " channels; give it mono or stereo");
  }
  Stereo s;
  if (rec.channels == 2) {
    s.x = rec.x;
  } else {
    s.x.resize(rec.x.size() * kChannels);
    for (size_t i = 0; i < rec.x.size(); ++i) s.x[2 * i] = s.x[2 * i + 1] = rec.x[i];
  }
  return s;
}

// --- the settings -----------------------------------------------------------------------------

struct Band {
  double low_hz = 0;   // 0: no high-pass
  double high_hz = 0;  // 0: no low-pass
};

// "LO:HI", either side empty or 0 for none.
Band parse_band(const std::string& text) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos) {
    throw rz::UsageError(
        rz::describe("bad --band", text, "expected LOW_HZ:HIGH_HZ, e.g. 120:16000"));
  }
  auto number = [&](const std::string& part) {
    if (part.empty()) return 0.0;
    char* end = nullptr;
    const double v = std::strtod(part.c_str(), &end);
    if (end == part.c_str() || *end != '\0' || !std::isfinite(v) || v < 0) {
      throw rz::UsageError(rz::describe("bad --band", text, "'" + part + "' is not a frequency"));
    }
    return v;
  };
  Band b{number(text.substr(0, colon)), number(text.substr(colon + 1))};
  if (b.low_hz == 0 && b.high_hz == 0) {
    throw rz::UsageError(rz::describe("bad --band", text, "both sides are off"));
  }
  if (b.low_hz >= kRate / 2 || b.high_hz >= kRate / 2) {
    throw rz::UsageError(rz::describe("bad --band", text, "corners must lie below 22050 Hz"));
  }
  if (b.low_hz > 0 && b.high_hz > 0 && b.low_hz >= b.high_hz) {
    throw rz::UsageError(
        rz::describe("bad --band", text, "the low corner must lie below the high"));
  }
  return b;
}

struct Codec {
  std::string name;        // mp3, vorbis, opus
  double kbps = 128;       // requested (stereo) bitrate
  double compression = 0;  // libsndfile's SFC_SET_COMPRESSION_LEVEL, 0 best .. 1 smallest
};

// Nominal bitrates of libvorbis for 44.1 kHz stereo at qualities 0.0, 0.1, ... 1.0 (libvorbis'
// -q 0..10); libsndfile sets quality 1 - compression.
constexpr double kVorbisKbps[] = {64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500};

// "NAME[:KBPS]" to libsndfile's compression level, from libsndfile 1.2's own mappings (linear in
// the bitrate for mp3 and opus, through libvorbis' quality table for vorbis).
Codec parse_codec(const std::string& text) {
  Codec c;
  const size_t colon = text.find(':');
  c.name = text.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string part = text.substr(colon + 1);
    char* end = nullptr;
    c.kbps = std::strtod(part.c_str(), &end);
    if (part.empty() || *end != '\0' || !std::isfinite(c.kbps)) {
      throw rz::UsageError(rz::describe("bad --codec", text, "'" + part + "' is not a bitrate"));
    }
  } else if (c.name == "opus") {
    c.kbps = 64;
  }
  auto range = [&](double lo, double hi) {
    if (c.kbps < lo || c.kbps > hi) {
      throw rz::UsageError(rz::describe(
          "bad --codec", text,
          c.name + " takes " + rz::fixed(lo, 0) + " to " + rz::fixed(hi, 0) + " kbps"));
    }
  };
  if (c.name == "mp3") {
    // MPEG-1 layer III: bitrate = 320 - compression * (320 - 32) kbps, constant (LAME rounds to
    // the nearest standard rate).
    range(32, 320);
    c.compression = (320 - c.kbps) / (320 - 32);
  } else if (c.name == "opus") {
    // Per channel: bitrate = 6 + (1 - compression) * (256 - 6) kbps.
    range(12, 512);
    c.compression = 1 - (c.kbps / 2 - 6) / (256 - 6);
  } else if (c.name == "vorbis") {
    range(kVorbisKbps[0], kVorbisKbps[10]);
    size_t i = 0;
    while (i + 1 < 10 && c.kbps > kVorbisKbps[i + 1]) ++i;
    const double q = (i + (c.kbps - kVorbisKbps[i]) / (kVorbisKbps[i + 1] - kVorbisKbps[i])) / 10;
    c.compression = 1 - q;
  } else {
    throw rz::UsageError(rz::describe("bad --codec", text, "use mp3, vorbis or opus[:KBPS]"));
  }
  c.compression = std::clamp(c.compression, 0.0, 1.0);
  return c;
}

struct Agc {
  double target_dbfs = -20;
  double attack_s = 0.5;
  double release_s = 3.0;
  double max_gain_db = 20;
};

struct Settings {
  double start_s = 0;
  double duration_s = 0;  // 0: to the end
  std::string ir;
  double ir_wet_db = 0;
  std::string noise;
  double snr_db = 10;
  double noise_lead_s = 0;
  std::string band;
  bool band_causal = false;
  int band_lowpass_order = kLowpassOrder;
  double clip_dbfs = 0;
  double clip_drive_db = 6;
  double clip_ratio = 0;       // --clip-ratio: clip at the level that this share of samples reaches
  double reference_early_ms = 0;  // --reference-early: reference = clean through the IR's start
  bool agc = false;
  Agc agc_settings;
  std::string codec;
  uint64_t seed = 0;
  std::string reference;
};

// --- the effects, each returning what it did as JSON -------------------------------------------

// r[d - begin] = sum_{k < span} z[k + d] x[k] for d in [begin, end): one FFT convolution of
// z[begin, end + span - 1) with x[0, span) reversed (its output i is the lag begin + i - span + 1).
std::vector<float> correlate(const std::vector<float>& z, const std::vector<float>& x, size_t span,
                             size_t begin, size_t end) {
  const std::vector<float> segment(z.begin() + static_cast<std::ptrdiff_t>(begin),
                                   z.begin() + static_cast<std::ptrdiff_t>(end + span - 1));
  const std::vector<float> reversed(x.rend() - static_cast<std::ptrdiff_t>(span), x.rend());
  const auto c = rz::dsp::fft_convolve(segment, reversed);
  return std::vector<float>(c.begin() + static_cast<std::ptrdiff_t>(span - 1),
                            c.begin() + static_cast<std::ptrdiff_t>(span - 1 + end - begin));
}

// `early_ms` > 0: `early` receives the clean input through only the first early_ms of each route
// from the direct path's onset (the early sound: direct path and early reflections), with the
// same alignment, polarity and gain as the reverberant output.
json reverb(Stereo& s, const Recording& ir, const fs::path& ir_path, double wet_db,
            double early_ms = 0, Stereo* early = nullptr) {
  if (ir.channels != 1 && ir.channels != 2 && ir.channels != 4) {
    throw rz::InputError("cannot use IR", ir_path.string(),
                         std::to_string(ir.channels) +
                             " channels; give 1 (both), 2 (per channel) or 4 (true stereo)");
  }
  const size_t hc = static_cast<size_t>(ir.channels);
  const size_t m = ir.frames();
  std::vector<std::vector<float>> h(hc, std::vector<float>(m));
  for (size_t i = 0; i < m; ++i)
    for (size_t c = 0; c < hc; ++c) h[c][i] = ir.x[i * hc + c];
  // Which IR channel carries input channel `in` to output channel `out` (nullptr: none). The
  // 4-channel order is L->L, L->R, R->L, R->R.
  auto route = [&](size_t in, size_t out) -> std::vector<float>* {
    if (hc == 4) return &h[in * 2 + out];
    if (in != out) return nullptr;
    return &h[hc == 2 ? in : 0];
  };
  // The direct region of each output channel's direct route (L->L, R->R): from its first frame
  // within 20 dB of its largest |h| to 2.5 ms after that largest. The alignment is chosen in it
  // below, with the signal: the first strong arrival is not always the largest (in
  // ir/omni-35-10.wav a reflection 20 frames after the direct sound is the right channel's
  // largest peak) nor a clean impulse (a band-limited pulse whose lobes change sign).
  const size_t half = static_cast<size_t>(std::lround(kDirectHalfWidthS * kRate));
  size_t region_begin[kChannels], region_end[kChannels], largest_at[kChannels];
  for (size_t out = 0; out < kChannels; ++out) {
    const auto& d = *route(out, out);
    size_t at = 0;
    for (size_t i = 0; i < m; ++i)
      if (std::fabs(d[i]) > std::fabs(d[at])) at = i;
    if (d[at] == 0) throw rz::InputError("cannot use IR", ir_path.string(), "it is silent");
    size_t onset = 0;
    while (std::fabs(d[onset]) < 0.1f * std::fabs(d[at])) ++onset;
    region_begin[out] = onset > half ? onset - half : 0;
    region_end[out] = std::min(m, at + half + 1);
    largest_at[out] = at;
  }
  // --ir-wet scales everything outside the direct path (+/- 2.5 ms around the largest |h| of the
  // direct route of the output channel each route feeds); the direct-to-reverberant ratio is
  // measured on the result, over all routes.
  const float wet = static_cast<float>(from_db(wet_db));
  double direct = 0, rest = 0;
  for (size_t in = 0; in < kChannels; ++in) {
    for (size_t out = 0; out < kChannels; ++out) {
      auto* r = route(in, out);
      // Scale each IR channel once (a mono IR is the route of both outputs, with one peak).
      if (!r || (hc == 1 && out == 1)) continue;
      const size_t begin = largest_at[out] > half ? largest_at[out] - half : 0;
      const size_t end = std::min(m, largest_at[out] + half + 1);
      for (size_t i = 0; i < m; ++i) {
        if (i >= begin && i < end) {
          direct += double((*r)[i]) * (*r)[i];
        } else {
          (*r)[i] *= wet;
          rest += double((*r)[i]) * (*r)[i];
        }
      }
    }
  }
  // The early part of every route: from frame 0 to early_ms after the onset (first frame within
  // 20 dB of the largest |h|) of the direct route of the output channel it feeds.
  std::vector<std::vector<float>> h_early;
  if (early_ms > 0) {
    h_early = h;
    for (size_t in = 0; in < kChannels; ++in) {
      for (size_t out = 0; out < kChannels; ++out) {
        auto* r = route(in, out);
        if (!r) continue;
        const auto& d = *route(out, out);
        size_t onset = 0;
        while (std::fabs(d[onset]) < 0.1f * std::fabs(d[largest_at[out]])) ++onset;
        const size_t end =
            std::min(m, onset + static_cast<size_t>(std::lround(early_ms / 1000.0 * kRate)));
        auto& e = h_early[static_cast<size_t>(r - h.data())];
        std::fill(e.begin() + static_cast<std::ptrdiff_t>(end), e.end(), 0.0f);
      }
    }
  }
  auto route_early = [&](size_t in, size_t out) -> const std::vector<float>* {
    auto* r = route(in, out);
    return r ? &h_early[static_cast<size_t>(r - h.data())] : nullptr;
  };
  const size_t n = s.frames();
  const double clean_energy = s.energy();
  Stereo wet_out;
  wet_out.x.assign(s.x.size(), 0.0f);
  const std::vector<float> in[2] = {s.channel(0), s.channel(1)};
  int64_t lag[kChannels];
  float sign[kChannels];
  for (size_t out = 0; out < kChannels; ++out) {
    std::vector<float> z(n + m - 1, 0.0f);
    for (size_t i = 0; i < kChannels; ++i) {
      const auto* r = route(i, out);
      if (!r) continue;
      const auto y = rz::dsp::fft_convolve(in[i], *r);
      for (size_t k = 0; k < z.size(); ++k) z[k] += y[k];
      rz::throw_if_interrupted();
    }
    // Alignment: the lag in the direct region where this channel correlates best (in absolute
    // value, the first 11.9 s) with the same clean channel; its sign is taken out. That is the
    // shift and polarity that maximise SDR and SI-SDR against the clean input.
    const size_t span = std::min(n, kAlignFrames);
    const auto r = correlate(z, in[out], span, region_begin[out], region_end[out]);
    size_t best = 0;
    for (size_t d = 1; d < r.size(); ++d)
      if (std::fabs(r[d]) > std::fabs(r[best])) best = d;
    const size_t best_lag = region_begin[out] + best;
    const float best_r = r[best];
    lag[out] = static_cast<int64_t>(best_lag);
    sign[out] = best_r < 0 ? -1.0f : 1.0f;
    for (size_t k = 0; k < n; ++k) wet_out.x[k * kChannels + out] = sign[out] * z[k + best_lag];
  }
  // One gain for both channels (their balance is the room's): the clean input's power.
  const double wet_energy = wet_out.energy();
  double gain = 1;
  if (wet_energy > 0 && clean_energy > 0) gain = std::sqrt(clean_energy / wet_energy);
  for (float& v : wet_out.x) v = static_cast<float>(v * gain);
  if (early_ms > 0 && early) {
    early->x.assign(s.x.size(), 0.0f);
    for (size_t out = 0; out < kChannels; ++out) {
      std::vector<float> z(n + m - 1, 0.0f);
      for (size_t i = 0; i < kChannels; ++i) {
        const auto* r = route_early(i, out);
        if (!r) continue;
        const auto y = rz::dsp::fft_convolve(in[i], *r);
        for (size_t k = 0; k < z.size(); ++k) z[k] += y[k];
      }
      const size_t at = static_cast<size_t>(lag[out]);
      for (size_t k = 0; k < n; ++k)
        early->x[k * kChannels + out] = static_cast<float>(sign[out] * gain * z[k + at]);
    }
  }
  s = std::move(wet_out);
  return {{"effect", "reverb"},
          {"ir", ir_path.string()},
          {"ir_channels", ir.channels},
          {"ir_frames", m},
          {"ir_source_rate_hz", ir.source_rate_hz},
          {"predelay_frames", {lag[0], lag[1]}},
          {"polarity", {sign[0], sign[1]}},
          {"wet_db", wet_db},
          {"drr_db", rest > 0 ? db_power(direct / rest) : 300.0},
          {"gain_db", 20 * std::log10(gain)}};
}

// Returns the lead followed by the music with noise added; `music` is left as it was.
json add_noise(const Stereo& music, const Recording& noise_rec, const fs::path& noise_path,
               double snr_db, size_t lead_frames, uint64_t seed, Stereo& out) {
  Stereo noise = as_stereo(noise_rec, noise_path, "noise");
  // A recording that fades in or out (the shared crowd recording does, over ~0.5 s and ~2 s) would
  // put a lull 10 dB under the crowd at every loop seam: such edges are trimmed first, to the
  // first and last 100 ms block within kFadeTrimDb of the median block level.
  size_t trim_head = 0, trim_tail = 0;
  {
    const size_t block = kRate / 10;
    std::vector<double> levels;
    for (size_t b = 0; (b + 1) * block <= noise.frames(); ++b) {
      double e = 0;
      for (size_t k = b * block * kChannels; k < (b + 1) * block * kChannels; ++k) e += double(noise.x[k]) * noise.x[k];
      levels.push_back(10 * std::log10(e / (block * kChannels) + 1e-30));
    }
    if (levels.size() >= 10) {
      std::vector<double> sorted = levels;
      std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
      const double floor = sorted[sorted.size() / 2] - kFadeTrimDb;
      size_t first = 0, last = levels.size() - 1;
      while (first < last && levels[first] < floor) ++first;
      while (last > first && levels[last] < floor) --last;
      trim_head = first * block;
      trim_tail = noise.frames() - (last + 1) * block;
      noise.x.erase(noise.x.end() - static_cast<std::ptrdiff_t>(trim_tail * kChannels), noise.x.end());
      noise.x.erase(noise.x.begin(), noise.x.begin() + static_cast<std::ptrdiff_t>(trim_head * kChannels));
    }
  }
  const size_t len = noise.frames();
  // A seamless loop of period `period`: the noise's last `fade` frames cross-faded (equal power:
  // the two stretches are uncorrelated) into its first `fade`.
  const size_t fade = std::min(static_cast<size_t>(kLoopFadeS * kRate), len / 4);
  const size_t period = len - fade;
  if (period < 1) throw rz::InputError("cannot use noise", noise_path.string(), "too short");
  std::vector<float> loop(period * kChannels);
  for (size_t i = 0; i < period; ++i) {
    for (size_t c = 0; c < kChannels; ++c) {
      float v = noise.x[i * kChannels + c];
      if (i < fade) {
        const double a = 0.5 * M_PI * (static_cast<double>(i) + 0.5) / static_cast<double>(fade);
        v = static_cast<float>(std::sin(a) * v +
                               std::cos(a) * noise.x[(period + i) * kChannels + c]);
      }
      loop[i * kChannels + c] = v;
    }
  }
  std::mt19937_64 rng(seed);
  const size_t offset = static_cast<size_t>(rng() % period);
  const size_t total = lead_frames + music.frames();
  std::vector<float> n(total * kChannels);
  for (size_t i = 0; i < total; ++i) {
    const size_t j = (offset + i) % period;
    for (size_t c = 0; c < kChannels; ++c) n[i * kChannels + c] = loop[j * kChannels + c];
  }
  double noise_energy = 0;
  for (size_t k = lead_frames * kChannels; k < n.size(); ++k) noise_energy += double(n[k]) * n[k];
  const double music_energy = music.energy();
  if (music_energy == 0) throw rz::InputError("cannot add noise", "input", "the music is silent");
  if (noise_energy == 0) throw rz::InputError("cannot use noise", noise_path.string(), "silent");
  const double gain = std::sqrt(music_energy / (noise_energy * std::pow(10.0, snr_db / 10)));
  out.x.assign(total * kChannels, 0.0f);
  for (size_t k = 0; k < n.size(); ++k) {
    const float m = k >= lead_frames * kChannels ? music.x[k - lead_frames * kChannels] : 0.0f;
    out.x[k] = m + static_cast<float>(gain * n[k]);
  }
  // The SNR actually in the output: float rounding of the sum is the only difference.
  double added = 0;
  for (size_t k = lead_frames * kChannels; k < out.x.size(); ++k) {
    const double d = double(out.x[k]) - music.x[k - lead_frames * kChannels];
    added += d * d;
  }
  return {{"effect", "noise"},
          {"noise", noise_path.string()},
          {"noise_frames", len},
          {"noise_source_rate_hz", noise_rec.source_rate_hz},
          {"loop_frames", period},
          {"trimmed_fade_frames", {trim_head, trim_tail}},
          {"loop_fade_frames", fade},
          {"offset_frames", offset},
          {"lead_frames", lead_frames},
          {"snr_db", snr_db},
          {"measured_snr_db", db_power(music_energy / added)},
          {"gain_db", 20 * std::log10(gain)}};
}

// Reverses the order of the frames of `s` (channels stay together).
void reverse_frames(Stereo& s) {
  const size_t n = s.frames();
  for (size_t i = 0, j = n - 1; i < j && n > 0; ++i, --j) {
    for (size_t c = 0; c < kChannels; ++c)
      std::swap(s.x[i * kChannels + c], s.x[j * kChannels + c]);
  }
}

json band_limit(Stereo& s, const Band& b, bool causal, int lowpass_order) {
  // Zero phase: half the order, run forwards then backwards, so the magnitude is the square of
  // that filter's (the same 6 dB/octave per order of the causal design, -6.02 dB at the corner)
  // and the phase is zero.
  const int hp_order = causal ? kHighpassOrder : kHighpassOrder / 2;
  const int lp_order = causal ? lowpass_order : lowpass_order / 2;
  auto pass = [&] {
    rz::dsp::BiquadChain chain(static_cast<int>(kChannels));
    if (b.low_hz > 0)
      for (const auto& c : rz::dsp::butterworth_highpass(kRate, b.low_hz, hp_order)) chain.add(c);
    if (b.high_hz > 0)
      for (const auto& c : rz::dsp::butterworth_lowpass(kRate, b.high_hz, lp_order)) chain.add(c);
    chain.process(s.x.data(), s.frames());
  };
  pass();
  if (!causal) {
    reverse_frames(s);
    pass();
    reverse_frames(s);
  }
  json j = {{"effect", "band"}, {"phase", causal ? "causal" : "zero"}};
  j["highpass_hz"] = b.low_hz > 0 ? json(b.low_hz) : json(nullptr);
  j["highpass_db_per_octave"] = 6 * kHighpassOrder;
  j["lowpass_hz"] = b.high_hz > 0 ? json(b.high_hz) : json(nullptr);
  j["lowpass_db_per_octave"] = 6 * lowpass_order;
  j["corner_db"] = causal ? -3.01 : -6.02;
  return j;
}

// Clips at the level that `ratio` of the samples reach (|x| quantile), without any gain: the
// clean input stays the reference sample for sample.
json clip_ratio(Stereo& s, double ratio) {
  std::vector<float> mag(s.x.size());
  for (size_t i = 0; i < s.x.size(); ++i) mag[i] = std::fabs(s.x[i]);
  if (mag.empty()) return {{"effect", "clip"}, {"ratio", ratio}};
  const size_t k = std::min(mag.size() - 1,
                            static_cast<size_t>(std::floor((1.0 - ratio) * double(mag.size()))));
  std::nth_element(mag.begin(), mag.begin() + static_cast<std::ptrdiff_t>(k), mag.end());
  const float t = mag[k];
  size_t at_level = 0;
  for (float& v : s.x) {
    v = std::clamp(v, -t, t);
    if (std::fabs(v) == t) ++at_level;
  }
  return {{"effect", "clip"},
          {"ratio", ratio},
          {"threshold_dbfs", 20 * std::log10(std::max(1e-30, double(t)))},
          {"clipped_fraction", double(at_level) / double(s.x.size())}};
}

json clip(Stereo& s, double threshold_dbfs, double drive_db) {
  float peak = 0;
  for (float v : s.x) peak = std::max(peak, std::fabs(v));
  const double threshold = from_db(threshold_dbfs);
  const double gain = peak > 0 ? threshold * from_db(drive_db) / peak : 1.0;
  const float t = static_cast<float>(threshold);
  size_t clipped = 0;
  for (float& v : s.x) {
    const float g = static_cast<float>(v * gain);
    if (std::fabs(g) > t) ++clipped;
    v = std::clamp(g, -t, t);
  }
  return {{"effect", "clip"},
          {"threshold_dbfs", threshold_dbfs},
          {"drive_db", drive_db},
          {"gain_db", 20 * std::log10(gain)},
          {"clipped_fraction", s.x.empty() ? 0.0 : double(clipped) / double(s.x.size())}};
}

json agc(Stereo& s, const Agc& a) {
  const size_t n = s.frames();
  auto coefficient = [](double tau_s) { return 1.0 - std::exp(-1.0 / (tau_s * kRate)); };
  const double detector = coefficient(kAgcDetectorS);
  const double attack = coefficient(a.attack_s);
  const double release = coefficient(a.release_s);
  auto frame_power = [&](size_t i) {
    return 0.5 * (double(s.x[2 * i]) * s.x[2 * i] + double(s.x[2 * i + 1]) * s.x[2 * i + 1]);
  };
  auto wanted = [&](double ms) {
    return std::clamp(a.target_dbfs - db_power(ms + 1e-20), -a.max_gain_db, a.max_gain_db);
  };
  // Start settled on the first second's level, as a phone whose AGC ran before recording.
  const size_t start = std::min(n, static_cast<size_t>(kAgcStartS * kRate));
  double ms = 0;
  for (size_t i = 0; i < start; ++i) ms += frame_power(i);
  ms = start > 0 ? ms / static_cast<double>(start) : 0;
  double gain_db = db_power(ms + 1e-20) < kAgcGateDbfs ? 0.0 : wanted(ms);
  double lo = gain_db, hi = gain_db, sum = 0;
  for (size_t i = 0; i < n; ++i) {
    ms += detector * (frame_power(i) - ms);
    if (db_power(ms + 1e-20) >= kAgcGateDbfs) {
      const double want = wanted(ms);
      gain_db += (want < gain_db ? attack : release) * (want - gain_db);
    }
    const double g = from_db(gain_db);
    s.x[2 * i] = static_cast<float>(s.x[2 * i] * g);
    s.x[2 * i + 1] = static_cast<float>(s.x[2 * i + 1] * g);
    lo = std::min(lo, gain_db);
    hi = std::max(hi, gain_db);
    sum += gain_db;
  }
  return {{"effect", "agc"},
          {"target_dbfs", a.target_dbfs},
          {"attack_s", a.attack_s},
          {"release_s", a.release_s},
          {"max_gain_db", a.max_gain_db},
          {"detector_s", kAgcDetectorS},
          {"gate_dbfs", kAgcGateDbfs},
          {"gain_db_min", lo},
          {"gain_db_max", hi},
          {"gain_db_mean", n > 0 ? sum / static_cast<double>(n) : 0.0}};
}

// A temporary file removed on destruction.
class TempFile {
 public:
  explicit TempFile(const std::string& suffix) {
    std::string pattern = (fs::temp_directory_path() / ("rz-phone-sim-XXXXXX" + suffix)).string();
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    const int fd = mkstemps(name.data(), static_cast<int>(suffix.size()));
    if (fd < 0) throw rz::IoError("cannot create", pattern, std::strerror(errno));
    ::close(fd);
    path_ = name.data();
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<float> resample(const std::vector<float>& x, int from_hz, int to_hz) {
  rz::audio::Resampler rs(static_cast<int>(kChannels), from_hz, to_hz,
                          rz::audio::ResampleQuality::kMedium);
  std::vector<float> out;
  rs.process(x.data(), x.size() / kChannels, true, out);
  return out;
}

// The sum of both channels of the first `limit` frames (what the delay search correlates).
std::vector<float> channel_sum(const std::vector<float>& x, size_t limit) {
  const size_t n = std::min(limit, x.size() / kChannels);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = x[2 * i] + x[2 * i + 1];
  return out;
}

json lossy(Stereo& s, const Codec& c) {
  const int rate = c.name == "opus" ? 48000 : kRate;
  const std::string container = c.name == "vorbis" ? "ogg" : c.name;
  TempFile file("." + (c.name == "mp3" ? std::string("mp3") : std::string("ogg")));
  const std::vector<float> coded_in = rate == kRate ? s.x : resample(s.x, kRate, rate);
  rz::audio::WriteSpec spec;
  spec.sample_rate_hz = rate;
  spec.channels = static_cast<int>(kChannels);
  spec.container = container;
  spec.sample_format = rz::audio::SampleFormat::kLossy;
  // libsndfile turns SFC_SET_VBR_ENCODING_QUALITY q into compression level 1 - q. LAME and Opus
  // at a constant bitrate (libsndfile's default for mp3 is LAME's VBR, with another scale).
  spec.lossy_quality = 1 - c.compression;
  spec.constant_bitrate = c.name != "vorbis";
  {
    rz::audio::Writer w(file.path(), spec);
    w.write(coded_in.data(), coded_in.size() / kChannels);
    w.close();
  }
  const auto bytes = fs::file_size(file.path());
  std::vector<float> decoded;
  {
    rz::audio::Reader r(file.path());
    if (r.info().channels != static_cast<int>(kChannels)) {
      throw rz::Error("cannot decode", file.path().string(), "the codec changed the channels");
    }
    std::vector<float> block(kReadBlockFrames * kChannels);
    size_t got;
    while ((got = r.read(block.data(), kReadBlockFrames)) > 0) {
      decoded.insert(decoded.end(), block.begin(),
                     block.begin() + static_cast<std::ptrdiff_t>(got * kChannels));
    }
  }
  const size_t decoded_frames = decoded.size() / kChannels;
  if (rate != kRate) decoded = resample(decoded, rate, kRate);
  const int64_t delay =
      rz::dsp::find_delay(channel_sum(s.x, kCodecXcorrFrames),
                          channel_sum(decoded, kCodecXcorrFrames), kCodecMaxLagFrames);
  Stereo out;
  out.x.assign(s.x.size(), 0.0f);
  const int64_t have = static_cast<int64_t>(decoded.size() / kChannels);
  double err = 0;
  for (size_t i = 0; i < s.frames(); ++i) {
    const int64_t j = static_cast<int64_t>(i) + delay;
    for (size_t ch = 0; ch < kChannels; ++ch) {
      if (j >= 0 && j < have)
        out.x[i * kChannels + ch] = decoded[static_cast<size_t>(j) * kChannels + ch];
      const double d = double(out.x[i * kChannels + ch]) - s.x[i * kChannels + ch];
      err += d * d;
    }
  }
  const double signal = s.energy();
  s = std::move(out);
  const double seconds = static_cast<double>(coded_in.size() / kChannels) / rate;
  return {{"effect", "codec"},
          {"codec", c.name},
          {"kbps", c.kbps},
          {"compression_level", c.compression},
          {"coded_rate_hz", rate},
          {"actual_kbps", static_cast<double>(bytes) * 8 / seconds / 1000},
          {"decoded_frames", decoded_frames},
          {"delay_frames", delay},
          {"coding_snr_db", err > 0 && signal > 0 ? db_power(signal / err) : 300.0}};
}

void write_wav(const Stereo& s, rz::stems::AtomicFile& file) {
  rz::audio::WriteSpec spec;
  spec.sample_rate_hz = kRate;
  spec.channels = static_cast<int>(kChannels);
  rz::audio::Writer w(file.temp_path(), spec);
  w.write(s.x.data(), s.frames());
  w.close();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string examples =
      "  rz-phone-sim clean.wav -o sim.wav --noise crowd.ogg --snr 5 --reference ref.wav\n"
      "  rz-phone-sim song.ogg --start 30 --duration 30 -o phone.wav --ir room.wav \\\n"
      "      --noise crowd.ogg --snr 10 --noise-lead 3 --band 120:16000 --clip -1 --agc \\\n"
      "      --codec mp3:96 --seed 7 --reference ref.wav --json\n";
  rz::cli::Tool tool(
      "rz-phone-sim",
      "Simulate a phone recording of a clean recording in a concert crowd, for benchmarks. "
      "Effects, each optional, run in this order: --ir room reverb (aligned to the direct path, "
      "scaled to the clean power), --noise crowd noise at --snr, --band phone band limit (zero "
      "phase unless --band-causal), --clip overload, --agc automatic gain control, --codec lossy "
      "coding (delay measured and removed). SNR = 10 log10(sum s^2 / sum n^2), sums over both "
      "channels and every frame of the music (noise lead excluded), s the music as it reaches the "
      "microphone (after --ir), n the added noise. Output: 44.1 kHz stereo float WAV; --reference "
      "writes the clean input aligned with it (same length, silence under --noise-lead). --seed "
      "drives the one random choice (the noise offset).",
      examples);
  // A benchmark helper without a man page: point at the source's header instead.
  tool.app().footer("\nExamples:\n" + examples +
                    "\nExit status: 0 ok, 1 failure, 2 usage error, 130 interrupted. Details: the "
                    "header of sim/phone_sim.cpp and sim/README.md.");
  Settings st;
  tool.add_input("Clean recording (mono or stereo; any format rz-ingest reads)");
  tool.add_output("Output WAV (required)");
  auto& app = tool.app();
  app.add_option("--start", st.start_s, "Skip the first SECONDS of the input")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--duration", st.duration_s, "Keep SECONDS of the input (default: all)")
      ->check(CLI::PositiveNumber);
  app.add_option("--ir", st.ir, "Room impulse response (1, 2 or 4 channels)");
  app.add_option("--ir-wet", st.ir_wet_db, "Gain in dB of the IR outside its direct path")
      ->check(CLI::Range(-60.0, 20.0))
      ->capture_default_str();
  app.add_option("--noise", st.noise, "Crowd noise recording (mono or stereo)");
  app.add_option("--snr", st.snr_db, "Music-to-noise ratio in dB (definition above)")
      ->check(CLI::Range(-30.0, 60.0))
      ->capture_default_str();
  app.add_option("--noise-lead", st.noise_lead_s, "SECONDS of crowd alone before the music")
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--band", st.band, "Phone band LOW_HZ:HIGH_HZ, e.g. 120:16000 (0: side off)");
  app.add_option("--band-lowpass-order", st.band_lowpass_order,
                 "Order of the band's low-pass (4, 8, 12, 16, 24, 32; 16: a codec's steep low-pass)")
      ->check(CLI::IsMember({4, 8, 12, 16, 24, 32}))
      ->capture_default_str();
  app.add_flag("--band-causal", st.band_causal,
               "Band filters with the phone's own (minimum) phase instead of zero phase");
  app.add_option("--clip", st.clip_dbfs, "Hard-clip at DB dBFS after driving the peak past it")
      ->check(CLI::Range(-40.0, 0.0));
  app.add_option("--clip-drive", st.clip_drive_db, "dB by which the peak exceeds the clip level")
      ->check(CLI::Range(0.0, 40.0))
      ->capture_default_str();
  app.add_option("--clip-ratio", st.clip_ratio,
                 "Hard-clip, without gain, at the level that RATIO of the samples reach")
      ->check(CLI::Range(1e-6, 0.5));
  app.add_flag("--agc", st.agc, "Slow automatic gain control like a phone's");
  app.add_option("--agc-target", st.agc_settings.target_dbfs, "AGC target level, dBFS RMS")
      ->check(CLI::Range(-60.0, 0.0))
      ->capture_default_str();
  app.add_option("--agc-attack", st.agc_settings.attack_s, "AGC gain-down time constant, s")
      ->check(CLI::Range(0.001, 60.0))
      ->capture_default_str();
  app.add_option("--agc-release", st.agc_settings.release_s, "AGC gain-up time constant, s")
      ->check(CLI::Range(0.001, 60.0))
      ->capture_default_str();
  app.add_option("--agc-max-gain", st.agc_settings.max_gain_db, "AGC gain limit, +/- dB")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  app.add_option("--codec", st.codec, "mp3[:KBPS] (128), vorbis[:KBPS] (128) or opus[:KBPS] (64)");
  app.add_option("--seed", st.seed, "Seed of the random choices")->capture_default_str();
  app.add_option("--reference", st.reference, "Also write the clean input aligned with OUT here");
  app.add_option("--reference-early", st.reference_early_ms,
                 "With --ir: the reference is the clean input through only the first MS of the IR "
                 "from its direct path (the early sound)")
      ->check(CLI::Range(0.1, 1000.0));

  return tool.run(argc, argv, [&](rz::cli::Context& ctx) {
    // Usage first (exit 2), before any file is touched.
    if (!ctx.has_output()) throw rz::UsageError("no output: give -o OUT.wav");
    auto given = [&](const char* name) { return app.count(name) > 0; };
    auto needs = [&](const char* option, const char* other) {
      if (given(option) && !given(other)) {
        throw rz::UsageError(std::string(option) + " needs " + other + " (see --help)");
      }
    };
    needs("--ir-wet", "--ir");
    needs("--snr", "--noise");
    needs("--noise-lead", "--noise");
    needs("--clip-drive", "--clip");
    needs("--reference-early", "--ir");
    needs("--reference-early", "--reference");
    if (given("--clip") && given("--clip-ratio"))
      throw rz::UsageError("--clip and --clip-ratio exclude each other");
    needs("--band-causal", "--band");
    needs("--band-lowpass-order", "--band");
    for (const char* o : {"--agc-target", "--agc-attack", "--agc-release", "--agc-max-gain"}) {
      needs(o, "--agc");
    }
    const Band band = st.band.empty() ? Band{} : parse_band(st.band);
    const Codec codec = st.codec.empty() ? Codec{} : parse_codec(st.codec);
    const fs::path input = ctx.input();
    const fs::path output = ctx.output_or("");
    for (const auto& p : {output, fs::path(st.reference)}) {
      if (p.empty()) continue;
      std::error_code ec;
      if (fs::equivalent(p, input, ec)) {
        throw rz::UsageError(rz::describe("bad output", p.string(), "it is the input"));
      }
    }
    if (!st.reference.empty() &&
        fs::absolute(st.reference).lexically_normal() == fs::absolute(output).lexically_normal()) {
      throw rz::UsageError(rz::describe("bad --reference", st.reference, "it is the output"));
    }
    for (const auto& p : {output, fs::path(st.reference)}) {
      if (!p.empty() && rz::audio::container_for_path(p) != "wav") {
        throw rz::UsageError(rz::describe("bad output", p.string(), "writes WAV: name it .wav"));
      }
    }
    // The outputs' temporary siblings exist from here on and vanish unless committed.
    rz::stems::AtomicFile out_file(output, ctx.force());
    std::optional<rz::stems::AtomicFile> ref_file;
    if (!st.reference.empty()) ref_file.emplace(st.reference, ctx.force());

    const Recording clean_rec = load(input);
    Stereo clean = as_stereo(clean_rec, input, "input");
    {
      const size_t first = static_cast<size_t>(std::llround(st.start_s * kRate));
      if (first >= clean.frames()) {
        throw rz::InputError("cannot crop", input.string(),
                             "--start " + rz::fixed(st.start_s) + " s is past its end (" +
                                 rz::fixed(clean.frames() / double(kRate)) + " s)");
      }
      size_t count = clean.frames() - first;
      if (st.duration_s > 0) {
        count = std::min(count, static_cast<size_t>(std::llround(st.duration_s * kRate)));
      }
      if (count == 0) throw rz::InputError("cannot crop", input.string(), "nothing left");
      clean.x = std::vector<float>(
          clean.x.begin() + static_cast<std::ptrdiff_t>(first * kChannels),
          clean.x.begin() + static_cast<std::ptrdiff_t>((first + count) * kChannels));
    }
    ctx.info("clean input: " + std::to_string(clean.frames()) + " frames at 44.1 kHz");
    json effects = json::array();
    json measured_snr = nullptr;
    Stereo sim = clean;
    Stereo early;  // with --reference-early: the reference
    if (!st.ir.empty()) {
      effects.push_back(reverb(sim, load(st.ir), st.ir, st.ir_wet_db, st.reference_early_ms,
                               &early));
      ctx.info("reverb: " + effects.back().dump());
    }
    const size_t lead = static_cast<size_t>(std::llround(st.noise_lead_s * kRate));
    if (!st.noise.empty()) {
      Stereo noisy;
      effects.push_back(add_noise(sim, load(st.noise), st.noise, st.snr_db, lead, st.seed, noisy));
      measured_snr = effects.back()["measured_snr_db"];
      sim = std::move(noisy);
      ctx.info("noise: " + effects.back().dump());
    }
    if (!st.band.empty())
      effects.push_back(band_limit(sim, band, st.band_causal, st.band_lowpass_order));
    if (given("--clip")) effects.push_back(clip(sim, st.clip_dbfs, st.clip_drive_db));
    if (given("--clip-ratio")) effects.push_back(clip_ratio(sim, st.clip_ratio));
    if (st.agc) effects.push_back(agc(sim, st.agc_settings));
    if (!st.codec.empty()) {
      effects.push_back(lossy(sim, codec));
      ctx.info("codec: " + effects.back().dump());
    }
    rz::throw_if_interrupted();

    write_wav(sim, out_file);
    if (ref_file) {
      Stereo ref;
      ref.x.assign(lead * kChannels, 0.0f);
      const Stereo& r = st.reference_early_ms > 0 ? early : clean;
      ref.x.insert(ref.x.end(), r.x.begin(), r.x.end());
      write_wav(ref, *ref_file);
    }
    out_file.commit();
    if (ref_file) {
      try {
        ref_file->commit();
      } catch (...) {
        std::error_code ec;
        fs::remove(output, ec);
        throw;
      }
    }
    rz::cli::Result result;
    result.outputs.push_back(output);
    result.record = {{"output", output.string()},
                     {"reference", st.reference.empty() ? json(nullptr) : json(st.reference)},
                     {"input", input.string()},
                     {"input_source_rate_hz", clean_rec.source_rate_hz},
                     {"input_channels", clean_rec.channels},
                     {"start_s", st.start_s},
                     {"sample_rate_hz", kRate},
                     {"channels", kChannels},
                     {"frames", sim.frames()},
                     {"duration_s", static_cast<double>(sim.frames()) / kRate},
                     {"lead_frames", lead},
                     {"seed", st.seed},
                     {"snr_db", measured_snr},
                     {"effects", effects}};
    return result;
  });
}
