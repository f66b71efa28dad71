// The POSIX file-system helpers that replace std::filesystem (util/file_system.h): path
// arithmetic, folders made and removed (links not followed), listing, renaming, errors naming
// the path.
#include <seqtorch/util/file_system.h>

#include "support/test_util.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace seqtorch::util {
namespace {

TEST(FileSystem, PathArithmetic) {
  EXPECT_EQ(join_path("runs", "x.pt"), "runs/x.pt");
  EXPECT_EQ(join_path("runs/", "x.pt"), "runs/x.pt");
  EXPECT_EQ(join_path("", "x.pt"), "x.pt");
  EXPECT_EQ(join_path("runs", ""), "runs");
  EXPECT_EQ(join_path("runs", "/abs/x.pt"), "/abs/x.pt");
  EXPECT_EQ(join_path("a", "b/c"), "a/b/c");
  EXPECT_EQ(parent_path("runs/x/best.pt"), "runs/x");
  EXPECT_EQ(parent_path("best.pt"), ".");
  EXPECT_EQ(parent_path("/best.pt"), "/");
  EXPECT_EQ(parent_path("runs/x/"), "runs");
  EXPECT_EQ(parent_path("a//b"), "a");
  EXPECT_EQ(file_name("runs/x/best.pt"), "best.pt");
  EXPECT_EQ(file_name("best.pt"), "best.pt");
  EXPECT_EQ(file_name("runs/x/"), "x");
}

TEST(FileSystem, FoldersAreMadeListedAndRemovedWithoutFollowingLinks) {
  test::TempDir dir;
  const std::string deep = dir.file("a/b/c");
  create_directories(deep);
  create_directories(deep);  // again: nothing to do
  EXPECT_TRUE(is_directory(deep));
  std::ofstream(join_path(deep, "f.txt")) << "x";
  std::ofstream(dir.file("a/g.txt")) << "y";
  // A link to a folder outside: removing the tree must not empty its target.
  test::TempDir outside;
  std::ofstream(outside.file("keep.txt")) << "keep";
  ASSERT_EQ(::symlink(outside.path.c_str(), dir.file("a/link").c_str()), 0);
  EXPECT_EQ(list_directory(dir.file("a")), (std::vector<std::string>{"b", "g.txt", "link"}));
  EXPECT_EQ(remove_all(dir.file("a")), 6);  // a, b, c, f.txt, g.txt, link
  EXPECT_FALSE(path_exists(dir.file("a")));
  EXPECT_TRUE(path_exists(outside.file("keep.txt")));
  EXPECT_EQ(remove_all(dir.file("a")), 0);  // nothing there: nothing to do
}

TEST(FileSystem, RenameRemoveAndErrorsNameThePath) {
  test::TempDir dir;
  std::ofstream(dir.file("old")) << "1";
  std::ofstream(dir.file("new")) << "2";
  rename_path(dir.file("old"), dir.file("new"));  // replaces
  EXPECT_FALSE(path_exists(dir.file("old")));
  std::ifstream in(dir.file("new"));
  std::string text;
  in >> text;
  EXPECT_EQ(text, "1");
  EXPECT_TRUE(remove_path(dir.file("new")));
  EXPECT_FALSE(remove_path(dir.file("new")));
  EXPECT_TRUE(test::throws_with([&] { rename_path(dir.file("none"), dir.file("x")); },
                                {"cannot rename", "none", "No such file"}));
  std::ofstream(dir.file("file")) << "";
  EXPECT_TRUE(test::throws_with([&] { create_directories(dir.file("file/sub")); },
                                {"cannot create folder " + dir.file("file"), "a file of that name exists"}));
  EXPECT_TRUE(test::throws_with([&] { create_directories(dir.file("file")); },
                                {"cannot create folder", "a file of that name exists"}));
  EXPECT_TRUE(test::throws_with([&] { list_directory(dir.file("none")); },
                                {"cannot read folder", "none"}));
}

TEST(FileSystem, TempDirectoryHonoursTmpdir) {
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", "/var/tmp", 1);
  EXPECT_EQ(temp_directory(), "/var/tmp");
  ::setenv("TMPDIR", "", 1);
  EXPECT_EQ(temp_directory(), "/tmp");
  if (old) ::setenv("TMPDIR", saved.c_str(), 1);
  else ::unsetenv("TMPDIR");
}

}  // namespace
}  // namespace seqtorch::util
