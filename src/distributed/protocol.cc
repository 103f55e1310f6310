// Shared wire helpers (see protocol_internal.h).
#include "distributed/protocol_internal.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <unordered_map>

#include "distributed/cma_transfer_internal.h"
#include "skein/core/wire.h"

namespace skein::distributed::internal {

std::string GrpcTarget(const std::string& address) {
  std::string a = address;
  if (a.rfind("tcp://", 0) == 0 || a.rfind("tls://", 0) == 0) a = a.substr(6);
  size_t colon = a.rfind(':');
  if (a.empty() || colon == std::string::npos || colon == 0 || colon + 1 == a.size() ||
      a.find_first_not_of("0123456789", colon + 1) != std::string::npos || a.find("://") != std::string::npos) {
    throw CommError("address '" + address + "' is not of the form tcp://host:port or tls://host:port");
  }
  return a;
}

std::string MakeAddress(const std::string& host, int port, bool tls) {
  return (tls ? "tls://" : "tcp://") + host + ":" + std::to_string(port);
}

namespace {
void SetCommonArgs(grpc::ChannelArguments* args) {
  args->SetMaxReceiveMessageSize(kMaxMessageBytes);
  args->SetMaxSendMessageSize(kMaxMessageBytes);
  // Keepalive pings notice a peer that vanished without closing (a cut
  // network) even when no message is due.
  args->SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args->SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args->SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args->SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Bulk values stream in MiB chunks: a deep flow-control window keeps
  // several in flight instead of waiting for each acknowledgement.
  args->SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 20);
}
}  // namespace

std::string CheckAddressSecurity(const std::string& address, const TlsMaterial* tls) {
  std::string target = GrpcTarget(address);
  bool tls_address = address.rfind("tls://", 0) == 0;
  if (tls_address && !tls) {
    throw CommError(address + " is a TLS address: connecting needs the cluster's certificates (Security)");
  }
  if (!tls_address && tls) {
    throw CommError(address + " is not a TLS address but TLS certificates were given: use tls://" + target);
  }
  return target;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const TlsMaterial* tls) {
  std::string target = CheckAddressSecurity(address, tls);
  grpc::ChannelArguments args;
  SetCommonArgs(&args);
  // Each peer gets its own connection (gRPC would otherwise share one TCP
  // connection between channels to the same target).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (tls) args.SetSslTargetNameOverride(kClusterTlsName);
  return grpc::CreateCustomChannel(target, ChannelCredentials(tls), args);
}

void ConfigureServer(grpc::ServerBuilder* builder) {
  builder->SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder->SetMaxSendMessageSize(kMaxMessageBytes);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 20);
}

bool WriteValue(grpc::internal::WriterInterface<wire::DataChunk>* out, const std::string& key_bytes,
                const Value& value, const SameHostOffer& offer, SentVia* via, Serialized* lent) {
  Serialized s = Serialize(value);
  wire::DataChunk first;
  first.set_key(key_bytes);
  first.set_type(s.type);
  first.set_header(s.header);
  for (const Buffer& f : s.frames) first.add_frame_sizes(f.size());
  if (via) *via = SentVia::kStream;
  const bool large = s.nbytes() >= kShmMinBytes;
  if (s.nbytes() >= kCmaMinBytes && lent && offer.cma && CmaEnabled()) {
    first.set_cma_pid(static_cast<uint32_t>(getpid()));
    for (const Buffer& f : s.frames) first.add_frame_addresses(reinterpret_cast<uintptr_t>(f.data()));
    if (via) *via = SentVia::kMemoryRead;
    *lent = std::move(s);
    return out->Write(first);
  }
  if (large && !offer.shm_inbox.empty() && ShmWrite(offer.shm_inbox, s)) {
    first.set_in_shm(true);
    if (via) *via = SentVia::kSharedMemory;
    return out->Write(first);
  }
  // The frames' bytes back to back, kChunkBytes per chunk, starting in the
  // first: a small value (a partial of a few hundred groups has a frame per
  // buffer of each column) is one message, where a chunk per frame had cost
  // a write and a wake-up each (~0.1 ms apiece on loopback).
  wire::DataChunk chunk;
  wire::DataChunk* cur = &first;
  size_t room = kChunkBytes;
  for (const Buffer& f : s.frames) {
    for (size_t off = 0; off < f.size();) {
      const size_t n = std::min(room, f.size() - off);
      cur->mutable_data()->append(reinterpret_cast<const char*>(f.data()) + off, n);
      off += n;
      room -= n;
      if (room == 0) {
        if (!out->Write(*cur)) return false;
        cur = &chunk;
        chunk.clear_data();
        room = kChunkBytes;
      }
    }
  }
  if (cur == &first || !chunk.data().empty()) return out->Write(*cur);
  return true;
}

