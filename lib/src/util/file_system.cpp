#include <seqtorch/util/file_system.h>

#include <c10/util/Exception.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace seqtorch::util {

namespace {
std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}
}  // namespace

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty() || (!b.empty() && b.front() == '/')) return b;
  if (b.empty()) return a;
  return a.back() == '/' ? a + b : a + "/" + b;
}

std::string parent_path(const std::string& path) {
  const std::string p = strip_trailing_slashes(path);
  const auto slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return strip_trailing_slashes(p.substr(0, slash));
}

std::string file_name(const std::string& path) {
  const std::string p = strip_trailing_slashes(path);
  const auto slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

bool path_exists(const std::string& path) {
  struct stat st;
  return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

std::string read_file(const std::string& path) {
  TORCH_CHECK(!path.empty(), "an empty file name");
  TORCH_CHECK(!is_directory(path), path, ": is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) {
    const int err = errno;
    TORCH_CHECK(false, path, ": cannot be read: ", path_exists(path) ? std::strerror(err) : "no such file");
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TORCH_CHECK(!in.bad(), path, ": cannot be read");
  return bytes;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void create_directories(const std::string& path) {
  TORCH_CHECK(!path.empty(), "cannot create a folder with an empty name");
  if (is_directory(path)) return;
  const std::string parent = parent_path(path);
  if (parent != path && parent != "." && parent != "/") create_directories(parent);
  if (::mkdir(path.c_str(), 0777) != 0) {
    const int err = errno;
    // Another process may have made it meanwhile; anything else at that name is an error.
    TORCH_CHECK(err == EEXIST && is_directory(path), "cannot create folder ", path, ": ",
                err == EEXIST ? "a file of that name exists" : std::strerror(err));
  }
}

void rename_path(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    const int err = errno;
    TORCH_CHECK(false, "cannot rename ", from, " to ", to, ": ", std::strerror(err));
  }
}

bool remove_path(const std::string& path) noexcept {
  struct stat st;
  if (path.empty() || ::lstat(path.c_str(), &st) != 0) return false;
  return (S_ISDIR(st.st_mode) ? ::rmdir(path.c_str()) : ::unlink(path.c_str())) == 0;
}

int64_t remove_all(const std::string& path) {
  struct stat st;
  if (path.empty() || ::lstat(path.c_str(), &st) != 0) return 0;
  int64_t removed = 0;
  if (S_ISDIR(st.st_mode))
    for (const auto& name : list_directory(path)) removed += remove_all(join_path(path, name));
  if ((S_ISDIR(st.st_mode) ? ::rmdir(path.c_str()) : ::unlink(path.c_str())) != 0) {
    const int err = errno;
    TORCH_CHECK(false, "cannot remove ", path, ": ", std::strerror(err));
  }
  return removed + 1;
}

std::vector<std::string> list_directory(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    const int err = errno;
    TORCH_CHECK(false, "cannot read folder ", path, ": ", std::strerror(err));
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::string temp_directory() {
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? std::string(t) : std::string("/tmp");
}

}  // namespace seqtorch::util
