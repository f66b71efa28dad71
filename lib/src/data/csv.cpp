#include <seqtorch/data/csv.h>

#include <seqtorch/util/file_system.h>
#include <seqtorch/util/messages.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace seqtorch::data {

CsvTable parse_csv(const std::string& text, const std::string& path) {
  CsvTable t;
  t.path = path;
  TORCH_CHECK(text.find_first_not_of(" \t\r\n") != std::string::npos, path, ": the file is empty");
  std::vector<std::vector<std::string>> records;
  std::vector<int64_t> starts;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, field_started = false;
  int64_t line = 1, record_line = 1;
  auto end_field = [&] {
    record.push_back(field);
    field.clear();
    field_started = false;
  };
  auto end_record = [&] {
    end_field();
    const bool blank = record.size() == 1 && record[0].find_first_not_of(" \t") == std::string::npos;
    if (!blank) {
      records.push_back(record);
      starts.push_back(record_line);
    }
    record.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (ch == '\n') ++line;
        field += ch;
      }
      continue;
    }
    if (ch == '"' && !field_started) {
      quoted = true;
      field_started = true;
    } else if (ch == ',') {
      end_field();
    } else if (ch == '\n' || ch == '\r') {
      if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      ++line;
      record_line = line;
    } else {
      field += ch;
      field_started = true;
    }
  }
  TORCH_CHECK(!quoted, path, ":", record_line, ": a quoted field is not closed");
  if (!field.empty() || !record.empty()) end_record();
  TORCH_CHECK(!records.empty(), path, ": the file is empty");
  t.header = records[0];
  // A UTF-8 byte-order mark (spreadsheets write one) is not part of the first column's name.
  if (t.header[0].rfind("\xEF\xBB\xBF", 0) == 0) t.header[0].erase(0, 3);
  TORCH_CHECK(records.size() > 1, path, ": only a header, no data rows");
  for (size_t r = 1; r < records.size(); ++r) {
    TORCH_CHECK(records[r].size() == t.header.size(), path, ":", starts[r], ": expected ",
                t.header.size(), " fields (as in the header), got ", records[r].size());
    t.rows.push_back(std::move(records[r]));
    t.lines.push_back(starts[r]);
  }
  return t;
}

CsvTable read_csv(const std::string& path) { return parse_csv(util::read_file(path), path); }

int64_t column_index(const CsvTable& t, const std::string& name) {
  auto it = std::find(t.header.begin(), t.header.end(), name);
  if (it != t.header.end()) {
    const auto again = std::find(it + 1, t.header.end(), name);
    TORCH_CHECK(again == t.header.end(), t.path, ":1: column ", util::quoted(name), " appears twice (columns ",
                it - t.header.begin() + 1, " and ", again - t.header.begin() + 1, "); rename one");
    return it - t.header.begin();
  }
  std::string list;
  for (const auto& h : t.header) list += (list.empty() ? "" : ", ") + util::quoted(h);
  if (list.size() > 2000) list = list.substr(0, 2000) + "...";
  TORCH_CHECK(false, t.path, ": no column ", util::quoted(name), "; the columns are ", list);
}

std::vector<std::string> split_names(const std::string& list) {
  if (list.empty()) return {};
  CsvTable t = parse_csv(list + "\n" + list + "\n", "names");
  return t.header;
}

}  // namespace seqtorch::data
