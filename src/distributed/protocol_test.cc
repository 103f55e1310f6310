// Peer connections and batched fetches: which kept channel a fetch gets, and
// what a request for several values accepts from the peer.
#include "distributed/protocol_internal.h"

#include "distributed/cma_transfer_internal.h"
#include "distributed/shm_transfer_internal.h"

#include <unistd.h>

#include <atomic>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "skein/core/error.h"
#include "skein/core/wire.h"

namespace skein::distributed::internal {
namespace {

using ::testing::HasSubstr;

TEST(ChannelCache, AnIdleConnectionIsReusedAndANewOneOpensOnlyWhileAllAreHeld) {
  ChannelCache cache(nullptr, 2);
  const std::string peer = "tcp://127.0.0.1:1";  // never dialled: channels connect lazily
  std::shared_ptr<grpc::Channel> first = cache.Get(peer);
  ASSERT_NE(first, nullptr);
  // Released between fetches: the same connection every time (a new one
  // would cost a handshake per small fetch).
  const grpc::Channel* idle = first.get();
  first.reset();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cache.Get(peer).get(), idle) << "fetch " << i;
  // While one is held, a concurrent fetch gets a second connection...
  std::shared_ptr<grpc::Channel> held = cache.Get(peer);
  std::shared_ptr<grpc::Channel> second = cache.Get(peer);
  EXPECT_EQ(held.get(), idle);
  EXPECT_NE(second.get(), idle);
  // ... and past the limit, held ones are shared rather than more opened.
  std::shared_ptr<grpc::Channel> third = cache.Get(peer);
  EXPECT_TRUE(third.get() == idle || third.get() == second.get());
  // Another peer has connections of its own.
  EXPECT_NE(cache.Get("tcp://127.0.0.1:2").get(), idle);
}

// A peer answering GetData with whatever `serve` lists (key text, value),
// honest or not.
class FakePeer final : public wire::Worker::Service {
 public:
  std::vector<std::pair<std::string, int64_t>> serve;
  int requests = 0;

  // Lend values by address when the request offers memory reads (as a
  // worker does), holding their frames until the caller cancels.
  std::vector<std::pair<std::string, Value>> lend;
  std::vector<SentVia> sent;
  bool offered_cma = false;
  std::atomic<bool> done{false}, saw_cancel{false};  // set last by the handler

  grpc::Status GetData(grpc::ServerContext* ctx, const wire::GetDataRequest* req,
                       grpc::ServerWriter<wire::DataChunk>* writer) override {
    ++requests;
    if (req->keys_size() == 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no keys");
    for (const auto& [name, v] : serve) WriteValue(writer, EncodeKey(Key(name)), Value(v));
    offered_cma = req->cma() && req->shm_host() == ShmHostId();
    std::vector<Serialized> held;
    for (const auto& [name, v] : lend) {
      SentVia via = SentVia::kStream;
      Serialized frames;
      WriteValue(writer, EncodeKey(Key(name)), v, SameHostOffer{"", offered_cma}, &via, &frames);
      sent.push_back(via);
      if (via == SentVia::kMemoryRead) held.push_back(std::move(frames));
    }
    if (!held.empty()) {
      for (int i = 0; i < 5000 && !ctx->IsCancelled(); ++i) usleep(1000);  // at most 5 s
      saw_cancel = ctx->IsCancelled();
    }
    done = true;
    return grpc::Status::OK;
  }
};

class FetchValuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&peer_);
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_ && port > 0);
    address_ = "tcp://127.0.0.1:" + std::to_string(port);
    channel_ = MakeChannel(address_, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }
  std::vector<Value> Fetch(const std::vector<std::string>& names) {
    std::vector<std::string> keys;
    for (const std::string& n : names) keys.push_back(EncodeKey(Key(n)));
    return FetchValues(channel_, address_, keys, "");
  }

  FakePeer peer_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(FetchValuesTest, SeveralValuesComeInOneRequestInTheOrderAsked) {
  peer_.serve = {{"b", 2}, {"a", 1}, {"c", 3}};  // any order on the wire
  std::vector<Value> got = Fetch({"a", "b", "c"});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].as<int64_t>(), 1);
  EXPECT_EQ(got[1].as<int64_t>(), 2);
  EXPECT_EQ(got[2].as<int64_t>(), 3);
  EXPECT_EQ(peer_.requests, 1);
}

TEST_F(FetchValuesTest, APeerThatSendsTooMuchTooLittleOrTwiceIsRefused) {
  peer_.serve = {{"a", 1}, {"x", 9}};
  EXPECT_THAT([&] { Fetch({"a"}); }, ThrowsMessage<CommError>(HasSubstr("which was not asked for")));
  peer_.serve = {{"a", 1}, {"a", 1}};
  EXPECT_THAT([&] { Fetch({"a", "b"}); }, ThrowsMessage<CommError>(HasSubstr("twice")));
  peer_.serve = {{"a", 1}};
  EXPECT_THAT([&] { Fetch({"a", "b"}); }, ThrowsMessage<CommError>(HasSubstr("did not come")));
  // A failed call names the peer.
  EXPECT_THAT([&] { FetchValues(channel_, address_, {}, ""); },
              ThrowsMessage<CommError>(AllOf(HasSubstr(address_), HasSubstr("no keys"))));
}

