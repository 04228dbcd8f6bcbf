// Copying stems through and running processor chains over stem files.
#include "rz/stems/process.hpp"

#include <algorithm>

#include "rz/audio/file.hpp"
#include "rz/error.hpp"
#include "rz/stems/sha256.hpp"

namespace rz::stems {

namespace fs = std::filesystem;

namespace {

// Float encodings can hold NaN and infinity; integer PCM cannot.
bool can_hold_non_finite(const audio::FileInfo& info) {
  return info.encoding == "float32" || info.encoding == "float64";
}

}  // namespace

void copy_stem(StemDirWriter& out, const StemEntry& stem, const fs::path& src) {
  const fs::path dst = out.stem_file_path(stem.name);
  fs::remove(dst);
  const audio::FileInfo info = audio::Reader(src).info();
  if (info.container == "wav" && can_hold_non_finite(info)) {
    // Copied bit for bit, but a stem with NaN or infinity is refused as any stage refuses it.
    scan_file(src, [](const float*, size_t) {}, "check " + stem.name, {});
  }
  if (info.container == "wav") {
    out.add_stem(stem.name, stem.frames, copy_file_sha256(src, dst));
    out.manifest().stems.back().format = "wav/" + info.encoding;
    out.set_stem_role(stem.name, stem.role);
    return;
  }
  audio::Reader r(src);
  audio::WriteSpec spec;
  spec.sample_rate_hz = r.info().sample_rate_hz;
  spec.channels = r.info().channels;
  audio::Writer w(dst, spec);
  std::vector<float> b(kStemBlockFrames * static_cast<size_t>(spec.channels));
  int64_t frames = 0;
  for (size_t n; (n = r.read(b.data(), kStemBlockFrames)) > 0; frames += static_cast<int64_t>(n)) {
    throw_if_interrupted();
    audio::check_finite(b.data(), n, spec.channels, frames, spec.sample_rate_hz, src);
    w.write(b.data(), n);
  }
  w.close();
  out.add_stem(stem.name, frames);
  out.set_stem_role(stem.name, stem.role);
}

namespace {
void report_frames(const Progress& progress, const std::string& stage, int64_t done,
                   int64_t total) {
  throw_if_interrupted();
  report(progress, stage, total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0);
}
}  // namespace

int64_t scan_file(const fs::path& src,
                  const std::function<void(const float* block, size_t frames)>& on_block,
                  const std::string& stage, const Progress& progress) {
  audio::Reader reader(src);
  const int64_t total = reader.info().frames;
  std::vector<float> buf(kStemBlockFrames * static_cast<size_t>(reader.info().channels));
  int64_t done = 0;
  for (size_t n; (n = reader.read(buf.data(), kStemBlockFrames)) > 0;) {
    audio::check_finite(buf.data(), n, reader.info().channels, done, reader.info().sample_rate_hz,
                        src);
    on_block(buf.data(), n);
    done += static_cast<int64_t>(n);
    report_frames(progress, stage, done, total);
  }
  return done;
}

ProcessedFile process_file(const fs::path& src, const fs::path& dst,
                           const std::vector<dsp::Processor*>& chain, const BlockObserver& observer,
                           const std::string& stage, const Progress& progress) {
  audio::Reader reader(src);
  const size_t ch = static_cast<size_t>(reader.info().channels);
  const int64_t total = reader.info().frames;
  size_t latency = 0;
  for (const auto* p : chain) latency += p->latency_frames();
  audio::WriteSpec spec;
  spec.sample_rate_hz = reader.info().sample_rate_hz;
  spec.channels = reader.info().channels;
  audio::Writer writer(dst, spec);
  std::vector<float> buf(kStemBlockFrames * ch), work(kStemBlockFrames * ch);
  // The input is kept for `latency` frames so each output block meets the input it answers.
  std::vector<float> history;
  int64_t read_frames = 0, skipped = 0, written = 0;
  auto push = [&](const float* data, size_t n) {
    std::copy(data, data + n * ch, work.begin());
    for (auto* p : chain) p->process(work.data(), work.data(), n);
    size_t start = 0;
    if (skipped < static_cast<int64_t>(latency)) {
      start = static_cast<size_t>(
          std::min<int64_t>(static_cast<int64_t>(latency) - skipped, static_cast<int64_t>(n)));
      skipped += static_cast<int64_t>(start);
    }
    size_t count = n - start;
    if (written + static_cast<int64_t>(count) > total) count = static_cast<size_t>(total - written);
    if (count == 0) return;
    writer.write(work.data() + start * ch, count);
    if (observer) observer(history.data(), work.data() + start * ch, count);
    history.erase(history.begin(), history.begin() + static_cast<std::ptrdiff_t>(count * ch));
    written += static_cast<int64_t>(count);
  };
  for (;;) {
    const size_t n = reader.read(buf.data(), kStemBlockFrames);
    if (n == 0) break;
    audio::check_finite(buf.data(), n, spec.channels, read_frames, spec.sample_rate_hz, src);
    history.insert(history.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n * ch));
    push(buf.data(), n);
    read_frames += static_cast<int64_t>(n);
    report_frames(progress, stage, read_frames, total);
  }
  std::fill(buf.begin(), buf.end(), 0.0f);
  while (written < total)
    push(buf.data(), std::min<size_t>(kStemBlockFrames, latency + kStemBlockFrames));
  writer.close();
  ProcessedFile r;
  r.frames = written;
  r.sha256 = sha256_file(dst);
  return r;
}

}  // namespace rz::stems
