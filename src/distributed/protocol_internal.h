// Private: what every distributed process shares about the wire — the
// protocol version, addresses, channel and server settings, and how a value
// is cut into chunks and put back together.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "distributed/skein.grpc.pb.h"
#include "distributed/skein.pb.h"
#include "distributed/cma_transfer_internal.h"
#include "distributed/shm_transfer_internal.h"
#include "distributed/tls_internal.h"
#include "skein/core/lent_value.h"
#include "skein/core/serialize.h"
#include "skein/core/value.h"

namespace skein::distributed::internal {

/// Bumped on any incompatible change; peers with another version are refused.
constexpr uint32_t kProtocolVersion = 2;  // 2: frame bytes may start in a value's first chunk
/// Bytes of frame data per DataChunk.
constexpr size_t kChunkBytes = size_t{4} << 20;
/// Largest control message accepted (task specs carry literals).
constexpr int kMaxMessageBytes = 256 << 20;
/// Largest message a client sends (one task with its literals, an upload, a
/// coordination value): the limit less room for the envelope.
constexpr size_t kMaxSendBytes = size_t{kMaxMessageBytes} - (size_t{1} << 20);
/// How long a sender holds the frames it lent by address (until the reader
/// cancels the call, at the latest this long), and the deadline of a
/// GetData call. A lent value read later than kLentRead after it
/// came is fetched again instead (a minute's margin).
constexpr auto kLendHold = std::chrono::minutes(10);
constexpr auto kLentRead = std::chrono::minutes(9);
/// A graph update larger than this travels in parts of about this size.
constexpr size_t kUpdatePartBytes = size_t{32} << 20;

/// "tcp://host:port", "tls://host:port" or "host:port" -> "host:port";
/// CommError naming the address if it is not of that form.
std::string GrpcTarget(const std::string& address);
/// "tls://" (with TLS) or "tcp://", then host:port.
std::string MakeAddress(const std::string& host, int port, bool tls);

/// `address` as a gRPC target, after checking that its scheme and the TLS
/// material agree (CommError otherwise, as for MakeChannel).
std::string CheckAddressSecurity(const std::string& address, const TlsMaterial* tls);
/// A channel to `address` with our message limits and keepalive settings,
/// over TLS when `tls` is given. CommError if the address's scheme and the
/// material disagree (a tls:// address without certificates, or a tcp://
/// one with them).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const TlsMaterial* tls);
/// Applies our message limits and keepalive settings to a server builder.
void ConfigureServer(grpc::ServerBuilder* builder);

/// How a receiver on this host offered to take a value other than by the
/// stream.
struct SameHostOffer {
  std::string shm_inbox;  // its inbox file (shm_transfer_internal.h), or empty
  bool cma = false;       // it may read this process's memory (cma_transfer_internal.h)
};

/// How WriteValue sent a value.
enum class SentVia { kStream, kSharedMemory, kMemoryRead };

/// Writes `value` under `key` as DataChunks (first chunk: type, header,
/// frame sizes; the frames' bytes back to back in chunks of kChunkBytes,
/// the first of them in the first chunk). False if the peer went away.
/// A value may go by the offer instead: with `lent` given,
/// memory reads offered and on here, and kCmaMinBytes or more, only its
/// frames' addresses are sent, and `*lent` holds the frames, which the
/// caller keeps until the receiver ends the call; else, with kShmMinBytes
/// or more, through the inbox file. `*via` (if given) says which way it
/// went.
bool WriteValue(grpc::internal::WriterInterface<wire::DataChunk>* out, const std::string& key_bytes,
                const Value& value, const SameHostOffer& offer = {}, SentVia* via = nullptr,
                Serialized* lent = nullptr);

/// Puts a value back together from its chunks. Every size is checked
/// against what the first chunk announced; a lie is a CommError.
class ValueAssembler {
 public:
  /// `inbox`: the shared-memory file offered for this value, if any;
  /// `cma`: whether reading the sender's memory was offered; `borrow`: a
  /// value sent as addresses in the sender's memory is not read here
  /// (TakeLent gives it with its addresses).
  explicit ValueAssembler(ShmInbox* inbox = nullptr, bool cma = false, bool borrow = false)
      : inbox_(inbox), cma_(cma), borrow_(borrow) {}
  /// Feeds one chunk; true when a value is complete (then key() and Take()).
  bool Add(const wire::DataChunk& chunk);
  bool in_progress() const { return started_; }
  /// The last value was read from the sender's memory (the sender then
  /// waits for the call to be cancelled).
  bool read_memory() const { return read_memory_; }
  /// A read of the sender's memory was refused by the kernel.
  bool memory_read_refused() const { return refused_; }
  const std::string& key() const { return key_; }
  Value Take();
  /// The value as lent: left in the sender's memory if it was sent by
  /// address (`call` keeps the sender holding it; `refetch` brings it here
  /// should a read fail), else the value assembled here.
  LentValuePtr TakeLent(std::shared_ptr<void> call, std::function<Value()> refetch);

