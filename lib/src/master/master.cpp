// Mastering: a measuring pass, then render passes (EQ -> gain -> true-peak limiter -> dither) that
// measure exactly the samples written and correct the gain until loudness and ceiling both hold.
#include "rz/master/master.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>

#include "rz/dsp/biquad.hpp"
#include "rz/dsp/limiter.hpp"
#include "rz/error.hpp"
#include "rz/io/file.hpp"
#include "rz/io/json.hpp"
#include "rz/io/temp.hpp"
#include "rz/metrics/loudness.hpp"
#include "rz/mix/mix.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace rz::master {

namespace {

constexpr size_t kBlockFrames = 65536;
constexpr double kTiltPivotHz = 1000.0;
// The limiter aims this far under the ceiling at first: its 4x interpolator and libebur128's differ
// slightly, and dither moves samples by up to 2 LSB. Raised after a pass that still reads over.
constexpr double kInitialCeilingMarginDb = 0.15;
constexpr double kCeilingStepMarginDb = 0.05;
constexpr double kMaxGainDb = 60.0;
constexpr double kHeavyLimitingDb = 12.0;  // past this the limiter audibly flattens the music
// Loudness rising by less than kSaturationRiseLu over a gain step of kSaturationStepDb or more
// means the limiter has saturated: the output no longer depends on the gain.
constexpr double kSaturationStepDb = 12.0;
constexpr double kSaturationRiseLu = 0.1;
// Slopes (LU per dB of gain) used to extrapolate before a bracket exists: limiting flattens the
// curve (less than 1), but a step of more than 4x the remaining error is not taken at once.
constexpr double kMinSlope = 0.25;
constexpr double kMaxSlope = 1.5;

struct Source {
  const stems::StemDir& dir;
  mix::Options mix_options;
  int channels() const { return dir.manifest().channels; }
  int rate() const { return dir.manifest().sample_rate_hz; }
};

dsp::BiquadChain make_eq(const Options& o, int channels, int rate) {
  dsp::BiquadChain eq(channels);
  if (o.highpass_hz > 0) eq.add(dsp::BiquadCoeffs::highpass(rate, o.highpass_hz));
  if (o.tilt_db != 0) {
    eq.add(dsp::BiquadCoeffs::low_shelf(rate, kTiltPivotHz, -o.tilt_db / 2));
    eq.add(dsp::BiquadCoeffs::high_shelf(rate, kTiltPivotHz, o.tilt_db / 2));
  }
  return eq;
}

}  // namespace

json Measurement::to_json() const {
  return {{"integrated_lufs", metrics::json_level(integrated_lufs)},
          {"true_peak_dbtp", metrics::json_level(true_peak_dbtp)},
          {"sample_peak_dbfs", metrics::json_level(sample_peak_dbfs)},
          {"loudness_range_lu", std::isfinite(loudness_range_lu) ? loudness_range_lu : 0.0}};
}

const params::Fields<Options>& Options::fields() {
  using S = Options;
  static const params::Fields<S> f = {
      {"target_lufs", &S::target_lufs, "LUFS", -70, 0, "Integrated loudness target in LUFS",
       "--target"},
      {"ceiling_dbtp", &S::ceiling_dbtp, "dBTP", -20, 0, "True-peak ceiling in dBTP", "--ceiling"},
      {"highpass_hz", &S::highpass_hz, "Hz", 0, 500, "High-pass corner in Hz (0: off)",
       "--highpass"},
      {"tilt_db", &S::tilt_db, "dB", -12, 12, "Tilt EQ around 1 kHz in dB (+: brighter)", "--tilt"},
      {"lossy_quality", &S::lossy_quality, "", 0, 1, "Lossy encoder quality 0..1 (ogg, opus, mp3)",
       "--quality"},
      {"lookahead_ms", &S::lookahead_ms, "ms", 0.5, 50, "Limiter look-ahead in ms", "--lookahead"},
      {"release_ms", &S::release_ms, "ms", 1, 2000, "Limiter release in ms", "--release"},
  };
  return f;
}

void Options::validate() const { params::check(*this, fields(), "", params::Naming::kFlag); }

fs::path default_output(const fs::path& input) {
  return stems::default_output(input, "master.flac");
}

