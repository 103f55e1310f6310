#include "skein/core/memory_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "skein/core/buffer.h"

namespace skein {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

MemoryPool::Options Opts(size_t retain, double decay = 60) {
  MemoryPool::Options o;
  o.retain_limit = retain;
  o.decay_seconds = decay;
  return o;
}

bool AllBytes(const std::byte* p, size_t n, std::byte v) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != v) return false;
  }
  return true;
}

TEST(MemoryPool, FreedLargeBlockIsReusedForTheSameSize) {
  MemoryPool pool(Opts(64 * kMiB));
  std::byte* a = pool.Allocate(8 * kMiB, false);
  std::memset(a, 1, 8 * kMiB);
  pool.Free(a, 8 * kMiB);
  EXPECT_EQ(pool.stats().cached_bytes, static_cast<int64_t>(8 * kMiB));
  std::byte* b = pool.Allocate(8 * kMiB - 100, false);
  EXPECT_EQ(a, b);
  EXPECT_EQ(pool.stats().reused, 1);
  EXPECT_EQ(pool.stats().mapped, 1);
  EXPECT_EQ(pool.stats().cached_bytes, 0);
  EXPECT_EQ(pool.stats().live_bytes, static_cast<int64_t>(8 * kMiB));
  pool.Free(b, 8 * kMiB - 100);
}

TEST(MemoryPool, LargerCachedBlockLendsItsFrontAndKeepsTheRestCached) {
  MemoryPool pool(Opts(64 * kMiB));
  std::byte* big = pool.Allocate(32 * kMiB, false);
  std::memset(big, 7, 32 * kMiB);
  pool.Free(big, 32 * kMiB);
  std::byte* small = pool.Allocate(4 * kMiB, false);
  EXPECT_EQ(small, big);
  EXPECT_TRUE(AllBytes(small, 4 * kMiB, std::byte{7}));  // the same pages, not fresh ones
  EXPECT_EQ(pool.stats().mapped, 1);
  EXPECT_EQ(pool.stats().reused, 1);
  EXPECT_EQ(pool.stats().live_bytes, static_cast<int64_t>(4 * kMiB));
  EXPECT_EQ(pool.stats().cached_bytes, static_cast<int64_t>(28 * kMiB));
  std::byte* rest = pool.Allocate(28 * kMiB - 5, false);
  EXPECT_EQ(rest, big + 4 * kMiB);
  EXPECT_EQ(pool.stats().cached_bytes, 0);
  // Each part is freed, reused and unmapped on its own.
  pool.Free(small, 4 * kMiB);
  pool.Free(rest, 28 * kMiB - 5);
  EXPECT_EQ(pool.stats().cached_bytes, static_cast<int64_t>(32 * kMiB));
  // Requests under a huge page never split one (they step by 64 KiB).
  std::byte* odd = pool.Allocate(kMiB + 1, false);
  EXPECT_NE(odd, big);
  EXPECT_EQ(pool.stats().mapped, 2);
  pool.Free(odd, kMiB + 1);
  EXPECT_EQ(pool.Release(), 32 * kMiB + kMiB + 64 * 1024);
  EXPECT_EQ(pool.stats().cached_bytes, 0);
}

