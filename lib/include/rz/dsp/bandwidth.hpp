// High-frequency regeneration: spectral band replication above a detected bandwidth cutoff.
//
// A recording whose top was cut (a phone codec, an MP3 encoder's low-pass, a resampler) keeps in
// its top octave below the cutoff what the band above would have held: the same notes' upper
// partials, the same cymbal hits and consonants. The regenerator copies that octave up into
// [cutoff_hz, max_freq_hz] and sets each copy's level from the spectral tilt measured below the
// cutoff, frame by frame: the added band follows what the band below holds ("reveal, don't
// fabricate"); quiet passages get nothing; every gain is bounded.
//
// Method (after the copy-up of HE-AAC's spectral band replication, Dietz, Liljeryd, Kjoerling &
// Kunz, "Spectral Band Replication, a novel approach in audio coding", AES 112th Convention, 2002,
// done here on STFT bins instead of QMF bands):
// - Frames: periodic Hann of fft_size() (2048 at 32-48 kHz; the power of two nearest to
//   2048 sample_rate_hz / 44100 elsewhere, at least 256), hop fft_size()/4; synthesis with the same
//   window, overlap-added and divided by 1.5 (what the squared window sums to at that hop).
// - Only the added band goes through the STFT: the output is the input delayed by
//   latency_frames() = fft_size() plus the synthesised band, so everything the block does not add
//   passes bit for bit (and intensity 0 is an exact delay).
// - Source: the bins in [kc - D, kc), kc the cutoff's bin and D its distance to cutoff_hz / 2
//   rounded down to a multiple of 4. Patch p = 1, 2, ... copies the complex source bins to
//   [kc + (p - 1) D, kc + p D) up to max_freq_hz. A shift by D bins is a frequency shift of the
//   signal by D sample_rate_hz / fft_size Hz, and with D a multiple of fft_size / hop the shift's
//   phase advances by whole turns from one frame to the next, so the copies overlap-add into one
//   consistent frequency-shifted signal (no frame-rate buzz).
// - Envelope: the octave [cutoff 2^(-5/4), cutoff 2^(-1/4)] (it ends a quarter octave below the
//   cutoff, out of the low-pass's skirt) in 4 bands of a quarter octave, powers averaged over
//   channels. Tilt (dB per octave): least-squares slope of the band levels against log2 of the
//   band centres, on band powers smoothed over tilt_smoothing_s (one pole). The slope carried
//   upward is tilt_extrapolation times that, clamped to [min_tilt_db_per_octave,
//   max_tilt_db_per_octave]. The share depends on what the source octave holds, by its spectral
//   flatness (geometric over arithmetic mean of its bin powers, smoothed like the band powers):
//   noise-like sound (drums, breath, a dense mix: -3.3 to -9.6 dB on the tuning part of
//   tests/corpus) flattens above the presence range, so it gets tilt_extrapolation (half the
//   slope); a harmonic instrument's partials (-14 to -30 dB there: a violin, an organ, an
//   accordion, a trumpet) fall faster the higher they lie, so they get tonal_tilt_extrapolation.
//   Half the slope over-filled the octave above the cutoff by 3-5 dB on a trumpet, a clavinet and
//   speech and made the log-spectral distance worse. The points were chosen on the tuning part
//   (issue 13, low-passed at 8 kHz) by its worst excerpt, then its mean, among those that keep
//   the shared song's and rock mix's LSD bars (tests/unit/test_bandwidth.cpp; the rock mix's
//   programme sits at -9 dB): mean LSD reduction 18.5 -> 20.0 %, worst +2.78 -> +2.75 dB (speech
//   whose source stopped at 8 kHz, where nothing tells the two edges apart). Level at
//   the cutoff: the mean over the 4 bands of this frame's band level carried to the cutoff along
//   that slope. Target level at f: that level plus slope * log2(f / cutoff_hz), plus
//   rolloff_db_per_octave * log2(f / rolloff_knee_hz) above rolloff_knee_hz (air absorption,
//   microphones and codecs leave little above 13-16 kHz in real recordings). Measured on the
//   shared material (song, rock mix, piano; see tests/unit/test_bandwidth.cpp): slopes of
//   -4 .. -18 dB/octave below the cutoff; the originals fall by 5-10 dB from 13-16 to 16-18 kHz.
// - Fill to the envelope: the target band is cut into sixth-octave bands; each gets the power it
//   lacks (target minus what the input already holds there, e.g. a filter's skirt), drawn from
//   its source bins: amplitude gain sqrt(max(0, target - present) / source), source the mean
//   power of the band's source bins, at most kMaxPatchGainDb, interpolated linearly in frequency
//   between band centres, and raised-cosine faded in over [cutoff_hz, cutoff_hz 2^(1/12)].
//   Fine structure: each copied bin's power is then moved towards the band's log-mean source
//   power by the factor (log-mean / bin power)^((1 - fine_structure) / 2) (at most
//   kMaxPatchGainDb), so a shifted partial does not stand out as an inharmonic tone; the band's
//   log-mean level is kept.
// - Transient-aware gain: the source octave's level against its own one-pole average over
//   transient_smoothing_s (in dB): a jump of transient_jump_db or more gets the full envelope,
//   no jump gets steady_gain_db, linear in dB between.
// - Gate: the source octave's level against its noise floor. The floor is the minimum of the
//   level over the last gate_window_s (minimum statistics, 8 sub-windows), but at least
//   floor_below_loud_db under the loud level (a peak hold of the level falling at
//   loud_release_db_per_s), so that a steady signal is not taken for its own floor. The added band
//   is faded in over [gate_snr_db, gate_snr_db + gate_range_db] of level over floor: a passage at
//   its noise floor gets nothing. Frames of digital silence in the source octave get nothing and
//   leave every tracker alone.
// - Intensity scales the added band's amplitude (0..2); 0 adds nothing at all.
// One set of gains is computed from the channel-mean powers and applied to every channel's own
// source bins, so the added band keeps the stereo image of the octave below.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>