 private:
  ShmInbox* inbox_;
  bool cma_;
  bool borrow_;
  int64_t lent_pid_ = 0;                  // with borrow_: the sender that lent the value
  std::vector<uint64_t> lent_addresses_;  // ... and where its frames are
  bool read_memory_ = false, refused_ = false;
  CmaFrames cma_frames_;  // large frames read from senders' memory in this exchange, shared by its values
  bool started_ = false;
  std::string key_;
  Serialized s_;
  std::vector<std::byte*> writable_;
  std::vector<uint64_t> sizes_;
  size_t frame_ = 0;
  uint64_t offset_ = 0;
  bool complete_ = false;
};

/// A key's printed form for messages ("<malformed key>" if the bytes are
/// not a key); never throws.
std::string KeyText(const std::string& key_bytes);

/// Reads the value of `key_bytes` from the worker at `address` over
/// `channel` (Worker.GetData), through shared memory when both are on this
/// host and the value is not known to be small (`nbytes`: its size as the
/// scheduler reported it, -1 if unknown); CommError naming both if it fails.
Value FetchValue(const std::shared_ptr<grpc::Channel>& channel, const std::string& address,
                 const std::string& key_bytes, const std::string& token, int64_t nbytes = -1);
/// Reads several values from the worker at `address` in one Worker.GetData
/// call, in the order of `keys` (one round trip instead of one per value:
/// for the small partials a tree reduction gathers, the round trips are
/// what costs). Never through the shared-memory file; from a peer on this
/// host, values of kCmaMinBytes or more are read out of its memory. CommError if
/// the call fails, or the peer sends a key twice, one not asked for, or not
/// all of them.
std::vector<Value> FetchValues(const std::shared_ptr<grpc::Channel>& channel, const std::string& address,
                               const std::vector<std::string>& keys, const std::string& token);
/// The values of `keys` from the worker at `address`, lent (one
/// Worker.GetData call, as FetchValues): those it sends by address stay in
/// its memory, which it holds until every value lent by this call is
/// dropped (or ten minutes pass; later reads fetch the value again with
/// `refetch(key index)`), and are read only as the caller copies them out;
/// the others come here as FetchValues brings them. CommError as for
/// FetchValues.
std::vector<LentValuePtr> BorrowValues(const std::shared_ptr<grpc::Channel>& channel, const std::string& address,
                                       const std::vector<std::string>& keys, const std::string& token,
                                       std::function<Value(size_t)> refetch);

/// Kept connections to peers (a new one costs a TCP and HTTP/2 handshake,
/// 1-1.5 ms on loopback, more than a small fetch takes): a connection no
/// caller holds is handed out again, and a new one (up to `per_peer` per
/// address) is opened only when every kept one is in use, so concurrent
/// fetches of large values need not share one. A caller holds a connection
/// for as long as it keeps the returned pointer. Safe for concurrent use.
class ChannelCache {
 public:
  ChannelCache(std::shared_ptr<const TlsMaterial> tls, size_t per_peer) : tls_(std::move(tls)), per_peer_(per_peer) {}
  std::shared_ptr<grpc::Channel> Get(const std::string& address);

 private:
  const std::shared_ptr<const TlsMaterial> tls_;
  const size_t per_peer_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<grpc::Channel>>> channels_;  // guarded by mu_
  size_t turn_ = 0;                                                                       // guarded by mu_
};

/// Resident set size of this process in bytes (0 if unknown).
int64_t ProcessRss();

}  // namespace skein::distributed::internal