bool ValueAssembler::Add(const wire::DataChunk& chunk) {
  if (!chunk.error().empty()) throw CommError(chunk.error());
  if (!started_) {
    if (chunk.key().empty()) throw CommError("a value's first chunk has no key");
    started_ = true;
    key_ = chunk.key();
    s_ = Serialized{};
    s_.type = chunk.type();
    s_.header = chunk.header();
    sizes_.assign(chunk.frame_sizes().begin(), chunk.frame_sizes().end());
    writable_.assign(sizes_.size(), nullptr);
    for (uint64_t n : sizes_) {
      if (n > (uint64_t{1} << 40)) throw CommError("a value's frame claims " + std::to_string(n) + " bytes");
    }
    frame_ = 0;
    offset_ = 0;
    read_memory_ = false;
    lent_pid_ = 0;
    lent_addresses_.clear();
    if ((chunk.cma_pid() != 0 || chunk.in_shm()) && !chunk.data().empty()) {
      throw CommError("value " + KeyText(key_) + " came both by the stream and outside it");
    }
    if (chunk.cma_pid() != 0) {
      if (!cma_ || chunk.in_shm()) {
        throw CommError("value " + KeyText(key_) + " came as addresses in the sender's memory, which was not offered");
      }
      std::vector<uint64_t> addresses(chunk.frame_addresses().begin(), chunk.frame_addresses().end());
      if (borrow_) {
        if (addresses.size() != sizes_.size()) {
          throw CommError("value " + KeyText(key_) + ": the sender named " + std::to_string(addresses.size()) +
                          " frame addresses for " + std::to_string(sizes_.size()) + " frames");
        }
        lent_pid_ = chunk.cma_pid();
        lent_addresses_ = std::move(addresses);
        read_memory_ = true;
        complete_ = true;
        return true;
      }
      s_.frames = CmaRead(static_cast<pid_t>(chunk.cma_pid()), addresses, sizes_, "value " + KeyText(key_), &refused_,
                          &cma_frames_);
      read_memory_ = true;  // the offer stands for every value of the call
      frame_ = sizes_.size();
    } else if (chunk.in_shm()) {
      if (!inbox_) throw CommError("value " + KeyText(key_) + " came through shared memory that was not offered");
      s_.frames = inbox_->Read(sizes_, "value " + KeyText(key_));
      inbox_ = nullptr;  // one value per inbox
      frame_ = sizes_.size();
    }
  } else if (!chunk.key().empty()) {
    throw CommError("value ended early: a new value began before its frames were complete");
  }
  {
    // Frame bytes, in the first chunk or a later one, across frame ends.
    const std::string& d = chunk.data();
    for (size_t pos = 0; pos < d.size();) {
      if (frame_ >= sizes_.size()) throw CommError("a value sent more bytes than its frames announced");
      // Frames are allocated as their bytes arrive, so a lying size costs
      // nothing until the bytes really come.
      if (s_.frames.size() == frame_) s_.frames.push_back(Buffer::AllocateUninitialized(sizes_[frame_], &writable_[frame_]));
      size_t n = std::min<uint64_t>(d.size() - pos, sizes_[frame_] - offset_);
      std::memcpy(writable_[frame_] + offset_, d.data() + pos, n);
      offset_ += n;
      pos += n;
      if (offset_ == sizes_[frame_]) {
        ++frame_;
        offset_ = 0;
      }
    }
  }
  // Empty frames need no bytes.
  while (frame_ < sizes_.size() && sizes_[frame_] == 0) {
    s_.frames.push_back(Buffer());
    ++frame_;
  }
  complete_ = frame_ >= sizes_.size();
  return complete_;
}

