#pragma once
// Pieces of error messages that show what the user gave.
#include <string>

namespace seqtorch::util {

/// A user's value for a message, in single quotes: at most `max_bytes` of it (then "... (N
/// bytes)"), control bytes, a UTF-8 byte-order mark and invalid UTF-8 written as \xNN, so a
/// message stays one short, printable line whatever the input held.
std::string quoted(const std::string& value, size_t max_bytes = 60);

/// `text` with control bytes and invalid UTF-8 written as \xNN (no quotes, no shortening).
std::string printable(const std::string& text);

}  // namespace seqtorch::util
