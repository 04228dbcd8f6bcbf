// Process and file-system helpers of the CLI tests (fork/exec with pipes and poll; snapshots).
#include "cli_util.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "rz/io/temp.hpp"
#include "rz/stems/manifest.hpp"
#include "rz/stems/sha256.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;

namespace rz::cli_test {

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("cli_util: " + what + ": " + std::strerror(errno));
}

}  // namespace

fs::path bin_dir() {
  if (const char* env = std::getenv("RZ_BIN_DIR"); env && *env) return fs::path(env);
#ifdef RZ_BIN_DIR
  return fs::path(RZ_BIN_DIR);
#else
  return fs::path("bin");
#endif
}

fs::path tool_path(const std::string& tool) { return bin_dir() / tool; }

std::vector<std::string> RunResult::err_lines() const { return split_lines(err); }
std::vector<std::string> RunResult::out_lines() const { return split_lines(out); }

std::string RunResult::describe() const {
  std::ostringstream s;
  s << "exit " << exit_code << "\n--- stdout ---\n" << out << "\n--- stderr ---\n" << err;
  return s.str();
}

RunOptions in_dir(const fs::path& cwd, std::optional<std::string> stdin_text) {
  RunOptions o;
  o.cwd = cwd;
  o.stdin_text = std::move(stdin_text);
  return o;
}

RunResult run(const std::string& tool, const std::vector<std::string>& args,
              const RunOptions& options) {
  return run_program(tool_path(tool).string(), args, options);
}

RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                      const RunOptions& options) {
  // A child that exits without reading its stdin must not kill the test runner with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  // Everything the child needs is prepared before fork(): between fork and exec only
  // async-signal-safe calls are made.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(program);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string cwd = options.cwd.string();
  // The child's environment: ours with options.env applied (built here, not in the child).
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
  if (!options.env.empty()) {
    for (char** e = environ; *e; ++e) {
      const std::string entry = *e;
      if (!options.env.count(entry.substr(0, entry.find('=')))) env_storage.push_back(entry);
    }
    for (const auto& [name, value] : options.env) {
      if (value) env_storage.push_back(name + "=" + *value);
    }
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
  }

  int in_pipe[2] = {-1, -1}, out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) fail("pipe");
  if (options.stdin_text && pipe2(in_pipe, O_CLOEXEC) != 0) fail("pipe");
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) fail("open /dev/null");

  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    // dup2 clears FD_CLOEXEC on the target descriptors; everything else closes at exec.
    if (dup2(options.stdin_text ? in_pipe[0] : devnull, STDIN_FILENO) < 0) _exit(126);
    if (dup2(out_pipe[1], STDOUT_FILENO) < 0 || dup2(err_pipe[1], STDERR_FILENO) < 0) _exit(126);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    if (envp.empty())
      execvp(argv[0], argv.data());
    else
      execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  ::close(devnull);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  int out_fd = out_pipe[0], err_fd = err_pipe[0], in_fd = -1;
  if (options.stdin_text) {
    ::close(in_pipe[0]);
    in_fd = in_pipe[1];
    fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  }
  const std::string& input = options.stdin_text ? *options.stdin_text : std::string();
  size_t written = 0;
  if (in_fd >= 0 && input.empty()) close_fd(in_fd);

  RunResult r;
  bool killed = false;
  char buf[65536];
  while (out_fd >= 0 || err_fd >= 0 || in_fd >= 0) {
    pollfd fds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out_fd >= 0) idx_out = n, fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) idx_err = n, fds[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) idx_in = n, fds[n++] = {in_fd, POLLOUT, 0};
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (options.signal != 0 && !r.signal_sent && elapsed >= options.signal_after_s) {
      kill(pid, options.signal);
      r.signal_sent = true;
    }
    double until = options.timeout_s;
    if (options.signal != 0 && !r.signal_sent) until = std::min(until, options.signal_after_s);
    const int wait_ms = static_cast<int>(std::max(0.0, until - elapsed) * 1000) + 1;
    const int ready = poll(fds, static_cast<nfds_t>(n), wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail("poll");
    }
    if (ready == 0) {
      const double now =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (now < options.timeout_s) continue;  // woke up to send options.signal
      if (!killed) kill(pid, SIGKILL);
      killed = true;
      break;
    }
    auto drain = [&](int idx, int& fd, std::string& sink) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      const ssize_t got = ::read(fd, buf, sizeof(buf));
      if (got > 0)
        sink.append(buf, static_cast<size_t>(got));
      else if (got == 0 || errno != EINTR)
        close_fd(fd);
    };
    drain(idx_out, out_fd, r.out);
    drain(idx_err, err_fd, r.err);
    if (idx_in >= 0 && fds[idx_in].revents) {
      if (fds[idx_in].revents & (POLLERR | POLLHUP)) {
        close_fd(in_fd);  // the child closed its stdin
      } else {
        const ssize_t put = ::write(in_fd, input.data() + written, input.size() - written);
        if (put > 0)
          written += static_cast<size_t>(put);
        else if (put < 0 && errno != EAGAIN && errno != EINTR)
          close_fd(in_fd);
        if (written == input.size()) close_fd(in_fd);
      }
    }
  }
  close_fd(out_fd);
  close_fd(err_fd);
  close_fd(in_fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail("waitpid");
  }
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    r.exit_code = 128 + (r.term_signal = WTERMSIG(status));
  if (killed) r.err += "\n[cli_util: killed after " + std::to_string(options.timeout_s) + " s]\n";
  return r;
}

