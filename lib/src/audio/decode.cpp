// Opening recordings: libsndfile directly, or ffmpeg into a temporary float WAV for other
// containers.
#include "rz/audio/decode.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "rz/error.hpp"

namespace fs = std::filesystem;

namespace rz::audio {

void require_regular_file(const fs::path& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw InputError("cannot open", path.string(), "no such file");
  if (fs::is_directory(st)) throw InputError("cannot open", path.string(), "is a directory");
  if (!fs::is_regular_file(st))
    throw InputError("cannot open", path.string(), "not a regular file");
  if (fs::file_size(path, ec) == 0) throw InputError("cannot open", path.string(), "file is empty");
  std::ifstream probe(path, std::ios::binary);
  if (!probe) throw InputError("cannot open", path.string(), std::strerror(errno));
}

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

// Runs argv with stdin from /dev/null and stdout/stderr captured into `output`; returns exit
// status.
int run_capture(const std::vector<std::string>& argv, std::string& output) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0 && output.size() < 65536) output.append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  size_t nl = t.find_last_of('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace

DecodedFile::DecodedFile(const fs::path& path, const DecodeOptions& options) {
  require_regular_file(path);
  try {
    reader_.emplace(path);
    source_container_ = reader_->info().container;
    source_encoding_ = reader_->info().encoding;
    return;
  } catch (const InputError& sndfile_error) {
    if (!options.allow_ffmpeg) throw;
    fs::path ffmpeg = find_program(options.ffmpeg);
    if (ffmpeg.empty()) {
      // libsndfile's own words ("File contains data in an unknown format.") plus the way out.
      std::string why = sndfile_error.what();
      why = why.substr(why.find("': ") == std::string::npos ? 0 : why.find("': ") + 3);
      while (!why.empty() && (why.back() == '.' || why.back() == ' ')) why.pop_back();
      throw InputError("cannot decode", path.string(),
                       why + "; for formats libsndfile does not read install ffmpeg");
    }
    fs::path dir = options.temp_dir.empty() ? fs::temp_directory_path() : options.temp_dir;
    std::string pattern = (dir / "rz-decode-XXXXXX").string();
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    int fd = mkstemp(name.data());
    if (fd < 0) throw IoError("cannot create", pattern, std::strerror(errno));
    close(fd);
    temp_ = fs::path(name.data());
    std::string log;
    int rc = run_capture(
        {ffmpeg.string(), "-nostdin", "-v", "error", "-y", "-i", path.string(), "-vn", "-map",
         "0:a:0", "-c:a", "pcm_f32le", "-rf64", "auto", "-f", "wav", temp_.string()},
        log);
    if (rc != 0) {
      std::error_code ec;
      fs::remove(temp_, ec);
      temp_.clear();
      std::string why = last_line(log);
      if (why.find("matches no streams") != std::string::npos) why = "no audio stream";
      throw InputError("cannot decode", path.string(),
                       why.empty() ? "ffmpeg could not decode it" : "ffmpeg: " + why);
    }
    reader_.emplace(temp_);
    source_container_ =
        path.extension().string().empty() ? "unknown" : path.extension().string().substr(1);
    source_encoding_ = "ffmpeg";
  }
}

DecodedFile::~DecodedFile() {
  reader_.reset();
  if (!temp_.empty()) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

}  // namespace rz::audio