Value ValueAssembler::Take() {
  if (!complete_) throw CommError("value " + key_ + " is incomplete");
  if (lent_pid_ != 0) throw CommError("value " + KeyText(key_) + " was lent, not read");
  started_ = false;
  complete_ = false;
  return Deserialize(s_);
}

LentValuePtr ValueAssembler::TakeLent(std::shared_ptr<void> call, std::function<Value()> refetch) {
  if (lent_pid_ == 0) return LendHere(Take());
  if (!complete_) throw CommError("value " + key_ + " is incomplete");
  started_ = false;
  complete_ = false;
  const auto deadline = std::chrono::steady_clock::now() + kLentRead;
  return LendFromProcess(std::move(s_.type), std::move(s_.header), sizes_, static_cast<pid_t>(lent_pid_),
                         std::move(lent_addresses_), "value " + KeyText(key_), std::move(call), deadline,
                         std::move(refetch));
}

std::string KeyText(const std::string& key_bytes) {
  try {
    return DecodeKey(key_bytes, "key").ToString();
  } catch (const Error&) {
    return "<malformed key>";
  }
}

namespace {

// An open Worker.GetData call. A sender that lent values by address holds
// their frames until the call is cancelled, which ending it here does.
struct DataCall {
  std::unique_ptr<wire::Worker::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<wire::DataChunk>> reader;
  // Cancels (if `cancel`) and finishes the call; its status.
  grpc::Status End(bool cancel) {
    if (cancel) ctx.TryCancel();
    grpc::Status st = reader->Finish();
    reader.reset();
    return st;
  }
  ~DataCall() {
    if (reader) End(true);
  }
};

// What one GetData call brought, in the order of the keys asked: values,
// or (when borrowing) lent values.
struct Received {
  std::vector<Value> values;
  std::vector<LentValuePtr> lent;
};

// One Worker.GetData call for `keys`. From a peer on this host, values of
// kCmaMinBytes or more may be read out of its memory, or with `borrow`
// (which refetches key i with (*borrow)(i) should a read fail) left there
// and lent; with an inbox (one key), the value may also come through it.
Received GetData(const std::shared_ptr<grpc::Channel>& channel, const std::string& address,
                 const std::vector<std::string>& keys, const std::string& token, ShmInbox* inbox,
                 const std::function<Value(size_t)>* borrow = nullptr) {
  const std::string what = keys.size() == 1 ? KeyText(keys[0]) : std::to_string(keys.size()) + " values";
  // A second try only when this host refused to read the sender's memory
  // (memory reads are off from then on).
  for (int attempt = 0;; ++attempt) {
    auto call = std::make_shared<DataCall>();
    call->stub = wire::Worker::NewStub(channel);
    call->ctx.set_deadline(std::chrono::system_clock::now() + kLendHold);
    wire::GetDataRequest req;
    req.set_protocol(kProtocolVersion);
    req.set_token(token);
    std::unordered_map<std::string, size_t> slot;
    for (size_t i = 0; i < keys.size(); ++i) {
      req.add_keys(keys[i]);
      slot.emplace(keys[i], i);
    }
    if (!ShmHostId().empty()) {  // the peer compares it with its own
      req.set_shm_host(ShmHostId());
      req.set_cma(CmaEnabled());
      if (inbox && inbox->valid()) req.set_shm_inbox(inbox->name());
    }
    call->reader = call->stub->GetData(&call->ctx, req);
    ValueAssembler as(inbox, req.cma(), borrow != nullptr);
    wire::DataChunk chunk;
    std::vector<std::optional<Value>> got(keys.size());
    std::vector<LentValuePtr> got_lent(keys.size());
    size_t received = 0;
    bool lent = false;
    try {
      while (call->reader->Read(&chunk)) {
        if (!as.Add(chunk)) continue;
        auto it = slot.find(as.key());
        if (it == slot.end() || got[it->second] || got_lent[it->second]) {
          throw CommError("fetching " + what + " from " + address + ": it sent " + KeyText(as.key()) +
                          (it == slot.end() ? ", which was not asked for" : " twice"));
        }
        lent = lent || as.read_memory();
        if (borrow) {
          const size_t i = it->second;
          got_lent[i] = as.TakeLent(call, [borrow = *borrow, i] { return borrow(i); });
        } else {
          got[it->second] = as.Take();
        }
        ++received;
        // A sender that lent any value holds its frames until this call is
        // cancelled, which says they are all read (when borrowing: when
        // the last value lent by address is dropped).
        if (lent && received == keys.size()) break;
      }
    } catch (const CommError&) {
      call->End(true);
      if (as.memory_read_refused() && attempt == 0) {
        DisableCma();
        continue;
      }
      throw;
    }
    const bool held = lent && borrow;  // the lent values end the call
    grpc::Status st = held ? grpc::Status::OK : call->End(lent);
    if (!st.ok() && !(lent && st.error_code() == grpc::StatusCode::CANCELLED)) {
      throw CommError("fetching " + what + " from " + address + ": " + st.error_message());
    }
    Received out;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!got[i] && !got_lent[i]) {
        throw CommError("fetching " + what + " from " + address + ": " + KeyText(keys[i]) + " did not come");
      }
      if (borrow) {
        out.lent.push_back(std::move(got_lent[i]));
      } else {
        out.values.push_back(std::move(*got[i]));
      }
    }
    return out;
  }
}

}  // namespace

