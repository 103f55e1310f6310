// Serializer registry and the built-in serializers.
#include "skein/core/serialize.h"

#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "core/serialize_internal.h"

namespace skein {

std::string_view ByteReader::Bytes(uint64_t n) {
  if (n > in_.size() - pos_) {
    throw SerializationError("truncated or corrupt " + std::string(what_) + ": needs " +
                             std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
                             ", only " + std::to_string(in_.size() - pos_) + " left");
  }
  std::string_view out = in_.substr(pos_, n);
  pos_ += n;
  return out;
}

size_t Serialized::nbytes() const {
  size_t n = header.size();
  for (const Buffer& f : frames) n += f.size();
  return n;
}

namespace internal {
namespace {

struct Entry {
  std::string name;
  EncodeFn encode;
  DecodeFn decode;
};

class Registry {
 public:
  static Registry& Get() {
    static Registry* r = new Registry();  // never destroyed: used during static teardown
    return *r;
  }
  void Add(std::type_index type, std::string name, EncodeFn enc, DecodeFn dec) {
    std::unique_lock lock(mu_);
    auto it = by_name_.find(name);
    if (it != by_name_.end() && it->second != type) {
      throw SerializationError("serializer name '" + name +
                               "' is already registered for another type");
    }
    by_type_[type] = Entry{name, std::move(enc), std::move(dec)};
    by_name_.insert_or_assign(std::move(name), type);
  }
  const Entry* Find(std::type_index type) const {
    std::shared_lock lock(mu_);
    auto it = by_type_.find(type);
    return it == by_type_.end() ? nullptr : &it->second;
  }
  const Entry* Find(const std::string& name) const {
    std::shared_lock lock(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return nullptr;
    auto e = by_type_.find(it->second);
    return e == by_type_.end() ? nullptr : &e->second;
  }

 private:
  Registry();
  mutable std::shared_mutex mu_;
  // std::unordered_map never moves its values, so Entry pointers stay valid.
  std::unordered_map<std::type_index, Entry> by_type_;
  std::unordered_map<std::string, std::type_index> by_name_;
};

// Serializes a child value into `w` + `frames` (used by list and map).
void EncodeChild(const Value& v, ByteWriter& w, std::vector<Buffer>* frames) {
  Serialized s = Serialize(v);
  w.Str(s.type);
  w.Str(s.header);
  w.U64(s.frames.size());
  for (Buffer& f : s.frames) frames->push_back(std::move(f));
}

Value DecodeChild(ByteReader& r, std::span<const Buffer> frames, size_t* next_frame) {
  Serialized s;
  s.type = std::string(r.Str());
  s.header = std::string(r.Str());
  uint64_t n = r.U64();
  if (n > frames.size() - *next_frame) {
    throw SerializationError("corrupt nested value of type '" + s.type + "': claims " +
                             std::to_string(n) + " frames, only " +
                             std::to_string(frames.size() - *next_frame) + " left");
  }
  s.frames.assign(frames.begin() + *next_frame, frames.begin() + *next_frame + n);
  *next_frame += n;
  return Deserialize(s);
}

template <class T>
void AddVector(Registry* r, const char* name) {
  r->Add(typeid(std::vector<T>), name,
         [name](const Value& v) {
           const auto& vec = v.get<std::vector<T>>();
           // The frame shares the vector's memory, kept alive by a copy of
           // the (immutable) value: sending or spilling it copies nothing here.
           auto keep = std::make_shared<const Value>(v);
           Serialized s{name, "", {Buffer::Wrap(keep, reinterpret_cast<const std::byte*>(vec.data()),
                                                vec.size() * sizeof(T))}};
           return s;
         },
         [name](std::string_view, std::span<const Buffer> frames) {
           if (frames.size() != 1 || frames[0].size() % sizeof(T) != 0) {
             throw SerializationError(std::string("corrupt ") + name + " payload");
           }
           std::vector<T> out(frames[0].size() / sizeof(T));
           if (!out.empty()) std::memcpy(out.data(), frames[0].data(), frames[0].size());
           return Value::From(std::move(out));
         });
}

Registry::Registry() {
  Add(typeid(std::string), "string",
      [](const Value& v) {
        return Serialized{"string", "", {Buffer::Copy(v.get<std::string>().data(),
                                                      v.get<std::string>().size())}};
      },
      [](std::string_view, std::span<const Buffer> f) {
        if (f.size() != 1) throw SerializationError("corrupt string: expected 1 frame");
        return Value(std::string(f[0].view()));
      });
  Add(typeid(Buffer), "bytes",
      [](const Value& v) { return Serialized{"bytes", "", {v.get<Buffer>()}}; },  // no copy
      [](std::string_view, std::span<const Buffer> f) {
        if (f.size() != 1) throw SerializationError("corrupt bytes: expected 1 frame");
        return Value(f[0]);
      });
  Add(typeid(ValueList), "list",
      [](const Value& v) {
        Serialized s{"list", "", {}};
        ByteWriter w(&s.header);
        const ValueList& l = v.get<ValueList>();
        w.U64(l.size());
        for (const Value& x : l) EncodeChild(x, w, &s.frames);
        return s;
      },
      [](std::string_view header, std::span<const Buffer> frames) {
        ByteReader r(header, "list header");
        uint64_t n = r.U64();
        if (n > header.size()) throw SerializationError("corrupt list: bad length");
        ValueList l;
        l.reserve(n);
        size_t next = 0;
        for (uint64_t i = 0; i < n; ++i) l.push_back(DecodeChild(r, frames, &next));
        return Value(std::move(l));
      });
  Add(typeid(ValueMap), "map",
      [](const Value& v) {
        Serialized s{"map", "", {}};
        ByteWriter w(&s.header);
        const ValueMap& m = v.get<ValueMap>();
        w.U64(m.size());
        for (const auto& [k, x] : m) {
          w.Str(k);
          EncodeChild(x, w, &s.frames);
        }
        return s;
      },
      [](std::string_view header, std::span<const Buffer> frames) {
        ByteReader r(header, "map header");
        uint64_t n = r.U64();
        if (n > header.size()) throw SerializationError("corrupt map: bad length");
        ValueMap m;
        size_t next = 0;
        for (uint64_t i = 0; i < n; ++i) {
          std::string k(r.Str());
          m.emplace(std::move(k), DecodeChild(r, frames, &next));
        }
        return Value(std::move(m));
      });
  AddVector<int64_t>(this, "vector<int64>");
  AddVector<int32_t>(this, "vector<int32>");
  AddVector<double>(this, "vector<float64>");
  AddVector<float>(this, "vector<float32>");
  AddVector<uint8_t>(this, "vector<uint8>");
}

}  // namespace

void RegisterSerializerImpl(std::type_index type, std::string name, EncodeFn encode,
                            DecodeFn decode) {
  Registry::Get().Add(type, std::move(name), std::move(encode), std::move(decode));
}

std::string RegisteredTypeName(const std::type_info& type) {
  const Entry* e = Registry::Get().Find(std::type_index(type));
  return e ? e->name : std::string();
}

}  // namespace internal

Serialized Serialize(const Value& v) {
  Serialized s;
  ByteWriter w(&s.header);
  switch (v.kind()) {
    case Value::Kind::kNone: s.type = "none"; return s;
    case Value::Kind::kBool: s.type = "bool"; w.U8(v.as<bool>()); return s;
    case Value::Kind::kInt: s.type = "int64"; w.I64(v.as<int64_t>()); return s;
    case Value::Kind::kDouble: s.type = "float64"; w.F64(v.as<double>()); return s;
    case Value::Kind::kObject: break;
  }
  const internal::Entry* e = internal::Registry::Get().Find(std::type_index(v.type()));
  if (!e) {
    throw SerializationError("no serializer registered for C++ type " +
                             internal::Demangle(v.type().name()) +
                             "; register one with SKEIN_REGISTER_SERIALIZER");
  }
  return e->encode(v);
}

Value Deserialize(const Serialized& s) {
  if (s.type == "none") return Value();
  if (s.type == "bool" || s.type == "int64" || s.type == "float64") {
    ByteReader r(s.header, s.type);
    if (s.type == "bool") return Value(r.U8() != 0);
    if (s.type == "int64") return Value(r.I64());
    return Value(r.F64());
  }
  const internal::Entry* e = internal::Registry::Get().Find(s.type);
  if (!e) {
    throw SerializationError("cannot deserialize unknown type '" + s.type +
                             "' (is its serializer registered in this process?)");
  }
  return e->decode(s.header, s.frames);
}

bool IsSerializable(const Value& v) {
  if (!v.is_object()) return true;
  if (v.is<ValueList>()) {
    for (const Value& x : v.get<ValueList>()) {
      if (!IsSerializable(x)) return false;
    }
    return true;
  }
  if (v.is<ValueMap>()) {
    for (const auto& [k, x] : v.get<ValueMap>()) {
      if (!IsSerializable(x)) return false;
    }
    return true;
  }
  return internal::Registry::Get().Find(std::type_index(v.type())) != nullptr;
}

static constexpr char kMagic[4] = {'S', 'K', 'V', '1'};

std::string Pack(const Serialized& s) {
  std::string out;
  out.reserve(32 + s.type.size() + s.nbytes() + 8 * s.frames.size());
  ByteWriter w(&out);
  w.Raw(kMagic, 4);
  w.Str(s.type);
  w.Str(s.header);
  w.U64(s.frames.size());
  for (const Buffer& f : s.frames) w.Str(f.view());
  return out;
}

Serialized Unpack(std::string_view bytes, std::string_view what) {
  ByteReader r(bytes, what);
  if (r.Bytes(4) != std::string_view(kMagic, 4)) {
    throw SerializationError("corrupt " + std::string(what) + ": bad magic bytes");
  }
  Serialized s;
  s.type = std::string(r.Str());
  s.header = std::string(r.Str());
  uint64_t n = r.U64();
  if (n > r.remaining() / 8) {
    throw SerializationError("corrupt " + std::string(what) + ": claims " + std::to_string(n) +
                             " frames");
  }
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view f = r.Str();
    s.frames.push_back(Buffer::Copy(f.data(), f.size()));
  }
  if (r.remaining() != 0) {
    throw SerializationError("corrupt " + std::string(what) + ": " +
                             std::to_string(r.remaining()) + " trailing bytes");
  }
  return s;
}

}  // namespace skein
