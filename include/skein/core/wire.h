// skein/core/wire.h — keys and tasks as bytes, so a graph can leave the process.
//
// "A graph is data": a task travels as its operation's *name*, its
// parameters and its arguments (literals serialized with serialize.h,
// references as keys, lists and nested tasks recursively). The receiving
// process looks the name up in its own registry; a name it does not know
// becomes an unresolved op, and running it is an OpError naming the key.
//
//   std::string bytes = skein::EncodeTask(task, key);   // OpError for lambdas
//   skein::Task back = skein::DecodeTask(bytes, "task ('x', 0)");
//
// Decoding never trusts its input: every length is bounds-checked, nesting
// depth is capped, and malformed bytes are a SerializationError naming `what`.
#pragma once

#include <string>
#include <string_view>

#include "skein/core/key.h"
#include "skein/core/serialize.h"
#include "skein/core/task.h"

namespace skein {

/// Appends `key` to `w` (name, tuple flag, indices).
void EncodeKey(const Key& key, ByteWriter* w);
/// Reads a key written by EncodeKey.
Key DecodeKey(ByteReader* r);
std::string EncodeKey(const Key& key);
Key DecodeKey(std::string_view bytes, std::string_view what);

/// The task as bytes. `key` only names the task in errors: an OpError if its
/// operation is a local-only lambda (say how to register it), a
/// SerializationError if a literal or the parameters cannot be serialized.
std::string EncodeTask(const Task& task, const Key& key);
/// Inverse of EncodeTask; SerializationError naming `what` on malformed bytes.
Task DecodeTask(std::string_view bytes, std::string_view what);

/// A serialized value as one byte string and back (Pack/Unpack of serialize.h).
std::string EncodeValue(const Value& v);
Value DecodeValue(std::string_view bytes, std::string_view what);

}  // namespace skein
