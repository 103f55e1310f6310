// Calendar arithmetic for date32 / datetime64[ns] columns: days since the
// epoch to and from civil dates (Howard Hinnant's algorithms), ISO-8601
// parsing and pandas-style formatting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace skein::dates {

/// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
/// The civil date of a day number.
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d);

/// "YYYY-MM-DD" (also "YYYY/MM/DD"); false when it is not a valid date.
bool ParseDate(std::string_view s, int32_t* days);
/// "YYYY-MM-DD[ T]HH:MM[:SS[.fffffffff]]" or a bare date, optional
/// trailing "Z"; false when it is not a valid timestamp.
bool ParseTimestamp(std::string_view s, int64_t* ns);

std::string FormatDate(int32_t days);          ///< "2024-03-01"
std::string FormatTimestamp(int64_t ns);       ///< "2024-03-01 12:00:00[.fraction]"

inline constexpr int64_t kNsPerSecond = 1000000000;
inline constexpr int64_t kNsPerDay = 86400 * kNsPerSecond;

}  // namespace skein::dates