Value FetchValue(const std::shared_ptr<grpc::Channel>& channel, const std::string& address,
                 const std::string& key_bytes, const std::string& token, int64_t nbytes) {
  // A file per fetch is two system calls more: not for values known small.
  std::optional<ShmInbox> inbox;
  if (nbytes < 0 || static_cast<uint64_t>(nbytes) >= kShmMinBytes) inbox.emplace();
  return std::move(GetData(channel, address, {key_bytes}, token, inbox ? &*inbox : nullptr).values[0]);
}

std::vector<Value> FetchValues(const std::shared_ptr<grpc::Channel>& channel, const std::string& address,
                               const std::vector<std::string>& keys, const std::string& token) {
  return GetData(channel, address, keys, token, nullptr).values;
}

std::vector<LentValuePtr> BorrowValues(const std::shared_ptr<grpc::Channel>& channel, const std::string& address,
                                       const std::vector<std::string>& keys, const std::string& token,
                                       std::function<Value(size_t)> refetch) {
  return GetData(channel, address, keys, token, nullptr, &refetch).lent;
}

std::shared_ptr<grpc::Channel> ChannelCache::Get(const std::string& address) {
  std::lock_guard lock(mu_);
  auto& pool = channels_[address];
  // Held only here: no fetch is using it (a copy released concurrently can
  // make one look busy; then a busy one or a new one is used, which is safe).
  for (const auto& c : pool) {
    if (c.use_count() == 1) return c;
  }
  if (pool.size() < per_peer_) {
    pool.push_back(MakeChannel(address, tls_.get()));
    return pool.back();
  }
  return pool[turn_++ % pool.size()];
}

int64_t ProcessRss() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long pages_total = 0, pages_rss = 0;
  int n = std::fscanf(f, "%ld %ld", &pages_total, &pages_rss);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(pages_rss) * sysconf(_SC_PAGESIZE) : 0;
}

}  // namespace skein::distributed::internal
