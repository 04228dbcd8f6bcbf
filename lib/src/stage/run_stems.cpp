// The per-stem loop shared by the stem-rewriting stages.
#include "rz/stage/run_stems.hpp"

#include <algorithm>
#include <chrono>

namespace rz::stage {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The end of a stem-rewriting stage: carries the input's manifest over (Manifest::inherit),
// appends this run's history entry, commits `out`, and sets report.output and report.record, the
// --json record {"output": path, "stems": {name: each record's "result"}}.
void commit(stems::StemDirWriter& out, const stems::Manifest& input, json provenance,
            const json& parameters, const json& stems, double elapsed_s, StageReport& report) {
  stems::Manifest& m = out.manifest();
  m.inherit(input);
  provenance["inputs"] = input.stem_hashes();
  provenance["parameters"] = parameters;
  provenance["stems"] = stems;
  provenance["elapsed_s"] = elapsed_s;
  m.history.push_back(std::move(provenance));
  report.output = out.commit();
  json summary = json::object();
  for (const auto& [name, sj] : stems.items()) summary[name] = sj.value("result", "unprocessed");
  report.record = {{"output", report.output.string()}, {"stems", summary}};
}

}  // namespace

Plan Plan::copy(std::string why, bool measured, std::string note) {
  Plan p;
  p.measured = measured;
  p.why = std::move(why);
  p.note = std::move(note);
  return p;
}

Plan Plan::process(std::function<std::optional<Chain>(size_t)> attempt,
                   std::function<Verdict(size_t, const json&)> judge, std::string rejected_why,
                   std::string rejected_note) {
  Plan p;
  p.copies = false;
  p.measured = true;
  p.attempt = std::move(attempt);
  p.judge = std::move(judge);
  p.why = std::move(rejected_why);
  p.note = std::move(rejected_note);
  return p;
}

StageReport run_stems(const stems::StemDir& in, const fs::path& output, bool force,
                      const StemStage& stage, const json& provenance, const Progress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  const stems::Manifest& im = in.manifest();
  stems::StemDirWriter out(output, force);
  StageReport rep;
  json records = json::object();
  for (const auto& entry : im.stems) {
    const auto ts = std::chrono::steady_clock::now();
    json record = json::object();
    if (stage.describe) stage.describe(entry, record);
    record["input_sha256"] = entry.sha256;
    if (!entry.role.empty()) record["role"] = entry.role;
    Stem stem{entry, in.stem_path(entry), im.channels, im.sample_rate_hz, record, rep, progress};
    auto copy_through = [&](const std::string& why, const std::string& note) {
      stems::copy_stem(out, entry, stem.path);
      record["result"] = "unprocessed";
      record["why"] = why;
      rep.notes.push_back(entry.name + ": " + (note.empty() ? why + ", copied" : note));
    };
    const bool selected = stage.stems.empty() || std::find(stage.stems.begin(), stage.stems.end(),
                                                           entry.name) != stage.stems.end();
    const Plan plan = selected ? stage.plan(stem) : Plan::copy("not selected (--stems)", false);
    if (plan.copies) {
      copy_through(plan.why, plan.note);
    } else {
      const fs::path dst = out.stem_file_path(entry.name);
      bool kept = false;
      for (size_t i = 0; !kept; ++i) {
        std::optional<Chain> chain = plan.attempt(i);
        if (!chain) break;
        std::vector<dsp::Processor*> blocks;
        for (auto& b : chain->blocks) blocks.push_back(b.get());
        fs::remove(dst);
        const stems::ProcessedFile done = stems::process_file(
            stem.path, dst, blocks, chain->observer, stage.verb + " " + entry.name, progress);
        json statistics = json::object();
        for (size_t k = 0; k < chain->blocks.size(); ++k) {
          json s = chain->blocks[k]->statistics();
          if (!s.is_null()) statistics[chain->names[k]] = std::move(s);
        }
        const Verdict v = plan.judge(i, statistics);
        if (!v.keep) continue;
        out.add_stem(entry.name, done.frames, done.sha256);
        out.set_stem_role(entry.name, entry.role);
        record["result"] = v.result;
        rep.notes.push_back(entry.name + ": " + (v.note.empty() ? v.result : v.note));
        kept = true;
      }
      if (!kept) copy_through(plan.why, plan.note);
    }
    if (plan.measured) record["elapsed_s"] = seconds_since(ts);
    records[entry.name] = std::move(record);
  }
  commit(out, im, provenance, stage.parameters, records, seconds_since(t0), rep);
  return rep;
}

}  // namespace rz::stage
