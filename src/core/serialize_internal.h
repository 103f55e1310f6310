// Private helpers shared by value.cc and serialize.cc.
#pragma once

#include <string>
#include <typeinfo>

namespace skein::internal {
/// Name a type was registered under for serialization, or "" if none.
std::string RegisteredTypeName(const std::type_info& type);
}  // namespace skein::internal
