// rz-report's HTML: one self-contained page (CSS and script inline, the audio in audio.js beside
// it as base64, the pictures in img/), no network access, works from file://. Opened with
// "#selftest" it checks itself (images and audio load, the A/B toggle switches and keeps the
// playhead, no script errors) and writes the result as JSON into <pre id="rz-selftest">, for the
// headless-browser test.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rz::reporting {

struct PageStem {
  std::string name;
  std::string spectrogram, waveform;  // under img/
  nlohmann::json loudness;            // short-term LUFS every 0.5 s
  nlohmann::json metrics;             // rz-metrics' measurements
  double top_hz = 0;
};

struct PageVersion {
  std::string label, path, kind, programme_name;
  double duration_s = 0;
  int rate = 0, channels = 0;
  PageStem programme;
  std::vector<PageStem> stems;
  nlohmann::json history = nlohmann::json::array();
  std::string preview_file;
  double preview_gain_db = 0, preview_lufs = 0;
};

struct PageData {
  std::string title;
  std::vector<PageVersion> versions;
  std::vector<float> momentary_first;
  double excerpt_start_s = 0, excerpt_s = 0;
  int width = 0;
};

std::string render_page(const PageData& page);

// HTML text escaping (& < > " ').
std::string html_escape(const std::string& text);

}  // namespace rz::reporting
