// Private: a string as a JSON string literal (quotes and escapes), for the
// few places that write JSON by hand (profiler traces, the status page).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace skein::internal {

inline std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace skein::internal
