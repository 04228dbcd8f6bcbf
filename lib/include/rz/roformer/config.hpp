// The YAML configs of ZFTurbo's Music-Source-Separation-Training (MSST) for BS-RoFormer and
// Mel-Band RoFormer checkpoints, read with yaml-cpp into the settings rz-separate runs them with.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rz::roformer {

enum class Family {
  kBandSplit,  // BSRoformer (MSST model_type bs_roformer): bands of consecutive bins
  kMelBand,    // MelBandRoformer (mel_band_roformer): overlapping bands from a mel filter bank
};

// "bs_roformer" / "mel_band_roformer" (MSST's --model_type), and back (nullopt when unknown).
const char* family_name(Family f);
std::optional<Family> parse_family(const std::string& model_type);

// The `model:` section: the constructor arguments of BSRoformer / MelBandRoformer, with the
// defaults of MSST ccc011a where a key is absent (they differ between the families; see
// ../shared/roformer/PORTING-NOTES.md).
struct ModelSettings {
  int64_t dim = 0;    // required
  int64_t depth = 0;  // required
  bool stereo = false;
  int64_t num_stems = 1;
  int64_t time_transformer_depth = 2;
  int64_t freq_transformer_depth = 2;
  int64_t linear_transformer_depth = 0;  // only 0 is supported (refused otherwise)
  std::vector<int64_t> freqs_per_bands;  // BS: the 62-band default when absent
  int64_t num_bands = 60;                // Mel
  int64_t dim_head = 64;
  int64_t heads = 8;
  int64_t stft_n_fft = 2048;
  int64_t stft_hop_length = 512;
  int64_t stft_win_length = 2048;
  bool stft_normalized = false;
  bool zero_dc = true;
  int64_t mask_estimator_depth = 2;  // BS 2, Mel 1
  int64_t mlp_expansion_factor = 4;
  bool skip_connection = false;
  int sample_rate_hz = 44100;             // Mel: `sample_rate` (the mel filter bank's rate)
  bool match_input_audio_length = false;  // Mel only
};

// The `inference:` section, with `audio.chunk_size` standing in for an absent chunk_size.
struct InferenceSettings {
  int64_t chunk_size = 0;   // frames per model call
  int64_t num_overlap = 2;  // chunks overlap: step = chunk_size / num_overlap
  int64_t batch_size = 1;
  bool normalize = false;  // mean/std normalisation of the whole input (normalize_audio)
};

struct Config {
  Family family = Family::kMelBand;
  ModelSettings model;
  InferenceSettings inference;
  int sample_rate_hz = 44100;  // audio.sample_rate (default 44100): the rate the model runs at
  int channels = 2;            // 2 when model.stereo, else 1
  std::vector<std::string> instruments;  // training.instruments
  std::string target_instrument;         // training.target_instrument; "" when null or absent
  bool use_amp = true;                   // training.use_amp (fp16 autocast on CUDA)

  // MSST's prefer_target_instrument: [target_instrument] when set, else instruments.
  std::vector<std::string> model_stems() const;
};

// Reads an MSST config. `family` is the model type when the caller knows it (--model-type);
// otherwise it is told from the `model:` keys: `freqs_per_bands` -> BS, `num_bands` or
// `sample_rate` -> Mel (the public configs always set one of them); neither is an error asking
// for --model-type.
//
// Accepts YAML 1.1 as PyYAML's FullLoader does for these files: the `!!python/tuple` tag on a
// sequence is read as a list; any other `!!python/...` tag is refused.
//
// Throws rz::InputError ("bad model config '<path>': <reason>"), with one line naming the key,
// for: a file that cannot be read or is not YAML; YAML that is not a mapping with a `model:`
// mapping (not an MSST config); a `model:` key that the constructor does not take (as MSST's
// TypeError) or that this implementation does not support (linear_transformer_depth > 0,
// use_pope: true, sage_attention, ...: the message names key and value); a value of the wrong
// type or out of range (dim, depth, heads, dim_head >= 1, dim_head even; n_fft, hop, win >= 1,
// win <= n_fft; BS freqs_per_bands all >= 1 summing to n_fft / 2 + 1, at least 2 bands; Mel
// num_bands >= 2; chunk_size >= 1, num_overlap >= 1, batch_size >= 1; Mel chunk_size a
// multiple of stft_hop_length unless match_input_audio_length); an unknown key in
// `inference:`; no `training.instruments`, duplicate names, names that are not valid stem names
// (stems::bad_stem_name_reason), a target_instrument not among them, or a stem count that does
// not match num_stems (model_stems().size() must equal num_stems, or num_stems must be 1 with a
// target instrument). Keys that change nothing at inference (dropouts, flash_attn,
// use_torch_checkpoint, multi_stft_*, dim_freqs_in) are accepted and ignored, as are sections
// other than model/audio/training/inference.
Config read_config(const std::filesystem::path& path, std::optional<Family> family = {});

}  // namespace rz::roformer
