// Calendar arithmetic and ISO-8601 text for date and timestamp columns.
#include "dates_internal.h"

#include <cstdio>

namespace skein::dates {

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

namespace {

bool Digits(std::string_view s, size_t at, size_t n, unsigned* out) {
  if (at + n > s.size()) return false;
  unsigned v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  *out = v;
  return true;
}

bool DateAt(std::string_view s, int64_t* days) {
  unsigned y, m, d;
  if (s.size() < 10 || !Digits(s, 0, 4, &y) || (s[4] != '-' && s[4] != '/') || !Digits(s, 5, 2, &m) || s[7] != s[4] ||
      !Digits(s, 8, 2, &d)) {
    return false;
  }
  static const unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1 || d > kDays[m - 1]) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m == 2 && d == 29 && !leap) return false;
  *days = DaysFromCivil(y, m, d);
  return true;
}

}  // namespace

bool ParseDate(std::string_view s, int32_t* days) {
  int64_t v;
  if (s.size() != 10 || !DateAt(s, &v)) return false;
  *days = static_cast<int32_t>(v);
  return true;
}

bool ParseTimestamp(std::string_view s, int64_t* ns) {
  int64_t days;
  if (!DateAt(s, &days)) return false;
  if (!s.empty() && s.back() == 'Z') s.remove_suffix(1);
  int64_t t = 0;
  if (s.size() > 10) {
    unsigned hh, mm, ss = 0;
    if ((s[10] != ' ' && s[10] != 'T') || !Digits(s, 11, 2, &hh) || s.size() < 16 || s[13] != ':' ||
        !Digits(s, 14, 2, &mm)) {
      return false;
    }
    size_t at = 16;
    if (s.size() > at) {
      if (s[at] != ':' || !Digits(s, at + 1, 2, &ss)) return false;
      at += 3;
    }
    if (hh > 23 || mm > 59 || ss > 60) return false;
    int64_t frac = 0;
    if (s.size() > at) {
      if (s[at] != '.' || s.size() == at + 1 || s.size() > at + 10) return false;
      int64_t scale = kNsPerSecond;
      for (size_t i = at + 1; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        scale /= 10;
        frac += (s[i] - '0') * scale;
      }
    }
    t = (static_cast<int64_t>(hh) * 3600 + mm * 60 + ss) * kNsPerSecond + frac;
  }
  // About +-292 years around 1970 fit in int64 nanoseconds.
  if (days > 106751 || days < -106751) return false;
  *ns = days * kNsPerDay + t;
  return true;
}

std::string FormatDate(int32_t days) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

std::string FormatTimestamp(int64_t ns) {
  int64_t days = ns / kNsPerDay, rest = ns % kNsPerDay;
  if (rest < 0) rest += kNsPerDay, --days;
  std::string out = FormatDate(static_cast<int32_t>(days));
  const int64_t secs = rest / kNsPerSecond, frac = rest % kNsPerSecond;
  char buf[48];
  std::snprintf(buf, sizeof buf, " %02lld:%02lld:%02lld", static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  out += buf;
  if (frac) {
    std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(frac));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out;
}

}  // namespace skein::dates
