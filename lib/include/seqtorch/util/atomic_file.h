#pragma once
// Files that are never half-written: the content goes to a temporary file beside the target, is
// flushed to disk, then renamed over the target in one step. A crash at any moment leaves either
// the old file or the new one.
#include <functional>
#include <ostream>
#include <string>

namespace seqtorch::util {

/// Calls `write` on a stream to a temporary file in path's folder (created if missing), fsyncs
/// it, renames it to `path` and fsyncs the folder. If `write` throws or any step fails, the
/// temporary is removed, `path` is untouched, and the error (naming the file) propagates.
void write_atomically(const std::string& path,
                      const std::function<void(std::ostream&)>& write);

/// write_atomically of a whole string.
void write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace seqtorch::util
