#pragma once
// What every fuzz target checks besides "no crash, no hang, no sanitizer report": bad input is
// refused with seqtorch's one-line error (a c10::Error whose message, backtrace aside, is one
// line). Any other exception escapes to libFuzzer, which reports it as a crash.
#include <c10/util/Exception.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace seqtorch::fuzz {

inline void check_message(const std::string& msg) {
  if (msg.empty() || msg.find('\n') != std::string::npos) {
    std::fprintf(stderr, "fuzz: an error message that is not one line: [%s]\n", msg.c_str());
    std::abort();
  }
}

/// Runs `body`; a c10::Error is an accepted refusal (its message checked).
template <class F>
void refused_or_fine(F&& body) {
  try {
    body();
  } catch (const c10::Error& e) {
    check_message(e.what_without_backtrace());
  }
}

/// Aborts (a finding) when `ok` is false.
inline void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace seqtorch::fuzz
