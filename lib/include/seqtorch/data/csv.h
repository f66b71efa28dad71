#pragma once
// CSV with a header row (RFC 4180: quoted fields, "" inside quotes, CRLF or LF line ends).
// Errors name file:line (and column where one is at fault).
#include <cstdint>
#include <string>
#include <vector>

namespace seqtorch::data {

struct CsvTable {
  /// The file it came from (for messages).
  std::string path;
  /// Column names from the header.
  std::vector<std::string> header;
  /// Data rows, each with header.size() fields.
  std::vector<std::vector<std::string>> rows;
  /// The 1-based line in the file where each row starts.
  std::vector<int64_t> lines;
};

/// Reads `path`. Throws for a missing or empty file, a header without data rows, an unclosed
/// quote, or a row whose field count differs from the header's (file:line).
CsvTable read_csv(const std::string& path);

/// Parses CSV text (`path` only names it in messages).
CsvTable parse_csv(const std::string& text, const std::string& path);

/// The index of column `name`; throws naming the file, the columns and the closest one.
int64_t column_index(const CsvTable& table, const std::string& name);

/// Splits a comma-separated list of column names (as given to --target), honouring quotes:
/// `a,"b,c"` -> {a, b,c}.
std::vector<std::string> split_names(const std::string& list);

}  // namespace seqtorch::data
