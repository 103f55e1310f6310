// Keys and tasks to bytes and back (see skein/core/wire.h).
#include "skein/core/wire.h"

#include <vector>

namespace skein {
namespace {

// Argument tags on the wire.
enum : uint8_t { kLiteral = 0, kRef = 1, kList = 2, kNested = 3 };
// Task tags: a call names an op; a plain task is a literal or an alias.
enum : uint8_t { kPlain = 0, kCall = 1 };
// Deeper nesting than this is refused rather than recursed into (a lying
// message must not overflow the stack). Fused tasks nest a few levels.
constexpr int kMaxDepth = 256;
constexpr uint32_t kMaxRank = 64;

void EncodeTaskTo(const Task& t, const Key& key, ByteWriter* w);

void EncodeArg(const Arg& a, const Key& key, ByteWriter* w) {
  if (a.is_literal()) {
    w->U8(kLiteral);
    w->Str(EncodeValue(a.literal()));
  } else if (a.is_ref()) {
    w->U8(kRef);
    EncodeKey(a.ref(), w);
  } else if (a.is_list()) {
    w->U8(kList);
    w->U64(a.list().size());
    for (const Arg& x : a.list()) EncodeArg(x, key, w);
  } else {
    w->U8(kNested);
    EncodeKey(a.origin(), w);
    EncodeTaskTo(a.task(), a.origin().name().empty() ? key : a.origin(), w);
  }
}

void EncodeTaskTo(const Task& t, const Key& key, ByteWriter* w) {
  if (!t.op()) {
    w->U8(kPlain);
  } else {
    if (t.op()->local_only()) {
      throw OpError("task " + key.ToString() + " runs a plain C++ callable (\"" + t.op()->name() +
                    "\"), which cannot be sent to another process: register it by name with "
                    "SKEIN_REGISTER(\"myapp.name\", fn) and submit the name instead");
    }
    w->U8(kCall);
    w->Str(t.op()->name());
    w->Str(EncodeValue(t.params()));
  }
  w->U64(t.args().size());
  for (const Arg& a : t.args()) EncodeArg(a, key, w);
}

[[noreturn]] void Corrupt(std::string_view what, const std::string& why) {
  throw SerializationError("corrupt " + std::string(what) + ": " + why);
}

Task DecodeTaskFrom(ByteReader* r, std::string_view what, int depth);

Arg DecodeArg(ByteReader* r, std::string_view what, int depth) {
  if (depth > kMaxDepth) Corrupt(what, "arguments nested deeper than " + std::to_string(kMaxDepth));
  uint8_t tag = r->U8();
  switch (tag) {
    case kLiteral:
      return Arg(DecodeValue(r->Str(), what));
    case kRef:
      return Arg::Ref(DecodeKey(r));
    case kList: {
      uint64_t n = r->U64();
      if (n > r->remaining()) Corrupt(what, "a list claims " + std::to_string(n) + " items");
      std::vector<Arg> items;
      items.reserve(n);
      for (uint64_t i = 0; i < n; ++i) items.push_back(DecodeArg(r, what, depth + 1));
      return Arg::List(std::move(items));
    }
    case kNested: {
      Key origin = DecodeKey(r);
      return Arg::Nested(DecodeTaskFrom(r, what, depth + 1), std::move(origin));
    }
    default:
      Corrupt(what, "unknown argument tag " + std::to_string(tag));
  }
}

Task DecodeTaskFrom(ByteReader* r, std::string_view what, int depth) {
  if (depth > kMaxDepth) Corrupt(what, "tasks nested deeper than " + std::to_string(kMaxDepth));
  uint8_t tag = r->U8();
  if (tag != kPlain && tag != kCall) Corrupt(what, "unknown task tag " + std::to_string(tag));
  std::string op;
  Value params;
  if (tag == kCall) {
    op = std::string(r->Str());
    if (op.empty()) Corrupt(what, "a task names an empty operation");
    params = DecodeValue(r->Str(), what);
  }
  uint64_t n = r->U64();
  if (n > r->remaining()) Corrupt(what, "a task claims " + std::to_string(n) + " arguments");
  std::vector<Arg> args;
  args.reserve(n);
  for (uint64_t i = 0; i < n; ++i) args.push_back(DecodeArg(r, what, depth + 1));
  if (tag == kCall) return Task::Call(op, std::move(args), std::move(params));
  if (args.size() != 1 || args[0].is_list() || args[0].is_task()) {
    Corrupt(what, "a plain task must hold one literal or one reference");
  }
  return args[0].is_ref() ? Task::Alias(args[0].ref()) : Task::FromValue(args[0].literal());
}

}  // namespace

void EncodeKey(const Key& key, ByteWriter* w) {
  w->Str(key.name());
  w->U8(key.is_tuple() ? 1 : 0);
  if (key.is_tuple()) {
    w->U32(static_cast<uint32_t>(key.rank()));
    for (int64_t i : key.index()) w->I64(i);
  }
}

Key DecodeKey(ByteReader* r) {
  std::string_view name = r->Str();
  uint8_t tuple = r->U8();
  if (tuple == 0) return Key(name);
  uint32_t rank = r->U32();
  if (tuple != 1 || rank > kMaxRank) {
    throw SerializationError("corrupt key '" + std::string(name.substr(0, 64)) + "': tuple flag " +
                             std::to_string(tuple) + ", rank " + std::to_string(rank));
  }
  std::vector<int64_t> index(rank);
  for (int64_t& i : index) i = r->I64();
  return Key(name, std::span<const int64_t>(index));
}

std::string EncodeKey(const Key& key) {
  std::string out;
  ByteWriter w(&out);
  EncodeKey(key, &w);
  return out;
}

Key DecodeKey(std::string_view bytes, std::string_view what) {
  ByteReader r(bytes, what);
  Key k = DecodeKey(&r);
  if (r.remaining() != 0) Corrupt(what, std::to_string(r.remaining()) + " trailing bytes after a key");
  return k;
}

std::string EncodeTask(const Task& task, const Key& key) {
  std::string out;
  ByteWriter w(&out);
  EncodeTaskTo(task, key, &w);
  return out;
}

Task DecodeTask(std::string_view bytes, std::string_view what) {
  ByteReader r(bytes, what);
  Task t = DecodeTaskFrom(&r, what, 0);
  if (r.remaining() != 0) Corrupt(what, std::to_string(r.remaining()) + " trailing bytes after a task");
  return t;
}

std::string EncodeValue(const Value& v) { return Pack(Serialize(v)); }

Value DecodeValue(std::string_view bytes, std::string_view what) {
  return Deserialize(Unpack(bytes, what));
}

}  // namespace skein
