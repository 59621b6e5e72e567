#include "common/util/fs.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace chorus {
namespace {

namespace fs = std::filesystem;

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("chorus_fs_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FsTest, AtomicWriteCreatesParentsAndReplaces) {
  const std::string path = (dir_ / "a" / "b.txt").string();
  ASSERT_TRUE(AtomicWriteFile(path, "first").ok());
  ASSERT_TRUE(AtomicWriteFile(path, "second").ok());
  EXPECT_EQ(ReadFile(path).value(), "second");
  // No temporary files are left behind.
  int files = 0;
  for (auto& e : fs::directory_iterator(dir_ / "a")) { (void)e; ++files; }
  EXPECT_EQ(files, 1);
}

TEST_F(FsTest, FailedWriterLeavesOldContentAndNoTemp) {
  const std::string path = (dir_ / "c.txt").string();
  ASSERT_TRUE(AtomicWriteFile(path, "keep").ok());
  Status st = AtomicWriteWith(path, [](const std::string& tmp) {
    AtomicWriteFile(tmp + ".junk", "x").ok();
    return IoError("disk full");
  });
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_EQ(ReadFile(path).value(), "keep");
}

TEST_F(FsTest, ReadMissingFileNamesIt) {
  auto r = ReadFile((dir_ / "missing.txt").string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing.txt"), std::string::npos);
}

}  // namespace
}  // namespace chorus
