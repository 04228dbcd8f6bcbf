// Opening recordings: libsndfile directly, or ffmpeg into a temporary float WAV for other
// containers.
#include "rz/audio/decode.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <csignal>
#include <vector>

#include "rz/error.hpp"
#include "rz/io/file.hpp"

namespace fs = std::filesystem;

namespace rz::audio {

fs::path find_program(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    return access(program.c_str(), X_OK) == 0 ? fs::path(program) : fs::path();
  }
  const char* env = std::getenv("PATH");
  std::string path_list = env ? env : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= path_list.size()) {
    size_t end = path_list.find(':', start);
    if (end == std::string::npos) end = path_list.size();
    fs::path candidate = fs::path(path_list.substr(start, end - start)) / program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

namespace {

// How often a running ffmpeg is checked for a pending interrupt.
constexpr int kPollIntervalMs = 100;

// Runs argv with stdin from /dev/null and stdout/stderr captured into `output` (its first 64 kB);
// returns the exit status, -1 when it could not run or was killed. A signal to this process
// (rz::request_interrupt) stops the child and throws rz::Interrupted: a long decode answers
// Ctrl-C and SIGTERM at once.
int run_capture(const std::vector<std::string>& argv, std::string& output) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(pipefd[0]);
    close(pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // ffmpeg does not outlive a killed rz
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  char buf[4096];
  bool interrupted = false;
  for (;;) {
    if (interrupt_requested()) {
      interrupted = true;
      kill(pid, SIGTERM);
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    const int ready = poll(&p, 1, kPollIntervalMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = ::read(pipefd[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() < 65536) output.append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (interrupted) throw Interrupted();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The reason part of an rz error message ("what 'subject': reason").
std::string reason_of(const Error& e) {
  const std::string message = e.what();
  const size_t at = message.find("': ");
  return at == std::string::npos ? message : message.substr(at + 3);
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  size_t nl = t.find_last_of('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace

DecodedFile::DecodedFile(const fs::path& path, const DecodeOptions& options) {
  io::require_regular_file(path);
  try {
    reader_.emplace(path);
    source_container_ = reader_->info().container;
    source_encoding_ = reader_->info().encoding;
    return;
  } catch (const AudioLimitError&) {
    throw;  // libsndfile read the header: what it declares is refused, whoever decodes it
  } catch (const InputError& sndfile_error) {
    if (!options.allow_ffmpeg) throw;
    fs::path ffmpeg = find_program(options.ffmpeg);
    if (ffmpeg.empty()) {
      // libsndfile's own words ("File contains data in an unknown format.") plus the way out.
      std::string why = reason_of(sndfile_error);
      while (!why.empty() && (why.back() == '.' || why.back() == ' ')) why.pop_back();
      throw InputError("cannot decode", path.string(),
                       why + "; for formats libsndfile does not read install ffmpeg");
    }
    const fs::path dir = options.temp_dir.empty() ? fs::temp_directory_path() : options.temp_dir;
    temp_ = io::LockedTemp::create(dir, "rz-decode", false);
    std::string log;
    int rc = run_capture(
        {ffmpeg.string(), "-nostdin", "-v", "error", "-y", "-i", path.string(), "-vn", "-map",
         "0:a:0", "-c:a", "pcm_f32le", "-rf64", "auto", "-f", "wav", temp_.path().string()},
        log);
    if (rc != 0) {
      temp_.remove();
      std::string why = last_line(log);
      if (why.find("matches no streams") != std::string::npos) why = "no audio stream";
      throw InputError("cannot decode", path.string(),
                       why.empty() ? "ffmpeg could not decode it" : "ffmpeg: " + why);
    }
    try {
      reader_.emplace(temp_.path());
    } catch (const InputError& e) {
      // Name the recording, not the temporary.
      throw InputError("cannot decode", path.string(), "ffmpeg's output: " + reason_of(e));
    }
    source_container_ =
        path.extension().string().empty() ? "unknown" : path.extension().string().substr(1);
    source_encoding_ = "ffmpeg";
  }
}

DecodedFile::~DecodedFile() {
  reader_.reset();  // close it before the temporary goes
}

}  // namespace rz::audio