TEST(MemoryPool, ZeroedRequestIsZeroEvenWhenReused) {
  MemoryPool pool(Opts(64 * kMiB));
  std::byte* a = pool.Allocate(3 * kMiB, true);
  EXPECT_TRUE(AllBytes(a, 3 * kMiB, std::byte{0}));
  std::memset(a, 0xff, 3 * kMiB);
  pool.Free(a, 3 * kMiB);
  std::byte* b = pool.Allocate(3 * kMiB, true);
  ASSERT_EQ(a, b);
  EXPECT_TRUE(AllBytes(b, 3 * kMiB, std::byte{0}));
  pool.Free(b, 3 * kMiB);
  // From 256 KiB blocks are the pool's too (a 100k-group column of a
  // partial is 800 KiB): freed, the same pages serve the next request.
  const int64_t reused = pool.stats().reused;
  std::byte* m = pool.Allocate(800 << 10, false);
  pool.Free(m, 800 << 10);
  EXPECT_EQ(pool.Allocate(800 << 10, false), m);
  EXPECT_EQ(pool.stats().reused, reused + 1);
  pool.Free(m, 800 << 10);
  // Small blocks come from operator new, zeroed on request too.
  std::byte* s = pool.Allocate(1000, true);
  EXPECT_TRUE(AllBytes(s, 1000, std::byte{0}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(s) % 64, 0u);
  pool.Free(s, 1000);
}

TEST(MemoryPool, HugeBlocksAreAlignedToHugePages) {
  MemoryPool pool(Opts(0));
  std::byte* a = pool.Allocate(5 * kMiB, false);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % (2 * kMiB), 0u);
  EXPECT_EQ(pool.stats().live_bytes, static_cast<int64_t>(6 * kMiB));  // whole huge pages
  pool.Free(a, 5 * kMiB);
  EXPECT_EQ(pool.stats().live_bytes, 0);
}

TEST(MemoryPool, RetainLimitEvictsTheOldestBlocks) {
  MemoryPool pool(Opts(16 * kMiB));
  std::vector<std::byte*> blocks;
  for (int i = 0; i < 3; ++i) blocks.push_back(pool.Allocate(8 * kMiB, false));
  for (std::byte* b : blocks) pool.Free(b, 8 * kMiB);
  MemoryPool::Stats s = pool.stats();
  EXPECT_EQ(s.cached_bytes, static_cast<int64_t>(16 * kMiB));
  EXPECT_EQ(s.unmapped_bytes, static_cast<int64_t>(8 * kMiB));
  // The first freed went back to the OS; the two newest are handed out again.
  std::byte* again1 = pool.Allocate(8 * kMiB, false);
  std::byte* again2 = pool.Allocate(8 * kMiB, false);
  EXPECT_TRUE((again1 == blocks[1] && again2 == blocks[2]) || (again1 == blocks[2] && again2 == blocks[1]));
  pool.Free(again1, 8 * kMiB);
  pool.Free(again2, 8 * kMiB);
}

TEST(MemoryPool, BlockOverTheRetainLimitGoesStraightBack) {
  MemoryPool pool(Opts(4 * kMiB));
  std::byte* a = pool.Allocate(8 * kMiB, false);
  pool.Free(a, 8 * kMiB);
  EXPECT_EQ(pool.stats().cached_bytes, 0);
  EXPECT_EQ(pool.stats().unmapped_bytes, static_cast<int64_t>(8 * kMiB));
}

TEST(MemoryPool, IdleBlocksDecayBackToTheOs) {
  MemoryPool pool(Opts(64 * kMiB, /*decay=*/0.05));
  pool.Free(pool.Allocate(4 * kMiB, false), 4 * kMiB);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pool.stats().cached_bytes > 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(pool.stats().cached_bytes, 0);
  EXPECT_EQ(pool.stats().unmapped_bytes, static_cast<int64_t>(4 * kMiB));
}

TEST(MemoryPool, ReleaseUnmapsEveryCachedBlock) {
  MemoryPool pool(Opts(64 * kMiB));
  std::byte* a = pool.Allocate(2 * kMiB, false);
  std::byte* b = pool.Allocate(6 * kMiB, false);
  pool.Free(a, 2 * kMiB);
  pool.Free(b, 6 * kMiB);
  EXPECT_EQ(pool.Release(), 8 * kMiB);
  EXPECT_EQ(pool.stats().cached_bytes, 0);
  EXPECT_EQ(pool.Release(), 0u);
}

