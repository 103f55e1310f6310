// Value: type names, printing, equality and error messages.
#include "skein/core/value.h"

#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/serialize_internal.h"

namespace skein {

namespace internal {
std::string TypeDisplayName(const std::type_info& type) {
  if (type == typeid(bool)) return "bool";
  if (type == typeid(int64_t)) return "int64";
  if (type == typeid(double)) return "float64";
  if (type == typeid(int32_t)) return "int32";
  if (type == typeid(float)) return "float32";
  if (type == typeid(void)) return "none";
  std::string registered = RegisteredTypeName(type);
  if (!registered.empty()) return registered;
  return Demangle(type.name());
}
}  // namespace internal

const std::type_info& Value::type() const noexcept {
  switch (kind_) {
    case Kind::kNone: return typeid(void);
    case Kind::kBool: return typeid(bool);
    case Kind::kInt: return typeid(int64_t);
    case Kind::kDouble: return typeid(double);
    case Kind::kObject: return obj_->type();
  }
  return typeid(void);
}

std::string Value::type_name() const { return internal::TypeDisplayName(type()); }

size_t Value::nbytes() const noexcept {
  return kind_ == Kind::kObject ? obj_->nbytes() : sizeof(int64_t);
}

void Value::ThrowWrongType(const char* wanted) const {
  throw TypeError("expected a value of type " + std::string(wanted) + ", got " + type_name() +
                  " (" + ToString().substr(0, 80) + ")");
}

void Value::ThrowOutOfRange(const char* wanted, const std::string& shown) {
  throw TypeError("value " + shown + " does not fit in " + std::string(wanted));
}

static std::string FormatDouble(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  // Shortest representation that round-trips, like Python's repr.
  for (int prec = 1; prec <= 17; ++prec) {
    char tmp[32];
    std::snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (std::strtod(tmp, nullptr) == d) {
      std::snprintf(buf, sizeof buf, "%s", tmp);
      break;
    }
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string Value::ToString() const {
  switch (kind_) {
    case Kind::kNone: return "None";
    case Kind::kBool: return b_ ? "True" : "False";
    case Kind::kInt: return std::to_string(i_);
    case Kind::kDouble: return FormatDouble(d_);
    case Kind::kObject: break;
  }
  if (is<std::string>()) return "'" + get<std::string>() + "'";
  if (is<Buffer>()) return "<bytes " + std::to_string(get<Buffer>().size()) + ">";
  if (is<ValueList>()) {
    std::string s = "[";
    const ValueList& l = get<ValueList>();
    for (size_t i = 0; i < l.size(); ++i) {
      if (i) s += ", ";
      if (i == 20 && l.size() > 21) {
        s += "... (" + std::to_string(l.size()) + " items)";
        break;
      }
      s += l[i].ToString();
    }
    return s + "]";
  }
  if (is<ValueMap>()) {
    std::string s = "{";
    bool first = true;
    for (const auto& [k, v] : get<ValueMap>()) {
      if (!first) s += ", ";
      first = false;
      s += "'" + k + "': " + v.ToString();
    }
    return s + "}";
  }
  return "<" + type_name() + ">";
}

bool operator==(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.kind_ != b.kind_) {
    // 1 == 1.0, as in Python.
    if (a.kind_ == K::kInt && b.kind_ == K::kDouble) return static_cast<double>(a.i_) == b.d_;
    if (a.kind_ == K::kDouble && b.kind_ == K::kInt) return a.d_ == static_cast<double>(b.i_);
    return false;
  }
  switch (a.kind_) {
    case K::kNone: return true;
    case K::kBool: return a.b_ == b.b_;
    case K::kInt: return a.i_ == b.i_;
    case K::kDouble: return a.d_ == b.d_;
    case K::kObject: return a.obj_ == b.obj_ || a.obj_->Equals(*b.obj_);
  }
  return false;
}

std::ostream& operator<<(std::ostream& os, const Value& v) { return os << v.ToString(); }

}  // namespace skein
