// Same-host transfer by reading the sender's memory: frames come back exact
// from another process, however many there are, and a sender that names
// memory it does not have, or no live process, is a CommError naming the
// value.
#include "distributed/cma_transfer_internal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "skein/core/error.h"
#include "skein/core/serialize.h"

namespace skein::distributed::internal {
namespace {

using ::testing::HasSubstr;

std::string Text(const Buffer& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

// A child process that holds `frames` (copies made before the fork, at the
// same addresses) until the test ends.
class Sender {
 public:
  explicit Sender(const std::vector<std::string>& frames) : frames_(frames) {
    for (const std::string& f : frames_) {
      addresses_.push_back(reinterpret_cast<uintptr_t>(f.data()));
      sizes_.push_back(f.size());
    }
    pid_ = fork();
    if (pid_ == 0) {
      pause();
      _exit(0);
    }
  }
  ~Sender() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  const std::vector<uint64_t>& addresses() const { return addresses_; }
  const std::vector<uint64_t>& sizes() const { return sizes_; }

 private:
  std::vector<std::string> frames_;
  std::vector<uint64_t> addresses_, sizes_;
  pid_t pid_;
};

bool ReadsAllowed(pid_t pid) {
  char c = 0, mine = 1;
  iovec local{&c, 1}, remote{&mine, 1};
  return process_vm_readv(pid, &local, 1, &remote, 1, 0) == 1;
}

// Reads `frames` out of a forked sender under the name `what` and expects
// them back byte for byte (skipped where the kernel refuses the read).
void ExpectReadBack(const std::vector<std::string>& frames, const std::string& what) {
  Sender sender(frames);
  if (!ReadsAllowed(sender.pid())) GTEST_SKIP() << "process_vm_readv is refused here";
  std::vector<Buffer> got = CmaRead(sender.pid(), sender.addresses(), sender.sizes(), what);
  ASSERT_EQ(got.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) ASSERT_EQ(Text(got[i]), frames[i]) << "frame " << i;
}

TEST(CmaRead, FramesComeBackExactFromAnotherProcess) {
  std::vector<std::string> frames = {std::string(3 << 20, 'a'), "", "header bytes", std::string(100000, 'z')};
  frames[0][12345] = 'q';
  ExpectReadBack(frames, "value x");
}

TEST(CmaRead, ALargeFrameNamedAgainInOneExchangeIsReadOnceAndShared) {
  std::vector<std::string> frames = {std::string(200000, 'd'), "small", std::string(100000, 'e')};
  frames[0][777] = 'x';
  Sender sender(frames);
  if (!ReadsAllowed(sender.pid())) GTEST_SKIP() << "process_vm_readv is refused here";
  const auto& a = sender.addresses();
  const auto& n = sender.sizes();
  CmaFrames seen;
  // One value naming the dictionary-like frame twice, then another naming it again.
  std::vector<Buffer> first = CmaRead(sender.pid(), {a[0], a[1], a[0]}, {n[0], n[1], n[0]}, "value p", nullptr, &seen);
  std::vector<Buffer> second = CmaRead(sender.pid(), {a[2], a[0]}, {n[2], n[0]}, "value q", nullptr, &seen);
  EXPECT_EQ(Text(first[0]), frames[0]);
  EXPECT_EQ(Text(first[1]), frames[1]);
  EXPECT_EQ(first[2].data(), first[0].data());
  EXPECT_EQ(second[1].data(), first[0].data());
  EXPECT_EQ(Text(second[0]), frames[2]);
  EXPECT_EQ(seen.size(), 2u);  // the two large frames; "small" is copied each time
  // The same address with another size is another frame.
  std::vector<Buffer> shorter = CmaRead(sender.pid(), {a[0]}, {n[0] - 1}, "value r", nullptr, &seen);
  EXPECT_NE(shorter[0].data(), first[0].data());
  EXPECT_EQ(Text(shorter[0]), frames[0].substr(0, n[0] - 1));
  // A failed read leaves nothing behind to be shared.
  std::vector<uint64_t> nowhere = {8};
  EXPECT_THROW(CmaRead(sender.pid(), nowhere, {kCmaShareMinBytes}, "value s", nullptr, &seen), CommError);
  EXPECT_EQ(seen.count({sender.pid(), 8, kCmaShareMinBytes}), 0u);
}

TEST(CmaRead, ManyFramesAreReadInSeveralCalls) {
  std::vector<std::string> frames;
  for (int i = 0; i < 1300; ++i) frames.push_back("frame " + std::to_string(i) + std::string(static_cast<size_t>(i % 7), '.'));
  ExpectReadBack(frames, "value y");
}

TEST(CmaRead, ASenderNamingMemoryItLacksOrNoProcessIsRefusedByName) {
  std::vector<std::string> frames = {std::string(4096, 'b')};
  Sender sender(frames);
  if (!ReadsAllowed(sender.pid())) GTEST_SKIP() << "process_vm_readv is refused here";
  // An address nothing is mapped at.
  std::vector<uint64_t> nowhere = {4096};
  try {
    CmaRead(sender.pid(), nowhere, sender.sizes(), "value z");
    ADD_FAILURE() << "read from an unmapped address";
  } catch (const CommError& e) {
    EXPECT_THAT(e.what(), HasSubstr("value z"));
  }
  // A frame that runs past the end of what is mapped: the read stops short.
  std::vector<uint64_t> too_long = {sender.sizes()[0] + (uint64_t{256} << 20)};
  EXPECT_THROW(CmaRead(sender.pid(), sender.addresses(), too_long, "value z"), CommError);
  // Addresses and sizes that do not pair up, and no process at all.
  EXPECT_THROW(CmaRead(sender.pid(), {}, sender.sizes(), "value z"), CommError);
  EXPECT_THROW(CmaRead(0, sender.addresses(), sender.sizes(), "value z"), CommError);
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  try {
    CmaRead(gone, sender.addresses(), sender.sizes(), "value w");
    ADD_FAILURE() << "read from a process that exited";
  } catch (const CommError& e) {
    EXPECT_THAT(e.what(), HasSubstr("value w"));
  }
}

// A value lent by another process: bytes are read only as they are copied
// out, to where the caller says; when the sender is gone, or its hold has
// expired, the value is fetched again once and copied from here.
TEST(LendFromProcess, CopiesRangesStraightFromTheSenderAndRefetchesWhenItIsGone) {
  // The frames of a serialized int64 vector (its header and one frame).
  std::vector<int64_t> numbers(50000);
  for (size_t i = 0; i < numbers.size(); ++i) numbers[i] = static_cast<int64_t>(i * 3);
  const Value value = Value::From(numbers);
  const Serialized s = Serialize(value);
  ASSERT_EQ(s.frames.size(), 1u);
  std::vector<std::string> frames = {Text(s.frames[0])};
  int refetches = 0;
  auto refetch = [&] {
    ++refetches;
    return value;
  };
  auto far = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  {
    Sender sender(frames);
    if (!ReadsAllowed(sender.pid())) GTEST_SKIP() << "process_vm_readv is refused here";
    LentValuePtr lent =
        LendFromProcess(s.type, s.header, sender.sizes(), sender.pid(), sender.addresses(), "value v", nullptr, far, refetch);
    ASSERT_EQ(lent->frame_sizes(), std::vector<uint64_t>{numbers.size() * 8});
    // Two ranges in one call, to places of our choosing.
    std::vector<int64_t> head(10), tail(5);
    const LentValue::Copy copies[] = {{0, 0, 80, reinterpret_cast<std::byte*>(head.data())},
                                      {0, (numbers.size() - 5) * 8, 40, reinterpret_cast<std::byte*>(tail.data())}};
    lent->CopyOut(copies);
    EXPECT_EQ(head, std::vector<int64_t>(numbers.begin(), numbers.begin() + 10));
    EXPECT_EQ(tail, std::vector<int64_t>(numbers.end() - 5, numbers.end()));
    EXPECT_EQ(lent->Materialize().get<std::vector<int64_t>>(), numbers);
    EXPECT_EQ(refetches, 0);
    // A range past the frame's end is refused before anything is read.
    const LentValue::Copy past{0, numbers.size() * 8 - 8, 16, reinterpret_cast<std::byte*>(tail.data())};
    EXPECT_THROW(lent->CopyOut({&past, 1}), Error);
    // The sender dies: the next copy fetches the value again, once.
    kill(sender.pid(), SIGKILL);
    waitpid(sender.pid(), nullptr, 0);
    std::vector<int64_t> again(3);
    const LentValue::Copy mid{0, 800, 24, reinterpret_cast<std::byte*>(again.data())};
    lent->CopyOut({&mid, 1});
    lent->CopyOut({&mid, 1});
    EXPECT_EQ(again, (std::vector<int64_t>{300, 303, 306}));
    EXPECT_EQ(refetches, 1);
  }
  {
    // Past the sender's hold, the sender is not read at all.
    Sender sender(frames);
    auto past_hold = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    LentValuePtr lent = LendFromProcess(s.type, s.header, sender.sizes(), sender.pid(), sender.addresses(), "value v",
                                        nullptr, past_hold, refetch);
    EXPECT_EQ(lent->Materialize().get<std::vector<int64_t>>(), numbers);
    EXPECT_EQ(refetches, 2);
    // Without a way to fetch it again, a lent value that cannot be read is a
    // CommError naming it.
    LentValuePtr stuck = LendFromProcess(s.type, s.header, sender.sizes(), sender.pid(), sender.addresses(),
                                         "value u", nullptr, past_hold, nullptr);
    try {
      stuck->Materialize();
      ADD_FAILURE() << "read past the hold";
    } catch (const CommError& e) {
      EXPECT_THAT(e.what(), HasSubstr("value u"));
    }
    // Addresses that do not pair with the frames.
    EXPECT_THROW(LendFromProcess(s.type, s.header, sender.sizes(), sender.pid(), {}, "value t", nullptr, far, refetch),
                 CommError);
  }
}

}  // namespace
}  // namespace skein::distributed::internal
