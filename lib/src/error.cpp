// Error message formatting and the process-wide interrupt flag.
#include "rz/error.hpp"

#include <atomic>
#include <cstdio>

namespace rz {

namespace {
std::atomic<bool> g_interrupt{false};
}  // namespace

std::string describe(std::string_view what, std::string_view subject, std::string_view reason) {
  std::string s(what);
  s += " '";
  s += subject;
  s += "': ";
  s += reason;
  return s;
}

std::string printable(std::string_view text, size_t max_chars) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < max_chars; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out += c < 0x20 || c == 0x7f ? '?' : text[i];
  }
  return out + (text.size() > max_chars ? "..." : "");
}

std::string in_quotes(std::string_view text, size_t max_chars) {
  return "'" + printable(text, max_chars) + "'";
}

std::string fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, value);
  return buf;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) s += separator;
    s += items[i];
  }
  return s;
}

void request_interrupt() noexcept { g_interrupt.store(true, std::memory_order_relaxed); }
bool interrupt_requested() noexcept { return g_interrupt.load(std::memory_order_relaxed); }
void throw_if_interrupted() {
  if (interrupt_requested()) throw Interrupted();
}

}  // namespace rz