Report master(const stems::StemDir& in, const fs::path& output, bool force, const Options& opt,
              const json& provenance, const Progress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  opt.validate();
  audio::WriteSpec spec;
  spec.container = audio::container_for_path(output);
  spec.sample_format = opt.sample_format.value_or(audio::default_sample_format(spec.container));
  spec.sample_rate_hz = in.manifest().sample_rate_hz;
  spec.channels = in.manifest().channels;
  spec.lossy_quality = opt.lossy_quality;
  audio::check_write_spec(spec, output);  // before any work, naming the real output
  // The unity sum, removed stems left out unless kept; --stem solos one stem, removed or not (an
  // explicit choice), so --keep has nothing to add to it.
  mix::Options unity;
  if (!opt.stem.empty()) {
    in.stem(opt.stem);
    unity.stems[opt.stem].solo = true;
    if (!opt.keep.empty()) {
      throw UsageError(describe("bad --keep", opt.keep.front(),
                                "--stem masters one stem alone; --keep adds removed stems to the "
                                "sum of all"));
    }
  }
  unity.keep = opt.keep;
  unity.validate(in);
  const int ch = spec.channels, rate = spec.sample_rate_hz;
  const int64_t total = in.manifest().frames;
  const int bits = audio::pcm_bits(spec.sample_format);
  const bool integer = bits > 0;
  std::vector<float> block(kBlockFrames * ch);

  // Pass 0: loudness of the input as it is, and after EQ (what the gain acts on).
  Report rep;
  const std::vector<std::string> left_out = mix::left_out_removed(in, unity);
  mix::note_left_out(left_out, rep);
  double eq_lufs;
  {
    mix::StemSum sum(in, unity);
    dsp::BiquadChain eq = make_eq(opt, ch, rate);
    metrics::LoudnessMeter raw(ch, rate);
    metrics::LoudnessMeter shaped(ch, rate, metrics::LoudnessMeter::kIntegrated);
    int64_t done = 0;
    size_t n;
    while ((n = sum.read(block.data(), kBlockFrames)) > 0) {
      throw_if_interrupted();
      raw.add_async(block.data(), n);
      if (!eq.empty()) {
        eq.process(block.data(), n);
        shaped.add(block.data(), n);
      }
      done += static_cast<int64_t>(n);
      report(progress, "measure", double(done) / std::max<int64_t>(1, total));
    }
    rep.before = {raw.integrated_lufs(), raw.true_peak_dbtp(), raw.sample_peak_dbfs(),
                  raw.range_lu()};
    eq_lufs = eq.empty() ? rep.before.integrated_lufs : shaped.integrated_lufs();
  }
  if (!std::isfinite(eq_lufs)) {
    throw InputError("cannot master", in.path().string(),
                     "the input is silent (no gated loudness)");
  }

  stems::AtomicFile file(output, force);
  double gain_db = opt.target_lufs - eq_lufs;
  double ceiling_db = opt.ceiling_dbtp - kInitialCeilingMarginDb;
  // Loudness out is a monotone function of gain: extrapolate from the last two passes until the
  // target is bracketed, then interpolate inside the bracket.
  struct Probe {
    double gain_db, lufs;
  };
  std::optional<Probe> prev, below, above;
  std::vector<float> limited, decoded;
  std::vector<int32_t> pcm;
  for (int pass = 1;; ++pass) {
    if (std::fabs(gain_db) > kMaxGainDb) {
      throw InputError(
          "cannot master", in.path().string(),
          "reaching " + fixed(opt.target_lufs) + " LUFS needs " + fixed(gain_db) + " dB of gain");
    }
    mix::StemSum sum(in, unity);
    dsp::BiquadChain eq = make_eq(opt, ch, rate);
    dsp::LimiterSettings ls{ceiling_db, opt.lookahead_ms, opt.release_ms};
    dsp::TruePeakLimiter limiter(ch, rate, ls);
    dsp::TpdfDither dither(integer ? bits : 24, opt.seed, opt.dither);
    metrics::LoudnessMeter meter(
        ch, rate,
        metrics::LoudnessMeter::kIntegrated | metrics::LoudnessMeter::kRange |
            metrics::LoudnessMeter::kTruePeak | metrics::LoudnessMeter::kSamplePeak);
    audio::Writer writer(file.temp_path(), spec);
    const float g = static_cast<float>(std::pow(10.0, gain_db / 20.0));
    auto emit = [&](std::vector<float>& x) {
      const size_t frames = x.size() / ch;
      if (frames == 0) return;
      if (integer) {
        pcm.resize(x.size());
        decoded.resize(x.size());
        dither.quantise(x.data(), x.size(), pcm.data(), decoded.data());
        writer.write_int(pcm.data(), frames);
        meter.add_async(decoded.data(), frames);
      } else {
        writer.write(x.data(), frames);
        meter.add_async(x.data(), frames);
      }
    };
    int64_t done = 0;
    size_t n;
    const std::string stage = "render (pass " + std::to_string(pass) + ")";
    while ((n = sum.read(block.data(), kBlockFrames)) > 0) {
      throw_if_interrupted();
      eq.process(block.data(), n);
      for (size_t i = 0; i < n * ch; ++i) block[i] *= g;
      limited.clear();
      limiter.process(block.data(), n, limited);
      emit(limited);
      done += static_cast<int64_t>(n);
      report(progress, stage, double(done) / std::max<int64_t>(1, total));
    }
    limited.clear();
    limiter.flush(limited);
    emit(limited);
    writer.close();
    rep.after = {meter.integrated_lufs(), meter.true_peak_dbtp(), meter.sample_peak_dbfs(),
                 meter.range_lu()};
    rep.gain_db = gain_db;
    rep.max_limiting_db = limiter.max_reduction_db() + 0.0;  // no "-0.0" in reports
    rep.passes = pass;
    const double error = opt.target_lufs - rep.after.integrated_lufs;
    const double over = rep.after.true_peak_dbtp - opt.ceiling_dbtp;
    // Lossy encoders move peaks: the ceiling is checked on the signal handed to the encoder.
    if (std::fabs(error) <= opt.tolerance_lu && over <= 0) break;
    if (pass >= opt.max_passes) {
      throw Error("cannot master", in.path().string(),
                  "after " + std::to_string(pass) + " passes the output reads " +
                      fixed(rep.after.integrated_lufs) + " LUFS and " +
                      fixed(rep.after.true_peak_dbtp) + " dBTP");
    }
    if (over > 0) ceiling_db -= over + kCeilingStepMarginDb;
    const Probe now{gain_db, rep.after.integrated_lufs};
    if (prev && now.gain_db - prev->gain_db >= kSaturationStepDb &&
        now.lufs - prev->lufs < kSaturationRiseLu && error > 0) {
      throw InputError("cannot master", in.path().string(),
                       "the target " + fixed(opt.target_lufs) + " LUFS is out of reach at a " +
                           fixed(opt.ceiling_dbtp) + " dBTP ceiling: limiting tops out near " +
                           fixed(now.lufs) + " LUFS (lower --target, or shorten --release)");
    }
    if (now.lufs < opt.target_lufs) {
      if (!below || now.gain_db > below->gain_db) below = now;
    } else if (!above || now.gain_db < above->gain_db) {
      above = now;
    }
    double next;
    if (below && above && above->lufs > below->lufs) {
      // Interpolate inside the bracket; bisect when that would hug one end (a gated loudness can
      // jump, and plain regula falsi then creeps).
      const double span = above->gain_db - below->gain_db;
      next = below->gain_db + (opt.target_lufs - below->lufs) * span / (above->lufs - below->lufs);
      if (next < below->gain_db + 0.05 * span || next > above->gain_db - 0.05 * span) {
        next = below->gain_db + 0.5 * span;
      }
    } else {
      const double slope = prev && std::fabs(now.gain_db - prev->gain_db) > 1e-6
                               ? (now.lufs - prev->lufs) / (now.gain_db - prev->gain_db)
                               : 1.0;
      double step = error / std::clamp(slope, kMinSlope, kMaxSlope);
      // Nearly flat and still short: widen the search geometrically (the gate may be keeping a
      // quiet bed out of the measurement until it comes within 10 LU of the loud parts).
      if (prev && slope < kMinSlope) {
        const double last = now.gain_db - prev->gain_db;
        if (std::fabs(last) > std::fabs(step) / 2) step = 2 * last;
      }
      next = gain_db + step;
    }
    prev = now;
    gain_db = next;
  }
  if (rep.max_limiting_db > kHeavyLimitingDb) {
    rep.warnings.push_back(
        "heavy limiting: up to " + fixed(rep.max_limiting_db) +
        " dB of gain reduction to reach the target; a lower --target keeps more dynamics");
  }
  if (spec.sample_format == audio::SampleFormat::kLossy) {
    rep.warnings.push_back(
        "lossy output: the ceiling holds for the signal given to the encoder; "
        "decoded peaks may differ");
  }

  // Sidecar with the measurements and the history, then the audio file: the audio is the commit.
  rep.output = output;
  rep.details.push_back("gain " + fixed(rep.gain_db) + " dB, limiting up to " +
                        fixed(rep.max_limiting_db) + " dB, " + std::to_string(rep.passes) +
                        " pass(es)");
  rep.sidecar = fs::path(output.string() + ".json");
  stems::AtomicFile sidecar(rep.sidecar, force);
  json entry = provenance;
  entry["inputs"] = in.manifest().stem_hashes();
  entry["parameters"] = {{"target_lufs", opt.target_lufs},
                         {"ceiling_dbtp", opt.ceiling_dbtp},
                         {"highpass_hz", opt.highpass_hz},
                         {"tilt_db", opt.tilt_db},
                         {"stem", opt.stem.empty() ? json("all") : json(opt.stem)},
                         {"keep", opt.keep},
                         {"left_out", left_out},
                         {"container", spec.container},
                         {"sample_format", audio::to_string(spec.sample_format)},
                         {"dither", integer && opt.dither ? "tpdf" : "none"},
                         {"seed", opt.seed},
                         {"lookahead_ms", opt.lookahead_ms},
                         {"release_ms", opt.release_ms}};
  entry["metrics"] = {{"before", rep.before.to_json()},
                      {"after", rep.after.to_json()},
                      {"gain_db", rep.gain_db},
                      {"max_limiting_db", rep.max_limiting_db},
                      {"passes", rep.passes}};
  entry["elapsed_s"] = stage::seconds_since(t0);
  json history = in.manifest().history;
  history.push_back(entry);
  json side = {
      {"schema", "rz-master"},          {"schema_version", 1}, {"file", output.filename().string()},
      {"sample_rate_hz", rate},         {"channels", ch},      {"frames", total},
      {"source", in.manifest().source}, {"history", history}};
  stems::write_text_file(sidecar.temp_path(), io::dump_json(side, 2) + "\n");
  sidecar.commit();
  try {
    file.commit();
  } catch (...) {
    std::error_code ec;
    fs::remove(rep.sidecar, ec);
    throw;
  }
  rep.record = {{"output", output.string()},
                {"sidecar", rep.sidecar.string()},
                {"before", rep.before.to_json()},
                {"after", rep.after.to_json()},
                {"gain_db", rep.gain_db},
                {"max_limiting_db", rep.max_limiting_db},
                {"passes", rep.passes}};
  return rep;
}

Report master_to_fd(const stems::StemDir& in, int fd, const std::string& container,
                    const Options& options, const json& provenance, const Progress& progress) {
  std::error_code ec;
  fs::path tmp_root = fs::temp_directory_path(ec);
  if (ec) tmp_root = "/tmp";
  io::LockedTemp dir = io::LockedTemp::create(tmp_root, "rz-master-stdout", true);
  const fs::path file = dir.path() / ("master." + container);
  audio::container_for_path(file);  // a format that names no container is a UsageError here
  Report rep = master(in, file, false, options, provenance, progress);
  rep.output.clear();
  rep.sidecar.clear();
  const io::Fd src = io::open_regular(file);
  std::vector<char> buf(1 << 16);
  for (;;) {
    throw_if_interrupted();
    const ssize_t n = ::read(src.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError(describe("cannot read", file.string(), std::strerror(errno)));
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(fd, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EPIPE) return rep;  // the reader went away: a clean stop
      if (w < 0) throw IoError(describe("cannot write", "stdout", std::strerror(errno)));
      done += w;
    }
  }
  return rep;
}

}  // namespace rz::master
