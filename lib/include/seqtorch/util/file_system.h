#pragma once
// Paths and the few file-system operations seqtorch needs, over POSIX calls. The one place that
// touches the file system by name: nothing in seqtorch uses std::filesystem.
//
// Why: the LibTorch inside PyTorch's wheels (2.5 and later, pytorch/pytorch#133437) links
// libstdc++'s std::filesystem statically and exports those symbols. A program that links it
// can have its own std::filesystem calls bound to that copy, built against another libstdc++;
// measured with PyTorch 2.11: std::filesystem::remove_all crashed (SIGSEGV) in nine test suites.
// The ctest case portability.no_std_filesystem checks that no seqtorch binary refers to a
// std::filesystem symbol. Paths are plain UTF-8 strings, '/'-separated.
#include <cstdint>
#include <string>
#include <vector>

namespace seqtorch::util {

/// a/b, without doubling the separator; `b` absolute or `a` empty gives `b`.
std::string join_path(const std::string& a, const std::string& b);
/// The folder part of `path` ("runs/x/best.pt" -> "runs/x"); "." when there is none, "/" for
/// files in the root.
std::string parent_path(const std::string& path);
/// The last component ("runs/x/best.pt" -> "best.pt"; trailing slashes ignored).
std::string file_name(const std::string& path);

/// Whether something exists at `path` (a dangling link counts as absent).
bool path_exists(const std::string& path);
/// Whether `path` is a folder (following links).
bool is_directory(const std::string& path);
/// Creates `path` and its missing parents (like mkdir -p). Throws naming the folder and the
/// system's reason when a component cannot be created or is not a folder.
void create_directories(const std::string& path);
/// Renames `from` to `to` in one step, replacing `to` (rename(2)). Throws naming both.
void rename_path(const std::string& from, const std::string& to);
/// Removes a file or an empty folder; returns false (no throw) when nothing was there or it
/// could not be removed.
bool remove_path(const std::string& path) noexcept;
/// Removes `path` and everything below it without following links; returns how many entries
/// went. Throws naming the first entry that could not be removed.
int64_t remove_all(const std::string& path);
/// The names in folder `path` (not "." or ".."), sorted. Throws if it cannot be read.
std::vector<std::string> list_directory(const std::string& path);
/// The bytes of the file at `path`; throws "PATH: is a folder, not a file" or "PATH: cannot be
/// read: REASON" (no such file, permission denied, ...).
std::string read_file(const std::string& path);
/// $TMPDIR when set and non-empty, else /tmp.
std::string temp_directory();

}  // namespace seqtorch::util
