// Key: shared reference-counted names plus small inline index arrays.
#include "skein/core/key.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <ostream>

namespace skein {
namespace internal {

struct KeyName {
  std::atomic<uint32_t> refs;
  uint32_t size;
  size_t hash;
  char data[1];

  static KeyName* Make(std::string_view s) {
    void* mem = ::operator new(sizeof(KeyName) + s.size());
    auto* n = static_cast<KeyName*>(mem);
    new (&n->refs) std::atomic<uint32_t>(1);
    n->size = static_cast<uint32_t>(s.size());
    n->hash = std::hash<std::string_view>()(s);
    std::memcpy(n->data, s.data(), s.size());
    n->data[s.size()] = '\0';
    return n;
  }
  std::string_view view() const { return {data, size}; }
  // Relaxed increment suffices: a new reference is made from an existing one.
  void Ref() { refs.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) ::operator delete(this);
  }
};

namespace {
KeyName* EmptyName() {
  // Never freed: one extra reference is held forever.
  static KeyName* empty = [] {
    KeyName* n = KeyName::Make("");
    n->Ref();
    return n;
  }();
  return empty;
}
}  // namespace
}  // namespace internal

Key::Key() : name_(internal::EmptyName()) { name_->Ref(); }

Key::Key(std::string_view name) : name_(internal::KeyName::Make(name)) {}

Key::Key(std::string_view name, std::initializer_list<int64_t> index)
    : Key(name, std::span(index.begin(), index.size())) {}

Key::Key(std::string_view name, std::span<const int64_t> index)
    : name_(internal::KeyName::Make(name)) {
  SetIndex(index);
}

Key::Key(const Key& other) : name_(other.name_) {
  name_->Ref();
  SetIndex(other.index());
  tuple_ = other.tuple_;
}

Key::Key(Key&& other) noexcept : name_(other.name_), rank_(other.rank_), tuple_(other.tuple_) {
  other.name_ = internal::EmptyName();
  other.name_->Ref();
  if (rank_ <= kInline) {
    std::copy_n(other.inline_, rank_, inline_);
  } else {
    heap_ = other.heap_;
  }
  other.rank_ = 0;
  other.tuple_ = false;
}

Key& Key::operator=(const Key& other) {
  if (this != &other) {
    Key copy(other);
    *this = std::move(copy);
  }
  return *this;
}

Key& Key::operator=(Key&& other) noexcept {
  if (this != &other) {
    name_->Unref();
    ReleaseIndex();
    name_ = other.name_;
    rank_ = other.rank_;
    tuple_ = other.tuple_;
    if (rank_ <= kInline) {
      std::copy_n(other.inline_, rank_, inline_);
    } else {
      heap_ = other.heap_;
    }
    other.name_ = internal::EmptyName();
    other.name_->Ref();
    other.rank_ = 0;
    other.tuple_ = false;
  }
  return *this;
}

Key::~Key() {
  ReleaseIndex();
  name_->Unref();
}

Key Key::At(std::span<const int64_t> index) const {
  Key k(*this);
  k.ReleaseIndex();
  k.SetIndex(index);
  return k;
}

void Key::SetIndex(std::span<const int64_t> index) {
  rank_ = static_cast<uint32_t>(index.size());
  tuple_ = true;
  if (rank_ <= kInline) {
    std::copy(index.begin(), index.end(), inline_);
  } else {
    heap_ = new int64_t[rank_];
    std::copy(index.begin(), index.end(), heap_);
  }
}

void Key::ReleaseIndex() noexcept {
  if (rank_ > kInline) delete[] heap_;
  rank_ = 0;
  tuple_ = false;
}

std::string_view Key::name() const noexcept { return name_->view(); }

size_t Key::hash() const noexcept {
  size_t h = name_->hash;
  for (int64_t i : index()) h = (h ^ static_cast<size_t>(i)) * 0x100000001b3ULL + (h >> 29);
  return tuple_ ? h ^ 0x9e3779b97f4a7c15ULL : h;
}

std::string Key::ToString() const {
  if (!tuple_) return std::string(name());
  std::string s = "('";
  s += name();
  s += "'";
  for (int64_t i : index()) {
    s += ", ";
    s += std::to_string(i);
  }
  if (rank_ == 0) s += ",";
  s += ")";
  return s;
}

bool operator==(const Key& a, const Key& b) noexcept {
  if (a.rank_ != b.rank_ || a.tuple_ != b.tuple_) return false;
  if (a.name_ != b.name_ &&
      (a.name_->hash != b.name_->hash || a.name_->view() != b.name_->view())) {
    return false;
  }
  auto ia = a.index(), ib = b.index();
  return std::equal(ia.begin(), ia.end(), ib.begin());
}

bool operator<(const Key& a, const Key& b) noexcept {
  if (a.name_ != b.name_) {
    int c = a.name().compare(b.name());
    if (c != 0) return c < 0;
  }
  if (a.tuple_ != b.tuple_) return !a.tuple_;
  auto ia = a.index(), ib = b.index();
  return std::lexicographical_compare(ia.begin(), ia.end(), ib.begin(), ib.end());
}

std::ostream& operator<<(std::ostream& os, const Key& key) { return os << key.ToString(); }

}  // namespace skein