std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> temp_entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& n : list_dir(dir)) {
    if (rz::io::is_temp_name(n)) names.push_back(n);
  }
  return names;
}

namespace {

// What a snapshot records for one entry, without following a symlink or opening anything but a
// regular file (hostile inputs hold FIFOs and links to devices).
std::string entry_state(const fs::path& p) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(p, ec);
  if (ec) return "unreadable";
  if (fs::is_symlink(st)) return "symlink -> " + fs::read_symlink(p, ec).string();
  if (fs::is_regular_file(st)) return rz::stems::sha256_file(p);
  if (fs::is_directory(st)) return "dir";
  if (fs::is_fifo(st)) return "fifo";
  return "other";
}

}  // namespace

Snapshot snapshot(const fs::path& path) {
  Snapshot s;
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(path, ec);
  if (!fs::exists(st)) return s;  // absent: an empty snapshot
  if (!fs::is_directory(st)) {
    s[""] = entry_state(path);
    return s;
  }
  for (auto it = fs::recursive_directory_iterator(path); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string rel = fs::relative(it->path(), path).string();
    const std::string state = entry_state(it->path());
    s[state == "dir" ? rel + "/" : rel] = state;
  }
  return s;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cli_util: cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cli_util: cannot write " + path.string());
}

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(read_text(path)); }

void check_refusal(const RunResult& r, const std::string& tool, int exit_code) {
  INFO(r.describe());
  CHECK(r.exit_code == exit_code);
  CHECK(r.out.empty());
  const auto lines = r.err_lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines.front().rfind(tool + ": error: ", 0) == 0);
  CHECK(r.err.back() == '\n');  // one complete line
}

void write_stem_dir(const fs::path& dir, const std::vector<StemSpec>& stems, int sample_rate_hz,
                    int channels) {
  fs::create_directories(dir);
  nlohmann::json entries = nlohmann::json::array();
  int64_t frames = 0;
  for (const auto& s : stems) {
    const std::string file = s.name + ".wav";
    rz::test::write_wav(dir / file, s.samples, sample_rate_hz, channels);
    frames = static_cast<int64_t>(s.samples.size()) / channels;
    entries.push_back({{"name", s.name},
                       {"file", file},
                       {"format", "wav/float32"},
                       {"frames", frames},
                       {"bytes", fs::file_size(dir / file)},
                       {"sha256", rz::stems::sha256_file(dir / file)}});
  }
  const nlohmann::json manifest = {{"schema", rz::stems::kSchemaName},
                                   {"schema_version", rz::stems::kSchemaVersion},
                                   {"sample_rate_hz", sample_rate_hz},
                                   {"channels", channels},
                                   {"frames", frames},
                                   {"stems", entries},
                                   {"source", nlohmann::json::object()},
                                   {"analysis", nlohmann::json::object()},
                                   {"history", nlohmann::json::array()}};
  write_text(dir / rz::stems::kManifestFile, manifest.dump(2) + "\n");
}

void set_role(const fs::path& dir, const std::string& stem, const std::string& role) {
  nlohmann::json m = read_json(dir / rz::stems::kManifestFile);
  bool found = false;
  for (auto& s : m["stems"]) {
    if (s["name"] != stem) continue;
    found = true;
    if (role.empty())
      s.erase("role");
    else
      s["role"] = role;
  }
  REQUIRE(found);
  write_text(dir / rz::stems::kManifestFile, m.dump(2) + "\n");
}

void refresh_manifest_hashes(const fs::path& dir) {
  nlohmann::json m = read_json(dir / rz::stems::kManifestFile);
  for (auto& s : m["stems"]) {
    const fs::path p = dir / s["file"].get<std::string>();
    s["bytes"] = fs::file_size(p);
    s["sha256"] = rz::stems::sha256_file(p);
  }
  write_text(dir / rz::stems::kManifestFile, m.dump(2) + "\n");
}

RunResult run_ok(const std::string& tool, const std::vector<std::string>& args,
                 const RunOptions& options) {
  RunResult r = run(tool, args, options);
  INFO(tool << " failed\n" << r.describe());
  REQUIRE(r.exit_code == 0);
  return r;
}

std::string shared(const std::string& relative) {
  return std::filesystem::absolute(rz::test::require_shared(relative)).string();
}

nlohmann::json last_history_entry(const std::filesystem::path& dir, const std::string& tool) {
  const nlohmann::json m = read_json(dir / "manifest.json");
  REQUIRE(m.at("history").is_array());
  REQUIRE_FALSE(m.at("history").empty());
  const nlohmann::json e = m.at("history").back();
  REQUIRE(e.at("tool") == tool);
  return e;
}

nlohmann::json decision(const nlohmann::json& stem_record, const std::string& block) {
  for (const auto& d : stem_record.at("decisions"))
    if (d.at("block") == block) return d;
  FAIL("no decision for " << block << " in " << stem_record.dump());
  return {};
}

nlohmann::json compare_to(const std::filesystem::path& cwd, const std::string& target,
                          const std::string& reference, const std::string& stem) {
  const RunResult r =
      run_ok("rz-metrics", {"--json", target, "--reference", reference}, in_dir(cwd));
  const nlohmann::json j = nlohmann::json::parse(r.out);
  INFO(r.out);
  REQUIRE(j.at("stems").contains(stem));
  return j.at("stems").at(stem).at("reference");
}

}  // namespace rz::cli_test