TEST_F(FetchValuesTest, ASameHostPeerLendsEveryLargeEnoughValueOfABatch) {
  if (ShmHostId().empty() || !CmaEnabled()) GTEST_SKIP() << "no host id or memory reads off here";
  // Two values over kCmaMinBytes and one under it, in one call: the large
  // ones are read out of the peer's memory (here: this process), the small
  // one streamed, and the call ends by the fetcher's cancel.
  std::string big1(kCmaMinBytes + 100, 'x'), big2(3 * kCmaMinBytes, 'y');
  big1[77] = '1';
  big2[big2.size() - 1] = '2';
  peer_.lend = {{"big1", Value(big1)}, {"small", Value(std::string(100, 's'))}, {"big2", Value(big2)}};
  std::vector<Value> got = Fetch({"big2", "small", "big1"});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].get<std::string>(), big2);
  EXPECT_EQ(got[1].get<std::string>(), std::string(100, 's'));
  EXPECT_EQ(got[2].get<std::string>(), big1);
  // The peer's hold ends (polled up to 5 s) once the fetcher has cancelled.
  for (int i = 0; i < 600 && !peer_.done; ++i) usleep(10000);
  ASSERT_TRUE(peer_.done);
  EXPECT_TRUE(peer_.saw_cancel);
  EXPECT_TRUE(peer_.offered_cma);
  EXPECT_EQ(peer_.sent, (std::vector<SentVia>{SentVia::kMemoryRead, SentVia::kStream, SentVia::kMemoryRead}));
}

// The first chunk of a value lent by memory read: its frames' sizes and
// addresses in process `pid`.
wire::DataChunk LentChunk(const std::string& key, const Serialized& s, uint32_t pid) {
  wire::DataChunk c;
  c.set_key(key);
  c.set_type(s.type);
  c.set_header(s.header);
  for (const Buffer& f : s.frames) {
    c.add_frame_sizes(f.size());
    c.add_frame_addresses(reinterpret_cast<uintptr_t>(f.data()));
  }
  c.set_cma_pid(pid);
  return c;
}

// Keeps what WriteValue writes.
class Recorder final : public grpc::internal::WriterInterface<wire::DataChunk> {
 public:
  std::vector<wire::DataChunk> chunks;
  bool Write(const wire::DataChunk& c, grpc::WriteOptions) override {
    chunks.push_back(c);
    return true;
  }
};

TEST(WriteValue, FrameBytesFillChunksFromTheFirstOn) {
  const std::string key = EncodeKey(Key("v"));
  for (const size_t size : {size_t{3} << 20, 2 * kChunkBytes + 5}) {
    std::string text(size, 'a');
    text[size / 2] = 'm';
    const Serialized s = Serialize(Value(text));
    ASSERT_FALSE(s.frames.empty());
    Recorder out;
    ASSERT_TRUE(WriteValue(&out, key, Value(text)));
    // One message per kChunkBytes of frames, the first one included.
    EXPECT_EQ(out.chunks.size(), (s.nbytes() - s.header.size() + kChunkBytes - 1) / kChunkBytes) << size;
    ValueAssembler as;
    for (size_t i = 0; i < out.chunks.size(); ++i) EXPECT_EQ(as.Add(out.chunks[i]), i + 1 == out.chunks.size());
    EXPECT_EQ(as.Take().get<std::string>(), text);
  }
  // A value said to come through shared memory or by address carries no
  // bytes of its own.
  Recorder out;
  ASSERT_TRUE(WriteValue(&out, key, Value(std::string(100, 'z'))));
  wire::DataChunk both = out.chunks[0];
  both.set_in_shm(true);
  both.set_data("zz");
  ValueAssembler as;
  EXPECT_THAT([&] { as.Add(both); }, ThrowsMessage<CommError>(HasSubstr("both by the stream and outside it")));
}

TEST(ValueAssembler, AValueLentByAddressIsReadOnlyWhenThatWasOffered) {
  std::string text(3 << 20, 'q');
  text[12345] = 'z';
  const Value v(text);
  const Serialized s = Serialize(v);
  ASSERT_FALSE(s.frames.empty()) << "a large string travels as a frame";
  const std::string key = EncodeKey(Key("lent"));
  // Offered: the frames are read out of the (here: this) process.
  ValueAssembler offered(nullptr, /*cma=*/true);
  ASSERT_TRUE(offered.Add(LentChunk(key, s, static_cast<uint32_t>(getpid()))));
  EXPECT_TRUE(offered.read_memory());
  EXPECT_EQ(offered.Take().get<std::string>(), text);
  // Not offered: a peer that answers with addresses anyway is refused.
  ValueAssembler plain;
  EXPECT_THAT([&] { plain.Add(LentChunk(key, s, static_cast<uint32_t>(getpid()))); },
              ThrowsMessage<CommError>(HasSubstr("not offered")));
  // Offered, but the addresses lie: the read fails, naming the value.
  wire::DataChunk lying = LentChunk(key, s, static_cast<uint32_t>(getpid()));
  for (int i = 0; i < lying.frame_addresses_size(); ++i) lying.set_frame_addresses(i, 4096);
  ValueAssembler fooled(nullptr, /*cma=*/true);
  EXPECT_THAT([&] { fooled.Add(lying); }, ThrowsMessage<CommError>(HasSubstr("lent")));
  EXPECT_FALSE(fooled.memory_read_refused());  // a bad address, not a refusal
}

}  // namespace
}  // namespace skein::distributed::internal