TEST(MemoryPool, ReallocateKeepsTheBytesAcrossSmallAndLarge) {
  MemoryPool pool(Opts(64 * kMiB));
  std::vector<uint8_t> want(40 * kMiB);
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<uint8_t>(i * 131 + (i >> 12));
  // Small (operator new) -> large (a mapping) -> larger (mremap) -> smaller -> small.
  size_t size = 1000;
  std::byte* p = pool.Allocate(size, false);
  std::memcpy(p, want.data(), size);
  for (size_t next : {3 * kMiB, 40 * kMiB, 5 * kMiB, size_t{500}}) {
    const size_t keep = std::min(size, next);
    p = pool.Reallocate(p, size, keep, next);
    EXPECT_EQ(std::memcmp(p, want.data(), keep), 0) << "after resizing to " << next;
    std::memcpy(p, want.data(), next);
    size = next;
  }
  pool.Free(p, size);
  EXPECT_EQ(pool.stats().live_bytes, 0);
}

TEST(MemoryPool, ConcurrentAllocateAndFreeBalance) {
  MemoryPool pool(Opts(32 * kMiB));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, t] {
      for (int i = 0; i < 200; ++i) {
        const size_t n = (1 + (i + t) % 5) * kMiB + static_cast<size_t>(i);
        std::byte* p = pool.Allocate(n, false);
        p[0] = std::byte{1};
        p[n - 1] = std::byte{2};
        pool.Free(p, n);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  MemoryPool::Stats s = pool.stats();
  EXPECT_EQ(s.live_bytes, 0);
  EXPECT_LE(s.cached_bytes, static_cast<int64_t>(32 * kMiB));
  EXPECT_EQ(s.reused + s.mapped, 800);
  EXPECT_GT(s.reused, 0);
}

TEST(BufferBuilder, AppendsGrowAndFinishWithoutLosingBytes) {
  BufferBuilder b;
  std::vector<int64_t> want(1 << 20);
  std::iota(want.begin(), want.end(), -7);
  for (int64_t v : want) std::memcpy(b.Append(8), &v, 8);
  EXPECT_EQ(b.size(), want.size() * 8);
  Buffer done = b.Finish();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), 0u);
  ASSERT_EQ(done.size(), want.size() * 8);
  EXPECT_EQ(std::memcmp(done.data(), want.data(), done.size()), 0);
  // The builder starts over.
  std::memcpy(b.Append(5), "hello", 5);
  b.Resize(8);
  Buffer again = b.Finish();
  EXPECT_EQ(again.view(), std::string_view("hello\0\0\0", 8));
  EXPECT_TRUE(BufferBuilder().Finish().empty());
}

TEST(PoolVector, BehavesAsAVector) {
  PoolVector<int64_t> v;
  for (int64_t i = 0; i < 2'000'000; ++i) v.push_back(i);
  EXPECT_EQ(std::accumulate(v.begin(), v.end(), int64_t{0}), int64_t{1'999'999} * 2'000'000 / 2);
  PoolVector<int64_t> copy = v;
  v.clear();
  v.shrink_to_fit();
  EXPECT_EQ(copy.back(), 1'999'999);
}

TEST(PoolScratch, KeepsWhatItHoldsAndSetsTheValuesItIsGiven) {
  PoolScratch<int32_t> v(3, 7);  // a value given: every element set
  EXPECT_EQ(v, (PoolScratch<int32_t>{7, 7, 7}));
  v.resize(2'000'000);  // grows into pool memory, unset past the old end
  for (int32_t i = 3; i < 2'000'000; ++i) v[static_cast<size_t>(i)] = i;
  EXPECT_EQ(v[0] + v[1] + v[2], 21);
  v.resize(4);
  v.resize(6, -1);  // resize with a value sets the new elements
  EXPECT_EQ(v, (PoolScratch<int32_t>{7, 7, 7, 3, -1, -1}));
  // A non-trivial type is still constructed.
  PoolScratch<std::string> s(2);
  s[1] += "x";
  EXPECT_EQ(s[0], "");
  EXPECT_EQ(s[1], "x");
}

}  // namespace
}  // namespace skein