#include "rz/dsp/processor.hpp"
#include "rz/params.hpp"

namespace rz::dsp {

struct HfRegenSettings {
  // Bandwidth cutoff of the input, Hz (required): e.g. rz::metrics::Analysis::bandwidth_hz.
  // 1000 .. 0.9 Nyquist, and at least 1/12 octave below the effective max_freq_hz.
  double cutoff_hz = 0;
  // Top of the regenerated band, Hz (clamped to Nyquist; 2000 .. 100000).
  double max_freq_hz = 20000;
  // Clamp of the tilt, dB per octave (-40 .. 0, min <= max), and the share of the measured tilt
  // that is carried above the cutoff over noise-like sound (0 .. 1.5).
  double min_tilt_db_per_octave = -18;
  double max_tilt_db_per_octave = -3;
  double tilt_extrapolation = 0.5;
  // The share carried over tonal sound (0 .. 1.5), and the source octave's spectral flatness, dB,
  // at and under which it is tonal, and at and over which it is noise-like (-60 .. 0, noisy over
  // tonal): between, the share moves linearly from one to the other.
  double tonal_tilt_extrapolation = 1.5;
  double tonal_flatness_db = -14;
  double noisy_flatness_db = -11;
  // Above rolloff_knee_hz the envelope falls by rolloff_db_per_octave more (1000 .. 100000 Hz;
  // -60 .. 0 dB/octave).
  double rolloff_knee_hz = 13000;
  double rolloff_db_per_octave = -48;
  // How much of the copied bins' fine structure (their contrast within a sixth-octave band) the
  // added band keeps: 1 all, 0 none (flat magnitudes at the band's level, the copy's phases).
  // Shifted partials do not land on the true ones, so their contrast only adds error: 0 is the
  // best guess of the band's log level (issue 13's tuning part: mean LSD reduction 16.7 % ->
  // 18.5 % on its own).
  double fine_structure = 0.0;
  // One-pole time constant of the band powers the tilt is fitted to, s (0.05 .. 30).
  double tilt_smoothing_s = 1.0;
  // Transient-aware gain: level of frames without an onset re the envelope, dB (-30 .. 0), the
  // jump over the average level that gets the full envelope, dB (0.5 .. 30), and the average's
  // time constant, s (0.02 .. 10).
  double steady_gain_db = -3;
  double transient_jump_db = 6;
  double transient_smoothing_s = 0.3;
  // Gate: level over floor where the added band starts, dB (0 .. 40), and the range over which
  // it fades in, dB (1 .. 40); the floor's minimum-statistics window, s (0.5 .. 60); the floor is
  // at least floor_below_loud_db under the loud level, dB (3 .. 80), which falls at
  // loud_release_db_per_s, dB/s (0.1 .. 60).
  double gate_snr_db = 6;
  double gate_range_db = 6;
  double gate_window_s = 4;
  double floor_below_loud_db = 20;
  double loud_release_db_per_s = 3;

  // The one declaration of every field's key, unit, range and meaning (params.hpp).
  static const params::Fields<HfRegenSettings>& fields();
  // Throws UsageError naming the first bad field and its range.
  // Whether cutoff_hz and max_freq_hz leave a band to regenerate at this rate: the cutoff within
  // 1000 .. 0.9 Nyquist and at least 1/12 octave below the effective top, max_freq_hz within its
  // range. validate() refuses exactly these cases (with a message), besides the other fields.
  bool has_band(int sample_rate_hz) const;
  void validate(int sample_rate_hz) const;
  nlohmann::json to_json() const;
};

// Streaming regenerator (see the comment at the top). Memory is fixed by fft_size() and channels.
class HfRegenerator final : public Processor {
 public:
  // Largest amplitude gain of a source bin into the added band, dB.
  static constexpr double kMaxPatchGainDb = 12.0;
  // Quarter-octave bands of the source octave that the envelope is measured in.
  static constexpr int kSourceBands = 4;

  // Throws UsageError for bad settings, channels < 1, a sample rate outside 8000..768000 Hz or an
  // intensity outside 0..2.
  HfRegenerator(int channels, int sample_rate_hz, const HfRegenSettings& settings,
                double intensity = 1.0);
  ~HfRegenerator() override;
  HfRegenerator(HfRegenerator&&) noexcept;
  HfRegenerator& operator=(HfRegenerator&&) noexcept;

  void process(const float* in, float* out, size_t frames) override;
  // fft_size(): the dry path is delayed to meet the synthesised band.
  size_t latency_frames() const override;
  int channels() const override;
  int fft_size() const;

  // Energy of everything added so far re the energy of the input so far, dB (sums over channels
  // and frames); -inf while nothing has been added.
  double added_energy_db() const;
  // Share of the STFT frames run so far that got any added band (0 when none ran).
  double active_ratio() const;
  // Mean of the measured tilt (before tilt_extrapolation, clamped) over the frames that measured
  // one (source octave not silent), dB per octave; 0 when none did.
  double tilt_db_per_octave() const;
  // Mean of the source octave's smoothed spectral flatness over the same frames, dB; 0 when
  // none measured one.
  double flatness_db() const;
  // {added_energy_db (json_level), active_ratio, tilt_db_per_octave, flatness_db}.
  nlohmann::json statistics() const override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace rz::dsp
