// Same-host transfer through shared memory: the inbox round trip, and what
// the sender refuses to write into.
#include "distributed/shm_transfer_internal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "skein/core/error.h"

namespace skein::distributed::internal {
namespace {

namespace fs = std::filesystem;

Serialized Frames(std::vector<std::string> parts) {
  Serialized s;
  s.type = "test";
  for (std::string& p : parts) s.frames.push_back(Buffer(std::move(p)));
  return s;
}

std::string Text(const Buffer& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

class ShmTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ShmHostId().empty()) GTEST_SKIP() << "no usable /dev/shm here";
  }
};

TEST_F(ShmTransferTest, FramesRoundTripAlignedAndTheFileIsGoneAfterwards) {
  std::string path;
  std::vector<Buffer> got;
  {
    ShmInbox inbox;
    ASSERT_TRUE(inbox.valid());
    path = "/dev/shm/" + inbox.name();
    EXPECT_TRUE(fs::exists(path));
    EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    std::string big(3 << 20, 'x');
    big[12345] = 'y';
    ASSERT_TRUE(ShmWrite(inbox.name(), Frames({"abc", "", big, "z"})));
    got = inbox.Read({3, 0, big.size(), 1}, "value v");
  }
  EXPECT_FALSE(fs::exists(path));  // removed with the inbox; the frames read live on
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(Text(got[0]), "abc");
  EXPECT_EQ(got[1].size(), 0u);
  EXPECT_EQ(got[2].size(), size_t{3} << 20);
  EXPECT_EQ(static_cast<char>(got[2].data()[12345]), 'y');
  EXPECT_EQ(Text(got[3]), "z");
  for (const Buffer& b : got) {
    if (b.size()) EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
  }
}

TEST_F(ShmTransferTest, SizesThatDisagreeWithTheFileAreRefusedByName) {
  ShmInbox inbox;
  ASSERT_TRUE(ShmWrite(inbox.name(), Frames({"abcd"})));
  try {
    inbox.Read({5}, "value shuffle-3");
    FAIL() << "a frame longer than the file was accepted";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("value shuffle-3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("announced 5"), std::string::npos) << e.what();
  }
  ShmInbox untouched;
  EXPECT_THROW(untouched.Read({1}, "value w"), CommError);  // the sender never wrote
}

TEST_F(ShmTransferTest, TheSenderWritesOnlyIntoAnEmptyInboxOfThisUser) {
  const Serialized s = Frames({"payload"});
  // Not an inbox name: a path elsewhere, a traversal, another file in /dev/shm.
  EXPECT_FALSE(ShmWrite("/etc/passwd", s));
  EXPECT_FALSE(ShmWrite("../../etc/passwd", s));
  EXPECT_FALSE(ShmWrite("skein-inbox-1/../../x", s));
  EXPECT_FALSE(ShmWrite("skein-inbox-", s));
  EXPECT_FALSE(ShmWrite("skein-inbox-12-99999999", s));  // the name of no file
  // A symbolic link with an inbox's name is not followed.
  const std::string target = (fs::temp_directory_path() / ("skein-shm-target-" + std::to_string(getpid()))).string();
  std::ofstream(target) << "";
  const std::string link = "/dev/shm/skein-inbox-" + std::to_string(getpid()) + "-424242";
  fs::remove(link);
  fs::create_symlink(target, link);
  EXPECT_FALSE(ShmWrite(fs::path(link).filename().string(), s));
  EXPECT_EQ(fs::file_size(target), 0u);
  fs::remove(link);
  fs::remove(target);
  // An inbox already written is not written again.
  ShmInbox inbox;
  ASSERT_TRUE(ShmWrite(inbox.name(), s));
  EXPECT_FALSE(ShmWrite(inbox.name(), Frames({"other bytes"})));
  EXPECT_EQ(Text(inbox.Read({7}, "v")[0]), "payload");
}

TEST(ShmFrameOffsets, FramesStartOn64ByteBoundariesAndTheLastEntryIsTheFileSize) {
  EXPECT_EQ(ShmFrameOffsets({}), (std::vector<uint64_t>{0}));
  EXPECT_EQ(ShmFrameOffsets({3, 0, 64, 1}), (std::vector<uint64_t>{0, 64, 64, 128, 129}));
}

}  // namespace
}  // namespace skein::distributed::internal
