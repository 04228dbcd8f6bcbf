// Error hierarchy of the rz library: every failure is an rz::Error carrying the process exit code.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rz {

// Exit codes shared by every rz- tool (documented in rz(7) and each man page).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // runtime failure: unreadable input, bad data, write failure
  kExitUsage = 2,        // bad command line
  kExitCheckFailed = 3,  // a --require threshold failed (rz-metrics)
  kExitInterrupted = 130,
};

// "what 'subject': reason", the one-line message format of every rz error.
std::string describe(std::string_view what, std::string_view subject, std::string_view reason);

// 'text' for messages: at most `max_chars` characters (then "..."), control characters shown as
// '?', so that the message stays on one line whatever bytes a file or a name holds.
std::string in_quotes(std::string_view text, size_t max_chars = 80);
// The same without the quotes, for a name that goes into a quoted subject ("--config: *: reverb").
std::string printable(std::string_view text, size_t max_chars = 80);

// A number with `digits` decimals, for messages ("-14.02").
std::string fixed(double value, int digits = 2);

// The items with `separator` between them, for messages ("declip, highs").
std::string join(const std::vector<std::string>& items, std::string_view separator);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_code = kExitFailure)
      : std::runtime_error(message), exit_code_(exit_code) {}
  Error(std::string_view what, std::string_view subject, std::string_view reason,
        int exit_code = kExitFailure)
      : Error(describe(what, subject, reason), exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Input that cannot be used: unreadable, malformed, silent, too short, non-finite.
class InputError : public Error {
 public:
  using Error::Error;
};

// The file system refused: cannot create, write, rename.
class IoError : public Error {
 public:
  using Error::Error;
};

class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(message, kExitUsage) {}
};

class CheckFailed : public Error {
 public:
  explicit CheckFailed(const std::string& message) : Error(message, kExitCheckFailed) {}
};

class Interrupted : public Error {
 public:
  Interrupted()
      : Error("interrupted", "signal", "stopped; partial output removed", kExitInterrupted) {}
};

// Cooperative cancellation: a signal handler calls request_interrupt(); long loops call
// throw_if_interrupted() once per block so that RAII cleans up partial output.
void request_interrupt() noexcept;
bool interrupt_requested() noexcept;
void throw_if_interrupted();

}  // namespace rz
