#include <seqtorch/data/toy_tasks.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <random>

namespace seqtorch::data {
namespace {

const char* kMonths[12] = {"January", "February", "March", "April", "May", "June", "July",
                           "August", "September", "October", "November", "December"};
const char* kWeekdays[7] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int days_in_month(int y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

std::string two(int v) { return (v < 10 ? "0" : "") + std::to_string(v); }
std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

SentencePair date_example(std::mt19937_64& rng) {
  const int y = 1950 + static_cast<int>(rng() % 100), m = 1 + static_cast<int>(rng() % 12);
  const int d = 1 + static_cast<int>(rng() % days_in_month(y, m));
  // 1970-01-01 was a Thursday (index 3).
  const int64_t days = days_from_civil(y, m, d);
  const std::string weekday = kWeekdays[((days % 7) + 7 + 3) % 7];
  const std::string month = kMonths[m - 1], mon = month.substr(0, 3), year = std::to_string(y);
  const std::string day = std::to_string(d);
  std::string source;
  switch (rng() % 12) {
    case 0: source = weekday + " " + day + " " + month + " " + year; break;
    case 1: source = two(d) + "/" + two(m) + "/" + two(y % 100); break;
    case 2: source = mon + " " + day + ", " + year; break;
    case 3: source = month + " " + day + ", " + year; break;
    case 4: source = day + " " + mon + " " + year; break;
    case 5: source = lower(weekday) + ", " + lower(month) + " " + day + ", " + year; break;
    case 6: source = two(d) + "." + two(m) + "." + year; break;
    case 7: source = upper(weekday.substr(0, 3)) + " " + day + " " + upper(mon) + " " + year; break;
    case 8: source = day + " " + month + " " + year; break;
    case 9: source = weekday.substr(0, 3) + ", " + day + " " + mon + " " + year.substr(2); break;
    case 10: source = year + "/" + two(m) + "/" + two(d); break;
    default: source = "the " + day + (d % 10 == 1 && d != 11 ? "st" : d % 10 == 2 && d != 12 ? "nd" : d % 10 == 3 && d != 13 ? "rd" : "th") +
                      " of " + month + " " + year; break;
  }
  return {source, year + "-" + two(m) + "-" + two(d)};
}

std::string below_thousand(int n) {
  static const char* ones[20] = {"zero", "one", "two", "three", "four", "five", "six", "seven",
                                 "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
                                 "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
  static const char* tens[10] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
  std::string out;
  if (n >= 100) {
    out = std::string(ones[n / 100]) + " hundred";
    n %= 100;
    if (n == 0) return out;
    out += " ";
  }
  if (n < 20) return out + ones[n];
  out += tens[n / 10];
  if (n % 10) out += std::string("-") + ones[n % 10];
  return out;
}

std::string number_words(int n) {
  if (n < 1000) return below_thousand(n);
  std::string out = below_thousand(n / 1000) + " thousand";
  if (n % 1000) out += " " + below_thousand(n % 1000);
  return out;
}

SentencePair number_example(std::mt19937_64& rng) {
  // Digits count uniform in 1..6, so small and large numbers are both common.
  const int digits = 1 + static_cast<int>(rng() % 6);
  int lo = 1, hi = 9;
  for (int i = 1; i < digits; ++i) lo *= 10;
  hi = lo * 10 - 1;
  if (digits == 1) lo = 0;
  const int n = lo + static_cast<int>(rng() % static_cast<uint64_t>(hi - lo + 1));
  return {number_words(n), std::to_string(n)};
}

SentencePair roman_example(std::mt19937_64& rng) {
  const int n = 1 + static_cast<int>(rng() % 3999);
  static const int values[13] = {1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1};
  static const char* symbols[13] = {"M", "CM", "D", "CD", "C", "XC", "L", "XL", "X", "IX", "V", "IV", "I"};
  std::string out;
  int v = n;
  for (int i = 0; i < 13; ++i)
    while (v >= values[i]) {
      out += symbols[i];
      v -= values[i];
    }
  return {out, std::to_string(n)};
}

// FNV-1a: a fixed hash (std::hash differs between library versions).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

std::vector<std::string> toy_task_names() { return {"dates", "numbers", "roman"}; }

std::vector<SentencePair> generate_toy_task(const std::string& name, int64_t count, uint64_t seed,
                                            ToySplit split) {
  TORCH_CHECK(count >= 1, "examples: expected >= 1, got ", count);
  std::function<SentencePair(std::mt19937_64&)> make;
  if (name == "dates") make = date_example;
  else if (name == "numbers") make = number_example;
  else if (name == "roman") make = roman_example;
  else TORCH_CHECK(false, "task: expected dates, numbers or roman, got '", name, "'");
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + fnv1a(name));
  std::vector<SentencePair> out;
  out.reserve(count);
  while (static_cast<int64_t>(out.size()) < count) {
    SentencePair p = make(rng);
    const bool held_out = fnv1a(p.target) % 10 == 0;
    if (split == ToySplit::all || held_out == (split == ToySplit::test)) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace seqtorch::data
